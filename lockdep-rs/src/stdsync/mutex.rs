//! `stdsync::Mutex`: std's mutex, validated.

use std::fmt;
use std::panic::Location;

use super::{map_result, map_try, LockResult, TryLockResult};
use crate::class::LockClass;
use crate::dep_map::{DepMap, Read};
use crate::guard::Guard;
use crate::held::{LockHandle, Sealed, TrackedLock};

/// std's `Mutex`, validated (class: construction site). Same API as `std::sync::Mutex`.
pub struct Mutex<T: ?Sized> {
    dep: DepMap,
    pub(crate) inner: std::sync::Mutex<T>,
}

/// Guard of a [`Mutex`] (std's `MutexGuard`).
pub type MutexGuard<'a, T> = Guard<'a, std::sync::MutexGuard<'a, T>>;

impl<T> Mutex<T> {
    /// A mutex whose class is its construction site.
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            dep: DepMap::site(Location::caller()),
            inner: std::sync::Mutex::new(value),
        }
    }

    /// A mutex whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            dep: DepMap::named(Location::caller(), name),
            inner: std::sync::Mutex::new(value),
        }
    }

    /// A mutex of the class `class`.
    pub const fn with_class(class: &'static LockClass, value: T) -> Mutex<T> {
        Mutex {
            dep: DepMap::class(class),
            inner: std::sync::Mutex::new(value),
        }
    }

    /// Consumes the mutex, returning its value (an error if it is poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        let Mutex { dep: _dep, inner } = self;
        inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, validated first; an error (still holding it) if poisoned.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
        map_result(self.inner.lock(), |g| Guard::new(tracked, g))
    }

    /// Attempts to acquire the mutex without blocking; a failure leaves no trace.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let site = Location::caller();
        map_try(self.inner.try_lock(), |g| {
            Guard::new(self.dep.acquired_try(Read::Exclusive, site), g)
        })
    }

    /// Is the mutex poisoned?
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

    /// Is this mutex held by the calling thread, per the validator?
    pub fn is_held(&self) -> bool {
        self.dep.is_held()
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: ?Sized> Sealed for Mutex<T> {}
impl<T: ?Sized> TrackedLock for Mutex<T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(&self.dep)
    }
}
