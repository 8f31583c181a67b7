//! The validated reader-writer lock: [`RawLock<RawRwLock>`](super::RawLock) with lock_api's
//! reader-writer traits (shared, recursive, upgradable, timed, fair, downgrade), each
//! operation recorded with its kind.

use super::*;

impl RawLock<real::RawRwLock> {
    /// A raw lock whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Self {
        raw_rwlock(DepMap::named(Location::caller(), name, "RawRwLock"))
    }

    /// A raw lock of the static class `class`.
    pub const fn with_class(class: &'static LockClass) -> Self {
        raw_rwlock(DepMap::class(class))
    }

    /// This thread now holds the lock as its (only) upgradable reader.
    #[inline]
    pub(super) fn upgradable_on(&self) {
        #[cfg(lockdep_enabled)]
        self.state
            .thread
            .store(thread_id(), std::sync::atomic::Ordering::Relaxed);
    }

    /// This thread no longer holds the lock as an upgradable reader.
    #[inline]
    pub(super) fn upgradable_off(&self) {
        #[cfg(lockdep_enabled)]
        self.state
            .thread
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Does this thread hold the lock as its upgradable reader? Exact: every change of the
    /// real lock's upgradable state goes through this type or [`Unchecked`], and only the
    /// holder writes its own id (so no other thread can see it).
    #[inline]
    pub(crate) fn held_upgradable(&self) -> bool {
        #[cfg(lockdep_enabled)]
        return self.state.thread.load(std::sync::atomic::Ordering::Relaxed) == thread_id();
        #[cfg(not(lockdep_enabled))]
        false
    }

    /// How an upgradable read is validated: as a reader (read=1), or, if this thread holds
    /// the lock as upgradable already, as the exclusive acquisition it conflicts as (an
    /// upgradable read excludes other upgradable reads): the validator's certain
    /// self-deadlock check then catches it before the thread hangs.
    #[inline]
    pub(crate) fn upgradable_read_kind(&self) -> Read {
        if self.held_upgradable() {
            Read::Exclusive
        } else {
            Read::Shared
        }
    }

    #[track_caller]
    fn upgrade_record(&self) {
        let site = Location::caller();
        let _ = rerecord(&self.dep, Read::Shared, || {
            self.dep.acquire(Read::Exclusive, 0, None, site)
        });
    }
    /// A timed upgrade's record ([`upgrade_record`](Self::upgrade_record), validated as a
    /// timed acquisition: waiting for a reader this thread holds is reported, not panicked).
    /// Returns whether the write acquisition was recorded (for [`upgrade_timed_out`](Self::upgrade_timed_out)).
    #[track_caller]
    fn upgrade_record_timed(&self) -> bool {
        let site = Location::caller();
        rerecord(&self.dep, Read::Shared, || {
            self.dep.acquire_timed(Read::Exclusive, site)
        })
        .map()
        .is_some()
    }
    /// A timed upgrade timed out: this thread holds the lock as its upgradable reader again,
    /// recorded as a reader (changed back from the write record, or recorded afresh if the
    /// upgrade left none: see [`upgrade_record_timed`](Self::upgrade_record_timed)).
    #[track_caller]
    fn upgrade_timed_out(&self, recorded: bool) {
        if recorded {
            self.change(false, Read::Shared);
        } else {
            let _ = self.dep.acquired_try(Read::Shared, Location::caller());
        }
    }
    #[track_caller]
    fn change(&self, from_shared: bool, to: Read) {
        released(&self.dep, from_shared);
        let _ = self.dep.acquired_try(to, Location::caller());
    }
}

impl RwLockKind for RawLock<real::RawRwLock> {
    type Real = real::RawRwLock;
}

