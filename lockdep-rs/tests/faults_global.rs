//! Faults that involve the process-wide state: the report hook (user code run while a report is
//! delivered), reports delivered outside any capture (thread exit), the `Off` mode. The tests
//! of this binary change the global mode and hook, so they run one at a time (`serial()`).
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::Duration;

use lockdep::{LockClass, Mode, Mutex, Report, ReportKind};

static SERIAL: StdMutex<()> = StdMutex::new(());

/// Serialises the tests of this binary; on drop, removes the hook and restores `Collect`.
struct Serial(#[allow(dead_code)] StdMutexGuard<'static, ()>);

fn serial(mode: Mode) -> Serial {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    lockdep::set_report_hook(None);
    lockdep::set_mode(mode);
    Serial(g)
}

impl Drop for Serial {
    fn drop(&mut self) {
        lockdep::set_report_hook(None);
        lockdep::set_mode(Mode::Collect);
        // The reports this test raised are its own (taken, they no longer fail the run).
        let _ = lockdep::take_reports();
    }
}

fn class(name: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("fg.{name}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

fn mutex(name: &str) -> Mutex<()> {
    Mutex::with_class(class(name), ())
}

/// The kept reports (drained) that involve a class whose name starts with `prefix`.
fn reports_about(prefix: &str) -> Vec<Report> {
    lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with(prefix)))
        .collect()
}

/// Runs `f` on a thread of its own and fails if it has not finished after `secs` seconds (a
/// validator deadlock would otherwise hang the suite).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("no answer within {secs} s: a validator deadlock"),
    }
}

/// A then B, then B then A: one cycle report (raised outside any capture).
fn abba(a: &Mutex<()>, b: &Mutex<()>) {
    {
        let _ga = a.lock();
        let _gb = b.lock();
    }
    let _gb = b.lock();
    let _ga = a.lock();
}

#[test]
fn a_panicking_report_hook_is_contained() {
    let _s = serial(Mode::Collect);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    lockdep::set_report_hook(Some(Box::new(move |_r: &Report| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("the user's hook fails");
    })));
    let (a, b, x) = (
        mutex("hookpanic.a"),
        mutex("hookpanic.b"),
        mutex("hookpanic.x"),
    );
    abba(&a, &b); // the hook panics inside; the acquisition goes on
    assert!(!a.is_held() && !b.is_held());
    // And again for a second problem: the hook is still installed and still called.
    {
        let _gx = x.lock();
        // SAFETY: deliberately wrong: `a` is not locked; lockdep reports and touches nothing.
        unsafe { a.force_unlock() };
        assert!(x.is_held());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let kinds: Vec<ReportKind> = reports_about("fg.hookpanic")
        .iter()
        .map(Report::kind)
        .collect();
    assert_eq!(
        kinds,
        [ReportKind::CircularDependency, ReportKind::BadUnlockBalance]
    );
}

#[test]
fn a_panicking_hook_in_panic_mode_still_panics_with_the_report() {
    let _s = serial(Mode::Panic);
    lockdep::set_report_hook(Some(Box::new(|_r: &Report| panic!("hook failure"))));
    let (a, b) = (mutex("hookpm.a"), mutex("hookpm.b"));
    let p = catch_unwind(AssertUnwindSafe(|| abba(&a, &b))).expect_err("Panic mode panics");
    let text = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("possible circular locking dependency"),
        "{text}"
    );
    assert!(
        !a.is_held() && !b.is_held(),
        "B was released by unwinding, A never taken"
    );
    assert!(a.try_lock().is_some());
}

/// The validator's internal locks are leaves: a hook may take lockdep locks, query the
/// validator, raise a report of its own, from several threads at once, without deadlock.
#[test]
fn a_hook_that_takes_lockdep_locks_does_not_deadlock() {
    let _s = serial(Mode::Collect);
    let log: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::with_class(class("hooklocks.log"), vec![]));
    let (h1, h2) = (
        Arc::new(mutex("hooklocks.h1")),
        Arc::new(mutex("hooklocks.h2")),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    {
        let (log, h1, h2, calls) = (log.clone(), h1.clone(), h2.clone(), calls.clone());
        lockdep::set_report_hook(Some(Box::new(move |r: &Report| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = lockdep::stats();
            let _ = lockdep::graph_dot();
            assert!(!lockdep::is_held(&*h1));
            log.lock().push(r.class_names().join(" "));
            // The hook's own lock-order problem (once: done concurrently it could really
            // deadlock): reported, but not to the hook again.
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| abba(&h1, &h2));
        })));
    }
    let threads = 4;
    within(60, move || {
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || {
                    let (a, b) = (
                        mutex(&format!("hooklocks.{t}.a")),
                        mutex(&format!("hooklocks.{t}.b")),
                    );
                    abba(&a, &b);
                });
            }
        });
    });
    // One call per thread's report; the hook's own report did not re-enter the hook.
    assert_eq!(calls.load(Ordering::SeqCst), threads);
    let mut seen = log.lock().clone();
    seen.sort();
    let expected: Vec<String> = (0..threads)
        .map(|t| format!("fg.hooklocks.{t}.a fg.hooklocks.{t}.b"))
        .collect();
    assert_eq!(seen, expected);
    let hook_own = reports_about("fg.hooklocks.h");
    assert_eq!(hook_own.len(), 1, "{hook_own:?}");
    assert_eq!(hook_own[0].kind(), ReportKind::CircularDependency);
    // The hook ran with the reporting thread's held lock (b) held, but not with the lock
    // whose acquisition raised the report (it is recorded only after delivery).
    assert_eq!(
        hook_own[0].held_locks().len(),
        2,
        "{:?}",
        hook_own[0].held_locks()
    );
    assert!(hook_own[0].held_locks()[0].ends_with(".b"));
}

