//! `RwLock`: the kernel's rwsem and rwlock_t in one type, on parking_lot's reader-writer lock.
//!
//! `read()` is a non-recursive reader (rwsem `down_read`, kernel read=1): it waits behind a
//! waiting writer, so taking it twice can deadlock. `read_recursive()` is a recursive reader
//! (rwlock_t `read_lock`, read=2): it only waits for a writer that holds the lock. The rest of
//! parking_lot's API (upgradable readers, timed and arc acquisitions) is in `rwlock/more.rs`,
//! the guards' own methods in `rwlock_guard.rs`.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;

use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Nest, Read};
use crate::guard::Guard;
use crate::held::{Held, LockHandle, Sealed, TrackedLock};
use crate::raw::locks;
use crate::raw::{RawRwLock, RwLockKind};

/// A reader-writer lock whose acquisitions are checked for lock-order problems.
///
/// ```
/// let rw = lockdep::RwLock::named("(memory_chain).rwsem", vec![1]);
/// assert_eq!(rw.read().len(), 1);
/// rw.write().push(2);
/// assert_eq!(*rw.read_recursive(), [1, 2]);
/// ```
pub type RwLock<T> = GenericRwLock<RawRwLock, T>;

/// RAII shared guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = Guard<'a, locks::RwLockReadGuard<'a, T>>;

/// RAII exclusive guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = Guard<'a, locks::RwLockWriteGuard<'a, T>>;

/// A reader-writer lock of kind `K` (only [`RawRwLock`]: [`RwLock`]) holding a `T`.
///
/// It is lock_api's reader-writer lock over the raw lock
/// [`Unchecked<parking_lot::RawRwLock>`](crate::raw::Unchecked), which holds the validator's
/// handle next to parking_lot's raw lock (with validation compiled out, exactly parking_lot's
/// `RwLock`).
#[cfg_attr(not(loom), repr(transparent))]
pub struct GenericRwLock<K: RwLockKind, T: ?Sized> {
    #[cfg(loom)]
    dep: DepMap,
    kind: PhantomData<fn() -> K>,
    pub(crate) inner: locks::RwLock<T>,
}

macro_rules! constructors {
    ($($const:ident)?) => {
        impl<K: RwLockKind, T> GenericRwLock<K, T> {
            /// A reader-writer lock whose class is its construction site (`file.rs:line`).
            #[track_caller]
            pub $($const)? fn new(value: T) -> Self {
                Self::with_dep(DepMap::site::<T>(Location::caller(), "RwLock"), value)
            }

            /// A reader-writer lock whose class is its construction site, shown as `name`.
            #[track_caller]
            pub $($const)? fn named(name: &'static str, value: T) -> Self {
                Self::with_dep(DepMap::named(Location::caller(), name, "RwLock"), value)
            }

            /// A reader-writer lock of the class `class`, wherever it is built.
            pub $($const)? fn with_class(class: &'static LockClass, value: T) -> Self {
                Self::with_dep(DepMap::class(class), value)
            }

            #[cfg(not(loom))]
            pub(crate) const fn with_dep(dep: DepMap, value: T) -> Self {
                let raw = crate::raw::Unchecked::new(crate::raw::imp_raw_rwlock(dep));
                GenericRwLock {
                    kind: PhantomData,
                    inner: crate::sync::real::lock_api::RwLock::const_new(raw, value),
                }
            }

            #[cfg(loom)]
            fn with_dep(dep: DepMap, value: T) -> Self {
                GenericRwLock { dep, kind: PhantomData, inner: locks::RwLock::new(value) }
            }
        }

        /// An [`RwLock`] whose class is its construction site (parking_lot's `const_rwlock`).
        #[track_caller]
        pub $($const)? fn const_rwlock<T>(value: T) -> RwLock<T> {
            RwLock::new(value)
        }
    };
}
#[cfg(not(loom))]
constructors!(const);
#[cfg(loom)]
constructors!();

impl<K: RwLockKind, T> GenericRwLock<K, T> {
    /// Consumes the lock, returning its value.
    pub fn into_inner(self) -> T {
        // Dropping the validator's handle (inside the raw lock, or beside it under loom)
        // checks "held lock freed".
        self.inner.into_inner()
    }
}

