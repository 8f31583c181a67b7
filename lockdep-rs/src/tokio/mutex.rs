//! `lockdep::tokio::Mutex`: tokio's async mutex, every acquisition validated before it waits,
//! held by the task (or thread) that takes it.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use ::tokio::sync as real;

use super::watch::{lock_async, lock_blocking};
use super::TryLockError;
use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Read};
use crate::guard::{Guard, Sendable};
use crate::held::{LockHandle, Sealed, TrackedLock};

/// An async mutual-exclusion lock (tokio's `Mutex`) whose acquisitions are checked for
/// lock-order problems; the holder is the task that locks it (see the [module docs](super)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let m = lockdep::tokio::Mutex::named("counter", 0);
/// *m.lock().await += 1;
/// assert_eq!(*m.lock().await, 1);
/// # }
/// ```
// With validation compiled out the handle is zero-sized: the layout is tokio's (the guards'
// `mutex()` and the owned guards rely on it, see `into_real`).
#[cfg_attr(not(lockdep_enabled), repr(transparent))]
pub struct Mutex<T: ?Sized> {
    dep: DepMap,
    inner: real::Mutex<T>,
}

/// The guard of [`Mutex::lock`]: `Send` like tokio's; dropping it releases the lock, and its
/// record on the holder that took it, from any task or thread.
#[cfg(lockdep_enabled)]
pub type MutexGuard<'a, T> =
    Guard<'a, super::borrowed::Borrowed<'a, Mutex<T>, real::MutexGuard<'a, T>>, Sendable>;
/// The guard of [`Mutex::lock`]: `Send` like tokio's; dropping it releases the lock, and its
/// record on the holder that took it, from any task or thread.
#[cfg(not(lockdep_enabled))]
pub type MutexGuard<'a, T> = Guard<'a, real::MutexGuard<'a, T>, Sendable>;

/// The real part of a [`MutexGuard`]: with validation on, tokio's guard and the mutex it holds
/// (tokio's guard gives back only the tokio mutex inside, see `mutex()`); compiled out, tokio's
/// guard.
#[cfg(lockdep_enabled)]
type Locked<'a, T> = super::borrowed::Borrowed<'a, Mutex<T>, real::MutexGuard<'a, T>>;
#[cfg(not(lockdep_enabled))]
type Locked<'a, T> = real::MutexGuard<'a, T>;

/// A guard of part of a [`Mutex`]'s data ([`MutexGuard::map`](Guard::map)).
pub type MappedMutexGuard<'a, T> = Guard<'a, real::MappedMutexGuard<'a, T>, Sendable>;

/// The guard of [`Mutex::lock_owned`]: keeps an `Arc` of the mutex, no lifetime.
#[cfg(lockdep_enabled)]
pub type OwnedMutexGuard<T> =
    Guard<'static, super::owned::Owned<Mutex<T>, real::MutexGuard<'static, T>>, Sendable>;
/// The guard of [`Mutex::lock_owned`]: keeps an `Arc` of the mutex, no lifetime.
#[cfg(not(lockdep_enabled))]
pub type OwnedMutexGuard<T> = Guard<'static, real::OwnedMutexGuard<T>, Sendable>;

/// An owned guard of part of a [`Mutex`]'s data ([`OwnedMutexGuard::map`](Guard::map)).
#[cfg(lockdep_enabled)]
pub type OwnedMappedMutexGuard<T, U = T> = Guard<
    'static,
    super::owned::Owned<
        Mutex<T>,
        real::MappedMutexGuard<'static, U>,
        super::owned::OwnedMappedSync<T, U>,
    >,
    Sendable,
>;
/// An owned guard of part of a [`Mutex`]'s data ([`OwnedMutexGuard::map`](Guard::map)).
#[cfg(not(lockdep_enabled))]
pub type OwnedMappedMutexGuard<T, U = T> =
    Guard<'static, real::OwnedMappedMutexGuard<T, U>, Sendable>;

