//! Review 20: the check as a holder suspends (`validator::holder::suspended`), and the
//! blocking locks of local tasks that ended holding them (`Stack::ended_on`). Each test pins a
//! defect found by the review (it failed before its fix):
//!
//! - the stack of a local task that ended with a blocking lock held (its guard handed to
//!   another local task) was never put on its thread's list of parked stacks holding blocking
//!   locks when another thread took it over first, to drop the task's output under its id (a
//!   `JoinHandle` of a `Send` output dropped there): that thread parked it, but the list is the
//!   task's thread's, which never parked it. So the lock, leaked by the keeper, was not reported
//!   when the task's thread exited (and a blocking re-lock of it there while the keeper held
//!   the guard was not stopped: a hang).
//!
//! - with that fixed, the same re-lock still hung while the thread that dropped the output
//!   stayed alive without a lockdep call: it had the ended task's stack loaded (taken over to
//!   run the drop under the task's id), where the task's thread cannot read it. Code run
//!   under the id of a task that ended on another thread now gets a stack of its own.
//!
//! - a thread's fast path, closed while a local task it parked holds blocking locks, stayed
//!   closed for good once that task was polled again (the usual case): its stack left the
//!   list of parked ones as it was loaded, and only a check that emptied the list itself
//!   reopened the fast path. Every acquisition of the thread went to the slow path from then
//!   on (about 12 times slower).
//!
//! - a local task that ended holding a pseudo-lock (`LockMap`: no guard, so it cannot have
//!   left the task) was never reported (its stack, kept as an ended task's, was checked at
//!   its thread's exit only while it held blocking locks), and the stack was kept for ever.
//!
//! - a lock freed by another holder while an ended local task's stack held it (its guard
//!   leaked) was reported freed there, then again as leaked (`LocksHeldAtExit`) when the
//!   thread exited: no one forgot the dead entry of the ended task's stack, which no holder
//!   visits (a thread's own stack forgets such entries first).
//!
//! - `assert_held` on a blocking guard that a local task returned (or handed to another local
//!   task) before it ended panicked: the guard's entry stays on the ended task's stack, not
//!   the holder's that has the guard now.
//!
//! - (open point of the review, fixed after it) a blocking guard a local task returned, used
//!   as the nest lock of the receiver's next acquisition: a false `NestLockNotHeld` (the nest
//!   check looked at the calling holder's stack only).
//!
//! `cargo test -p lockdep --features enabled,tokio --test review20`
#![cfg(lockdep_tasks)]

use std::sync::Arc;

use lockdep::tokio::Mutex;
use lockdep::ReportKind;

mod common;
use common::kinds;

/// A local task hands a blocking guard to another local task, which leaks it (`mem::forget`),
/// and returns an async guard; its `JoinHandle` is dropped on another thread (which takes the
/// ended task's stack over from the `LocalSet`'s thread to drop the output under the task's
/// id). The lock is still held by the ended task when the `LocalSet`'s thread exits: one
/// `LocksHeldAtExit` then, naming the task (it was not reported at all).
#[test]
fn a_guard_leaked_from_an_ended_tasks_stack_taken_over_elsewhere_is_reported_at_exit() {
    let _serial = common::one_at_a_time();
    let _kept = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let s = common::leaked_mutex("r20.over.S");
    let m = Arc::new(Mutex::named("r20.over.M", ()));
    let (at_end, reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            let ((), at_end) = lockdep::capture(|| {
                local.block_on(&rt, async move {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let (go, wait) = tokio::sync::oneshot::channel::<()>();
                    let keeper = lockdep::tokio::spawn_local(async move {
                        let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                        wait.await.unwrap();
                        std::mem::forget(g);
                    });
                    let h = lockdep::tokio::spawn_local(async move {
                        tx.send(s.lock()).ok().unwrap();
                        m.lock_owned().await
                    });
                    while !h.is_finished() {
                        tokio::task::yield_now().await;
                    }
                    // Dropped elsewhere with its output (no lockdep call here since the task
                    // ended: its stack is still loaded here, and taken over there).
                    let elsewhere = std::thread::spawn(move || {
                        let ((), reports) = lockdep::capture(|| {
                            lockdep::thread::spawn(move || drop(h)).join().unwrap();
                        });
                        reports
                    })
                    .join()
                    .unwrap();
                    assert_eq!(kinds(&elsewhere), [], "{elsewhere:?}");
                    go.send(()).unwrap();
                    keeper.await.unwrap();
                })
            });
            at_end
        })
        .join()
        .unwrap()
    });
    assert_eq!(kinds(&at_end), [], "nothing before the thread exits");
    assert_eq!(common::kept_with(&["r20.over.S"]), [], "into the capture");
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::LocksHeldAtExit, common::names(&["r20.over.S"]))],
        "{reports:?}"
    );
    let task = reports[0].task().expect("names the task");
    assert!(task.contains("spawned at"), "{task}");
}