#[test]
fn a_thread_exiting_with_locks_held_is_reported() {
    let _s = serial(Mode::Collect);
    // The hook runs in the exiting thread's destructors: it may still take lockdep locks.
    let probe = Arc::new(mutex("exit.probe"));
    {
        let probe = probe.clone();
        lockdep::set_report_hook(Some(Box::new(move |_r: &Report| {
            drop(probe.lock());
        })));
    }
    let (a, b) = (Arc::new(mutex("exit.a")), Arc::new(mutex("exit.b")));
    let (a2, b2) = (a.clone(), b.clone());
    within(30, move || {
        std::thread::spawn(move || {
            std::mem::forget(a2.lock());
            std::mem::forget(b2.lock());
        })
        .join()
        .unwrap();
    });
    let reports = reports_about("fg.exit.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::LocksHeldAtExit);
    assert_eq!(reports[0].class_names(), ["fg.exit.a", "fg.exit.b"]);
    assert!(a.try_lock().is_none(), "the leaked guard still holds it");

    // In Panic mode too: a destructor must not panic (that would abort), so it is printed.
    lockdep::set_mode(Mode::Panic);
    let c = Arc::new(mutex("exit.c"));
    let c2 = c.clone();
    within(30, move || {
        std::thread::spawn(move || std::mem::forget(c2.lock()))
            .join()
            .expect("no panic on thread exit");
    });
    let reports = reports_about("fg.exit.c");
    assert_eq!(reports.len(), 1, "{reports:?}");
}

#[test]
fn off_mode_and_mode_changes_while_holding_locks() {
    let _s = serial(Mode::Off);
    let m = mutex("off.m");
    // Off: force_unlock is parking_lot's (here a valid one).
    std::mem::forget(m.lock());
    assert_eq!(
        lockdep::held_state(&m),
        None,
        "nothing is recorded in Off mode"
    );
    assert!(
        m.is_held(),
        "is_held says yes when lockdep cannot tell (as the kernel's)"
    );
    // SAFETY: this thread locked `m` through the guard just forgotten.
    unsafe { m.force_unlock() };
    assert!(m.try_lock().is_some());

    // Taken in Off, released in Collect: the untracked guard reports nothing.
    let g = m.lock();
    lockdep::set_mode(Mode::Collect);
    drop(g);
    // Taken in Collect, released in Off: the record is still removed.
    let g = m.lock();
    assert!(m.is_held());
    lockdep::set_mode(Mode::Off);
    drop(g);
    lockdep::set_mode(Mode::Collect);
    assert!(!m.is_held());
    assert!(reports_about("fg.off.").is_empty());
}

/// The fast path checks no mode: a mode change closes it (it changes the stamp every thread's
/// fast path compares). A chain the fast path knows well, taken in `Off` mode, is recorded
/// nowhere (seen once back in `Collect`, while still held); back in `Collect` the same chain
/// is recorded again (and hits the chain cache) and an inversion is found.
#[test]
fn a_mode_change_closes_the_fast_path_to_chains_it_knows() {
    let _s = serial(Mode::Collect);
    let a = mutex("fastoff.a");
    let b = mutex("fastoff.b");
    for _ in 0..3 {
        let _a = a.lock();
        let _b = b.lock(); // A -> B: a fast-path hit from the second round on
    }
    lockdep::set_mode(Mode::Off);
    let (ga, gb) = (a.lock(), b.lock());
    lockdep::set_mode(Mode::Collect);
    assert_ne!(
        lockdep::held_state(&a),
        Some(true),
        "taken in Off: not recorded"
    );
    assert_ne!(
        lockdep::held_state(&b),
        Some(true),
        "taken in Off: not recorded"
    );
    drop(gb);
    drop(ga);
    let hits = lockdep::stats().cache_hits;
    {
        let _a = a.lock();
        let _b = b.lock();
        assert_eq!(lockdep::held_state(&a), Some(true));
        assert_eq!(lockdep::held_state(&b), Some(true));
    }
    assert!(
        lockdep::stats().cache_hits > hits,
        "the known chain hits again"
    );
    assert!(reports_about("fg.fastoff.").is_empty());
    {
        let _b = b.lock();
        let _a = a.lock(); // B -> A against A -> B
    }
    let reports = reports_about("fg.fastoff.");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
}
