//! Review 10: defects found in the rarely used paths of event waits and guard transitions
//! (`unlocked*` and the report hook, `reset()` while a guard's lock is let go, timed upgrades
//! of an `RwLock`, timed acquisitions of the `lock_api` locks on lockdep's raw locks). Each
//! test asserts the right behaviour (the report's kind and classes, the held state after it)
//! and failed before its fix.
//!
//! `cargo test -p lockdep --features enabled --test review10`
#![cfg(all(lockdep_enabled, not(loom)))]
#![allow(unsafe_code)] // a safe lock's `raw()`

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockdep::lock_api::{self, RawMutexTimed as _, RawRwLockTimed as _};
use lockdep::{
    capture, ArcRwLockUpgradableReadGuard, Mutex, MutexGuard, ReportKind, RwLock,
    RwLockUpgradableReadGuard,
};

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "REVIEW10_CHILD";

/// A short timeout for acquisitions that must time out.
const SHORT: Duration = Duration::from_millis(10);

/// A class name made at run time (for a lock per case of a loop).
fn leaked(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

// ---------------------------------------------------------------------------------------------
// 1. `reset()` while an `unlocked` closure has the guard's lock let go
// ---------------------------------------------------------------------------------------------

/// `MutexGuard::unlocked` takes the guard's entry out of the held stack, runs the closure, and
/// puts the entry back with its *old serial* (`wait_end`: `reserial: e.serial()`). A `reset()`
/// in the closure forgets the held stack and marks every serial issued so far as forgotten
/// (`forgotten_up_to`), so that guards which outlive it release nothing. The entry put back
/// after the closure carries such a serial: the guard's release (not from the top of the
/// stack: the fast pop does not apply) takes it for a forgotten one and leaves it. The lock
/// stays "held" for good: `is_held` says so after the guard is gone, the lock's drop reports
/// "held lock freed", and locking it again would be taken for a certain self-deadlock.
/// Right: the lock was let go during the reset and taken back after it, so it is held again
/// like any lock taken after the reset, and its guard releases it. Child process: `reset()`
/// clears the whole process's graph.
#[test]
fn reset_in_an_unlocked_closure_leaves_no_stale_entry() {
    const NAME: &str = "reset_in_an_unlocked_closure_leaves_no_stale_entry";
    if common::in_self_child(CHILD, NAME) {
        let m = Mutex::named("review10.reset_unlocked.M", 0);
        let y = Mutex::named("review10.reset_unlocked.Y", 0);
        let (_, reports) = capture(|| {
            let mut g = m.lock();
            MutexGuard::unlocked(&mut g, lockdep::reset);
            assert!(m.is_held(), "taken back after the closure: held");
            let gy = y.lock();
            drop(g); // not the top entry: the slow release
            assert!(!m.is_held(), "M's guard is gone, but M is still held");
            drop(gy);
            assert!(!y.is_held());
            let again = m.lock(); // no certain self-deadlock: M is not held
            drop(again);
            assert!(!m.is_held() && !m.is_locked());
        });
        common::expect_none("reset in unlocked", &reports);
        drop(m); // no "held lock freed"
        assert!(lockdep::take_reports().is_empty());
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

// ---------------------------------------------------------------------------------------------
// 2. The report hook while an `unlocked` closure has the guard's lock let go
// ---------------------------------------------------------------------------------------------

/// The lock the hook of test 2 takes (a `static`: the hook is `'static`).
static HOOKED: Mutex<u32> = Mutex::named("review10.hook.M", 0);
/// How often the hook took [`HOOKED`] (each time without a panic).
static HOOK_TOOK: AtomicUsize = AtomicUsize::new(0);

/// `unlocked` leaves its entry in the thread's `suspended` slot while the closure runs, the
/// slot a condvar wait uses while its validation runs with the mutex still really locked:
/// `validator::deliver` puts that entry back on the stack for the report hook, so the hook
/// sees the mutex held. But `unlocked` lets the lock really go while the closure runs; a hook
/// run for a report found in the closure, that takes the lock, was stopped as a certain
/// self-deadlock (`RecursiveLocking` and a panic in the hook) though the lock is free. And the
/// same after the closure: the re-acquisition is validated before the real relock, but it was
/// recorded (as a condvar wait's, whose mutex is still locked) before its report was
/// delivered, so a hook run for it found the free lock held. Right: the hook takes the free
/// lock, as it would without lockdep, and nothing but the two cycles is reported. Child
/// process (the hook and the mode are process-wide).
#[test]
fn a_report_hook_may_take_the_lock_an_unlocked_closure_let_go() {
    const NAME: &str = "a_report_hook_may_take_the_lock_an_unlocked_closure_let_go";
    if common::in_self_child(CHILD, NAME) {
        lockdep::set_mode(lockdep::Mode::Collect);
        lockdep::set_report_hook(Some(Box::new(|r| {
            if r.class_names()
                .iter()
                .any(|n| n.starts_with("review10.hook."))
            {
                let took = catch_unwind(|| drop(HOOKED.lock())).is_ok();
                if took {
                    HOOK_TOOK.fetch_add(1, Ordering::SeqCst);
                }
            }
        })));
        let a = Mutex::named("review10.hook.A", ());
        let b = Mutex::named("review10.hook.B", ());
        let x = Mutex::named("review10.hook.X", ());
        // (a) A report found while the closure runs (B -> A after A -> B).
        let mut g = HOOKED.lock();
        MutexGuard::unlocked(&mut g, || {
            drop((a.lock(), b.lock()));
            drop((b.lock(), a.lock()));
        });
        assert!(HOOKED.is_held());
        drop(g);
        assert!(!HOOKED.is_held());
        // (b) A report found when the lock is taken back: M -> X, then M relocked under X.
        let mut g = HOOKED.lock();
        let gx = x.lock();
        MutexGuard::unlocked(&mut g, || {});
        assert!(HOOKED.is_held());
        drop(gx);
        drop(g);
        assert!(!HOOKED.is_held() && !HOOKED.is_locked());
        lockdep::set_report_hook(None);
        let reports = lockdep::take_reports();
        let got = common::kinds_and_classes(&reports);
        let names = common::names;
        assert_eq!(
            got,
            [
                (
                    ReportKind::CircularDependency,
                    names(&["review10.hook.A", "review10.hook.B"])
                ),
                (
                    ReportKind::CircularDependency,
                    names(&["review10.hook.M", "review10.hook.X"])
                ),
            ],
            "{}",
            common::describe(&reports)
        );
        assert_eq!(
            HOOK_TOOK.load(Ordering::SeqCst),
            2,
            "the hook could not take M"
        );
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

// ---------------------------------------------------------------------------------------------
// 3. Timed upgrades of an `RwLock` whose upgradable reader also reads it
// ---------------------------------------------------------------------------------------------

/// A timed upgrade of the borrowed upgradable guard that must time out; returns the guard.
type TimedUpgrade =
    for<'a> fn(RwLockUpgradableReadGuard<'a, u32>) -> RwLockUpgradableReadGuard<'a, u32>;

fn borrowed_timed_upgrades() -> Vec<(&'static str, TimedUpgrade)> {
    vec![
        ("try_upgrade_for", |u| {
            RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT).expect_err("a reader is in")
        }),
        ("try_upgrade_until", |u| {
            RwLockUpgradableReadGuard::try_upgrade_until(u, Instant::now() + SHORT)
                .expect_err("a reader is in")
        }),
        ("try_with_upgraded_for", |mut u| {
            assert!(u.try_with_upgraded_for(SHORT, |_| unreachable!()).is_none());
            u
        }),
        ("try_with_upgraded_until", |mut u| {
            let deadline = Instant::now() + SHORT;
            assert!(u
                .try_with_upgraded_until(deadline, |_| unreachable!())
                .is_none());
            u
        }),
    ]
}

type ArcUpg = ArcRwLockUpgradableReadGuard<lockdep::RawRwLock, u32>;
/// The same for the arc upgradable guard.
type ArcTimedUpgrade = fn(ArcUpg) -> ArcUpg;

fn arc_timed_upgrades() -> Vec<(&'static str, ArcTimedUpgrade)> {
    vec![
        ("arc try_upgrade_for", |u| {
            ArcUpg::try_upgrade_for(u, SHORT).expect_err("a reader is in")
        }),
        ("arc try_upgrade_until", |u| {
            ArcUpg::try_upgrade_until(u, Instant::now() + SHORT).expect_err("a reader is in")
        }),
        ("arc try_with_upgraded_for", |mut u| {
            assert!(u.try_with_upgraded_for(SHORT, |_| unreachable!()).is_none());
            u
        }),
        ("arc try_with_upgraded_until", |mut u| {
            let deadline = Instant::now() + SHORT;
            assert!(u
                .try_with_upgraded_until(deadline, |_| unreachable!())
                .is_none());
            u
        }),
    ]
}

/// The upgradable reader of `L` also holds a recursive read of it: an upgrade waits for that
/// reader, itself. `upgrade()` would hang (a certain self-deadlock, rightly stopped with a
/// panic), but a *timed* upgrade times out and gives the upgradable guard back, as a timed
/// acquisition of a held mutex does (`try_lock_for`: reported, no panic). The timed upgrades
/// were validated by `acquire`, not `acquire_timed`: lockdep panicked ("certain
/// self-deadlock") where parking_lot returns `Err` / `None`. Right: one `RecursiveLocking`
/// report naming `L`, no panic, the timeout returned, and the guard back as the upgradable
/// reader of `L`, still recorded (an `upgrade` once the reader left succeeds, unreported).
#[test]
fn a_timed_upgrade_waiting_for_its_own_reader_is_reported_not_panicked() {
    for (way, timed) in borrowed_timed_upgrades() {
        let name = leaked(format!("review10.timed_upgrade.{way}"));
        let l = RwLock::named(name, 0);
        let (outcome, reports) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let u = l.upgradable_read();
                let reader = l.read_recursive();
                let u = timed(u);
                lockdep::assert_held(&u);
                drop(reader);
                assert!(
                    l.is_held(),
                    "{way}: the upgradable read is no longer recorded"
                );
                let mut w = RwLockUpgradableReadGuard::upgrade(u);
                *w += 1;
                drop(w);
                assert!(!l.is_held() && !l.is_locked());
            }))
        });
        assert!(outcome.is_ok(), "{way}: a false panic");
        common::expect_kind(way, &reports, ReportKind::RecursiveLocking, &[name.into()]);
    }
    for (way, timed) in arc_timed_upgrades() {
        let name = leaked(format!("review10.timed_upgrade.{way}"));
        let l = Arc::new(RwLock::named(name, 0));
        let (outcome, reports) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let u = l.upgradable_read_arc();
                let reader = l.read_recursive();
                let u = timed(u);
                lockdep::assert_held(&u);
                drop(reader);
                assert!(
                    l.is_held(),
                    "{way}: the upgradable read is no longer recorded"
                );
                let w = ArcUpg::upgrade(u);
                drop(w);
                assert!(!l.is_held() && !l.is_locked());
            }))
        });
        assert!(outcome.is_ok(), "{way}: a false panic");
        common::expect_kind(way, &reports, ReportKind::RecursiveLocking, &[name.into()]);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Timed acquisitions of lockdep's raw locks (`lock_api` locks over them, `raw()`)
