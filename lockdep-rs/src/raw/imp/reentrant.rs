//! [`UncheckedReentrant`]: the raw mutex inside the safe `ReentrantMutex`, keeping the record
//! of the holder's first acquisition until its last level goes.

use super::*;

/// The raw mutex inside this crate's [`ReentrantMutex`](crate::ReentrantMutex): a
/// [`RawMutex`] whose lock_api operations are the real lock's, not validated by themselves,
/// plus the record of the reentrant mutex's acquisition.
///
/// lock_api's reentrant mutex calls its raw mutex only for a thread's first level and its
/// last: the first acquisition is validated by the safe lock (with the caller's site), which
/// then leaves its record here; the unlock of the last level, whichever guard it is, releases
/// it. So the validator counts the lock as held exactly while some level is.
pub struct UncheckedReentrant {
    raw: RawMutex,
    /// The record of the holder's acquisition (a packed [`Tracked`] serial; 0: none). Only
    /// the thread that holds the real lock reads or writes it.
    #[cfg(lockdep_enabled)]
    record: std::sync::atomic::AtomicU64,
    /// The holder (stack) the record's entry is on.
    #[cfg(lockdep_tasks)]
    record_holder: std::sync::atomic::AtomicU64,
}

impl UncheckedReentrant {
    pub(crate) const fn new(raw: RawMutex) -> Self {
        UncheckedReentrant {
            raw,
            #[cfg(lockdep_enabled)]
            record: std::sync::atomic::AtomicU64::new(0),
            #[cfg(lockdep_tasks)]
            record_holder: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The same raw mutex, validated: what `ReentrantMutex::raw()` returns.
    #[inline]
    pub fn checked(&self) -> &RawMutex {
        &self.raw
    }

    #[inline]
    pub(crate) fn dep(&self) -> &DepMap {
        &self.raw.dep
    }

    /// Keeps the record of the first acquisition; the caller holds the real lock now.
    #[inline]
    pub(crate) fn keep(&self, tracked: Tracked<'_>) {
        #[cfg(lockdep_enabled)]
        {
            let (packed, _holder) = tracked.into_packed();
            self.record
                .store(packed, std::sync::atomic::Ordering::Relaxed);
            #[cfg(lockdep_tasks)]
            self.record_holder
                .store(_holder, std::sync::atomic::Ordering::Relaxed);
        }
        #[cfg(not(lockdep_enabled))]
        let _ = tracked;
    }

    /// The last level goes: the record of the acquisition is released.
    #[inline]
    fn release_record(&self) {
        #[cfg(lockdep_enabled)]
        {
            // Only the holder touches the record (ordered with other holders by the real
            // lock): a load and a store, not a read-modify-write (which costs as much as the
            // unlock itself).
            let packed = self.record.load(std::sync::atomic::Ordering::Relaxed);
            if packed != 0 {
                self.record.store(0, std::sync::atomic::Ordering::Relaxed);
                #[cfg(lockdep_tasks)]
                let holder = self
                    .record_holder
                    .load(std::sync::atomic::Ordering::Relaxed);
                #[cfg(not(lockdep_tasks))]
                let holder = crate::fast_path::NO_HOLDER;
                Tracked::from_packed(&self.raw.dep, packed, holder).release();
            }
        }
    }
}

// SAFETY: every operation is the real lock's; the unlocks release the record first.
unsafe impl lock_api::RawMutex for UncheckedReentrant {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = UncheckedReentrant::new(raw_mutex(DepMap::per_instance("RawMutex")));
    type GuardMarker = <real::RawMutex as lock_api::RawMutex>::GuardMarker;
    #[inline]
    fn lock(&self) {
        lock_api::RawMutex::lock(&self.raw.inner);
    }
    #[inline]
    fn try_lock(&self) -> bool {
        lock_api::RawMutex::try_lock(&self.raw.inner)
    }
    #[inline]
    unsafe fn unlock(&self) {
        self.release_record();
        // SAFETY: the caller's contract.
        unsafe { lock_api::RawMutex::unlock(&self.raw.inner) }
    }
    #[inline]
    fn is_locked(&self) -> bool {
        lock_api::RawMutex::is_locked(&self.raw.inner)
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawMutexFair for UncheckedReentrant {
    #[inline]
    unsafe fn unlock_fair(&self) {
        self.release_record();
        // SAFETY: the caller's contract.
        unsafe { lock_api::RawMutexFair::unlock_fair(&self.raw.inner) }
    }
    /// Hands the lock over and takes it back; the record stays (this crate's guards bump
    /// through `unlocked_fair`, which records the release and the validated re-acquisition).
    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller's contract.
        unsafe { lock_api::RawMutexFair::bump(&self.raw.inner) }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawMutexTimed for UncheckedReentrant {
    type Duration = Duration;
    type Instant = Instant;
    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        lock_api::RawMutexTimed::try_lock_for(&self.raw.inner, timeout)
    }
    #[inline]
    fn try_lock_until(&self, timeout: Instant) -> bool {
        lock_api::RawMutexTimed::try_lock_until(&self.raw.inner, timeout)
    }
}
