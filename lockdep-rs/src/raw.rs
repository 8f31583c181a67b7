//! The raw layer: [`RawMutex`], [`RawFairMutex`] and [`RawRwLock`] are validated raw locks
//! implementing [`lock_api`](crate::lock_api)'s raw traits, so code generic over lock_api
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
//! timed ones validated first). The acquisition site shown in reports is lock_api's (it does not
//! pass its caller on); the edge backtraces show yours. A raw unlock releases this thread's
//! record of the lock; unlocking on another thread than the one that locked is reported as
//! `BadUnlockBalance`, and the real lock is unlocked regardless.

#[cfg(not(loom))]
pub use crate::sync::real::RawThreadId;
#[cfg(not(loom))]
pub use imp::{RawFairMutex, RawMutex, RawRwLock};

pub use crate::sync::{MutexKind, RwLockKind};

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
    impl crate::held::Sealed for RawMutex {}
    impl crate::held::Sealed for RawFairMutex {}
    impl crate::held::Sealed for RawRwLock {}
    impl super::MutexKind for RawMutex {}
    impl super::MutexKind for RawFairMutex {}
    impl super::RwLockKind for RawRwLock {}
}

#[cfg(not(loom))]
mod imp;