// ---------------------------------------------------------------------------------------------

/// The raw locks' timed acquisitions (`RawMutexTimed::try_lock_for`, `RawRwLockTimed`'s,
/// `RawRwLockUpgradeTimed::try_upgrade_for`) were validated as blocking ones (`acquire`):
/// re-locking a raw lock this thread holds panicked as a certain self-deadlock, where the real
/// acquisition times out and returns false (and the safe locks' timed acquisitions report
/// it without a panic). So `lock_api::Mutex<lockdep::RawMutex, T>::try_lock_for` on a mutex
/// its thread holds panicked instead of returning `None`. Right: reported
/// (`RecursiveLocking`, naming the lock), no panic, the timeout returned, and the lock still
/// recorded as held by its first acquisition (released with it).
#[test]
fn a_timed_relock_of_a_held_raw_lock_is_reported_not_panicked() {
    // A safe lock's raw lock: the held state can be asked.
    let m = Mutex::named("review10.raw_timed.M", 0);
    let (outcome, reports) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let g = m.lock();
            let raw = unsafe { m.raw() };
            assert!(!raw.try_lock_for(SHORT));
            assert!(!raw.try_lock_until(Instant::now() + SHORT));
            assert!(m.is_held());
            drop(g);
            assert!(!m.is_held() && !m.is_locked());
        }))
    });
    assert!(outcome.is_ok(), "raw try_lock_for: a false panic");
    common::expect_kind(
        "raw try_lock_for",
        &reports,
        ReportKind::RecursiveLocking,
        &["review10.raw_timed.M".into()],
    );

    let l = RwLock::named("review10.raw_timed.L", 0);
    let (outcome, reports) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let raw = unsafe { l.raw() };
            let r = l.read();
            assert!(!raw.try_lock_exclusive_for(SHORT));
            assert!(!raw.try_lock_exclusive_until(Instant::now() + SHORT));
            drop(r);
            assert!(!l.is_held());
            let w = l.write();
            assert!(!raw.try_lock_shared_for(SHORT));
            assert!(l.is_held());
            drop(w);
            assert!(!l.is_held() && !l.is_locked());
        }))
    });
    assert!(outcome.is_ok(), "raw try_lock_exclusive_for: a false panic");
    // Two problems: a write under the thread's read, a read under its write.
    let got = common::kinds_and_classes(&reports);
    let l_class = vec!["review10.raw_timed.L".to_string()];
    assert_eq!(
        got,
        [
            (ReportKind::RecursiveLocking, l_class.clone()),
            (ReportKind::RecursiveLocking, l_class)
        ],
        "{}",
        common::describe(&reports)
    );

    // lock_api's own locks over lockdep's raw locks, as code generic over lock_api has them.
    type RawMutexLock<T> = lock_api::Mutex<lockdep::RawMutex, T>;
    type RawRwLock<T> = lock_api::RwLock<lockdep::RawRwLock, T>;
    let a: RawMutexLock<u32> =
        lock_api::Mutex::const_new(lockdep::RawMutex::named("review10.raw_timed.A"), 0);
    let (outcome, reports) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let g = a.lock();
            assert!(a.try_lock_for(SHORT).is_none());
            drop(g);
            drop(a.lock()); // released with its first acquisition: no self-deadlock
        }))
    });
    assert!(
        outcome.is_ok(),
        "lock_api Mutex try_lock_for: a false panic"
    );
    common::expect_kind(
        "lock_api Mutex",
        &reports,
        ReportKind::RecursiveLocking,
        &["review10.raw_timed.A".into()],
    );

    let rw: RawRwLock<u32> =
        lock_api::RwLock::const_new(lockdep::RawRwLock::named("review10.raw_timed.RW"), 0);
    let (outcome, reports) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let u = rw.upgradable_read();
            let reader = rw.read_recursive();
            let u = lock_api::RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT)
                .expect_err("its own reader is in");
            drop(reader);
            let w = lock_api::RwLockUpgradableReadGuard::upgrade(u);
            drop(w);
            drop(rw.write()); // nothing left recorded: no self-deadlock
        }))
    });
    assert!(
        outcome.is_ok(),
        "lock_api RwLock try_upgrade_for: a false panic"
    );
    common::expect_kind(
        "lock_api RwLock try_upgrade_for",
        &reports,
        ReportKind::RecursiveLocking,
        &["review10.raw_timed.RW".into()],
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Downgrading one of the write guards merged into one entry under their nest lock
// ---------------------------------------------------------------------------------------------

/// How a write guard is downgraded in [`downgrading_one_merged_write_guard_keeps_the_others_writers`]
/// (the downgraded guard comes back boxed).
type Downgrade = for<'a> fn(lockdep::RwLockWriteGuard<'a, u32>) -> Box<dyn lockdep::Held + 'a>;

