#![cfg(all(lockdep_enabled, not(loom)))]
//! A lock held by one thread (T) and dropped on another (U): T forgot its guard (or leaked
//! it, or never released a `LockMap` / never signalled an `Event`), and the last `Arc` of the
//! lock went on U. Each test pins the defect (it failed before its fix):
//!
//! - `validator::lock_freed` looked at U's held stack only: no `HeldLockFreed` at all, and T
//!   kept a dead entry for ever. Every later lock T took got a class edge from it (a false
//!   `CircularDependency` when the reverse order was seen elsewhere), T's exit reported
//!   `LocksHeldAtExit` for it, and a dead armed event made a false `CircularWait` against
//!   another event of its site.
//!
//! Now U reports it once (`HeldLockFreed`, "held by another thread or task") where it can
//! tell that someone holds the lock (the real lock is still locked; a `LockMap` or `Event`
//! counts its holders), and T's stack forgets the dead entry at its next slow-path visit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;

use lockdep::{Event, LockMap, Mutex, Report, ReportKind, RwLock};

mod common;

use common::{describe, kinds, run_self, watchdog};

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "FREED_ELSEWHERE_CHILD";

/// Thread T takes `lock` with `hold` and never lets it go; this thread (U) then drops the
/// last `Arc` of it; T then takes `x` and `y` (one under the other) and exits. Everything runs
/// inside one `capture` (T is a `lockdep::thread`, so its reports, those of its exit too, are
/// captured): the reports.
fn freed_on_another_thread<L: Send + Sync + 'static>(
    lock: Arc<L>,
    hold: impl FnOnce(&L) + Send,
    x: &Mutex<()>,
    y: &Mutex<()>,
) -> Vec<Report> {
    let ((), reports) = lockdep::capture(|| held_there_freed_here(lock, hold, drop, x, y));
    reports
}

/// The program of [`freed_on_another_thread`], uncaptured, with `free` dropping the last
/// `Arc` of the lock on U.
fn held_there_freed_here<L: Send + Sync + 'static>(
    lock: Arc<L>,
    hold: impl FnOnce(&L) + Send,
    free: impl FnOnce(Arc<L>),
    x: &Mutex<()>,
    y: &Mutex<()>,
) {
    let (held_tx, held_rx) = mpsc::channel();
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    lockdep::thread::scope(|s| {
        let mine = lock.clone();
        s.spawn(move || {
            hold(&mine);
            drop(mine);
            held_tx.send(()).unwrap();
            freed_rx.recv().unwrap();
            // The lock is gone: nothing T takes now is ordered after it.
            let _x = x.lock();
            let _y = y.lock();
        });
        held_rx.recv().unwrap();
        free(lock); // the last `Arc`: freed here, on U, while T holds it
        freed_tx.send(()).unwrap(); // (before any assertion: T must not wait for ever)
    });
}

/// Exactly one report: `HeldLockFreed` of class `class`, found by U, naming no holder thread
/// of its own but saying another one holds it.
#[track_caller]
fn expect_freed_elsewhere(what: &str, reports: &[Report], class: &str) {
    assert_eq!(
        kinds(reports),
        [ReportKind::HeldLockFreed],
        "{what}: {}",
        describe(reports)
    );
    assert_eq!(reports[0].class_names(), [class], "{what}");
    let text = reports[0].to_string();
    assert!(
        text.contains("held by another thread or task"),
        "{what}: {text}"
    );
}

#[test]
fn a_mutex_forgotten_on_one_thread_and_freed_on_another_is_reported_once_and_forgotten() {
    let _dog = watchdog("a_mutex_forgotten_on_one_thread_and_freed_on_another", 60);
    let m = Arc::new(Mutex::named("fe.mutex.m", ()));
    let (x, y) = (
        Mutex::named("fe.mutex.x", ()),
        Mutex::named("fe.mutex.y", ()),
    );
    // Elsewhere, X before M: had T's dead entry of M stayed, its `X` would close a cycle.
    drop((x.lock(), m.lock()));
    let reports = freed_on_another_thread(m, |m| std::mem::forget(m.lock()), &x, &y);
    expect_freed_elsewhere("mutex", &reports, "fe.mutex.m");
}

#[test]
fn an_rwlock_read_guard_forgotten_on_one_thread_and_freed_on_another() {
    let _dog = watchdog("an_rwlock_read_guard_forgotten_on_one_thread", 60);
    let l = Arc::new(RwLock::named("fe.rw.l", ()));
    let (x, y) = (Mutex::named("fe.rw.x", ()), Mutex::named("fe.rw.y", ()));
    drop((x.lock(), l.write()));
    let reports = freed_on_another_thread(l, |l| std::mem::forget(l.read()), &x, &y);
    expect_freed_elsewhere("rwlock read", &reports, "fe.rw.l");
}

#[test]
fn a_lock_map_acquired_on_one_thread_and_freed_on_another() {
    let _dog = watchdog("a_lock_map_acquired_on_one_thread", 60);
    let lm = Arc::new(LockMap::new("fe.map.lm"));
    let (x, y) = (Mutex::named("fe.map.x", ()), Mutex::named("fe.map.y", ()));
    {
        let _x = x.lock();
        lm.acquire();
        lm.release();
    }
    let reports = freed_on_another_thread(lm, |lm| lm.acquire(), &x, &y);
    expect_freed_elsewhere("lock map", &reports, "fe.map.lm");
}

/// Events of one site: one class.
fn site_event() -> Arc<Event> {
    Arc::new(Event::new("fe.event"))
}

