//! Review 19: downgrades by another holder, and blocking guards returned by local tasks.
//! Each test pins a defect found by the review (it failed before its fix):
//!
//! - a blocking re-lock of a lock held by a guard that a local task took and left to its
//!   output (see `lockdep::tokio::spawn_local`) was stopped with the text of a task suspended
//!   at an `.await` ("a task suspended on this thread"): the task ended, and its guard is with
//!   its output or another holder of the thread (and the report named the task without its
//!   spawn site, forgotten at its end).
//!
//! - a local task that handed a blocking guard to another local task (through a channel: the
//!   tasks share a thread) and ended with an output of no drop glue was taken for leaking it:
//!   a false `LocksHeldAtExit` at its end, and the entry was forgotten, so a re-lock by the
//!   thread while the other task held the guard hung instead of being stopped. A local task's
//!   blocking locks now outlive it whatever its output; a real leak is reported when its
//!   thread exits.
//!
//! - a task's stack left loaded on a worker thread when the task ended, with the release of
//!   its last async guard (dropped on another thread) posted to it, was parked as it was when
//!   the worker exited: the posted release was never applied, and the stack of the ended task
//!   stayed in the holders' registry for the rest of the process (one per such task, ~600
//!   bytes each).
//!
//! - the stack of a local task that ended with blocking locks held (their guards outlived it)
//!   was taken for a suspended holder's by another thread that took it over, dropping the
//!   task's output under its id (a `JoinHandle` of a `Send` output dropped there): a false
//!   `HeldAcrossAwait` on that thread; and (with the fix above) its blocking locks were taken
//!   for leaked when that thread exited. `Stack::ended_on` now names the thread the task ended
//!   on, the only one whose holders have those guards.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review19`
#![cfg(lockdep_tasks)]

use std::sync::Arc;

use lockdep::tokio::{capture_async, Mutex};
use lockdep::ReportKind;

mod common;
use common::kinds;

#[global_allocator]
static ALLOC: common::counting::Counting = common::counting::Counting;

/// A local task returns the guard of a blocking lock; the thread's code re-locks the lock
/// while it holds that guard: stopped, and the panic and the report say that the task ended
/// and its output holds the lock (not that a task is suspended holding it).
#[test]
fn a_relock_of_a_lock_an_ended_tasks_output_holds_says_so() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r19.out.S");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (message, reports) = local.block_on(
        &rt,
        capture_async(async move {
            let handle = lockdep::tokio::spawn_local(async move { s.lock() });
            let spawn_line = line!() - 1;
            let id = handle.id();
            let g = handle.await.unwrap();
            let relock = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.lock())));
            let payload = relock.expect_err("stopped");
            drop(g);
            drop(s.lock());
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .expect("a String payload");
            (message, id, spawn_line)
        }),
    );
    let (message, id, spawn_line) = message;
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::RecursiveLocking, common::names(&["r19.out.S"]))]
    );
    let why = "lockdep: certain self-deadlock: a task that ended on this thread left the lock \
               this thread is acquiring held (its guard is in the task's output, or with another \
               holder of this thread); blocked, the thread can never drop that guard to release \
               the lock";
    assert!(message.starts_with(why), "{message}");
    let text = reports[0].to_string();
    let holder = format!("but task {id} (spawned at {}:{spawn_line}:", file!());
    assert!(text.contains(&holder), "{text}");
    assert!(
        text.contains("), which ended, is already holding lock:"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "The lock is held through a guard that task {id} (spawned at {}:{spawn_line}:",
            file!()
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "the task ended\n\
             on this thread without releasing it, and its output or another holder of\n\
             this thread (the code that awaited it, another local task) has the guard,"
        ),
        "{text}"
    );
    assert!(!text.contains("suspended at an .await"), "{text}");
    assert!(!message.contains("suspended"), "{message}");
}

