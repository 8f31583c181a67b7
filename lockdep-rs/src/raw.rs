//! The raw layer: [`RawMutex`], [`RawFairMutex`] and [`RawRwLock`] are validated raw locks
//! implementing [`lock_api`]'s raw traits, so code generic over lock_api
//! (`lock_api::Mutex<parking_lot::RawMutex, T>`, a crate's own lock types built on
//! `lock_api`) compiles under the switch and is validated. The same types name the lock
//! *kind* of this crate's own locks ([`Mutex`](crate::Mutex) is
//! `GenericMutex<RawMutex, T>`, as parking_lot's is `lock_api::Mutex<RawMutex, T>`).
//!
//! # Classes of raw locks
//!
//! A raw lock is made by the constant `RawMutex::INIT` (lock_api's `Mutex::new` uses it): it
//! has no construction site. So **each raw-lock instance is its own class**, named after its
//! kind and instance id (`RawMutex#12`), registered when it is first locked — the kernel's
//! rule for static locks (keyed by address), applied to every raw lock. An AB/BA inversion of
//! two instances is reported; one between *other* instances of the same roles is not (no two
//! instances share a class), and a program that locks very many raw locks registers as many
//! classes. To group raw locks into classes as for the safe locks, build them with
//! [`RawMutex::named`] (class = construction site) or [`RawMutex::with_class`]:
//!
//! ```
//! use lockdep::lock_api;
//! let a: lock_api::Mutex<lockdep::RawMutex, i32> =
//!     lock_api::Mutex::const_new(lockdep::RawMutex::named("table"), 0);
//! *a.lock() += 1;
//! ```
//!
//! Raw acquisitions are validated like the safe ones (before blocking; trylocks unvalidated;
//! timed ones validated first). The acquisition site shown in reports is lock_api's when
//! lock_api calls the raw lock (it does not pass its caller on), yours when you call it; the
//! edge backtraces show yours. A raw unlock releases this thread's record of the lock;
//! unlocking on another thread than the one that locked is reported as `BadUnlockBalance`,
//! and the real lock is unlocked regardless.
//!
//! # The raw lock of a safe lock
//!
//! This crate's [`Mutex`](crate::Mutex), [`FairMutex`](crate::FairMutex) and
//! [`RwLock`](crate::RwLock) are lock_api's locks over [`Unchecked`], and
//! [`ReentrantMutex`](crate::ReentrantMutex) is over [`UncheckedReentrant`]: a [`RawLock`]
//! (the lock's validator handle next to parking_lot's raw lock) whose lock_api operations are
//! the real lock's alone, because the safe lock validates each acquisition itself, with its
//! caller's site, and its guards record the releases. With validation compiled out each is
//! parking_lot's raw lock, so each safe lock is exactly parking_lot's.
//!
//! lock_api's escape hatch `raw()` returns the same raw lock, validated: a [`RawLock`] with
//! the safe lock's class and instance. Locking through it validates and records, unlocking
//! through it releases this thread's record of the lock, so a lock taken or released behind
//! the guards' back keeps the held state right. The `make_*_guard_unchecked` functions (a
//! guard for a lock this thread already holds) take that record over: it is recorded again
//! on top of the held stack as a trylock (making the guard does not block), or recorded then
//! if there is none, and the guard's drop releases it like any guard's. (A reentrant mutex's
//! record belongs to the mutex, not to a guard, so its `make_guard_unchecked` records
//! nothing.)
//!
//! `const_new(raw, value)` / `from_raw` build a safe lock on a raw lock: its class is the raw
//! lock's if it was made with [`RawLock::named`](RawMutex::named) or `with_class`; a raw lock
//! made by `INIT` has none, and the safe lock's class is then the site of the call.

pub(crate) mod locks;

#[cfg(not(loom))]
pub use crate::sync::real::RawThreadId;
#[cfg(not(loom))]
pub(crate) use imp::{raw_mutex as imp_raw_mutex, raw_rwlock as imp_raw_rwlock};
#[cfg(not(loom))]
pub use imp::{
    RawFairMutex, RawLock, RawMutex, RawRwLock, ThreadIdentity, Unchecked, UncheckedReentrant,
    Upgrader,
};

