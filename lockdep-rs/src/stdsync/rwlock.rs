//! `stdsync::RwLock`: std's reader-writer lock, validated (`read` is a non-recursive reader).

use std::fmt;
use std::panic::Location;

use super::{map_result, map_try, LockResult, TryLockResult};
use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Read};
use crate::guard::Guard;
use crate::held::{LockHandle, Sealed, TrackedLock};

/// std's `RwLock`, validated (class: construction site). Same API as `std::sync::RwLock`.
pub struct RwLock<T: ?Sized> {
    dep: DepMap,
    inner: std::sync::RwLock<T>,
}

/// Shared guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = Guard<'a, std::sync::RwLockReadGuard<'a, T>>;
/// Exclusive guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = Guard<'a, std::sync::RwLockWriteGuard<'a, T>>;

impl<T> RwLock<T> {
    /// A lock whose class is its construction site.
    #[track_caller]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            dep: DepMap::site::<T>(Location::caller(), "RwLock"),
            inner: std::sync::RwLock::new(value),
        }
    }

    /// A lock whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> RwLock<T> {
        RwLock {
            dep: DepMap::named(Location::caller(), name, "RwLock"),
            inner: std::sync::RwLock::new(value),
        }
    }

    /// A lock of the class `class`.
    pub const fn with_class(class: &'static LockClass, value: T) -> RwLock<T> {
        RwLock {
            dep: DepMap::class(class),
            inner: std::sync::RwLock::new(value),
        }
    }

    /// Consumes the lock, returning its value (an error if poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        let RwLock { dep: _dep, inner } = self;
        inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared (non-recursive) acquisition, validated first.
    #[track_caller]
    #[inline]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let tracked = self.dep.acquire(Read::Shared, 0, None, Location::caller());
        let (tracked, r) = crate::guard::block(
            tracked,
            || self.inner.read(),
            |d| super::mutex::poll(d, || self.inner.try_read()),
        );
        map_result(r, |g| Guard::new(tracked, g))
    }

    /// Exclusive acquisition, validated first.
    #[track_caller]
    #[inline]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
        let (tracked, r) = crate::guard::block(
            tracked,
            || self.inner.write(),
            |d| super::mutex::poll(d, || self.inner.try_write()),
        );
        map_result(r, |g| Guard::new(tracked, g))
    }

    /// Attempts a shared acquisition without blocking.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let site = Location::caller();
        map_try(self.inner.try_read(), |g| {
            Guard::new(self.dep.acquired_try(Read::Shared, site), g)
        })
    }

    /// Attempts an exclusive acquisition without blocking.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let site = Location::caller();
        map_try(self.inner.try_write(), |g| {
            Guard::new(self.dep.acquired_try(Read::Exclusive, site), g)
        })
    }

    /// Is the lock poisoned?
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.inner.clear_poison();
    }

    /// Mutable access without locking (an error if poisoned).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.inner.get_mut()
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep.held_state().unwrap_or(true)
    }
}

/// std's `RwLockWriteGuard::downgrade` (Rust 1.92), where the compiler's std has it.
#[cfg(lockdep_std_rwlock_downgrade)]
impl<'a, T: ?Sized> Guard<'a, std::sync::RwLockWriteGuard<'a, T>> {
    /// Turns the write guard into a read guard without unlocking (as std's: no writer can
    /// get in between); the held entry becomes a reader's in place.
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let (mut tracked, inner) = s.into_parts();
        tracked.change_read(Read::Shared);
        Guard::new(tracked, std::sync::RwLockWriteGuard::downgrade(inner))
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock {
            dep: DepMap::made::<T>(Location::caller(), "RwLock", Maker::Default),
            inner: std::sync::RwLock::new(T::default()),
        }
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> RwLock<T> {
        RwLock {
            dep: DepMap::made::<T>(Location::caller(), "RwLock", Maker::From),
            inner: std::sync::RwLock::new(value),
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ?Sized> Sealed for RwLock<T> {}
impl<T: ?Sized> TrackedLock for RwLock<T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(&self.dep)
    }
}

// As std's: poisoning makes the lock unwind-safe whatever it holds.
impl<T: ?Sized> std::panic::UnwindSafe for RwLock<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for RwLock<T> {}
