//! Review of rarely used paths of the parking_lot drop-in API: the held-state bookkeeping
//! (`is_held`) around `unlocked*`, `bump`, `leak` + `force_unlock*`, mapped and arc guards,
//! timed acquisitions, lock_api locks on lockdep's raw locks, and panics in closures.
#![cfg(all(lockdep_enabled, not(loom)))]
#![allow(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lockdep::lock_api::{self, RawMutex as _};
use lockdep::{
    capture, ArcMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard,
    Condvar, FairMutex, FairMutexGuard, MappedMutexGuard, Mutex, MutexGuard, RawMutex,
    ReentrantMutex, ReentrantMutexGuard, Report, ReportKind, RwLock,
};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Holds `m` on another thread for `hold`, signalling once it has it.
fn hold_elsewhere<T: Send + 'static>(m: &Arc<Mutex<T>>, hold: Duration) -> thread::JoinHandle<()> {
    let m = m.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        let _g = m.lock();
        tx.send(()).unwrap();
        thread::sleep(hold);
    });
    rx.recv().unwrap();
    h
}

// ---- unlocked / bump / unlock_fair --------------------------------------------------------------

#[test]
fn unlocked_releases_while_the_closure_runs() {
    let m = Mutex::named("pr.unl.M", 0);
    let f = FairMutex::named("pr.unl.F", 0);
    let (_, r) = capture(|| {
        let mut g = m.lock();
        MutexGuard::unlocked(&mut g, || {
            assert!(!m.is_held() && !m.is_locked());
        });
        assert!(m.is_held() && m.is_locked());
        MutexGuard::unlocked_fair(&mut g, || assert!(!m.is_held()));
        assert!(m.is_held());
        MutexGuard::bump(&mut g);
        assert!(m.is_held());
        *g += 1;
        drop(g);
        assert!(!m.is_held() && !m.is_locked());

        let mut g = f.lock();
        FairMutexGuard::unlocked_fair(&mut g, || assert!(!f.is_held() && !f.is_locked()));
        FairMutexGuard::bump(&mut g);
        assert!(f.is_held());
        FairMutexGuard::unlock_fair(g);
        assert!(!f.is_held() && !f.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// A panic in `unlocked`'s closure, caught by the guard's owner: lock_api relocks before the
/// panic leaves `unlocked`, so the guard (still alive) holds the lock again. lockdep must
/// record it as held again too (and release it once when the guard drops).
#[test]
fn unlocked_closure_panic_caught_guard_still_held() {
    let m = Mutex::named("pr.unlp.M", 0);
    let n = Mutex::named("pr.unlp.N", 0);
    let (_, r) = capture(|| {
        let mut g = m.lock();
        catch_unwind(AssertUnwindSafe(|| {
            MutexGuard::unlocked(&mut g, || panic!("in the closure"))
        }))
        .unwrap_err();
        assert!(m.is_locked());
        assert!(
            m.is_held(),
            "the guard holds M again, but lockdep says it is not held"
        );
        let _n = n.lock(); // M -> N
        drop(_n);
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn arc_unlocked_closure_panic_caught_guard_still_held() {
    let m = Arc::new(Mutex::named("pr.aunlp.M", 0));
    let (_, r) = capture(|| {
        let mut g = m.lock_arc();
        catch_unwind(AssertUnwindSafe(|| {
            ArcMutexGuard::unlocked(&mut g, || panic!("in the closure"))
        }))
        .unwrap_err();
        assert!(m.is_locked());
        assert!(
            m.is_held(),
            "the arc guard holds M again, but lockdep says it is not held"
        );
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn rwlock_unlocked_closure_panic_caught_guard_still_held() {
    let l = RwLock::named("pr.rwunlp.L", 0);
    let (_, r) = capture(|| {
        let mut w = l.write();
        catch_unwind(AssertUnwindSafe(|| {
            lockdep::RwLockWriteGuard::unlocked(&mut w, || panic!("in the closure"))
        }))
        .unwrap_err();
        assert!(l.is_locked());
        assert!(
            l.is_held(),
            "the write guard holds L again, but lockdep says it is not held"
        );
        drop(w);
        let mut u = l.upgradable_read();
        catch_unwind(AssertUnwindSafe(|| {
            lockdep::RwLockUpgradableReadGuard::unlocked(&mut u, || panic!("in the closure"))
        }))
        .unwrap_err();
        assert!(
            l.is_held(),
            "the upgradable guard holds L again, but lockdep says it is not held"
        );
        let w = lockdep::RwLockUpgradableReadGuard::upgrade(u);
        drop(w);
        assert!(!l.is_held() && !l.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn reentrant_unlocked_closure_panic_caught_guard_still_held() {
    let m = ReentrantMutex::named("pr.runlp.M", 0);
    let (_, r) = capture(|| {
        let mut g = m.lock();
        catch_unwind(AssertUnwindSafe(|| {
            ReentrantMutexGuard::unlocked(&mut g, || panic!("in the closure"))
        }))
        .unwrap_err();
        assert!(m.is_locked() && m.is_held());
        ReentrantMutexGuard::bump(&mut g);
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- leak / force_unlock --------------------------------------------------------------------------

#[test]
fn leak_then_force_unlock() {
    let m = Mutex::named("pr.leak.M", 0);
    let f = FairMutex::named("pr.leak.F", 0);
    let (_, r) = capture(|| {
        *MutexGuard::leak(m.lock()) += 1;
        assert!(m.is_held() && m.is_locked());
        unsafe { m.force_unlock() };
        assert!(!m.is_held() && !m.is_locked());
        let g = m.lock();
        std::mem::forget(g);
        unsafe { m.force_unlock_fair() };
        assert!(!m.is_held() && !m.is_locked());

        let _ = FairMutexGuard::leak(f.lock());
        unsafe { f.force_unlock_fair() };
        assert!(!f.is_held() && !f.is_locked());
        // The mapped guard of a leaked lock: not possible (leak consumes); map then forget.
        let g = MutexGuard::map(m.lock(), |v| v);
        std::mem::forget(g);
        assert!(m.is_held());
        unsafe { m.force_unlock() };
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// `force_unlock` on a mutex this thread does not hold: a report, the lock left alone.
#[test]
fn force_unlock_not_held_is_reported_and_harmless() {
    let m = Arc::new(Mutex::named("pr.fu.M", 0));
    let h = hold_elsewhere(&m, Duration::from_millis(200));
    let (_, r) = capture(|| unsafe { m.force_unlock() });
    assert_eq!(kinds(&r), [ReportKind::BadUnlockBalance]);
    assert!(m.is_locked());
    h.join().unwrap();
    assert!(!m.is_locked());
}

// ---- mapped guards --------------------------------------------------------------------------------

#[test]
fn mapped_guards_release_once() {
    let m = Mutex::named("pr.map.M", (1, 2));
    let (_, r) = capture(|| {
        let g = m.lock();
        let g = match MutexGuard::try_map(g, |_| None::<&mut i32>) {
            Ok(_) => unreachable!(),
            Err(g) => g,
        };
        assert!(m.is_held());
        let g: MappedMutexGuard<'_, i32> = MutexGuard::map(g, |v| &mut v.0);
        let g = MappedMutexGuard::map(g, |v| v);
        let g = MappedMutexGuard::try_map(g, |v| Some(v)).ok().unwrap();
        assert!(m.is_held());
        MappedMutexGuard::unlock_fair(g);
        assert!(!m.is_held() && !m.is_locked());
        let g = MutexGuard::try_map_or_err(m.lock(), |_| Err::<&mut i32, _>(7));
        let (g, e) = g.err().unwrap();
        assert_eq!(e, 7);
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- arc guards -----------------------------------------------------------------------------------

#[test]
fn arc_mutex_guard_paths() {
    let m = Arc::new(Mutex::named("pr.arc.M", 0));
    let (_, r) = capture(|| {
        let g = m.lock_arc();
        assert!(Arc::ptr_eq(ArcMutexGuard::mutex(&g), &m));
        assert!(m.is_held());
        let a = ArcMutexGuard::into_arc(g);
        assert!(Arc::ptr_eq(&a, &m));
        assert!(!m.is_held() && !m.is_locked());
        let g = m.try_lock_arc_for(Duration::from_millis(10)).unwrap();
        let a = ArcMutexGuard::into_arc_fair(g);
        drop(a);
        assert!(!m.is_held() && !m.is_locked());
        let mut g = m.try_lock_arc().unwrap();
        ArcMutexGuard::unlocked(&mut g, || assert!(!m.is_held() && !m.is_locked()));
        ArcMutexGuard::unlocked_fair(&mut g, || assert!(!m.is_held()));
        ArcMutexGuard::bump(&mut g);
        assert!(m.is_held());
        ArcMutexGuard::unlock_fair(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn timed_acquisitions_timing_out_leave_nothing() {
    let m = Arc::new(Mutex::named("pr.to.M", 0));
    let n = Mutex::named("pr.to.N", 0);
    let h = hold_elsewhere(&m, Duration::from_millis(300));
    let (_, r) = capture(|| {
        assert!(m.try_lock_for(Duration::from_millis(20)).is_none());
        assert!(!m.is_held());
        assert!(m.try_lock_arc_for(Duration::from_millis(20)).is_none());
        assert!(!m.is_held());
        assert!(m
            .try_lock_arc_until(std::time::Instant::now() + Duration::from_millis(20))
            .is_none());
        assert!(!m.is_held());
        // Nothing held: N then M in either order makes no report later.
        let _n = n.lock();
    });
    assert!(r.is_empty(), "{r:?}");
    h.join().unwrap();
}

/// `try_lock_for` on a mutex this thread holds: reported (no panic), times out, the held
/// record of the first guard is untouched.
#[test]
fn timed_relock_of_a_held_mutex() {
    let m = Mutex::named("pr.trl.M", 0);
    let (_, r) = capture(|| {
        let g = m.lock();
        assert!(m.try_lock_for(Duration::from_millis(10)).is_none());
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert_eq!(r.len(), 1, "{r:?}");
}

#[test]
fn arc_rwlock_upgrade_downgrade() {
    let l = Arc::new(RwLock::named("pr.arw.L", 0));
    let (_, r) = capture(|| {
        let rg = l.read_arc();
        assert!(l.is_held());
        drop(rg);
        assert!(!l.is_held());
        let u = l.upgradable_read_arc();
        let w = ArcRwLockUpgradableReadGuard::upgrade(u);
        assert!(l.is_held());
        let u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
        let rd = ArcRwLockUpgradableReadGuard::downgrade(u);
        assert!(l.is_held());
        drop(rd);
        assert!(!l.is_held() && !l.is_locked());
        let u = l.upgradable_read_arc();
        let u = match ArcRwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(5)) {
            Ok(w) => ArcRwLockWriteGuard::downgrade_to_upgradable(w),
            Err(u) => u,
        };
        let r2: ArcRwLockReadGuard<_, _> = ArcRwLockUpgradableReadGuard::downgrade(u);
        drop(r2);
        assert!(!l.is_held() && !l.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- lock_api locks on lockdep's raw locks --------------------------------------------------------

#[test]
fn lock_api_mutex_on_lockdep_raw_paths() {
    type Raw<T> = lock_api::Mutex<RawMutex, T>;
    let a: Raw<i32> = Raw::new(0);
    let b: Raw<i32> = Raw::new(0);
    let (_, r) = capture(|| {
        let mut g = a.lock();
        lock_api::MutexGuard::unlocked(&mut g, || {
            let _b = b.lock(); // B alone: A not held here
        });
        drop(g);
        // leak + force_unlock through lock_api.
        let _ = lock_api::MutexGuard::leak(a.lock());
        unsafe { a.force_unlock() };
        // raw lock / unlock directly.
        unsafe { a.raw() }.lock();
        unsafe { a.raw().unlock() };
        let g = a.try_lock_for(Duration::from_millis(1)).unwrap();
        drop(g);
        // Now B -> A: no cycle, since A was never held while B was taken.
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- make_guard_unchecked, raw, data_ptr ----------------------------------------------------------

#[test]
fn raw_lock_then_make_guard_unchecked() {
    let m = Mutex::named("pr.raw.M", 5);
    let (_, r) = capture(|| {
        unsafe { m.raw() }.lock();
        assert!(m.is_held() && m.is_locked());
        let g = unsafe { m.make_guard_unchecked() };
        assert_eq!(*g, 5);
        assert_eq!(unsafe { *m.data_ptr() }, 5);
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
        std::mem::forget(m.lock());
        let g = unsafe { m.make_guard_unchecked() };
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- condvar --------------------------------------------------------------------------------------

#[test]
fn condvar_wait_while_for_predicate_panics() {
    let m = Mutex::named("pr.cv.M", 0);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        let mut g = m.lock();
        let mut n = 0;
        catch_unwind(AssertUnwindSafe(|| {
            cv.wait_while_for(
                &mut g,
                |_| {
                    n += 1;
                    if n == 1 {
                        panic!("predicate");
                    }
                    true
                },
                Duration::from_millis(10),
            )
        }))
        .unwrap_err();
        assert!(m.is_held() && m.is_locked());
        let t = cv.wait_while_for(&mut g, |_| true, Duration::from_millis(5));
        assert!(t.timed_out());
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- reentrant ------------------------------------------------------------------------------------

#[test]
fn reentrant_rare_paths() {
    let m = ReentrantMutex::named("pr.re.M", 0);
    let (_, r) = capture(|| {
        let g1 = m.lock();
        let mut g2 = m.try_lock_for(Duration::from_millis(1)).unwrap();
        ReentrantMutexGuard::unlocked(&mut g2, || assert!(m.is_held()));
        drop(g1);
        assert!(m.is_held());
        ReentrantMutexGuard::unlocked(&mut g2, || assert!(!m.is_held() && !m.is_locked()));
        ReentrantMutexGuard::bump(&mut g2);
        let mg = ReentrantMutexGuard::map(g2, |v| v);
        assert!(m.is_held());
        drop(mg);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---- timed upgrades and timed rwlock / reentrant acquisitions timing out ------------------------

#[test]
fn timed_upgrade_timing_out_gives_the_upgradable_guard_back() {
    let l = Arc::new(RwLock::named("pr.tup.L", 0));
    let (tx, rx) = std::sync::mpsc::channel();
    let other = {
        let l = l.clone();
        thread::spawn(move || {
            let _r = l.read();
            tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(300));
        })
    };
    rx.recv().unwrap();
    let (_, r) = capture(|| {
        let u = l.upgradable_read();
        let u = lockdep::RwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(20))
            .err()
            .unwrap();
        assert!(l.is_held());
        let rr = l.read_recursive(); // under its own upgradable read: fine
        drop(rr);
        drop(u);
        assert!(!l.is_held());
        let u = l.upgradable_read_arc();
        let u = ArcRwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(20))
            .err()
            .unwrap();
        assert!(l.is_held());
        drop(u);
        assert!(!l.is_held());
        assert!(l.try_write_for(Duration::from_millis(10)).is_none());
        assert!(l.try_write_arc_for(Duration::from_millis(10)).is_none());
        assert!(!l.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    other.join().unwrap();
}

#[test]
fn reentrant_timed_timing_out_leaves_nothing() {
    let m = Arc::new(ReentrantMutex::named("pr.rto.M", 0));
    let (tx, rx) = std::sync::mpsc::channel();
    let other = {
        let m = m.clone();
        thread::spawn(move || {
            let _g = m.lock();
            tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(300));
        })
    };
    rx.recv().unwrap();
    let (_, r) = capture(|| {
        assert!(m.try_lock_for(Duration::from_millis(10)).is_none());
        assert!(!m.is_held());
        assert!(m.try_lock_arc_for(Duration::from_millis(10)).is_none());
        assert!(!m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    other.join().unwrap();
    let (_, r) = capture(|| {
        let g = m.lock_arc();
        let g2 = m.lock();
        drop(g);
        assert!(m.is_held());
        drop(g2);
        assert!(!m.is_held() && !m.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn arc_read_guards_unlocked_and_bump() {
    let l = Arc::new(RwLock::named("pr.arb.L", 0));
    let (_, r) = capture(|| {
        let mut g = l.read_arc();
        ArcRwLockReadGuard::unlocked(&mut g, || assert!(!l.is_held() && !l.is_locked()));
        ArcRwLockReadGuard::bump(&mut g);
        assert!(l.is_held());
        drop(g);
        let mut u = l.upgradable_read_arc();
        ArcRwLockUpgradableReadGuard::unlocked(&mut u, || assert!(!l.is_held()));
        ArcRwLockUpgradableReadGuard::bump(&mut u);
        let w = ArcRwLockUpgradableReadGuard::upgrade(u);
        assert!(l.is_locked_exclusive() && l.is_held());
        drop(w);
        assert!(!l.is_held() && !l.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn reentrant_unlock_fair_and_force_unlock() {
    let m = ReentrantMutex::named("pr.ruf.M", 0);
    let f = Arc::new(FairMutex::named("pr.ruf.F", 0));
    let (_, r) = capture(|| {
        let g1 = m.lock();
        let g2 = m.lock();
        ReentrantMutexGuard::unlock_fair(g1);
        assert!(m.is_held());
        ReentrantMutexGuard::unlock_fair(g2);
        assert!(!m.is_held() && !m.is_locked());
        std::mem::forget(m.lock());
        unsafe { m.force_unlock_fair() };
        assert!(!m.is_held() && !m.is_locked());
        let g = f.lock_arc();
        drop(g);
        assert!(!f.is_held() && !f.is_locked());
    });
    assert!(r.is_empty(), "{r:?}");
}
