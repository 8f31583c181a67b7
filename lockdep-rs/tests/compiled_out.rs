//! With validation compiled out (a release build, or the `disabled` feature) every type is its
//! parking_lot twin: same size, no validation, no reports. Run by
//! `cargo test -p lockdep --features disabled --test compiled_out` (the README's test command
//! does); with validation on this file is empty.
#![cfg(not(lockdep_enabled))]

use std::mem::size_of;

use lockdep::{Condvar, LockMap, Mutex, RwLock};

#[test]
fn same_size_as_parking_lot() {
    assert_eq!(
        size_of::<Mutex<u64>>(),
        size_of::<parking_lot::Mutex<u64>>()
    );
    assert_eq!(
        size_of::<Mutex<[u8; 3]>>(),
        size_of::<parking_lot::Mutex<[u8; 3]>>()
    );
    assert_eq!(
        size_of::<RwLock<u64>>(),
        size_of::<parking_lot::RwLock<u64>>()
    );
    assert_eq!(size_of::<Condvar>(), size_of::<parking_lot::Condvar>());
    assert_eq!(size_of::<LockMap>(), 0);
    assert_eq!(
        size_of::<lockdep::MutexGuard<'static, u64>>(),
        size_of::<parking_lot::MutexGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<lockdep::RwLockReadGuard<'static, u64>>(),
        size_of::<parking_lot::RwLockReadGuard<'static, u64>>()
    );
}

#[test]
fn no_validation_and_locks_still_work() {
    let a = Mutex::named("A", 1);
    let b = Mutex::named("B", 2);
    let (sum, reports) = lockdep::capture(|| {
        let x = {
            let ga = a.lock();
            let gb = b.lock();
            *ga + *gb
        };
        let gb = b.lock();
        let ga = a.lock(); // an inversion: not validated when compiled out
        x + *ga + *gb
    });
    assert_eq!(sum, 6);
    assert!(reports.is_empty());
    assert!(lockdep::take_reports().is_empty());
    assert!(!lockdep::is_validating());
    // Compiled out, lockdep cannot tell: `is_held` says yes (so `debug_assert!(m.is_held())`
    // agrees with `assert_held` in every build), `held_state` says it does not know.
    assert!(a.is_held());
    assert_eq!(lockdep::held_state(&a), None);
    lockdep::assert_not_held(&a);
    let rw = RwLock::new(5);
    assert_eq!(*rw.read() + *rw.read_recursive(), 10);
    *rw.write() += 1;
    assert_eq!(rw.into_inner(), 6);
    let m = Mutex::new(0);
    std::mem::forget(m.lock());
    // SAFETY: the guard was forgotten; this thread holds the lock.
    unsafe { m.force_unlock() };
    assert!(m.try_lock().is_some());
}

const CHILD: &str = "LOCKDEP_COMPILED_OUT_CHILD";

/// In the child: an AB/BA that validation would report.
#[test]
fn child_takes_two_orders() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let (a, b) = (Mutex::named("coA", ()), Mutex::named("coB", ()));
    drop((a.lock(), b.lock()));
    let _b = b.lock();
    let _a = a.lock();
}

/// Runs [`child_takes_two_orders`] with `LOCKDEP` set to `value`: its stderr and exit code.
fn run_child(value: &str) -> (String, Option<i32>) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_takes_two_orders", "--test-threads=1"])
        .env(CHILD, "1")
        .env("LOCKDEP", value)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// `LOCKDEP` set in a build without validation: one line says so, and nothing else of
/// lockdep's is printed; but `LOCKDEP=off` asks for no checks and gets none, silently (it
/// was told "no lock order is checked" in every test process of a run, as a warning).
#[test]
fn lockdep_set_without_validation_says_so_once_unless_off() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    for value in ["warn", "panic", "collect", "1"] {
        let (stderr, code) = run_child(value);
        assert_eq!(code, Some(0), "LOCKDEP={value}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("lockdep")).collect();
        assert_eq!(
            lines,
            [format!(
                "lockdep: LOCKDEP={value} is set, but validation is compiled out of this build \
                 (a release build without lockdep's `enabled` feature, or the `disabled` \
                 feature): no lock order is checked"
            )],
            "LOCKDEP={value}: {stderr}"
        );
    }
    for value in ["off", "OFF", " off "] {
        let (stderr, code) = run_child(value);
        assert_eq!(code, Some(0), "LOCKDEP={value:?}: {stderr}");
        assert!(!stderr.contains("lockdep"), "LOCKDEP={value:?}: {stderr}");
    }
}
