//! The validator's bookkeeping on its less common paths: cached chains and the certain
//! self-deadlock check, nest-lock merges, condvar waits on nested guards, several problems in
//! one acquisition, pseudo-locks, `lockdep::thread` trees, `capture` in thread-local
//! destructors. Each test is the regression test of one defect (issue 12); the tests that
//! change the process-wide mode or hook are in `bookkeeping_global.rs`.
#![cfg(lockdep_enabled)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use common::Scope;
use lockdep::{Condvar, LockMap, Mode, Mutex, MutexGuard, Report, ReportKind};

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

/// Runs `f` on a thread of its own; fails (instead of hanging the suite) if it has not
/// finished within `secs` seconds: a lock the validator failed to stop is a real hang.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("still running after {secs} s: a real self-deadlock"),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` inside a capture and expects it to panic as a certain self-deadlock; returns the
/// captured reports.
fn expect_certain_deadlock(f: impl FnOnce()) -> Vec<Report> {
    let (outcome, reports) = lockdep::capture(|| catch_unwind(AssertUnwindSafe(f)));
    let payload = outcome.expect_err("a certain self-deadlock must panic, not hang");
    let text = panic_text(&*payload);
    assert!(text.contains("certain self-deadlock"), "{text}");
    reports
}

/// `transfer` the classic way: the lower address first, the other with `lock_nested(1)`.
fn transfer(a: &Mutex<i64>, b: &Mutex<i64>, amount: i64) {
    let (first, second) = if (a as *const _) < (b as *const _) {
        (a, b)
    } else {
        (b, a)
    };
    let mut g1 = first.lock();
    let mut g2 = second.lock_nested(1);
    *g1 -= amount;
    *g2 += amount;
}

