//! The validated raw locks: parking_lot's raw lock plus a [`DepMap`], with lock_api's traits.
#![allow(unsafe_code)] // implementing lock_api's `unsafe trait`s

use std::panic::Location;
use std::time::{Duration, Instant};

use super::{MutexKind, RwLockKind};
use crate::class::LockClass;
use crate::dep_map::{DepMap, Read};
use crate::sync::real::{self, lock_api};

/// Records an acquisition that succeeded without validation (trylock).
#[track_caller]
fn tried(dep: &DepMap, read: Read, ok: bool) -> bool {
    if ok {
        let _ = dep.acquired_try(read, Location::caller());
    }
    ok
}

/// Validates a blocking acquisition, then runs it; a timed one that fails is forgotten.
#[track_caller]
fn blocking(dep: &DepMap, read: Read, lock: impl FnOnce() -> bool) -> bool {
    let mut tracked = dep.acquire(read, 0, None, Location::caller());
    let ok = lock();
    if !ok {
        tracked.release();
    }
    // A success stays recorded: the raw lock has no guard; its unlock releases by instance.
    ok
}

/// Releases this thread's record of a raw lock held in a mode matching `shared`.
#[track_caller]
fn released(dep: &DepMap, shared: bool) {
    let _ = dep.force_release(Some(shared), Location::caller());
}

macro_rules! raw_mutex {
    ($name:ident, $real:ty, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Implements lock_api's `RawMutex`, `RawMutexFair` and `RawMutexTimed`; see the
        /// [module docs](crate::raw) for the class of a raw lock.
        pub struct $name {
            dep: DepMap,
            inner: $real,
        }

        impl $name {
            /// A raw lock whose class is its construction site, shown as `name` (for
            /// `lock_api::Mutex::const_new(RawMutex::named("…"), value)`).
            #[track_caller]
            pub const fn named(name: &'static str) -> Self {
                $name {
                    dep: DepMap::named(Location::caller(), name, "RawMutex"),
                    inner: <$real as lock_api::RawMutex>::INIT,
                }
            }

            /// A raw lock of the static class `class`.
            pub const fn with_class(class: &'static LockClass) -> Self {
                $name {
                    dep: DepMap::class(class),
                    inner: <$real as lock_api::RawMutex>::INIT,
                }
            }
        }

        impl crate::held::Sealed for $name {}
        impl MutexKind for $name {
            type Real = $real;
        }

        // SAFETY: every operation is the real lock's; the validator only observes them.
        unsafe impl lock_api::RawMutex for $name {
            #[allow(clippy::declare_interior_mutable_const)]
            const INIT: Self = $name {
                dep: DepMap::per_instance($kind),
                inner: <$real as lock_api::RawMutex>::INIT,
            };
            type GuardMarker = <$real as lock_api::RawMutex>::GuardMarker;

            #[track_caller]
            fn lock(&self) {
                blocking(&self.dep, Read::Exclusive, || {
                    lock_api::RawMutex::lock(&self.inner);
                    true
                });
            }
            #[track_caller]
            fn try_lock(&self) -> bool {
                tried(
                    &self.dep,
                    Read::Exclusive,
                    lock_api::RawMutex::try_lock(&self.inner),
                )
            }
            #[track_caller]
            unsafe fn unlock(&self) {
                released(&self.dep, false);
                // SAFETY: the caller's contract (the lock is held).
                unsafe { lock_api::RawMutex::unlock(&self.inner) }
            }
            fn is_locked(&self) -> bool {
                lock_api::RawMutex::is_locked(&self.inner)
            }
        }

        // SAFETY: as above.
        unsafe impl lock_api::RawMutexFair for $name {
            #[track_caller]
            unsafe fn unlock_fair(&self) {
                released(&self.dep, false);
                // SAFETY: the caller's contract.
                unsafe { lock_api::RawMutexFair::unlock_fair(&self.inner) }
            }
            #[track_caller]
            unsafe fn bump(&self) {
                // Released and re-acquired (validated) before the real hand-over.
                released(&self.dep, false);
                let _ = self
                    .dep
                    .acquire(Read::Exclusive, 0, None, Location::caller());
                // SAFETY: the caller's contract.
                unsafe { lock_api::RawMutexFair::bump(&self.inner) }
            }
        }

        // SAFETY: as above.
        unsafe impl lock_api::RawMutexTimed for $name {
            type Duration = Duration;
            type Instant = Instant;
            #[track_caller]
            fn try_lock_for(&self, timeout: Duration) -> bool {
                blocking(&self.dep, Read::Exclusive, || {
                    lock_api::RawMutexTimed::try_lock_for(&self.inner, timeout)
                })
            }
            #[track_caller]
            fn try_lock_until(&self, timeout: Instant) -> bool {
                blocking(&self.dep, Read::Exclusive, || {
                    lock_api::RawMutexTimed::try_lock_until(&self.inner, timeout)
                })
            }
        }
    };
}

