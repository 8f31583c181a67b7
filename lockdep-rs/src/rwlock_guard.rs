//! The methods particular to `RwLock` guards, on the shared [`Guard`] (not under loom).
//!
//! - `upgrade` is validated as a *write acquisition* of the lock this thread holds as an
//!   upgradable reader (it waits for the readers to leave: a reader that waits for something
//!   the upgrader holds is a deadlock); `try_upgrade` as a trylock; the timed ones validate
//!   first, as timed acquisitions (waiting for a reader this thread holds too is reported, not
//!   stopped with a panic: it times out), and on timeout the entry is a reader again;
//! - `downgrade`, `downgrade_to_upgradable` change the held entry's kind in place (a write
//!   lock merged with others of its class under a nest lock gets an entry of its own);
//! - `map`, `unlocked*`, `bump`, `unlock_fair` as for mutex guards.

use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dep_map::Read;
use crate::guard::{back_to_upgradable, ArcLocked, Defer, Exclusive, Guard, Shared, Upgradable};
use crate::raw::RwLockKind;
use crate::raw::Unchecked;
use crate::rwlock::GenericRwLock;
use crate::sync::real::lock_api::{self, RawRwLockDowngrade as _, RawRwLockFair as _};
use crate::sync::real::lock_api::{
    RawRwLockUpgrade as _, RawRwLockUpgradeDowngrade as _, RawRwLockUpgradeTimed as _,
};
use crate::sync::real::RawRwLock as RealRaw;

/// The raw lock inside [`RwLock`](crate::RwLock).
type Real = Unchecked<RealRaw>;

type ReadG<'a, T> = lock_api::RwLockReadGuard<'a, Real, T>;
type WriteG<'a, T> = lock_api::RwLockWriteGuard<'a, Real, T>;
type UpgG<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, Real, T>;
type MapR<'a, T> = lock_api::MappedRwLockReadGuard<'a, Real, T>;
type MapW<'a, T> = lock_api::MappedRwLockWriteGuard<'a, Real, T>;

/// A read guard of part of an [`RwLock`](crate::RwLock)'s data.
pub type MappedRwLockReadGuard<'a, T> = Guard<'a, MapR<'a, T>>;
/// A write guard of part of an [`RwLock`](crate::RwLock)'s data.
pub type MappedRwLockWriteGuard<'a, T> = Guard<'a, MapW<'a, T>>;

/// `map`, `try_map`, `try_map_or_err` and `unlock_fair` of a guard type `$g` mapping to `$m`.
macro_rules! mapping {
    ($g:ident, $m:ident, $f:ty, $fu:ty, $or_err:ident) => {
        impl<'a, T: ?Sized + 'a> Guard<'a, $g<'a, T>> {
            /// A guard of a part of the data; the lock stays held until the new guard drops.
            pub fn map<U: ?Sized, F: FnOnce($f) -> $fu>(s: Self, f: F) -> Guard<'a, $m<'a, U>> {
                s.map_inner(|inner| $g::map(inner, f))
            }

            /// As `map`, if `f` returns `Some`; else the original guard.
            #[allow(clippy::type_complexity)]
            pub fn try_map<U: ?Sized, F: FnOnce($f) -> Option<$fu>>(
                s: Self,
                f: F,
            ) -> Result<Guard<'a, $m<'a, U>>, Self> {
                s.try_map_inner(|inner| $g::try_map(inner, f))
            }

            /// As `try_map`, passing `f`'s error back with the original guard.
            #[allow(clippy::type_complexity)]
            pub fn $or_err<U: ?Sized, E, F: FnOnce($f) -> Result<$fu, E>>(
                s: Self,
                f: F,
            ) -> Result<Guard<'a, $m<'a, U>>, (Self, E)> {
                let (tracked, inner) = s.into_parts();
                match $g::$or_err(inner, f) {
                    Ok(m) => Ok(Guard::new(tracked, m)),
                    Err((inner, e)) => Err((Guard::new(tracked, inner), e)),
                }
            }

            /// Unlocks fairly.
            pub fn unlock_fair(s: Self) {
                let (mut tracked, inner) = s.into_parts();
                tracked.release();
                $g::unlock_fair(inner);
            }
        }
    };
}
mapping!(ReadG, MapR, &T, &U, try_map_or_err);
mapping!(WriteG, MapW, &mut T, &mut U, try_map_or_err);
mapping!(MapR, MapR, &T, &U, try_map_or_else);
mapping!(MapW, MapW, &mut T, &mut U, try_map_or_err);

