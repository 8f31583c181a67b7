//! Review 8: defects found in report delivery and counting, captures and thread-exit delivery
//! (the code changed by review 7's fixes). Each test asserts the right behaviour, and failed
//! before its fix.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review8`
#![cfg(lockdep_tasks)]

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "REVIEW8_CHILD";

use lockdep::ReportKind;

/// Raises `n` distinct `InvalidSubclass` reports (uncaptured) on this thread.
fn raise_distinct_reports(prefix: &str, n: usize) {
    let mut raised = 0;
    for c in 0.. {
        let m = lockdep::Mutex::with_class(common::class(&format!("{prefix}.{c}")), ());
        for subclass in 8..=u8::MAX {
            if raised == n {
                return;
            }
            drop(m.lock_nested(subclass));
            raised += 1;
        }
    }
}

/// `sink::deliver` keeps a report uncounted when the mode does not print it (here `Collect`),
/// then runs the hook, then acts as the mode is *now*: a hook that switched to `Warn` has the
/// report printed by `sink::print`, which counts it only if it finds it still kept
/// (`kept.iter_mut().rev().find(|k| k.key == key && !k.counted)`), taking "not kept" for "the
/// program took it". But a report also leaves the kept list by eviction: past 10,000 kept
/// reports the oldest is dropped (`g.kept.remove(0)`), not taken. Here the hook raises 10,000
/// other reports (kept, `Collect`) before it switches to `Warn`: the cycle is evicted, then
/// printed — and never counted, so the run passes with a printed report the program never
/// took (it could not: `take_reports` no longer has it). Right: printed, counted, the run
/// fails (exit 101). Child process (the mode and the hook are process-wide).
#[test]
fn a_report_evicted_from_the_kept_list_and_then_printed_is_counted() {
    const NAME: &str = "a_report_evicted_from_the_kept_list_and_then_printed_is_counted";
    if common::in_self_child(CHILD, NAME) {
        use std::sync::atomic::{AtomicBool, Ordering};
        static ONCE: AtomicBool = AtomicBool::new(false);
        let a = lockdep::Mutex::named("review8.evicted.A", ());
        let b = lockdep::Mutex::named("review8.evicted.B", ());
        lockdep::set_mode(lockdep::Mode::Collect);
        lockdep::set_report_hook(Some(Box::new(|_| {
            if !ONCE.swap(true, Ordering::SeqCst) {
                raise_distinct_reports("review8.evicted.filler", 10_000);
                lockdep::set_mode(lockdep::Mode::Warn);
            }
        })));
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A: kept, the hook evicts it, then printed
        lockdep::set_report_hook(None);
        assert!(ONCE.load(Ordering::SeqCst));
        // (The verdict is the exit status: 101 if the printed cycle is counted.)
        return;
    }
    let stderr = common::expect_self_fails(CHILD, NAME);
    assert!(
        stderr.contains("review8.evicted.A"),
        "the cycle was not printed:\n{stderr}"
    );
}

/// The other way round: in `Warn` mode `sink::deliver` counts the report as it keeps it; a
/// hook that switches to `Collect` has it kept instead, and `forgive_if_kept` takes its count
/// back — only if it finds it still kept (`kept.iter_mut().rev().find(..)`), taking "not
/// kept" for "the program took it, which forgave it". Here the hook switches to `Collect` and
/// raises 10,000 other reports (kept, uncounted): the cycle is evicted, never printed, and its
/// count stays, so the run fails (exit 101), its summary naming a problem "printed above when
/// found" that nothing printed. Right: not printed, not counted, the run passes. Child
/// process.
#[test]
fn a_report_evicted_from_the_kept_list_and_then_kept_instead_of_printed_is_not_counted() {
    const NAME: &str =
        "a_report_evicted_from_the_kept_list_and_then_kept_instead_of_printed_is_not_counted";
    if common::in_self_child(CHILD, NAME) {
        use std::sync::atomic::{AtomicBool, Ordering};
        static ONCE: AtomicBool = AtomicBool::new(false);
        let a = lockdep::Mutex::named("review8.evicted_kept.A", ());
        let b = lockdep::Mutex::named("review8.evicted_kept.B", ());
        lockdep::set_mode(lockdep::Mode::Warn);
        lockdep::set_report_hook(Some(Box::new(|_| {
            if !ONCE.swap(true, Ordering::SeqCst) {
                lockdep::set_mode(lockdep::Mode::Collect);
                raise_distinct_reports("review8.evicted_kept.filler", 10_000);
            }
        })));
        drop((a.lock(), b.lock()));
        drop((b.lock(), a.lock())); // B -> A: counted, the hook evicts it, kept instead
        lockdep::set_report_hook(None);
        assert!(ONCE.load(Ordering::SeqCst));
        return;
    }
    let (stdout, stderr, code) = common::run_self(CHILD, NAME);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("lock(review8.evicted_kept.A);"),
        "the cycle's report was printed:\n{stderr}"
    );
    assert_eq!(
        code,
        Some(0),
        "the run failed for a report never printed:\n{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
}

