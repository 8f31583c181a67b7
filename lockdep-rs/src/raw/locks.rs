//! The real locks under this crate's safe locks: lock_api's locks over lockdep's unchecked
//! raw locks ([`Unchecked`](super::Unchecked): the lock's validator handle next to
//! parking_lot's raw lock), or loom's under `cfg(loom)`. The wrappers name them only here.

#[cfg(not(loom))]
pub(crate) use real_locks::*;

#[cfg(loom)]
pub(crate) use crate::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(not(loom))]
mod real_locks {
    use super::super::{MutexKind, ThreadIdentity, Unchecked, UncheckedReentrant};
    use crate::sync::real::{lock_api, RawRwLock};

    /// The real mutex of the lockdep mutex kind `K` (parking_lot's `Mutex` or `FairMutex`).
    pub(crate) type Mutex<K, T> = lock_api::Mutex<Unchecked<<K as MutexKind>::Real>, T>;
    /// Its guard.
    pub(crate) type MutexGuard<'a, K, T> =
        lock_api::MutexGuard<'a, Unchecked<<K as MutexKind>::Real>, T>;
    /// The real reader-writer lock (one kind: parking_lot's).
    pub(crate) type RwLock<T> = lock_api::RwLock<Unchecked<RawRwLock>, T>;
    /// Its read guard.
    pub(crate) type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, Unchecked<RawRwLock>, T>;
    /// Its write guard.
    pub(crate) type RwLockWriteGuard<'a, T> =
        lock_api::RwLockWriteGuard<'a, Unchecked<RawRwLock>, T>;
    /// The real reentrant mutex.
    pub(crate) type ReentrantMutex<T> =
        lock_api::ReentrantMutex<UncheckedReentrant, ThreadIdentity, T>;
    /// Its guard.
    pub(crate) type ReentrantMutexGuard<'a, T> =
        lock_api::ReentrantMutexGuard<'a, UncheckedReentrant, ThreadIdentity, T>;
}

/// Waiting for a lock with a deadline (the deadlock timeout of `guard::block`). Loom's locks
/// have no clock: there the answer is always "not in time", and `guard::block` never asks.
pub(crate) mod timed {
    use std::time::Duration;

    use super::{MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// `Mutex::try_lock_for`.
    pub(crate) fn try_lock_for<K: super::super::MutexKind, T: ?Sized>(
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