/// Write locks of one class taken under one nest lock share one held entry (kernel
/// `references`: the later ones are merged into the first's). `downgrade` (or
/// `downgrade_to_upgradable`) of one of those guards changed the read mode of the whole entry
/// in place (`validator::change_read`), so the *other* guards' write locks were recorded as
/// read locks from then on. A lock taken under them then got an edge from a reader: with a
/// recursive reader of the class waiting behind it elsewhere (`X` then `read_recursive` of
/// the still-written lock), a real deadlock went unreported (a recursive read after a shared
/// hold is not a cycle). Right: only the downgraded guard's lock becomes a reader; the cycle
/// is reported (`CircularDependency`, the class and `X`), as it is without the downgrade; and
/// each guard releases its own lock.
#[test]
fn downgrading_one_merged_write_guard_keeps_the_others_writers() {
    let ways: [(&str, Downgrade); 2] = [
        ("downgrade", |w| {
            Box::new(lockdep::RwLockWriteGuard::downgrade(w))
        }),
        ("downgrade_to_upgradable", |w| {
            Box::new(lockdep::RwLockWriteGuard::downgrade_to_upgradable(w))
        }),
    ];
    for (way, downgrade) in ways {
        // The entry's own lock downgraded (the first taken), or the one merged into it.
        for own in [true, false] {
            let prefix = format!("review10.merged_downgrade.{way}.{own}");
            let n = Mutex::named(leaked(format!("{prefix}.N")), 0);
            let x_name = leaked(format!("{prefix}.X"));
            let x = Mutex::named(x_name, 0);
            let c_name = format!("{prefix}.C");
            let c = common::class(&c_name);
            let (r1, r2) = (RwLock::with_class(c, 0), RwLock::with_class(c, 0));
            let (kept_lock, down_lock) = if own { (&r2, &r1) } else { (&r1, &r2) };
            let (_, reports) = capture(|| {
                {
                    let gn = n.lock();
                    let w1 = r1.write_nest_lock(&gn);
                    let w2 = r2.write_nest_lock(&gn); // merged into w1's entry
                    let (kept, down) = if own {
                        let down = downgrade(w1);
                        (w2, down)
                    } else {
                        let down = downgrade(w2);
                        (w1, down)
                    };
                    drop(x.lock()); // X under the kept guard's write lock
                    drop(kept);
                    assert!(!kept_lock.is_held() && down_lock.is_held(), "{way}, {own}");
                    drop(down);
                    assert!(!down_lock.is_held(), "{way}, {own}");
                    drop(gn);
                }
                let _x = x.lock();
                let _r = kept_lock.read_recursive(); // waits for a writer of the class
            });
            common::expect_kind(
                &format!("{way}, own entry downgraded: {own}"),
                &reports,
                ReportKind::CircularDependency,
                &[c_name.clone(), x_name.to_string()],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. An event dropped while this thread has it armed
// ---------------------------------------------------------------------------------------------

/// `Condvar::arm` / `Event::arm` record the event as held (a recursive-read trylock entry)
/// until the thread's next `notify_*` / `signal`. A condvar or event dropped before that (its
/// producer gave up, or unwound, without notifying) was reported as `HeldLockFreed` ("freeing
/// a lock that it still holds!"), a problem that fails the run. But an event is no lock: an
/// armed span says what the waiters wait for, and nobody can wait on a dropped event (a
/// wait borrows it), so nothing can deadlock; a thread that exits with an event armed is not
/// reported either (`LocksHeldAtExit` leaves events out). Right: the armed span ends with the
/// event, silently, and the locks the thread takes afterwards get no edge from it.
#[test]
fn an_event_dropped_while_armed_is_no_held_lock_freed() {
    let m = Mutex::named("review10.armed_dropped.M", 0);
    let (_, reports) = capture(|| {
        {
            let cv = lockdep::Condvar::new();
            cv.arm();
        }
        {
            let cv = lockdep::stdsync::Condvar::new();
            cv.arm();
        }
        {
            let ev = lockdep::Event::new("review10.armed_dropped.E");
            ev.arm();
            assert!(ev.is_armed());
        }
        drop(m.lock());
    });
    common::expect_none("events dropped while armed", &reports);
    let dot = lockdep::graph_dot();
    assert!(
        !dot.contains("\"review10.armed_dropped.E\" -> \"review10.armed_dropped.M\""),
        "M was taken under the dropped event:\n{dot}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A raw lock's upgrade or bump that panics on a report (`Panic` mode)
// ---------------------------------------------------------------------------------------------

/// A raw lock's `upgrade` (and `bump`, `bump_shared`, …, the timed upgrades) releases this
/// thread's record of the lock, then validates the new acquisition. In `Panic` mode a report
/// there panics — with the lock still really held, so the `lock_api` guard unwinding unlocks
/// it, and that unlock found no record: a second report, `BadUnlockBalance`, for the program's
/// own, correct unlock. Right: the one report that panicked (`CircularDependency`), nothing
/// else, and nothing left recorded (the lock is taken again afterwards with no report).
/// Child process (the mode is process-wide).
#[test]
fn a_raw_upgrade_or_bump_panicking_on_a_report_leaves_no_bad_unlock() {
    const NAME: &str = "a_raw_upgrade_or_bump_panicking_on_a_report_leaves_no_bad_unlock";
    if common::in_self_child(CHILD, NAME) {
        type RawRw<T> = lock_api::RwLock<lockdep::RawRwLock, T>;
        type RawM<T> = lock_api::Mutex<lockdep::RawMutex, T>;
        let r: RawRw<u32> =
            lock_api::RwLock::const_new(lockdep::RawRwLock::named("review10.raw_panic.R"), 0);
        let m: RawM<u32> =
            lock_api::Mutex::const_new(lockdep::RawMutex::named("review10.raw_panic.M"), 0);
        let x = Mutex::named("review10.raw_panic.X", 0);
        let y = Mutex::named("review10.raw_panic.Y", 0);
        lockdep::set_mode(lockdep::Mode::Panic);
        let upgrade = catch_unwind(AssertUnwindSafe(|| {
            let u = r.upgradable_read();
            let _x = x.lock(); // R -> X
            let _w = lock_api::RwLockUpgradableReadGuard::upgrade(u); // X -> R: panics
        }));
        let bump = catch_unwind(AssertUnwindSafe(|| {
            let mut g = m.lock();
            let _y = y.lock(); // M -> Y
            lock_api::MutexGuard::bump(&mut g); // M relocked under Y: panics
        }));
        lockdep::set_mode(lockdep::Mode::Collect);
        assert!(upgrade.is_err() && bump.is_err(), "no panic in Panic mode");
        // Nothing left recorded: no self-deadlock, no report.
        drop(r.write());
        drop(m.lock());
        let got = common::kinds_and_classes(&lockdep::take_reports());
        let names = common::names;
        assert_eq!(
            got,
            [
                (
                    ReportKind::CircularDependency,
                    names(&["review10.raw_panic.R", "review10.raw_panic.X"])
                ),
                (
                    ReportKind::CircularDependency,
                    names(&["review10.raw_panic.M", "review10.raw_panic.Y"])
                ),
            ]
        );
        return;
    }
    common::expect_self_succeeds(CHILD, NAME);
}

// ---------------------------------------------------------------------------------------------
// 8. A report during a condvar wait on a guard merged under a nest lock
// ---------------------------------------------------------------------------------------------

/// While a condvar wait is validated, its mutex is out of the held stack but really locked,
/// so each report delivered meanwhile has it put back for the delivery (a report hook then
/// sees it held) and taken out again after (`validator::deliver`): the entry is put back at
/// its old place and then the topmost entry with its serial is removed. But a mutex taken
/// under a nest lock with another of its class is merged into that one's entry and shares its
/// serial: the entry put back went *below* the other guard's, and the removal took the other
/// guard's. After the wait the other lock (K1) was no longer recorded as held though its
/// guard was alive, and the waited one (K2) stayed recorded after its guard was gone. Right:
/// both held after the wait, each released by its own guard; the wait itself is reported
/// (`CircularWait`: the waker needs N, which the waiter holds, with K under it).
#[test]
fn a_report_during_a_condvar_wait_on_a_merged_guard_keeps_the_held_state() {
    let n = Mutex::named("review10.merged_wait.N", 0);
    let k = common::class("review10.merged_wait.K");
    let (k1, k2) = (Mutex::with_class(k, 0), Mutex::with_class(k, 0));
    let (cv, cv_name) = common::condvar();
    let (_, reports) = capture(|| {
        cv.arm();
        drop(n.lock()); // the waker takes N before it notifies
        cv.notify_all();
        let gn = n.lock();
        let g1 = k1.lock_nest_lock(&gn);
        let mut g2 = k2.lock_nest_lock(&gn); // merged into K1's entry
        let _ = cv.wait_for(&mut g2, SHORT); // waits holding N: reported
        assert!(k1.is_held() && k2.is_held(), "both guards hold their locks");
        drop(g2);
        assert!(
            k1.is_held() && !k2.is_held(),
            "K2's guard is gone, K1's is not"
        );
        drop(g1);
        assert!(!k1.is_held() && !k2.is_held());
        drop(gn);
    });
    let got = common::kinds_and_classes(&reports);
    let names = common::names;
    assert_eq!(
        got,
        [
            (
                ReportKind::CircularWait,
                names(&[&cv_name, "review10.merged_wait.N", "review10.merged_wait.K"])
            ),
            (
                ReportKind::CircularWait,
                names(&[&cv_name, "review10.merged_wait.N"])
            ),
        ],
        "{}",
        common::describe(&reports)
    );
}
