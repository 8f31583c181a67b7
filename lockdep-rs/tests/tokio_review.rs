//! Review of the `tokio` feature's holder bookkeeping (tasks as holders, stacks switched,
//! taken over and parked, releases posted to other stacks): less common paths. Tests named
//! `limit_*` pin today's behaviour where it is a documented limit (README, Async;
//! `lockdep::tokio`'s limits), saying what the right behaviour would be: if it changes, they
//! fail and the docs must change with them. The defects found were fixed (their tests run);
//! the others pin behaviour that held up and was not covered elsewhere.
//!
//! `cargo test -p lockdep --features enabled,tokio --test tokio_review`
#![cfg(lockdep_tasks)]

use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::{capture_async, Mutex};
use lockdep::ReportKind;
use tokio::task::{yield_now, JoinSet};

mod common;
use common::run_child;

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

fn leak_sync(name: &'static str) -> &'static lockdep::Mutex<()> {
    Box::leak(Box::new(lockdep::Mutex::named(name, ())))
}

// ---------------------------------------------------------------------------------------------
// Defects
// ---------------------------------------------------------------------------------------------

/// A task hands an owned guard to a worker task (the reason `lock_owned` exists) and then
/// waits for the lock itself, to run after the worker is done. A correct program: the lock
/// comes when the worker drops the guard (here after 1.5 s). lockdep still counts the guard as
/// the handing task's (the documented limitation), so the task's `lock().await` looked like a
/// re-lock: after the one-second grace it was reported as `RecursiveLocking` and the task was
/// *panicked* — a false report and a crash of a correct program. An owned guard's entry is now
/// marked movable, and such a re-lock waits for the real lock (up to the deadlock timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relocking_after_handing_an_owned_guard_to_another_task_just_waits() {
    let m = Arc::new(Mutex::named("handoff.M", 0u32));
    let (joined, reports) = capture_async(async {
        let m1 = m.clone();
        tokio::spawn(async move {
            let g = m1.clone().lock_owned().await;
            let worker = tokio::spawn(async move {
                let mut g = g;
                tokio::time::sleep(Duration::from_millis(1500)).await; // long work
                *g += 1;
            });
            let again = m1.lock().await; // waits for the worker: no self-deadlock
            assert_eq!(*again, 1);
            drop(again);
            worker.await.unwrap();
        })
        .await
    })
    .await;
    assert!(joined.is_ok(), "the task panicked: {joined:?}");
    assert!(reports.is_empty(), "{reports:?}");
}

/// The same with plain threads and `blocking_lock_owned`: the thread sends its owned guard to
/// another thread, which drops it a little later, and takes the mutex again meanwhile. The
/// thread never holds it twice, yet `blocking_lock` panicked at once as a thread's "certain
/// self-deadlock"; it now waits for the real lock first.
#[test]
fn blocking_relock_after_sending_an_owned_guard_to_another_thread_just_waits() {
    let m = Arc::new(Mutex::named("handoff.blocking", 0u32));
    let (r, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let g = m.clone().blocking_lock_owned();
            let t = std::thread::spawn(move || {
                let mut g = g;
                std::thread::sleep(Duration::from_millis(200));
                *g += 1;
            });
            let again = m.blocking_lock(); // waits for the other thread
            assert_eq!(*again, 1);
            drop(again);
            t.join().unwrap();
        }))
    });
    assert!(r.is_ok(), "panicked");
    assert!(reports.is_empty(), "{reports:?}");
}

/// The cases above do not hide a real self-deadlock: a task that keeps its owned guard and
/// awaits the lock again in sequence waits the deadlock timeout for the guard to be released
/// elsewhere, then is reported (`RecursiveLocking`) and panicked instead of hanging; so does a
/// thread's `blocking_lock`. (In a child process: `LOCKDEP_DEADLOCK_TIMEOUT=1` is read once
/// per process.)
#[test]
fn relocking_through_an_owned_guard_kept_in_sequence_panics_after_the_deadlock_timeout() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (out, err, finished) =
        run_child(CHILD, "owned-relock", &[("LOCKDEP_DEADLOCK_TIMEOUT", "1")]);
    assert!(finished, "the child hung:\n{out}\n{err}");
    assert!(out.contains("TASK-OK"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("THREAD-OK"), "stdout:\n{out}\nstderr:\n{err}");
}

