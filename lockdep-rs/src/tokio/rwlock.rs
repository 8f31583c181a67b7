//! `lockdep::tokio::RwLock`: tokio's async reader-writer lock, validated like lockdep's
//! `RwLock`. tokio's lock is fair (a reader waits behind a queued writer), so `read` is a
//! non-recursive reader (kernel rwsem `down_read`, read=1): two readers of one lock in
//! opposite orders with a writer can deadlock, and are reported.

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

/// An async reader-writer lock (tokio's `RwLock`) whose acquisitions are checked for
/// lock-order problems; the holder is the task that takes it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let rw = lockdep::tokio::RwLock::named("table", vec![1]);
/// assert_eq!(rw.read().await.len(), 1);
/// rw.write().await.push(2);
/// assert_eq!(*rw.read().await, [1, 2]);
/// # }
/// ```
#[cfg_attr(not(lockdep_enabled), repr(transparent))]
pub struct RwLock<T: ?Sized> {
    dep: DepMap,
    /// Built with `with_max_readers(_, 1)`: a reader excludes every other, so its reads are
    /// validated as exclusive acquisitions (a holder's second read can never succeed).
    #[cfg(lockdep_enabled)]
    one_reader: bool,
    inner: real::RwLock<T>,
}

/// The shared guard of [`RwLock::read`] (`Send` like tokio's).
pub type RwLockReadGuard<'a, T> = Guard<'a, real::RwLockReadGuard<'a, T>, Sendable>;
/// The exclusive guard of [`RwLock::write`].
pub type RwLockWriteGuard<'a, T> = Guard<'a, real::RwLockWriteGuard<'a, T>, Sendable>;
/// An exclusive guard of part of the data ([`RwLockWriteGuard::map`](Guard::map)).
pub type RwLockMappedWriteGuard<'a, T> = Guard<'a, real::RwLockMappedWriteGuard<'a, T>, Sendable>;

#[cfg(lockdep_enabled)]
type Owned<T, G> = super::owned::Owned<RwLock<T>, G>;

/// The shared guard of [`RwLock::read_owned`] (of part of the data once mapped).
#[cfg(lockdep_enabled)]
pub type OwnedRwLockReadGuard<T, U = T> =
    Guard<'static, Owned<T, real::RwLockReadGuard<'static, U>>, Sendable>;
/// The exclusive guard of [`RwLock::write_owned`].
#[cfg(lockdep_enabled)]
pub type OwnedRwLockWriteGuard<T> =
    Guard<'static, Owned<T, real::RwLockWriteGuard<'static, T>>, Sendable>;
/// An owned exclusive guard of part of the data.
#[cfg(lockdep_enabled)]
pub type OwnedRwLockMappedWriteGuard<T, U = T> =
    Guard<'static, Owned<T, real::RwLockMappedWriteGuard<'static, U>>, Sendable>;

/// The shared guard of [`RwLock::read_owned`] (of part of the data once mapped).
#[cfg(not(lockdep_enabled))]
pub type OwnedRwLockReadGuard<T, U = T> =
    Guard<'static, real::OwnedRwLockReadGuard<T, U>, Sendable>;
/// The exclusive guard of [`RwLock::write_owned`].
#[cfg(not(lockdep_enabled))]
pub type OwnedRwLockWriteGuard<T> = Guard<'static, real::OwnedRwLockWriteGuard<T>, Sendable>;
/// An owned exclusive guard of part of the data.
#[cfg(not(lockdep_enabled))]
pub type OwnedRwLockMappedWriteGuard<T, U = T> =
    Guard<'static, real::OwnedRwLockMappedWriteGuard<T, U>, Sendable>;

