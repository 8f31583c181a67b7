//! `Mode::Panic`: the thread that finds a problem panics with the report's splat as the panic
//! message, before the offending lock is taken. `capture` still collects instead of panicking.
//!
//! The mode is global, so this binary only holds tests that want `Mode::Panic`.
#![cfg(lockdep_enabled)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use common::{expect_circular, expect_none, watchdog, Scope};
use lockdep::{capture, Mode};

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else {
        panic!("panic payload is neither String nor &str")
    }
}

#[test]
fn abba_panics_before_taking_the_lock() {
    let _w = watchdog("abba_panics_before_taking_the_lock", 60);
    lockdep::set_mode(Mode::Panic);
    assert_eq!(lockdep::mode(), Mode::Panic);
    let s = Scope::new("panic_abba");
    let a = s.mutex("A");
    let b = s.mutex("B");
    {
        let _ga = a.lock();
        let _gb = b.lock();
    }
    let gb = b.lock();
    let res = catch_unwind(AssertUnwindSafe(|| {
        let _ga = a.lock();
    }));
    let payload = res.expect_err("B then A must panic in Mode::Panic");
    let text = panic_text(&*payload);
    assert!(
        text.contains("possible circular locking dependency detected"),
        "the panic message is the splat: {text}"
    );
    assert!(
        text.contains(&s.name("A")) && text.contains(&s.name("B")),
        "{text}"
    );

    // A was not taken: another thread can take it while we still hold B.
    let a_free = thread::scope(|sc| sc.spawn(|| a.try_lock().is_some()).join().unwrap());
    assert!(
        a_free,
        "the acquisition that panicked must not have taken the lock"
    );
    drop(gb);

    // ... and this thread has no record of holding A: taking it now is no recursion.
    let (_, reports) = capture(|| drop(a.lock()));
    expect_none("A after the panic", &reports);
}

#[test]
fn capture_collects_instead_of_panicking() {
    lockdep::set_mode(Mode::Panic);
    let s = Scope::new("panic_capture");
    let a = s.mutex("A");
    let b = s.mutex("B");
    let (_, reports) = capture(|| {
        {
            let _ga = a.lock();
            let _gb = b.lock();
        }
        let _gb = b.lock();
        let _ga = a.lock();
    });
    expect_circular(
        "ABBA inside capture in Mode::Panic",
        &reports,
        &s.name("A"),
        &s.name("B"),
        &s.names(&["A", "B"]),
    );
}

#[test]
fn clean_order_does_not_panic() {
    lockdep::set_mode(Mode::Panic);
    let s = Scope::new("panic_clean");
    let a = s.mutex("A");
    let b = s.rwlock("B");
    for _ in 0..3 {
        let _ga = a.lock();
        let _gb = b.read_recursive();
    }
    let _gb = b.read_recursive();
    let _gb2 = b.read_recursive();
}

/// The panic message is the splat from its first line (the rule of `=`), not from an empty
/// line: std prints it after "panicked at file:line:col:", where a leading empty line only
/// pushed the report away. (Printed reports keep their leading empty line, which separates
/// them from the output before.) Both the report of a lock order and of a free.
#[test]
fn the_panic_message_starts_with_the_report_not_an_empty_line() {
    let _w = watchdog("the_panic_message_starts_with_the_report", 60);
    lockdep::set_mode(Mode::Panic);
    let s = Scope::new("panic_first_line");
    let (a, b) = (s.mutex("A"), s.mutex("B"));
    drop((a.lock(), b.lock()));
    let gb = b.lock();
    let order = catch_unwind(AssertUnwindSafe(|| drop(a.lock()))).expect_err("B then A panics");
    drop(gb);
    let freed = catch_unwind(AssertUnwindSafe(|| {
        let m = s.mutex("F");
        std::mem::forget(m.lock());
        drop(m);
    }))
    .expect_err("a held lock freed panics");
    for payload in [order, freed] {
        let text = panic_text(&*payload);
        assert!(text.starts_with("====="), "{text:?}");
    }
}
