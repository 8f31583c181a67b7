//! Review 7: defects found in report delivery and counting, captures and the run's verdict
//! (the code changed by review 6's fixes). Each test asserts the right behaviour, and failed
//! before its fix.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review7`
#![cfg(lockdep_tasks)]

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "REVIEW7_CHILD";

use lockdep::ReportKind;

/// `take_reports` forgives "one count per report taken" (review 6: after a `reset()` one
/// problem can be printed, and counted, twice; taking the second report forgives the second
/// only). But a kept report is not always counted: in `Collect` mode (or `Panic` mode, where
/// the acquisition panicked with it) `sink::deliver` keeps it without counting it. `sink::take`
/// forgives a count for *every* key it takes (`exit_status::forgive(&keys)`), counted or not,
/// and `forgive` removes the newest count of that key — here the count of a report printed
/// before a `reset()`, which the program never took (the reset threw the kept copy away): the
/// run passes with a printed report. Right: taking a report that was never counted forgives
/// nothing (the child's run fails, exit 101, for the printed one).
#[test]
fn taking_a_report_that_was_never_counted_does_not_forgive_a_printed_one() {
    const NAME: &str = "taking_a_report_that_was_never_counted_does_not_forgive_a_printed_one";
    if common::in_self_child(CHILD, NAME) {
        let a = lockdep::Mutex::named("review7.uncounted.A", ());
        let b = lockdep::Mutex::named("review7.uncounted.B", ());
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A: printed, counted
        assert_eq!(lockdep::stats().failing, 1);
        lockdep::reset();
        lockdep::set_mode(lockdep::Mode::Collect);
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // the same cycle again: kept, not counted
        assert_eq!(lockdep::stats().failing, 1);
        let taken = lockdep::take_reports(); // the Collect-mode report only
        lockdep::set_mode(lockdep::Mode::Warn);
        assert_eq!(common::kinds(&taken), [ReportKind::CircularDependency]);
        assert_eq!(
            lockdep::stats().failing,
            1,
            "taking a report that was never counted forgave the printed one"
        );
        return;
    }
    common::expect_self_fails(CHILD, NAME);
}

/// `capture` "returns the reports raised on this thread meanwhile" (`api.rs`). A problem found
/// while this thread released locks *before* the capture (deferred, see
/// `ThreadState::deferred`) is not raised inside it; but `capture::capture` joins the capture
/// first and calls `flush` (`validator::deliver_deferred`) only after `f`, still joined, so
/// that earlier problem is offered to this capture and returned by it — even by a capture
/// whose closure takes no lock at all — and is never kept or printed. (The same in
/// `Spanning::run`, each poll of a `capture_async`.) Right: a problem pending when the capture
/// begins is delivered as before it (here kept, uncaptured), e.g. by flushing before joining.
#[test]
fn a_problem_found_before_a_capture_is_not_returned_by_it() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let locks = common::DeferredProblem::new("review7.before");
    let held = locks.raise(); // found now, outside any capture (deferred)
    let ((), captured) = lockdep::capture(|| ()); // takes no lock
    drop(held);
    let kept = common::kept_with(&["review7.before.B"]);
    assert_eq!(
        (common::kinds(&captured), kept),
        (vec![], vec![ReportKind::RecursiveLocking]),
        "(returned by a capture that began after it was found, kept as uncaptured)"
    );
}

/// A `lockdep::thread`'s thread-local destructors run with the thread exiting: "problems found
/// from here on (thread-local destructors) are reported but never panic, which would abort
/// the process" (`thread.rs`); review 6 made `validator::act` print instead there. But a lock
/// freed while this thread holds it (`validator/release.rs`, `lock_freed`) panics in `Panic`
/// mode whenever the thread is not already unwinding (`MustPanic && !panicking()`), without
/// looking at `exiting()`: in a thread-local destructor that panic aborts the whole process
/// ("thread local panicked on drop"). (`finish_release`'s bad-unlock report and
/// `validator::invalid_subclass` have the same check.) Right: printed and counted, the thread
/// ends normally. Run in a child process (the mode is process-wide, and it aborts).
#[test]
fn a_held_lock_freed_in_a_thread_local_destructor_in_panic_mode_does_not_abort() {
    const NAME: &str =
        "a_held_lock_freed_in_a_thread_local_destructor_in_panic_mode_does_not_abort";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    struct FreesAHeldLock;
    impl Drop for FreesAHeldLock {
        fn drop(&mut self) {
            let m = lockdep::Mutex::named("review7.freed.M", ());
            std::mem::forget(m.lock());
            drop(m); // freed while held, as the thread exits
        }
    }
    thread_local! {
        static LATE: FreesAHeldLock = const { FreesAHeldLock };
    }
    lockdep::set_mode(lockdep::Mode::Panic);
    let joined = lockdep::thread::spawn(|| LATE.with(|_| ())).join();
    lockdep::set_mode(lockdep::Mode::Warn);
    assert!(joined.is_ok());
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports();
    assert_eq!(common::kinds(&taken), [ReportKind::HeldLockFreed]);
    assert_eq!(failing, 1, "the freed lock was neither printed nor counted");
}

/// The same promise for a `lockdep::thread` whose body panics: its thread-local destructors
/// still run as it exits (after std caught the panic, so `std::thread::panicking()` is false
/// there). But `Child::run` (`thread.rs`) marks the thread exiting only after `f` *returns*
/// (`let result = f(); nesting::exiting();`), not when it unwinds: a fresh acquisition in a
/// thread-local destructor that closes a cycle in `Panic` mode then has `may_panic` true in
/// `validator::act` and panics — in a thread-local destructor, which aborts the process
/// ("thread local panicked on drop"). Right: the thread's panic reaches `join` as usual, and
/// the cycle is printed and counted. Child process.
#[test]
fn a_cycle_closed_in_a_thread_local_destructor_after_the_body_panicked_does_not_abort() {
    const NAME: &str =
        "a_cycle_closed_in_a_thread_local_destructor_after_the_body_panicked_does_not_abort";
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
    let joined = lockdep::thread::spawn(|| {
        LATE.with(|_| ());
        std::panic::resume_unwind(Box::new("the thread's body fails"));
    })
    .join();
    lockdep::set_mode(lockdep::Mode::Warn);
    assert!(joined.is_err(), "the body's panic reaches join");
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports();
    assert_eq!(common::kinds(&taken), [ReportKind::CircularDependency]);
    assert_eq!(failing, 1, "the cycle was neither printed nor counted");
}
