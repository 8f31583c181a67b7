//! The validator's own locks are never held around what another thread may be blocked in:
//! here the process's stderr, which user code can hold (`std::io::stderr().lock()`) while it
//! takes lockdep locks, and so reports.
//!
//! `cargo test -p lockdep --features enabled --test internal_locks`
#![cfg(all(lockdep_enabled, not(loom)))]

mod common;

use std::sync::mpsc;
use std::time::Duration;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "INTERNAL_LOCKS_CHILD";

/// Past 10,000 kept reports the oldest are dropped, and `take_reports` says how many on
/// stderr. It said so while holding the kept list's lock: a thread holding stderr's lock that
/// then raised a report (which keeps it under that lock) waited for `take_reports`, which
/// waited for stderr: both hung. Right: the note is printed after the lock is released; both
/// finish. Child process (the reports and the mode are process-wide; a hang aborts it).
#[test]
fn take_reports_prints_its_note_without_holding_the_kept_list() {
    const NAME: &str = "take_reports_prints_its_note_without_holding_the_kept_list";
    if common::in_self_child(CHILD, NAME) {
        let _watchdog = common::watchdog(NAME, 20); // (it writes past stderr's lock)
        lockdep::set_mode(lockdep::Mode::Collect);
        // 10,001 distinct reports: one is dropped, so `take_reports` has a note to print.
        let m = lockdep::Mutex::named("internal_locks.filler", ());
        let mut raised = 0;
        'raise: for c in 0.. {
            let m2 = lockdep::Mutex::with_class(common::class(&format!("internal_locks.{c}")), ());
            for subclass in 8..=u8::MAX {
                if raised == 10_001 {
                    break 'raise;
                }
                drop(m2.lock_nested(subclass)); // InvalidSubclass, one per class and subclass
                raised += 1;
            }
        }
        drop(m);
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let err = std::io::stderr();
            let _stderr = err.lock();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // `take_reports` is (before the fix) inside the kept list's lock, on stderr.
            let a = lockdep::Mutex::named("internal_locks.A", ());
            drop(a.lock_nested(9)); // one more report: kept under the kept list's lock
        });
        held_rx.recv().unwrap();
        let taker = std::thread::spawn(lockdep::take_reports);
        std::thread::sleep(Duration::from_millis(300));
        go_tx.send(()).unwrap();
        holder.join().unwrap();
        let taken = taker.join().unwrap();
        assert!(taken.len() >= 9_999, "took {}", taken.len());
        lockdep::take_reports();
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

/// A report is printed while its thread still holds the locks it took (the acquisition goes
/// on). Printed through `std::io::stderr().lock()`, it waited for any thread holding stderr's
/// lock — which may be waiting for one of those locks (a logger that writes under stderr's
/// lock and takes a lockdep lock inside): lockdep's own printing closed a deadlock the program
/// does not have. Right: the report is written to the stderr file descriptor without taking
/// std's lock; both threads finish. Child process (the report fails its run; a hang aborts
/// it).
#[test]
fn a_report_is_printed_without_waiting_for_stderrs_lock() {
    const NAME: &str = "a_report_is_printed_without_waiting_for_stderrs_lock";
    if common::in_self_child(CHILD, NAME) {
        let _watchdog = common::watchdog(NAME, 20);
        lockdep::set_mode(lockdep::Mode::Warn);
        static L: lockdep::Mutex<()> = lockdep::const_mutex(());
        let a = lockdep::Mutex::named("internal_locks.print.A", ());
        let (held_tx, held_rx) = mpsc::channel();
        let logger = std::thread::spawn(move || {
            let err = std::io::stderr();
            let _stderr = err.lock(); // a logger writing a record ...
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(L.lock()); // ... that needs L meanwhile
        });
        held_rx.recv().unwrap();
        let _l = L.lock();
        drop(a.lock_nested(9)); // InvalidSubclass, printed while L is held
        drop(_l);
        logger.join().unwrap();
        return;
    }
    let stderr = common::expect_self_fails(CHILD, NAME);
    assert!(
        stderr.contains("internal_locks.print.A"),
        "the report was not printed:\n{stderr}"
    );
}
