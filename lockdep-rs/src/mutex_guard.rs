//! The methods particular to mutex guards (parking_lot's `MutexGuard`, `MappedMutexGuard` and
//! `ArcMutexGuard` associated functions), on the shared [`Guard`]. Not under loom.
//!
//! - `map` / `try_map` keep the lock held: the mapped guard releases it, exactly once;
//! - `unlocked` / `unlocked_fair` record the release, run the closure, then validate the
//!   re-acquisition before relocking; `bump` records both before handing the lock over;
//! - `leak` keeps the acquisition held (only `force_unlock` ends it).

use std::panic::Location;
use std::sync::Arc;

use crate::guard::{ArcLocked, Exclusive, Guard};
use crate::mutex::GenericMutex;
use crate::raw::{MutexKind, RawLock, RealLock, Unchecked};
use crate::sync::real;
use crate::sync::real::lock_api::{self, RawMutex, RawMutexFair};

/// A guard of part of a [`Mutex`](crate::Mutex)'s data, made by [`MutexGuard::map`](Guard::map).
pub type MappedMutexGuard<'a, T> =
    Guard<'a, lock_api::MappedMutexGuard<'a, Unchecked<real::RawMutex>, T>>;
/// A guard of part of a [`FairMutex`](crate::FairMutex)'s data.
pub type MappedFairMutexGuard<'a, T> =
    Guard<'a, lock_api::MappedMutexGuard<'a, Unchecked<real::RawFairMutex>, T>>;

type Inner<'a, P, T> = lock_api::MutexGuard<'a, P, T>;
type Mapped<'a, P, T> = lock_api::MappedMutexGuard<'a, P, T>;

impl<'a, P: RawMutex + 'a, T: ?Sized + 'a> Guard<'a, Inner<'a, P, T>> {
    /// A guard of a part of the data; the lock stays held until the new guard drops.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        s: Self,
        f: F,
    ) -> Guard<'a, Mapped<'a, P, U>> {
        s.map_inner(|inner| Inner::map(inner, f))
    }

    /// As [`map`](Self::map), if `f` returns `Some`; else the original guard.
    #[allow(clippy::type_complexity)]
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, P, U>>, Self> {
        s.try_map_inner(|inner| Inner::try_map(inner, f))
    }

    /// As [`try_map`](Self::try_map), passing `f`'s error back with the original guard.
    #[allow(clippy::type_complexity)]
    pub fn try_map_or_err<U: ?Sized, E, F: FnOnce(&mut T) -> Result<&mut U, E>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, P, U>>, (Self, E)> {
        let (tracked, inner) = s.into_parts();
        match Inner::try_map_or_err(inner, f) {
            Ok(mapped) => Ok(Guard::new(tracked, mapped)),
            Err((inner, e)) => Err((Guard::new(tracked, inner), e)),
        }
    }

    /// Unlocks while `f` runs, then relocks (the re-acquisition is validated first).
    #[track_caller]
    pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.unlocked_with(Location::caller(), |g, body| Inner::unlocked(g, body), f)
    }

    /// Ends the guard without unlocking; the lock stays held by this thread (for the validator
    /// too) until [`force_unlock`](GenericMutex::force_unlock).
    pub fn leak(s: Self) -> &'a mut T {
        Inner::leak(s.leak_inner())
    }
}

impl<'a, P: RawMutexFair + 'a, T: ?Sized + 'a> Guard<'a, Inner<'a, P, T>> {
    /// Unlocks fairly (hands the lock to a waiting thread).
    pub fn unlock_fair(s: Self) {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        Inner::unlock_fair(inner);
    }

    /// [`unlocked`](Self::unlocked), unlocking fairly.
    #[track_caller]
    pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.unlocked_with(
            Location::caller(),
            |g, body| Inner::unlocked_fair(g, body),
            f,
        )
    }

    /// Hands the lock to a waiting thread, if any, and takes it back: recorded as a release
    /// and a validated re-acquisition.
    #[track_caller]
    pub fn bump(s: &mut Self) {
        s.bump_with(Location::caller(), Inner::bump);
    }
}

