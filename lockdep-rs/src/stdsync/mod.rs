//! `std::sync`, validated: replace the path `std::sync` by `lockdep::stdsync` and nothing else.
//!
//! [`Mutex`], [`RwLock`], [`Condvar`], [`Once`], [`OnceLock`] and [`LazyLock`] are std's, with
//! std's exact signatures (`LockResult`, `TryLockResult`, `PoisonError`, poisoning on panic,
//! `Condvar::wait(guard)` by value, …) and lockdep's validation; everything else in `std::sync`
//! (`Arc`, `Weak`, `atomic`, `mpsc`, `Barrier`, …) is std's, re-exported.
//!
//! - A lock's class is its construction site, as for [`crate::Mutex`] (`Mutex::new` is
//!   `#[track_caller]`); `named` and `with_class` exist here too.
//! - `read()` is a non-recursive reader (std's `RwLock` may block readers behind a waiting
//!   writer).
//! - A poisoned acquisition is held like any other: the `PoisonError` carries the guard.
//! - [`Condvar`] waits release and re-acquire the mutex (validated before sleeping) and are
//!   waits on the condvar's event, as for [`crate::Condvar`]; the timed ones too.
//! - `Once::call_once`, `OnceLock::get_or_init` / `set` and forcing a `LazyLock` before they are
//!   complete may wait for another thread's initializer: a validated wait on the cell's event,
//!   whose armed span is the initializer's run (an initializer that needs a lock a waiter holds
//!   is a `CircularWait`; one that reaches its own cell again, where std hangs, is a certain
//!   self-deadlock: reported, and stopped with a panic; a waiter whose wait was reported
//!   waits at most `LOCKDEP_DEADLOCK_TIMEOUT` for a running initializer, then panics, as an
//!   acquisition in a reported order does). Cells of one construction site may
//!   force each other (a lazily computed tree's nodes): their order is checked per instance.
//!
//! ```
//! use lockdep::stdsync::{Arc, Condvar, Mutex};
//! let pair = Arc::new((Mutex::new(false), Condvar::new()));
//! let p = pair.clone();
//! let t = std::thread::spawn(move || {
//!     *p.0.lock().unwrap() = true;
//!     p.1.notify_one();
//! });
//! let ready = pair.1.wait_while(pair.0.lock().unwrap(), |ready| !*ready).unwrap();
//! assert!(*ready);
//! drop(ready);
//! t.join().unwrap();
//! ```

mod condvar;
mod mutex;
mod once;
mod rwlock;

pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use once::{LazyLock, Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use std::sync::{
    atomic, mpsc, Arc, Barrier, BarrierWaitResult, LockResult, OnceState, PoisonError,
    TryLockError, TryLockResult, WaitTimeoutResult, Weak,
};

/// Maps the guard inside a `LockResult` (keeping the poison flag).
#[inline]
pub(crate) fn map_result<G, H>(r: LockResult<G>, f: impl FnOnce(G) -> H) -> LockResult<H> {
    match r {
        Ok(g) => Ok(f(g)),
        Err(p) => Err(PoisonError::new(f(p.into_inner()))),
    }
}

/// Maps the guard inside a `TryLockResult`.
#[inline]
pub(crate) fn map_try<G, H>(r: TryLockResult<G>, f: impl FnOnce(G) -> H) -> TryLockResult<H> {
    match r {
        Ok(g) => Ok(f(g)),
        Err(TryLockError::Poisoned(p)) => {
            Err(TryLockError::Poisoned(PoisonError::new(f(p.into_inner()))))
        }
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
    }
}
