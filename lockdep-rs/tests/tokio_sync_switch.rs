//! The one-line switch for tokio code: `lockdep::tokio::sync` is `tokio::sync` with its locks
//! validated. Every public item of tokio's `sync` module is reachable under the same path; the
//! locks and guards are lockdep's, everything else is tokio's own type; code written against
//! tokio (channels and locks together) runs unchanged, and an inversion through the switched
//! paths is reported.
//!
//! `cargo test -p lockdep --features enabled,tokio --test tokio_sync_switch` (and with
//! `--features disabled,tokio`: compiled out, every item is tokio's).
#![cfg(feature = "tokio")]

use std::sync::Arc;

// What tokio code writes, with only the path changed.
use lockdep::tokio::sync::{self, broadcast, mpsc, oneshot, watch, Mutex, RwLock};

/// Every public item of `tokio::sync` (tokio 1.x, features `sync`), named through the switch.
#[allow(dead_code, clippy::type_complexity)]
fn every_item_is_there(
    _: Option<(
        sync::AcquireError,
        sync::Barrier,
        sync::BarrierWaitResult,
        sync::MappedMutexGuard<'static, u8>,
        sync::Mutex<u8>,
        sync::MutexGuard<'static, u8>,
        sync::Notify,
        sync::OnceCell<u8>,
        sync::OwnedMappedMutexGuard<u8, u8>,
        sync::OwnedMutexGuard<u8>,
        sync::OwnedRwLockMappedWriteGuard<u8, u8>,
        sync::OwnedRwLockReadGuard<u8, u8>,
        sync::OwnedRwLockWriteGuard<u8>,
        sync::OwnedSemaphorePermit,
        sync::RwLock<u8>,
    )>,
    _: Option<(
        sync::RwLockMappedWriteGuard<'static, u8>,
        sync::RwLockReadGuard<'static, u8>,
        sync::RwLockWriteGuard<'static, u8>,
        sync::Semaphore,
        sync::SemaphorePermit<'static>,
        sync::SetError<u8>,
        sync::SetOnce<u8>,
        sync::SetOnceError<u8>,
        sync::TryAcquireError,
        sync::TryLockError,
        sync::futures::Notified<'static>,
        sync::futures::OwnedNotified,
        broadcast::Sender<u8>,
        mpsc::UnboundedSender<u8>,
        oneshot::Receiver<u8>,
        watch::Ref<'static, u8>,
    )>,
) {
}

/// Items other than the locks are tokio's own types (a value of one is a value of the other).
#[test]
fn everything_but_the_locks_is_tokios_own() {
    let _: tokio::sync::Notify = sync::Notify::new();
    let _: tokio::sync::Semaphore = sync::Semaphore::new(1);
    let _: tokio::sync::Barrier = sync::Barrier::new(1);
    let _: tokio::sync::OnceCell<u8> = sync::OnceCell::new();
    let _: (
        tokio::sync::mpsc::Sender<u8>,
        tokio::sync::mpsc::Receiver<u8>,
    ) = mpsc::channel(1);
    let m = Mutex::new(0);
    let _g = m.try_lock().unwrap();
    let _: tokio::sync::TryLockError = m.try_lock().map(drop).unwrap_err();
}

/// The locks are lockdep's (compiled out, lockdep's are tokio's: the same assignment holds).
#[test]
fn the_locks_are_lockdeps() {
    let _: lockdep::tokio::Mutex<u8> = Mutex::new(0);
    let _: lockdep::tokio::RwLock<u8> = RwLock::new(0);
    let m = Mutex::new(0u8);
    let _: lockdep::tokio::MutexGuard<'_, u8> = m.try_lock().unwrap();
}

/// tokio code (a worker task fed by a channel, updating shared state under a lock, answering
/// on a oneshot) runs as before and raises nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_and_locks_together_run_unchanged_and_silent() {
    let ((), reports) = lockdep::tokio::capture_async(async {
        let state = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<usize>)>(4);
        let worker = {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some((v, done)) = rx.recv().await {
                    let mut s = state.lock().await;
                    s.push(v);
                    tokio::task::yield_now().await; // held across an await: fine for an async lock
                    done.send(s.len()).unwrap();
                }
            })
        };
        for v in 0..20 {
            let (done, answer) = oneshot::channel();
            tx.send((v, done)).await.unwrap();
            assert_eq!(answer.await.unwrap(), v as usize + 1);
        }
        drop(tx);
        worker.await.unwrap();
        assert_eq!(state.lock().await.len(), 20);
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// An inversion through the switched paths is found, naming both locks.
#[cfg(lockdep_enabled)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inversion_through_the_switched_paths_is_reported() {
    let a = Arc::new(Mutex::named("switch A", ()));
    let b = Arc::new(RwLock::named("switch B", ()));
    let ((), reports) = lockdep::tokio::capture_async(async {
        let (a1, b1) = (a.clone(), b.clone());
        tokio::spawn(async move {
            let _a = a1.lock().await;
            let _b = b1.write().await;
        })
        .await
        .unwrap();
        let _b = b.write().await;
        let _a = a.lock().await;
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), lockdep::ReportKind::CircularDependency);
    assert_eq!(reports[0].class_names(), ["switch A", "switch B"]);
}
