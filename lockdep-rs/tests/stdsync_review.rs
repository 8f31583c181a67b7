//! Review of `lockdep::stdsync` and `lockdep::Condvar`: their rarely used paths (poisoning,
//! panicking predicates and initializers, waits out of stack order), checked against std.
#![cfg(all(lockdep_enabled, not(loom)))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use lockdep::stdsync::{
    Arc, Condvar, LazyLock, Mutex, MutexGuard, Once, OnceLock, PoisonError, RwLock, TryLockError,
};
use lockdep::{capture, is_held, Report, ReportKind};

mod common;

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Quietly runs `f`, which must panic.
fn must_panic(f: impl FnOnce()) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    assert!(r.is_err(), "expected a panic");
}

// ---------------------------------------------------------------------------------------
// Condvar predicates that panic
// ---------------------------------------------------------------------------------------

/// Waits on a fresh mutex `name` (holding 0) with `wait`, whose predicate panics: afterwards
/// the mutex must not be held, and nothing is reported. Returns the mutex.
fn predicate_panic_leaves_nothing_held(
    name: &'static str,
    wait: impl FnOnce(&Condvar, MutexGuard<'_, i32>),
) -> Mutex<i32> {
    let m = Mutex::named(name, 0);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        must_panic(|| wait(&cv, m.lock().unwrap()));
        assert!(
            !m.is_held(),
            "stale held entry after the predicate panicked"
        );
    });
    assert!(r.is_empty(), "{r:?}");
    m
}

/// std: a predicate that panics unwinds with the mutex locked, so the guard (inside
/// `wait_while`) is dropped: the mutex is unlocked and poisoned. lockdep must not count it
/// as held any longer.
#[test]
fn wait_while_predicate_panic_releases_the_held_entry() {
    let m = predicate_panic_leaves_nothing_held("review.cv.panic", |cv, g| {
        let _ = cv.wait_while(g, |_| panic!("predicate"));
    });
    assert!(m.is_poisoned());
}

/// The same for `wait_timeout_while`.
#[test]
fn wait_timeout_while_predicate_panic_releases_the_held_entry() {
    let m = predicate_panic_leaves_nothing_held("review.cv.panic.timeout", |cv, g| {
        let _ = cv.wait_timeout_while(g, Duration::from_millis(1), |_| panic!("predicate"));
    });
    assert!(m.is_poisoned());
}

/// A predicate that panics after a wake-up (the second call, the mutex re-acquired).
#[test]
fn wait_timeout_while_predicate_panic_after_a_wait_releases_the_held_entry() {
    predicate_panic_leaves_nothing_held("review.cv.panic.second", |cv, g| {
        let mut calls = 0;
        let _ = cv.wait_timeout_while(g, Duration::from_millis(1), |_| {
            calls += 1;
            if calls > 1 {
                panic!("predicate");
            }
            true
        });
    });
}

/// A lock taken after the stale entry is now reported as ordered after it.
#[test]
fn predicate_panic_then_other_order_is_no_false_report() {
    let a = Mutex::named("review.cv.stale.A", 0);
    let b = Mutex::named("review.cv.stale.B", 0);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let g = a.lock().unwrap();
            let _ = cv.wait_while(g, |_| panic!("predicate"));
        }));
        // A is free now: B then A is the only order this thread ever used.
        let _b = b.lock().unwrap();
        let _a = a.lock().unwrap_or_else(PoisonError::into_inner);
    });
    assert!(r.is_empty(), "{r:?}");
}

