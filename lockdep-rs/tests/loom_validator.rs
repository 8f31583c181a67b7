//! loom model-checks the validator itself (build with `RUSTFLAGS="--cfg loom"`; the README's
//! test command does, with `LOOM_MAX_PREEMPTIONS=2`).
//!
//! Under `cfg(loom)` lockdep's locks are loom-modelled, so loom explores every interleaving of
//! the acquisitions while the validator runs for real. Each model iteration starts with
//! `lockdep::reset()`: the dependency graph is process-wide and must not carry edges from one
//! explored interleaving into the next. The tests of this binary take `SERIAL` because the
//! graph and the mode are global.
#![cfg(loom)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use lockdep::{LockClass, Mode, Mutex};
use loom::sync::Arc;
use loom::thread;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // Panics of lockdep's Panic mode are expected here: print only the unexpected ones.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if !msg.contains("WARNING: possible circular locking dependency detected") {
            eprintln!("{info}");
        }
    }));
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes `first` then `second`; returns true if lockdep panicked (the lock was not taken).
fn ordered(first: &Mutex<()>, second: &Mutex<()>) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        let _f = first.lock();
        let _s = second.lock();
    }))
    .is_err()
}

/// AB on one thread, BA on another, Panic mode: in every interleaving exactly one thread
/// reports the inversion before blocking, so no interleaving deadlocks (loom would report the
/// deadlock) and no edge is lost (both threads slipping past would deadlock or report none).
#[test]
fn abba_in_panic_mode_never_deadlocks() {
    let _s = serial();
    loom::model(|| {
        lockdep::reset();
        lockdep::set_mode(Mode::Panic);
        let a = Arc::new(Mutex::named("A", ()));
        let b = Arc::new(Mutex::named("B", ()));
        let (a1, b1) = (a.clone(), b.clone());
        let t = thread::spawn(move || ordered(&a1, &b1));
        let second = ordered(&b, &a);
        let first = t.join().unwrap();
        assert!(
            first ^ second,
            "exactly one side must report (first {first}, second {second})"
        );
    });
    lockdep::set_mode(Mode::Warn);
}

/// Three threads close the cycle A -> B -> C -> A between them, Panic mode: in no
/// interleaving do all three slip past (that would be the real three-way deadlock loom
/// reports), and at least one reports.
#[test]
fn three_thread_cycle_in_panic_mode_never_deadlocks() {
    let _s = serial();
    loom::model(|| {
        lockdep::reset();
        lockdep::set_mode(Mode::Panic);
        let l = Arc::new([
            Mutex::named("A", ()),
            Mutex::named("B", ()),
            Mutex::named("C", ()),
        ]);
        let spawn = |i: usize| {
            let l = l.clone();
            thread::spawn(move || ordered(&l[i], &l[(i + 1) % 3]))
        };
        let (t0, t1) = (spawn(0), spawn(1));
        let p2 = ordered(&l[2], &l[0]);
        let (p0, p1) = (t0.join().unwrap(), t1.join().unwrap());
        assert!(p0 || p1 || p2, "the three-lock cycle went unreported");
    });
    lockdep::set_mode(Mode::Warn);
}

/// Two threads register the same never-seen class at once: one class results.
#[test]
fn concurrent_first_registration_yields_one_class() {
    let _s = serial();
    loom::model(|| {
        let key: &'static LockClass = Box::leak(Box::new(LockClass::new("fresh")));
        let before = lockdep::stats().classes;
        let t = thread::spawn(move || drop(Mutex::with_class(key, ()).lock()));
        drop(Mutex::with_class(key, ()).lock());
        t.join().unwrap();
        assert_eq!(lockdep::stats().classes, before + 1);
    });
}

/// Two threads fill the chain cache with [A, B] concurrently while a third takes B then A:
/// the inversion is always caught (never hidden behind a chain that looked validated), and
/// nothing deadlocks.
#[test]
fn concurrent_chain_fills_never_hide_an_inversion() {
    let _s = serial();
    loom::model(|| {
        lockdep::reset();
        lockdep::set_mode(Mode::Panic);
        let a = Arc::new(Mutex::named("A", ()));
        let b = Arc::new(Mutex::named("B", ()));
        let spawn_ab =
            |a: Arc<Mutex<()>>, b: Arc<Mutex<()>>| thread::spawn(move || ordered(&a, &b));
        let t1 = spawn_ab(a.clone(), b.clone());
        let t2 = spawn_ab(a.clone(), b.clone());
        let ba = ordered(&b, &a);
        let (ab1, ab2) = (t1.join().unwrap(), t2.join().unwrap());
        assert!(ab1 || ab2 || ba, "the A/B inversion went unreported");
        assert!(
            !(ba && (ab1 || ab2)),
            "both orders panicked: an edge was recorded twice over"
        );
    });
    lockdep::set_mode(Mode::Warn);
}

/// The README's example: a user's own code, model-checked with order validation on. Here a
/// consistent order: no interleaving deadlocks and nothing is reported.
#[test]
fn user_code_with_a_consistent_order() {
    let _s = serial();
    loom::model(|| {
        lockdep::reset();
        let (_, reports) = lockdep::capture(|| {
            let accounts = Arc::new([Mutex::named("account", 10), Mutex::named("account", 10)]);
            let other = accounts.clone();
            let t = thread::spawn(move || lockdep::capture(|| transfer(&other, 0, 1)).1);
            transfer(&accounts, 1, 0);
            assert!(t.join().unwrap().is_empty());
        });
        assert!(reports.is_empty(), "{reports:?}");
    });
}

/// Moves one unit between two accounts, locking the lower index first.
fn transfer(accounts: &[Mutex<i32>; 2], from: usize, to: usize) {
    let (lo, hi) = (from.min(to), from.max(to));
    let mut first = accounts[lo].lock();
    let mut second = accounts[hi].lock_nested(1);
    let (src, dst) = if from < to {
        (&mut *first, &mut *second)
    } else {
        (&mut *second, &mut *first)
    };
    *src -= 1;
    *dst += 1;
}

/// Exercises every `unsafe` block of the loom build's locks (`sync/loom_locks.rs`): guard
/// dereferences, `force_unlock*`, and `Send`/`Sync` across a loom thread.
#[test]
fn loom_locks_unsafe_paths() {
    let _s = serial();
    loom::model(|| {
        lockdep::reset();
        let m = Arc::new(Mutex::named("loom_m", 1u32));
        let rw = Arc::new(lockdep::RwLock::named("loom_rw", vec![1u32]));
        let (m2, rw2) = (m.clone(), rw.clone());
        let t = thread::spawn(move || {
            *m2.lock() += 1;
            rw2.write().push(2);
            rw2.read_recursive().len()
        });
        {
            let mut g = m.lock();
            *g += 10;
        }
        let seen = rw.read().len();
        assert!(seen == 1 || seen == 2);
        std::mem::forget(m.lock());
        // SAFETY: the guard was forgotten just above; this thread holds the mutex.
        unsafe { m.force_unlock() };
        std::mem::forget(rw.read());
        // SAFETY: as above, for a read guard.
        unsafe { rw.force_unlock_read() };
        std::mem::forget(rw.write());
        // SAFETY: as above, for the write guard.
        unsafe { rw.force_unlock_write() };
        let len = t.join().unwrap();
        assert!(len == 2);
        assert_eq!(*m.lock(), 12);
        assert!(m.try_lock().is_some() && rw.try_write().is_some() && rw.try_read().is_some());
    });
}
