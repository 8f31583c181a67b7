//! The rest of parking_lot's `RwLock` API (not under loom): upgradable readers, timed and
//! recursive try-acquisitions, state queries, fair force-unlocks and the `arc_lock` family.
//!
//! An **upgradable read** excludes writers and other upgradable readers but not readers. The
//! validator records it as a non-recursive reader (kernel read=1: it waits for writers, and
//! a reader may wait for it through a queued writer). Its guard says it is the upgradable
//! reader, so as a nest lock (`lock_nest_lock(&upgradable_guard)`) it keeps the orders of the
//! locks taken under it apart from those taken under the write lock or another upgradable
//! read of it, not from those taken under a read lock. Timed acquisitions are validated before
//! they block, like their untimed twins: a timeout turns a deadlock into a stall, not into a
//! correct order. One that times out leaves no held lock behind.

use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{GenericRwLock, RwLockReadGuard, RwLockWriteGuard};
use crate::dep_map::{DepMap, Read, Tracked};
use crate::guard::{ArcLockable, ArcLocked, Exclusive, Guard, Shared, Upgradable};
use crate::raw::{RawRwLock, RwLockKind, Unchecked};
use crate::sync::real::lock_api::{self, RawRwLockUpgrade as _};
use crate::sync::real::RawRwLock as RealRaw;

/// The raw lock inside [`RwLock`](crate::RwLock).
type Real = Unchecked<RealRaw>;

/// RAII upgradable-read guard of an [`RwLock`](crate::RwLock): [`upgrade`](Guard::upgrade)
/// it to a write guard.
pub type RwLockUpgradableReadGuard<'a, T> =
    Guard<'a, lock_api::RwLockUpgradableReadGuard<'a, Real, T>>;

/// An arc read guard (parking_lot's `ArcRwLockReadGuard<RawRwLock, T>`).
pub type ArcRwLockReadGuard<K, T> = Guard<'static, ArcLocked<GenericRwLock<K, T>, Shared>>;
/// An arc write guard (parking_lot's `ArcRwLockWriteGuard<RawRwLock, T>`).
pub type ArcRwLockWriteGuard<K, T> = Guard<'static, ArcLocked<GenericRwLock<K, T>, Exclusive>>;
/// An arc upgradable-read guard (parking_lot's `ArcRwLockUpgradableReadGuard<RawRwLock, T>`).
pub type ArcRwLockUpgradableReadGuard<K, T> =
    Guard<'static, ArcLocked<GenericRwLock<K, T>, Upgradable>>;

/// A timed acquisition: validated first; forgotten if it times out.
#[track_caller]
fn timed<'a, G>(
    dep: &'a DepMap,
    read: Read,
    lock: impl FnOnce() -> Option<G>,
) -> Option<Guard<'a, G>> {
    let mut tracked = dep.acquire_timed(read, Location::caller());
    match lock() {
        Some(inner) => Some(Guard::new(tracked, inner)),
        None => {
            tracked.release();
            None
        }
    }
}

/// `guard` holds its lock as the upgradable reader (see `Tracked::mark_upgradable`).
fn upgradable<G>(mut guard: Guard<'_, G>) -> Guard<'_, G> {
    guard.tracked.mark_upgradable();
    guard
}

/// A trylock: recorded (unvalidated) only if it succeeds.
#[track_caller]
fn tried<G>(dep: &DepMap, read: Read, inner: Option<G>) -> Option<Guard<'_, G>> {
    inner.map(|inner| Guard::new(dep.acquired_try(read, Location::caller()), inner))
}

