//! Review 16: a hostile review of "a thread never seen where it may poll a task asks tokio
//! nothing on its blocking locks' fast path" (`HeldRef::tasks_possible`, `src/holder.rs`).
//! Each test pins a defect found by the review (it failed before its fix):
//!
//! - a lock released by instance (a `LockMap`'s `release`, `force_unlock`, a raw lock's
//!   `unlock`) that a task took by the fast path of an unmarked thread, and released in the
//!   same task once a slow-path call had marked the thread: the release looked only at the
//!   task's stack, so it was a false `BadUnlockBalance`, and the entry stayed on the
//!   thread's own stack for good (a stale held lock: the thread's next acquisition of it
//!   was a false certain self-deadlock, its exit a false `LocksHeldAtExit`).
//!
//! - a write guard taken so and downgraded in the same task after the mark: the downgrade
//!   looked for its entry on the task's stack only, so the entry stayed a writer's, and a
//!   recursive read of the lock by the task was a false certain self-deadlock (a panic).
//!
//! `cargo test -p lockdep --features enabled,tokio --test review16`
#![cfg(lockdep_tasks)]

mod common;
use common::{in_local_task, kinds};

/// A `LockMap` the thread acquired before it entered a runtime (its one-lock chain: the fast
/// path from now on) is acquired by a local task (on the thread's own stack: the thread is
/// not marked), which then takes a new lock (the slow path, which marks the thread and loads
/// the task's stack) and releases the map. The release is the task's: no report, and the
/// map is not held afterwards (the thread takes it again, and exits, cleanly).
#[test]
fn a_pseudo_lock_taken_before_the_mark_is_released_by_instance() {
    std::thread::spawn(|| {
        let map: &'static lockdep::LockMap = Box::leak(Box::new(lockdep::LockMap::new("r16.map")));
        map.acquire();
        map.release();
        let reports = in_local_task(async move {
            map.acquire(); // fast path, on the thread's own stack
            let fresh = lockdep::Mutex::named("r16.map.fresh", ());
            drop(fresh.lock()); // a new order: the slow path marks the thread
            map.release();
        });
        assert_eq!(kinds(&reports), [], "{reports:?}");
        let ((), after) = lockdep::capture(|| {
            assert!(!map.is_held(), "released");
            map.acquire();
            map.release();
        });
        assert_eq!(kinds(&after), [], "{after:?}");
    })
    .join()
    .unwrap();
}

/// As above with a mutex's guard leaked in the task and the lock let go by `force_unlock`
/// (a release by instance, as a raw lock's `unlock`).
#[test]
fn a_leaked_guard_taken_before_the_mark_is_force_unlocked() {
    std::thread::spawn(|| {
        let m: &'static lockdep::Mutex<()> =
            Box::leak(Box::new(lockdep::Mutex::named("r16.force", ())));
        drop(m.lock());
        let reports = in_local_task(async move {
            lockdep::MutexGuard::leak(m.lock()); // fast path, on the thread's own stack
            let fresh = lockdep::Mutex::named("r16.force.fresh", ());
            drop(fresh.lock()); // marks the thread
                                // SAFETY: the lock is held (its guard leaked just above, on this thread).
            unsafe { m.force_unlock() };
        });
        assert_eq!(kinds(&reports), [], "{reports:?}");
        let ((), after) = lockdep::capture(|| {
            assert!(!lockdep::is_held(m), "released");
            drop(m.lock()); // not a re-lock of a lock held
        });
        assert_eq!(kinds(&after), [], "{after:?}");
    })
    .join()
    .unwrap();
}

/// A write guard a local task took by the fast path of an unmarked thread (on the thread's
/// own stack), downgraded in the same task once a slow-path call marked the thread: the
/// downgrade looked for the entry only on the task's stack, so the entry stayed a writer's,
/// and the task's recursive read of the lock it now holds for reading was a false certain
/// self-deadlock (the thread's own stack holding it exclusively), which panicked.
#[test]
fn a_write_guard_taken_before_the_mark_is_downgraded() {
    std::thread::spawn(|| {
        let l: &'static lockdep::RwLock<()> =
            Box::leak(Box::new(lockdep::RwLock::named("r16.down", ())));
        drop(l.write());
        let reports = in_local_task(async move {
            let w = l.write(); // fast path, on the thread's own stack
            let fresh = lockdep::Mutex::named("r16.down.fresh", ());
            drop(fresh.lock()); // marks the thread
            let r = lockdep::RwLockWriteGuard::downgrade(w);
            let again = l.read_recursive(); // a reader beside a reader: no deadlock
            drop(again);
            drop(r);
        });
        assert_eq!(kinds(&reports), [], "{reports:?}");
        assert!(!lockdep::is_held(l));
    })
    .join()
    .unwrap();
}