impl<T> RwLock<T> {
    /// A reader-writer lock whose class is its construction site (`file.rs:line`).
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::with_dep(
            DepMap::site::<T>(Location::caller(), "tokio::RwLock"),
            value,
        )
    }

    /// tokio's `const_new`: the same as [`new`](Self::new) (which is `const` too).
    #[track_caller]
    pub const fn const_new(value: T) -> Self {
        Self::with_dep(
            DepMap::site::<T>(Location::caller(), "tokio::RwLock"),
            value,
        )
    }

    /// A reader-writer lock whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::with_dep(
            DepMap::named(Location::caller(), name, "tokio::RwLock"),
            value,
        )
    }

    /// A reader-writer lock of the class `class`, wherever it is built.
    pub const fn with_class(class: &'static LockClass, value: T) -> Self {
        Self::with_dep(DepMap::class(class), value)
    }

    /// tokio's `with_max_readers`: at most `max_reads` readers at once (tokio panics above
    /// its own limit); the class is the construction site, as for [`new`](Self::new).
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> Self {
        RwLock {
            dep: DepMap::site::<T>(Location::caller(), "tokio::RwLock"),
            #[cfg(lockdep_enabled)]
            one_reader: max_reads == 1,
            inner: real::RwLock::with_max_readers(value, max_reads),
        }
    }

    /// tokio's `const_with_max_readers`: [`with_max_readers`](Self::with_max_readers), usable
    /// in a `static`.
    #[track_caller]
    pub const fn const_with_max_readers(value: T, max_reads: u32) -> Self {
        RwLock {
            dep: DepMap::site::<T>(Location::caller(), "tokio::RwLock"),
            #[cfg(lockdep_enabled)]
            one_reader: max_reads == 1,
            inner: real::RwLock::const_with_max_readers(value, max_reads),
        }
    }

    const fn with_dep(dep: DepMap, value: T) -> Self {
        RwLock {
            dep,
            #[cfg(lockdep_enabled)]
            one_reader: false,
            inner: real::RwLock::const_new(value),
        }
    }

    /// Consumes the lock, returning its value.
    pub fn into_inner(self) -> T {
        let RwLock {
            dep: _dep, inner, ..
        } = self; // `_dep` checks "held lock freed"
        inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// The mode a read acquisition is validated and recorded in: shared, or for a lock of
    /// one reader at most, exclusive.
    #[inline]
    fn read_mode(&self) -> Read {
        #[cfg(lockdep_enabled)]
        if self.one_reader {
            return Read::Exclusive;
        }
        Read::Shared
    }

    /// Shared (read) access, waiting until no writer holds or waits for the lock; validated
    /// when first polled, before it waits (a non-recursive reader).
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        self.read_with(0, Location::caller())
    }

    /// [`read`](Self::read) as subclass `subclass` (0..=7) of the lock's class.
    #[track_caller]
    pub fn read_nested(&self, subclass: u8) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        self.read_with(subclass, Location::caller())
    }

    async fn read_with(
        &self,
        subclass: u8,
        site: &'static Location<'static>,
    ) -> RwLockReadGuard<'_, T> {
        let (tracked, inner) = lock_async(
            &self.dep,
            (self.read_mode(), subclass, site),
            || self.inner.try_read().ok(),
            || self.inner.read(),
        )
        .await;
        Guard::new(tracked, inner)
    }

    /// Exclusive (write) access, waiting until the lock is free; validated when first polled.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        self.write_with(0, Location::caller())
    }

    /// [`write`](Self::write) as subclass `subclass` (0..=7) of the lock's class.
    #[track_caller]
    pub fn write_nested(&self, subclass: u8) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        self.write_with(subclass, Location::caller())
    }

    async fn write_with(
        &self,
        subclass: u8,
        site: &'static Location<'static>,
    ) -> RwLockWriteGuard<'_, T> {
        let (tracked, inner) = lock_async(
            &self.dep,
            (Read::Exclusive, subclass, site),
            || self.inner.try_write().ok(),
            || self.inner.write(),
        )
        .await;
        Guard::new(tracked, inner)
    }

    /// [`read`](Self::read) from blocking code (tokio's `blocking_read`).
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        let (tracked, inner) = lock_blocking(
            &self.dep,
            (self.read_mode(), 0, Location::caller()),
            || self.inner.try_read().ok(),
            || self.inner.blocking_read(),
        );
        Guard::new(tracked, inner)
    }

    /// [`write`](Self::write) from blocking code (tokio's `blocking_write`).
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        let (tracked, inner) = lock_blocking(
            &self.dep,
            (Read::Exclusive, 0, Location::caller()),
            || self.inner.try_write().ok(),
            || self.inner.blocking_write(),
        );
        Guard::new(tracked, inner)
    }

    /// Attempts shared access without waiting; a failure leaves no trace.
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_read()?;
        let tracked = self
            .dep
            .acquired_try_async(self.read_mode(), Location::caller());
        Ok(Guard::new(tracked, inner))
    }

    /// Attempts exclusive access without waiting; a failure leaves no trace.
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_write()?;
        let tracked = self
            .dep
            .acquired_try_async(Read::Exclusive, Location::caller());
        Ok(Guard::new(tracked, inner))
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Registers this lock with the validator now (see [`crate::RwLock::register`]).
    pub fn register(&self) {
        self.dep.register();
    }

    /// Is this lock held (in any mode) by the calling holder, per the validator?
    pub fn is_held(&self) -> bool {
        self.dep.is_held()
    }
}