impl<K: RwLockKind, T: ?Sized> GenericRwLock<K, T> {
    /// Upgradable shared acquisition, validated first (see the module docs): excludes writers
    /// and other upgradable readers, not readers.
    ///
    /// A second upgradable read by the thread that holds the lock as upgradable can never
    /// succeed: it is validated as the exclusive acquisition it conflicts as, so the
    /// validator reports it as a certain self-deadlock (`RecursiveLocking`, then a panic in
    /// every mode) instead of letting the thread hang.
    #[track_caller]
    #[inline]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
        let read = self.raw_lock().checked().upgradable_read_kind();
        let mut tracked = self.dep_map().acquire(read, 0, None, Location::caller());
        tracked.mark_upgradable();
        // With `read` exclusive the validator panicked above (or the mode is `Off`, or the
        // first upgradable read went unrecorded), and the real lock below never returns.
        Guard::new(tracked, self.inner.upgradable_read())
    }

    fn raw_lock(&self) -> &Unchecked<RealRaw> {
        // SAFETY: only reads the raw lock's handle and bookkeeping.
        #[allow(unsafe_code)]
        unsafe {
            self.inner.raw()
        }
    }

    /// The raw lock (lock_api's `RwLock::raw`): the same lock, validated.
    ///
    /// Its operations are recorded and checked as this lock's (same class and instance):
    /// `raw().lock_shared()` validates before it blocks and leaves a reader recorded;
    /// `raw().unlock_shared()` releases this thread's record of a reader (a
    /// `BadUnlockBalance` report if there is none; the real lock is unlocked regardless).
    ///
    /// # Safety
    /// As lock_api's: unlocking through the raw lock while a guard of it exists is undefined
    /// behaviour.
    #[allow(unsafe_code)]
    pub unsafe fn raw(&self) -> &RawRwLock {
        self.raw_lock().checked()
    }

    /// A read guard for a read lock this thread already holds (lock_api's
    /// `make_read_guard_unchecked`): after `raw().lock_shared()`, or for a forgotten guard's.
    /// The guard takes over this thread's record of it, as `make_guard_unchecked` does for a
    /// mutex ([`Mutex::make_guard_unchecked`](crate::GenericMutex::make_guard_unchecked)).
    ///
    /// # Safety
    /// As lock_api's: this thread must hold a read lock that no other guard owns.
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_read_guard_unchecked(&self) -> RwLockReadGuard<'_, T> {
        let tracked = self.dep_map().adopt(Read::Shared, Location::caller());
        // SAFETY: the caller's contract.
        Guard::new(tracked, unsafe { self.inner.make_read_guard_unchecked() })
    }

    /// A write guard for the write lock this thread already holds (lock_api's
    /// `make_write_guard_unchecked`); it takes over this thread's record of it.
    ///
    /// # Safety
    /// As lock_api's: this thread must hold the write lock, and no other guard may own it.
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_write_guard_unchecked(&self) -> RwLockWriteGuard<'_, T> {
        let tracked = self.dep_map().adopt(Read::Exclusive, Location::caller());
        // SAFETY: the caller's contract.
        Guard::new(tracked, unsafe { self.inner.make_write_guard_unchecked() })
    }

    /// An upgradable guard for the upgradable read this thread already holds (lock_api's
    /// `make_upgradable_guard_unchecked`); it takes over this thread's record of it.
    ///
    /// # Safety
    /// As lock_api's: this thread must hold the upgradable read, and no other guard may own it.
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_upgradable_guard_unchecked(&self) -> RwLockUpgradableReadGuard<'_, T> {
        let mut tracked = self.dep_map().adopt(Read::Shared, Location::caller());
        tracked.mark_upgradable();
        // SAFETY: the caller's contract.
        Guard::new(tracked, unsafe {
            self.inner.make_upgradable_guard_unchecked()
        })
    }

    /// [`make_read_guard_unchecked`](Self::make_read_guard_unchecked) through an `Arc`.
    ///
    /// # Safety
    /// As [`make_read_guard_unchecked`](Self::make_read_guard_unchecked).
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_arc_read_guard_unchecked(self: &Arc<Self>) -> ArcRwLockReadGuard<K, T> {
        // SAFETY: the caller's contract.
        arc(self, unsafe { self.make_read_guard_unchecked() })
    }

    /// [`make_write_guard_unchecked`](Self::make_write_guard_unchecked) through an `Arc`.
    ///
    /// # Safety
    /// As [`make_write_guard_unchecked`](Self::make_write_guard_unchecked).
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_arc_write_guard_unchecked(self: &Arc<Self>) -> ArcRwLockWriteGuard<K, T> {
        // SAFETY: the caller's contract.
        arc(self, unsafe { self.make_write_guard_unchecked() })
    }

    /// [`make_upgradable_guard_unchecked`](Self::make_upgradable_guard_unchecked) through an
    /// `Arc`.
    ///
    /// # Safety
    /// As [`make_upgradable_guard_unchecked`](Self::make_upgradable_guard_unchecked).
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_upgradable_arc_guard_unchecked(
        self: &Arc<Self>,
    ) -> ArcRwLockUpgradableReadGuard<K, T> {
        // SAFETY: the caller's contract.
        arc(self, unsafe { self.make_upgradable_guard_unchecked() })
    }

    /// Attempts an upgradable read without blocking.
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        tried(
            self.dep_map(),
            Read::Shared,
            self.inner.try_upgradable_read(),
        )
        .map(upgradable)
    }

    /// Upgradable read, giving up after `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_upgradable_read_for(
        &self,
        timeout: Duration,
    ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Shared, || {
            self.inner.try_upgradable_read_for(timeout)
        })
        .map(upgradable)
    }

    /// Upgradable read, giving up at `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_upgradable_read_until(
        &self,
        timeout: Instant,
    ) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Shared, || {
            self.inner.try_upgradable_read_until(timeout)
        })
        .map(upgradable)
    }

    /// Attempts a recursive read without blocking.
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, T>> {
        tried(
            self.dep_map(),
            Read::Recursive,
            self.inner.try_read_recursive(),
        )
    }

    /// Non-recursive read, giving up after `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Shared, || {
            self.inner.try_read_for(timeout)
        })
    }

    /// Non-recursive read, giving up at `timeout`.
    #[track_caller]
    pub fn try_read_until(&self, timeout: Instant) -> Option<RwLockReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Shared, || {
            self.inner.try_read_until(timeout)
        })
    }

    /// Recursive read, giving up after `timeout`.
    #[track_caller]
    pub fn try_read_recursive_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Recursive, || {
            self.inner.try_read_recursive_for(timeout)
        })
    }

    /// Recursive read, giving up at `timeout`.
    #[track_caller]
    pub fn try_read_recursive_until(&self, timeout: Instant) -> Option<RwLockReadGuard<'_, T>> {
        timed(self.dep_map(), Read::Recursive, || {
            self.inner.try_read_recursive_until(timeout)
        })
    }

    /// Exclusive acquisition, giving up after `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        timed(self.dep_map(), Read::Exclusive, || {
            self.inner.try_write_for(timeout)
        })
    }

    /// Exclusive acquisition, giving up at `timeout`.
    #[track_caller]
    pub fn try_write_until(&self, timeout: Instant) -> Option<RwLockWriteGuard<'_, T>> {
        timed(self.dep_map(), Read::Exclusive, || {
            self.inner.try_write_until(timeout)
        })
    }

    /// Is the lock held (by any thread, in any mode)?
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Is the lock held exclusively (by any thread)?
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// A raw pointer to the data; using it is up to the caller.
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// [`force_unlock_read`](Self::force_unlock_read), unlocking fairly.
    ///
    /// # Safety
    /// As [`force_unlock_read`](Self::force_unlock_read).
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_read_fair(&self) {
        if self.dep_map().force_release(Some(true), Location::caller()) {
            // SAFETY: the caller's promise, confirmed by the validator when enabled.
            unsafe { self.inner.force_unlock_read_fair() }
        }
    }

    /// [`force_unlock_write`](Self::force_unlock_write), unlocking fairly.
    ///
    /// # Safety
    /// As [`force_unlock_write`](Self::force_unlock_write).
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_write_fair(&self) {
        if self
            .dep_map()
            .force_release(Some(false), Location::caller())
        {
            // SAFETY: the caller's promise, confirmed by the validator when enabled.
            unsafe { self.inner.force_unlock_write_fair() }
        }
    }
}