/// `unlocked`, `unlocked_fair` and `bump` of guard type `$g`, put back exactly as they were.
macro_rules! relocking {
    ($g:ident, $bump:ident) => {
        impl<'a, T: ?Sized + 'a> Guard<'a, $g<'a, T>> {
            /// Unlocks while `f` runs, then relocks (the re-acquisition is validated first).
            #[track_caller]
            pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
                s.unlocked_with(Location::caller(), |g, body| $g::unlocked(g, body), f)
            }

            /// [`unlocked`](Self::unlocked), unlocking fairly.
            #[track_caller]
            pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
                s.unlocked_with(Location::caller(), |g, body| $g::unlocked_fair(g, body), f)
            }

            /// Hands the lock to waiting threads, if any, and takes it back: recorded as a
            /// release and a validated re-acquisition.
            #[track_caller]
            pub fn bump(s: &mut Self) {
                s.bump_with(Location::caller(), $g::bump);
            }
        }
    };
}
relocking!(ReadG, bump);
relocking!(WriteG, bump);
relocking!(UpgG, bump);

/// `rwlock()` of guard type `$g` (lock_api's `RwLock*Guard::rwlock`).
macro_rules! owner {
    ($g:ident) => {
        impl<'a, T: ?Sized + 'a> Guard<'a, $g<'a, T>> {
            /// The lock this guard holds.
            pub fn rwlock(s: &Self) -> &'a GenericRwLock<crate::RawRwLock, T> {
                GenericRwLock::from_real($g::rwlock(&s.inner))
            }
        }
    };
}
owner!(ReadG);
owner!(WriteG);
owner!(UpgG);

impl<'a, T: ?Sized + 'a> Guard<'a, UpgG<'a, T>> {
    /// Unlocks fairly.
    pub fn unlock_fair(s: Self) {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        UpgG::unlock_fair(inner);
    }
}

impl<'a, T: ?Sized + 'a> Guard<'a, WriteG<'a, T>> {
    /// Turns the write guard into a read guard without unlocking: the held entry becomes a
    /// reader in place.
    pub fn downgrade(s: Self) -> Guard<'a, ReadG<'a, T>> {
        let (mut tracked, inner) = s.into_parts();
        tracked.change_read(Read::Shared);
        Guard::new(tracked, WriteG::downgrade(inner))
    }

    /// Turns the write guard into an upgradable read guard without unlocking.
    pub fn downgrade_to_upgradable(s: Self) -> Guard<'a, UpgG<'a, T>> {
        let (mut tracked, inner) = s.into_parts();
        tracked.change_to_upgradable();
        Guard::new(tracked, WriteG::downgrade_to_upgradable(inner))
    }
}

impl<'a, T: ?Sized + 'a> Guard<'a, UpgG<'a, T>> {
    /// Upgrades to a write guard, waiting for the readers to leave; validated first as a
    /// write acquisition of this lock.
    #[track_caller]
    #[inline]
    pub fn upgrade(mut s: Self) -> Guard<'a, WriteG<'a, T>> {
        s.rerecord_exclusive(Location::caller());
        s.map_inner(|inner| UpgG::upgrade(inner))
    }

