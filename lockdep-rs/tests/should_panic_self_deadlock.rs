//! `#[should_panic]` tests that expect lockdep's self-deadlock panic (a thread re-locking a
//! mutex it holds), as a user pins that lockdep stops their code there. Each case runs as a
//! child `cargo test` process, and the parent checks how the child's run ends:
//!
//! - inside `lockdep::capture`, the test passes and so does the run: the report is the
//!   panic's message, which the test expected (before the fix, the capture passed the report
//!   on as it unwound, and the run failed at exit for a problem the test had taken);
//! - without a capture, in the default mode, the test passes but the run fails at exit
//!   (status 101), naming the problem and the test: lockdep cannot tell that the panic was
//!   expected, and an uncaptured report always fails the run (the README says so);
//! - a panic of the test's own that unwinds a capture still passes its reports on.
#![cfg(not(loom))]
#![cfg(lockdep_enabled)]

mod common;

use lockdep::{Mutex, ReportKind};

/// Runs this binary's ignored test `name` alone in a child process (no `LOCKDEP*` setting);
/// returns its stdout, stderr and exit code.
fn run_child(name: &str) -> (String, String, Option<i32>) {
    common::run_self_args("SHOULD_PANIC_CHILD", name, &["--include-ignored"], &[])
}

#[test]
#[ignore = "a child of captured_should_panic_relock_passes_the_run"]
#[should_panic(expected = "certain self-deadlock")]
fn child_captured_relock() {
    let m = Mutex::named("sp.captured", ());
    let ((), _reports) = lockdep::capture(|| {
        let _g = m.lock();
        let _h = m.lock(); // panics: this thread holds it
    });
}

#[test]
fn captured_should_panic_relock_passes_the_run() {
    let (stdout, stderr, code) = run_child("child_captured_relock");
    assert!(
        stdout.contains("test child_captured_relock - should panic ... ok"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("problem was reported"), "{stderr}");
    assert_eq!(code, Some(0), "the child's run failed:\n{stdout}\n{stderr}");
}

#[test]
#[ignore = "a child of uncaptured_should_panic_relock_fails_the_run"]
#[should_panic(expected = "certain self-deadlock")]
fn child_uncaptured_relock() {
    let m = Mutex::named("sp.uncaptured", ());
    let _g = m.lock();
    let _h = m.lock();
}

#[test]
fn uncaptured_should_panic_relock_fails_the_run() {
    let (stdout, stderr, code) = run_child("child_uncaptured_relock");
    assert!(
        stdout.contains("test child_uncaptured_relock - should panic ... ok"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(
            "- WARNING: possible recursive locking detected: sp.uncaptured (found by thread \
             `child_uncaptured_relock`)"
        ),
        "{stderr}"
    );
    assert_eq!(code, Some(101), "{stdout}\n{stderr}");
}

#[test]
#[ignore = "a child of a_test_panic_through_a_capture_still_fails_the_run"]
#[should_panic(expected = "the test's own panic")]
fn child_own_panic_through_capture() {
    let (a, b) = (Mutex::named("sp.own.A", ()), Mutex::named("sp.own.B", ()));
    let ((), _reports) = lockdep::capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = a.lock(); // a report, taken by the capture
        }
        panic!("the test's own panic");
    });
}

#[test]
fn a_test_panic_through_a_capture_still_fails_the_run() {
    let (stdout, stderr, code) = run_child("child_own_panic_through_capture");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("possible circular locking dependency detected: sp.own.A, sp.own.B"),
        "{stderr}"
    );
    assert_eq!(code, Some(101), "{stdout}\n{stderr}");
}

/// A capture that catches lockdep's panic inside it returns the report, as before.
#[test]
fn a_relock_panic_caught_inside_a_capture_is_returned() {
    let m = Mutex::named("sp.caught", ());
    let (caught, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.lock();
            let _h = m.lock();
        }))
    });
    assert!(caught.is_err());
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    assert_eq!(reports[0].class_names(), ["sp.caught"]);
}

#[cfg(lockdep_tasks)]
#[tokio::test]
#[ignore = "a child of capture_async_should_panic_relock_passes_the_run"]
#[should_panic(expected = "certain self-deadlock")]
async fn child_capture_async_relock() {
    let m = Mutex::named("sp.async", ());
    let ((), _reports) = lockdep::tokio::capture_async(async {
        let _g = m.lock();
        let _h = m.lock(); // a blocking re-lock by the test's body
    })
    .await;
}

#[cfg(lockdep_tasks)]
#[test]
fn capture_async_should_panic_relock_passes_the_run() {
    let (stdout, stderr, code) = run_child("child_capture_async_relock");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("problem was reported"), "{stderr}");
    assert_eq!(code, Some(0), "the child's run failed:\n{stdout}\n{stderr}");
}

#[test]
#[ignore = "a child of a_relock_panic_caught_then_an_own_panic_still_fails_the_run"]
#[should_panic(expected = "the test's own panic")]
fn child_relock_caught_then_own_panic() {
    let m = Mutex::named("sp.caught-then-own", ());
    let ((), _reports) = lockdep::capture(|| {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.lock();
            let _h = m.lock(); // lockdep's panic, caught here: the report stays the capture's
        }));
        assert!(caught.is_err());
        panic!("the test's own panic");
    });
}

/// lockdep's self-deadlock panic caught inside a capture, then a panic of the test's own
/// unwinding the capture: the capture passes the re-lock's report on (that panic's message is
/// not the report). Before the fix, the mark of lockdep's caught panic was still set, so the
/// capture kept the report back as if the test's panic carried it: lost, the run passed.
#[test]
fn a_relock_panic_caught_then_an_own_panic_still_fails_the_run() {
    let (stdout, stderr, code) = run_child("child_relock_caught_then_own_panic");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "- WARNING: possible recursive locking detected: sp.caught-then-own (found by thread"
        ),
        "{stderr}"
    );
    assert_eq!(code, Some(101), "{stdout}\n{stderr}");
}

#[cfg(lockdep_tasks)]
#[tokio::test]
#[ignore = "a child of an_async_relock_panic_caught_then_an_own_panic_still_fails_the_run"]
#[should_panic(expected = "the test's own panic")]
async fn child_async_relock_caught_then_own_panic() {
    let m = Mutex::named("sp.async-caught-then-own", ());
    let ((), _reports) = lockdep::tokio::capture_async(async {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.lock();
            let _h = m.lock();
        }));
        assert!(caught.is_err());
        panic!("the test's own panic");
    })
    .await;
}

/// As above, through `capture_async`.
#[cfg(lockdep_tasks)]
#[test]
fn an_async_relock_panic_caught_then_an_own_panic_still_fails_the_run() {
    let (stdout, stderr, code) = run_child("child_async_relock_caught_then_own_panic");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "- WARNING: possible recursive locking detected: sp.async-caught-then-own (found by"
        ),
        "{stderr}"
    );
    assert_eq!(code, Some(101), "{stdout}\n{stderr}");
}
