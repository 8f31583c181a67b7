//! Review 21: the blocking locks of local tasks that ended holding them (`Stack::ended_on`).
//! Each test pins a defect found by the review (it failed before its fix):
//!
//! - a thread's fast path, closed as a local task ends with a blocking lock held (its guard
//!   in the task's output), stayed closed for good once the output's guard was dropped if
//!   the thread's later acquisitions were all async (or trylocks, or nested under a nest
//!   lock): only a fresh blocking acquisition's check (`held_by_parked_task`) took the ended
//!   stack, left empty, off the thread's list and reopened it.
//!
//! - the `LocksHeldAtExit` of a task's leak (a `lockdep::tokio::spawn` task's at its end, an
//!   ended local task's at its thread's exit) named every lock on the task's stack, async
//!   ones too, whose guards (`Send`) may be alive elsewhere (in the task's output) and are
//!   not leaked.
//!
//! - a release by instance (a raw lock's `lock_api` guard dropped, a `force_unlock`) of a lock
//!   held through the stack of a local task that ended on the thread (its guard returned or
//!   handed on) looked at the calling holder's stack only: a false `BadUnlockBalance`, and
//!   the entry left held — the next lock of it stopped as a certain self-deadlock (a false
//!   `RecursiveLocking`), a false `LocksHeldAtExit` at the thread's exit.
//!
//! - a second lock of a class nested under a blocking guard a local task returned (its nest
//!   lock on the ended task's stack) was a false `RecursiveLocking` (the class check looked
//!   for the nest lock on the caller's stack only); and an entry so exempt, put back and
//!   validated again as a lock below it was released on a parked stack (under the
//!   registry's lock), hung: its nest check took the registry's lock again.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review21`
#![cfg(lockdep_tasks)]

use lockdep::ReportKind;

mod common;
use common::kinds;

/// A local task returns a blocking guard (its stack is kept as an ended task's, which closes
/// its thread's fast path); the code that awaited it drops it. Nothing is left to check, so
/// the fast path is open again for the thread's async acquisitions: all 20,000 acquisitions
/// of a warm async lock take it, before and after (none after: the ended stack stayed on the
/// thread's list, which only a blocking acquisition's slow path pruned).
#[test]
fn the_fast_path_reopens_once_an_ended_tasks_guard_is_dropped() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r21.reopen.S");
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

/// A local task hands a blocking guard to another local task, which leaks it, and returns an
/// async guard (`Send`), which outlives the task's thread (sent to the test's thread). When
/// that thread exits, the ended task's `LocksHeldAtExit` names the leaked blocking lock only:
/// the async guard is alive elsewhere, released there (it named both).
#[test]
fn an_ended_tasks_leak_at_exit_names_no_async_lock_whose_guard_lives_on() {
    let _serial = common::one_at_a_time();
    let _kept = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let s = common::leaked_mutex("r21.exit.S");
    let m = std::sync::Arc::new(lockdep::tokio::Mutex::named("r21.exit.M", ()));
    let (kept, reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let keeper = lockdep::tokio::spawn_local(async move {
                    let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                    std::mem::forget(g);
                });
                let out = lockdep::tokio::spawn_local(async move {
                    tx.send(s.lock()).ok().unwrap();
                    m.lock_owned().await
                })
                .await
                .unwrap();
                keeper.await.unwrap();
                out
            })
        })
        .join()
        .unwrap()
    });
    drop(kept);
    assert_eq!(common::kept_with(&["r21.exit.S"]), [], "into the capture");
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::LocksHeldAtExit, common::names(&["r21.exit.S"]))],
        "{reports:?}"
    );
}

/// A task of `lockdep::tokio::spawn` leaks a blocking guard and returns an async guard: its
/// `LocksHeldAtExit` at its end names the blocking lock only (it named the async lock too,
/// whose guard is alive in the output).
#[test]
fn a_tasks_leak_at_its_end_names_no_async_lock_whose_guard_lives_on() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r21.end.S");
    let m = std::sync::Arc::new(lockdep::tokio::Mutex::named("r21.end.M", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (out, reports) = lockdep::capture(|| {
        rt.block_on(async move {
            lockdep::tokio::spawn(async move {
                std::mem::forget(s.lock());
                m.lock_owned().await
            })
            .await
            .unwrap()
        })
    });
    drop(out);
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::LocksHeldAtExit, common::names(&["r21.end.S"]))],
        "{reports:?}"
    );
}

