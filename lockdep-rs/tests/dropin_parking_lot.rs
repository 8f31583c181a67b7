//! The drop-in parking_lot surface: each semantic rule of issue 16, with the exact report kind
//! and classes (every lock is `named`, so class names are known and unique to the test).
#![cfg(all(lockdep_enabled, not(loom)))] // the drop-in API beyond the basic locks is not built under loom

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lockdep::lock_api;
use lockdep::{
    capture, Condvar, FairMutex, MappedMutexGuard, Mutex, MutexGuard, Once, ReentrantMutex, Report,
    ReportKind, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// T1 holds a reader of L and waits for M; the upgrader holds M and upgrades L, which waits
/// for the reader to leave: reported at the upgrade, validated as a write acquisition.
#[test]
fn upgrade_is_a_write_acquisition_against_readers() {
    let l = RwLock::named("up.L", 0);
    let m = Mutex::named("up.M", ());
    thread::scope(|s| {
        s.spawn(|| {
            let (_, r) = capture(|| {
                let _r = l.read();
                let _m = m.lock(); // L(read) -> M
            });
            assert!(r.is_empty(), "{r:?}");
        })
        .join()
        .unwrap();
    });
    let (_, r) = capture(|| {
        let u = l.upgradable_read();
        let _m = m.lock(); // L(upgradable, a reader) -> M: no cycle yet
        let w = RwLockUpgradableReadGuard::upgrade(u); // M -> L(write): closes the cycle
        assert!(l.is_held());
        drop(w);
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["up.L", "up.M"]);
    assert!(!l.is_held());
}

/// An upgradable reader does not exclude readers: a recursive read under it is no problem,
/// and neither is a reader of another thread.
#[test]
fn upgradable_read_coexists_with_readers() {
    let l = RwLock::named("upr.L", 1);
    let (_, r) = capture(|| {
        let u = l.upgradable_read();
        let r2 = l.read_recursive();
        assert_eq!(*u + *r2, 2);
        thread::scope(|s| {
            s.spawn(|| assert_eq!(*l.try_read().expect("readers coexist"), 1));
        });
    });
    assert!(r.is_empty(), "{r:?}");
}

/// `downgrade` changes the held entry's kind in place: after it, a recursive read of the same
/// lock is allowed (it would be a certain self-deadlock under a write entry).
#[test]
fn downgrade_changes_the_entry_in_place() {
    let l = RwLock::named("down.L", 5);
    let (_, r) = capture(|| {
        let w = l.write();
        let rd = RwLockWriteGuard::downgrade(w);
        let again = l.read_recursive();
        assert_eq!(*rd + *again, 10);
        drop(again);
        drop(rd);
        let w = l.write();
        let u = RwLockWriteGuard::downgrade_to_upgradable(w);
        let again = l.read_recursive();
        drop(again);
        let w = RwLockUpgradableReadGuard::upgrade(u);
        drop(w);
    });
    assert!(r.is_empty(), "{r:?}");
    assert!(!l.is_held());
}

/// A timed acquisition is validated before it blocks, like `lock()`: the inversion is
/// reported even though the timeout would end the wait.
#[test]
fn timed_acquisitions_are_validated_before_blocking() {
    let a = Mutex::named("timed.A", ());
    let b = RwLock::named("timed.B", ());
    let (_, r) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.try_write_for(Duration::from_millis(50)).unwrap();
        }
        let _b = b.try_read_for(Duration::from_millis(50)).unwrap();
        let _a = a.try_lock_for(Duration::from_millis(50)).unwrap();
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["timed.A", "timed.B"]);
}

