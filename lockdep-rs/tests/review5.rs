//! Review 5: defects found in the newest code (queued async acquisitions and the grace of
//! `tokio::watch`, captures and `lockdep::thread` children, report delivery). Each test
//! asserts the right behaviour, and failed before its fix; a hang is caught by a timeout, not
//! a watchdog.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review5`
#![cfg(lockdep_tasks)]

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "REVIEW5_CHILD";

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::sync::{Mutex, Notify};
use lockdep::ReportKind;

/// A `lockdep::thread` started inside a capture whose closure *panics* (caught outside it):
/// the capture is over, nobody will ever read its reports, but it was never marked closed
/// (`report/capture.rs`: `capture` sets `closed` only after `f` returns). The thread's later
/// reports go into it and are lost: not printed, not kept, the run does not fail. Right: as
/// for a capture that returned, they are delivered as uncaptured (kept here).
#[test]
fn a_child_of_a_capture_that_panicked_reports_uncaptured() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let a = Arc::new(lockdep::Mutex::named("review5.unwound.A", ()));
    let b = Arc::new(lockdep::Mutex::named("review5.unwound.B", ()));
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let mut child = None;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lockdep::capture(|| {
            let (a, b) = (a.clone(), b.clone());
            child = Some(lockdep::thread::spawn(move || {
                go.recv().unwrap();
                drop((a.lock(), b.lock()));
                let _b = b.lock();
                let _a = a.lock(); // B -> A: a cycle, found after the capture is over
            }));
            std::panic::resume_unwind(Box::new("the capture's closure fails"));
        })
    }));
    assert!(caught.is_err());
    go_tx.send(()).unwrap();
    child.unwrap().join().unwrap();
    assert_eq!(
        common::kept_with(&["review5.unwound.A", "review5.unwound.B"]),
        [ReportKind::CircularDependency],
        "the child's report after the capture ended was lost"
    );
}

/// A `lockdep::thread` started inside a capture finds a cycle while the capture runs (captured:
/// the test sees it), and after the capture returned passes the same chain again. A thread
/// not capturing that hits a known chain reports nothing (the problem was reported); this
/// child, "as if not capturing" after its capture closed, is still taken for capturing
/// (`capture::capturing()` only asks whether the thread's capture list is empty: the closed
/// sink stays in it for the thread's life), so the validator re-delivers the chain's report
/// (`validator.rs`, cache hit), the closed capture turns it away, and it is printed as a new
/// problem, failing the run: one problem reported twice, the second time after the test
/// captured and checked it.
#[test]
fn a_known_chain_after_the_capture_closed_is_not_reported_again() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let a = Arc::new(lockdep::Mutex::named("review5.again.A", ()));
    let b = Arc::new(lockdep::Mutex::named("review5.again.B", ()));
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let mut child = None;
    let ((), reports) = lockdep::capture(|| {
        let (a, b) = (a.clone(), b.clone());
        child = Some(lockdep::thread::spawn(move || {
            for _ in 0..2 {
                go.recv().unwrap();
                drop((a.lock(), b.lock()));
                drop((b.lock(), a.lock())); // B -> A
                done_tx.send(()).unwrap();
            }
        }));
        go_tx.send(()).unwrap();
        done.recv().unwrap();
    });
    assert_eq!(common::kinds(&reports), [ReportKind::CircularDependency]);
    go_tx.send(()).unwrap(); // the same chains again, the capture closed
    done.recv().unwrap();
    child.unwrap().join().unwrap();
    assert_eq!(
        common::kept_with(&["review5.again.A", "review5.again.B"]),
        [],
        "the captured problem was reported a second time"
    );
}

