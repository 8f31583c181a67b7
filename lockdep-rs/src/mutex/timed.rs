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
use crate::raw::MutexKind;

/// An arc guard of a [`GenericMutex`] (parking_lot's `ArcMutexGuard<RawMutex, T>`): owns an
/// `Arc` of the mutex, so it has no lifetime.
pub type ArcMutexGuard<K, T> = Guard<'static, ArcLocked<GenericMutex<K, T>, Exclusive>>;

impl<K: MutexKind, T: ?Sized> GenericMutex<K, T> {
    #[track_caller]
    fn timed<'a>(
        &'a self,
        lock: impl FnOnce() -> Option<crate::sync::MutexGuard<'a, K, T>>,
    ) -> Option<MutexGuardOf<'a, K, T>> {
        let mut tracked = self.dep.acquire_timed(Read::Exclusive, Location::caller());
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
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuardOf<'_, K, T>> {
        self.timed(|| self.inner.try_lock_for(timeout))
    }

    /// Acquires the mutex, giving up at `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_lock_until(&self, timeout: Instant) -> Option<MutexGuardOf<'_, K, T>> {
        self.timed(|| self.inner.try_lock_until(timeout))
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