impl<T> Mutex<T> {
    /// A mutex whose class is its construction site, shown as `file.rs:line`.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::with_dep(DepMap::site::<T>(Location::caller(), "tokio::Mutex"), value)
    }

    /// tokio's `const_new`: the same as [`new`](Self::new) (which is `const` too).
    #[track_caller]
    pub const fn const_new(value: T) -> Self {
        Self::with_dep(DepMap::site::<T>(Location::caller(), "tokio::Mutex"), value)
    }

    /// A mutex whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::with_dep(
            DepMap::named(Location::caller(), name, "tokio::Mutex"),
            value,
        )
    }

    /// A mutex of the class `class` (shown as `class.name()`), wherever it is built.
    pub const fn with_class(class: &'static LockClass, value: T) -> Self {
        Self::with_dep(DepMap::class(class), value)
    }

    const fn with_dep(dep: DepMap, value: T) -> Self {
        Mutex {
            dep,
            inner: real::Mutex::const_new(value),
        }
    }

    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> T {
        let Mutex { dep: _dep, inner } = self; // `_dep` checks "held lock freed"
        inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting (asynchronously) until it is available. The acquisition is
    /// validated when the future is first polled, before it waits: a report (or a panic, in
    /// `Panic` mode) comes instead of a hang. If the task already holds the mutex, another
    /// branch of it (`join!`, `select!`) may release it: that is waited for one second, then
    /// reported as the task re-locking it, and the task panics. Cancel-safe like tokio's:
    /// dropping the future before it completes leaves no record.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> + '_ {
        self.lock_with(0, Location::caller())
    }

    /// [`lock`](Self::lock) as subclass `subclass` (0..=7) of the mutex's class, shown as
    /// `name/n`: for taking two mutexes of one class in a fixed order.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> impl Future<Output = MutexGuard<'_, T>> + '_ {
        self.lock_with(subclass, Location::caller())
    }

    async fn lock_with(&self, subclass: u8, site: &'static Location<'static>) -> MutexGuard<'_, T> {
        let (tracked, inner) = lock_async(
            &self.dep,
            (Read::Exclusive, subclass, site),
            || self.inner.try_lock().ok(),
            || self.inner.lock(),
        )
        .await;
        Guard::new(tracked, self.locked(inner))
    }

    /// Locks the mutex from blocking code (tokio's `blocking_lock`; panics in an async
    /// context, as tokio's does), validated first.
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        let (tracked, inner) = lock_blocking(
            &self.dep,
            (Read::Exclusive, 0, Location::caller()),
            || self.inner.try_lock().ok(),
            || self.inner.blocking_lock(),
        );
        Guard::new(tracked, self.locked(inner))
    }

    /// Attempts to lock the mutex without waiting. A success is held like any lock (it gets no
    /// incoming edge: a trylock cannot deadlock); a failure leaves no trace.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_lock()?;
        let tracked = self
            .dep
            .acquired_try_async(Read::Exclusive, Location::caller());
        Ok(Guard::new(tracked, self.locked(inner)))
    }

    /// The real part of a [`MutexGuard`] from tokio's guard of `self.inner`.
    #[cfg(lockdep_enabled)]
    #[inline]
    fn locked<'a>(&'a self, inner: real::MutexGuard<'a, T>) -> Locked<'a, T> {
        super::borrowed::Borrowed::new(self, inner)
    }

    /// The real part of a [`MutexGuard`] from tokio's guard of `self.inner`: that guard.
    #[cfg(not(lockdep_enabled))]
    #[inline]
    fn locked<'a>(&'a self, inner: real::MutexGuard<'a, T>) -> Locked<'a, T> {
        inner
    }

    /// Mutable access without locking: the `&mut` proves no one else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Registers this mutex with the validator now (see [`crate::Mutex::register`]).
    pub fn register(&self) {
        self.dep.register();
    }

    /// Is this mutex held by the calling holder (task, or thread), per the validator?
    pub fn is_held(&self) -> bool {
        self.dep.is_held()
    }
}

