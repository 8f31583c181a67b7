//! `lockdep::stdsync`: std's signatures and poisoning, with validation (exact kinds and classes).
#![cfg(all(lockdep_enabled, not(loom)))] // the drop-in API beyond the basic locks is not built under loom

use std::time::Duration;

use lockdep::stdsync::{Arc, Condvar, LazyLock, Mutex, Once, OnceLock, RwLock, TryLockError};
use lockdep::{capture, Report, ReportKind};

mod common;

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

#[test]
fn abba_on_std_locks_is_reported() {
    let a = Mutex::named("std.A", 0);
    let b = RwLock::named("std.B", 0);
    let (_, r) = capture(|| {
        {
            let _a = a.lock().unwrap();
            let _b = b.write().unwrap();
        }
        let _b = b.read().unwrap();
        let _a = a.lock().unwrap();
    });
    assert_eq!(kinds(&r), [ReportKind::CircularDependency]);
    let mut names = r[0].class_names();
    names.sort();
    assert_eq!(names, ["std.A", "std.B"]);
}

/// A panic while holding the lock poisons it; the poisoned acquisition is held like any
/// other (the error carries the guard) and `clear_poison` ends it.
#[test]
fn poisoning_is_std_s_and_the_poisoned_guard_is_held() {
    let m = common::poisoned(Arc::new(Mutex::named("std.poison", 1)));
    let (_, r) = capture(|| {
        let err = m.lock().unwrap_err();
        let g = err.into_inner();
        assert!(m.is_held());
        assert_eq!(*g, 1);
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        assert!(!m.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    m.clear_poison();
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

/// `Condvar::wait(guard)` by value, `wait_timeout`, `wait_timeout_while`: the mutex is
/// released while waiting and held again after.
#[test]
fn condvar_waits_take_the_guard_by_value() {
    let pair = Arc::new((Mutex::named("std.cv", false), Condvar::new()));
    let p = pair.clone();
    let t = std::thread::spawn(move || {
        *p.0.lock().unwrap() = true;
        p.1.notify_all();
    });
    let (_, r) = capture(|| {
        let g = pair.0.lock().unwrap();
        let (g, _) = pair.1.wait_timeout(g, Duration::from_millis(1)).unwrap();
        assert!(pair.0.is_held());
        let g = pair.1.wait_while(g, |ready| !*ready).unwrap();
        assert!(*g);
        let (g, res) = pair
            .1
            .wait_timeout_while(g, Duration::from_millis(1), |_| true)
            .unwrap();
        assert!(res.timed_out());
        assert!(pair.0.is_held());
        drop(g);
        assert!(!pair.0.is_held());
    });
    assert!(r.is_empty(), "{r:?}");
    t.join().unwrap();
}

/// `OnceLock::get_or_init` may wait for another thread's initializer: a waiter holding a
/// lock the initializer needs is a `CircularWait` (two cells of one site share the event
/// class, so both sides are seen without a real hang).
#[test]
fn oncelock_initializer_needing_a_held_lock_is_a_circular_wait() {
    fn cell() -> OnceLock<u32> {
        OnceLock::new()
    }
    let (first, second) = (cell(), cell());
    let state = Mutex::named("std.once.state", 3);
    let (_, r) = capture(|| {
        assert_eq!(*first.get_or_init(|| *state.lock().unwrap()), 3);
        let _held = state.lock().unwrap();
        assert_eq!(*second.get_or_init(|| 4), 4);
    });
    assert_eq!(kinds(&r), [ReportKind::CircularWait]);
    assert!(r[0].class_names().contains(&"std.once.state".to_string()));
}

/// The same for `LazyLock` forcing.
#[test]
fn lazylock_forcing_is_a_tracked_wait() {
    static STATE: Mutex<u32> = Mutex::named("std.lazy.state", 5);
    fn lazy(init: fn() -> u32) -> LazyLock<u32> {
        LazyLock::new(init)
    }
    let first = lazy(|| *STATE.lock().unwrap()); // its initializer needs STATE
    let second = lazy(|| 6);
    let (_, r) = capture(|| {
        assert_eq!(*first, 5);
        let _held = STATE.lock().unwrap();
        assert_eq!(*LazyLock::force(&second), 6); // may wait for an initializer, holding STATE
        assert_eq!(*first, 5); // complete: no wait, nothing recorded
    });
    assert_eq!(kinds(&r), [ReportKind::CircularWait]);
    assert!(r[0].class_names().contains(&"std.lazy.state".to_string()));
}

/// Runs `f` expecting lockdep to stop it as a certain self-deadlock (std would hang: the
/// watchdog aborts the test binary if it does); returns the reports it raised.
fn stopped_reinit(what: &'static str, f: impl FnOnce()) -> Vec<Report> {
    let _watchdog = common::watchdog(what, 20);
    let (outcome, r) = capture(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    let payload = outcome.expect_err("a re-entrant initialization must panic, not hang");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("certain self-deadlock") && text.contains("initializer"),
        "{text}"
    );
    r
}

/// An initializer that reaches its own cell again (directly or through what it calls) waits
/// for itself: std's `OnceLock`, `LazyLock` and `Once` hang (or panic, unspecified). It was
/// reported only as a possible recursive locking, and then hung; it is a certain
/// self-deadlock: reported and stopped with a panic, as re-locking a held mutex is.
#[test]
fn a_reentrant_initialization_is_stopped_not_hung() {
    static CELL: OnceLock<u32> = OnceLock::new();
    fn init_cell() -> u32 {
        *CELL.get_or_init(init_cell) + 1
    }
    let r = stopped_reinit("re-entrant OnceLock", || {
        CELL.get_or_init(init_cell);
    });
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    // (A cell's class is its construction site, and so is its name.)
    assert_eq!(
        r[0].class_names(),
        ["OnceLock at lockdep-rs/tests/dropin_stdsync.rs:143:34"]
    );
    assert!(r[0].to_string().contains("re-entrant"), "{}", r[0]);
    assert!(CELL.get().is_none(), "the initializer never completed");

    static LAZY: LazyLock<u32> = LazyLock::new(|| *LAZY + 1);
    let r = stopped_reinit("re-entrant LazyLock", || {
        let _ = *LAZY;
    });
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);

    static ONCE: Once = Once::new();
    fn run_once() {
        ONCE.call_once(run_once);
    }
    let r = stopped_reinit("re-entrant Once", run_once);
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);

    // A cell initialised inside another cell's initializer is no re-entry.
    static OUTER: OnceLock<u32> = OnceLock::new();
    static INNER: OnceLock<u32> = OnceLock::new();
    let (v, r) = capture(|| *OUTER.get_or_init(|| *INNER.get_or_init(|| 1) + 1));
    assert_eq!(v, 2);
    assert!(r.is_empty(), "{r:?}");
}

/// A lazily computed tree: each node caches its value in a `OnceLock` (all built at one
/// site, one class) whose initializer forces its children's. Cells of one site nesting are
/// no recursive locking (it was reported as such): their order is per instance, and a cell
/// reached again from its own initializer is still stopped (above).
#[test]
fn nested_initializers_of_one_sites_cells_are_no_recursion() {
    struct Node {
        value: OnceLock<u32>,
        done: Once,
        children: Vec<Node>,
    }
    impl Node {
        fn new(children: Vec<Node>) -> Node {
            Node {
                value: OnceLock::new(),
                done: Once::new(),
                children,
            }
        }
        fn value(&self) -> u32 {
            *self
                .value
                .get_or_init(|| 1 + self.children.iter().map(Node::value).sum::<u32>())
        }
        fn finish(&self) {
            self.done
                .call_once(|| self.children.iter().for_each(Node::finish));
        }
    }
    let tree = Node::new(vec![Node::new(vec![Node::new(vec![])]), Node::new(vec![])]);
    let (v, r) = capture(|| {
        tree.finish();
        tree.value()
    });
    assert_eq!(v, 4);
    assert!(r.is_empty(), "{r:?}");
}

/// Code written against `std::thread` switches over with its path: `lockdep::thread` has
/// std's items (`Builder`, `scope`, `sleep`, `current`, …), and a join is a validated wait:
/// joining a thread while holding a lock it takes is a `CircularWait`, seen before any hang.
#[test]
fn std_thread_code_switches_over_and_its_joins_are_validated() {
    use lockdep::thread; // was: use std::thread;
    let state = Arc::new(Mutex::named("std.thread.state", 0));
    let (_, r) = capture(|| {
        let s = state.clone();
        let worker = thread::Builder::new()
            .name("std.worker".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                thread::sleep(Duration::from_millis(1));
                *s.lock().unwrap() += 1;
                thread::current().name().map(str::to_owned)
            })
            .unwrap();
        assert_eq!(worker.join().unwrap().as_deref(), Some("std.worker"));
        thread::scope(|scope| {
            for hold in [false, true] {
                // Threads of this spawn site take `state` (the first one does).
                let h = thread::Builder::new()
                    .spawn_scoped(scope, {
                        let state = &state;
                        move || {
                            if !hold {
                                *state.lock().unwrap() += 1;
                            }
                        }
                    })
                    .unwrap();
                let _held = hold.then(|| state.lock().unwrap());
                h.join().unwrap(); // the second time: joining while holding `state`
            }
        });
        assert_eq!(*state.lock().unwrap(), 2);
        let _: thread::ThreadId = thread::current().id();
        thread::yield_now();
    });
    assert_eq!(kinds(&r), [ReportKind::CircularWait]);
    assert!(
        r[0].class_names().contains(&"std.thread.state".to_string()),
        "{:?}",
        r[0].class_names()
    );
    // A join's report says what its armed span is (the thread's whole life) and how to tell
    // a handshake-protected join from a real deadlock.
    let text = r[0].to_string();
    assert!(
        text.contains("that span is the thread's whole life"),
        "{text}"
    );
    assert!(
        text.contains("join after releasing std.thread.state"),
        "{text}"
    );
}

/// std code detaches threads by dropping their handles (`thread::spawn(..);`, and
/// `builder.spawn(..).unwrap();` in threadpool's `spawn_in_pool` and rayon-core's
/// `DefaultSpawn`): switched to `lockdep::thread` it builds warning-free as with std (whose
/// `JoinHandle` is not `#[must_use]`), and std's deprecated `sleep_ms` / `park_timeout_ms` and
/// the unix `JoinHandleExt` are there too.
#[test]
#[deny(unused_must_use)]
fn std_thread_idioms_build_as_with_std() {
    use lockdep::thread; // was: use std::thread;
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    thread::spawn(move || tx.send(1).unwrap());
    thread::Builder::new()
        .name("detached".into())
        .spawn(move || tx2.send(2).unwrap())
        .unwrap();
    let mut got: Vec<i32> = rx.iter().take(2).collect();
    got.sort();
    assert_eq!(got, [1, 2]);
    #[allow(deprecated)]
    {
        thread::sleep_ms(1);
        thread::park_timeout_ms(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::thread::JoinHandleExt;
        let h = thread::spawn(|| ());
        let _: std::os::unix::thread::RawPthread = h.as_pthread_t();
        h.join().unwrap();
    }
}

/// Items of `std::sync` newer than the crate's minimum Rust, mirrored when the compiler's std
/// has them (cfgs probed by the build script): `RwLockWriteGuard::downgrade` keeps the lock
/// held, now as a reader (a second read on the thread is a possible recursive read, no
/// longer a certain self-deadlock).
#[cfg(lockdep_std_rwlock_downgrade)]
#[test]
fn rwlock_write_guard_downgrade_as_std() {
    use lockdep::stdsync::RwLockWriteGuard;
    let rw = RwLock::named("std.downgrade", 1);
    let (_, r) = capture(|| {
        let mut w = rw.write().unwrap();
        *w += 1;
        let g = RwLockWriteGuard::downgrade(w);
        assert_eq!(*g, 2);
        assert!(rw.is_held());
        let again = rw.read().unwrap(); // a reader beside a reader: reported, not stopped
        assert_eq!(*again, 2);
    });
    assert_eq!(kinds(&r), [ReportKind::RecursiveLocking]);
    assert!(!r[0].to_string().contains("certain"), "{}", r[0]);
    assert!(!rw.is_held());
}

/// `LazyLock::get`, `get_mut`, `force_mut`, as std's (where the compiler's std has them).
#[cfg(lockdep_std_lazy_get)]
#[test]
fn lazylock_get_and_force_mut_as_std() {
    let mut lazy = LazyLock::new(|| 5);
    assert_eq!(LazyLock::get(&lazy), None);
    assert_eq!(LazyLock::get_mut(&mut lazy), None);
    *LazyLock::force_mut(&mut lazy) += 1;
    assert_eq!(LazyLock::get(&lazy), Some(&6));
    *LazyLock::get_mut(&mut lazy).unwrap() += 1;
    assert_eq!(*lazy, 7);
    let mut poisoned: LazyLock<u32> = LazyLock::new(|| panic!("initializer"));
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LazyLock::force_mut(&mut poisoned);
    }))
    .is_err());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LazyLock::force_mut(&mut poisoned);
    }))
    .unwrap_err();
    assert_eq!(
        again.downcast_ref::<&str>(),
        Some(&"LazyLock instance has previously been poisoned")
    );
    assert_eq!(LazyLock::get(&poisoned), None);
}

fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

/// As std's, the locks are unwind-safe (poisoning), so `catch_unwind` around code that uses
/// them builds unchanged (it did not: E0277 naming lockdep's internals).
#[test]
fn the_locks_are_unwind_safe_as_stds() {
    use lockdep::stdsync::{Condvar, LazyLock, Mutex, Once, OnceLock, RwLock};
    unwind_safe::<Mutex<std::cell::Cell<u32>>>();
    unwind_safe::<RwLock<std::cell::Cell<u32>>>();
    unwind_safe::<Condvar>();
    unwind_safe::<Once>();
    unwind_safe::<OnceLock<u32>>();
    unwind_safe::<LazyLock<u32>>();
    // ... and so are their guards (they were not, with validation on).
    unwind_safe::<lockdep::stdsync::MutexGuard<'static, std::cell::Cell<u32>>>();
    unwind_safe::<lockdep::stdsync::RwLockReadGuard<'static, u32>>();
    unwind_safe::<lockdep::stdsync::RwLockWriteGuard<'static, std::cell::Cell<u32>>>();
    let m = Mutex::new(1);
    let r = std::panic::catch_unwind(|| *m.lock().unwrap() + 1);
    assert_eq!(r.ok(), Some(2));
}

/// std's `OnceLock::wait` and `Once::wait` (Rust 1.86): block until another thread's
/// initializer completed.
#[test]
fn once_lock_and_once_wait_for_the_initializer() {
    use lockdep::stdsync::{Once, OnceLock};
    let cell: OnceLock<u32> = OnceLock::new();
    let once = Once::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            cell.set(7).unwrap();
            once.call_once(|| {});
        });
        assert_eq!(*cell.wait(), 7);
        once.wait();
        assert!(once.is_completed());
    });
    once.wait_force();
}