    /// Upgrades if no reader holds the lock (a trylock: no validation); else gives the
    /// upgradable guard back.
    ///
    /// The held entry becomes a writer's in place, as in
    /// [`try_with_upgraded`](Self::try_with_upgraded): the lock is never released, so the
    /// locks taken under it since the upgradable read stay above it, still under it as their
    /// nest lock. (Recorded as a release and a trylock on top, the entry left them below it,
    /// stripped of their nest lock: the next child under it was a false recursive locking.)
    pub fn try_upgrade(s: Self) -> Result<Guard<'a, WriteG<'a, T>>, Self> {
        let (mut tracked, inner) = s.into_parts();
        match UpgG::try_upgrade(inner) {
            Ok(w) => {
                tracked.change_read(Read::Exclusive);
                Ok(Guard::new(tracked, w))
            }
            Err(u) => Err(Guard::new(tracked, u)),
        }
    }

    /// Upgrade, giving up after `timeout`; validated before it blocks. On timeout the guard
    /// comes back as it was.
    #[track_caller]
    pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<Guard<'a, WriteG<'a, T>>, Self> {
        Self::timed_upgrade(s, |u| UpgG::try_upgrade_for(u, timeout))
    }

    /// Upgrade, giving up at `timeout`; validated before it blocks.
    #[track_caller]
    pub fn try_upgrade_until(s: Self, timeout: Instant) -> Result<Guard<'a, WriteG<'a, T>>, Self> {
        Self::timed_upgrade(s, |u| UpgG::try_upgrade_until(u, timeout))
    }

    #[track_caller]
    #[allow(clippy::type_complexity)]
    fn timed_upgrade(
        mut s: Self,
        up: impl FnOnce(UpgG<'a, T>) -> Result<WriteG<'a, T>, UpgG<'a, T>>,
    ) -> Result<Guard<'a, WriteG<'a, T>>, Self> {
        let site = Location::caller();
        let map = s.rerecord_exclusive_timed(site);
        let (mut tracked, inner) = s.into_parts();
        match up(inner) {
            Ok(w) => Ok(Guard::new(tracked, w)),
            Err(u) => {
                back_to_upgradable(&mut tracked, map, site);
                Err(Guard::new(tracked, u))
            }
        }
    }

    /// Turns the upgradable guard into a read guard (both are readers to the validator; the
    /// guard, and its entry, are no longer the upgradable reader's, which a nest lock's
    /// children count on).
    pub fn downgrade(mut s: Self) -> Guard<'a, ReadG<'a, T>> {
        s.tracked.change_read(Read::Shared);
        s.map_inner(|inner| UpgG::downgrade(inner))
    }

    /// Runs `f` with the lock upgraded (validated as a write acquisition), then downgrades
    /// (also if `f` panics: lock_api downgrades the real lock then, and the entry follows).
    #[track_caller]
    pub fn with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
        self.rerecord_exclusive(Location::caller());
        let tracked = &mut self.tracked;
        let _down = Defer::new(|| tracked.change_to_upgradable());
        self.inner.with_upgraded(f)
    }

    /// Runs `f` upgraded if no reader holds the lock (a trylock: nothing to validate; the
    /// held entry is a writer's while `f` runs), then downgrades.
    #[allow(unsafe_code)]
    pub fn try_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Option<Ret> {
        let rw = UpgG::rwlock(&self.inner);
        // SAFETY: the guard holds the lock as an upgradable reader.
        if !unsafe { rw.raw().try_upgrade() } {
            return None;
        }
        let tracked = &mut self.tracked;
        tracked.change_read(Read::Exclusive);
        let _down = Defer::new(|| {
            // SAFETY: upgraded just above; back to what the guard holds.
            unsafe { rw.raw().downgrade_to_upgradable() };
            tracked.change_to_upgradable();
        });
        // SAFETY: the lock is held exclusively until `_down` runs.
        Some(f(unsafe { &mut *rw.data_ptr() }))
    }