/// Issue 12, item 1: a cached chain skipped the same-instance check. `transfer(x, y)` cached
/// the chain `account, account/1`; `transfer(x, x)` then hung instead of panicking.
#[test]
fn a_cached_chain_still_catches_a_certain_self_deadlock() {
    setup();
    let s = Scope::new("bk1");
    let x = std::sync::Arc::new(Mutex::with_class(s.class("account"), 100));
    let y = Mutex::with_class(s.class("account"), 100);
    let reports = within(10, move || {
        let (_, none) = lockdep::capture(|| {
            for _ in 0..3 {
                transfer(&x, &y, 1); // the chain is now in every cache, the fast path's too
            }
        });
        assert!(none.is_empty(), "{none:?}");
        expect_certain_deadlock(|| transfer(&x, &x, 1))
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    assert_eq!(
        reports[0].class_names(),
        [s.name("account") + "/1", s.name("account")]
    );
}

/// Item 1, the nest-lock variant: `[N, B1, C, B2]` with `B2` under the nest lock is exempt and
/// was cached; `[N, B1, C, B1]` is the same chain, and re-locking `B1` then hung.
#[test]
fn a_nest_exempt_chain_still_catches_a_certain_self_deadlock() {
    setup();
    let s = Scope::new("bk1n");
    let all = std::sync::Arc::new((
        s.mutex("list"),
        Mutex::with_class(s.class("item"), ()),
        Mutex::with_class(s.class("item"), ()),
        s.mutex("C"),
    ));
    let reports = within(10, move || {
        let (n, b1, b2, c) = (&all.0, &all.1, &all.2, &all.3);
        let (_, none) = lockdep::capture(|| {
            for _ in 0..3 {
                let gn = n.lock();
                let _g1 = b1.lock_nest_lock(&gn);
                let _gc = c.lock();
                let _g2 = b2.lock_nest_lock(&gn); // not on top of B1: exempt, not merged
            }
        });
        assert!(none.is_empty(), "{none:?}");
        expect_certain_deadlock(|| {
            let gn = n.lock();
            let _g1 = b1.lock_nest_lock(&gn);
            let _gc = c.lock();
            let _again = b1.lock_nest_lock(&gn);
        })
    });
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    assert_eq!(reports[0].class_names(), [s.name("item")]);
}

/// Item 2: a lock merged into another entry under a nest lock disappeared from the held
/// state: `is_held` was false, `assert_held` panicked, re-locking it hung.
#[test]
fn locks_merged_under_a_nest_lock_stay_visible() {
    setup();
    let s = Scope::new("bk2");
    let all = std::sync::Arc::new((
        s.mutex("list"),
        Mutex::with_class(s.class("item"), ()),
        Mutex::with_class(s.class("item"), ()),
    ));
    within(10, move || {
        let (list, a, b) = (&all.0, &all.1, &all.2);
        let (_, reports) = lockdep::capture(|| {
            let gl = list.lock();
            let ga = a.lock_nest_lock(&gl);
            let gb = b.lock_nest_lock(&gl);
            assert!(lockdep::is_held(a) && lockdep::is_held(b));
            lockdep::assert_held(&ga);
            lockdep::assert_held(&gb);
            drop(ga); // the first of the merged pair goes first
            assert!(!lockdep::is_held(a));
            assert!(lockdep::is_held(b));
            lockdep::assert_held(&gb);
            let again = catch_unwind(AssertUnwindSafe(|| drop(b.lock_nest_lock(&gl))));
            assert!(
                again.is_err(),
                "re-locking a merged lock must panic, not hang"
            );
            drop(gb);
            assert!(!lockdep::is_held(b));
            drop(gl);
        });
        let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
        assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:?}");
    });
}

/// Item 3: the chain key ignored nest locks. `[N, B, C, B]` with the second `B` under the nest
/// lock was validated as exempt and cached; the same classes taken without the nest lock were
/// then never reported as recursive locking.
#[test]
fn a_chain_validated_as_nest_exempt_is_not_reused_without_the_nest_lock() {
    setup();
    let s = Scope::new("bk3");
    let n = s.mutex("N");
    let (b1, b2) = (
        Mutex::with_class(s.class("B"), ()),
        Mutex::with_class(s.class("B"), ()),
    );
    let c = s.mutex("C");
    let (_, exempt) = lockdep::capture(|| {
        let gn = n.lock();
        let _g1 = b1.lock();
        let _gc = c.lock();
        let _g2 = b2.lock_nest_lock(&gn);
    });
    assert!(exempt.is_empty(), "{exempt:?}");
    let (_, reports) = lockdep::capture(|| {
        let _gn = n.lock();
        let _g1 = b1.lock();
        let _gc = c.lock();
        let _g2 = b2.lock();
    });
    common::expect_kind(
        "B twice without the nest lock",
        &reports,
        ReportKind::RecursiveLocking,
        &[s.name("B")],
    );
}

/// Item 4: a condvar wait re-acquired a guard taken with `lock_nested(1)` as subclass 0: a
/// false recursive-locking report after the wait, and a real inversion through the guard
/// missed.
#[test]
fn a_condvar_wait_restores_the_subclass() {
    setup();
    let s = Scope::new("bk4");
    let pair = std::sync::Arc::new((
        Mutex::with_class(s.class("M"), false),
        Mutex::with_class(s.class("M"), false),
        Condvar::new(),
    ));
    let z = s.mutex("Z");
    let (_, reports) = lockdep::capture(|| {
        let _outer = pair.0.lock();
        let mut g = pair.1.lock_nested(1);
        let p = pair.clone();
        let waker = std::thread::spawn(move || {
            *p.1.lock_nested(1) = true;
            p.2.notify_all();
        });
        // The waker takes M/1 itself, so the wait really sleeps and wakes.
        pair.2.wait_while(&mut g, |ready| !*ready);
        let _gz = z.lock(); // M/1 -> Z, if the wait kept the subclass
        drop(_gz);
        drop(g);
        waker.join().unwrap();
    });
    common::expect_none("the wait on a nested guard", &reports);
    // Z -> M/1 now closes the cycle M/1 -> Z -> M/1.
    let (_, reports) = lockdep::capture(|| {
        let _gz = z.lock();
        let _g = pair.0.lock_nested(1);
    });
    let m1 = s.name("M") + "/1";
    common::expect_circular(
        "Z then M/1",
        &reports,
        &m1,
        &s.name("Z"),
        &[m1.clone(), s.name("Z")],
    );
}

/// Item 4: a condvar wait restores the mutex where it was in the held stack (position) and
/// with its nest lock.
#[test]
fn a_condvar_wait_restores_the_position_and_the_nest_lock() {
    setup();
    let s = Scope::new("bk4p");
    let n = s.mutex("N");
    let m = std::sync::Arc::new((Mutex::with_class(s.class("B"), 0u32), Condvar::new()));
    let other_b = Mutex::with_class(s.class("B"), 0u32);
    let c = s.mutex("C");
    let probe = LockMap::new("bk4p.probe");
    let (_, reports) = lockdep::capture(|| {
        let gn = n.lock();
        let mut g: MutexGuard<'_, u32> = m.0.lock_nest_lock(&gn);
        let gc = c.lock(); // above the mutex in the stack
        let p = m.clone();
        let waker = std::thread::spawn(move || {
            *p.0.lock() = 1;
            p.1.notify_all();
        });
        m.1.wait_while(&mut g, |v| *v == 0);
        waker.join().unwrap();
        // Still exempt under N: another B under the nest lock is no recursive locking.
        let g2 = other_b.lock_nest_lock(&gn);
        drop(g2);
        probe.release(); // a bad unlock, to read the held stack off its report
        drop(gc);
        drop(g);
    });
    // Re-locking B after the wait while C (taken after B) is held is a real inversion of
    // B -> C: validated on top of the locks held now. Then the mutex is back where it was.
    let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
    assert_eq!(
        kinds,
        [ReportKind::CircularDependency, ReportKind::BadUnlockBalance],
        "{reports:?}"
    );
    assert_eq!(reports[0].class_names(), [s.name("B"), s.name("C")]);
    assert_eq!(
        reports[1].held_locks(),
        [s.name("N"), s.name("B"), s.name("C")]
    );
}

/// Item 6: `X; try_lock(T); Z` closes both `T <-> Z` and `X <-> Z`. Only the first was ever
/// reported (the other never), and the chain was never cached: every repeat searched the
/// graph again.
#[test]
fn every_problem_of_one_acquisition_is_reported_and_the_chain_cached() {
    setup();
    let s = Scope::new("bk6");
    let (x, t, z) = (s.mutex("X"), s.mutex("T"), s.mutex("Z"));
    let (_, setup_reports) = lockdep::capture(|| {
        drop((z.lock(), x.lock())); // Z -> X
        drop((z.lock(), t.lock())); // Z -> T
    });
    assert!(setup_reports.is_empty());
    let run = || {
        let _gx = x.lock();
        let _gt = t.try_lock().unwrap();
        let _gz = z.lock();
    };
    let (_, reports) = lockdep::capture(run);
    let mut cycles: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
            let mut names = r.class_names();
            names.sort();
            names
        })
        .collect();
    cycles.sort();
    assert_eq!(
        cycles,
        [
            vec![s.name("T"), s.name("Z")],
            vec![s.name("X"), s.name("Z")]
        ]
    );
    // Cached: a capture passing through the chain again gets the same problems, from the
    // cache; outside a capture the chain is a plain hit.
    let (_, again) = lockdep::capture(run);
    assert_eq!(again.len(), 2, "{again:?}");
}

