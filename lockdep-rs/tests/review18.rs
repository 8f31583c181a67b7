//! Review 18: lifecycle paths of async code (runtimes and `LocalSet`s dropped or shut down with
//! tasks holding guards, guards handed between tasks, threads and runtimes, mapped and
//! downgraded guards). Each test pins a defect found by the review (it failed before its fix):
//!
//! - a write guard of a `lockdep::tokio::RwLock` downgraded (`downgrade`, `downgrade_map`,
//!   `try_downgrade_map`) by another holder than the one that took it (the guard was handed to
//!   another task, or from a task to the `block_on` body, or from the body to a task on another
//!   worker): the downgrade looked for the entry only on the stack loaded where it ran, so the
//!   acquirer's entry stayed a writer's, and what the acquirer took meanwhile was recorded as
//!   ordered after an *exclusive* hold (`EN` instead of `SN` in the cycle reported).
//!
//! - a local task spawned with `lockdep::tokio::spawn_local` that returns a blocking guard (a
//!   local task's output need not be `Send`): at its end the guard's lock was taken for a leak,
//!   a false `LocksHeldAtExit`, and its entry was forgotten, so the holder that took the guard
//!   held a lock lockdep no longer knew of (its orders missed; its re-lock of the lock, a
//!   certain self-deadlock, would hang instead of being stopped).
//!
//! `cargo test -p lockdep --features enabled,tokio --test review18`
#![cfg(lockdep_tasks)]

use std::sync::Arc;

use lockdep::tokio::{capture_async, Mutex, OwnedRwLockWriteGuard, RwLock};
use lockdep::ReportKind;

mod common;
use common::kinds;

/// The edge `from -> to` of the report's cycle: its dependency type (`EN`: `from` held
/// exclusively, `SN`: held shared).
fn edge_type(r: &lockdep::Report, from: &str, to: &str) -> String {
    let cycle = r.cycle();
    cycle
        .iter()
        .find(|(f, t, _)| f == from && t == to)
        .unwrap_or_else(|| panic!("no edge {from} -> {to} in {cycle:?}"))
        .2
        .clone()
}

/// A task takes a write guard (owned) and hands it to another task, which downgrades it and
/// keeps the read guard; the first task (which counts as holding the lock until the guard is
/// dropped) then takes `X`: ordered after a *shared* hold of the lock. The opposite order,
/// `X` then a write, closes a cycle whose first edge is `SN`. One case per place the
/// acquirer's stack can be when the downgrade runs: parked (a task suspended on this thread),
/// or the thread's own stack of another thread (a `block_on` body whose guard is downgraded
/// by a task on a worker).
#[test]
fn a_write_guard_downgraded_by_another_holder_makes_its_acquirers_entry_shared() {
    // Parked: two tasks of a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rw = Arc::new(RwLock::named("r18.down.RW", 0u32));
    let x = Arc::new(Mutex::named("r18.down.X", ()));
    let ((), reports) = rt.block_on(capture_async(async {
        let (rw1, x1) = (rw.clone(), x.clone());
        tokio::spawn(async move {
            let w = rw1.clone().write_owned().await;
            let (downgraded_tx, downgraded) = tokio::sync::oneshot::channel();
            let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
            let other = tokio::spawn(async move {
                let r = OwnedRwLockWriteGuard::downgrade(w);
                downgraded_tx.send(()).unwrap();
                done_rx.await.unwrap();
                drop(r);
            });
            downgraded.await.unwrap();
            drop(x1.lock().await); // RW (shared: the handed guard, downgraded) -> X
            done.send(()).unwrap();
            other.await.unwrap();
            assert!(!rw1.is_held());
        })
        .await
        .unwrap();
        let _x = x.lock().await;
        drop(rw.write().await); // X -> RW
    }));
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(edge_type(&reports[0], "r18.down.RW", "r18.down.X"), "SN");

    // The thread's own stack, downgraded from another thread: a multi-thread runtime's body.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let rw = Arc::new(RwLock::named("r18.down2.RW", 0u32));
    let x = Arc::new(Mutex::named("r18.down2.X", ()));
    let ((), reports) = rt.block_on(capture_async(async {
        let w = rw.clone().write_owned().await;
        let r = tokio::spawn(async move { OwnedRwLockWriteGuard::downgrade_map(w, |v| v) })
            .await
            .unwrap();
        drop(x.lock().await); // RW (shared) -> X
        drop(r);
        assert!(!rw.is_held());
        let _x = x.lock().await;
        drop(rw.write().await); // X -> RW
    }));
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(edge_type(&reports[0], "r18.down2.RW", "r18.down2.X"), "SN");
}

/// A local task returns the guard of a blocking lock it took; the code that awaited it takes
/// another lock under it and drops it. No leak (nor a task suspended holding it): nothing to
/// report; the lock is released where the guard is dropped, and taken again cleanly. A real
/// leak in a task whose output holds no guard is still reported (`tokio_reports`).
#[test]
fn a_blocking_guard_returned_by_a_local_task_is_no_leak() {
    let s = common::leaked_mutex("r18.out.S");
    let t = common::leaked_mutex("r18.out.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local.block_on(
        &rt,
        capture_async(async move {
            let g = lockdep::tokio::spawn_local(async move { s.lock() })
                .await
                .unwrap();
            drop(t.lock()); // the thread goes on, holding the guard
            drop(g);
            assert!(!lockdep::is_held(s));
            drop(s.lock()); // held by no one
        }),
    );
    assert_eq!(kinds(&reports), [], "{reports:?}");

    // While the thread holds the returned guard, its re-lock of the lock is a certain
    // self-deadlock: stopped (reported and panicked), not left to hang.
    let ((), reports) = local.block_on(
        &rt,
        capture_async(async move {
            let g = lockdep::tokio::spawn_local(async move { s.lock() })
                .await
                .unwrap();
            let relock = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.lock())));
            assert!(relock.is_err(), "stopped");
            drop(g);
            drop(s.lock());
        }),
    );
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::RecursiveLocking, common::names(&["r18.out.S"]))]
    );
}