/// A `lockdep::thread` started by a `capture_async` future reports into the capture, as one
/// started inside `capture` does ("a thread spawned inside a capture reports into it"), for as
/// long as the future runs. But `capture_async` is a fresh `capture` around each *poll*
/// (`tokio/capture.rs`): the thread joins the capture of the poll that started it, closed as
/// soon as that poll returns, so what the thread finds at any later point of the future is
/// delivered as uncaptured (printed, failing the run) and `capture_async` never returns it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the tests that read the kept reports, one at a time
async fn a_thread_started_in_capture_async_reports_into_it() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let a = Arc::new(lockdep::Mutex::named("review5.async_child.A", ()));
    let b = Arc::new(lockdep::Mutex::named("review5.async_child.B", ()));
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let ((), reports) = lockdep::tokio::capture_async(async {
        let (a, b) = (a.clone(), b.clone());
        let child = lockdep::thread::spawn(move || {
            go.recv().unwrap();
            drop((a.lock(), b.lock()));
            drop((b.lock(), a.lock())); // B -> A
        });
        tokio::task::yield_now().await; // the first poll ends here
        go_tx.send(()).unwrap();
        tokio::task::spawn_blocking(move || child.join().unwrap())
            .await
            .unwrap();
    })
    .await;
    let leaked = common::kept_with(&["review5.async_child.A", "review5.async_child.B"]);
    assert_eq!(
        (common::kinds(&reports), leaked),
        (vec![ReportKind::CircularDependency], vec![]),
        "(captured, delivered as uncaptured)"
    );
}

/// A report the program takes with `take_reports` no longer fails the run ("they are its to
/// handle": `exit_status::forgive`). But `sink::deliver` keeps the report (for `take_reports`)
/// under its lock, then releases it, runs the hook, and only then prints it and counts it
/// against the run (`exit_status::record`): a `take_reports` in between — on another thread,
/// or (deterministically, here) in the report hook — takes the report and forgives a problem
/// not yet counted, which is then counted, and the run fails for a report the program took.
/// Run in a child process (the exit status is the verdict).
#[test]
fn a_report_taken_before_it_is_printed_does_not_fail_the_run() {
    const NAME: &str = "a_report_taken_before_it_is_printed_does_not_fail_the_run";
    if common::in_self_child(CHILD, NAME) {
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = taken.clone();
        lockdep::set_report_hook(Some(Box::new(move |_| {
            t.lock().unwrap().extend(lockdep::take_reports());
        })));
        let a = lockdep::Mutex::named("review5.taken.A", ());
        let b = lockdep::Mutex::named("review5.taken.B", ());
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A, not captured
        lockdep::set_report_hook(None);
        let kinds: Vec<_> = taken.lock().unwrap().iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, [ReportKind::CircularDependency]); // taken by the program
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

/// Wakes every waiter of `go`, `ms` from now, from another thread.
fn notify_later(go: Arc<Notify>, ms: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        go.notify_waiters();
    });
}

/// Runs `f` on a thread of its own and returns its result, or `None` if it has not finished
/// within `secs` (a hang: the thread is left blocked, the test goes on to fail).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).ok()
}

/// A branch in its *grace* (it asked for a lock another branch of its holder holds, and awaits
/// the real lock for up to a second) is queued for the lock just as a branch past it is: when
/// the holding branch releases the lock, tokio hands it to the waiting branch. A sibling that
/// then takes the lock *blocking* waits behind it for ever (the thread blocks; the branch
/// that has the lock can never be polled). The same certain deadlock as
/// `adoption_tokio::blocking_behind_a_queued_branch_of_the_same_holder_is_stopped`, which
/// lockdep reports and stops; here it hangs: the grace's wait (`watch::other_branch`,
/// `Conflict::Held`) is not listed in `tokio::queued`, so `lock_blocking` finds no branch ahead.
#[test]
fn blocking_behind_a_branch_in_its_grace_is_stopped() {
    let run = within(10, || {
        let m = Mutex::named("review5.grace", 0u32);
        let go = Arc::new(Notify::new());
        notify_later(go.clone(), 200);
        lockdep::capture(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::block_on(async {
                    let a = async {
                        let g = m.lock().await;
                        go.notified().await; // woken together with c
                        drop(g); // tokio hands the lock to b
                    };
                    let c = async {
                        go.notified().await;
                        *m.blocking_lock() += 1; // polled after a, before b
                    };
                    let b = async { *m.lock().await += 1 }; // a holds it: the grace
                    common::join_ordered(
                        vec![Box::pin(a), Box::pin(c), Box::pin(b)],
                        &[vec![0, 1, 2]],
                    )
                    .await
                })
            }))
            .is_err()
        })
    });
    let (stopped, reports) = run.expect("hung: the blocking acquisition waits behind the branch");
    assert!(stopped, "the blocking acquisition should have been stopped");
    assert_eq!(common::kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].class_names(), ["review5.grace"]);
}