/// A local task takes a blocking lock and hands the guard to another local task (through a
/// channel: a blocking guard is not `Send`, but the tasks run on one thread), then ends with
/// an output of no drop glue. No leak: nothing is reported when it ends (it was a false
/// `LocksHeldAtExit`, and the lock was forgotten), the lock is released where the keeper drops
/// the guard; while the keeper holds it, a blocking re-lock by the thread's code is stopped.
#[test]
fn a_blocking_guard_handed_by_a_local_task_to_another_is_no_leak() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r19.hand.S");
    let t = common::leaked_mutex("r19.hand.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    // The hand-over; `relock`: the thread's code re-locks the lock while the keeper has it.
    let run = |relock: bool| {
        local.block_on(
            &rt,
            capture_async(async move {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let (go, wait) = tokio::sync::oneshot::channel::<()>();
                let keeper = lockdep::tokio::spawn_local(async move {
                    let g: lockdep::MutexGuard<'static, ()> = rx.await.unwrap();
                    wait.await.unwrap();
                    drop(g);
                });
                lockdep::tokio::spawn_local(async move {
                    tx.send(s.lock()).ok().unwrap();
                })
                .await
                .unwrap();
                drop(t.lock()); // the thread goes on
                if relock {
                    let relock =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(s.lock())));
                    assert!(relock.is_err(), "stopped: the keeper holds it");
                }
                go.send(()).unwrap();
                keeper.await.unwrap();
                drop(s.lock()); // held by no one
            }),
        )
    };
    let ((), reports) = run(false);
    assert_eq!(kinds(&reports), [], "{reports:?}");
    let ((), reports) = run(true);
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(ReportKind::RecursiveLocking, common::names(&["r19.hand.S"]))]
    );
}

/// A local task that really leaks a blocking guard (`mem::forget`) is reported when its
/// thread exits, naming the task: `LocksHeldAtExit`, once.
#[test]
fn a_guard_leaked_by_a_local_task_is_reported_when_its_thread_exits() {
    let _serial = common::one_at_a_time();
    let _kept = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let s = common::leaked_mutex("r19.forgot.S");
    let (at_end, reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            // Everything the thread runs before it exits.
            let ((), at_end) = lockdep::capture(|| {
                local.block_on(&rt, async move {
                    lockdep::tokio::spawn_local(async move { std::mem::forget(s.lock()) })
                        .await
                        .unwrap();
                })
            });
            at_end
        })
        .join()
        .unwrap()
    });
    assert_eq!(kinds(&at_end), [], "nothing before the thread exits");
    let kept = common::kept_with(&["r19.forgot.S"]);
    assert_eq!(kept, [], "reported into the capture");
    assert_eq!(
        common::kinds_and_classes(&reports),
        [(
            ReportKind::LocksHeldAtExit,
            common::names(&["r19.forgot.S"])
        )]
    );
    let task = reports[0].task().expect("names the task");
    assert!(task.contains("spawned at"), "{task}");
}

/// A task on a worker takes an async guard, returns it and ends; the `block_on` body (another
/// thread) drops the guard while the task's stack is still loaded on the worker (its release
/// is posted there), then the runtime shuts down: the worker exits. The ended task's stack
/// must not be kept (its only entry was released): memory does not grow with the number of
/// such tasks.
#[test]
fn an_ended_tasks_stack_with_a_release_posted_is_not_kept_after_its_worker_exits() {
    let _serial = common::one_at_a_time();
    let m = Arc::new(Mutex::named("r19.exit.M", ()));
    let round = || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let m = m.clone();
        let ((), reports) = rt.block_on(capture_async(async move {
            let g = tokio::spawn(async move { m.lock_owned().await })
                .await
                .unwrap();
            drop(g); // posted to the worker, which has the ended task's stack loaded
        }));
        assert_eq!(kinds(&reports), [], "{reports:?}");
        drop(rt); // the worker exits
    };
    for _ in 0..20 {
        round(); // warm-up: caches, maps at their size
    }
    let before = common::counting::in_use();
    const ROUNDS: isize = 300;
    for _ in 0..ROUNDS {
        round();
    }
    let grown = common::counting::in_use() - before;
    assert!(
        grown < ROUNDS * 16,
        "{grown} bytes kept after {ROUNDS} rounds ({} a round)",
        grown / ROUNDS
    );
}

/// A local task hands a blocking guard to another local task and returns an async guard; its
/// `JoinHandle` is dropped on another thread, which drops the output there under the task's
/// id (tokio sets it), taking the ended task's stack over from the `LocalSet`'s thread. The
/// ended task is not suspended holding the blocking lock (no `HeldAcrossAwait` on the other
/// thread), nor did the other thread leak it when it exits (no `LocksHeldAtExit`): the guard is
/// with the keeper, on the `LocalSet`'s thread, and released there.
#[test]
fn an_ended_tasks_stack_taken_over_by_the_thread_dropping_its_output_is_not_suspended() {
    let _serial = common::one_at_a_time();
    let s = common::leaked_mutex("r19.over.S");
    let m = Arc::new(Mutex::named("r19.over.M", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    // (No `capture_async`: nothing here may make a lockdep call on this thread between the
    // task's end and the drop elsewhere, so its stack is still loaded here then.)
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
            // Dropped elsewhere with its output (no lockdep call here since the task ended).
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
            drop(s.lock()); // held by no one
        })
    });
    assert_eq!(kinds(&reports), [], "{reports:?}");
}