    /// [`with_upgraded`](Self::with_upgraded), giving up after `timeout`; validated first
    /// (the entry is a reader's again afterwards, also if `f` panics).
    #[track_caller]
    pub fn try_with_upgraded_for<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        timeout: Duration,
        f: F,
    ) -> Option<Ret> {
        let site = Location::caller();
        let map = self.rerecord_exclusive_timed(site);
        let tracked = &mut self.tracked;
        let _down = Defer::new(|| back_to_upgradable(tracked, map, site));
        self.inner.try_with_upgraded_for(timeout, f)
    }

    /// [`with_upgraded`](Self::with_upgraded), giving up at `timeout`; validated first.
    #[track_caller]
    pub fn try_with_upgraded_until<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        timeout: Instant,
        f: F,
    ) -> Option<Ret> {
        let site = Location::caller();
        let map = self.rerecord_exclusive_timed(site);
        let tracked = &mut self.tracked;
        let _down = Defer::new(|| back_to_upgradable(tracked, map, site));
        self.inner.try_with_upgraded_until(timeout, f)
    }
}

/// The `Arc`-owning guards: `rwlock`, `into_arc`, `unlock_fair`, `downgrade`, `upgrade`.
type ArcG<K, T, M> = Guard<'static, ArcLocked<GenericRwLock<K, T>, M>>;

macro_rules! arc_common {
    ($mode:ident, $unlock_fair:ident) => {
        impl<K: RwLockKind, T: ?Sized> ArcG<K, T, $mode> {
            /// The lock this guard holds.
            pub fn rwlock(s: &Self) -> &Arc<GenericRwLock<K, T>> {
                s.inner.lock()
            }

            /// Unlocks and returns the `Arc` of the lock.
            pub fn into_arc(s: Self) -> Arc<GenericRwLock<K, T>> {
                let (mut tracked, inner) = s.into_parts();
                tracked.release();
                let arc = inner.lock().clone();
                drop(inner);
                arc
            }

            /// Unlocks fairly and returns the `Arc` of the lock.
            #[allow(unsafe_code)]
            pub fn into_arc_fair(s: Self) -> Arc<GenericRwLock<K, T>> {
                let (mut tracked, inner) = s.into_parts();
                tracked.release();
                let arc = inner.into_arc_locked();
                // SAFETY: the guard held the lock in this mode; unlocked once, here.
                unsafe { arc.inner.raw().$unlock_fair() };
                arc
            }

            /// Unlocks fairly.
            pub fn unlock_fair(s: Self) {
                drop(Self::into_arc_fair(s));
            }
        }
    };
}
arc_common!(Shared, unlock_shared_fair);
arc_common!(Exclusive, unlock_exclusive_fair);
arc_common!(Upgradable, unlock_upgradable_fair);
use crate::sync::real::lock_api::RawRwLockUpgradeFair as _;

/// `unlocked`, `unlocked_fair` and `bump` of the arc guards of mode `$mode`.
macro_rules! arc_relocking {
    ($mode:ident, $unlock:ident, $lock:ident, $unlock_fair:ident, $bump:ident) => {
        impl<K: RwLockKind, T: ?Sized> ArcG<K, T, $mode> {
            /// Unlocks while `f` runs, then relocks (the re-acquisition is validated first;
            /// relocked also if `f` panics).
            #[track_caller]
            #[allow(unsafe_code)]
            pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
                s.unlocked_raw(
                    Location::caller(),
                    // SAFETY: the guard holds the lock in this mode; relocked before it is
                    // used again.
                    |g| unsafe { g.lock().inner.raw().$unlock() },
                    // SAFETY: only the raw lock is used, to relock what the guard held.
                    |g| unsafe { g.lock().inner.raw() }.$lock(),
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
                    |g| unsafe { g.lock().inner.raw().$unlock_fair() },
                    // SAFETY: only the raw lock is used, to relock what the guard held.
                    |g| unsafe { g.lock().inner.raw() }.$lock(),
                    f,
                )
            }

            /// Hands the lock to waiting threads, if any, and takes it back: recorded as a
            /// release and a validated re-acquisition.
            #[track_caller]
            #[allow(unsafe_code)]
            pub fn bump(s: &mut Self) {
                s.bump_with(Location::caller(), |g| {
                    // SAFETY: the guard holds the lock in this mode.
                    unsafe { g.lock().inner.raw().$bump() }
                });
            }
        }
    };
}
use crate::sync::real::lock_api::RawRwLock as _;
arc_relocking!(
    Shared,
    unlock_shared,
    lock_shared,
    unlock_shared_fair,
    bump_shared
);
arc_relocking!(
    Exclusive,
    unlock_exclusive,
    lock_exclusive,
    unlock_exclusive_fair,
    bump_exclusive
);
arc_relocking!(
    Upgradable,
    unlock_upgradable,
    lock_upgradable,
    unlock_upgradable_fair,
    bump_upgradable
);

