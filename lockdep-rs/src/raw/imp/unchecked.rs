//! [`Unchecked`] and `UncheckedRw`: the raw locks inside the safe `Mutex`, `FairMutex` and
//! `RwLock`, whose lock_api operations are the real lock's alone (the safe locks validate with
//! the caller's site and their guards record the releases).

use super::*;

/// The raw lock inside this crate's [`Mutex`](crate::Mutex), [`FairMutex`](crate::FairMutex)
/// and [`RwLock`](crate::RwLock): a [`RawLock`] whose lock_api operations are the real lock's
/// alone, *not* validated by themselves.
///
/// The safe locks validate every acquisition with the caller's site before calling these (the
/// guards record the releases), so recording them here too would count each twice. The
/// validated view of the same lock is what `raw()` returns: [`Unchecked::checked`].
#[repr(transparent)]
pub struct Unchecked<R: RealLock>(RawLock<R>);

impl<R: RealLock> Unchecked<R> {
    /// The same raw lock, validated: what the safe lock's `raw()` returns.
    #[inline]
    pub fn checked(&self) -> &RawLock<R> {
        &self.0
    }

    pub(crate) const fn new(raw: RawLock<R>) -> Self {
        Unchecked(raw)
    }

    #[inline]
    pub(crate) fn dep(&self) -> &DepMap {
        &self.0.dep
    }

    #[inline]
    pub(crate) fn real(&self) -> &R {
        &self.0.inner
    }
}

// SAFETY: every operation is the real lock's.
unsafe impl<R: RealLock + lock_api::RawMutex> lock_api::RawMutex for Unchecked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Unchecked(raw_mutex(DepMap::per_instance(R::NAME)));
    type GuardMarker = R::GuardMarker;
    #[inline]
    fn lock(&self) {
        self.0.inner.lock();
    }
    #[inline]
    fn try_lock(&self) -> bool {
        self.0.inner.try_lock()
    }
    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock() }
    }
    #[inline]
    fn is_locked(&self) -> bool {
        self.0.inner.is_locked()
    }
}

// SAFETY: as above.
unsafe impl<R: RealLock + lock_api::RawMutexFair> lock_api::RawMutexFair for Unchecked<R> {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_fair() }
    }
    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.bump() }
    }
}

// SAFETY: as above.
unsafe impl<R: RealLock + lock_api::RawMutexTimed> lock_api::RawMutexTimed for Unchecked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;
    #[inline]
    fn try_lock_for(&self, timeout: R::Duration) -> bool {
        self.0.inner.try_lock_for(timeout)
    }
    #[inline]
    fn try_lock_until(&self, timeout: R::Instant) -> bool {
        self.0.inner.try_lock_until(timeout)
    }
}

/// The reader-writer twin: the real lock's operations, plus the upgradable holder's id.
type UncheckedRw = Unchecked<real::RawRwLock>;

// SAFETY: every operation is the real lock's.
unsafe impl lock_api::RawRwLock for UncheckedRw {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Unchecked(raw_rwlock(DepMap::per_instance("RawRwLock")));
    type GuardMarker = <real::RawRwLock as lock_api::RawRwLock>::GuardMarker;
    #[inline]
    fn lock_shared(&self) {
        self.0.inner.lock_shared();
    }
    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.0.inner.try_lock_shared()
    }
    #[inline]
    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_shared() }
    }
    #[inline]
    fn lock_exclusive(&self) {
        self.0.inner.lock_exclusive();
    }
    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.0.inner.try_lock_exclusive()
    }
    #[inline]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_exclusive() }
    }
    #[inline]
    fn is_locked(&self) -> bool {
        self.0.inner.is_locked()
    }
    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.0.inner.is_locked_exclusive()
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockFair for UncheckedRw {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_shared_fair() }
    }
    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_exclusive_fair() }
    }
    #[inline]
    unsafe fn bump_shared(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.bump_shared() }
    }
    #[inline]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.bump_exclusive() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockDowngrade for UncheckedRw {
    #[inline]
    unsafe fn downgrade(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.downgrade() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockTimed for UncheckedRw {
    type Duration = Duration;
    type Instant = Instant;
    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.0.inner.try_lock_shared_for(timeout)
    }
    #[inline]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        self.0.inner.try_lock_shared_until(timeout)
    }
    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.0.inner.try_lock_exclusive_for(timeout)
    }
    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        self.0.inner.try_lock_exclusive_until(timeout)
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockRecursive for UncheckedRw {
    #[inline]
    fn lock_shared_recursive(&self) {
        self.0.inner.lock_shared_recursive();
    }
    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        self.0.inner.try_lock_shared_recursive()
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockRecursiveTimed for UncheckedRw {
    #[inline]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        self.0.inner.try_lock_shared_recursive_for(timeout)
    }
    #[inline]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        self.0.inner.try_lock_shared_recursive_until(timeout)
    }
}

// SAFETY: as above; the upgradable holder is kept up to date.
unsafe impl lock_api::RawRwLockUpgrade for UncheckedRw {
    #[inline]
    fn lock_upgradable(&self) {
        self.0.inner.lock_upgradable();
        self.0.upgradable_on();
    }
    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        let ok = self.0.inner.try_lock_upgradable();
        if ok {
            self.0.upgradable_on();
        }
        ok
    }
    #[inline]
    unsafe fn unlock_upgradable(&self) {
        self.0.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_upgradable() }
    }
    #[inline]
    unsafe fn upgrade(&self) {
        self.0.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.upgrade() }
    }
    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller's contract.
        let ok = unsafe { self.0.inner.try_upgrade() };
        if ok {
            self.0.upgradable_off();
        }
        ok
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeFair for UncheckedRw {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        self.0.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.unlock_upgradable_fair() }
    }
    #[inline]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.bump_upgradable() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for UncheckedRw {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        self.0.upgradable_off();
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.downgrade_upgradable() }
    }
    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.0.inner.downgrade_to_upgradable() }
        self.0.upgradable_on();
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeTimed for UncheckedRw {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        let ok = self.0.inner.try_lock_upgradable_for(timeout);
        if ok {
            self.0.upgradable_on();
        }
        ok
    }
    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        let ok = self.0.inner.try_lock_upgradable_until(timeout);
        if ok {
            self.0.upgradable_on();
        }
        ok
    }
    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller's contract.
        let ok = unsafe { self.0.inner.try_upgrade_for(timeout) };
        if ok {
            self.0.upgradable_off();
        }
        ok
    }
    #[inline]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        // SAFETY: the caller's contract.
        let ok = unsafe { self.0.inner.try_upgrade_until(timeout) };
        if ok {
            self.0.upgradable_off();
        }
        ok
    }
}