#[cfg(lockdep_enabled)]
impl<T: ?Sized + 'static> RwLock<T> {
    /// [`read`](Self::read) inside an `Arc` (tokio's `read_owned`); the guard keeps the `Arc`.
    /// (`T: 'static`, as for anything shared with spawned tasks.)
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let site = Location::caller();
        async move {
            let lock = self; // declared first: outlives every borrow of it below
            let this = Owned::<T, ()>::borrow(&lock);
            let (tracked, inner) = lock_async(
                &this.dep,
                (lock.read_mode(), 0, site),
                || this.inner.try_read().ok(),
                || this.inner.read(),
            )
            .await;
            Guard::new(tracked.owned(), Owned::new(lock, inner))
        }
    }

    /// [`write`](Self::write) inside an `Arc` (tokio's `write_owned`).
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let site = Location::caller();
        async move {
            let lock = self;
            let this = Owned::<T, ()>::borrow(&lock);
            let (tracked, inner) = lock_async(
                &this.dep,
                (Read::Exclusive, 0, site),
                || this.inner.try_write().ok(),
                || this.inner.write(),
            )
            .await;
            Guard::new(tracked.owned(), Owned::new(lock, inner))
        }
    }

    /// [`try_read`](Self::try_read) inside an `Arc` (tokio's `try_read_owned`).
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        let lock = self;
        let this = Owned::<T, ()>::borrow(&lock);
        let inner = this.inner.try_read()?;
        let tracked = this
            .dep
            .acquired_try_async(lock.read_mode(), Location::caller());
        Ok(Guard::new(tracked.owned(), Owned::new(lock, inner)))
    }

    /// [`try_write`](Self::try_write) inside an `Arc` (tokio's `try_write_owned`).
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let lock = self;
        let this = Owned::<T, ()>::borrow(&lock);
        let inner = this.inner.try_write()?;
        let tracked = this
            .dep
            .acquired_try_async(Read::Exclusive, Location::caller());
        Ok(Guard::new(tracked.owned(), Owned::new(lock, inner)))
    }
}

#[cfg(not(lockdep_enabled))]
impl<T: ?Sized + 'static> RwLock<T> {
    /// tokio's `RwLock` in the same allocation.
    #[allow(unsafe_code)]
    fn into_real(self: Arc<Self>) -> Arc<real::RwLock<T>> {
        // SAFETY: `RwLock<T>` is `repr(transparent)` over `real::RwLock<T>` (the validator
        // handle is zero-sized when compiled out), so the pointee has the same layout.
        unsafe { Arc::from_raw(Arc::into_raw(self) as *const real::RwLock<T>) }
    }

    /// [`read`](Self::read) inside an `Arc` (tokio's `read_owned`); the guard keeps the `Arc`.
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let inner = self.into_real().read_owned();
        async move { Guard::new(crate::dep_map::Tracked::untracked(), inner.await) }
    }

    /// [`write`](Self::write) inside an `Arc` (tokio's `write_owned`).
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let inner = self.into_real().write_owned();
        async move { Guard::new(crate::dep_map::Tracked::untracked(), inner.await) }
    }

    /// [`try_read`](Self::try_read) inside an `Arc` (tokio's `try_read_owned`).
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        let inner = self.into_real().try_read_owned()?;
        Ok(Guard::new(crate::dep_map::Tracked::untracked(), inner))
    }

    /// [`try_write`](Self::try_write) inside an `Arc` (tokio's `try_write_owned`).
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let inner = self.into_real().try_write_owned()?;
        Ok(Guard::new(crate::dep_map::Tracked::untracked(), inner))
    }
}

impl<'a, T: ?Sized> Guard<'a, real::RwLockReadGuard<'a, T>, Sendable> {
    /// A shared guard of a part of the data.
    pub fn map<F: FnOnce(&T) -> &U, U: ?Sized>(this: Self, f: F) -> RwLockReadGuard<'a, U> {
        this.map_inner(|inner| real::RwLockReadGuard::map(inner, f))
    }

    /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
    pub fn try_map<F: FnOnce(&T) -> Option<&U>, U: ?Sized>(
        this: Self,
        f: F,
    ) -> Result<RwLockReadGuard<'a, U>, Self> {
        this.try_map_inner(|inner| real::RwLockReadGuard::try_map(inner, f))
    }
}