#[cfg(lockdep_enabled)]
impl<T: ?Sized + 'static> Mutex<T> {
    /// Locks the mutex inside an `Arc` (tokio's `lock_owned`), validated like
    /// [`lock`](Self::lock); the guard keeps the `Arc`. (`T: 'static`, as for anything shared
    /// with spawned tasks.)
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let site = Location::caller();
        async move {
            let lock = self; // declared first: outlives every borrow of it below
            let this = super::owned::Owned::<Self, ()>::borrow(&lock);
            let (tracked, inner) = lock_async(
                &this.dep,
                (Read::Exclusive, 0, site),
                || this.inner.try_lock().ok(),
                || this.inner.lock(),
            )
            .await;
            Guard::new(tracked.owned(), super::owned::Owned::new(lock, inner))
        }
    }

    /// [`lock_owned`](Self::lock_owned) from blocking code (tokio's `blocking_lock_owned`).
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let lock = self;
        let this = super::owned::Owned::<Self, ()>::borrow(&lock);
        let (tracked, inner) = lock_blocking(
            &this.dep,
            (Read::Exclusive, 0, Location::caller()),
            || this.inner.try_lock().ok(),
            || this.inner.blocking_lock(),
        );
        Guard::new(tracked.owned(), super::owned::Owned::new(lock, inner))
    }

    /// [`try_lock`](Self::try_lock) inside an `Arc` (tokio's `try_lock_owned`).
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let lock = self;
        let this = super::owned::Owned::<Self, ()>::borrow(&lock);
        let inner = this.inner.try_lock()?;
        let tracked = this
            .dep
            .acquired_try_async(Read::Exclusive, Location::caller());
        Ok(Guard::new(
            tracked.owned(),
            super::owned::Owned::new(lock, inner),
        ))
    }
}

#[cfg(not(lockdep_enabled))]
impl<T: ?Sized + 'static> Mutex<T> {
    /// tokio's `Mutex` in the same allocation.
    #[allow(unsafe_code)]
    fn into_real(self: Arc<Self>) -> Arc<real::Mutex<T>> {
        // SAFETY: `Mutex<T>` is `repr(transparent)` over `real::Mutex<T>` (the validator
        // handle is zero-sized when compiled out), so the pointee has the same layout.
        unsafe { Arc::from_raw(Arc::into_raw(self) as *const real::Mutex<T>) }
    }

    /// Locks the mutex inside an `Arc` (tokio's `lock_owned`); the guard keeps the `Arc`.
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let inner = self.into_real().lock_owned();
        async move { Guard::new(crate::dep_map::Tracked::untracked(), inner.await) }
    }

    /// [`lock_owned`](Self::lock_owned) from blocking code (tokio's `blocking_lock_owned`).
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let inner = self.into_real().blocking_lock_owned();
        Guard::new(crate::dep_map::Tracked::untracked(), inner)
    }

    /// [`try_lock`](Self::try_lock) inside an `Arc` (tokio's `try_lock_owned`).
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let inner = self.into_real().try_lock_owned()?;
        Ok(Guard::new(crate::dep_map::Tracked::untracked(), inner))
    }
}

impl<'a, T: ?Sized> Guard<'a, Locked<'a, T>, Sendable> {
    /// A guard of a part of the data; the mutex stays locked until the new guard drops.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> MappedMutexGuard<'a, U> {
        this.map_inner(|inner| real::MutexGuard::map(real_guard(inner), f))
    }

    /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        this.try_map_inner(|inner| try_map_real_guard(inner, |g| real::MutexGuard::try_map(g, f)))
    }

    /// The mutex this guard holds (tokio's `MutexGuard::mutex`).
    #[cfg(lockdep_enabled)]
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.inner.lock()
    }

    /// The mutex this guard holds (tokio's `MutexGuard::mutex`).
    #[cfg(not(lockdep_enabled))]
    #[allow(unsafe_code)]
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        // Every guard holds the tokio mutex inside one of ours (`locked`), borrowed for `'a`.
        let real: *const real::Mutex<T> = real::MutexGuard::mutex(&this.inner);
        // SAFETY: compiled out, `Mutex<T>` is `repr(transparent)` over `real::Mutex<T>` (the
        // handle is zero-sized): tokio's mutex is the whole of ours (same address, size and
        // metadata, that of the tail `T`), so its reference covers all of ours, for `'a`.
        unsafe { &*(real as *const Mutex<T>) }
    }
}