/// `capture_async` "returns the reports raised meanwhile"; review 7 made each poll flush what
/// this thread found *before* it (deferred while releasing locks) first, outside the capture
/// (`Spanning::run`: `flush()` before `join`), since "what this thread found before the poll
/// is not the capture's". But `capture_async` enters its runtime-wide scope
/// (`runtime_capture::Scope::enter`) before its first poll, and `sink::deliver` offers every
/// report no thread capture takes to that scope (`runtime_capture::deliver`): the flush that
/// should deliver the earlier problem outside the capture hands it to this very capture,
/// which returns it — a `capture_async` whose future takes no lock at all — and it is never
/// kept. Right (as for `capture`, review 7): a problem pending when the capture begins is
/// delivered as before it (here kept, uncaptured).
#[tokio::test]
#[allow(clippy::await_holding_lock)] // the tests that read the kept reports, one at a time
async fn a_problem_found_before_a_capture_async_is_not_returned_by_it() {
    let _one = common::KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let locks = common::DeferredProblem::new("review8.before_async");
    // Found now, outside any capture (deferred); no acquisition after: still deferred.
    drop(locks.raise());
    let ((), captured) = lockdep::tokio::capture_async(async {}).await; // takes no lock
    let kept = common::kept_with(&["review8.before_async.B"]);
    assert_eq!(
        (common::kinds(&captured), kept),
        (vec![], vec![ReportKind::RecursiveLocking]),
        "(returned by a capture_async that began after it was found, kept as uncaptured)"
    );
}

/// Review 7 made the reports a `lockdep::thread` raises in its thread-local destructors print
/// instead of panicking (`validator::act`, `deliver_or_panic`: `!exiting()`), since a panic
/// there aborts the process. The holder switch's reports (`validator/holder.rs`,
/// `Settled::act`) still panic whenever `fresh && !panicking()`, without looking at
/// `exiting()`: an async acquisition that has to wait while the thread holds a blocking lock
/// (`watch::wait_for` -> `holder::suspending` -> `HeldAcrossAwait`) panics in `Panic` mode in
/// a thread-local destructor, and the process aborts ("thread local panicked on drop").
/// Right: printed and counted, the thread ends normally. Child process.
#[test]
fn a_lock_held_across_an_await_in_a_thread_local_destructor_in_panic_mode_does_not_abort() {
    const NAME: &str =
        "a_lock_held_across_an_await_in_a_thread_local_destructor_in_panic_mode_does_not_abort";
    if !common::in_self_child(CHILD, NAME) {
        return common::expect_self_succeeds(CHILD, NAME);
    }
    use std::future::Future;
    static ASYNC: std::sync::OnceLock<lockdep::tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    struct AwaitsHoldingABlockingLock;
    impl Drop for AwaitsHoldingABlockingLock {
        fn drop(&mut self) {
            let blocking = lockdep::Mutex::named("review8.await.blocking", ());
            let _g = blocking.lock();
            let mut wait = std::pin::pin!(ASYNC.get().unwrap().lock());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            // Held by another thread: the wait is pending, with `blocking` held.
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
    }
    thread_local! {
        static LATE: AwaitsHoldingABlockingLock = const { AwaitsHoldingABlockingLock };
    }
    ASYNC.get_or_init(|| lockdep::tokio::sync::Mutex::new(()));
    // Held by another thread (held here, joining the worker would be a real circular wait).
    let (locked, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let holder = std::thread::spawn(move || {
        let _held = ASYNC.get().unwrap().try_lock().unwrap();
        locked.0.send(()).unwrap();
        let _ = release.1.recv();
    });
    locked.1.recv().unwrap();
    lockdep::set_mode(lockdep::Mode::Panic);
    let joined = lockdep::thread::spawn(|| LATE.with(|_| ())).join();
    lockdep::set_mode(lockdep::Mode::Warn);
    release.0.send(()).unwrap();
    holder.join().unwrap();
    assert!(joined.is_ok());
    let failing = lockdep::stats().failing;
    let taken = lockdep::take_reports();
    assert_eq!(common::kinds(&taken), [ReportKind::HeldAcrossAwait]);
    assert_eq!(failing, 1, "the report was neither printed nor counted");
}
