//! The rest of parking_lot's mutex API (not under loom: loom's locks have no clock, no fair
//! unlock and no raw state): timed acquisitions, fair force-unlock, state queries and the
//! `arc_lock` family.
//!
//! Timed acquisitions are validated before they block, exactly like `lock()`: a timeout turns a
//! deadlock into a stall (and a failed `try_lock_for` into a silent fallback path), not into
//! a correct lock order, so an inversion is reported even if the timeout would end it. A timed
//! acquisition that times out leaves no held lock behind (its edges stay: it did wait).

use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{GenericMutex, MutexGuardOf};
use crate::dep_map::Read;
use crate::guard::{ArcLockable, ArcLocked, Exclusive, Guard};
use crate::raw::{MutexKind, RawFairMutex, RawLock, RawMutex, Unchecked};
use crate::sync::real::lock_api;

/// An arc guard of a [`GenericMutex`] (parking_lot's `ArcMutexGuard<RawMutex, T>`): owns an
/// `Arc` of the mutex, so it has no lifetime.
pub type ArcMutexGuard<K, T> = Guard<'static, ArcLocked<GenericMutex<K, T>, Exclusive>>;

impl<K: MutexKind, T: ?Sized> GenericMutex<K, T> {
    #[inline]
    #[track_caller]
    fn timed<'a>(
        &'a self,
        lock: impl FnOnce() -> Option<crate::raw::locks::MutexGuard<'a, K, T>>,
    ) -> Option<MutexGuardOf<'a, K, T>> {
        let mut tracked = self
            .dep_map()
            .acquire_timed(Read::Exclusive, Location::caller());
        match lock() {
            Some(inner) => Some(Guard::new(tracked, inner)),
            None => {
                tracked.release();
                None
            }
        }
    }

    /// Acquires the mutex, giving up after `timeout`; validated before it blocks, like
    /// [`lock`](Self::lock). On timeout nothing is held.
    #[inline]
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuardOf<'_, K, T>> {
        self.timed(|| self.inner.try_lock_for(timeout))
    }

    /// Acquires the mutex, giving up at `timeout`; validated before it blocks.
    #[inline]
    #[track_caller]
    pub fn try_lock_until(&self, timeout: Instant) -> Option<MutexGuardOf<'_, K, T>> {
        self.timed(|| self.inner.try_lock_until(timeout))
    }

    /// The raw mutex (lock_api's `Mutex::raw`): the same lock, validated.
    ///
    /// Its operations are recorded and checked as this mutex's (same class and instance):
    /// `raw().lock()` validates before it blocks and leaves the lock recorded as held;
    /// `raw().unlock()` releases this thread's record of it (a `BadUnlockBalance` report if
    /// there is none, and the real lock is unlocked regardless). So releasing a forgotten
    /// guard's lock through it keeps the held state right.
    ///
    /// # Safety
    /// As lock_api's: unlocking through the raw lock while a guard of it exists is undefined
    /// behaviour.
    #[allow(unsafe_code)]
    pub unsafe fn raw(&self) -> &RawLock<K::Real> {
        // SAFETY: the caller's contract.
        unsafe { self.inner.raw() }.checked()
    }

    /// A guard for the lock this thread already holds (lock_api's `make_guard_unchecked`):
    /// after `raw().lock()`, or for a forgotten guard's lock.
    ///
    /// The guard takes over this thread's record of the lock (it is recorded again, on top
    /// of the held stack, as a trylock: making the guard does not block), or records it now
    /// if there is none (taken while the mode was `Off`); dropping the guard releases both.
    ///
    /// # Safety
    /// As lock_api's: this thread must hold the lock, and no other guard may own that hold
    /// (a guard that was forgotten does not).
    #[allow(unsafe_code)]
    #[track_caller]
    pub unsafe fn make_guard_unchecked(&self) -> MutexGuardOf<'_, K, T> {
        let tracked = self.dep_map().adopt(Read::Exclusive, Location::caller());
        // SAFETY: the caller's contract.
        Guard::new(tracked, unsafe { self.inner.make_guard_unchecked() })
    }

    /// Is the mutex locked (by any thread)?
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// A raw pointer to the data (parking_lot's `data_ptr`); using it is up to the caller.
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// [`force_unlock`](Self::force_unlock), unlocking fairly.
    ///
    /// # Safety
    /// As [`force_unlock`](Self::force_unlock).
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_fair(&self) {
        if self.dep_map().force_release(None, Location::caller()) {
            // SAFETY: as in `force_unlock`.
            unsafe { self.inner.force_unlock_fair() }
        }
    }

    /// Turns a guard of this mutex into an arc guard (the lock stays locked).
    #[allow(unsafe_code)]
    fn into_arc_guard(self: &Arc<Self>, guard: MutexGuardOf<'_, K, T>) -> ArcMutexGuard<K, T> {
        let (tracked, inner) = guard.into_parts();
        std::mem::forget(inner); // the lock stays locked; the ArcLocked unlocks it
        let tracked = ArcLocked::extend(self, tracked);
        // SAFETY: the mutex is locked by the guard just taken apart; unlocked once.
        Guard::new(tracked, unsafe { ArcLocked::new(self.clone()) })
    }

    /// [`lock`](Self::lock) through an `Arc`: the guard owns a clone of it.
    #[track_caller]
    pub fn lock_arc(self: &Arc<Self>) -> ArcMutexGuard<K, T> {
        self.into_arc_guard(self.lock())
    }

    /// [`try_lock`](Self::try_lock) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcMutexGuard<K, T>> {
        Some(self.into_arc_guard(self.try_lock()?))
    }

    /// [`try_lock_for`](Self::try_lock_for) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc_for(self: &Arc<Self>, timeout: Duration) -> Option<ArcMutexGuard<K, T>> {
        Some(self.into_arc_guard(self.try_lock_for(timeout)?))
    }

    /// [`try_lock_until`](Self::try_lock_until) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc_until(self: &Arc<Self>, timeout: Instant) -> Option<ArcMutexGuard<K, T>> {
        Some(self.into_arc_guard(self.try_lock_until(timeout)?))
    }
}

macro_rules! from_raw {
    ($kind:ident) => {
        impl<T> GenericMutex<$kind, T> {
            /// A mutex on the raw lock `raw_mutex` (lock_api's `Mutex::const_new`). Its class
            /// is `raw_mutex`'s if it has one ([`named`](RawLock::named),
            /// [`with_class`](RawLock::with_class)); a raw lock made by `INIT` has none, and
            /// the class is then the construction site of this call.
            #[track_caller]
            pub const fn const_new(raw_mutex: $kind, val: T) -> Self {
                let raw = Unchecked::new(raw_mutex.or_site::<T>(Location::caller(), "Mutex"));
                GenericMutex {
                    inner: lock_api::Mutex::const_new(raw, val),
                }
            }

            /// The same as [`const_new`](Self::const_new) (lock_api's `Mutex::from_raw`).
            #[track_caller]
            pub const fn from_raw(raw_mutex: $kind, val: T) -> Self {
                Self::const_new(raw_mutex, val)
            }
        }
    };
}
from_raw!(RawMutex);
from_raw!(RawFairMutex);

impl<K: MutexKind, T: ?Sized> ArcLockable<Exclusive> for GenericMutex<K, T> {
    type Target = T;
    fn data(&self) -> *mut T {
        self.inner.data_ptr()
    }
    #[allow(unsafe_code)]
    unsafe fn unlock_mode(&self) {
        // SAFETY: the arc guard holds the lock.
        unsafe { self.inner.force_unlock() }
    }
}
