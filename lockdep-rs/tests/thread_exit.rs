//! A thread that exits while holding a lock (its guard leaked with `mem::forget`) gets a
//! `LocksHeldAtExit` report of its own, raised on the exiting thread while its thread-locals
//! are destroyed — outside any `capture`, so it goes to the global collection and to the
//! report hook.
//!
//! This binary holds a single test: it sets the global mode and the global report hook.
#![cfg(lockdep_enabled)]

mod common;

use std::sync::Mutex as StdMutex;
use std::thread;

use common::{watchdog, Scope};
use lockdep::{Mode, Mutex, ReportKind, RwLock};

type Seen = Vec<(ReportKind, Vec<String>)>;

static SEEN: StdMutex<Seen> = StdMutex::new(Vec::new());

fn seen() -> Seen {
    std::mem::take(&mut *SEEN.lock().unwrap_or_else(|e| e.into_inner()))
}

fn collected() -> Seen {
    lockdep::take_reports()
        .iter()
        .map(|r| (r.kind(), r.class_names()))
        .collect()
}

#[track_caller]
fn expect_exit_report(what: &str, got: &Seen, names: &[String]) {
    assert_eq!(got.len(), 1, "{what}: expected one report, got {got:?}");
    assert_eq!(got[0].0, ReportKind::LocksHeldAtExit, "{what}: {got:?}");
    for n in names {
        assert!(got[0].1.contains(n), "{what}: {n:?} not named: {got:?}");
    }
}

#[test]
fn thread_exit_with_held_locks() {
    let _w = watchdog("thread_exit_with_held_locks", 60);
    lockdep::set_mode(Mode::Collect);
    lockdep::set_report_hook(Some(Box::new(|r| {
        SEEN.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((r.kind(), r.class_names()))
    })));
    let _ = lockdep::take_reports();
    let _ = seen();

    let s = Scope::new("thread_exit");
    let a: &'static Mutex<()> = Box::leak(Box::new(s.mutex("A")));
    let b: &'static Mutex<()> = Box::leak(Box::new(s.mutex("B")));
    let c: &'static RwLock<()> = Box::leak(Box::new(s.rwlock("C")));
    let d: &'static Mutex<()> = Box::leak(Box::new(s.mutex("D")));

    // A thread that releases everything it took exits silently.
    thread::spawn(move || {
        let _ga = a.lock();
        let _gc = c.read();
    })
    .join()
    .unwrap();
    assert_eq!(seen(), vec![], "clean exit: hook");
    assert_eq!(collected(), vec![], "clean exit: collection");

    // A leaked mutex guard.
    thread::spawn(move || std::mem::forget(b.lock()))
        .join()
        .unwrap();
    let names = s.names(&["B"]);
    expect_exit_report("leaked mutex guard: hook", &seen(), &names);
    expect_exit_report("leaked mutex guard: collection", &collected(), &names);

    // Two leaked guards (a read guard and a mutex guard) on one thread: one report naming
    // both.
    thread::spawn(move || {
        std::mem::forget(c.read());
        std::mem::forget(d.lock());
    })
    .join()
    .unwrap();
    let names = s.names(&["C", "D"]);
    expect_exit_report("two leaked guards: hook", &seen(), &names);
    expect_exit_report("two leaked guards: collection", &collected(), &names);

    lockdep::set_report_hook(None);
}