/// Re-labels an arc guard's mode after the raw lock changed it.
fn remode<K: RwLockKind, T: ?Sized, A, B>(g: ArcG<K, T, A>) -> ArcG<K, T, B>
where
    GenericRwLock<K, T>: crate::guard::ArcLockable<A> + crate::guard::ArcLockable<B>,
{
    let (tracked, inner) = g.into_parts();
    let arc = inner.into_arc_locked();
    // SAFETY: the caller changed the raw lock's mode to `B`; unlocked once by the new guard.
    #[allow(unsafe_code)]
    Guard::new(tracked, unsafe { ArcLocked::new(arc) })
}

impl<K: RwLockKind, T: ?Sized> ArcG<K, T, Exclusive> {
    /// Turns the write guard into a read guard without unlocking (the entry changes in place).
    #[allow(unsafe_code)]
    pub fn downgrade(mut s: Self) -> ArcG<K, T, Shared> {
        s.tracked.change_read(Read::Shared);
        // SAFETY: the guard holds the lock exclusively.
        unsafe { s.inner.lock().inner.raw().downgrade() };
        remode(s)
    }

    /// Turns the write guard into an upgradable read guard without unlocking.
    #[allow(unsafe_code)]
    pub fn downgrade_to_upgradable(mut s: Self) -> ArcG<K, T, Upgradable> {
        s.tracked.change_to_upgradable();
        // SAFETY: the guard holds the lock exclusively.
        unsafe { s.inner.lock().inner.raw().downgrade_to_upgradable() };
        remode(s)
    }
}