/// In the child: the two real self-deadlocks through owned guards.
fn owned_relock_gives_up_after_the_timeout() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let m = Arc::new(Mutex::named("kept.M", 0u32));
    let (joined, reports) = rt.block_on(capture_async({
        let m = m.clone();
        async move {
            tokio::spawn(async move {
                let _g = m.clone().lock_owned().await;
                let _again = m.lock().await; // never completes: panics after the timeout
            })
            .await
        }
    }));
    let err = joined.expect_err("the task panicked");
    let msg = err.into_panic();
    let msg = msg.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("through an owned guard"), "{msg}");
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(
        reports[0].to_string().contains("owned guard"),
        "{}",
        reports[0]
    );
    assert!(
        m.try_lock().is_ok(),
        "the panicking task's guard was released"
    );
    println!("TASK-OK");

    let m = Arc::new(Mutex::named("kept.blocking", 0u32));
    let (r, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.clone().blocking_lock_owned();
            let _again = m.blocking_lock();
        }))
    });
    let err = r.expect_err("the re-lock panics after the timeout");
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("through an owned guard"), "{msg}");
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(m.try_lock().is_ok());
    println!("THREAD-OK");
}

const CHILD: &str = "LOCKDEP_TOKIO_REVIEW_CHILD";

#[test]
fn child() {
    if let Ok("owned-relock") = std::env::var(CHILD).as_deref() {
        owned_relock_gives_up_after_the_timeout();
    }
}

/// Dropped with the output of a finished task.
struct TakesOnDrop(&'static lockdep::Mutex<()>);

impl Drop for TakesOnDrop {
    fn drop(&mut self) {
        drop(self.0.lock());
    }
}

/// A finished task whose output was never taken: dropping its `JoinHandle` drops the output
/// *inline*, and tokio runs that drop under the finished task's id (`TaskIdGuard`, in
/// `Core::set_stage`). lockdep takes that for a switch to another holder: the calling holder
/// (here the body, a thread, which is not suspended at all) is "left" while it holds the
/// blocking lock S, a false `HeldAcrossAwait`.
/// Limit (README, Async): today one false `HeldAcrossAwait`; right: no report.
#[test]
fn limit_dropping_a_finished_tasks_join_handle_under_a_blocking_lock_is_taken_for_an_await() {
    let s = leak_sync("joinhandle.S");
    let r = leak_sync("joinhandle.R");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async move {
        let h = tokio::spawn(async move { TakesOnDrop(r) });
        while !h.is_finished() {
            yield_now().await;
        }
        let g = s.lock();
        drop(h); // no `.await` anywhere near: the body is running, holding S
        drop(g);
    }));
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
}

/// The other half of the same confusion: the lock R taken by the output's drop is taken by this
/// thread *while it holds S* (a real S -> R nesting: a thread holding R and waiting for S
/// deadlocks with it), but it is recorded as the finished task's, under nothing. So the
/// inversion R -> S below goes unreported.
/// Limit (README, Async): today the inversion is missed (only the false `HeldAcrossAwait`
/// of the drop); right: a `CircularDependency`.
#[test]
fn limit_a_lock_taken_by_an_inline_dropped_output_is_not_ordered_after_the_callers_locks() {
    let s = leak_sync("joinhandle2.S");
    let r = leak_sync("joinhandle2.R");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async move {
        let h = tokio::spawn(async move { TakesOnDrop(r) });
        while !h.is_finished() {
            yield_now().await;
        }
        {
            let _s = s.lock();
            drop(h); // S -> R, on this thread
        }
        let _r = r.lock();
        let _s = s.lock(); // R -> S: the inversion
    }));
    assert!(
        !kinds(&reports).contains(&ReportKind::CircularDependency),
        "{reports:?}"
    );
}