/// tokio's guard in the real part of a [`MutexGuard`] (`map`).
#[cfg(lockdep_enabled)]
#[inline]
fn real_guard<T: ?Sized>(inner: Locked<'_, T>) -> real::MutexGuard<'_, T> {
    inner.into_guard()
}

/// tokio's guard in the real part of a [`MutexGuard`] (`map`): that guard.
#[cfg(not(lockdep_enabled))]
#[inline]
fn real_guard<T: ?Sized>(inner: Locked<'_, T>) -> real::MutexGuard<'_, T> {
    inner
}

/// tokio's guard in the real part of a [`MutexGuard`] made into another by `f`, which may give
/// it back: then that real part again (`try_map`).
#[cfg(lockdep_enabled)]
#[inline]
fn try_map_real_guard<'a, T: ?Sized, H>(
    inner: Locked<'a, T>,
    f: impl FnOnce(real::MutexGuard<'a, T>) -> Result<H, real::MutexGuard<'a, T>>,
) -> Result<H, Locked<'a, T>> {
    inner.try_map_guard(f)
}

/// tokio's guard in the real part of a [`MutexGuard`] made into another by `f`, which may give
/// it back (`try_map`): `f` on that guard.
#[cfg(not(lockdep_enabled))]
#[inline]
fn try_map_real_guard<'a, T: ?Sized, H>(
    inner: Locked<'a, T>,
    f: impl FnOnce(real::MutexGuard<'a, T>) -> Result<H, real::MutexGuard<'a, T>>,
) -> Result<H, Locked<'a, T>> {
    f(inner)
}

impl<'a, T: ?Sized> Guard<'a, real::MappedMutexGuard<'a, T>, Sendable> {
    /// Maps a mapped guard further.
    pub fn map<U, F: FnOnce(&mut T) -> &mut U>(this: Self, f: F) -> MappedMutexGuard<'a, U> {
        this.map_inner(|inner| real::MappedMutexGuard::map(inner, f))
    }

    /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
    pub fn try_map<U, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        this.try_map_inner(|inner| real::MappedMutexGuard::try_map(inner, f))
    }
}

#[cfg(lockdep_enabled)]
mod owned_guards {
    use super::*;
    use crate::tokio::owned::{Owned, OwnedMappedSync};

    impl<T: ?Sized + 'static> Guard<'static, Owned<Mutex<T>, real::MutexGuard<'static, T>>, Sendable> {
        /// An owned guard of a part of the data; the mutex stays locked until it drops.
        pub fn map<U: ?Sized + 'static, F: FnOnce(&mut T) -> &mut U>(
            this: Self,
            f: F,
        ) -> OwnedMappedMutexGuard<T, U> {
            this.map_inner(|inner| inner.map_guard(|g| real::MutexGuard::map(g, f)))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<U: ?Sized + 'static, F: FnOnce(&mut T) -> Option<&mut U>>(
            this: Self,
            f: F,
        ) -> Result<OwnedMappedMutexGuard<T, U>, Self> {
            this.try_map_inner(|inner| inner.try_map_guard(|g| real::MutexGuard::try_map(g, f)))
        }

        /// The mutex this guard holds: the `Arc` it keeps (tokio's `OwnedMutexGuard::mutex`).
        pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
            this.inner.arc()
        }
    }

    impl<T: ?Sized + 'static, U: ?Sized + 'static>
        Guard<
            'static,
            Owned<Mutex<T>, real::MappedMutexGuard<'static, U>, OwnedMappedSync<T, U>>,
            Sendable,
        >
    {
        /// Maps an owned mapped guard further.
        pub fn map<S: 'static, F: FnOnce(&mut U) -> &mut S>(
            this: Self,
            f: F,
        ) -> OwnedMappedMutexGuard<T, S> {
            this.map_inner(|inner| inner.map_guard(|g| real::MappedMutexGuard::map(g, f)))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<S: 'static, F: FnOnce(&mut U) -> Option<&mut S>>(
            this: Self,
            f: F,
        ) -> Result<OwnedMappedMutexGuard<T, S>, Self> {
            this.try_map_inner(|inner| {
                inner.try_map_guard(|g| real::MappedMutexGuard::try_map(g, f))
            })
        }
    }
}