// SAFETY: every operation is the real lock's; the validator only observes them.
unsafe impl lock_api::RawRwLock for RawLock<real::RawRwLock> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = raw_rwlock(DepMap::per_instance("RawRwLock"));
    type GuardMarker = <real::RawRwLock as lock_api::RawRwLock>::GuardMarker;

    #[track_caller]
    fn lock_shared(&self) {
        blocking(&self.dep, Read::Shared, || {
            self.inner.lock_shared();
            true
        });
    }
    #[track_caller]
    fn try_lock_shared(&self) -> bool {
        tried(&self.dep, Read::Shared, self.inner.try_lock_shared())
    }
    #[track_caller]
    unsafe fn unlock_shared(&self) {
        released(&self.dep, true);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_shared() }
    }
    #[track_caller]
    fn lock_exclusive(&self) {
        blocking(&self.dep, Read::Exclusive, || {
            self.inner.lock_exclusive();
            true
        });
    }
    #[track_caller]
    fn try_lock_exclusive(&self) -> bool {
        tried(&self.dep, Read::Exclusive, self.inner.try_lock_exclusive())
    }
    #[track_caller]
    unsafe fn unlock_exclusive(&self) {
        released(&self.dep, false);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_exclusive() }
    }
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
    fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockFair for RawLock<real::RawRwLock> {
    #[track_caller]
    unsafe fn unlock_shared_fair(&self) {
        released(&self.dep, true);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_shared_fair() }
    }
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self) {
        released(&self.dep, false);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_exclusive_fair() }
    }
    #[track_caller]
    unsafe fn bump_shared(&self) {
        let site = Location::caller();
        let _ = rerecord(&self.dep, Read::Shared, || {
            self.dep.acquire(Read::Shared, 0, None, site)
        });
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_shared() }
    }
    #[track_caller]
    unsafe fn bump_exclusive(&self) {
        let site = Location::caller();
        let _ = rerecord(&self.dep, Read::Exclusive, || {
            self.dep.acquire(Read::Exclusive, 0, None, site)
        });
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_exclusive() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockDowngrade for RawLock<real::RawRwLock> {
    #[track_caller]
    unsafe fn downgrade(&self) {
        self.change(false, Read::Shared);
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockTimed for RawLock<real::RawRwLock> {
    type Duration = Duration;
    type Instant = Instant;
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        timed(&self.dep, Read::Shared, || {
            self.inner.try_lock_shared_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        timed(&self.dep, Read::Shared, || {
            self.inner.try_lock_shared_until(timeout)
        })
    }
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        timed(&self.dep, Read::Exclusive, || {
            self.inner.try_lock_exclusive_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        timed(&self.dep, Read::Exclusive, || {
            self.inner.try_lock_exclusive_until(timeout)
        })
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockRecursive for RawLock<real::RawRwLock> {
    #[track_caller]
    fn lock_shared_recursive(&self) {
        blocking(&self.dep, Read::Recursive, || {
            self.inner.lock_shared_recursive();
            true
        });
    }
    #[track_caller]
    fn try_lock_shared_recursive(&self) -> bool {
        tried(
            &self.dep,
            Read::Recursive,
            self.inner.try_lock_shared_recursive(),
        )
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockRecursiveTimed for RawLock<real::RawRwLock> {
    #[track_caller]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        timed(&self.dep, Read::Recursive, || {
            self.inner.try_lock_shared_recursive_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        timed(&self.dep, Read::Recursive, || {
            self.inner.try_lock_shared_recursive_until(timeout)
        })
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgrade for RawLock<real::RawRwLock> {
    #[track_caller]
    fn lock_upgradable(&self) {
        blocking(&self.dep, self.upgradable_read_kind(), || {
            self.inner.lock_upgradable();
            true
        });
        self.upgradable_on();
    }
    #[track_caller]
    fn try_lock_upgradable(&self) -> bool {
        let ok = tried(&self.dep, Read::Shared, self.inner.try_lock_upgradable());
        if ok {
            self.upgradable_on();
        }
        ok
    }
    #[track_caller]
    unsafe fn unlock_upgradable(&self) {
        released(&self.dep, true);
        self.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_upgradable() }
    }
    #[track_caller]
    unsafe fn upgrade(&self) {
        self.upgrade_record();
        self.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.inner.upgrade() }
    }
    #[track_caller]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade() };
        if ok {
            self.upgradable_off();
            self.change(true, Read::Exclusive);
        }
        ok
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeFair for RawLock<real::RawRwLock> {
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self) {
        released(&self.dep, true);
        self.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_upgradable_fair() }
    }
    #[track_caller]
    unsafe fn bump_upgradable(&self) {
        let site = Location::caller();
        let _ = rerecord(&self.dep, Read::Shared, || {
            self.dep.acquire(Read::Shared, 0, None, site)
        });
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_upgradable() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawLock<real::RawRwLock> {
    #[track_caller]
    unsafe fn downgrade_upgradable(&self) {
        // An upgradable reader is recorded as a reader already: nothing changes.
        self.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade_upgradable() }
    }
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self) {
        self.change(false, Read::Shared);
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade_to_upgradable() }
        self.upgradable_on();
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawLock<real::RawRwLock> {
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        // Timed: never validated as certain (it would time out, not hang).
        let ok = timed(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_for(timeout)
        });
        if ok {
            self.upgradable_on();
        }
        ok
    }
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        let ok = timed(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_until(timeout)
        });
        if ok {
            self.upgradable_on();
        }
        ok
    }
    #[track_caller]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        let recorded = self.upgrade_record_timed();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_for(timeout) };
        if ok {
            self.upgradable_off();
        } else {
            self.upgrade_timed_out(recorded);
        }
        ok
    }
    #[track_caller]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        let recorded = self.upgrade_record_timed();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_until(timeout) };
        if ok {
            self.upgradable_off();
        } else {
            self.upgrade_timed_out(recorded);
        }
        ok
    }
}
