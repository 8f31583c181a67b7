//! `RwLock`: the kernel's rwsem and rwlock_t in one type, on parking_lot's reader-writer lock.
//!
//! `read()` is a non-recursive reader (rwsem `down_read`, kernel read=1): it waits behind a
//! waiting writer, so taking it twice can deadlock. `read_recursive()` is a recursive reader
//! (rwlock_t `read_lock`, read=2): it only waits for a writer that holds the lock.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use crate::class::LockClass;
use crate::dep_map::{DepMap, Read, Tracked};
use crate::held::{Held, LockHandle, Sealed, TrackedLock};
use crate::sync;

/// A reader-writer lock whose acquisitions are checked for lock-order problems.
///
/// ```
/// let rw = lockdep::RwLock::named("(memory_chain).rwsem", vec![1]);
/// assert_eq!(rw.read().len(), 1);
/// rw.write().push(2);
/// assert_eq!(*rw.read_recursive(), [1, 2]);
/// ```
pub struct RwLock<T: ?Sized> {
    dep: DepMap,
    inner: sync::RwLock<T>,
}

/// RAII shared guard of an [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    tracked: Tracked<'a>,
    inner: sync::RwLockReadGuard<'a, T>,
}

/// RAII exclusive guard of an [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    tracked: Tracked<'a>,
    inner: sync::RwLockWriteGuard<'a, T>,
}

macro_rules! constructors {
    ($($const:ident)?) => {
        impl<T> RwLock<T> {
            /// A reader-writer lock whose class is its construction site (`file.rs:line`).
            #[track_caller]
            pub $($const)? fn new(value: T) -> RwLock<T> {
                RwLock { dep: DepMap::site(Location::caller()), inner: sync::RwLock::new(value) }
            }

            /// A reader-writer lock whose class is its construction site, shown as `name`.
            #[track_caller]
            pub $($const)? fn named(name: &'static str, value: T) -> RwLock<T> {
                RwLock { dep: DepMap::named(Location::caller(), name), inner: sync::RwLock::new(value) }
            }

            /// A reader-writer lock of the class `class`, wherever it is built.
            pub $($const)? fn with_class(class: &'static LockClass, value: T) -> RwLock<T> {
                RwLock { dep: DepMap::class(class), inner: sync::RwLock::new(value) }
            }
        }
    };
}
#[cfg(not(loom))]
constructors!(const);
#[cfg(loom)]
constructors!();

impl<T> RwLock<T> {
    /// Consumes the lock, returning its value.
    pub fn into_inner(self) -> T {
        let RwLock { dep: _dep, inner } = self; // `_dep` checks "held lock freed" as it drops
        inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Exclusive (write) acquisition, validated first.
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
        RwLockWriteGuard {
            tracked,
            inner: self.inner.write(),
        }
    }

    /// Non-recursive shared acquisition (rwsem `down_read`, read=1), validated first.
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let tracked = self.dep.acquire(Read::Shared, 0, None, Location::caller());
        RwLockReadGuard {
            tracked,
            inner: self.inner.read(),
        }
    }

    /// Recursive shared acquisition (rwlock_t `read_lock`, read=2), validated first.
    #[track_caller]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Recursive, 0, None, Location::caller());
        RwLockReadGuard {
            tracked,
            inner: self.inner.read_recursive(),
        }
    }

    /// Exclusive acquisition as subclass `subclass` (0..=7), shown as `name/n`.
    #[track_caller]
    pub fn write_nested(&self, subclass: u8) -> RwLockWriteGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, subclass, None, Location::caller());
        RwLockWriteGuard {
            tracked,
            inner: self.inner.write(),
        }
    }

    /// Non-recursive shared acquisition as subclass `subclass` (kernel `down_read_nested`).
    #[track_caller]
    pub fn read_nested(&self, subclass: u8) -> RwLockReadGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Shared, subclass, None, Location::caller());
        RwLockReadGuard {
            tracked,
            inner: self.inner.read(),
        }
    }

    /// Exclusive acquisition under the held lock `nest` (kernel `down_write_nest_lock`).
    #[track_caller]
    pub fn write_nest_lock<G: Held>(&self, nest: &G) -> RwLockWriteGuard<'_, T> {
        let tracked = self.dep.acquire(
            Read::Exclusive,
            0,
            nest.held_handle().dep_map(),
            Location::caller(),
        );
        RwLockWriteGuard {
            tracked,
            inner: self.inner.write(),
        }
    }

    /// Attempts an exclusive acquisition without blocking; a failure leaves no trace.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let inner = self.inner.try_write()?;
        Some(RwLockWriteGuard {
            tracked: self.dep.acquired_try(Read::Exclusive, Location::caller()),
            inner,
        })
    }

    /// Attempts a (non-recursive) shared acquisition without blocking.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let inner = self.inner.try_read()?;
        Some(RwLockReadGuard {
            tracked: self.dep.acquired_try(Read::Shared, Location::caller()),
            inner,
        })
    }

    /// Releases a shared lock whose guard was forgotten.
    ///
    /// With validation enabled, if this thread does not hold the lock for reading (per the
    /// validator), this reports `BadUnlockBalance` and leaves the lock untouched.
    ///
    /// # Safety
    /// As parking_lot's `force_unlock_read`: a forgotten read guard of this thread must hold it.
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_read(&self) {
        if self.dep.force_release(Some(true), Location::caller()) {
            // SAFETY: the caller's promise, confirmed by the validator when enabled.
            unsafe { self.inner.force_unlock_read() }
        }
    }

    /// Releases an exclusive lock whose guard was forgotten.
    ///
    /// With validation enabled, if this thread does not hold the lock for writing (per the
    /// validator), this reports `BadUnlockBalance` and leaves the lock untouched.
    ///
    /// # Safety
    /// As parking_lot's `force_unlock_write`: a forgotten write guard of this thread must hold it.
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_write(&self) {
        if self.dep.force_release(Some(false), Location::caller()) {
            // SAFETY: the caller's promise, confirmed by the validator when enabled.
            unsafe { self.inner.force_unlock_write() }
        }
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Registers this lock with the validator now (its class is otherwise resolved at its
    /// first acquisition). Gate analysis ([`Report::gates`](crate::Report::gates)) treats a
    /// class as one lock only while no two of its instances are known alive at once: call
    /// this where many locks of one class are built (one per object, in a loop) so they are
    /// known before any of them is taken. Does nothing when validation is compiled out.
    pub fn register(&self) {
        self.dep.register();
    }

    /// Is this lock held (in any mode) by the calling thread, per the validator?
    pub fn is_held(&self) -> bool {
        self.dep.is_held()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_read() {
            Some(g) => f.debug_struct("RwLock").field("data", &&*g).finish(),
            None => f
                .debug_struct("RwLock")
                .field("data", &format_args!("<locked>"))
                .finish(),
        }
    }
}

macro_rules! guard_impls {
    ($guard:ident) => {
        impl<T: ?Sized> Deref for $guard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.inner
            }
        }
        impl<T: ?Sized> Drop for $guard<'_, T> {
            fn drop(&mut self) {
                self.tracked.release_on_drop();
            }
        }
        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
        impl<T: ?Sized> Sealed for $guard<'_, T> {}
        impl<T: ?Sized> Held for $guard<'_, T> {
            fn held_handle(&self) -> LockHandle<'_> {
                LockHandle::of_guard(&self.tracked)
            }
        }
    };
}
guard_impls!(RwLockReadGuard);
guard_impls!(RwLockWriteGuard);

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Sealed for RwLock<T> {}
impl<T: ?Sized> TrackedLock for RwLock<T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(&self.dep)
    }
}
