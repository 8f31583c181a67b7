//! `Mutex` and `FairMutex`: parking_lot's mutexes with every acquisition validated before it
//! blocks. Both are [`GenericMutex`] of a mutex kind ([`RawMutex`], [`RawFairMutex`]), as
//! parking_lot's are `lock_api::Mutex` of a raw mutex; their guards are [`Guard`]s (the
//! guard-specific methods are in `mutex_guard.rs`).

use std::fmt;
use std::panic::Location;

use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Nest, Read};
use crate::guard::Guard;
use crate::held::{Held, LockHandle, Sealed, TrackedLock};
use crate::raw::locks;
use crate::raw::{MutexKind, RawFairMutex, RawMutex};

#[cfg(not(loom))]
use crate::sync::real::lock_api;

/// A mutual-exclusion lock whose acquisitions are checked for lock-order problems.
///
/// Its class is fixed at construction: the construction site ([`new`](GenericMutex::new)),
/// the site with a name ([`named`](GenericMutex::named)), or a static key
/// ([`with_class`](GenericMutex::with_class)). Every acquisition is validated *before*
/// blocking, so a report (or, in `Panic` mode, a panic) comes before any hang.
///
/// ```
/// let m = lockdep::Mutex::named("counter", 0);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 1);
/// ```
pub type Mutex<T> = GenericMutex<RawMutex, T>;

/// A mutex that always unlocks fairly (parking_lot's `FairMutex`), validated like [`Mutex`].
pub type FairMutex<T> = GenericMutex<RawFairMutex, T>;

/// RAII guard of a [`Mutex`]: the lock is released (and the release recorded) on drop.
pub type MutexGuard<'a, T> = Guard<'a, locks::MutexGuard<'a, RawMutex, T>>;

/// RAII guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = Guard<'a, locks::MutexGuard<'a, RawFairMutex, T>>;

/// A mutex of kind `K` ([`RawMutex`]: [`Mutex`]; [`RawFairMutex`]: [`FairMutex`]) holding a `T`.
///
/// It is lock_api's mutex over the raw lock [`Unchecked<K::Real>`](crate::raw::Unchecked),
/// which holds the validator's handle next to parking_lot's raw lock (same layout rule as
/// `lock_api::Mutex<K, T>`: with validation compiled out, exactly parking_lot's mutex).
#[cfg_attr(not(loom), repr(transparent))]
pub struct GenericMutex<K: MutexKind, T: ?Sized> {
    #[cfg(loom)]
    dep: DepMap,
    pub(crate) inner: locks::Mutex<K, T>,
}

macro_rules! constructors {
    ($($const:ident)?) => {
        impl<K: MutexKind, T> GenericMutex<K, T> {
            /// A mutex whose class is its construction site, shown as `file.rs:line`.
            #[track_caller]
            pub $($const)? fn new(value: T) -> Self {
                Self::with_dep(DepMap::site::<T>(Location::caller(), "Mutex"), value)
            }

            /// A mutex whose class is its construction site, shown as `name`.
            #[track_caller]
            pub $($const)? fn named(name: &'static str, value: T) -> Self {
                Self::with_dep(DepMap::named(Location::caller(), name, "Mutex"), value)
            }

            /// A mutex of the class `class` (shown as `class.name()`), wherever it is built.
            pub $($const)? fn with_class(class: &'static LockClass, value: T) -> Self {
                Self::with_dep(DepMap::class(class), value)
            }

            #[cfg(not(loom))]
            pub(crate) const fn with_dep(dep: DepMap, value: T) -> Self {
                let raw = crate::raw::Unchecked::new(crate::raw::imp_raw_mutex(dep));
                GenericMutex { inner: lock_api::Mutex::const_new(raw, value) }
            }

            #[cfg(loom)]
            fn with_dep(dep: DepMap, value: T) -> Self {
                GenericMutex { dep, inner: <locks::Mutex<K, T>>::new(value) }
            }
        }

        /// A [`Mutex`] whose class is its construction site (parking_lot's `const_mutex`).
        #[track_caller]
        pub $($const)? fn const_mutex<T>(value: T) -> Mutex<T> {
            Mutex::new(value)
        }

        /// A [`FairMutex`] whose class is its construction site (parking_lot's `const_fair_mutex`).
        #[track_caller]
        pub $($const)? fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
            FairMutex::new(value)
        }
    };
}
#[cfg(not(loom))]
constructors!(const);
#[cfg(loom)]
constructors!();