raw_mutex!(
    RawMutex,
    real::RawMutex,
    "RawMutex",
    "parking_lot's `RawMutex`, validated."
);
raw_mutex!(
    RawFairMutex,
    real::RawFairMutex,
    "RawFairMutex",
    "parking_lot's `RawFairMutex` (always fair unlocking), validated."
);

/// parking_lot's `RawRwLock`, validated: `lock_shared` is a non-recursive reader (read=1),
/// `lock_shared_recursive` a recursive one (read=2), `lock_upgradable` an upgradable reader;
/// `upgrade` is validated as a write acquisition. See the [module docs](crate::raw) for its class.
pub struct RawRwLock {
    dep: DepMap,
    inner: real::RawRwLock,
}

impl RawRwLock {
    /// A raw lock whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Self {
        RawRwLock {
            dep: DepMap::named(Location::caller(), name, "RawRwLock"),
            inner: <real::RawRwLock as lock_api::RawRwLock>::INIT,
        }
    }
    /// A raw lock of the static class `class`.
    pub const fn with_class(class: &'static LockClass) -> Self {
        RawRwLock {
            dep: DepMap::class(class),
            inner: <real::RawRwLock as lock_api::RawRwLock>::INIT,
        }
    }
    #[track_caller]
    fn upgrade_record(&self) {
        released(&self.dep, true);
        let _ = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
    }
    #[track_caller]
    fn change(&self, from_shared: bool, to: Read) {
        released(&self.dep, from_shared);
        let _ = self.dep.acquired_try(to, Location::caller());
    }
}

impl crate::held::Sealed for RawRwLock {}
impl RwLockKind for RawRwLock {}

// SAFETY: every operation is the real lock's; the validator only observes them.
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawRwLock {
        dep: DepMap::per_instance("RawRwLock"),
        inner: <real::RawRwLock as lock_api::RawRwLock>::INIT,
    };
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
unsafe impl lock_api::RawRwLockFair for RawRwLock {
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
        released(&self.dep, true);
        let _ = self.dep.acquire(Read::Shared, 0, None, Location::caller());
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_shared() }
    }
    #[track_caller]
    unsafe fn bump_exclusive(&self) {
        released(&self.dep, false);
        let _ = self
            .dep
            .acquire(Read::Exclusive, 0, None, Location::caller());
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_exclusive() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    #[track_caller]
    unsafe fn downgrade(&self) {
        self.change(false, Read::Shared);
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_shared_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_shared_until(timeout)
        })
    }
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        blocking(&self.dep, Read::Exclusive, || {
            self.inner.try_lock_exclusive_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        blocking(&self.dep, Read::Exclusive, || {
            self.inner.try_lock_exclusive_until(timeout)
        })
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
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
unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
    #[track_caller]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        blocking(&self.dep, Read::Recursive, || {
            self.inner.try_lock_shared_recursive_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        blocking(&self.dep, Read::Recursive, || {
            self.inner.try_lock_shared_recursive_until(timeout)
        })
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    #[track_caller]
    fn lock_upgradable(&self) {
        blocking(&self.dep, Read::Shared, || {
            self.inner.lock_upgradable();
            true
        });
    }
    #[track_caller]
    fn try_lock_upgradable(&self) -> bool {
        tried(&self.dep, Read::Shared, self.inner.try_lock_upgradable())
    }
    #[track_caller]
    unsafe fn unlock_upgradable(&self) {
        released(&self.dep, true);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_upgradable() }
    }
    #[track_caller]
    unsafe fn upgrade(&self) {
        self.upgrade_record();
        // SAFETY: the caller's contract.
        unsafe { self.inner.upgrade() }
    }
    #[track_caller]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade() };
        if ok {
            self.change(true, Read::Exclusive);
        }
        ok
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self) {
        released(&self.dep, true);
        // SAFETY: the caller's contract.
        unsafe { self.inner.unlock_upgradable_fair() }
    }
    #[track_caller]
    unsafe fn bump_upgradable(&self) {
        released(&self.dep, true);
        let _ = self.dep.acquire(Read::Shared, 0, None, Location::caller());
        // SAFETY: the caller's contract.
        unsafe { self.inner.bump_upgradable() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[track_caller]
    unsafe fn downgrade_upgradable(&self) {
        // An upgradable reader is recorded as a reader already: nothing changes.
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade_upgradable() }
    }
    #[track_caller]
    unsafe fn downgrade_to_upgradable(&self) {
        self.change(false, Read::Shared);
        // SAFETY: the caller's contract.
        unsafe { self.inner.downgrade_to_upgradable() }
    }
}

// SAFETY: as above.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_for(timeout)
        })
    }
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_until(timeout)
        })
    }
    #[track_caller]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        self.upgrade_record();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_for(timeout) };
        if !ok {
            self.change(false, Read::Shared);
        }
        ok
    }
    #[track_caller]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        self.upgrade_record();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_until(timeout) };
        if !ok {
            self.change(false, Read::Shared);
        }
        ok
    }
}