impl<'a, T: ?Sized> Guard<'a, real::RwLockWriteGuard<'a, T>, Sendable> {
    /// An exclusive guard of a part of the data.
    pub fn map<F: FnOnce(&mut T) -> &mut U, U: ?Sized>(
        this: Self,
        f: F,
    ) -> RwLockMappedWriteGuard<'a, U> {
        this.map_inner(|inner| real::RwLockWriteGuard::map(inner, f))
    }

    /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
    pub fn try_map<F: FnOnce(&mut T) -> Option<&mut U>, U: ?Sized>(
        this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self> {
        this.try_map_inner(|inner| real::RwLockWriteGuard::try_map(inner, f))
    }

    /// The same exclusive guard as a mapped one, of all the data (tokio's `into_mapped`).
    pub fn into_mapped(this: Self) -> RwLockMappedWriteGuard<'a, T> {
        this.map_inner(|inner| real::RwLockWriteGuard::into_mapped(inner))
    }

    /// Turns the write lock into a read lock without letting a writer in (atomic, like
    /// tokio's); the held entry becomes a reader in place (a downgrade never blocks).
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let (mut tracked, inner) = self.into_parts();
        tracked.change_read(Read::Shared);
        Guard::new(tracked, inner.downgrade())
    }

    /// A shared guard of a part of the data (`f` runs with exclusive access), the write lock
    /// turned into a read lock atomically as by [`downgrade`](Self::downgrade); the held entry
    /// becomes a reader in place.
    pub fn downgrade_map<F, U: ?Sized>(this: Self, f: F) -> RwLockReadGuard<'a, U>
    where
        F: FnOnce(&T) -> &U,
    {
        let (mut tracked, inner) = this.into_parts();
        let inner = real::RwLockWriteGuard::downgrade_map(inner, f);
        tracked.change_read(Read::Shared);
        Guard::new(tracked, inner)
    }

    /// As [`downgrade_map`](Self::downgrade_map) if `f` returns `Some`; else the original
    /// guard, still held for writing (neither unlocked nor downgraded).
    pub fn try_downgrade_map<F, U: ?Sized>(this: Self, f: F) -> Result<RwLockReadGuard<'a, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let (mut tracked, inner) = this.into_parts();
        match real::RwLockWriteGuard::try_downgrade_map(inner, f) {
            Ok(read) => {
                tracked.change_read(Read::Shared);
                Ok(Guard::new(tracked, read))
            }
            Err(inner) => Err(Guard::new(tracked, inner)),
        }
    }
}

impl<'a, T: ?Sized> Guard<'a, real::RwLockMappedWriteGuard<'a, T>, Sendable> {
    /// Maps a mapped write guard further.
    pub fn map<F: FnOnce(&mut T) -> &mut U, U: ?Sized>(
        this: Self,
        f: F,
    ) -> RwLockMappedWriteGuard<'a, U> {
        this.map_inner(|inner| real::RwLockMappedWriteGuard::map(inner, f))
    }

    /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
    pub fn try_map<F: FnOnce(&mut T) -> Option<&mut U>, U: ?Sized>(
        this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self> {
        this.try_map_inner(|inner| real::RwLockMappedWriteGuard::try_map(inner, f))
    }
}

#[cfg(lockdep_enabled)]
mod owned_guards {
    use super::*;

    impl<T: ?Sized + 'static, U: ?Sized + 'static>
        Guard<'static, Owned<T, real::RwLockReadGuard<'static, U>>, Sendable>
    {
        /// An owned shared guard of a part of the data.
        pub fn map<F: FnOnce(&U) -> &V, V: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> OwnedRwLockReadGuard<T, V> {
            this.map_inner(|inner| inner.map_guard(|g| real::RwLockReadGuard::map(g, f)))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&U) -> Option<&V>, V: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockReadGuard<T, V>, Self> {
            this.try_map_inner(|inner| {
                inner.try_map_guard(|g| real::RwLockReadGuard::try_map(g, f))
            })
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's `OwnedRwLockReadGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            this.inner.arc()
        }
    }