/// A parking_lot raw lock that a [`RawLock`] validates: parking_lot's `RawMutex`,
/// `RawFairMutex` or `RawRwLock`. Sealed.
#[cfg(not(loom))]
pub trait RealLock: crate::sealed::Sealed + Sized + 'static {
    /// Per-lock bookkeeping of this kind (a reader-writer lock's upgradable holder).
    #[doc(hidden)]
    type State: Send + Sync;
    /// Its initial value.
    #[doc(hidden)]
    #[allow(clippy::declare_interior_mutable_const)]
    const STATE: Self::State;
    /// The kind's name, for the per-instance class of a raw lock made by `INIT`.
    #[doc(hidden)]
    const NAME: &'static str;
    /// Is the lock locked (in any mode) now? (Asked as it is dropped: a lock still locked
    /// then is held through a forgotten or leaked guard.)
    #[doc(hidden)]
    fn locked_now(&self) -> bool;
}

#[cfg(not(loom))]
mod real_locks {
    use super::{RealLock, Upgrader};
    use crate::sealed::Sealed;
    use crate::sync::real;

    impl Sealed for real::RawMutex {}
    impl RealLock for real::RawMutex {
        type State = ();
        const STATE: () = ();
        const NAME: &'static str = "RawMutex";
        fn locked_now(&self) -> bool {
            real::lock_api::RawMutex::is_locked(self)
        }
    }
    impl Sealed for real::RawFairMutex {}
    impl RealLock for real::RawFairMutex {
        type State = ();
        const STATE: () = ();
        const NAME: &'static str = "RawFairMutex";
        fn locked_now(&self) -> bool {
            real::lock_api::RawMutex::is_locked(self)
        }
    }
    impl Sealed for real::RawRwLock {}
    impl RealLock for real::RawRwLock {
        type State = Upgrader;
        #[allow(clippy::declare_interior_mutable_const)]
        const STATE: Upgrader = Upgrader::NONE;
        const NAME: &'static str = "RawRwLock";
        fn locked_now(&self) -> bool {
            real::lock_api::RawRwLock::is_locked(self)
        }
    }
    impl<R: RealLock> Sealed for super::RawLock<R> {}
}

/// A kind of mutex of this crate: [`RawMutex`] (parking_lot's `Mutex`) or [`RawFairMutex`]
/// (`FairMutex`). Sealed.
pub trait MutexKind: crate::sealed::Sealed + 'static {
    /// The real raw lock behind the safe locks of this kind.
    #[doc(hidden)]
    #[cfg(not(loom))]
    type Real: RealLock
        + lock_api::RawMutex
        + lock_api::RawMutexFair
        + lock_api::RawMutexTimed<Duration = std::time::Duration, Instant = std::time::Instant>;
}

/// A kind of reader-writer lock of this crate: [`RawRwLock`]. Sealed.
pub trait RwLockKind: crate::sealed::Sealed + 'static {
    /// The real raw lock behind the safe locks of this kind.
    #[doc(hidden)]
    #[cfg(not(loom))]
    type Real: RealLock;
}

#[cfg(not(loom))]
use crate::sync::real::lock_api;

#[cfg(loom)]
pub use loom_markers::{RawFairMutex, RawMutex, RawRwLock};

/// Under loom the raw layer is not available (loom's locks cannot be built in a `const`
/// `INIT`); the names remain as the kinds of the safe locks.
#[cfg(loom)]
mod loom_markers {
    /// The plain mutex kind (under loom: a marker only).
    #[derive(Debug)]
    pub struct RawMutex(());
    /// The fair mutex kind (under loom: a marker only).
    #[derive(Debug)]
    pub struct RawFairMutex(());
    /// The reader-writer lock kind (under loom: a marker only).
    #[derive(Debug)]
    pub struct RawRwLock(());
    impl crate::sealed::Sealed for RawMutex {}
    impl crate::sealed::Sealed for RawFairMutex {}
    impl crate::sealed::Sealed for RawRwLock {}
    impl super::MutexKind for RawMutex {}
    impl super::MutexKind for RawFairMutex {}
    impl super::RwLockKind for RawRwLock {}
}

#[cfg(not(loom))]
mod imp;
