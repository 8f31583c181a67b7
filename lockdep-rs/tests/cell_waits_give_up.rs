//! README, "What `cargo test` does with a report": a wait reported as a possible deadlock
//! that then really blocks for `LOCKDEP_DEADLOCK_TIMEOUT` panics, so the test fails instead of
//! hanging the run. Locks and joins did; a wait for another thread's initializer of a one-time
//! cell (`stdsync::OnceLock::get_or_init`, forcing a `stdsync::LazyLock`, `Once::call_once`)
//! did not: the `CircularWait` was reported and the thread then waited for ever, as std's cell
//! does (the initializer needed a lock the waiter held). Now such a wait gives up after the
//! deadlock timeout with a panic naming the cell, the waiter's lock is released by the unwind,
//! and the initializer finishes.
#![cfg(lockdep_enabled)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lockdep::ReportKind;

/// The variable naming the case the child run plays.
const CASE: &str = "CELL_WAITS_CASE";

/// The lock the initializer needs, and the initializer's word that it runs.
static L: lockdep::Mutex<()> = lockdep::Mutex::named("cellwait.L", ());
static STARTED: AtomicBool = AtomicBool::new(false);

/// The initializer's body: says it runs, then takes `L` (blocking while the waiter holds it).
fn initializer_body() -> u32 {
    STARTED.store(true, Ordering::SeqCst);
    drop(L.lock());
    5
}

/// Holds `L` while a thread runs `init` (a cell's initializer, which runs
/// [`initializer_body`]); then waits for the cell (`wait`, which must give up). Returns the
/// waiter's panic message and its captured reports (kind, classes); afterwards the initializer
/// has finished.
fn deadlock_on_a_cell(
    init: impl FnOnce() + Send + 'static,
    wait: impl FnOnce(),
) -> (String, Vec<(ReportKind, Vec<String>)>) {
    let held = L.lock();
    let initializer = std::thread::spawn(init);
    while !STARTED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // The initializer validates its acquisition (the order cell -> L) before it blocks.
    std::thread::sleep(Duration::from_millis(300));
    let (outcome, reports) = lockdep::capture(|| catch_unwind(AssertUnwindSafe(wait)));
    drop(held);
    initializer
        .join()
        .expect("the initializer finishes once the lock is free");
    let message = match outcome {
        Ok(()) => String::from("(no panic)"),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| String::from("(not a string)")),
    };
    (message, common::kinds_and_classes(&reports))
}

#[test]
fn child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let (message, reports) = match case.as_str() {
        "OnceLock" => {
            let cell = Arc::new(lockdep::stdsync::OnceLock::<u32>::new());
            let c = cell.clone();
            let out = deadlock_on_a_cell(
                move || {
                    c.get_or_init(initializer_body);
                },
                || {
                    cell.get_or_init(|| 6);
                },
            );
            assert_eq!(cell.get(), Some(&5), "the initializer's value");
            out
        }
        "LazyLock" => {
            static LAZY: lockdep::stdsync::LazyLock<u32> =
                lockdep::stdsync::LazyLock::new(initializer_body);
            let out = deadlock_on_a_cell(
                || {
                    let _ = *LAZY;
                },
                || {
                    let _ = *LAZY;
                },
            );
            assert_eq!(*LAZY, 5, "the initializer's value");
            out
        }
        "Once" => {
            let once = Arc::new(lockdep::Once::new());
            let o = once.clone();
            let out = deadlock_on_a_cell(
                move || {
                    o.call_once(|| {
                        initializer_body();
                    })
                },
                || once.call_once(|| {}),
            );
            assert!(once.state().done());
            out
        }
        "slow" => {
            // Cells of one class (one site); the first one's initializer takes L: the order
            // cell -> L.
            fn cell() -> lockdep::stdsync::OnceLock<u32> {
                lockdep::stdsync::OnceLock::new()
            }
            let first = cell();
            first.get_or_init(|| {
                drop(L.lock());
                1
            });
            // The second one's initializer is slow but needs nothing the waiter holds: the
            // wait under L is reported (L -> cell closes the cycle), and ends when it is done.
            let second = Arc::new(cell());
            let s = second.clone();
            let initializer = std::thread::spawn(move || {
                s.get_or_init(|| {
                    STARTED.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(400));
                    7
                });
            });
            while !STARTED.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let held = L.lock();
            let (outcome, reports) =
                lockdep::capture(|| catch_unwind(AssertUnwindSafe(|| *second.get_or_init(|| 8))));
            drop(held);
            initializer.join().unwrap();
            let message = match outcome {
                Ok(v) => format!("(no panic) value {v}"),
                Err(_) => String::from("panicked"),
            };
            (message, common::kinds_and_classes(&reports))
        }
        "reset" => {
            // Cells of one class (one site).
            fn cell() -> lockdep::stdsync::OnceLock<u32> {
                lockdep::stdsync::OnceLock::new()
            }
            // An initializer that calls `reset()` (which forgets this thread's held entries,
            // its own armed event among them) and then fails: nobody initializes the cell now.
            let second = cell();
            let failed = catch_unwind(AssertUnwindSafe(|| {
                second.get_or_init(|| {
                    lockdep::reset();
                    panic!("the initializer fails")
                })
            }));
            assert!(failed.is_err());
            // The order cell -> L (after the reset, which cleared the graph).
            cell().get_or_init(|| {
                drop(L.lock());
                1
            });
            // Holding L, a wait for `second` is reported (L -> cell closes the cycle); with
            // no initializer running it goes on at once and runs its own.
            let held = L.lock();
            let (outcome, reports) =
                lockdep::capture(|| catch_unwind(AssertUnwindSafe(|| *second.get_or_init(|| 3))));
            drop(held);
            let message = match outcome {
                Ok(v) => format!("(no panic) value {v}"),
                Err(_) => String::from("panicked"),
            };
            (message, common::kinds_and_classes(&reports))
        }
        other => panic!("unknown case {other}"),
    };
    println!("MESSAGE: {message}");
    for (kind, classes) in reports {
        println!("REPORT: {kind:?} {classes:?}");
    }
}