/// As above, but the keeper holds the guard (no leak) while the `LocalSet`'s thread re-locks
/// the lock after the other thread took the ended task's stack over: stopped (a certain
/// self-deadlock: it hung), and the lock is released where the keeper drops the guard.
#[test]
fn a_relock_of_a_lock_of_an_ended_tasks_stack_taken_over_elsewhere_is_stopped() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r20.relock.S");
    let m = Arc::new(Mutex::named("r20.relock.M", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (go, wait) = tokio::sync::oneshot::channel::<()>();
            let keeper = lockdep::tokio::spawn_local(async move {
                let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                wait.await.unwrap();
                drop(g);
            });
            let h = lockdep::tokio::spawn_local(async move {
                tx.send(s.lock()).ok().unwrap();
                m.lock_owned().await
            });
            while !h.is_finished() {
                tokio::task::yield_now().await;
            }
            std::thread::spawn(move || {
                let ((), reports) = lockdep::capture(|| {
                    lockdep::thread::spawn(move || drop(h)).join().unwrap();
                });
                assert_eq!(kinds(&reports), [], "{reports:?}");
            })
            .join()
            .unwrap();
            let relock = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.lock())));
            assert!(relock.is_err(), "stopped: the keeper holds it");
            go.send(()).unwrap();
            keeper.await.unwrap();
            drop(s.lock()); // held by no one
        })
    });
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(
            ReportKind::RecursiveLocking,
            common::names(&["r20.relock.S"])
        )],
        "{reports:?}"
    );
}

/// A local task suspended holding a blocking lock is parked by its thread, which closes its
/// fast path (its blocking acquisitions are checked against the task's locks); the task is
/// polled again, releases the lock and ends. Nothing is left to check, so the fast path is
/// open again: a warm chain costs what it cost before (it stayed closed for good — every
/// acquisition of the thread on the slow path, ~12 times slower —: the task's stack left the
/// list as it was loaded again, and the list found empty later never reopened it). Counted,
/// not timed (`Stats::fast_path_hits`): the fast path takes all 20,000 acquisitions of a warm
/// chain, before and after (none after, before the fix).
#[test]
fn the_fast_path_reopens_once_a_parked_task_holding_a_blocking_lock_is_polled_again() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r20.reopen.S");
    let t = common::leaked_mutex("r20.reopen.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    // How many of 20,000 acquisitions of a warm chain the fast path took (the counter is the
    // process's: the tests of this binary run one at a time).
    let best = || {
        drop(t.lock()); // warm
        let fast = lockdep::stats().fast_path_hits;
        for _ in 0..20_000 {
            drop(t.lock());
        }
        lockdep::stats().fast_path_hits - fast
    };
    let ((before, after), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let before = best();
            let (go, wait) = tokio::sync::oneshot::channel::<()>();
            let h = lockdep::tokio::spawn_local(async move {
                let g = s.lock();
                wait.await.unwrap();
                drop(g);
            });
            tokio::task::yield_now().await; // the task takes `s` and suspends
            drop(t.lock()); // parks the task's stack (reported: held across the .await)
            go.send(()).unwrap();
            h.await.unwrap();
            (before, best())
        })
    });
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(
            ReportKind::HeldAcrossAwait,
            common::names(&["r20.reopen.S"])
        )],
        "{reports:?}"
    );
    assert!(
        before == 20_000 && after == 20_000,
        "of 20,000 acquisitions of a warm chain, the fast path took {before} before, {after} after"
    );
}

/// A local task acquires a pseudo-lock (`LockMap`: no guard, released by instance by its
/// holder only) and ends without releasing it: leaked, whatever the task's output. Reported
/// at its end, naming the task, as for a task of `lockdep::tokio::spawn`, and forgotten (it was
/// kept on the ended task's stack, for the rest of the process, and never reported: only an
/// ended stack holding blocking locks was checked when its thread exited). A blocking guard
/// the task handed to another local task meanwhile stays held (and is no leak).
#[test]
fn a_pseudo_lock_left_held_by_a_local_task_is_reported_at_its_end() {
    let _serial = common::one_at_a_time();
    let _kept = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    static MAP: lockdep::LockMap = lockdep::LockMap::new("r20.pseudo.P");
    let s = common::leaked_mutex("r20.pseudo.S");
    let (at_end, reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            let ((), at_end) = lockdep::capture(|| {
                local.block_on(&rt, async move {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let keeper = lockdep::tokio::spawn_local(async move {
                        let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                        tokio::task::yield_now().await;
                        drop(g);
                    });
                    lockdep::tokio::spawn_local(async move {
                        MAP.acquire();
                        tx.send(s.lock()).ok().unwrap();
                    })
                    .await
                    .unwrap();
                    keeper.await.unwrap();
                    drop(s.lock()); // held by no one
                })
            });
            at_end
        })
        .join()
        .unwrap()
    });
    assert_eq!(common::kept_with(&["r20.pseudo.P"]), [], "into the capture");
    assert_eq!(
        common::kinds_and_classes(&at_end),
        [(
            ReportKind::LocksHeldAtExit,
            common::names(&["r20.pseudo.P"])
        )],
        "{at_end:?}"
    );
    let task = at_end[0].task().expect("names the task");
    assert!(task.contains("spawned at"), "{task}");
    assert_eq!(
        kinds(&reports),
        [],
        "nothing when the thread exits: {reports:?}"
    );
}

