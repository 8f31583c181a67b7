//! The one place that names the real primitives (tokio's `src/loom/` pattern).
//!
//! Normally the user-facing locks are parking_lot's; under `RUSTFLAGS="--cfg loom"` they are
//! small loom-modelled locks with the same API (see `sync/loom_locks.rs`), so a user can
//! model-check their own code with order validation on. The validator's *own* state is always
//! guarded by plain parking_lot locks (`internal`): those are never tracked, never held while
//! user code runs, and never held across a loom operation, so loom does not need to see them.

#[cfg(not(loom))]
pub(crate) use parking_lot::Condvar;

/// A kind of mutex of this crate: [`RawMutex`](crate::RawMutex) (parking_lot's `Mutex`) or
/// [`RawFairMutex`](crate::RawFairMutex) (`FairMutex`). Sealed. (Declared here, with the real
/// raw lock each kind stands for, because this is the module that names parking_lot.)
pub trait MutexKind: crate::sealed::Sealed + 'static {
    /// The real raw lock behind the safe locks of this kind.
    #[doc(hidden)]
    #[cfg(not(loom))]
    type Real: real::lock_api::RawMutex
        + real::lock_api::RawMutexFair
        + real::lock_api::RawMutexTimed<Duration = std::time::Duration, Instant = std::time::Instant>;
}

/// A kind of reader-writer lock of this crate: [`RawRwLock`](crate::RawRwLock). Sealed.
pub trait RwLockKind: crate::sealed::Sealed + 'static {}

/// The drop-in surface's real locks: lock_api's generic locks over parking_lot's raw locks
/// (the wrappers name them through the aliases below, generic over lockdep's raw-lock kinds).
#[cfg(not(loom))]
pub(crate) mod real {
    pub use parking_lot::lock_api;
    pub use parking_lot::{
        Once, OnceState, RawFairMutex, RawMutex, RawRwLock, RawThreadId, ReentrantMutex,
        ReentrantMutexGuard, WaitTimeoutResult,
    };

    /// The real mutex of the lockdep mutex kind `K` (parking_lot's `Mutex` or `FairMutex`).
    pub(crate) type Mutex<K, T> = lock_api::Mutex<<K as super::MutexKind>::Real, T>;
    /// Its guard.
    pub(crate) type MutexGuard<'a, K, T> =
        lock_api::MutexGuard<'a, <K as super::MutexKind>::Real, T>;
    /// The real reader-writer lock.
    pub(crate) type RwLock<T> = lock_api::RwLock<RawRwLock, T>;
}

/// Plain parking_lot types for the compiled-out size checks and tests of this crate.
#[cfg(not(loom))]
pub(crate) type Mutex<K, T> = real::Mutex<K, T>;
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, K, T> = real::MutexGuard<'a, K, T>;
#[cfg(not(loom))]
pub(crate) type RwLock<T> = real::RwLock<T>;
#[cfg(not(loom))]
pub(crate) use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

#[cfg(loom)]
mod loom_locks;
#[cfg(loom)]
pub(crate) use loom_locks::{Condvar, RwLock, RwLockReadGuard, RwLockWriteGuard};
/// Under loom every mutex kind is the one loom-modelled mutex (fairness is not modelled).
#[cfg(loom)]
pub(crate) type Mutex<K, T> = loom_locks::Mutex<T, K>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, K, T> = loom_locks::MutexGuard<'a, T, K>;

/// Waiting for a lock with a deadline (the deadlock timeout of `guard::block`). Loom's locks
/// have no clock: there the answer is always "not in time", and `guard::block` never asks.
pub(crate) mod timed {
    use std::time::Duration;

    use super::{MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// `Mutex::try_lock_for`.
    pub(crate) fn try_lock_for<K: super::MutexKind, T: ?Sized>(
        m: &super::Mutex<K, T>,
        limit: Duration,
    ) -> Option<MutexGuard<'_, K, T>> {
        #[cfg(not(loom))]
        return m.try_lock_for(limit);
        #[cfg(loom)]
        {
            let _ = (m, limit);
            None
        }
    }

    /// `RwLock::try_write_for`.
    pub(crate) fn try_write_for<T: ?Sized>(
        l: &RwLock<T>,
        limit: Duration,
    ) -> Option<RwLockWriteGuard<'_, T>> {
        #[cfg(not(loom))]
        return l.try_write_for(limit);
        #[cfg(loom)]
        {
            let _ = (l, limit);
            None
        }
    }

    /// `RwLock::try_read_for`.
    pub(crate) fn try_read_for<T: ?Sized>(
        l: &RwLock<T>,
        limit: Duration,
    ) -> Option<RwLockReadGuard<'_, T>> {
        #[cfg(not(loom))]
        return l.try_read_for(limit);
        #[cfg(loom)]
        {
            let _ = (l, limit);
            None
        }
    }

    /// `RwLock::try_read_recursive_for`.
    pub(crate) fn try_read_recursive_for<T: ?Sized>(
        l: &RwLock<T>,
        limit: Duration,
    ) -> Option<RwLockReadGuard<'_, T>> {
        #[cfg(not(loom))]
        return l.try_read_recursive_for(limit);
        #[cfg(loom)]
        {
            let _ = (l, limit);
            None
        }
    }
}

#[cfg(loom)]
pub(crate) use loom::thread;
/// Threads: std's, or loom's.
#[cfg(not(loom))]
pub(crate) use std::thread;

/// Per-thread storage: std's, or loom's (one per modelled thread).
#[cfg(all(lockdep_enabled, not(loom)))]
pub(crate) use std::thread_local;

#[cfg(all(lockdep_enabled, loom))]
pub(crate) use loom::thread_local;

/// The validator's own synchronisation: leaves, never tracked, never held across user code,
/// and marked, so lockdep re-entered from inside it (a user allocator taking lockdep locks)
/// stands aside instead of deadlocking on itself.
#[cfg(lockdep_enabled)]
pub(crate) mod internal;

/// Is the current thread unwinding? Under loom every modelled thread runs on one OS thread,
/// and std's answer would leak from a thread that is unwinding into the one loom switched to
/// (which would then skip a `Panic`-mode panic and really deadlock); the validator only
/// needs the answer to avoid a double panic, and under loom it never panics while releasing.
#[cfg(lockdep_enabled)]
pub(crate) fn panicking() -> bool {
    #[cfg(not(loom))]
    return std::thread::panicking();
    #[cfg(loom)]
    false
}
