//! The validator's own locks, and the mark that says a thread is inside them.
//!
//! Lockdep allocates while it holds its own locks (classes, edges, chains, reports), and the
//! global allocator is user code: it may itself take lockdep locks. Such an acquisition
//! re-enters lockdep on a thread that already holds one of its locks (parking_lot's locks are
//! not re-entrant) or is initialising one of its lazies. So every internal lock's guard, and
//! every [`Section`] around the other internal structures (the dashmaps, lazy
//! initialisation), marks the thread; the validator's slow paths check [`inside`] first and
//! leave such an acquisition untracked. The locks are created on first use, inside their
//! section, so no lazy static is initialised outside one. The fast path checks nothing: its
//! way in, the validator's `fast` pointer, is parked (null) while the thread is inside a
//! section.
//!
//! This guards against a thread deadlocking lockdep on itself. Across threads the rule is the
//! one for any lock taken inside an allocator: lockdep allocates while holding its graph lock,
//! so an allocator that holds a lock while blocking on another lockdep lock (a first-seen
//! acquisition takes the graph lock) can deadlock with a thread that holds the graph lock and
//! is allocating.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::ptr::null;

std::thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The validator's fast-path pointer to this thread's state (opaque here), null while the
    /// thread is inside a section; `STATE` keeps it also inside sections (one load for the
    /// releases). The validator clears both while its slow path has the state borrowed.
    static FAST: Cell<*const ()> = const { Cell::new(null()) };
    static STATE: Cell<*const ()> = const { Cell::new(null()) };
}

#[cfg(not(loom))]
/// The validator's fast-path pointer: null unless set and outside every section.
#[inline(always)]
pub(crate) fn fast() -> *const () {
    FAST.with(Cell::get)
}

#[cfg(not(loom))]
/// The validator's pointer even inside a section (for releases: popping this thread's own
/// entry takes no internal lock, and an entry pushed outside must still come off).
#[inline(always)]
pub(crate) fn state_anywhere() -> *const () {
    STATE.with(Cell::get)
}

#[cfg(not(loom))]
/// Sets the validator's fast-path pointer (parked if the thread is inside a section).
pub(crate) fn set_fast(p: *const ()) {
    let _ = STATE.try_with(|c| c.set(p));
    if !inside() {
        let _ = FAST.try_with(|c| c.set(p));
    }
}

/// True while this thread is inside the validator's own synchronisation.
pub(crate) fn inside() -> bool {
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Marks this thread as inside the validator's own synchronisation until dropped.
pub(crate) struct Section(());

impl Section {
    pub(crate) fn enter() -> Section {
        let _ = DEPTH.try_with(|d| {
            if d.replace(d.get() + 1) == 0 {
                FAST.with(|f| f.set(null()));
            }
        });
        Section(())
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| {
            d.set(d.get() - 1);
            if d.get() == 0 {
                FAST.with(|f| f.set(STATE.with(Cell::get)));
            }
        });
    }
}

/// A guard of an internal lock: the real guard (dropped first), then the section mark.
pub(crate) struct Guard<G> {
    inner: G,
    _section: Section,
}

/// Enters a section, then takes the lock with `lock`.
fn guarded<G>(lock: impl FnOnce() -> G) -> Guard<G> {
    let section = Section::enter();
    Guard {
        inner: lock(),
        _section: section,
    }
}

impl<G: Deref> Deref for Guard<G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.inner
    }
}

impl<G: DerefMut> DerefMut for Guard<G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.inner
    }
}

/// An internal mutex (parking_lot's; never tracked), created on first use: `new` is `const`, so
/// statics need no `Lazy`, and the first use initialises it inside its section.
pub(crate) struct Mutex<T>(once_cell::sync::OnceCell<parking_lot::Mutex<T>>);

impl<T> Mutex<T> {
    pub(crate) const fn new() -> Mutex<T> {
        Mutex(once_cell::sync::OnceCell::new())
    }
}

impl<T: Default> Mutex<T> {
    pub(crate) fn lock(&self) -> Guard<parking_lot::MutexGuard<'_, T>> {
        guarded(|| self.0.get_or_init(Default::default).lock())
    }
}

impl<T> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new()
    }
}

/// An internal reader-writer lock (parking_lot's; never tracked), created on first use.
pub(crate) struct RwLock<T>(once_cell::sync::OnceCell<parking_lot::RwLock<T>>);

impl<T> RwLock<T> {
    pub(crate) const fn new() -> RwLock<T> {
        RwLock(once_cell::sync::OnceCell::new())
    }
}

impl<T: Default> RwLock<T> {
    pub(crate) fn read(&self) -> Guard<parking_lot::RwLockReadGuard<'_, T>> {
        guarded(|| self.0.get_or_init(Default::default).read())
    }

    pub(crate) fn write(&self) -> Guard<parking_lot::RwLockWriteGuard<'_, T>> {
        guarded(|| self.0.get_or_init(Default::default).write())
    }
}

impl<T> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Section;
    use crate::Mutex;

    /// Inside a section (lockdep re-entered from its own synchronisation, e.g. by an allocator)
    /// nothing is recorded, even on chains the fast path knows, and releases there leave no
    /// stale entry behind; outside, tracking resumes.
    #[test]
    fn nothing_is_recorded_inside_a_section() {
        let a = Mutex::named("section.a", ());
        let b = Mutex::named("section.b", ());
        for _ in 0..3 {
            let _a = a.lock();
            let _b = b.lock(); // the chain is now a fast-path hit
        }
        let (ga, gb) = {
            let _section = Section::enter();
            (a.lock(), b.lock())
        };
        assert!(
            !crate::is_held(&a) && !crate::is_held(&b),
            "taken inside: untracked"
        );
        drop(ga); // out of order
        drop(gb);
        {
            let ga = a.lock();
            let _section = Section::enter();
            let gb = b.lock();
            drop(ga); // released inside: still comes off
            drop(gb);
        }
        assert!(!crate::is_held(&a) && !crate::is_held(&b), "no stale entry");
        let ga = a.lock();
        assert!(crate::is_held(&a), "outside, tracking resumes");
        drop(ga);
    }
}