/// The same confusion, more commonly: a current-thread runtime dropped by a thread that holds
/// a blocking lock. tokio drops the futures of the tasks still pending on the dropping thread,
/// under each task's id; a task's guard released there is a lockdep call "as that task", so the
/// dropping thread is taken for a holder suspended at an `.await` with S held.
/// Limit (README, Async): today one false `HeldAcrossAwait`; right: no report.
#[test]
fn limit_dropping_a_runtime_under_a_blocking_lock_is_taken_for_an_await() {
    let s = leak_sync("rtdrop.S");
    let m = Arc::new(Mutex::named("rtdrop.M", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = m.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _g = m.lock().await;
            tx.send(()).unwrap();
            std::future::pending::<()>().await; // never ends: dropped with the runtime
        });
        rx.await.unwrap();
    });
    let ((), reports) = lockdep::capture(|| {
        let _s = s.lock();
        drop(rt); // the task's guard is released here, under the task's id
    });
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
    assert!(m.try_lock().is_ok());
}

std::thread_local! {
    /// A guard kept by a thread-local (registered before lockdep's state on its thread, so
    /// destroyed after it).
    static KEEP: std::cell::RefCell<Option<lockdep::tokio::OwnedMutexGuard<()>>> =
        const { std::cell::RefCell::new(None) };
}

/// A task's owned guard handed to a plain thread that keeps it in a thread-local: dropped by
/// that thread-local's destructor, after lockdep's own thread state is gone. The release then
/// finds no thread state and is silently skipped (`release_token` / `release` go through
/// `with_state`, which returns `None`), although the entry is on the *task's* stack, which is
/// alive and could take a posted release without any state of the exiting thread. The task
/// still "holds" M: `is_held` says so, and everything it takes later is ordered under M (a
/// re-lock of M would even panic after the grace).
#[test]
fn a_tasks_guard_dropped_in_a_late_thread_local_destructor_releases_its_entry() {
    let m = Arc::new(Mutex::named("tls.M", ()));
    let n = Arc::new(Mutex::named("tls.N", ()));
    let dummy = leak_sync("tls.dummy");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        tokio::spawn(async move {
            let g = m1.clone().lock_owned().await;
            std::thread::spawn(move || {
                KEEP.with(|k| assert!(k.borrow().is_none())); // its destructor: registered first
                drop(dummy.lock()); // lockdep's thread state: registered after it
                KEEP.with(|k| *k.borrow_mut() = Some(g));
            })
            .join()
            .unwrap();
            assert!(m1.try_lock().is_ok(), "really unlocked");
            assert!(!m1.is_held(), "the task's entry of M is stale");
            let _n = n1.lock().await;
        })
        .await
        .unwrap();
        let _n = n.lock().await;
        let _m = m.lock().await; // N -> M: the only real nesting
    }));
    assert!(reports.is_empty(), "{reports:?}");
}

/// As above, but the task is suspended when the thread exits, its stack parked (the body made
/// a lockdep call since): the release is done on the parked stack in place.
#[test]
fn a_suspended_tasks_guard_dropped_in_a_late_thread_local_destructor_releases_its_entry() {
    let m = Arc::new(Mutex::named("tls2.M", ()));
    let n = Arc::new(Mutex::named("tls2.N", ()));
    let dummy = leak_sync("tls2.dummy");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        let (thread_tx, thread_rx) = tokio::sync::oneshot::channel();
        let (resume_tx, resume_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let g = m1.clone().lock_owned().await;
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || {
                KEEP.with(|k| assert!(k.borrow().is_none()));
                drop(dummy.lock());
                KEEP.with(|k| *k.borrow_mut() = Some(g));
                go_rx.recv().unwrap(); // exits (dropping `g` late) once told to
            });
            thread_tx.send((t, go_tx)).ok().unwrap();
            resume_rx.await.unwrap(); // suspended, holding M (through the thread)
            assert!(!m1.is_held(), "the task's entry of M is stale");
            let _n = n1.lock().await;
        });
        let (t, go) = thread_rx.await.unwrap();
        drop(dummy.lock()); // the body: the task's stack is parked
        go.send(()).unwrap();
        t.join().unwrap();
        assert!(m.try_lock().is_ok(), "really unlocked");
        resume_tx.send(()).unwrap();
        task.await.unwrap();
        let _n = n.lock().await;
        let _m = m.lock().await; // N -> M: the only real nesting
    }));
    assert!(reports.is_empty(), "{reports:?}");
}

// ---------------------------------------------------------------------------------------------
// Held up (coverage)
// ---------------------------------------------------------------------------------------------