impl<T> GenericRwLock<RawRwLock, T> {
    /// A reader-writer lock on the raw lock `raw_rwlock` (lock_api's `RwLock::const_new`).
    /// Its class is `raw_rwlock`'s if it has one ([`named`](crate::raw::RawLock::named),
    /// [`with_class`](crate::raw::RawLock::with_class)); a raw lock made by `INIT` has none, and the class
    /// is then the construction site of this call.
    #[track_caller]
    pub const fn const_new(raw_rwlock: RawRwLock, val: T) -> Self {
        let raw = Unchecked::new(raw_rwlock.or_site::<T>(Location::caller(), "RwLock"));
        GenericRwLock {
            kind: std::marker::PhantomData,
            inner: lock_api::RwLock::const_new(raw, val),
        }
    }

    /// The same as [`const_new`](Self::const_new) (lock_api's `RwLock::from_raw`).
    #[track_caller]
    pub const fn from_raw(raw_rwlock: RawRwLock, val: T) -> Self {
        Self::const_new(raw_rwlock, val)
    }
}

/// Turns a borrowed guard into an arc guard of mode `M` (the lock stays held).
#[allow(unsafe_code)]
fn arc<K: RwLockKind, T: ?Sized, G, M>(
    lock: &Arc<GenericRwLock<K, T>>,
    guard: Guard<'_, G>,
) -> Guard<'static, ArcLocked<GenericRwLock<K, T>, M>>
where
    GenericRwLock<K, T>: ArcLockable<M>,
{
    let (tracked, inner) = guard.into_parts();
    std::mem::forget(inner); // the lock stays held; the ArcLocked unlocks it
    let tracked: Tracked<'static> = ArcLocked::extend(lock, tracked);
    // SAFETY: `guard` held the lock in mode `M`; the ArcLocked unlocks it once.
    Guard::new(tracked, unsafe { ArcLocked::new(lock.clone()) })
}