    impl<T: ?Sized + 'static> Guard<'static, Owned<T, real::RwLockWriteGuard<'static, T>>, Sendable> {
        /// An owned exclusive guard of a part of the data.
        pub fn map<F: FnOnce(&mut T) -> &mut U, U: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> OwnedRwLockMappedWriteGuard<T, U> {
            this.map_inner(|inner| inner.map_guard(|g| real::RwLockWriteGuard::map(g, f)))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&mut T) -> Option<&mut U>, U: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockMappedWriteGuard<T, U>, Self> {
            this.try_map_inner(|inner| {
                inner.try_map_guard(|g| real::RwLockWriteGuard::try_map(g, f))
            })
        }

        /// The same exclusive guard as a mapped one, of all the data (tokio's `into_mapped`).
        pub fn into_mapped(this: Self) -> OwnedRwLockMappedWriteGuard<T> {
            this.map_inner(|inner| inner.map_guard(real::RwLockWriteGuard::into_mapped))
        }

        /// Turns the write lock into a read lock atomically; the entry becomes a reader.
        pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
            let (mut tracked, inner) = self.into_parts();
            tracked.change_read(Read::Shared);
            Guard::new(tracked, inner.map_guard(real::RwLockWriteGuard::downgrade))
        }

        /// An owned shared guard of a part of the data, the write lock turned into a read lock
        /// atomically (`f` run with exclusive access); the entry becomes a reader.
        pub fn downgrade_map<F, U: ?Sized + 'static>(this: Self, f: F) -> OwnedRwLockReadGuard<T, U>
        where
            F: FnOnce(&T) -> &U,
        {
            let (mut tracked, inner) = this.into_parts();
            let inner = inner.map_guard(|g| real::RwLockWriteGuard::downgrade_map(g, f));
            tracked.change_read(Read::Shared);
            Guard::new(tracked, inner)
        }

        /// As [`downgrade_map`](Self::downgrade_map) if `f` returns `Some`; else the original
        /// guard, still held for writing.
        pub fn try_downgrade_map<F, U: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockReadGuard<T, U>, Self>
        where
            F: FnOnce(&T) -> Option<&U>,
        {
            let (mut tracked, inner) = this.into_parts();
            match inner.try_map_guard(|g| real::RwLockWriteGuard::try_downgrade_map(g, f)) {
                Ok(read) => {
                    tracked.change_read(Read::Shared);
                    Ok(Guard::new(tracked, read))
                }
                Err(inner) => Err(Guard::new(tracked, inner)),
            }
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's `OwnedRwLockWriteGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            this.inner.arc()
        }
    }

    impl<T: ?Sized + 'static, U: ?Sized + 'static>
        Guard<'static, Owned<T, real::RwLockMappedWriteGuard<'static, U>>, Sendable>
    {
        /// Maps an owned mapped write guard further.
        pub fn map<F: FnOnce(&mut U) -> &mut V, V: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> OwnedRwLockMappedWriteGuard<T, V> {
            this.map_inner(|inner| inner.map_guard(|g| real::RwLockMappedWriteGuard::map(g, f)))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&mut U) -> Option<&mut V>, V: ?Sized + 'static>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockMappedWriteGuard<T, V>, Self> {
            this.try_map_inner(|inner| {
                inner.try_map_guard(|g| real::RwLockMappedWriteGuard::try_map(g, f))
            })
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's
        /// `OwnedRwLockMappedWriteGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            this.inner.arc()
        }
    }
}

#[cfg(not(lockdep_enabled))]
mod owned_guards {
    use super::*;

    /// This crate's `Arc<RwLock<T>>` in place of tokio's (the owned guards' `rwlock()`).
    #[allow(unsafe_code)]
    fn arc_of_real<T: ?Sized>(real: &Arc<real::RwLock<T>>) -> &Arc<RwLock<T>> {
        const {
            assert!(
                std::mem::size_of::<Arc<real::RwLock<T>>>()
                    == std::mem::size_of::<Arc<RwLock<T>>>()
            );
            assert!(
                std::mem::align_of::<Arc<real::RwLock<T>>>()
                    == std::mem::align_of::<Arc<RwLock<T>>>()
            );
        }
        let real: *const Arc<real::RwLock<T>> = real;
        // SAFETY: `RwLock<T>` is `repr(transparent)` over `real::RwLock<T>` (see
        // `into_real`), so an `Arc` of one is an `Arc` of the other: a pointer to the same
        // `ArcInner` layout, with the same metadata (the tail `T`); the sizes and alignments
        // are asserted above. The reference lives as long as `real`'s borrow.
        unsafe { &*real.cast::<Arc<RwLock<T>>>() }
    }