#[test]
fn an_armed_event_freed_on_another_thread_is_forgotten_unreported() {
    let _dog = watchdog("an_armed_event_freed_on_another_thread", 60);
    let (e1, e2) = (site_event(), site_event());
    let (x, y) = (
        Mutex::named("fe.event.x", ()),
        Mutex::named("fe.event.y", ()),
    );
    let (armed_tx, armed_rx) = mpsc::channel();
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            let mine = e1.clone();
            let e2 = &e2;
            let (x, y) = (&x, &y);
            s.spawn(move || {
                mine.arm(); // never signalled: its armed span ends with the event
                drop(mine);
                armed_tx.send(()).unwrap();
                freed_rx.recv().unwrap();
                // Waiting for another event of the site: with the dead event still armed
                // here, a wait for an event of its own class (a false `CircularWait`).
                e2.wait();
                let _x = x.lock();
                let _y = y.lock();
            });
            armed_rx.recv().unwrap();
            drop(e1); // freed here while T has it armed: not reported (as on its own thread)
            freed_tx.send(()).unwrap();
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

#[test]
fn an_armed_event_freed_on_its_own_thread_still_leaves_another_thread_clean() {
    // T arms it, U arms it too and drops it (its own entry goes, unreported): T's goes as well.
    let _dog = watchdog("an_armed_event_freed_on_its_own_thread", 60);
    let (e1, e2) = (site_event(), site_event());
    let (armed_tx, armed_rx) = mpsc::channel();
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            let mine = e1.clone();
            let e2 = &e2;
            s.spawn(move || {
                mine.arm();
                drop(mine);
                armed_tx.send(()).unwrap();
                freed_rx.recv().unwrap();
                e2.wait();
            });
            armed_rx.recv().unwrap();
            e1.arm();
            drop(e1);
            freed_tx.send(()).unwrap();
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

#[test]
fn a_lock_dropped_on_another_thread_with_no_holder_is_silent() {
    let _dog = watchdog("a_lock_dropped_on_another_thread_with_no_holder", 60);
    let m = Arc::new(Mutex::named("fe.plain.m", ()));
    let l = Arc::new(RwLock::named("fe.plain.l", ()));
    let lm = Arc::new(LockMap::new("fe.plain.lm"));
    let ev = Arc::new(Event::new("fe.plain.ev"));
    let (x, y) = (
        Mutex::named("fe.plain.x", ()),
        Mutex::named("fe.plain.y", ()),
    );
    let (done_tx, done_rx) = mpsc::channel();
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            let (m2, l2, lm2, ev2) = (m.clone(), l.clone(), lm.clone(), ev.clone());
            let (x, y) = (&x, &y);
            s.spawn(move || {
                drop(m2.lock());
                drop(l2.read());
                drop(l2.write());
                lm2.acquire();
                lm2.release();
                ev2.arm();
                ev2.signal();
                drop((m2, l2, lm2, ev2));
                done_tx.send(()).unwrap();
                freed_rx.recv().unwrap();
                let _x = x.lock();
                let _y = y.lock();
            });
            done_rx.recv().unwrap();
            drop((m, l, lm, ev));
            freed_tx.send(()).unwrap();
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

#[test]
fn a_guard_forgotten_and_freed_on_its_own_thread_is_still_reported_as_before() {
    let _dog = watchdog("a_guard_forgotten_and_freed_on_its_own_thread", 60);
    let m = Mutex::named("fe.own.m", ());
    let ((), reports) = lockdep::capture(|| {
        std::mem::forget(m.lock());
        drop(m);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::HeldLockFreed],
        "{}",
        describe(&reports)
    );
    let text = reports[0].to_string();
    assert!(text.contains("that it still holds"), "{text}");
}

#[test]
fn a_lock_left_held_by_an_exited_thread_is_reported_once_at_its_exit_not_again_when_freed() {
    let _dog = watchdog("a_lock_left_held_by_an_exited_thread", 60);
    let m = Arc::new(Mutex::named("fe.exited.m", ()));
    let ((), reports) = lockdep::capture(|| {
        let mine = m.clone();
        lockdep::thread::spawn(move || std::mem::forget(mine.lock()))
            .join()
            .unwrap();
        drop(m); // still locked: its holder leaked it, and is gone
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::LocksHeldAtExit],
        "{}",
        describe(&reports)
    );
}

/// In `Panic` mode (a child process: the mode is process-wide) the free on U panics there, as
/// a lock freed by its own holder does; T goes on, takes its locks and exits, silently (a
/// report on T would panic it, and one at its exit would fail the run).
#[test]
fn in_panic_mode_the_free_panics_on_the_freeing_thread_only() {
    const NAME: &str = "in_panic_mode_the_free_panics_on_the_freeing_thread_only";
    if common::in_self_child(CHILD, NAME) {
        lockdep::set_mode(lockdep::Mode::Panic);
        let m = Arc::new(Mutex::named("fe.panic.m", ()));
        let (x, y) = (
            Mutex::named("fe.panic.x", ()),
            Mutex::named("fe.panic.y", ()),
        );
        drop((x.lock(), m.lock()));
        let mut freed = None;
        let hold = |m: &Mutex<()>| std::mem::forget(m.lock());
        let free = |m| freed = Some(catch_unwind(AssertUnwindSafe(|| drop(m))));
        held_there_freed_here(m, hold, free, &x, &y);
        let p = freed.expect("freed").expect_err("the free panics");
        let text = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(text.contains("held lock freed"), "{text}");
        assert!(text.contains("(fe.panic.m)"), "{text}");
        return;
    }
    let _dog = watchdog(NAME, 60);
    let (stdout, stderr, code) = run_self(CHILD, NAME);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("still has locks held at exit"), "{stderr}");
    assert!(!stderr.contains("circular"), "{stderr}");
    // The one report panicked (Panic mode's action): nothing is left to fail the run.
    assert_eq!(code, Some(0), "{stderr}");
}
