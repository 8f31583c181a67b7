//! The one place that names the real primitives (tokio's `src/loom/` pattern).
//!
//! Normally the user-facing locks are parking_lot's; under `RUSTFLAGS="--cfg loom"` they are
//! small loom-modelled locks with the same API (see `sync/loom_locks.rs`), so a user can
//! model-check their own code with order validation on. The validator's *own* state is always
//! guarded by plain parking_lot locks (`internal`): those are never tracked, never held while
//! user code runs, and never held across a loom operation, so loom does not need to see them.

#[cfg(not(loom))]
pub(crate) use parking_lot::Condvar;

/// parking_lot's names the rest of the crate uses: lock_api, the raw locks, `Once`, … (the real
/// locks under this crate's safe locks are built from them in `raw::locks`).
#[cfg(not(loom))]
pub(crate) mod real {
    pub use parking_lot::lock_api;
    pub use parking_lot::{
        Once, OnceState, RawFairMutex, RawMutex, RawRwLock, RawThreadId, WaitTimeoutResult,
    };
}

#[cfg(loom)]
mod loom_locks;
#[cfg(loom)]
pub(crate) use loom_locks::{Condvar, RwLock, RwLockReadGuard, RwLockWriteGuard};
/// Under loom every mutex kind is the one loom-modelled mutex (fairness is not modelled).
#[cfg(loom)]
pub(crate) type Mutex<K, T> = loom_locks::Mutex<T, K>;
#[cfg(loom)]
pub(crate) type MutexGuard<'a, K, T> = loom_locks::MutexGuard<'a, T, K>;

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