/// parking_lot flavour: the guard is the caller's, so a panicking predicate unwinds through
/// it: nothing stays held.
#[test]
fn parking_lot_wait_while_predicate_panic_releases() {
    let m = lockdep::Mutex::named("review.plcv.panic", 0);
    let cv = lockdep::Condvar::new();
    let (_, r) = capture(|| {
        must_panic(|| {
            let mut g = m.lock();
            cv.wait_while_for(&mut g, |_| panic!("predicate"), Duration::from_millis(1));
        });
        assert!(!is_held(&m));
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// Condvar waits: poisoned guards, guards not on top of the held stack
// ---------------------------------------------------------------------------------------

/// A poisoned guard goes through `wait` and comes back in a `PoisonError`, still held.
#[test]
fn condvar_wait_round_trips_a_poisoned_guard() {
    let m = common::poisoned(Arc::new(Mutex::named("review.cv.poisoned", 1)));
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        let g = m.lock().unwrap_err().into_inner();
        let (g, t) = cv
            .wait_timeout(g, Duration::from_millis(1))
            .unwrap_err()
            .into_inner();
        assert!(t.timed_out());
        assert!(m.is_held());
        // No wait at all: `Ok` as std's (the flag is only read after a wait).
        let g = cv.wait_while(g, |_| false).unwrap();
        assert!(m.is_held());
        let (g, _) = cv
            .wait_timeout_while(g, Duration::from_millis(1), |v| *v == 1)
            .unwrap_err()
            .into_inner();
        assert_eq!(*g, 1);
        assert!(m.is_held());
        drop(g);
        assert!(!m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// A wait on the guard of the first of two locks (not the top of the held stack), then the
/// locks released in either order: the held state follows the guards. (The re-acquisition
/// of A under B is a real B -> A order, so A -> B afterwards would be a true report.)
#[test]
fn condvar_wait_on_a_guard_below_the_top() {
    let a = Mutex::named("review.cv.below.A", 0);
    let b = Mutex::named("review.cv.below.B", 0);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        let ga = a.lock().unwrap();
        let gb = b.lock().unwrap();
        let (ga, _) = cv.wait_timeout(ga, Duration::from_millis(1)).unwrap();
        assert!(a.is_held() && b.is_held());
        drop(ga);
        assert!(!a.is_held() && b.is_held());
        drop(gb);
        assert!(!b.is_held());
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency], "{r:?}");
}

/// parking_lot flavour: a wait on a `lock_nested` guard below the top, several times: the
/// held state follows the guards (the re-acquisitions under the later locks are real
/// inverse orders, reported: only the held state is checked here).
#[test]
fn parking_lot_wait_on_nested_guard_below_the_top() {
    fn node() -> lockdep::Mutex<u32> {
        lockdep::Mutex::new(0)
    }
    let (p, c) = (node(), node());
    let other = lockdep::Mutex::named("review.plcv.other", 0);
    let cv = lockdep::Condvar::new();
    let (_, r) = capture(|| {
        let mut gp = p.lock();
        let gc = c.lock_nested(1);
        let go = other.lock();
        for _ in 0..3 {
            let _ = cv.wait_for(&mut gp, Duration::from_millis(1));
        }
        let mut gc = gc;
        let _ = cv.wait_for(&mut gc, Duration::from_millis(1));
        assert!(is_held(&p) && is_held(&c) && is_held(&other));
        drop(gp);
        drop(go);
        assert!(!is_held(&p) && is_held(&c) && !is_held(&other));
        drop(gc);
        assert!(!is_held(&c));
    });
    assert!(
        kinds(&r)
            .iter()
            .all(|k| *k == ReportKind::CircularDependency),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Poisoning: try_*, into_inner, get_mut, clear_poison, RwLock
// ---------------------------------------------------------------------------------------

#[test]
fn try_lock_poisoned_guard_is_held_then_released() {
    let m = common::poisoned(Arc::new(Mutex::named("review.try.poisoned", 7)));
    let (_, r) = capture(|| {
        match m.try_lock() {
            Err(TryLockError::Poisoned(p)) => {
                let g = p.into_inner();
                assert_eq!(*g, 7);
                assert!(m.is_held());
            }
            other => panic!("expected Poisoned, got {}", other.is_ok()),
        }
        assert!(!m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    let mut m = Arc::into_inner(m).unwrap();
    assert_eq!(*m.get_mut().unwrap_err().into_inner(), 7);
    assert_eq!(m.into_inner().unwrap_err().into_inner(), 7);
}

#[test]
fn rwlock_poisoned_by_a_writer_try_read_try_write() {
    let l = Arc::new(RwLock::named("review.rw.poisoned", 3));
    let l2 = l.clone();
    let _ = std::thread::spawn(move || {
        let _g = l2.write().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(l.is_poisoned());
    let (_, r) = capture(|| {
        let g = match l.try_read() {
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            _ => panic!("expected Poisoned"),
        };
        assert!(l.is_held());
        drop(g);
        assert!(!l.is_held());
        let g = match l.try_write() {
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            _ => panic!("expected Poisoned"),
        };
        assert!(l.is_held());
        assert!(matches!(l.try_read(), Err(TryLockError::WouldBlock)));
        drop(g);
        assert!(!l.is_held());
        let g = l.read().unwrap_err().into_inner();
        drop(g);
        l.clear_poison();
        let _g = l.write().unwrap();
    });
    assert!(r.is_empty(), "{r:?}");
    let l = Arc::into_inner(l).unwrap();
    assert_eq!(l.into_inner().unwrap(), 3);
}

/// A read guard does not poison (std: only writers poison).
#[test]
fn rwlock_read_guard_panic_does_not_poison() {
    let l = RwLock::named("review.rw.readpanic", 0);
    must_panic(|| {
        let _g = l.read().unwrap();
        panic!("reader");
    });
    assert!(!l.is_poisoned());
    assert!(!l.is_held());
}

/// Read recursion on std's RwLock: a possible deadlock (a queued writer blocks the second
/// read); the module docs call `read()` a non-recursive reader: reported.
#[test]
fn rwlock_read_recursion_is_reported() {
    let l = RwLock::named("review.rw.rec", 0);
    let (_, r) = capture(|| {
        let _a = l.read().unwrap();
        let _b = l.read().unwrap();
    });
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking], "{r:?}");
    assert!(!l.is_held());
}

// ---------------------------------------------------------------------------------------
// Once, OnceLock, LazyLock: panicking initializers, many threads
// ---------------------------------------------------------------------------------------

#[test]
fn oncelock_get_or_init_retries_after_a_panic() {
    let cell: OnceLock<u32> = OnceLock::new();
    let (_, r) = capture(|| {
        must_panic(|| {
            cell.get_or_init(|| panic!("init"));
        });
        assert!(cell.get().is_none());
        assert_eq!(*cell.get_or_init(|| 5), 5);
        assert_eq!(cell.set(6), Err(6));
    });
    assert!(r.is_empty(), "{r:?}");
    let mut cell = cell;
    assert_eq!(cell.take(), Some(5));
    assert_eq!(cell.set(7), Ok(()));
    assert_eq!(cell.into_inner(), Some(7));
}

#[test]
fn once_call_once_force_sees_the_poison() {
    let once = Once::new();
    let (_, r) = capture(|| {
        must_panic(|| once.call_once(|| panic!("init")));
        must_panic(|| once.call_once(|| {}));
        must_panic(|| once.wait());
        let mut seen = None;
        once.call_once_force(|s| seen = Some(s.is_poisoned()));
        assert_eq!(seen, Some(true));
        assert!(once.is_completed());
        once.wait();
        once.call_once(|| unreachable!());
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn lazylock_poisoned_forcing_again_panics_and_drops_cleanly() {
    let count = std::sync::Arc::new(());
    let c2 = count.clone();
    let lazy: LazyLock<u32, Box<dyn FnOnce() -> u32>> = LazyLock::new(Box::new(move || {
        let _c = c2;
        panic!("init")
    }));
    let (_, r) = capture(|| {
        must_panic(|| {
            let _ = *lazy;
        });
        must_panic(|| {
            let _ = LazyLock::force(&lazy);
        });
    });
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(std::sync::Arc::strong_count(&count), 1);
    drop(lazy);
    // An unforced one drops its initializer.
    let c3 = count.clone();
    let lazy: LazyLock<u32, _> = LazyLock::new(move || {
        let _c = c3;
        1
    });
    assert_eq!(std::sync::Arc::strong_count(&count), 2);
    drop(lazy);
    assert_eq!(std::sync::Arc::strong_count(&count), 1);
}

/// std: forcing a poisoned `LazyLock` panics with "LazyLock instance has previously been
/// poisoned" (a test may match it with `should_panic(expected = ..)`).
#[test]
fn lazylock_poisoned_forcing_panics_with_std_s_message() {
    let lazy: LazyLock<u32> = LazyLock::new(|| panic!("init"));
    let std_lazy: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| panic!("init"));
    let message = |f: &dyn Fn()| -> String {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let _ = catch_unwind(AssertUnwindSafe(f)); // the initializer's own panic
        let p = catch_unwind(AssertUnwindSafe(f)).expect_err("forcing again must panic");
        std::panic::set_hook(hook);
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    };
    let ours = message(&|| {
        let _ = *lazy;
    });
    let std_s = message(&|| {
        let _ = *std_lazy;
    });
    assert_eq!(ours, std_s);
}

/// One thread runs a slow initializer (taking a lock the waiters do not hold); waiters
/// holding unrelated locks: no report, everyone sees the value.
#[test]
fn many_threads_one_initializer_no_false_report() {
    static CELL: OnceLock<u32> = OnceLock::new();
    static LAZY: LazyLock<u32> = LazyLock::new(|| {
        std::thread::sleep(Duration::from_millis(20));
        *INIT_LOCK.lock().unwrap()
    });
    static INIT_LOCK: Mutex<u32> = Mutex::named("review.once.init", 9);
    let (_, r) = capture(|| {
        std::thread::scope(|s| {
            for i in 0..4 {
                s.spawn(move || {
                    let (_, r) = capture(|| {
                        let own = Mutex::named("review.once.waiter", i);
                        let _g = own.lock().unwrap();
                        let v = CELL.get_or_init(|| {
                            std::thread::sleep(Duration::from_millis(20));
                            *INIT_LOCK.lock().unwrap()
                        });
                        assert_eq!(*v, 9);
                        assert_eq!(*LAZY, 9);
                        assert_eq!(*CELL.wait(), 9);
                    });
                    assert!(r.is_empty(), "{r:?}");
                });
            }
        });
    });
    assert!(r.is_empty(), "{r:?}");
}

// ---------------------------------------------------------------------------------------
// std parity: Debug, Display, constructors, auto traits
// ---------------------------------------------------------------------------------------

#[test]
fn debug_and_display_match_std() {
    let m = Mutex::new(1);
    let s = std::sync::Mutex::new(1);
    assert_eq!(format!("{m:?}"), format!("{s:?}"));
    {
        let g = m.lock().unwrap();
        let sg = s.lock().unwrap();
        assert_eq!(format!("{g:?}"), format!("{sg:?}"));
        assert_eq!(format!("{g}"), format!("{sg}"));
        assert_eq!(format!("{m:?}"), format!("{s:?}"));
    }
    let rw = RwLock::new(String::from("x"));
    let srw = std::sync::RwLock::new(String::from("x"));
    assert_eq!(format!("{rw:?}"), format!("{srw:?}"));
    {
        let g = rw.write().unwrap();
        let sg = srw.write().unwrap();
        assert_eq!(format!("{g:?}"), format!("{sg:?}"));
        assert_eq!(format!("{g}"), format!("{sg}"));
        drop((g, sg));
        let g = rw.read().unwrap();
        let sg = srw.read().unwrap();
        assert_eq!(format!("{g:?} {g}"), format!("{sg:?} {sg}"));
    }
    let c = OnceLock::<u32>::new();
    let sc = std::sync::OnceLock::<u32>::new();
    assert_eq!(format!("{c:?}"), format!("{sc:?}"));
    c.set(1).unwrap();
    sc.set(1).unwrap();
    assert_eq!(format!("{c:?}"), format!("{sc:?}"));
    let l = LazyLock::new(|| 1);
    let sl = std::sync::LazyLock::new(|| 1);
    assert_eq!(format!("{l:?}"), format!("{sl:?}"));
    let _ = (*l, *sl);
    assert_eq!(format!("{l:?}"), format!("{sl:?}"));
    assert_eq!(
        format!("{:?}", Once::new()),
        format!("{:?}", std::sync::Once::new())
    );
    assert_eq!(
        format!("{:?}", Condvar::new()),
        format!("{:?}", std::sync::Condvar::new())
    );
}

#[test]
fn poisoned_debug_matches_std() {
    let m = common::poisoned(Arc::new(Mutex::new(1)));
    let s = std::sync::Arc::new(std::sync::Mutex::new(1));
    let s2 = s.clone();
    let _ = std::thread::spawn(move || {
        let _g = s2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert_eq!(format!("{m:?}"), format!("{s:?}"));
    let e = m.lock().unwrap_err();
    let se = s.lock().unwrap_err();
    assert_eq!(format!("{e:?} {e}"), format!("{se:?} {se}"));
}

fn send_sync<T: Send + Sync>() {}
fn sync_only<T: Sync>() {}

#[test]
fn auto_traits_as_std() {
    send_sync::<Mutex<u32>>();
    send_sync::<RwLock<u32>>();
    send_sync::<Condvar>();
    send_sync::<Once>();
    send_sync::<OnceLock<u32>>();
    send_sync::<LazyLock<u32>>();
    sync_only::<lockdep::stdsync::MutexGuard<'static, u32>>();
    sync_only::<lockdep::stdsync::RwLockReadGuard<'static, u32>>();
    sync_only::<lockdep::stdsync::RwLockWriteGuard<'static, u32>>();
    static _M: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static _R: RwLock<Vec<u32>> = RwLock::new(Vec::new());
    static _C: Condvar = Condvar::new();
    static _O: Once = Once::new();
    let _d: Mutex<u32> = Mutex::default();
    let _f: RwLock<u32> = RwLock::from(3);
    let _l: LazyLock<u32> = LazyLock::default();
}

// ---------------------------------------------------------------------------------------
// Panic mode (process-wide: in a child process)
// ---------------------------------------------------------------------------------------

/// The child's cases: `REVIEW_CASE` names one; prints `CHILD OK` when it held up.
#[test]
fn child() {
    let Ok(case) = std::env::var("REVIEW_CASE") else {
        return;
    };
    lockdep::set_mode(lockdep::Mode::Panic);
    std::panic::set_hook(Box::new(|_| {}));
    match case.as_str() {
        // A wait holding B, where the notifier takes B while the condition is pending: a
        // CircularWait, raised (a panic) before sleeping, with the mutex released.
        "std_wait_while" => {
            let m = Mutex::named("review.pm.M", 0);
            let b = Mutex::named("review.pm.B", 0);
            let cv = Condvar::new();
            cv.arm();
            drop(b.lock().unwrap());
            cv.notify_one();
            let gb = b.lock().unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| {
                let g = m.lock().unwrap();
                let _ = cv.wait_timeout_while(g, Duration::from_millis(10), |_| true);
            }));
            assert!(r.is_err(), "no panic");
            assert!(!m.is_held() && b.is_held());
            drop(gb);
            assert!(!b.is_held());
            drop(m.lock());
        }
        "pl_wait" => {
            let m = lockdep::Mutex::named("review.pm.plM", 0);
            let b = lockdep::Mutex::named("review.pm.plB", 0);
            let cv = lockdep::Condvar::new();
            cv.arm();
            drop(b.lock());
            cv.notify_one();
            let gb = b.lock();
            let r = catch_unwind(AssertUnwindSafe(|| {
                let mut g = m.lock();
                let _ = cv.wait_for(&mut g, Duration::from_millis(10));
            }));
            assert!(r.is_err(), "no panic");
            assert!(!is_held(&m) && is_held(&b));
            drop(gb);
            assert!(!is_held(&b));
            drop(m.lock());
        }
        other => panic!("unknown case {other}"),
    }
    println!("CHILD OK");
}

#[test]
fn panic_mode_condvar_report_before_sleeping_leaves_nothing_held() {
    for case in ["std_wait_while", "pl_wait"] {
        let (out, err, finished) = common::run_child("REVIEW_CASE", case, &[]);
        assert!(finished, "{case}: hung");
        assert!(out.contains("CHILD OK"), "{case}:\n{out}\n{err}");
    }
}

/// `wait_timeout_while` with a zero timeout never sleeps in std (the deadline has passed when
/// the condition is first true), so it waits on nothing: holding a lock the notifier takes
/// is no CircularWait there.
#[test]
fn zero_timeout_wait_while_that_never_sleeps_is_no_wait() {
    let m = Mutex::named("review.zero.M", 0);
    let b = Mutex::named("review.zero.B", 0);
    let cv = Condvar::new();
    let (_, r) = capture(|| {
        cv.arm();
        drop(b.lock().unwrap());
        cv.notify_one();
        let _gb = b.lock().unwrap();
        let g = m.lock().unwrap();
        let (_g, t) = cv.wait_timeout_while(g, Duration::ZERO, |_| true).unwrap();
        assert!(t.timed_out());
    });
    assert!(r.is_empty(), "{r:?}");
}

/// The same for every wait that cannot sleep: std's `wait_timeout` with a zero timeout,
/// parking_lot's `wait_for` with a zero timeout, `wait_until` / `wait_while_until` with a
/// deadline already passed. (A wait with time left is still validated: the last case.)
#[test]
fn waits_that_cannot_sleep_are_no_waits() {
    use std::time::Instant;
    let m = Mutex::named("review.nosleep.M", 0);
    let b = Mutex::named("review.nosleep.B", 0);
    let cv = Condvar::new();
    let pm = lockdep::Mutex::named("review.nosleep.PM", 0);
    let pcv = lockdep::Condvar::new();
    let (_, r) = capture(|| {
        cv.arm();
        pcv.arm();
        drop(b.lock().unwrap());
        cv.notify_one();
        pcv.notify_one();
        let _gb = b.lock().unwrap();
        let g = m.lock().unwrap();
        let (_g, t) = cv.wait_timeout(g, Duration::ZERO).unwrap();
        assert!(t.timed_out());
        let mut g = pm.lock();
        assert!(pcv.wait_for(&mut g, Duration::ZERO).timed_out());
        let past = Instant::now();
        assert!(pcv.wait_until(&mut g, past).timed_out());
        assert!(pcv.wait_while_until(&mut g, |_| true, past).timed_out());
        assert!(pm.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    let (_, r) = capture(|| {
        let _gb = b.lock().unwrap();
        let mut g = pm.lock();
        assert!(pcv.wait_for(&mut g, Duration::from_millis(1)).timed_out());
    });
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [lockdep::ReportKind::CircularWait]
    );
}
