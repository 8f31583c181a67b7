//! `Mutex`: parking_lot's mutex with every acquisition validated before it blocks.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use crate::class::LockClass;
use crate::dep_map::{DepMap, Read, Tracked};
use crate::held::{Held, LockHandle, Sealed, TrackedLock};
use crate::sync;

/// A mutual-exclusion lock whose acquisitions are checked for lock-order problems.
///
/// Its class is fixed at construction: the construction site ([`new`](Mutex::new)), the site
/// with a name ([`named`](Mutex::named)), or a static key ([`with_class`](Mutex::with_class)).
/// Every acquisition is validated *before* blocking, so a report (or, in `Panic` mode, a
/// panic) comes before any hang.
///
/// ```
/// let m = lockdep::Mutex::named("counter", 0);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    dep: DepMap,
    inner: sync::Mutex<T>,
}

/// RAII guard of a [`Mutex`]: the lock is released (and the release recorded) on drop.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) tracked: Tracked<'a>,
    pub(crate) inner: sync::MutexGuard<'a, T>,
}

macro_rules! constructors {
    ($($const:ident)?) => {
        impl<T> Mutex<T> {
            /// A mutex whose class is its construction site, shown as `file.rs:line`.
            #[track_caller]
            pub $($const)? fn new(value: T) -> Mutex<T> {
                Mutex { dep: DepMap::site(Location::caller()), inner: sync::Mutex::new(value) }
            }

            /// A mutex whose class is its construction site, shown as `name`.
            #[track_caller]
            pub $($const)? fn named(name: &'static str, value: T) -> Mutex<T> {
                Mutex { dep: DepMap::named(Location::caller(), name), inner: sync::Mutex::new(value) }
            }

            /// A mutex of the class `class` (shown as `class.name()`), wherever it is built.
            pub $($const)? fn with_class(class: &'static LockClass, value: T) -> Mutex<T> {
                Mutex { dep: DepMap::class(class), inner: sync::Mutex::new(value) }
            }
        }
    };
}
#[cfg(not(loom))]
constructors!(const);
#[cfg(loom)]
constructors!();

impl<T> Mutex<T> {
    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> T {
        let Mutex { dep: _dep, inner } = self; // `_dep` checks "held lock freed" as it drops
        inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking until it is available; validated first.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
        MutexGuard {
            tracked,
            inner: self.inner.lock(),
        }
    }

    /// Acquires the mutex as subclass `subclass` (0..=7) of its class, shown as `name/n`:
    /// the kernel's `mutex_lock_nested`, for taking two locks of one class in a fixed order.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> MutexGuard<'_, T> {
        let tracked = self
            .dep
            .acquire(Read::Exclusive, subclass, None, Location::caller());
        MutexGuard {
            tracked,
            inner: self.inner.lock(),
        }
    }

    /// Acquires the mutex under the held lock `nest` (kernel `mutex_lock_nest_lock`): several
    /// locks of this class may be held at once as long as `nest` serialises them. Reports
    /// `NestLockNotHeld` if this thread does not hold `nest`.
    #[track_caller]
    pub fn lock_nest_lock<G: Held>(&self, nest: &G) -> MutexGuard<'_, T> {
        let tracked = self.dep.acquire(
            Read::Exclusive,
            0,
            nest.held_handle().dep_map(),
            Location::caller(),
        );
        MutexGuard {
            tracked,
            inner: self.inner.lock(),
        }
    }

    /// Attempts to acquire the mutex without blocking. A success is held like any lock (it
    /// gets no incoming edge: a trylock cannot deadlock); a failure leaves no trace.
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let inner = self.inner.try_lock()?;
        Some(MutexGuard {
            tracked: self.dep.acquired_try(Read::Exclusive, Location::caller()),
            inner,
        })
    }

    /// Releases a lock whose guard was forgotten (e.g. with `mem::forget`).
    ///
    /// With validation enabled, if this thread does not hold the mutex (per the validator),
    /// this reports `BadUnlockBalance` and leaves the mutex untouched.
    ///
    /// # Safety
    /// As parking_lot's `force_unlock`: the mutex must be locked by the current thread
    /// through a guard that was forgotten. With validation compiled out nothing is checked.
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock(&self) {
        if self.dep.force_release(None, Location::caller()) {
            // SAFETY: the caller promises a forgotten guard of this thread holds the lock;
            // with validation on, the validator confirmed this thread holds it.
            unsafe { self.inner.force_unlock() }
        }
    }

    /// Mutable access without locking: the `&mut` proves no one else can hold it.
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

    /// Is this mutex held by the calling thread, per the validator? (`false` when validation
    /// is compiled out or the mode is `Off`.)
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

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_lock() {
            Some(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
            None => f
                .debug_struct("Mutex")
                .field("data", &format_args!("<locked>"))
                .finish(),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Record the release first; the real unlock follows when `inner` drops.
        self.tracked.release_on_drop();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized> Sealed for MutexGuard<'_, T> {}
impl<T: ?Sized> Held for MutexGuard<'_, T> {
    fn held_handle(&self) -> LockHandle<'_> {
        LockHandle::of_guard(&self.tracked)
    }
}

impl<T: ?Sized> Sealed for Mutex<T> {}
impl<T: ?Sized> TrackedLock for Mutex<T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(&self.dep)
    }
}