impl<K: RwLockKind, T: ?Sized> ArcG<K, T, Upgradable> {
    /// Upgrades to a write guard; validated first as a write acquisition of this lock.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn upgrade(mut s: Self) -> ArcG<K, T, Exclusive> {
        s.rerecord_exclusive(Location::caller());
        // SAFETY: the guard holds the lock as an upgradable reader.
        unsafe { s.inner.lock().inner.raw().upgrade() };
        remode(s)
    }

    /// Upgrades if no reader holds the lock (a trylock); the held entry becomes a writer's
    /// in place, as the borrowed guard's `try_upgrade` does (the lock is never released).
    #[allow(unsafe_code)]
    pub fn try_upgrade(mut s: Self) -> Result<ArcG<K, T, Exclusive>, Self> {
        // SAFETY: the guard holds the lock as an upgradable reader.
        if unsafe { s.inner.lock().inner.raw().try_upgrade() } {
            s.tracked.change_read(Read::Exclusive);
            Ok(remode(s))
        } else {
            Err(s)
        }
    }

    /// Turns the upgradable guard into a read guard.
    #[allow(unsafe_code)]
    pub fn downgrade(mut s: Self) -> ArcG<K, T, Shared> {
        s.tracked.change_read(Read::Shared);
        // SAFETY: the guard holds the lock as an upgradable reader.
        unsafe { s.inner.lock().inner.raw().downgrade_upgradable() };
        remode(s)
    }

    /// Upgrade, giving up after `timeout`; validated before it blocks. On timeout the guard
    /// comes back as it was.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn try_upgrade_for(s: Self, timeout: Duration) -> Result<ArcG<K, T, Exclusive>, Self> {
        // SAFETY: the guard holds the lock as an upgradable reader.
        Self::timed_upgrade(s, |rw| unsafe { rw.inner.raw().try_upgrade_for(timeout) })
    }

    /// Upgrade, giving up at `timeout`; validated before it blocks.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn try_upgrade_until(s: Self, timeout: Instant) -> Result<ArcG<K, T, Exclusive>, Self> {
        // SAFETY: the guard holds the lock as an upgradable reader.
        Self::timed_upgrade(s, |rw| unsafe { rw.inner.raw().try_upgrade_until(timeout) })
    }

    #[track_caller]
    fn timed_upgrade(
        mut s: Self,
        up: impl FnOnce(&GenericRwLock<K, T>) -> bool,
    ) -> Result<ArcG<K, T, Exclusive>, Self> {
        let site = Location::caller();
        let map = s.rerecord_exclusive_timed(site);
        if up(s.inner.lock()) {
            Ok(remode(s))
        } else {
            back_to_upgradable(&mut s.tracked, map, site);
            Err(s)
        }
    }

    /// Runs `f` with the lock upgraded (validated as a write acquisition), then downgrades
    /// (also if `f` panics).
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
        self.rerecord_exclusive(Location::caller());
        let rw: &GenericRwLock<K, T> = self.inner.lock();
        // SAFETY: the guard holds the lock as an upgradable reader.
        unsafe { rw.inner.raw().upgrade() };
        Self::upgraded(rw, &mut self.tracked, f)
    }

    /// Runs `f` upgraded if no reader holds the lock (a trylock: nothing to validate; the
    /// held entry is a writer's while `f` runs), then downgrades.
    #[allow(unsafe_code)]
    pub fn try_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Option<Ret> {
        let rw: &GenericRwLock<K, T> = self.inner.lock();
        // SAFETY: the guard holds the lock as an upgradable reader.
        if !unsafe { rw.inner.raw().try_upgrade() } {
            return None;
        }
        self.tracked.change_read(Read::Exclusive);
        Some(Self::upgraded(rw, &mut self.tracked, f))
    }

    /// [`with_upgraded`](Self::with_upgraded), giving up after `timeout`; validated first.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn try_with_upgraded_for<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        timeout: Duration,
        f: F,
    ) -> Option<Ret> {
        // SAFETY: the guard holds the lock as an upgradable reader.
        self.timed_with_upgraded(|rw| unsafe { rw.inner.raw().try_upgrade_for(timeout) }, f)
    }

    /// [`with_upgraded`](Self::with_upgraded), giving up at `timeout`; validated first.
    #[track_caller]
    #[allow(unsafe_code)]
    pub fn try_with_upgraded_until<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        timeout: Instant,
        f: F,
    ) -> Option<Ret> {
        // SAFETY: the guard holds the lock as an upgradable reader.
        self.timed_with_upgraded(|rw| unsafe { rw.inner.raw().try_upgrade_until(timeout) }, f)
    }

    #[track_caller]
    fn timed_with_upgraded<Ret>(
        &mut self,
        up: impl FnOnce(&GenericRwLock<K, T>) -> bool,
        f: impl FnOnce(&mut T) -> Ret,
    ) -> Option<Ret> {
        let site = Location::caller();
        let map = self.rerecord_exclusive_timed(site);
        let rw: &GenericRwLock<K, T> = self.inner.lock();
        if !up(rw) {
            back_to_upgradable(&mut self.tracked, map, site);
            return None;
        }
        Some(Self::upgraded(rw, &mut self.tracked, f))
    }

    /// Runs `f` on the upgraded lock, then downgrades it and the held entry (also on unwind).
    #[allow(unsafe_code)]
    fn upgraded<Ret>(
        rw: &GenericRwLock<K, T>,
        tracked: &mut crate::dep_map::Tracked<'static>,
        f: impl FnOnce(&mut T) -> Ret,
    ) -> Ret {
        let _down = Defer::new(|| {
            // SAFETY: the lock is held exclusively (upgraded by the caller).
            unsafe { rw.inner.raw().downgrade_to_upgradable() };
            tracked.change_to_upgradable();
        });
        // SAFETY: the lock is held exclusively until `_down` runs.
        f(unsafe { &mut *rw.data_ptr() })
    }
}