/// `block_in_place` + `Handle::block_on` inside a task: the nested future runs under the
/// task's id, so the task holds what it takes there (A -> B is the task's order, found against
/// B -> A elsewhere), and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_in_place_and_block_on_inside_a_task_are_the_tasks() {
    let a = Arc::new(Mutex::named("bip.A", ()));
    let b = Arc::new(Mutex::named("bip.B", ()));
    let ((), reports) = capture_async(async {
        let (a1, b1) = (a.clone(), b.clone());
        tokio::spawn(async move {
            let _a = a1.lock().await;
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let _b = b1.lock().await; // A -> B, by the task
                    assert!(a1.is_held() && b1.is_held());
                });
            });
            assert!(a1.is_held() && !b1.is_held());
        })
        .await
        .unwrap();
        assert!(a.try_lock().is_ok() && b.try_lock().is_ok());
        let (a2, b2) = (a.clone(), b.clone());
        tokio::spawn(async move {
            let _b = b2.lock().await;
            let _a = a2.lock().await; // B -> A
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

/// A nested current-thread runtime inside a `spawn_blocking` closure: the closure holds an
/// async lock while the nested runtime's tasks run on the same thread; they are holders of
/// their own (no order from the closure's lock to theirs), and every stack ends balanced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_runtime_in_spawn_blocking_keeps_holders_apart() {
    let a = Arc::new(Mutex::named("nested.A", ()));
    let b = Arc::new(Mutex::named("nested.B", ()));
    let (a1, b1) = (a.clone(), b.clone());
    let nested_reports = tokio::task::spawn_blocking(move || {
        let _a = a1.blocking_lock(); // the blocking task's
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let a2 = a1.clone();
        let ((), reports) = rt.block_on(capture_async(async move {
            tokio::spawn(async move {
                let _b = b1.lock().await; // a nested task's: not under A
                yield_now().await;
                assert!(!a2.is_held());
            })
            .await
            .unwrap();
        }));
        assert!(a1.is_held());
        reports
    })
    .await
    .unwrap();
    assert!(nested_reports.is_empty(), "{nested_reports:?}");
    let ((), reports) = capture_async(async {
        let _b = b.lock().await;
        let _a = a.lock().await; // B -> A: A -> B never happened
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// A blocking-pool thread exits (short keep-alive) while the stack of the closure it ran — with
/// an owned async guard that outlives it — is loaded on it: the stack is parked at the thread's
/// exit and the later release finds it (no `BadUnlockBalance`, nothing stale).
#[test]
fn a_blocking_threads_exit_parks_the_stack_of_the_closure_it_ran() {
    let m = Arc::new(Mutex::named("bexit.M", ()));
    let n = Arc::new(Mutex::named("bexit.N", ()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(1))
        .enable_time()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async {
        let m1 = m.clone();
        let g = tokio::task::spawn_blocking(move || m1.blocking_lock_owned())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // the blocking thread exits
        drop(g);
        assert!(!m.is_held());
        let _n = n.lock().await;
        let _m = m.lock().await; // N -> M: nothing stale
    }));
    assert!(reports.is_empty(), "{reports:?}");
    drop(rt);
    assert!(lockdep::take_reports()
        .iter()
        .all(|r| !r.class_names().iter().any(|c| c.starts_with("bexit."))));
}

/// `JoinSet::abort_all` on tasks holding guards and tasks waiting for them, on two workers
/// (the futures are dropped wherever the scheduler cancels them, maybe not where their stacks
/// are loaded): every entry goes, the locks end free and the opposite order is silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_set_abort_all_releases_holders_and_waiters() {
    let a = Arc::new(Mutex::named("abortall.A", ()));
    let b = Arc::new(Mutex::named("abortall.B", ()));
    let ((), reports) = capture_async(async {
        for _ in 0..10 {
            let mut set = JoinSet::new();
            for i in 0..8 {
                let (a, b) = (a.clone(), b.clone());
                set.spawn(async move {
                    if i % 2 == 0 {
                        let _a = a.lock().await;
                        yield_now().await;
                        let _b = b.lock().await;
                        std::future::pending::<()>().await;
                    } else {
                        let _b = b.lock().await; // waits behind the holders
                        std::future::pending::<()>().await;
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            set.abort_all();
            while let Some(r) = set.join_next().await {
                assert!(r.unwrap_err().is_cancelled());
            }
            assert!(a.try_lock().is_ok() && b.try_lock().is_ok());
        }
        // Only A -> B was ever taken; B alone then A in another task is B -> A: a real cycle
        // against A -> B, so take them apart: each alone, nothing stale under them.
        let (a1, b1) = (a.clone(), b.clone());
        tokio::spawn(async move {
            drop(b1.lock().await);
            drop(a1.lock().await);
        })
        .await
        .unwrap();
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// A local task holding a blocking guard across an `.await` is aborted: reported as held
/// across the await (true), and its guard's entry leaves with its future (no leak at the
/// thread's exit, nothing under the body's next locks).
#[test]
fn an_aborted_local_task_holding_a_blocking_guard_across_await_releases_it() {
    let s = leak_sync("localabort.S");
    let t = leak_sync("localabort.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local.block_on(
        &rt,
        capture_async(async move {
            let h = tokio::task::spawn_local(async move {
                let _g = s.lock();
                std::future::pending::<()>().await;
            });
            yield_now().await;
            drop(t.lock()); // the body: the thread leaves the suspended task
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert!(!lockdep::is_held(s));
            let _t = t.lock();
            let _s = s.lock(); // T -> S: nothing stale
        }),
    );
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
}

/// `lockdep::tokio::spawn_local` (with the end-of-task leak check) aborted while it holds a
/// blocking guard across an `.await`: its future — and the guard — are dropped before the
/// wrapper's end-of-task check, so the only report is the (true) `HeldAcrossAwait`, no
/// `LocksHeldAtExit`.
#[test]
fn an_aborted_lockdep_spawn_local_task_is_no_leak() {
    let s = leak_sync("spawnabort.S");
    let t = leak_sync("spawnabort.T");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local.block_on(
        &rt,
        capture_async(async move {
            let h = lockdep::tokio::spawn_local(async move {
                let _g = s.lock();
                std::future::pending::<()>().await;
            });
            yield_now().await;
            drop(t.lock());
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert!(!lockdep::is_held(s));
        }),
    );
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
}

/// `select!` cancelling an acquisition that is already validated and waiting (its entry
/// recorded), on a multi-thread runtime where the task then migrates: the entry goes with the
/// cancelled future, and what the task takes next is not ordered under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_cancelling_a_waiting_acquisition_leaves_no_entry() {
    let m = Arc::new(Mutex::named("select.M", ()));
    let q = Arc::new(Mutex::named("select.Q", ()));
    let ((), reports) = capture_async(async {
        let held = m.clone().lock_owned().await;
        let (m1, q1) = (m.clone(), q.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = m1.lock() => unreachable!("M is held by the body"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            yield_now().await;
            assert!(!m1.is_held());
            let _q = q1.lock().await; // not under M
        })
        .await
        .unwrap();
        drop(held);
        let _q = q.lock().await;
        let _m = m.lock().await; // Q -> M: silent
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// `lockdep::reset()` by the body while a task of the same thread is suspended holding an
/// async guard: the task's stack (parked) is not the body's and keeps its entry, replayed
/// into the new graph at the task's next validation, so the order M -> N it takes after the
/// reset is known and N -> M afterwards is reported; the guards release cleanly.
#[tokio::test(flavor = "current_thread")]
async fn reset_by_the_body_keeps_a_suspended_tasks_entries() {
    let m = Arc::new(Mutex::named("reset.M", ()));
    let n = Arc::new(Mutex::named("reset.N", ()));
    let ((), reports) = capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _m = m1.lock().await;
            locked_tx.send(()).unwrap();
            go_rx.await.unwrap(); // suspended with M held
            assert!(m1.is_held());
            let _n = n1.lock().await; // M -> N, after the reset
        });
        locked_rx.await.unwrap();
        lockdep::reset();
        go_tx.send(()).unwrap();
        task.await.unwrap();
        assert!(m.try_lock().is_ok() && n.try_lock().is_ok());
        let _n = n.lock().await;
        let _m = m.lock().await; // N -> M
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}