/// A local task returns the guard of a raw lock (`lock_api` over `lockdep::RawMutex`, whose
/// guard's drop releases by instance: no token), which the code that awaited it drops: the
/// lock is released from the ended task's stack, where its entry is (it was a false
/// `BadUnlockBalance`, the entry left held: the next lock of it was stopped as a certain
/// self-deadlock, a false `RecursiveLocking`).
#[test]
fn a_raw_guard_a_local_task_returned_is_released_where_it_is_dropped() {
    let _serial = common::one_at_a_time();
    let m: &'static lockdep::lock_api::Mutex<lockdep::RawMutex, ()> = Box::leak(Box::new(
        lockdep::lock_api::Mutex::const_new(lockdep::RawMutex::named("r21.raw.R"), ()),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { m.lock() })
                .await
                .unwrap();
            drop(g);
            drop(m.lock());
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
}

/// A local task returns a blocking guard, which the code that awaited it leaks
/// (`MutexGuard::leak`) and then force-unlocks: released from the ended task's stack (it was
/// a false `BadUnlockBalance`, then a false `RecursiveLocking` at the next lock).
#[test]
fn force_unlock_of_a_guard_a_local_task_returned_releases_it() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r21.force.S");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { s.lock() })
                .await
                .unwrap();
            lockdep::MutexGuard::leak(g);
            // SAFETY: the guard was leaked: the lock is held, by no guard.
            unsafe { s.force_unlock() };
            drop(s.lock());
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
    assert!(!lockdep::is_held(s));
}

/// The code that awaited a local task nests two locks of one class under the blocking guard
/// the task returned (its entry on the ended task's stack): the second is exempt under the
/// nest lock, as under a guard of its own (it was a false `RecursiveLocking`: the class check
/// looked for the nest lock below the first one on the caller's stack only).
#[test]
fn a_second_lock_of_a_class_under_a_nest_lock_a_local_task_returned_is_exempt() {
    let _serial = common::one_at_a_time();
    let outer = common::leaked_mutex("r21.exempt.O");
    let y = common::leaked_mutex("r21.exempt.Y");
    let same: Vec<&'static lockdep::Mutex<()>> = (0..2)
        .map(|_| common::leaked_mutex("r21.exempt.I"))
        .collect();
    let first = same[0];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { outer.lock() })
                .await
                .unwrap();
            let a = same[0].lock_nest_lock(&g);
            let m = y.lock(); // (`b` is not merged into `a`'s entry: an entry of its own)
            let b = same[1].lock_nest_lock(&g);
            drop(b);
            drop(m);
            drop(a);
            drop(g);
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
    assert!(!lockdep::is_held(outer) && !lockdep::is_held(first) && !lockdep::is_held(y));
}

/// A local task nests two locks of one class under a blocking guard another local task
/// returned (its entry on that ended task's stack), with a third lock between them (so the
/// second is an exempt entry of its own, recorded with no edges), and returns the guards. The
/// code that awaited it drops the middle one: released on the nesting task's ended stack
/// under the registry's lock, where the exempt entry above is validated again under its nest
/// lock — whose check (`held_by_ended_task_of`) took the registry's lock again: a hang.
#[test]
fn a_release_under_a_nest_lock_an_ended_task_left_does_not_hang() {
    let _serial = common::one_at_a_time();
    let _watchdog = common::watchdog("a_release_under_a_nest_lock_an_ended_task_left", 60);
    let outer = common::leaked_mutex("r21.nest.O");
    let y = common::leaked_mutex("r21.nest.Y");
    let same: Vec<&'static lockdep::Mutex<()>> =
        (0..2).map(|_| common::leaked_mutex("r21.nest.I")).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async move {
            let g = lockdep::tokio::spawn_local(async move { outer.lock() })
                .await
                .unwrap();
            let (g, a, m, b) = lockdep::tokio::spawn_local(async move {
                let a = same[0].lock_nest_lock(&g);
                let m = y.lock();
                let b = same[1].lock_nest_lock(&g);
                (g, a, m, b)
            })
            .await
            .unwrap();
            drop(m);
            drop(b);
            drop(a);
            drop(g);
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
    assert!(!lockdep::is_held(outer) && !lockdep::is_held(y));
}