/// Item 8: re-entering a `LockMap` panicked as a certain self-deadlock in every mode, and left
/// its entry behind. A pseudo-lock never blocks: it is recursive locking, reported.
#[test]
fn a_reentered_lock_map_is_reported_not_a_certain_deadlock() {
    setup();
    static FS_RECLAIM: LockMap = LockMap::new("bk8.fs_reclaim");
    let (_, reports) = lockdep::capture(|| {
        // Kernel self-test "fs_reclaim wrong nesting": fs_reclaim_acquire(); might_alloc();
        FS_RECLAIM.acquire();
        FS_RECLAIM.might_acquire();
        FS_RECLAIM.acquire();
        assert!(FS_RECLAIM.is_held());
        FS_RECLAIM.release();
        assert!(FS_RECLAIM.is_held(), "held twice, released once");
        FS_RECLAIM.release();
        assert!(!FS_RECLAIM.is_held());
    });
    let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:?}");
    assert_eq!(reports[0].class_names(), ["bk8.fs_reclaim"]);
}

/// Item 9a: a `lockdep::thread` that spawns and joins a child from the same spawn site (a
/// recursive fork-join), or two sites that spawn each other, is no deadlock: nothing may be
/// reported (it was `(thread exit)` recursive locking, or a circular wait).
#[test]
fn recursive_fork_join_is_silent() {
    setup();
    fn fork_join(depth: u32) -> u32 {
        if depth == 0 {
            return 1;
        }
        let left = lockdep::thread::spawn(move || fork_join(depth - 1));
        let right = fork_join(depth - 1);
        left.join().unwrap() + right
    }
    fn ping(depth: u32) {
        if depth > 0 {
            lockdep::thread::spawn(move || pong(depth - 1))
                .join()
                .unwrap();
        }
    }
    fn pong(depth: u32) {
        if depth > 0 {
            lockdep::thread::spawn(move || ping(depth - 1))
                .join()
                .unwrap();
        }
    }
    reports_about_thread_exit();
    let (leaves, reports) = lockdep::capture(|| {
        let leaves = fork_join(3);
        ping(4);
        leaves
    });
    assert_eq!(leaves, 8);
    common::expect_none("fork-join", &reports);
    // The children's reports are not captured here: none may have been kept or printed.
    assert_eq!(reports_about_thread_exit(), 0);
}