/// The same deadlock behind a branch that waits for the holder's *owned* guard, handed to
/// another thread (`watch::other_branch`, `Conflict::Movable`: it awaits the real lock for up
/// to the deadlock timeout, unlisted in `tokio::queued`). The blocking sibling also finds the
/// owned guard's entry (`lock_blocking`, `Conflict::Movable`) and polls `try_lock` for the
/// deadlock timeout; the other thread releases the guard meanwhile, tokio hands the lock to
/// the queued branch, so `try_lock` never succeeds; after the timeout the blocking acquisition
/// is validated against a stack that no longer holds the guard (its release was applied),
/// nothing is found, and it blocks for ever. Right: reported (`RecursiveLocking`) and stopped.
#[test]
fn blocking_behind_a_branch_waiting_for_a_handed_owned_guard_is_stopped() {
    let run = within(25, || {
        let m = Arc::new(Mutex::named("review5.movable", 0u32));
        lockdep::capture(|| {
            let g = m.clone().blocking_lock_owned(); // this thread's, movable
            let other = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                drop(g); // tokio hands the lock to b
            });
            let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::block_on(async {
                    let b = async { *m.lock().await += 1 }; // waits for the handed guard
                    let c = async {
                        std::future::ready(()).await;
                        *m.blocking_lock() += 1; // polled after b waits
                    };
                    common::join_ordered(vec![Box::pin(b), Box::pin(c)], &[vec![0, 1]]).await
                })
            }))
            .is_err();
            other.join().unwrap();
            stopped
        })
    });
    let (stopped, reports) = run.expect("hung: the blocking acquisition waits behind the branch");
    assert!(stopped, "the blocking acquisition should have been stopped");
    assert_eq!(common::kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].class_names(), ["review5.movable"]);
}

/// The same for a report that `Panic` mode cannot panic with (a thread exiting with a lock
/// held: a panic in a thread-local destructor aborts), which is printed instead: it was counted
/// against the run as it was printed, after the hook had taken it. Found by oracle_global's
/// hook that takes the reports (`HookAct::TakeReports`). Run in a child process.
#[test]
fn a_report_printed_for_a_panic_that_cannot_happen_is_forgiven_when_taken() {
    const NAME: &str = "a_report_printed_for_a_panic_that_cannot_happen_is_forgiven_when_taken";
    if common::in_self_child(CHILD, NAME) {
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = taken.clone();
        lockdep::set_report_hook(Some(Box::new(move |_| {
            t.lock().unwrap().extend(lockdep::take_reports());
        })));
        lockdep::set_mode(lockdep::Mode::Panic);
        std::thread::spawn(|| {
            let m = Box::leak(Box::new(lockdep::Mutex::named("review5.leaked", ())));
            std::mem::forget(m.lock()); // held at exit
        })
        .join()
        .unwrap();
        lockdep::set_mode(lockdep::Mode::Warn);
        lockdep::set_report_hook(None);
        let kinds: Vec<_> = taken.lock().unwrap().iter().map(|r| r.kind()).collect();
        assert_eq!(kinds, [ReportKind::LocksHeldAtExit]); // taken by the program
        assert_eq!(lockdep::stats().failing, 0);
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

/// A queued acquisition is listed under the holder that first polled it (`queued::enter`
/// computes the holder once). A future polled outside tokio tasks belongs to the thread that
/// polls it, and it may move: a task of a multi-threaded executor other than tokio's (or a
/// future handed to another thread, as here) is polled on by another thread after it queued.
/// Its entry stays the first thread's, and that thread's own `blocking_lock` of the lock
/// (no branch of it queued any more: the waiting future is another thread's now) is taken for
/// a blocking acquisition behind a queued branch of its own: a false `RecursiveLocking` and a
/// panic, where it would just wait for the lock (held by another thread, then handed to the
/// moved future, which runs on its new thread and releases it). Right: no report, no panic.
#[test]
fn a_queued_future_moved_to_another_thread_is_that_threads() {
    let run = within(10, || {
        let m = Arc::new(Mutex::named("review5.moved", 0u32));
        let holder = common::held_elsewhere_for(&m, 300);
        lockdep::capture(|| {
            let mut fut = Box::pin(m.clone().lock_owned());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending()); // queued, polled here
            let moved = std::thread::spawn(move || *common::block_on(fut) += 1); // polled there
            let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                *m.blocking_lock() += 1; // waits for the holder, then for the moved future
            }))
            .is_err();
            moved.join().unwrap();
            holder.join().unwrap();
            stopped
        })
    });
    let (stopped, reports) = run.expect("hung");
    assert_eq!(common::kinds(&reports), []);
    assert!(!stopped, "the blocking acquisition was stopped");
}