#[cfg(not(lockdep_enabled))]
mod owned_guards {
    use super::*;

    /// This crate's `Arc<Mutex<T>>` in place of tokio's (the owned guard's `mutex()`).
    #[allow(unsafe_code)]
    fn arc_of_real<T: ?Sized>(real: &Arc<real::Mutex<T>>) -> &Arc<Mutex<T>> {
        const {
            assert!(
                std::mem::size_of::<Arc<real::Mutex<T>>>() == std::mem::size_of::<Arc<Mutex<T>>>()
            );
            assert!(
                std::mem::align_of::<Arc<real::Mutex<T>>>()
                    == std::mem::align_of::<Arc<Mutex<T>>>()
            );
        }
        let real: *const Arc<real::Mutex<T>> = real;
        // SAFETY: `Mutex<T>` is `repr(transparent)` over `real::Mutex<T>` (see `into_real`),
        // so an `Arc` of one is an `Arc` of the other: a pointer to the same `ArcInner`
        // layout, with the same metadata (the tail `T`); the sizes and alignments are
        // asserted above. The reference lives as long as `real`'s borrow.
        unsafe { &*real.cast::<Arc<Mutex<T>>>() }
    }

    impl<T: ?Sized> Guard<'static, real::OwnedMutexGuard<T>, Sendable> {
        /// An owned guard of a part of the data; the mutex stays locked until it drops.
        pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
            this: Self,
            f: F,
        ) -> OwnedMappedMutexGuard<T, U> {
            this.map_inner(|inner| real::OwnedMutexGuard::map(inner, f))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
            this: Self,
            f: F,
        ) -> Result<OwnedMappedMutexGuard<T, U>, Self> {
            this.try_map_inner(|inner| real::OwnedMutexGuard::try_map(inner, f))
        }

        /// The mutex this guard holds: the `Arc` it keeps (tokio's `OwnedMutexGuard::mutex`).
        pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
            arc_of_real(real::OwnedMutexGuard::mutex(&this.inner))
        }
    }

    impl<T: ?Sized, U: ?Sized> Guard<'static, real::OwnedMappedMutexGuard<T, U>, Sendable> {
        /// Maps an owned mapped guard further.
        pub fn map<S, F: FnOnce(&mut U) -> &mut S>(
            this: Self,
            f: F,
        ) -> OwnedMappedMutexGuard<T, S> {
            this.map_inner(|inner| real::OwnedMappedMutexGuard::map(inner, f))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<S, F: FnOnce(&mut U) -> Option<&mut S>>(
            this: Self,
            f: F,
        ) -> Result<OwnedMappedMutexGuard<T, S>, Self> {
            this.try_map_inner(|inner| real::OwnedMappedMutexGuard::try_map(inner, f))
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    /// A lock built by `Default` (e.g. a field of a `#[derive(Default)]` struct): its class
    /// is the site and the data type, and two such locks may nest (their order checked per
    /// instance), as for the blocking locks.
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "tokio::Mutex", Maker::Default),
            T::default(),
        )
    }
}

impl<T> From<T> for Mutex<T> {
    /// A lock built by `From` / `.into()`: as for [`Default`], its class is the site and the
    /// data type, and two such locks may nest.
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "tokio::Mutex", Maker::From),
            value,
        )
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
