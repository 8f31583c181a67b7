//! The validated raw locks ([`RawLock`]: parking_lot's raw lock plus a [`DepMap`], with
//! lock_api's traits), and the raw locks inside this crate's safe locks ([`Unchecked`],
//! [`UncheckedReentrant`]).
#![allow(unsafe_code)] // implementing lock_api's `unsafe trait`s

use std::panic::Location;
use std::time::{Duration, Instant};

use super::{MutexKind, RealLock, RwLockKind};
use crate::class::LockClass;
use crate::dep_map::{DepMap, Read, Tracked};
use crate::sync::real::{self, lock_api};

/// A validated raw lock: parking_lot's raw lock `R` and the validator's handle of the lock.
///
/// [`RawMutex`], [`RawFairMutex`] and [`RawRwLock`] are its instances; see the
/// [module docs](crate::raw) for their classes and for what their operations record.
pub struct RawLock<R: RealLock> {
    pub(crate) dep: DepMap,
    pub(crate) inner: R,
    /// Per-lock bookkeeping of the kind (a reader-writer lock's upgradable holder).
    pub(crate) state: R::State,
}

/// parking_lot's `RawMutex`, validated: implements lock_api's `RawMutex`, `RawMutexFair` and
/// `RawMutexTimed`.
pub type RawMutex = RawLock<real::RawMutex>;
/// parking_lot's `RawFairMutex` (always fair unlocking), validated.
pub type RawFairMutex = RawLock<real::RawFairMutex>;
/// parking_lot's `RawRwLock`, validated: `lock_shared` is a non-recursive reader (read=1),
/// `lock_shared_recursive` a recursive one (read=2), `lock_upgradable` an upgradable reader;
/// `upgrade` is validated as a write acquisition.
pub type RawRwLock = RawLock<real::RawRwLock>;

/// A raw mutex of class source `dep` (const: the safe locks' constructors build theirs).
pub(crate) const fn raw_mutex<R: RealLock + lock_api::RawMutex>(dep: DepMap) -> RawLock<R> {
    RawLock {
        dep,
        inner: R::INIT,
        state: R::STATE,
    }
}

/// A raw reader-writer lock of class source `dep`.
pub(crate) const fn raw_rwlock<R: RealLock + lock_api::RawRwLock>(dep: DepMap) -> RawLock<R> {
    RawLock {
        dep,
        inner: R::INIT,
        state: R::STATE,
    }
}

