//! Review 6: defects found in the newest code (captures closed on unwind and `capture_async`'s
//! spanning capture, report delivery and the run's verdict, queued async waits). Each test
//! asserts the right behaviour, and failed before its fix; a hang is caught by a timeout, not
//! a watchdog.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review6`
#![cfg(lockdep_tasks)]

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "REVIEW6_CHILD";

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lockdep::ReportKind;

/// `capture_async` dropped before it completes "delivers what it took as if nothing had
/// captured it (printed and kept, failing the run): nothing is lost" (`tokio/capture.rs`).
/// In `Panic` mode a report nothing captures makes its caller panic; a drop cannot, so the
/// report must be printed and counted against the run, as every other caller that cannot
/// panic does (`sink::print`). But `capture::pass_on` and `runtime_capture::Scope::drop`
/// ignore what `sink::deliver` returns (`let _ =`): `Delivery::MustPanic` means "kept, not
/// printed, not counted, the caller panics", so the cycle is silently kept — not printed, the
/// run does not fail, no panic anywhere. Run in a child process (the mode is process-wide).
#[test]
fn a_cancelled_capture_async_in_panic_mode_still_fails_the_run() {
    const NAME: &str = "a_cancelled_capture_async_in_panic_mode_still_fails_the_run";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    lockdep::set_mode(lockdep::Mode::Panic);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let a = lockdep::Mutex::named("review6.cancelled.A", ());
    let b = lockdep::Mutex::named("review6.cancelled.B", ());
    let run = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(200),
            lockdep::tokio::capture_async(async {
                drop((a.lock(), b.lock()));
                drop((b.lock(), a.lock())); // B -> A: captured (no panic)
                std::future::pending::<()>().await // cancelled by the timeout
            }),
        )
        .await
    });
    assert!(run.is_err(), "the timeout cancels the capture");
    drop(rt);
    lockdep::set_mode(lockdep::Mode::Warn);
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports(); // (so that the child's run passes either way)
    assert_eq!(common::kinds(&taken), [ReportKind::CircularDependency]);
    assert_eq!(
        taken[0].class_names(),
        ["review6.cancelled.A", "review6.cancelled.B"]
    );
    assert_eq!(
        failing, 1,
        "the cancelled capture's report was neither printed nor counted against the run"
    );
}

/// The same for a `capture_async` whose future is dropped outside any tokio runtime (polled
/// by a plain executor): no runtime-wide scope, only `capture::pass_on`.
#[test]
fn a_capture_async_dropped_outside_a_runtime_in_panic_mode_still_fails_the_run() {
    const NAME: &str =
        "a_capture_async_dropped_outside_a_runtime_in_panic_mode_still_fails_the_run";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    lockdep::set_mode(lockdep::Mode::Panic);
    let a = lockdep::Mutex::named("review6.plain.A", ());
    let b = lockdep::Mutex::named("review6.plain.B", ());
    let mut fut = Box::pin(lockdep::tokio::capture_async(async {
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A: captured
        std::future::pending::<()>().await
    }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut); // cancelled
    lockdep::set_mode(lockdep::Mode::Warn);
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports();
    assert_eq!(common::kinds(&taken), [ReportKind::CircularDependency]);
    assert_eq!(
        failing, 1,
        "the cancelled capture's report was neither printed nor counted against the run"
    );
}

/// A report the program takes with `take_reports` no longer fails the run — "on any path"
/// (77e6a28). In `Collect` mode `sink::deliver` keeps the report without counting it
/// (`prints` is false); a hook that takes the reports and switches to `Warn` has taken the
/// report before the mode's action runs, and the action (now `Printed`) counts it anyway
/// (`if !prints { count(..) }`, without looking whether it is still kept, unlike
/// `sink::print`): the run fails for a report the program took. Run in a child process.
#[test]
fn a_report_taken_by_a_hook_that_switches_to_warn_does_not_fail_the_run() {
    const NAME: &str = "a_report_taken_by_a_hook_that_switches_to_warn_does_not_fail_the_run";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = taken.clone();
    lockdep::set_mode(lockdep::Mode::Collect);
    lockdep::set_report_hook(Some(Box::new(move |_| {
        t.lock().unwrap().extend(lockdep::take_reports());
        lockdep::set_mode(lockdep::Mode::Warn);
    })));
    let a = lockdep::Mutex::named("review6.switch.A", ());
    let b = lockdep::Mutex::named("review6.switch.B", ());
    drop((a.lock(), b.lock()));
    drop((b.lock(), a.lock())); // B -> A, not captured
    lockdep::set_report_hook(None);
    let kinds: Vec<_> = taken.lock().unwrap().iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency]); // taken by the program
    assert_eq!(
        lockdep::stats().failing,
        0,
        "a report the program took fails the run"
    );
}