/// Returns `Pending` once (waking itself), then `Ready`.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// `a` and `b` as one future (need not be `Send`), polled `a` first every round.
async fn join_local(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut a_done, mut b_done) = (false, false);
    std::future::poll_fn(|cx| {
        a_done = a_done || a.as_mut().poll(cx).is_ready();
        b_done = b_done || b.as_mut().poll(cx).is_ready();
        if a_done && b_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// A blocking lock held while an async acquisition of its holder has to wait is reported
/// (`HeldAcrossAwait`): `watch::wait_for` reports it when the real lock's future first
/// returns `Pending` — on the plain path and on the owned-guard path, but not on the grace
/// path (`other_branch`, `Conflict::Held`: `within(OTHER_BRANCH_GRACE, lock())` awaits the
/// real lock directly). So a branch that holds a blocking lock while it waits for a lock
/// another branch of its holder has is never reported; the same branch waiting for the same
/// lock held by another thread is. (A thread polling a future with `block_on` never switches
/// holders, so nothing else finds it.)
#[test]
fn a_blocking_lock_held_while_waiting_in_the_grace_is_held_across_await() {
    let l = lockdep::Mutex::named("review5.across.L", ());
    let m = Mutex::named("review5.across.M", ());
    let ((), reports) = lockdep::capture(|| {
        common::block_on(async {
            let a = async {
                yield_once().await; // b takes L first (L -> M, no cycle)
                let g = m.lock().await;
                yield_once().await;
                drop(g);
            };
            let b = async {
                let _l = l.lock();
                yield_once().await;
                let _m = m.lock().await; // a has it: the grace, L held meanwhile
            };
            join_local(a, b).await
        })
    });
    assert_eq!(common::kinds(&reports), [ReportKind::HeldAcrossAwait]);
    assert_eq!(reports[0].class_names(), ["review5.across.L"]);
}

/// A task re-locking an async lock it holds, in a mode the held guard excludes, waits for
/// itself for ever: reported (`RecursiveLocking`) and stopped with a panic. For a `RwLock`
/// made `with_max_readers(.., 1)` a read excludes every other read (tokio grants one reader at
/// a time), so a task's second read while it holds one never comes. lockdep decides by the
/// modes alone (`holds_conflicting`, the validator's step 1: read beside read never
/// conflicts): the second read is reported as possible recursive reading, then queued for
/// ever — the task hangs. Right: stopped like any certain self-deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_read_of_a_one_reader_rwlock_is_stopped() {
    let rw = Arc::new(lockdep::tokio::RwLock::with_max_readers(0u32, 1));
    let (run, reports) = lockdep::tokio::capture_async(async {
        let task = tokio::spawn(async move {
            let _r1 = rw.read().await;
            let _r2 = rw.read().await; // never comes
        });
        tokio::time::timeout(Duration::from_secs(5), task).await
    })
    .await;
    let joined = run.expect("hung: the task waits for its own read for ever");
    assert!(
        joined.is_err_and(|e| e.is_panic()),
        "the task was not stopped"
    );
    assert_eq!(common::kinds(&reports), [ReportKind::RecursiveLocking]);
}
