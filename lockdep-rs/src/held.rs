//! Asking the validator what this thread holds: the [`Held`] trait of guards (used by
//! `lock_nest_lock`), [`TrackedLock`] of locks, and the assertions built on them.

use crate::dep_map::{DepMap, Nest, Tracked};

/// Opaque reference to a lock's validator handle.
#[doc(hidden)]
pub struct LockHandle<'a> {
    map: Option<&'a DepMap>,
    /// For a guard: whether its acquisition was tracked (untracked guards pass assertions).
    tracked: bool,
    /// For a guard: whether it holds its lock as the lock's upgradable reader.
    upgradable: bool,
}

impl<'a> LockHandle<'a> {
    pub(crate) fn of_guard<M>(t: &Tracked<'a, M>) -> Self {
        LockHandle {
            map: t.map(),
            tracked: t.map().is_some(),
            upgradable: t.upgradable(),
        }
    }
    pub(crate) fn of_lock(map: &'a DepMap) -> Self {
        LockHandle {
            map: Some(map),
            tracked: true,
            upgradable: false,
        }
    }

    /// The guard's lock as the nest lock of an acquisition (`lock_nest_lock`), if tracked.
    pub(crate) fn nest(&self) -> Option<Nest<'a>> {
        self.map.map(|map| Nest {
            map,
            upgradable: self.upgradable,
        })
    }
}

pub use crate::sealed::Sealed;

/// Implemented by every guard of this crate: "a lock this thread holds".
pub trait Held: Sealed {
    #[doc(hidden)]
    fn held_handle(&self) -> LockHandle<'_>;
}

/// Implemented by every lock of this crate ([`Mutex`](crate::Mutex), [`RwLock`](crate::RwLock),
/// [`LockMap`](crate::LockMap)), for [`is_held`] and [`assert_not_held`].
pub trait TrackedLock: Sealed {
    #[doc(hidden)]
    fn lock_handle(&self) -> LockHandle<'_>;
}

/// Panics unless the guard's lock is held by this thread, per the validator (kernel
/// `lockdep_assert_held`). Passes when validation is off, as the kernel's does. A guard whose
/// lock was force-unlocked fails. (With the `tokio` feature the holder is the task: a guard
/// held by the task, or one a local task left to its output or handed to another holder of
/// its thread before it ended, passes.)
#[track_caller]
pub fn assert_held<G: Held>(guard: &G) {
    let h = guard.held_handle();
    if let (true, Some(map)) = (h.tracked, h.map) {
        if cfg!(lockdep_enabled) && !map.guard_held() {
            panic!("lockdep: assert_held failed: the guard's lock is not held by this thread");
        }
    }
}

/// Is `lock` held by this thread, as far as lockdep can tell? Like the kernel's
/// `lockdep_is_held`, it answers `true` when lockdep cannot tell — validation compiled out (a
/// release build) or the mode `Off` — so `debug_assert!(m.is_held())` and
/// [`assert_held`] agree in every build. Meant for assertions: where an exact answer matters,
/// see [`held_state`].
pub fn is_held<L: TrackedLock + ?Sized>(lock: &L) -> bool {
    held_state(lock).unwrap_or(true)
}

/// Whether this thread holds `lock`: `Some(held)` while lockdep validates, `None` when it
/// cannot tell (validation compiled out, or the mode `Off`).
pub fn held_state<L: TrackedLock + ?Sized>(lock: &L) -> Option<bool> {
    lock.lock_handle().map.and_then(DepMap::held_state)
}

/// Panics if `lock` is held by this thread (kernel `lockdep_assert_not_held`). Passes when
/// lockdep cannot tell (see [`is_held`]).
#[track_caller]
pub fn assert_not_held<L: TrackedLock + ?Sized>(lock: &L) {
    if held_state(lock) == Some(true) {
        panic!("lockdep: assert_not_held failed: this thread holds the lock");
    }
}