    impl<T: ?Sized, U: ?Sized> Guard<'static, real::OwnedRwLockReadGuard<T, U>, Sendable> {
        /// An owned shared guard of a part of the data.
        pub fn map<F: FnOnce(&U) -> &V, V: ?Sized>(this: Self, f: F) -> OwnedRwLockReadGuard<T, V> {
            this.map_inner(|inner| real::OwnedRwLockReadGuard::map(inner, f))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&U) -> Option<&V>, V: ?Sized>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockReadGuard<T, V>, Self> {
            this.try_map_inner(|inner| real::OwnedRwLockReadGuard::try_map(inner, f))
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's `OwnedRwLockReadGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            arc_of_real(real::OwnedRwLockReadGuard::rwlock(&this.inner))
        }
    }

    impl<T: ?Sized> Guard<'static, real::OwnedRwLockWriteGuard<T>, Sendable> {
        /// An owned exclusive guard of a part of the data.
        pub fn map<F: FnOnce(&mut T) -> &mut U, U: ?Sized>(
            this: Self,
            f: F,
        ) -> OwnedRwLockMappedWriteGuard<T, U> {
            this.map_inner(|inner| real::OwnedRwLockWriteGuard::map(inner, f))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&mut T) -> Option<&mut U>, U: ?Sized>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockMappedWriteGuard<T, U>, Self> {
            this.try_map_inner(|inner| real::OwnedRwLockWriteGuard::try_map(inner, f))
        }

        /// The same exclusive guard as a mapped one, of all the data (tokio's `into_mapped`).
        pub fn into_mapped(this: Self) -> OwnedRwLockMappedWriteGuard<T> {
            this.map_inner(|inner| real::OwnedRwLockWriteGuard::into_mapped(inner))
        }

        /// Turns the write lock into a read lock atomically.
        pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
            self.map_inner(|inner| inner.downgrade())
        }

        /// An owned shared guard of a part of the data, the write lock turned into a read lock
        /// atomically (`f` run with exclusive access).
        pub fn downgrade_map<F, U: ?Sized>(this: Self, f: F) -> OwnedRwLockReadGuard<T, U>
        where
            F: FnOnce(&T) -> &U,
        {
            this.map_inner(|inner| real::OwnedRwLockWriteGuard::downgrade_map(inner, f))
        }

        /// As [`downgrade_map`](Self::downgrade_map) if `f` returns `Some`; else the original
        /// guard, still held for writing.
        pub fn try_downgrade_map<F, U: ?Sized>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockReadGuard<T, U>, Self>
        where
            F: FnOnce(&T) -> Option<&U>,
        {
            this.try_map_inner(|inner| real::OwnedRwLockWriteGuard::try_downgrade_map(inner, f))
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's `OwnedRwLockWriteGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            arc_of_real(real::OwnedRwLockWriteGuard::rwlock(&this.inner))
        }
    }

    impl<T: ?Sized, U: ?Sized> Guard<'static, real::OwnedRwLockMappedWriteGuard<T, U>, Sendable> {
        /// Maps an owned mapped write guard further.
        pub fn map<F: FnOnce(&mut U) -> &mut V, V: ?Sized>(
            this: Self,
            f: F,
        ) -> OwnedRwLockMappedWriteGuard<T, V> {
            this.map_inner(|inner| real::OwnedRwLockMappedWriteGuard::map(inner, f))
        }

        /// As [`map`](Self::map) if `f` returns `Some`; else the original guard.
        pub fn try_map<F: FnOnce(&mut U) -> Option<&mut V>, V: ?Sized>(
            this: Self,
            f: F,
        ) -> Result<OwnedRwLockMappedWriteGuard<T, V>, Self> {
            this.try_map_inner(|inner| real::OwnedRwLockMappedWriteGuard::try_map(inner, f))
        }

        /// The lock this guard holds: the `Arc` it keeps (tokio's
        /// `OwnedRwLockMappedWriteGuard::rwlock`).
        pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
            arc_of_real(real::OwnedRwLockMappedWriteGuard::rwlock(&this.inner))
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    /// A lock built by `Default` (e.g. a field of a `#[derive(Default)]` struct): its class
    /// is the site and the data type, and two such locks may nest (their order checked per
    /// instance), as for the blocking locks.
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "tokio::RwLock", Maker::Default),
            T::default(),
        )
    }
}

impl<T> From<T> for RwLock<T> {
    /// A lock built by `From` / `.into()`: as for [`Default`], its class is the site and the
    /// data type, and two such locks may nest.
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "tokio::RwLock", Maker::From),
            value,
        )
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