/// As `a_relock_of_a_lock_of_an_ended_tasks_stack_taken_over_elsewhere_is_stopped`, but the
/// thread that drops the task's output under its id stays alive, making no lockdep call,
/// while the `LocalSet`'s thread re-locks the lock: stopped all the same (it hung: the ended
/// task's stack stayed loaded on that thread, where the `LocalSet`'s thread cannot read it).
#[test]
fn a_relock_while_another_thread_dropped_an_ended_tasks_output_and_idles_is_stopped() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r20.idle.S");
    let m = Arc::new(Mutex::named("r20.idle.M", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (go, wait) = tokio::sync::oneshot::channel::<()>();
            let keeper = lockdep::tokio::spawn_local(async move {
                let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                wait.await.unwrap();
                drop(g);
            });
            let h = lockdep::tokio::spawn_local(async move {
                tx.send(s.lock()).ok().unwrap();
                m.lock_owned().await
            });
            while !h.is_finished() {
                tokio::task::yield_now().await;
            }
            let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
            let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
            let idle = lockdep::thread::spawn(move || {
                drop(h);
                dropped_tx.send(()).unwrap();
                exit_rx.recv().unwrap(); // alive, no lockdep call
            });
            dropped_rx.recv().unwrap();
            let relock = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.lock())));
            exit_tx.send(()).unwrap();
            idle.join().unwrap();
            assert!(relock.is_err(), "stopped: the keeper holds it");
            go.send(()).unwrap();
            keeper.await.unwrap();
            drop(s.lock()); // held by no one
        })
    });
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::RecursiveLocking, common::names(&["r20.idle.S"]))],
        "{reports:?}"
    );
}

/// A local task leaks the guard of a lock it then hands (the lock itself) to another local
/// task, which drops the lock: `HeldLockFreed` there, once. The ended task's entry of the
/// freed lock is not a leak when the thread exits (it was: a second report, `LocksHeldAtExit`
/// for a lock that no longer existed; a thread's own stack forgets such entries first).
#[test]
fn a_lock_freed_while_an_ended_task_held_it_is_not_reported_again_at_exit() {
    let _serial = common::one_at_a_time();
    let _kept = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let (at_end, reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            let ((), at_end) = lockdep::capture(|| {
                local.block_on(&rt, async move {
                    let (tx, rx) = tokio::sync::oneshot::channel::<Box<lockdep::Mutex<()>>>();
                    let keeper = lockdep::tokio::spawn_local(async move {
                        drop(rx.await.unwrap());
                    });
                    lockdep::tokio::spawn_local(async move {
                        let m = Box::new(lockdep::Mutex::named("r20.freed.L", ()));
                        std::mem::forget(m.lock());
                        tx.send(m).ok().unwrap();
                    })
                    .await
                    .unwrap();
                    keeper.await.unwrap();
                })
            });
            at_end
        })
        .join()
        .unwrap()
    });
    assert_eq!(common::kept_with(&["r20.freed.L"]), [], "into the captures");
    assert_eq!(
        common::kinds_and_classes(&at_end),
        [(ReportKind::HeldLockFreed, common::names(&["r20.freed.L"]))],
        "{at_end:?}"
    );
    assert_eq!(
        kinds(&reports),
        [],
        "nothing at the thread's exit: {reports:?}"
    );
}

/// The code that awaited a local task holds the blocking guard the task returned (its entry
/// stays on the ended task's stack: see `lockdep::tokio::spawn_local`): `assert_held` on the
/// guard passes (it panicked: "the guard's lock is not held by this thread"), as it does on
/// a guard another local task handed over before it ended.
#[test]
fn assert_held_passes_on_a_guard_a_local_task_left_behind() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r20.assert.S");
    let t = common::leaked_mutex("r20.assert.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { s.lock() })
                .await
                .unwrap();
            lockdep::assert_held(&g);
            drop(g);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let keeper = lockdep::tokio::spawn_local(async move {
                let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                tokio::task::yield_now().await;
                lockdep::assert_held(&g);
                drop(g);
            });
            lockdep::tokio::spawn_local(async move {
                tx.send(t.lock()).ok().unwrap();
            })
            .await
            .unwrap();
            keeper.await.unwrap();
            lockdep::assert_not_held(s);
            lockdep::assert_not_held(t);
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
}

/// A blocking guard a local task returned as its output (its entry stays on the ended task's
/// stack) is the nest lock of the receiver's next acquisition: the caller has the guard in
/// hand, so the nest lock is held — no `NestLockNotHeld` (review 20's open point: it was one).
#[test]
fn a_guard_a_local_task_returned_is_a_nest_lock() {
    let _serial = common::one_at_a_time();
    let outer = common::leaked_mutex("r20.nest.outer");
    let inner = common::leaked_mutex("r20.nest.inner");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { outer.lock() })
                .await
                .unwrap();
            drop(inner.lock_nest_lock(&g));
            drop(g);
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
    assert!(!lockdep::is_held(outer) && !lockdep::is_held(inner));
}
