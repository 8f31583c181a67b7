//! Review 21: the blocking locks of local tasks that ended holding them (`Stack::ended_on`).
//! Each test pins a defect found by the review (it failed before its fix):
//!
//! - a thread's fast path, closed as a local task ends with a blocking lock held (its guard
//!   in the task's output), stayed closed for good once the output's guard was dropped if
//!   the thread's later acquisitions were all async (or trylocks, or nested under a nest
//!   lock): only a fresh blocking acquisition's check (`held_by_parked_task`) took the ended
//!   stack, left empty, off the thread's list and reopened it.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review21`
#![cfg(lockdep_tasks)]

mod common;
use common::kinds;

/// The tests of this binary run one at a time (one counts the process's fast-path hits).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn leak(name: &'static str) -> &'static lockdep::Mutex<()> {
    Box::leak(Box::new(lockdep::Mutex::named(name, ())))
}

/// A local task returns a blocking guard (its stack is kept as an ended task's, which closes
/// its thread's fast path); the code that awaited it drops it. Nothing is left to check, so
/// the fast path is open again for the thread's async acquisitions: all 20,000 acquisitions
/// of a warm async lock take it, before and after (none after: the ended stack stayed on the
/// thread's list, which only a blocking acquisition's slow path pruned).
#[test]
fn the_fast_path_reopens_once_an_ended_tasks_guard_is_dropped() {
    let _serial = serial();
    let s = leak("r21.reopen.S");
    let a: &'static lockdep::tokio::Mutex<()> =
        Box::leak(Box::new(lockdep::tokio::Mutex::named("r21.reopen.A", ())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((before, after), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            // How many of 20,000 acquisitions of a warm async lock the fast path took (the
            // counter is the process's: the tests of this binary run one at a time).
            async fn best(a: &'static lockdep::tokio::Mutex<()>) -> u64 {
                drop(a.lock().await); // warm
                let fast = lockdep::stats().fast_path_hits;
                for _ in 0..20_000 {
                    drop(a.lock().await);
                }
                lockdep::stats().fast_path_hits - fast
            }
            let before = best(a).await;
            let g = lockdep::tokio::spawn_local(async move { s.lock() })
                .await
                .unwrap();
            drop(g);
            (before, best(a).await)
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
    assert!(
        before == 20_000 && after == 20_000,
        "of 20,000 acquisitions of a warm async lock, the fast path took {before} before, {after} after"
    );
}
