//! A global allocator that takes a lockdep lock. Lockdep allocates in its slow path (classes,
//! edges, chains, backtraces, a growing held-lock stack, reports), so there the allocator's
//! acquisition re-enters lockdep on the same thread while its thread state is in use: that
//! acquisition must be left untracked, silently, without corrupting anything, and the fast
//! path (which reads the thread state without marking it borrowed) must never run inside it.
//! Everywhere else the allocator's locks are validated like any other (it takes two and
//! releases them out of order, so even its releases need the slow path). Allocations during
//! thread exit, after lockdep's thread state is destroyed, must not be tracked either.
//!
//! This binary holds a single test: the global allocator and the global mode are shared.
#![cfg(all(lockdep_enabled, not(loom)))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use lockdep::{Mode, Mutex, ReportKind};

/// Taken by every allocation while `ENABLED` is set; counts them.
static ALLOC_LOCK: Mutex<u64> = Mutex::named("allocator lock", 0);
/// Try-locked under `ALLOC_LOCK` and released after it (out of order), by every allocation.
/// A try-lock: lockdep allocates while it holds its own locks, so an allocator that held a
/// lock while *blocking* on another lockdep lock (whose first validation needs lockdep's graph
/// lock) could deadlock against a thread that holds the graph lock and is allocating, as
/// with any lock taken inside an allocator. A trylock needs no validation.
static ALLOC_AUX: Mutex<()> = Mutex::named("allocator aux lock", ());
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread is inside the allocator's critical section (its own allocations, and
    /// lockdep's while it validates `ALLOC_LOCK`, go straight to the system allocator).
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

struct LockingAlloc;

#[global_allocator]
static GLOBAL: LockingAlloc = LockingAlloc;

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the lock
// only counts.
unsafe impl GlobalAlloc for LockingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) && !INSIDE.with(|i| i.replace(true)) {
            let mut count = ALLOC_LOCK.lock();
            let aux = ALLOC_AUX.try_lock();
            *count += 1;
            drop(count); // out of order: `aux` stays held
            let p = unsafe { System.alloc(layout) };
            drop(aux);
            INSIDE.with(|i| i.set(false));
            p
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn leak_name(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn allocator_taking_lockdep_locks() {
    // Before this was fixed, the first class registration deadlocked on lockdep's own lazy
    // registry: hang detection instead of a stuck test run.
    let _w = common::watchdog("allocator_taking_lockdep_locks", 60);
    lockdep::set_mode(Mode::Collect);
    let _ = lockdep::take_reports();
    // Resolve both allocator locks' classes now: the registry, too, allocates under its locks.
    ALLOC_LOCK.register();
    ALLOC_AUX.register();
    ENABLED.store(true, Ordering::Relaxed);
    let allocations_before = *ALLOC_LOCK.lock();

    let a = Mutex::named("A", Vec::new());
    let b = Mutex::named("B", Vec::new());
    for i in 0..2_000u64 {
        let mut ga = a.lock();
        let mut gb = b.lock();
        // Allocates under A and B: `A -> B -> allocator lock`, validated normally.
        ga.push(i);
        gb.push(vec![i; (i % 7) as usize]);
        if i % 100 == 0 {
            // A new class: the slow path allocates (class, edges, backtrace, chain), and
            // the allocator's lock re-enters lockdep while its state is in use.
            let c = Mutex::named(leak_name(format!("C{i}")), String::new());
            c.lock().push_str("grows");
        }
    }
    // A deep stack: the held-lock stack grows (the push allocates) mid-acquisition.
    let deep: Vec<Mutex<u64>> = (0..64)
        .map(|i| Mutex::named(leak_name(format!("deep{i}")), i))
        .collect();
    let guards: Vec<_> = deep.iter().map(|m| m.lock()).collect();
    drop(guards);

    // A thread that allocates while its thread-locals are destroyed (its `Vec` of guards'
    // values is dropped last, and the allocator runs during exit).
    std::thread::spawn(|| {
        let m = Mutex::named("thread lock", vec![1u8; 16]);
        let g = m.lock();
        let copy = g.clone();
        drop(g);
        copy.len()
    })
    .join()
    .unwrap();

    let allocations = *ALLOC_LOCK.lock() - allocations_before;
    assert!(
        allocations > 2_000,
        "the allocator took its lock {allocations} times"
    );
    assert!(
        lockdep::take_reports().is_empty(),
        "re-entered acquisitions must stay silent"
    );
    assert!(
        !lockdep::is_held(&a) && !lockdep::is_held(&b),
        "a stale held entry"
    );
    assert!(!lockdep::is_held(&ALLOC_LOCK) && !lockdep::is_held(&ALLOC_AUX));

    // The allocator's lock was validated where it did not re-enter: `A -> B -> allocator lock`
    // is known, so taking A under it closes a cycle through all three.
    INSIDE.with(|i| i.set(true)); // from here the allocator does not lock
    let reports = {
        let _alloc = ALLOC_LOCK.lock();
        lockdep::capture(|| drop(a.lock())).1
    };
    INSIDE.with(|i| i.set(false));
    ENABLED.store(false, Ordering::Relaxed);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let mut names = reports[0].class_names();
    names.sort();
    assert_eq!(names, ["A", "B", "allocator lock"]);
}