impl<K: RwLockKind, T: ?Sized> GenericRwLock<K, T> {
    #[inline(always)]
    #[track_caller]
    fn write_with(
        &self,
        subclass: u8,
        nest: Option<Nest<'_>>,
        site: &'static Location<'static>,
    ) -> RwLockWriteGuard<'_, T> {
        let tracked = self
            .dep_map()
            .acquire(Read::Exclusive, subclass, nest, site);
        let (tracked, inner) = crate::guard::block(
            tracked,
            || self.inner.write(),
            |d| locks::timed::try_write_for(&self.inner, d),
        );
        Guard::new(tracked, inner)
    }

    /// Exclusive (write) acquisition, validated first.
    #[track_caller]
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.write_with(0, None, Location::caller())
    }

    /// Non-recursive shared acquisition (rwsem `down_read`, read=1), validated first.
    #[track_caller]
    #[inline(always)]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let tracked = self
            .dep_map()
            .acquire(Read::Shared, 0, None, Location::caller());
        let (tracked, inner) = crate::guard::block(
            tracked,
            || self.inner.read(),
            |d| locks::timed::try_read_for(&self.inner, d),
        );
        Guard::new(tracked, inner)
    }

    /// Recursive shared acquisition (rwlock_t `read_lock`, read=2), validated first.
    #[track_caller]
    #[inline(always)]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
        let tracked = self
            .dep_map()
            .acquire(Read::Recursive, 0, None, Location::caller());
        let (tracked, inner) = crate::guard::block(
            tracked,
            || self.inner.read_recursive(),
            |d| locks::timed::try_read_recursive_for(&self.inner, d),
        );
        Guard::new(tracked, inner)
    }

    /// Exclusive acquisition as subclass `subclass` (0..=7), shown as `name/n`.
    #[track_caller]
    pub fn write_nested(&self, subclass: u8) -> RwLockWriteGuard<'_, T> {
        self.write_with(subclass, None, Location::caller())
    }

    /// Non-recursive shared acquisition as subclass `subclass` (kernel `down_read_nested`).
    #[track_caller]
    pub fn read_nested(&self, subclass: u8) -> RwLockReadGuard<'_, T> {
        let tracked = self
            .dep_map()
            .acquire(Read::Shared, subclass, None, Location::caller());
        Guard::new(tracked, self.inner.read())
    }

    /// Exclusive acquisition under the held lock `nest` (kernel `down_write_nest_lock`).
    #[track_caller]
    pub fn write_nest_lock<G: Held>(&self, nest: &G) -> RwLockWriteGuard<'_, T> {
        self.write_with(0, nest.held_handle().nest(), Location::caller())
    }

    /// Attempts an exclusive acquisition without blocking; a failure leaves no trace.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let inner = self.inner.try_write()?;
        Some(Guard::new(
            self.dep_map()
                .acquired_try(Read::Exclusive, Location::caller()),
            inner,
        ))
    }

    /// Attempts a (non-recursive) shared acquisition without blocking.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let inner = self.inner.try_read()?;
        Some(Guard::new(
            self.dep_map()
                .acquired_try(Read::Shared, Location::caller()),
            inner,
        ))
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
        if self.dep_map().force_release(Some(true), Location::caller()) {
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
        if self
            .dep_map()
            .force_release(Some(false), Location::caller())
        {
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
        self.dep_map().register();
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep_map().held_state().unwrap_or(true)
    }

    /// The validator's handle of this lock.
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
impl<K: RwLockKind, T: ?Sized> GenericRwLock<K, T> {
    /// The lock whose real lock is `inner` (a guard's `lock_api` lock).
    #[inline]
    pub(crate) fn from_real(inner: &locks::RwLock<T>) -> &Self {
        #[allow(unsafe_code)]
        // SAFETY: `GenericRwLock` is `repr(transparent)` over this one non-zero-sized field.
        unsafe {
            &*(inner as *const locks::RwLock<T> as *const Self)
        }
    }
}

#[cfg(not(loom))]
mod more;
#[cfg(not(loom))]
pub use more::{
    ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard,
    RwLockUpgradableReadGuard,
};

impl<K: RwLockKind, T: Default> Default for GenericRwLock<K, T> {
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "RwLock", Maker::Default),
            T::default(),
        )
    }
}

impl<K: RwLockKind, T> From<T> for GenericRwLock<K, T> {
    /// A lock built by `From` / `.into()`: its class is the site of the conversion and the
    /// data type, and two such locks may nest (their order checked per instance).
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "RwLock", Maker::From),
            value,
        )
    }
}

impl<K: RwLockKind, T: ?Sized + fmt::Debug> fmt::Debug for GenericRwLock<K, T> {
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

impl<K: RwLockKind, T: ?Sized> Sealed for GenericRwLock<K, T> {}
impl<K: RwLockKind, T: ?Sized> TrackedLock for GenericRwLock<K, T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(self.dep_map())
    }
}