impl<'a, P: RawMutex + 'a, T: ?Sized + 'a> Guard<'a, Mapped<'a, P, T>> {
    /// Maps a mapped guard further.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        s: Self,
        f: F,
    ) -> Guard<'a, Mapped<'a, P, U>> {
        s.map_inner(|inner| Mapped::map(inner, f))
    }

    /// As [`map`](Self::map), if `f` returns `Some`.
    #[allow(clippy::type_complexity)]
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, P, U>>, Self> {
        s.try_map_inner(|inner| Mapped::try_map(inner, f))
    }

    /// As [`try_map`](Self::try_map), passing `f`'s error back.
    #[allow(clippy::type_complexity)]
    pub fn try_map_or_err<U: ?Sized, E, F: FnOnce(&mut T) -> Result<&mut U, E>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, P, U>>, (Self, E)> {
        let (tracked, inner) = s.into_parts();
        match Mapped::try_map_or_err(inner, f) {
            Ok(mapped) => Ok(Guard::new(tracked, mapped)),
            Err((inner, e)) => Err((Guard::new(tracked, inner), e)),
        }
    }
}

impl<'a, P: RawMutexFair + 'a, T: ?Sized + 'a> Guard<'a, Mapped<'a, P, T>> {
    /// Unlocks fairly.
    pub fn unlock_fair(s: Self) {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        Mapped::unlock_fair(inner);
    }
}

impl<'a, R: RealLock + RawMutex, T: ?Sized + 'a> Guard<'a, Inner<'a, Unchecked<R>, T>>
where
    RawLock<R>: MutexKind<Real = R>,
{
    /// The mutex this guard holds (lock_api's `MutexGuard::mutex`).
    pub fn mutex(s: &Self) -> &'a GenericMutex<RawLock<R>, T> {
        GenericMutex::from_real(Inner::mutex(&s.inner))
    }
}

type ArcInner<K, T> = ArcLocked<GenericMutex<K, T>, Exclusive>;

impl<K: MutexKind, T: ?Sized> Guard<'static, ArcInner<K, T>> {
    /// The mutex this guard holds.
    pub fn mutex(s: &Self) -> &Arc<GenericMutex<K, T>> {
        s.inner.lock()
    }

    /// Unlocks and returns the `Arc` of the mutex.
    pub fn into_arc(s: Self) -> Arc<GenericMutex<K, T>> {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        let arc = inner.lock().clone();
        drop(inner);
        arc
    }

    /// Unlocks fairly and returns the `Arc` of the mutex.
    #[allow(unsafe_code)]
    pub fn into_arc_fair(s: Self) -> Arc<GenericMutex<K, T>> {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        let arc = inner.into_arc_locked();
        // SAFETY: the arc guard held the lock; it is unlocked once, here.
        unsafe { arc.inner.force_unlock_fair() };
        arc
    }

    /// Unlocks fairly.
    pub fn unlock_fair(s: Self) {
        drop(Self::into_arc_fair(s));
    }

    /// Unlocks while `f` runs, then relocks (validated first; relocked also if `f` panics).
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.unlocked_raw(
            Location::caller(),
            // SAFETY: the arc guard holds the lock; relocked before it is used again.
            |g| unsafe { g.lock().inner.raw().unlock() },
            // SAFETY: only the raw lock is used, to relock what the guard held.
            |g| unsafe { g.lock().inner.raw() }.lock(),
            f,
        )
    }

    /// [`unlocked`](Self::unlocked), unlocking fairly.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.unlocked_raw(
            Location::caller(),
            // SAFETY: as in `unlocked`.
            |g| unsafe { g.lock().inner.raw().unlock_fair() },
            // SAFETY: only the raw lock is used, to relock what the guard held.
            |g| unsafe { g.lock().inner.raw() }.lock(),
            f,
        )
    }

    /// Hands the lock to a waiting thread, if any, and takes it back.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn bump(s: &mut Self) {
        s.bump_with(Location::caller(), |g| {
            // SAFETY: the arc guard holds the lock.
            unsafe { g.lock().inner.raw().bump() }
        });
    }
}