impl<R: RealLock> RawLock<R> {
    /// `const_new(raw, ..)`: keeps `raw`'s class if it has one (`named`, `with_class`), else
    /// (a raw lock made by `INIT`) the class becomes the site `site` of a lock of the kind
    /// `kind` (`"Mutex"`, …) over `T`s.
    pub(crate) const fn or_site<T: ?Sized>(
        self,
        site: &'static Location<'static>,
        kind: &'static str,
    ) -> Self {
        // Taken apart by reads (a `const fn` may not move fields out of a value with drop
        // glue).
        let this = std::mem::ManuallyDrop::new(self);
        let p: *const Self = (&this as *const std::mem::ManuallyDrop<Self>).cast();
        // SAFETY: `ManuallyDrop` is `repr(transparent)`; `this` is never dropped and each
        // field is read exactly once, so each value moves exactly once.
        unsafe {
            RawLock {
                dep: std::ptr::read(std::ptr::addr_of!((*p).dep)).or_site::<T>(site, kind),
                inner: std::ptr::read(std::ptr::addr_of!((*p).inner)),
                state: std::ptr::read(std::ptr::addr_of!((*p).state)),
            }
        }
    }
}

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
    ($real:ty) => {
        impl RawLock<$real> {
            /// A raw lock whose class is its construction site, shown as `name` (for
            /// `lock_api::Mutex::const_new(RawMutex::named("…"), value)`).
            #[track_caller]
            pub const fn named(name: &'static str) -> Self {
                raw_mutex(DepMap::named(Location::caller(), name, "RawMutex"))
            }

            /// A raw lock of the static class `class`.
            pub const fn with_class(class: &'static LockClass) -> Self {
                raw_mutex(DepMap::class(class))
            }
        }

        impl MutexKind for RawLock<$real> {
            type Real = $real;
        }

        // SAFETY: every operation is the real lock's; the validator only observes them.
        unsafe impl lock_api::RawMutex for RawLock<$real> {
            #[allow(clippy::declare_interior_mutable_const)]
            const INIT: Self = raw_mutex(DepMap::per_instance(<$real as RealLock>::NAME));
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
        unsafe impl lock_api::RawMutexFair for RawLock<$real> {
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
        unsafe impl lock_api::RawMutexTimed for RawLock<$real> {
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

raw_mutex!(real::RawMutex);
raw_mutex!(real::RawFairMutex);

/// The upgradable holder of a reader-writer lock, kept so that a second upgradable read by
/// the holder (which can never succeed) is caught as a certain self-deadlock.
#[doc(hidden)]
pub struct Upgrader {
    #[cfg(lockdep_enabled)]
    thread: std::sync::atomic::AtomicUsize,
}

impl Upgrader {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh value per use (an initializer)
    pub(crate) const NONE: Upgrader = Upgrader {
        #[cfg(lockdep_enabled)]
        thread: std::sync::atomic::AtomicUsize::new(0),
    };
}

#[cfg(lockdep_enabled)]
std::thread_local! {
    /// Its address identifies the thread (no lazy initialisation: one `%fs`-relative
    /// address, cheaper than parking_lot's `RawThreadId`).
    static THREAD: u8 = const { 0 };
}

/// This thread's identity, never 0.
#[cfg(lockdep_enabled)]
#[inline]
fn thread_id() -> usize {
    THREAD.with(|t| t as *const u8 as usize)
}

/// The thread identity of this crate's reentrant mutexes (lock_api's `GetThreadId`): the
/// address of a thread-local, as parking_lot's `RawThreadId`, but one with no lazy
/// initialisation, so "is this thread the holder?" is a `%fs`-relative address and one load,
/// inline. With validation compiled out it is parking_lot's `RawThreadId`'s.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadIdentity;

// SAFETY: a thread-local's address is non-zero and unique to its thread while the thread
// lives (no two live threads share one).
unsafe impl lock_api::GetThreadId for ThreadIdentity {
    const INIT: Self = ThreadIdentity;
    #[inline]
    fn nonzero_thread_id(&self) -> std::num::NonZeroUsize {
        #[cfg(lockdep_enabled)]
        return std::num::NonZeroUsize::new(thread_id()).expect("a thread-local is not at 0");
        #[cfg(not(lockdep_enabled))]
        lock_api::GetThreadId::nonzero_thread_id(&real::RawThreadId)
    }
}

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
    fn upgradable_on(&self) {
        #[cfg(lockdep_enabled)]
        self.state
            .thread
            .store(thread_id(), std::sync::atomic::Ordering::Relaxed);
    }

    /// This thread no longer holds the lock as an upgradable reader.
    #[inline]
    fn upgradable_off(&self) {
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
        released(&self.dep, true);
        let _ = self.dep.acquire(Read::Shared, 0, None, Location::caller());
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
        let ok = blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_for(timeout)
        });
        if ok {
            self.upgradable_on();
        }
        ok
    }
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        let ok = blocking(&self.dep, Read::Shared, || {
            self.inner.try_lock_upgradable_until(timeout)
        });
        if ok {
            self.upgradable_on();
        }
        ok
    }
    #[track_caller]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        self.upgrade_record();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_for(timeout) };
        if ok {
            self.upgradable_off();
        } else {
            self.change(false, Read::Shared);
        }
        ok
    }
    #[track_caller]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        self.upgrade_record();
        // SAFETY: the caller's contract.
        let ok = unsafe { self.inner.try_upgrade_until(timeout) };
        if ok {
            self.upgradable_off();
        } else {
            self.change(false, Read::Shared);
        }
        ok
    }
}

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