/// A timed acquisition that times out, and a failed try, leave no held lock behind.
#[test]
fn a_failed_timed_or_try_acquisition_leaves_no_trace() {
    let m = Arc::new(Mutex::named("fail.M", ()));
    let rw = Arc::new(RwLock::named("fail.RW", ()));
    let (m2, rw2) = (m.clone(), rw.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let _g = m2.lock();
        let _w = rw2.write();
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    rx.recv().unwrap();
    let (_, r) = capture(|| {
        assert!(m.try_lock_for(Duration::from_millis(5)).is_none());
        assert!(m.try_lock().is_none());
        assert!(rw
            .try_upgradable_read_for(Duration::from_millis(5))
            .is_none());
        assert!(rw.try_read_recursive().is_none());
        assert!(!m.is_held() && !rw.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    done_tx.send(()).unwrap();
    holder.join().unwrap();
}

/// A mapped guard keeps the lock held and releases it exactly once (no bad-unlock report).
#[test]
fn mapped_and_arc_guards_release_exactly_once() {
    let m = Mutex::named("map.M", (1, 2));
    let arc = Arc::new(RwLock::named("map.RW", vec![1]));
    let (_, r) = capture(|| {
        let g = m.lock();
        let mut first: MappedMutexGuard<'_, i32> = MutexGuard::map(g, |p| &mut p.0);
        *first += 1;
        assert!(m.is_held());
        drop(first);
        assert!(!m.is_held());
        let w = arc.write_arc();
        assert!(arc.is_held());
        let rd = lockdep::ArcRwLockWriteGuard::downgrade(w);
        assert_eq!(rd.len(), 1);
        drop(rd);
        assert!(!arc.is_held());
        let u = arc.upgradable_read_arc();
        let mut w = lockdep::ArcRwLockUpgradableReadGuard::upgrade(u);
        w.push(2);
        drop(w);
        assert!(!arc.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(m.lock().0, 2);
}

/// `unlocked` releases while the closure runs and re-acquires (validated) after; `bump`
/// keeps the lock held; the held state says so.
#[test]
fn unlocked_and_bump_release_and_reacquire() {
    let m = FairMutex::named("unl.M", 0);
    let other = Mutex::named("unl.O", ());
    let (_, r) = capture(|| {
        let mut g = m.lock();
        lockdep::FairMutexGuard::unlocked_fair(&mut g, || {
            assert!(!m.is_held());
            let _o = other.lock(); // not under M: no M -> O edge
        });
        assert!(m.is_held());
        lockdep::FairMutexGuard::bump(&mut g);
        assert!(m.is_held());
        drop(g);
        // O -> M is no inversion: M -> O was never recorded.
        let _o = other.lock();
        let _g = m.lock();
    });
    assert!(r.is_empty(), "{r:?}");
}

/// `ReentrantMutex`: the holder's re-acquisition is not recursion; ordering against other
/// classes is tracked as for a mutex.
#[test]
fn reentrant_reacquisition_is_not_recursion_but_order_is_tracked() {
    let re = ReentrantMutex::named("re.R", ());
    let m = Mutex::named("re.M", ());
    let (_, r) = capture(|| {
        let _a = re.lock();
        let _b = re.lock(); // the holder again: no report
        let _m = m.lock(); // R -> M
    });
    assert!(r.is_empty(), "{r:?}");
    let (_, r) = capture(|| {
        let _m = m.lock();
        let _a = re.lock(); // M -> R closes the cycle
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["re.M", "re.R"]);
}

/// `Once::call_once` waiting on another thread's initializer is a wait on an event: an
/// initializer that needs a lock the waiter holds is a `CircularWait`. Two `Once`s of one
/// construction site share the event's class, so the two sides are seen without a real hang.
#[test]
fn once_waiting_on_an_initializer_is_a_circular_wait() {
    fn make() -> Once {
        Once::new()
    }
    let (first, second) = (make(), make());
    let state = Mutex::named("once.state", ());
    let (_, r) = capture(|| {
        first.call_once(|| drop(state.lock())); // the initializer needs `state`
        let _held = state.lock();
        second.call_once(|| {}); // may wait for an initializer while holding `state`
    });
    assert_eq!(kinds(&r), [ReportKind::CircularWait]);
    assert!(
        r[0].class_names().contains(&"once.state".to_string()),
        "{:?}",
        r[0].class_names()
    );
    assert!(first.state().done() && second.state().done());
}

/// `call_once` reached again from its own initializer waits for itself (parking_lot hangs):
/// a certain self-deadlock, reported and stopped with a panic.
#[test]
fn a_reentrant_call_once_is_stopped_not_hung() {
    static ONCE: Once = Once::new();
    fn run_once() {
        ONCE.call_once(run_once);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let caught = capture(|| std::panic::catch_unwind(run_once));
        let _ = tx.send(caught);
    });
    let (outcome, r) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a re-entrant call_once hung");
    let payload = outcome.expect_err("it must panic");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("certain self-deadlock"), "{text}");
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    assert_eq!(
        r[0].class_names(),
        ["Once at lockdep-rs/tests/dropin_parking_lot.rs:238:25"]
    );
}

/// A Condvar timed wait releases the mutex while it sleeps and holds it again after.
#[test]
fn condvar_timed_wait_keeps_the_held_state_right() {
    let m = Mutex::named("cv.M", false);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        let mut g = m.lock();
        let res = cv.wait_for(&mut g, Duration::from_millis(1));
        assert!(res.timed_out());
        assert!(m.is_held());
        let res = cv.wait_while_for(&mut g, |ready| !*ready, Duration::from_millis(1));
        assert!(res.timed_out());
        assert!(m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// Code generic over lock_api, instantiated with lockdep's raw locks, is validated. A raw
/// lock has no construction site: each instance is its own class (`RawMutex#id`), unless
/// built with `RawMutex::named`.
#[test]
fn lock_api_locks_on_lockdep_raw_locks_are_validated() {
    type Raw<T> = lock_api::Mutex<lockdep::RawMutex, T>;
    let a: Raw<()> = Raw::new(());
    let b: lock_api::RwLock<lockdep::RawRwLock, ()> = lock_api::RwLock::new(());
    let (_, r) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.write();
        }
        let _b = b.read();
        let _a = a.lock();
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    let names = r[0].class_names();
    assert!(
        names.iter().any(|n| n.starts_with("RawMutex#")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("RawRwLock#")),
        "{names:?}"
    );

    let x: Raw<i32> = lock_api::Mutex::const_new(lockdep::RawMutex::named("raw.X"), 0);
    let y: Raw<i32> = lock_api::Mutex::const_new(lockdep::RawMutex::named("raw.Y"), 0);
    let (_, r) = capture(|| {
        {
            let _x = x.lock();
            let _y = y.try_lock().unwrap(); // a trylock: no X -> Y edge
        }
        let _y = y.lock();
        let _x = x.lock();
    });
    assert!(r.is_empty(), "{r:?}");
}

/// Guards print their data (`Display`), as parking_lot's.
#[test]
fn guards_display_their_data() {
    let m = Mutex::named("disp.M", 7);
    let rw = RwLock::named("disp.RW", "x");
    assert_eq!(m.lock().to_string(), "7");
    assert_eq!(rw.read().to_string(), "x");
    assert_eq!(rw.upgradable_read().to_string(), "x");
    assert_eq!(format!("{:?}", m.lock()), "7");
}