/// A `lockdep::thread`'s thread-local destructors run with the thread "exiting": problems
/// found there "are reported but never panic" (`thread.rs`), and in `Panic` mode a report
/// that cannot panic is printed by its caller (77e6a28: "a report Panic mode cannot panic
/// with (a thread-local destructor, a release) is printed by its caller (sink::print)").
/// A *fresh* acquisition there that closes a cycle goes through `validator::act`:
/// `sink::deliver` returns `MustPanic` (the report kept, not counted), `act` collects it in
/// `must_panic`, and panics only `if may_panic` — false while exiting — so the report is
/// neither printed nor counted: the run passes with a cycle nobody saw. Child process.
#[test]
fn a_cycle_closed_in_a_thread_local_destructor_in_panic_mode_fails_the_run() {
    const NAME: &str = "a_cycle_closed_in_a_thread_local_destructor_in_panic_mode_fails_the_run";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    static A: lockdep::Mutex<()> = lockdep::const_mutex(());
    static B: lockdep::Mutex<()> = lockdep::const_mutex(());
    struct TakesBThenA;
    impl Drop for TakesBThenA {
        fn drop(&mut self) {
            let _b = B.lock();
            let _a = A.lock(); // B -> A: closes the cycle while the thread exits
        }
    }
    thread_local! {
        static LATE: TakesBThenA = const { TakesBThenA };
    }
    drop((A.lock(), B.lock())); // A -> B
    lockdep::set_mode(lockdep::Mode::Panic);
    lockdep::thread::spawn(|| LATE.with(|_| ())).join().unwrap();
    lockdep::set_mode(lockdep::Mode::Warn);
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports();
    assert_eq!(common::kinds(&taken), [ReportKind::CircularDependency]);
    assert_eq!(
        failing, 1,
        "the cycle found in a thread-local destructor was neither printed nor counted"
    );
}

/// `capture`: "Threads started in `f` through `lockdep::thread` report into it too while it
/// runs" (`api.rs`). A thread started inside an *inner* capture nested in an outer one is
/// started in the outer closure too; once the inner capture returned, the outer is still
/// running, so what the thread finds belongs to the outer capture (as the inner closure's own
/// thread's reports would, and as `pass_on` sends an unwound capture's reports "to an
/// enclosing capture"). But the thread joins only the innermost capture (`thread.rs`,
/// `Child::new`: `capture::current()`, one sink), and once that is closed its list has no
/// open capture: its report is delivered as if nothing captured it (printed, kept, failing the
/// run), and the outer capture, still running, never sees it.
#[test]
fn a_child_of_a_finished_inner_capture_reports_into_the_enclosing_one() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let a = Arc::new(lockdep::Mutex::named("review6.nested.A", ()));
    let b = Arc::new(lockdep::Mutex::named("review6.nested.B", ()));
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let ((), outer) = lockdep::capture(|| {
        let (a, b) = (a.clone(), b.clone());
        let (child, inner) = lockdep::capture(|| {
            lockdep::thread::spawn(move || {
                go.recv().unwrap();
                drop((a.lock(), b.lock()));
                drop((b.lock(), a.lock())); // B -> A: after the inner capture returned
            })
        });
        assert_eq!(common::kinds(&inner), []);
        go_tx.send(()).unwrap();
        child.join().unwrap(); // still inside the outer capture
    });
    let leaked = common::kept_with(&["review6.nested.A", "review6.nested.B"]);
    assert_eq!(
        (common::kinds(&outer), leaked),
        (vec![ReportKind::CircularDependency], vec![]),
        "(captured by the outer capture, delivered as uncaptured)"
    );
}

/// A hook that switches `Warn` to `Collect` turns the report being delivered from printed into
/// kept: `sink::deliver` takes it off the run's count again with `exit_status::forgive(&[key])`.
/// But `forgive` drops *every* count of that problem, and one problem can be counted twice:
/// `reset()` forgets which problems were reported (`sink::clear`), not the run's count, so the
/// same cycle found again after a `reset` is printed and counted a second time. The hook's
/// switch then forgives the first one too — printed, never taken — and the run passes with a
/// printed report. Right: only the report the switch keeps is forgiven (one still counted).
/// Run in a child process; the child's run must fail (exit 101) for the first report.
#[test]
fn a_hook_switching_to_collect_forgives_only_the_report_it_keeps() {
    const NAME: &str = "a_hook_switching_to_collect_forgives_only_the_report_it_keeps";
    if common::in_self_child(CHILD, NAME) {
        let a = lockdep::Mutex::named("review6.reset.A", ());
        let b = lockdep::Mutex::named("review6.reset.B", ());
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A: printed, counted
        assert_eq!(lockdep::stats().failing, 1);
        lockdep::reset();
        lockdep::set_report_hook(Some(Box::new(|_| {
            lockdep::set_mode(lockdep::Mode::Collect)
        })));
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // the same cycle again: kept, not printed
        lockdep::set_report_hook(None);
        assert_eq!(
            lockdep::stats().failing,
            1,
            "the report printed before the reset no longer fails the run"
        );
        return;
    }
    common::expect_self_fails(CHILD, NAME);
}

/// A problem found while a capture's closure *releases* locks (locks taken under a nest lock
/// released before them: they are validated again without it) is kept in the thread's state
/// and delivered at its next validation; `capture` delivers it before it returns ("Problems
/// found while this thread released locks belong to this capture too", `api.rs`). If the
/// closure then panics, the capture ends through `Unwinding`, which passes on only the
/// reports the sink holds: the deferred one stays in the thread's state, and the thread's next
/// acquisition — here inside a later, unrelated capture — delivers it there: that capture
/// gets a report none of its own acquisitions raised, and the problem of the capture that
/// panicked is neither printed nor kept. Right: as the capture's other reports, delivered as
/// if not captured (kept here).
#[test]
fn a_problem_found_releasing_in_a_capture_that_panicked_is_passed_on() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let locks = common::DeferredProblem::new("review6.deferred");
    let later = lockdep::Mutex::named("review6.deferred.later", ());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lockdep::capture(|| {
            let _held = locks.raise(); // found now, delivered later
            std::panic::resume_unwind(Box::new("the capture's closure fails"));
        })
    }));
    assert!(caught.is_err());
    let ((), unrelated) = lockdep::capture(|| drop(later.lock()));
    let kept = common::kept_with(&["review6.deferred.B"]);
    assert_eq!(
        (common::kinds(&unrelated), kept),
        (vec![], vec![ReportKind::RecursiveLocking]),
        "(a later capture, kept as uncaptured)"
    );
}