/// How many reports about thread exits were kept (outside captures) so far; drains them.
fn reports_about_thread_exit() -> usize {
    lockdep::take_reports()
        .iter()
        .filter(|r| r.class_names().iter().any(|n| n.contains("(thread exit")))
        .count()
}

/// Item 12: `capture` called from a thread-local destructor aborted the process ("thread
/// local panicked on drop"). It must run the closure (and may return no reports).
#[test]
fn capture_in_a_thread_local_destructor_does_not_abort() {
    setup();
    struct Late(std::sync::mpsc::Sender<u32>);
    impl Drop for Late {
        fn drop(&mut self) {
            let (v, _reports) = lockdep::capture(|| 7);
            let _ = self.0.send(v);
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        LATE.with(|l| *l.borrow_mut() = Some(Late(tx)));
        // Lockdep's per-thread capture state is made after LATE, so it is destroyed first:
        // LATE's destructor runs when it is gone.
        let (_, none) = lockdep::capture(|| drop(Mutex::named("bk12.m", ()).lock()));
        assert!(none.is_empty());
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
}

/// Item 14: a certain self-deadlock printed its report twice in Warn mode (once printed, once
/// in the panic message) and said "May be due to missing lock nesting notation", which no
/// annotation can help with.
#[test]
fn a_certain_self_deadlock_report_is_shown_once_and_without_the_annotation_hint() {
    setup();
    let m = Mutex::named("bk14.m", ());
    let reports = expect_certain_deadlock(|| {
        let _a = m.lock();
        let _b = m.lock();
    });
    let text = reports[0].to_string();
    assert!(!text.contains("missing lock nesting notation"), "{text}");
    assert!(
        text.contains("already holds this very lock instance"),
        "{text}"
    );
    // Captured (not printed): the panic message carries the report. Printed (Warn mode,
    // no capture), it only points at it: see `bookkeeping_global.rs`.
}

/// A timed acquisition of a lock this thread holds times out rather than hangs: it is reported
/// (recursive locking, the very instance) without a panic, and leaves nothing recorded.
#[test]
fn a_timed_relock_of_a_held_lock_is_reported_not_panicked() {
    setup();
    let m = Mutex::named("bk.timed", ());
    let g = m.lock();
    let (again, reports) = lockdep::capture(|| m.try_lock_for(Duration::from_millis(20)).is_some());
    assert!(!again, "it timed out");
    let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:?}");
    drop(g);
    assert_eq!(lockdep::held_state(&m), Some(false), "no entry left behind");
}
