//! `ReentrantMutex` on its rare paths (found by review): a level taken back after `unlocked`
//! stays the guard's even when the re-acquisition's validation panics, and a first
//! acquisition in a reported order that really deadlocks gives up after the deadlock timeout
//! instead of hanging. Each case runs in a child process: one sets `Mode::Panic`, the other
//! `LOCKDEP_DEADLOCK_TIMEOUT`, both process-wide.
#![cfg(lockdep_enabled)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockdep::{Mode, Mutex, ReentrantMutex, ReentrantMutexGuard};

mod common;
use common::run_child;

const CHILD: &str = "LOCKDEP_REENTRANT_FAULTS_CHILD";

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// In the child: `unlocked` on a guard of R while A is held, after R -> A was recorded: the
/// re-acquisition of R is A -> R, a circular dependency, and panics (Panic mode). The guard
/// must still hold R (before the fix R was left unlocked: another thread took it while the
/// guard still gave access to the data, and the guard's drop underflowed lock_api's count).
fn relock_that_panics_keeps_the_level() {
    lockdep::set_mode(Mode::Panic);
    let r = ReentrantMutex::named("refault R", 0u32);
    let a = Mutex::named("refault A", ());
    {
        let _r = r.lock();
        let _a = a.lock();
    }
    let mut g = r.lock();
    let ga = a.lock();
    let res = catch_unwind(AssertUnwindSafe(|| {
        ReentrantMutexGuard::unlocked(&mut g, || {});
    }));
    let text = res
        .map_err(|p| panic_text(&*p))
        .expect_err("the relock must report");
    assert!(text.contains("lockdep"), "{text}");
    assert!(r.is_locked(), "the guard must still hold R");
    let other_got_it = std::thread::scope(|s| s.spawn(|| r.try_lock().is_some()).join().unwrap());
    assert!(!other_got_it, "another thread took R while its guard lives");
    assert_eq!(*g, 0);
    drop(ga);
    drop(g);
    assert!(!r.is_locked());
    println!("RELOCK-OK");
}

/// In the child: an AB/BA deadlock between two reentrant mutexes, A -> B recorded first. The
/// thread taking A under B is told about the inversion and then really blocks: it must give
/// up after `LOCKDEP_DEADLOCK_TIMEOUT` (1 s) with a panic, which frees B for the other thread.
fn abba_gives_up_after_the_timeout() {
    let a = Arc::new(ReentrantMutex::named("refault TA", ()));
    let b = Arc::new(ReentrantMutex::named("refault TB", ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let both = Arc::new(Barrier::new(2));
    let first = {
        let (a, b, both) = (a.clone(), b.clone(), both.clone());
        std::thread::spawn(move || {
            let _a = a.lock();
            both.wait();
            let _b = b.lock();
        })
    };
    let second = std::thread::spawn(move || {
        let _b = b.lock();
        both.wait();
        std::thread::sleep(Duration::from_millis(50));
        let _a = a.lock();
    });
    let gave_up = second.join().map_err(|p| panic_text(&*p));
    let gave_up = gave_up.expect_err("B then A must give up");
    assert!(gave_up.contains("deadlock"), "{gave_up}");
    first.join().expect("A then B completes once B is freed");
    println!("TIMEOUT-OK");
}

#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("relock") => relock_that_panics_keeps_the_level(),
        Ok("timeout") => abba_gives_up_after_the_timeout(),
        _ => {}
    }
}

#[test]
fn a_relock_whose_validation_panics_still_takes_the_level_back() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (out, err, finished) = run_child(CHILD, "relock", &[]);
    assert!(finished, "the child hung:\n{out}\n{err}");
    assert!(out.contains("RELOCK-OK"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("possible circular locking dependency"),
        "{err}"
    );
}

#[test]
fn a_reentrant_abba_deadlock_gives_up_after_the_timeout() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (out, err, finished) = run_child(CHILD, "timeout", &[("LOCKDEP_DEADLOCK_TIMEOUT", "1")]);
    assert!(
        finished,
        "the child hung (no deadlock timeout):\n{out}\n{err}"
    );
    assert!(out.contains("TIMEOUT-OK"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("waited"), "{err}");
    // The panic points at the user's `lock()`, not into lockdep.
    assert!(err.contains("tests/reentrant_faults.rs:"), "{err}");
    assert!(
        !err.contains("panicked at lockdep-rs/src/reentrant.rs"),
        "{err}"
    );
}

struct RelockOnUnwind<'a>(&'a ReentrantMutex<u32>, &'a Mutex<()>);

impl Drop for RelockOnUnwind<'_> {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        ReentrantMutexGuard::unlocked(&mut g, || {});
        let _b = self.1.lock(); // R -> B, while the thread unwinds
    }
}

/// A level taken back while the thread unwinds from an unrelated panic is validated and
/// recorded like any (it was left unrecorded, so R -> B went unseen and B -> R unreported).
#[test]
fn a_relock_while_unwinding_is_recorded() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let r = ReentrantMutex::named("refault UR", 0u32);
    let b = Mutex::named("refault UB", ());
    let (_, reports) = lockdep::capture(|| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _relock = RelockOnUnwind(&r, &b);
            panic!("an unrelated panic (expected by the test)");
        }));
        let _b = b.lock();
        let _r = r.lock(); // B -> R
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), lockdep::ReportKind::CircularDependency);
}
