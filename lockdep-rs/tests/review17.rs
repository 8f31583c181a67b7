//! Review 17: a review of "a thread never seen where it may poll a task asks tokio nothing on
//! its blocking locks' fast path" (`HeldRef::tasks_possible`, `src/holder.rs`) and of review
//! 16's fixes for the locks a task took on such a thread's own stack. Each test pins a defect
//! found by the review (it failed before its fix):
//!
//! - a lock a local task took by the fast path of an unmarked thread (on the thread's own
//!   stack), used as the nest lock of the task's next acquisition (`lock_nest_lock`, a slow-path
//!   call that marks the thread and loads the task's stack): the nest check looked only at the
//!   task's stack, so it was a false `NestLockNotHeld`.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review17`
#![cfg(lockdep_tasks)]

mod common;
use common::{in_local_task, kinds};

/// A mutex the thread took before it entered a runtime (its one-lock chain: the fast path from
/// now on) is taken by a local task (on the thread's own stack: the thread is not marked), and
/// passed as the nest lock of the task's next acquisition (the slow path, which marks the
/// thread and loads the task's stack). The nest lock is held by the task: nothing to report.
#[test]
fn a_lock_taken_before_the_mark_is_a_nest_lock() {
    std::thread::spawn(|| {
        let outer: &'static lockdep::Mutex<()> =
            Box::leak(Box::new(lockdep::Mutex::named("r17.nest.outer", ())));
        let inner: &'static lockdep::Mutex<()> =
            Box::leak(Box::new(lockdep::Mutex::named("r17.nest.inner", ())));
        drop(outer.lock());
        let reports = in_local_task(async move {
            let g = outer.lock(); // fast path, on the thread's own stack
            let c = inner.lock_nest_lock(&g); // the slow path marks the thread
            drop(c);
            drop(g);
        });
        assert_eq!(kinds(&reports), [], "{reports:?}");
        assert!(!lockdep::is_held(outer));
        assert!(!lockdep::is_held(inner));
    })
    .join()
    .unwrap();
}
