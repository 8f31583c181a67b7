//! The validated raw locks ([`RawLock`]: parking_lot's raw lock plus a [`DepMap`], with
//! lock_api's traits: the mutexes here, the reader-writer lock in `rwlock`), and the raw
//! locks inside this crate's safe locks ([`Unchecked`] in `unchecked`,
//! [`UncheckedReentrant`] in `reentrant`).
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

/// A raw lock still locked as it is dropped is held through a forgotten or leaked guard:
/// its handle's drop then looks for the holder, on this thread or another (see
/// `validator::lock_freed`); an unlocked one's drop stays cheap.
#[cfg(lockdep_enabled)]
impl<R: RealLock> Drop for RawLock<R> {
    fn drop(&mut self) {
        if self.inner.locked_now() {
            self.dep.mark_locked_at_drop();
        }
    }
}

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

/// Validates a timed acquisition (`try_lock_for` & co.), then runs it; one that fails is
/// forgotten. As the safe locks' timed acquisitions: re-locking a lock this thread holds is
/// reported but not stopped with a panic (the real acquisition times out), and unrecorded.
#[track_caller]
fn timed(dep: &DepMap, read: Read, lock: impl FnOnce() -> bool) -> bool {
    let mut tracked = dep.acquire_timed(read, Location::caller());
    let ok = lock();
    if !ok {
        tracked.release();
    }
    ok
}

/// A raw lock this thread holds in mode `held` is recorded anew (a bump, an upgrade): its
/// record is released, then `acquire` validates and records the new acquisition. If that
/// panics (a report in `Panic` mode), the lock is still held in mode `held`, and the guard
/// unwinding will unlock it: it is recorded again (a trylock) for that unlock to find, which
/// would otherwise be reported as a bad unlock on top of the report that panicked.
#[track_caller]
fn rerecord<'a>(dep: &'a DepMap, held: Read, acquire: impl FnOnce() -> Tracked<'a>) -> Tracked<'a> {
    released(dep, held.is_shared());
    let site = Location::caller();
    let restore = crate::guard::Defer::new(|| {
        let _ = dep.acquired_try(held, site);
    });
    let tracked = acquire();
    std::mem::forget(restore);
    tracked
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
                let site = Location::caller();
                let _ = rerecord(&self.dep, Read::Exclusive, || {
                    self.dep.acquire(Read::Exclusive, 0, None, site)
                });
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
                timed(&self.dep, Read::Exclusive, || {
                    lock_api::RawMutexTimed::try_lock_for(&self.inner, timeout)
                })
            }
            #[track_caller]
            fn try_lock_until(&self, timeout: Instant) -> bool {
                timed(&self.dep, Read::Exclusive, || {
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

mod reentrant;
mod rwlock;
mod unchecked;

pub use reentrant::UncheckedReentrant;
pub use unchecked::Unchecked;
