//! `Mode::Panic` in many tests at once: every test of this binary sets `Panic` and they run in
//! parallel, several of them on many threads. Each problem must panic exactly the thread that
//! found it, with its own report, before the offending lock is taken; the validator's state
//! must stay right for everyone else; nothing may abort or deadlock.
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use lockdep::{capture, LockClass, Mode, Mutex, ReportKind, RwLock};

fn class(name: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("fpm.{name}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

fn mutex(name: &str) -> Mutex<()> {
    Mutex::with_class(class(name), ())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f`, which must panic; returns the panic message.
fn expect_panic(f: impl FnOnce()) -> String {
    let p = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a lockdep panic");
    panic_text(&*p)
}

fn panic_mode() {
    lockdep::set_mode(Mode::Panic);
}

#[test]
fn many_threads_panic_at_once_each_with_its_own_report() {
    panic_mode();
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    let panics = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let panics = &panics;
            s.spawn(move || {
                for r in 0..ROUNDS {
                    let a = mutex(&format!("many.{t}.{r}.a"));
                    let b = mutex(&format!("many.{t}.{r}.b"));
                    {
                        let _ga = a.lock();
                        let _gb = b.lock();
                    }
                    let gb = b.lock();
                    let text = expect_panic(|| {
                        let _ga = a.lock();
                    });
                    assert!(
                        text.contains("possible circular locking dependency"),
                        "{text}"
                    );
                    assert!(text.contains(&format!("fpm.many.{t}.{r}.a")), "{text}");
                    assert!(b.is_held() && !a.is_held());
                    assert!(a.try_lock().is_some(), "A was not taken");
                    drop(gb);
                    assert!(!b.is_held());
                    panics.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(panics.load(Ordering::Relaxed), THREADS * ROUNDS);
}

#[test]
fn recursive_locking_panics_without_taking_the_lock() {
    panic_mode();
    let c = class("rec");
    let (x1, x2) = (RwLock::with_class(c, ()), RwLock::with_class(c, ()));
    let g = x1.read();
    let text = expect_panic(|| {
        let _g2 = x2.write();
    });
    assert!(
        text.contains("possible recursive locking detected"),
        "{text}"
    );
    assert!(x2.try_write().is_some(), "x2 was not taken");
    assert!(x1.is_held() && !x2.is_held());
    // A recursive read after a read is fine and does not panic.
    let _g3 = x2.read_recursive();
    drop(g);
}

#[test]
fn a_bad_unlock_panics_and_touches_nothing() {
    panic_mode();
    let m = mutex("unlock");
    let text = expect_panic(|| {
        // SAFETY: deliberately wrong: `m` is not locked. Lockdep panics before touching it.
        unsafe { m.force_unlock() }
    });
    assert!(text.contains("bad unlock balance detected"), "{text}");
    let g = m.lock();
    assert!(m.try_lock().is_none());
    drop(g);
}

#[test]
fn a_held_lock_freed_panics_and_is_forgotten() {
    panic_mode();
    let c = class("freed");
    let outer = mutex("freed.outer");
    let go = outer.lock();
    let m = Box::new(Mutex::with_class(c, ()));
    std::mem::forget(m.lock());
    let text = expect_panic(move || drop(m));
    assert!(text.contains("held lock freed"), "{text}");
    // The freed lock is no longer on the stack: another lock of its class is fine.
    let m2 = Mutex::with_class(c, ());
    let _g = m2.lock();
    assert!(outer.is_held());
    drop(go);
}

#[test]
fn a_problem_found_while_releasing_is_printed_not_panicked() {
    panic_mode();
    let (ca, cb, cc) = (class("rel.a"), class("rel.b"), class("rel.c"));
    let (a, b, c) = (
        Mutex::with_class(ca, ()),
        Mutex::with_class(cb, ()),
        Mutex::with_class(cc, ()),
    );
    let ga = a.lock();
    let gb = b.lock();
    let gc = c.lock();
    // Another thread takes C then A (other instances): A -> B -> C exists, so it panics there;
    // the edge C -> A is recorded all the same.
    std::thread::scope(|s| {
        s.spawn(|| {
            let (a2, c2) = (Mutex::with_class(ca, ()), Mutex::with_class(cc, ()));
            let _gc2 = c2.lock();
            let text = expect_panic(|| {
                let _ga2 = a2.lock();
            });
            assert!(text.contains("possible circular"), "{text}");
        });
    });
    // Releasing B re-acquires C under A: A -> C closes a cycle with C -> A. A release must not
    // panic (it runs in a destructor): the report is printed instead.
    drop(gb);
    assert!(a.is_held() && !b.is_held() && c.is_held());
    drop(gc);
    drop(ga);
    assert!(!a.is_held() && !c.is_held());
}

#[test]
fn a_thread_exiting_with_locks_held_does_not_abort() {
    panic_mode();
    let m = mutex("exit");
    std::thread::scope(|s| {
        s.spawn(|| std::mem::forget(m.lock()))
            .join()
            .expect("the thread ends normally: the report is printed, not panicked");
    });
    // Printed (it would fail the run at exit): this test takes it as its own.
    let exits: Vec<lockdep::Report> = lockdep::take_reports()
        .into_iter()
        .filter(|r| r.kind() == lockdep::ReportKind::LocksHeldAtExit)
        .collect();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0].class_names(), ["fpm.exit"]);
}

#[test]
fn captures_still_collect_in_panic_mode() {
    panic_mode();
    let (a, b) = (mutex("cap.a"), mutex("cap.b"));
    let ((), reports) = capture(|| {
        {
            let _ga = a.lock();
            let _gb = b.lock();
        }
        let _gb = b.lock();
        let _ga = a.lock();
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
}
