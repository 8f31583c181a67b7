//! `stdsync::Mutex`: std's mutex, validated.

use std::fmt;
use std::panic::Location;

use super::{map_result, map_try, LockResult, TryLockResult};
use crate::class::{LockClass, Maker};
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
            dep: DepMap::site::<T>(Location::caller(), "Mutex"),
            inner: std::sync::Mutex::new(value),
        }
    }

    /// A mutex whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            dep: DepMap::named(Location::caller(), name, "Mutex"),
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
        let (tracked, r) = crate::guard::block(
            tracked,
            || self.inner.lock(),
            |d| poll(d, || self.inner.try_lock()),
        );
        map_result(r, |g| Guard::new(tracked, g))
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

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep.held_state().unwrap_or(true)
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex {
            dep: DepMap::made::<T>(Location::caller(), "Mutex", Maker::Default),
            inner: std::sync::Mutex::new(T::default()),
        }
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex {
            dep: DepMap::made::<T>(Location::caller(), "Mutex", Maker::From),
            inner: std::sync::Mutex::new(value),
        }
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

/// `try_for` for std's locks, which have only `try_*`: polls, keeping a poisoned result.
pub(super) fn poll<G>(
    limit: std::time::Duration,
    mut try_once: impl FnMut() -> std::sync::TryLockResult<G>,
) -> Option<LockResult<G>> {
    crate::guard::poll_for(limit, || match try_once() {
        Ok(g) => Some(Ok(g)),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(Err(p)),
        Err(std::sync::TryLockError::WouldBlock) => None,
    })
}

// As std's: poisoning makes the lock unwind-safe whatever it holds.
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}