impl<K: MutexKind, T> GenericMutex<K, T> {
    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> T {
        // Dropping the validator's handle (inside the raw lock, or beside it under loom)
        // checks "held lock freed".
        self.inner.into_inner()
    }
}

impl<K: MutexKind, T: ?Sized> GenericMutex<K, T> {
    #[inline(always)]
    #[track_caller]
    fn guard_with(
        &self,
        read_site: (u8, Option<Nest<'_>>),
        site: &'static Location<'static>,
    ) -> MutexGuardOf<'_, K, T> {
        let tracked = self
            .dep_map()
            .acquire(Read::Exclusive, read_site.0, read_site.1, site);
        let (tracked, inner) = crate::guard::block(
            tracked,
            || self.inner.lock(),
            |d| locks::timed::try_lock_for::<K, T>(&self.inner, d),
        );
        Guard::new(tracked, inner)
    }

    /// Acquires the mutex, blocking until it is available; validated first.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuardOf<'_, K, T> {
        self.guard_with((0, None), Location::caller())
    }

    /// Acquires the mutex as subclass `subclass` (0..=7) of its class, shown as `name/n`:
    /// the kernel's `mutex_lock_nested`, for taking two locks of one class in a fixed order.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> MutexGuardOf<'_, K, T> {
        self.guard_with((subclass, None), Location::caller())
    }

    /// Acquires the mutex under the held lock `nest` (kernel `mutex_lock_nest_lock`): several
    /// locks of this class may be held at once as long as `nest` serialises them. Reports
    /// `NestLockNotHeld` if this thread does not hold `nest`.
    #[track_caller]
    pub fn lock_nest_lock<G: Held>(&self, nest: &G) -> MutexGuardOf<'_, K, T> {
        self.guard_with((0, nest.held_handle().nest()), Location::caller())
    }

    /// Attempts to acquire the mutex without blocking. A success is held like any lock (it
    /// gets no incoming edge: a trylock cannot deadlock); a failure leaves no trace.
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuardOf<'_, K, T>> {
        let inner = self.inner.try_lock()?;
        Some(Guard::new(
            self.dep_map()
                .acquired_try(Read::Exclusive, Location::caller()),
            inner,
        ))
    }

    /// Releases a lock whose guard was forgotten (e.g. with `mem::forget` or `leak`).
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
        if self.dep_map().force_release(None, Location::caller()) {
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
        self.dep_map().register();
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep_map().held_state().unwrap_or(true)
    }

    /// The validator's handle of this mutex.
    #[inline]
    pub(crate) fn dep_map(&self) -> &DepMap {
        #[cfg(not(loom))]
        // SAFETY: only reads the raw lock's validator handle.
        #[allow(unsafe_code)]
        return unsafe { self.inner.raw() }.dep();
        #[cfg(loom)]
        &self.dep
    }
}

#[cfg(not(loom))]
impl<K: MutexKind, T: ?Sized> GenericMutex<K, T> {
    /// The mutex whose real lock is `inner` (a guard's `lock_api` mutex).
    #[inline]
    pub(crate) fn from_real(inner: &locks::Mutex<K, T>) -> &Self {
        #[allow(unsafe_code)]
        // SAFETY: `GenericMutex` is `repr(transparent)` over this one field.
        unsafe {
            &*(inner as *const locks::Mutex<K, T> as *const Self)
        }
    }
}

/// The guard of a [`GenericMutex`] of kind `K` ([`MutexGuard`] or [`FairMutexGuard`]).
pub type MutexGuardOf<'a, K, T> = Guard<'a, locks::MutexGuard<'a, K, T>>;

#[cfg(not(loom))]
mod timed;
#[cfg(not(loom))]
pub use timed::ArcMutexGuard;

impl<K: MutexKind, T: Default> Default for GenericMutex<K, T> {
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "Mutex", Maker::Default),
            T::default(),
        )
    }
}

impl<K: MutexKind, T> From<T> for GenericMutex<K, T> {
    /// A mutex built by `From` / `.into()`: its class is the site of the conversion and the
    /// data type, and two such mutexes may nest (their order checked per instance).
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "Mutex", Maker::From),
            value,
        )
    }
}

impl<K: MutexKind, T: ?Sized + fmt::Debug> fmt::Debug for GenericMutex<K, T> {
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

impl<K: MutexKind, T: ?Sized> Sealed for GenericMutex<K, T> {}
impl<K: MutexKind, T: ?Sized> TrackedLock for GenericMutex<K, T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(self.dep_map())
    }
}