macro_rules! arc_methods {
    ($( $(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $guard:ident via $borrowed:ident; )*) => {
        impl<K: RwLockKind, T: ?Sized> GenericRwLock<K, T> {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $name(self: &Arc<Self>, $($arg: $ty),*) -> arc_ret!($guard) {
                    arc_call!(self, $borrowed($($arg),*), $guard)
                }
            )*
        }
    };
}
macro_rules! arc_ret {
    (Read) => { ArcRwLockReadGuard<K, T> };
    (Write) => { ArcRwLockWriteGuard<K, T> };
    (Upgradable) => { ArcRwLockUpgradableReadGuard<K, T> };
    (TryRead) => { Option<ArcRwLockReadGuard<K, T>> };
    (TryWrite) => { Option<ArcRwLockWriteGuard<K, T>> };
    (TryUpgradable) => { Option<ArcRwLockUpgradableReadGuard<K, T>> };
}
macro_rules! arc_call {
    ($s:ident, $b:ident($($a:ident),*), Read) => { arc($s, $s.$b($($a),*)) };
    ($s:ident, $b:ident($($a:ident),*), Write) => { arc($s, $s.$b($($a),*)) };
    ($s:ident, $b:ident($($a:ident),*), Upgradable) => { arc($s, $s.$b($($a),*)) };
    ($s:ident, $b:ident($($a:ident),*), $other:ident) => { Some(arc($s, $s.$b($($a),*)?)) };
}

arc_methods! {
    /// [`read`](Self::read) through an `Arc`: the guard owns a clone of it.
    read_arc() -> Read via read;
    /// [`read_recursive`](Self::read_recursive) through an `Arc`.
    read_arc_recursive() -> Read via read_recursive;
    /// [`write`](Self::write) through an `Arc`.
    write_arc() -> Write via write;
    /// [`upgradable_read`](Self::upgradable_read) through an `Arc`.
    upgradable_read_arc() -> Upgradable via upgradable_read;
    /// [`try_read`](Self::try_read) through an `Arc`.
    try_read_arc() -> TryRead via try_read;
    /// [`try_read_recursive`](Self::try_read_recursive) through an `Arc`.
    try_read_recursive_arc() -> TryRead via try_read_recursive;
    /// [`try_write`](Self::try_write) through an `Arc`.
    try_write_arc() -> TryWrite via try_write;
    /// [`try_upgradable_read`](Self::try_upgradable_read) through an `Arc`.
    try_upgradable_read_arc() -> TryUpgradable via try_upgradable_read;
    /// [`try_read_for`](Self::try_read_for) through an `Arc`.
    try_read_arc_for(timeout: Duration) -> TryRead via try_read_for;
    /// [`try_read_until`](Self::try_read_until) through an `Arc`.
    try_read_arc_until(timeout: Instant) -> TryRead via try_read_until;
    /// [`try_read_recursive_for`](Self::try_read_recursive_for) through an `Arc`.
    try_read_arc_recursive_for(timeout: Duration) -> TryRead via try_read_recursive_for;
    /// [`try_read_recursive_until`](Self::try_read_recursive_until) through an `Arc`.
    try_read_arc_recursive_until(timeout: Instant) -> TryRead via try_read_recursive_until;
    /// [`try_write_for`](Self::try_write_for) through an `Arc`.
    try_write_arc_for(timeout: Duration) -> TryWrite via try_write_for;
    /// [`try_write_until`](Self::try_write_until) through an `Arc`.
    try_write_arc_until(timeout: Instant) -> TryWrite via try_write_until;
    /// [`try_upgradable_read_for`](Self::try_upgradable_read_for) through an `Arc`.
    try_upgradable_read_arc_for(timeout: Duration) -> TryUpgradable via try_upgradable_read_for;
    /// [`try_upgradable_read_until`](Self::try_upgradable_read_until) through an `Arc`.
    try_upgradable_read_arc_until(timeout: Instant) -> TryUpgradable via try_upgradable_read_until;
}

macro_rules! arc_lockable {
    ($mode:ident, $unlock:ident) => {
        impl<K: RwLockKind, T: ?Sized> ArcLockable<$mode> for GenericRwLock<K, T> {
            type Target = T;
            fn data(&self) -> *mut T {
                self.inner.data_ptr()
            }
            #[allow(unsafe_code)]
            unsafe fn unlock_mode(&self) {
                // SAFETY: the arc guard holds the lock in this mode.
                unsafe { self.inner.raw().$unlock() }
            }
        }
    };
}
use lock_api::RawRwLock as _;
arc_lockable!(Shared, unlock_shared);
arc_lockable!(Exclusive, unlock_exclusive);
arc_lockable!(Upgradable, unlock_upgradable);
