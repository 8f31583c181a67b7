//! Review 5: defects found in the newest code (queued async acquisitions and the grace of
//! `tokio::watch`, captures and `lockdep::thread` children, report delivery). Each test
//! asserts the right behaviour, and failed before its fix; a hang is caught by a timeout, not
//! a watchdog.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review5`
#![cfg(lockdep_tasks)]

mod common;

use std::sync::Arc;

use lockdep::ReportKind;

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// Held by the tests that read the kept reports (`take_reports` drains every test's).
static KEPT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The uncaptured reports kept so far whose classes are `names` (taken off the kept list, so
/// they do not fail the run).
fn kept_with(names: &[&str]) -> Vec<ReportKind> {
    lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names() == names)
        .map(|r| r.kind())
        .collect()
}

/// A `lockdep::thread` started inside a capture whose closure *panics* (caught outside it):
/// the capture is over, nobody will ever read its reports, but it was never marked closed
/// (`report/capture.rs`: `capture` sets `closed` only after `f` returns). The thread's later
/// reports go into it and are lost: not printed, not kept, the run does not fail. Right: as
/// for a capture that returned, they are delivered as uncaptured (kept here).
#[test]
fn a_child_of_a_capture_that_panicked_reports_uncaptured() {
    let _one = KEPT.lock().unwrap_or_else(|e| e.into_inner());
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
        kept_with(&["review5.unwound.A", "review5.unwound.B"]),
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
    let _one = KEPT.lock().unwrap_or_else(|e| e.into_inner());
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
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    go_tx.send(()).unwrap(); // the same chains again, the capture closed
    done.recv().unwrap();
    child.unwrap().join().unwrap();
    assert_eq!(
        kept_with(&["review5.again.A", "review5.again.B"]),
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
    let _one = KEPT.lock().unwrap_or_else(|e| e.into_inner());
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
    let leaked = kept_with(&["review5.async_child.A", "review5.async_child.B"]);
    assert_eq!(
        (kinds(&reports), leaked),
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
    if std::env::var("REVIEW5_CHILD").as_deref() == Ok(NAME) {
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
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env("REVIEW5_CHILD", NAME)
        .env_remove("LOCKDEP")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "the run failed for a report the program took:\n{stderr}"
    );
}
