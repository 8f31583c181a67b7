//! The rest of parking_lot 0.12's lock API (issue 16, second part): the guards' lock accessors,
//! the raw locks of the safe locks and `make_*_guard_unchecked`, `const_new` / `from_raw`, the
//! arc guards' `unlocked*` / `bump` and upgrades, and the two limits removed (a reentrant
//! mutex's outer guard dropped first; a second upgradable read by the upgradable holder).
//! Each with the exact report kinds and classes; every lock is `named` (or its class is
//! checked by name), so class names are unique to the test.
#![cfg(all(lockdep_enabled, not(loom)))] // the drop-in API beyond the basic locks is not built under loom
#![allow(unsafe_code)] // the raw locks and `make_*_guard_unchecked` are `unsafe` in lock_api too

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lockdep::lock_api::{RawMutex as _, RawRwLock as _, RawRwLockUpgrade as _};
use lockdep::{
    capture, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
    ArcRwLockWriteGuard, FairMutex, FairMutexGuard, MappedReentrantMutexGuard, Mutex, MutexGuard,
    RawMutex, RawRwLock, RawThreadId, ReentrantMutex, ReentrantMutexGuard, Report, ReportKind,
    RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` (which records an order) on a thread of its own, expecting no report.
fn on_other_thread(f: impl FnOnce() + Send) {
    thread::scope(|s| {
        s.spawn(|| {
            let (_, r) = capture(f);
            assert!(r.is_empty(), "{r:?}");
        })
        .join()
        .unwrap();
    });
}

// ---- the guards' lock accessors -------------------------------------------------------------

/// `MutexGuard::mutex`, `RwLock*Guard::rwlock` and `ReentrantMutexGuard::remutex` name the
/// lock the guard holds (the very instance: its validator handle says it is held).
#[test]
fn borrowed_guards_name_their_lock() {
    let m = Mutex::named("acc.M", 1);
    let f = FairMutex::named("acc.F", 2);
    let rw = RwLock::named("acc.RW", 3);
    let re = ReentrantMutex::named("acc.RE", 4);
    let (_, r) = capture(|| {
        let g = m.lock();
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
        assert!(MutexGuard::mutex(&g).is_held());
        let g = f.lock();
        assert!(std::ptr::eq(FairMutexGuard::mutex(&g), &f));
        drop(g);
        let g = rw.read();
        assert!(std::ptr::eq(RwLockReadGuard::rwlock(&g), &rw));
        drop(g);
        let g = rw.write();
        assert!(std::ptr::eq(RwLockWriteGuard::rwlock(&g), &rw));
        drop(g);
        let g = rw.upgradable_read();
        assert!(std::ptr::eq(RwLockUpgradableReadGuard::rwlock(&g), &rw));
        assert!(RwLockUpgradableReadGuard::rwlock(&g).is_held());
        drop(g);
        let g = re.lock();
        assert!(std::ptr::eq(ReentrantMutexGuard::remutex(&g), &re));
        assert!(ReentrantMutexGuard::remutex(&g).is_held());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- the raw locks of the safe locks ---------------------------------------------------------

/// A forgotten guard's lock released through `raw().unlock()`: the held state follows (the
/// raw lock is the mutex's own, validated: same class and instance), and nothing is reported.
#[test]
fn raw_unlock_releases_a_forgotten_guards_record() {
    let m = Mutex::named("raw.forgotten", 0);
    let rw = RwLock::named("raw.forgotten.rw", 0);
    let (_, r) = capture(|| {
        std::mem::forget(m.lock());
        assert!(m.is_held());
        unsafe { m.raw().unlock() };
        assert!(!m.is_held() && !m.is_locked());
        std::mem::forget(rw.read());
        unsafe { rw.raw().unlock_shared() };
        std::mem::forget(rw.write());
        unsafe { rw.raw().unlock_exclusive() };
        assert!(!rw.is_held() && !rw.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// Acquisitions through a safe lock's raw lock are validated as the lock's own: an AB/BA
/// inversion between a raw acquisition and a guard is reported with both classes.
#[test]
fn raw_acquisitions_are_validated_as_the_lock() {
    let a = Mutex::named("raw.A", ());
    let b = RwLock::named("raw.B", ());
    let (_, r) = capture(|| {
        unsafe { a.raw() }.lock(); // A, held through the raw lock
        let g = b.write(); // A -> B
        drop(g);
        unsafe { a.raw().unlock() };
        let _b = b.read();
        unsafe { a.raw() }.lock(); // B -> A
        unsafe { a.raw().unlock() };
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["raw.A", "raw.B"]);
}

/// `make_guard_unchecked` after `raw().lock()`: the guard takes the record over (one entry,
/// released once by the guard), also when another lock was taken on top meanwhile.
#[test]
fn make_guard_unchecked_takes_over_the_record() {
    let m = Mutex::named("mk.M", 1);
    let other = Mutex::named("mk.O", ());
    let (_, r) = capture(|| {
        unsafe { m.raw() }.lock();
        let o = other.lock();
        let mut g = unsafe { m.make_guard_unchecked() };
        *g += 1;
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
        assert!(other.is_held());
        drop(o);
        // A forgotten guard's lock, the same way.
        std::mem::forget(m.lock());
        drop(unsafe { m.make_guard_unchecked() });
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(*m.lock(), 2);
}

/// The reader-writer lock's `make_*_guard_unchecked` (borrowed and arc): each guard takes
/// over the record of the mode it names; an adopted upgradable guard upgrades like any.
#[test]
fn rwlock_make_guard_unchecked_in_every_mode() {
    let rw = Arc::new(RwLock::named("mk.RW", 0));
    let (_, r) = capture(|| {
        std::mem::forget(rw.read());
        drop(unsafe { rw.make_read_guard_unchecked() });
        rw.raw_lock_exclusive_for_test();
        let mut w = unsafe { rw.make_write_guard_unchecked() };
        *w += 1;
        drop(w);
        std::mem::forget(rw.upgradable_read());
        let u = unsafe { rw.make_upgradable_guard_unchecked() };
        let w = RwLockUpgradableReadGuard::upgrade(u);
        drop(w);
        assert!(!rw.is_held() && !rw.is_locked());

        std::mem::forget(rw.read_arc());
        drop(unsafe { rw.make_arc_read_guard_unchecked() });
        std::mem::forget(rw.write_arc());
        drop(unsafe { rw.make_arc_write_guard_unchecked() });
        std::mem::forget(rw.upgradable_read_arc());
        let u = unsafe { rw.make_upgradable_arc_guard_unchecked() };
        drop(ArcRwLockUpgradableReadGuard::upgrade(u));
        assert!(!rw.is_held() && !rw.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

trait RawExclusive {
    fn raw_lock_exclusive_for_test(&self);
}
impl<T> RawExclusive for RwLock<T> {
    fn raw_lock_exclusive_for_test(&self) {
        unsafe { self.raw() }.lock_exclusive();
    }
}

/// `ReentrantMutex::raw` and `make_guard_unchecked` (borrowed and arc).
#[test]
fn reentrant_raw_and_make_guard_unchecked() {
    let re = Arc::new(ReentrantMutex::named("mk.RE", 0));
    let (_, r) = capture(|| {
        std::mem::forget(re.lock());
        assert!(re.is_held());
        let g = unsafe { re.make_guard_unchecked() };
        assert!(re.is_held());
        drop(g);
        assert!(!re.is_held() && !re.is_locked());
        std::mem::forget(re.lock_arc());
        drop(unsafe { re.make_arc_guard_unchecked() });
        assert!(!re.is_held() && !re.is_locked());
        // The raw mutex is the lock's own (validated, not reentrant).
        unsafe { re.raw() }.lock();
        assert!(re.is_held() && re.is_locked());
        unsafe { re.raw().unlock() };
        assert!(!re.is_held() && !re.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- const_new / from_raw ----------------------------------------------------------------------

/// `const_new(raw, v)`: the raw lock's class if it was built with one (`named`), else the
/// construction site of the call (a raw lock made by `INIT` has no site of its own).
#[test]
fn const_new_keeps_a_raw_locks_class_or_takes_the_site() {
    let a: Mutex<()> = Mutex::const_new(RawMutex::named("cn.A"), ());
    let line = line!() + 1;
    let b: Mutex<()> = Mutex::from_raw(<RawMutex as lockdep::lock_api::RawMutex>::INIT, ());
    let c: RwLock<()> = RwLock::const_new(RawRwLock::named("cn.C"), ());
    let d: ReentrantMutex<()> = ReentrantMutex::const_new(RawMutex::named("cn.D"), RawThreadId, ());
    let (_, r) = capture(|| {
        {
            let _a = a.lock();
            let _d = d.lock(); // A -> D
        }
        {
            let _b = b.lock();
            let _c = c.write(); // B -> C
        }
        let _d = d.lock();
        let _a = a.lock(); // D -> A closes the cycle
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["cn.A", "cn.D"]);
    let site = format!("{}:{line}:", file!());
    let (_, r) = capture(|| {
        let _c = c.write();
        let _b = b.lock(); // C -> B closes B -> C
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    let names = sorted(r[0].class_names());
    assert_eq!(names[0], "cn.C");
    assert!(names[1].starts_with(&site), "{names:?}");
}

// ---- arc guards: unlocked, unlocked_fair, bump -----------------------------------------------

/// The arc read, write and upgradable guards' `unlocked*` release while the closure runs and
/// re-acquire after; `bump` keeps the lock held.
#[test]
fn arc_rwlock_guards_unlocked_and_bump() {
    let l = Arc::new(RwLock::named("arcu.L", 0));
    let (_, r) = capture(|| {
        let mut g = l.read_arc();
        ArcRwLockReadGuard::unlocked(&mut g, || assert!(!l.is_held() && !l.is_locked()));
        assert!(l.is_held());
        ArcRwLockReadGuard::unlocked_fair(&mut g, || assert!(!l.is_held()));
        ArcRwLockReadGuard::bump(&mut g);
        assert!(l.is_held());
        drop(g);
        let mut w = l.write_arc();
        ArcRwLockWriteGuard::unlocked(&mut w, || assert!(!l.is_locked()));
        ArcRwLockWriteGuard::unlocked_fair(&mut w, || assert!(!l.is_held()));
        ArcRwLockWriteGuard::bump(&mut w);
        *w += 1;
        assert!(l.is_held() && l.is_locked_exclusive());
        drop(w);
        let mut u = l.upgradable_read_arc();
        ArcRwLockUpgradableReadGuard::unlocked(&mut u, || assert!(!l.is_held()));
        ArcRwLockUpgradableReadGuard::unlocked_fair(&mut u, || assert!(!l.is_locked()));
        ArcRwLockUpgradableReadGuard::bump(&mut u);
        assert!(l.is_held());
        // Still the upgradable holder after the relock: upgrading works.
        *ArcRwLockUpgradableReadGuard::upgrade(u) += 1;
        assert!(!l.is_held() && !l.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(*l.read(), 2);
}

/// The arc guards' re-acquisition after `unlocked` is validated before the real relock:
/// holding `M` (taken after the lock) across it closes the cycle `L -> M -> L`.
#[test]
fn arc_guards_relock_is_validated() {
    let l = Arc::new(RwLock::named("arcv.L", ()));
    let m = Mutex::named("arcv.M", ());
    let mx = Arc::new(Mutex::named("arcv.X", ()));
    let n = Mutex::named("arcv.N", ());
    let (_, r) = capture(|| {
        let mut w = l.write_arc();
        let _m = m.lock(); // L -> M
        ArcRwLockWriteGuard::unlocked(&mut w, || {}); // M -> L at the re-acquisition
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["arcv.L", "arcv.M"]);
    let (_, r) = capture(|| {
        let mut g = mx.lock_arc();
        let _n = n.lock(); // X -> N
        lockdep::ArcMutexGuard::unlocked_fair(&mut g, || {}); // N -> X
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["arcv.N", "arcv.X"]);
}

/// A panic in the closure of an arc guard's `unlocked` leaves the lock relocked and owned by
/// the guard, which releases it once as it unwinds (no bad unlock, lock free afterwards).
#[test]
fn arc_unlocked_relocks_when_the_closure_panics() {
    let m = Arc::new(Mutex::named("arcp.M", ()));
    let l = Arc::new(RwLock::named("arcp.L", ()));
    let ((), r) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let mut g = m.lock_arc();
            lockdep::ArcMutexGuard::unlocked(&mut g, || panic!("in the closure"));
        }))
        .unwrap_err();
        catch_unwind(AssertUnwindSafe(|| {
            let mut g = l.write_arc();
            ArcRwLockWriteGuard::unlocked(&mut g, || panic!("in the closure"));
        }))
        .unwrap_err();
    });
    assert!(r.is_empty(), "{r:?}");
    assert!(!m.is_locked() && !m.is_held());
    assert!(!l.is_locked() && !l.is_held());
}

// ---- arc upgradable guard: upgrades -------------------------------------------------------------

/// `ArcRwLockUpgradableReadGuard::with_upgraded` is validated as a write acquisition (like
/// `upgrade`): a reader of `L` that waits for `M`, against an upgrader holding `M`, is a
/// cycle. Afterwards the entry is a reader's again (a recursive read under it is fine).
#[test]
fn arc_with_upgraded_is_a_write_acquisition() {
    let l = Arc::new(RwLock::named("awu.L", 0));
    let m = Mutex::named("awu.M", ());
    on_other_thread(|| {
        let _r = l.read();
        drop(m.lock()); // L(read) -> M
    });
    let (_, r) = capture(|| {
        let mut u = l.upgradable_read_arc();
        let g = m.lock();
        u.with_upgraded(|v| *v += 1); // M -> L(write): closes the cycle
        drop(g);
        let again = l.read_recursive();
        assert_eq!(*again, 1);
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["awu.L", "awu.M"]);
    assert!(!l.is_held());
}

/// `try_with_upgraded` (arc and borrowed) is a trylock: nothing validated, but while `f`
/// runs the held entry is a writer's: a lock `N` taken inside records `L(write) -> N`, so a
/// recursive reader of `L` that waits for `N` is a cycle (it would not be with `L(read) -> N`).
#[test]
fn try_with_upgraded_holds_the_lock_as_a_writer_while_f_runs() {
    for (arc, name) in [(true, "twu.arc"), (false, "twu.borrowed")] {
        let l = Arc::new(RwLock::named(
            if arc { "twu.arc.L" } else { "twu.borrowed.L" },
            0,
        ));
        let n = Mutex::named(name, ());
        let (_, r) = capture(|| {
            let ran = if arc {
                let mut u = l.upgradable_read_arc();
                u.try_with_upgraded(|v| {
                    *v += 1;
                    drop(n.lock()); // L(write) -> N
                })
            } else {
                let mut u = l.upgradable_read();
                u.try_with_upgraded(|v| {
                    *v += 1;
                    drop(n.lock());
                })
            };
            assert_eq!(ran, Some(()));
            assert!(!l.is_held());
        });
        assert!(r.is_empty(), "{r:?}");
        let (_, r) = capture(|| {
            let _n = n.lock();
            let _r = l.read_recursive(); // N -> L(recursive read): closes the cycle
        });
        assert_eq!(kinds(&r), [ReportKind::CircularDependency], "{name}");
        assert_eq!(r[0].class_names().len(), 2);
        assert_eq!(*l.read(), 1);
    }
}

/// The arc upgradable guard's timed upgrades are validated before they block; one that times
/// out (a reader is in) gives the guard back, a reader again, and leaves it usable.
#[test]
fn arc_timed_upgrades() {
    let l = Arc::new(RwLock::named("atu.L", 0));
    let m = Mutex::named("atu.M", ());
    on_other_thread(|| {
        let _r = l.read();
        drop(m.lock()); // L(read) -> M
    });
    let (_, r) = capture(|| {
        let u = l.upgradable_read_arc();
        let g = m.lock();
        let w = ArcRwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(50))
            .expect("no reader: upgraded");
        drop(g);
        drop(w);
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["atu.L", "atu.M"]);

    // A reader on another thread: the timed upgrades time out.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let l2 = l.clone();
    let reader = thread::spawn(move || {
        let _r = l2.read();
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    rx.recv().unwrap();
    let (_, r) = capture(|| {
        let u = l.upgradable_read_arc();
        let deadline = std::time::Instant::now() + Duration::from_millis(5);
        let mut u = ArcRwLockUpgradableReadGuard::try_upgrade_until(u, deadline)
            .expect_err("a reader is in: timed out");
        assert_eq!(
            u.try_with_upgraded_for(Duration::from_millis(5), |_| ()),
            None
        );
        let deadline = std::time::Instant::now() + Duration::from_millis(5);
        assert_eq!(u.try_with_upgraded_until(deadline, |_| ()), None);
        assert_eq!(u.try_with_upgraded(|_| ()), None);
        let again = l.read_recursive(); // a reader's entry: no self-deadlock
        drop(again);
        assert!(l.is_held());
        drop(u);
        assert!(!l.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    done_tx.send(()).unwrap();
    reader.join().unwrap();
    let (_, r) = capture(|| {
        let mut u = l.upgradable_read_arc();
        let got = u.try_with_upgraded_for(Duration::from_millis(50), |v| {
            *v += 1;
            *v
        });
        assert_eq!(got, Some(1));
        let r = ArcRwLockUpgradableReadGuard::downgrade(u);
        assert_eq!(*r, 1);
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- ReentrantMutex: levels, unlocked, arc and mapped guards -----------------------------------

/// Limit removed: the outer guard dropped before the inner one. The lock is held until its
/// last level goes (a lock taken meanwhile gets the edge `R -> M`, so `M -> R` is a cycle),
/// and the last guard's drop is no bad unlock.
#[test]
fn reentrant_outer_guard_dropped_first_keeps_the_lock_held() {
    let re = ReentrantMutex::named("reo.R", ());
    let m = Mutex::named("reo.M", ());
    let (_, r) = capture(|| {
        let outer = re.lock();
        let inner = re.lock();
        drop(outer);
        assert!(re.is_held());
        lockdep::assert_held(&inner);
        drop(m.lock()); // R -> M, with only the inner level held
        drop(inner);
        assert!(!re.is_held() && !re.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
    let (_, r) = capture(|| {
        let _m = m.lock();
        let _r = re.lock(); // M -> R closes the cycle
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["reo.M", "reo.R"]);
}

/// `unlocked` on a reentrant guard releases one level: with no other level the lock is free
/// while the closure runs (and its re-acquisition is validated); with another level it stays
/// held. Mapped, arc, fair and bump variants likewise keep the held state right.
#[test]
fn reentrant_unlocked_and_friends() {
    let re = Arc::new(ReentrantMutex::named("reu.R", 7));
    let m = Mutex::named("reu.M", ());
    let (_, r) = capture(|| {
        let mut g = re.lock();
        ReentrantMutexGuard::unlocked(&mut g, || assert!(!re.is_held() && !re.is_locked()));
        assert!(re.is_held());
        let mut inner = re.lock();
        ReentrantMutexGuard::unlocked_fair(&mut inner, || assert!(re.is_held()));
        ReentrantMutexGuard::bump(&mut inner);
        ReentrantMutexGuard::unlock_fair(inner);
        ReentrantMutexGuard::bump(&mut g);
        let mapped = ReentrantMutexGuard::try_map(g, |v| Some(v)).ok().unwrap();
        let mapped: MappedReentrantMutexGuard<'_, i32> =
            MappedReentrantMutexGuard::try_map_or_err(mapped, |v| Ok::<_, ()>(v))
                .ok()
                .unwrap();
        assert_eq!(*mapped, 7);
        let again = ReentrantMutexGuard::try_map_or_err(re.lock(), |_| Err::<&i32, _>("no"));
        let (again, e) = again.err().unwrap();
        assert_eq!(e, "no");
        drop(mapped);
        assert!(re.is_held());
        drop(again);
        assert!(!re.is_held());

        let mut a: ArcReentrantMutexGuard<RawMutex, RawThreadId, i32> = re.lock_arc();
        ArcReentrantMutexGuard::unlocked(&mut a, || assert!(!re.is_held()));
        ArcReentrantMutexGuard::unlocked_fair(&mut a, || assert!(!re.is_locked()));
        ArcReentrantMutexGuard::bump(&mut a);
        assert!(re.is_held());
        let b = re.lock_arc();
        ArcReentrantMutexGuard::unlock_fair(a);
        assert!(re.is_held());
        let back = ArcReentrantMutexGuard::into_arc_fair(b);
        assert!(!back.is_held() && !back.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
    let (_, r) = capture(|| {
        let mut g = re.lock();
        let _m = m.lock(); // R -> M
        ReentrantMutexGuard::unlocked(&mut g, || {}); // M -> R at the re-acquisition
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    assert_eq!(sorted(r[0].class_names()), ["reu.M", "reu.R"]);
}

// ---- a second upgradable read by the upgradable holder -------------------------------------------

/// Limit removed: an upgradable reader taking a second upgradable read of the same lock can
/// never succeed (upgradable reads exclude each other). It is caught as a certain
/// `upgrade` on a chain the fast path knows changes the entry's kind in place: afterwards the
/// entry is a writer's (a recursive read of the lock is then reported, where under the
/// upgradable reader it was allowed), and it is released once. Where the written chain is
/// not known (a lock held below), the upgrade is validated as a write acquisition though the
/// upgradable chain was warm.
#[test]
fn a_warm_upgrade_changes_the_entry_in_place_and_a_new_one_is_validated() {
    let l = RwLock::named("uprk.L", 0);
    let (timed_out, r) = capture(|| {
        for _ in 0..3 {
            let w = RwLockUpgradableReadGuard::upgrade(l.upgradable_read());
            drop(w); // [L upgradable] and [L write] now known to the fast path
        }
        let w = RwLockUpgradableReadGuard::upgrade(l.upgradable_read());
        assert!(l.is_held());
        // Timed: reported without a panic (a writer's entry), then times out for real.
        let again = l.try_read_recursive_for(Duration::from_millis(10));
        drop(w);
        again.is_none()
    });
    assert!(timed_out);
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    assert_eq!(r[0].class_names(), ["uprk.L"]);
    assert!(
        !l.is_held() && !l.is_locked(),
        "released once, by the write guard's drop"
    );

    // A chain the fast path does not know ([M, L write] after the warm [M, L upgradable]) is
    // validated, not changed in place: the validated chains grow by it. (`stats()` is
    // process-wide: other tests only add to it, so this can pass by luck, never fail by it.)
    let m = Mutex::named("uprk.M", ());
    let (_, r) = capture(|| {
        for _ in 0..3 {
            let _m = m.lock();
            drop(l.upgradable_read()); // [M, L upgradable]: warm
        }
        let before = lockdep::stats().chains;
        let _m = m.lock();
        drop(RwLockUpgradableReadGuard::upgrade(l.upgradable_read())); // [M, L write]: new
        assert!(
            lockdep::stats().chains > before,
            "the new chain was validated"
        );
    });
    assert!(r.is_empty(), "{r:?}");
    assert!(!l.is_held() && !m.is_held());
}

/// self-deadlock (`RecursiveLocking` on the class, then a panic) before the thread hangs,
/// through the safe lock, its arc guards and its raw lock. A timed second upgradable read is
/// reported without a panic (it times out). Not certain, and not caught: a plain reader taking
/// an upgradable read, or a thread whose upgradable read became a reader (`downgrade`).
#[test]
fn a_second_upgradable_read_by_the_holder_is_a_certain_self_deadlock() {
    let l = Arc::new(RwLock::named("up2.L", ()));
    let (out, r) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _u = l.upgradable_read();
            let _u2 = l.upgradable_read();
        }))
    });
    let text = panic_text(&*out.expect_err("a certain self-deadlock panics, not hangs"));
    assert!(text.contains("certain self-deadlock"), "{text}");
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    assert_eq!(r[0].class_names(), ["up2.L"]);
    assert!(!l.is_held() && !l.is_locked());

    let (out, r) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _u = l.upgradable_read_arc();
            let _u2 = l.upgradable_read_arc();
        }))
    });
    assert!(out.is_err());
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    let (out, r) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            unsafe { l.raw() }.lock_upgradable();
            let _guard = unsafe { l.make_upgradable_guard_unchecked() };
            unsafe { l.raw() }.lock_upgradable();
        }))
    });
    assert!(out.is_err());
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    assert!(!l.is_held() && !l.is_locked());

    // Timed: reported (possible recursive locking), no panic, and it times out.
    let (_, r) = capture(|| {
        let _u = l.upgradable_read();
        assert!(l
            .try_upgradable_read_for(Duration::from_millis(5))
            .is_none());
    });
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);

    // Not the upgradable holder: a reader (or a downgraded upgradable reader) may take an
    // upgradable read. Reported as possible recursive locking (a queued writer would block
    // it), and it succeeds.
    let (_, r) = capture(|| {
        let rd = l.read();
        let u = l.upgradable_read();
        drop(rd);
        let rd = RwLockUpgradableReadGuard::downgrade(u);
        let u = l.upgradable_read();
        drop(rd);
        drop(RwLockUpgradableReadGuard::upgrade(u));
        let w = l.write();
        let u = RwLockWriteGuard::downgrade_to_upgradable(w);
        let rd = RwLockUpgradableReadGuard::downgrade(u);
        let u = l.upgradable_read();
        drop((rd, u));
    });
    assert!(
        kinds(&r).iter().all(|k| *k == ReportKind::RecursiveLocking),
        "{r:?}"
    );
    assert!(!r.is_empty());
    assert!(!l.is_held() && !l.is_locked());
}