/// Runs the child for `case` with a 1 s deadlock timeout and checks its outcome: the waiter's
/// panic message (or its value) contains `message`, and one report was captured, a
/// `CircularWait` on the cell (its class shown as `cell`, a kind and a site) and `L`.
fn expect(case: &str, message: &str, cell: &str) {
    let (out, stderr, finished) =
        common::run_child(CASE, case, &[("LOCKDEP_DEADLOCK_TIMEOUT", "1")]);
    assert!(finished, "{case}: the waiter hung\n{out}\n{stderr}");
    assert!(out.contains("1 passed"), "{case}:\n{out}\n{stderr}");
    assert!(
        out.contains(&format!("MESSAGE: {message}")),
        "{case}: {out}"
    );
    let report =
        format!("REPORT: CircularWait [\"{cell} at lockdep-rs/tests/cell_waits_give_up.rs:");
    assert!(
        out.contains(&report) && out.contains(", \"cellwait.L\"]"),
        "{case}: a CircularWait on the cell and L: {out}"
    );
    assert_eq!(
        out.matches("REPORT:").count(),
        1,
        "{case}: one report: {out}"
    );
}

/// The panic message of a waiter that gave up on a cell of kind `kind`.
fn gave_up(kind: &str) -> String {
    format!(
        "lockdep: deadlock: this thread waited 1 s for another thread's initializer of a \
         `{kind}` ({kind} at lockdep-rs/tests/cell_waits_give_up.rs:"
    )
}

#[test]
fn a_oncelock_wait_reported_as_a_deadlock_gives_up_after_the_timeout() {
    expect("OnceLock", &gave_up("OnceLock"), "OnceLock");
}

#[test]
fn a_lazylock_wait_reported_as_a_deadlock_gives_up_after_the_timeout() {
    expect("LazyLock", &gave_up("LazyLock"), "LazyLock");
}

#[test]
fn a_once_wait_reported_as_a_deadlock_gives_up_after_the_timeout() {
    expect("Once", &gave_up("Once"), "Once");
}

/// A reported wait for an initializer that is only slow (it needs nothing the waiter holds)
/// ends when the initializer does, with no panic.
#[test]
fn a_reported_wait_for_a_slow_initializer_ends_with_it() {
    expect("slow", "(no panic) value 7", "OnceLock");
}

/// An initializer that called `reset()` and failed left its armed count behind (the reset
/// forgot the entry, so the end of its armed span gave nothing back): a later reported wait
/// on the cell, with nobody initializing it, waited the deadlock timeout and panicked. Now the
/// forgotten entry's end gives its holder back, and the wait goes on at once.
#[test]
fn a_reported_wait_after_an_initializer_reset_and_failed_goes_on() {
    expect("reset", "(no panic) value 3", "OnceLock");
}
