//! `ReentrantMutex`: parking_lot's reentrant mutex, validated (not under loom).
//!
//! A thread's first acquisition is validated and recorded like a [`Mutex`](crate::Mutex)'s,
//! so its order against other classes is tracked as for a mutex. A re-acquisition by the
//! thread that holds it is **not** recursion: it never blocks, so it is neither validated nor
//! recorded. The record belongs to the lock, not to a guard: it is released when the thread's
//! last level goes, whichever guard that is (lock_api's reentrant mutex unlocks its raw mutex
//! exactly then, and that raw mutex, [`UncheckedReentrant`], keeps the record). So the lock
//! counts as held exactly while some level is, in whatever order the guards drop.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Read, Tracked};
use crate::guard::{ArcLockable, ArcLocked, Defer, Guard, Level, Reentrant};
use crate::held::{LockHandle, Sealed, TrackedLock};
use crate::raw::{RawMutex, ThreadIdentity, UncheckedReentrant};
use crate::sync::real::{lock_api, RawThreadId};

/// A mutex the holding thread may lock again (parking_lot's `ReentrantMutex`).
///
/// Its first acquisition by a thread is validated and recorded like a mutex's (its order
/// against other classes is tracked as for a mutex). A re-acquisition by the holder is **not**
/// recursion: it never blocks, so it is neither validated nor recorded. The lock counts as
/// held until its last level is released, whichever guard goes last.
///
/// A thread is told apart by the address of a thread-local ([`ThreadIdentity`]), as
/// parking_lot's `RawThreadId` does: unique among live threads. A thread that exits holding a
/// level (reported as `LocksHeldAtExit`) leaves the lock locked, and a later thread that gets
/// the same address counts as its holder, as with parking_lot.
///
/// ```
/// let m = lockdep::ReentrantMutex::named("console", 0);
/// let outer = m.lock();
/// let inner = m.lock(); // the holder again: not recursion
/// assert_eq!(*outer + *inner, 0);
/// drop(outer); // the inner level still holds it
/// assert!(m.is_held());
/// drop(inner);
/// assert!(!m.is_held());
/// ```
pub type ReentrantMutex<T> = GenericReentrantMutex<RawMutex, RawThreadId, T>;

/// Guard of a [`ReentrantMutex`] (shared access: the holder may have several).
pub type ReentrantMutexGuard<'a, T> =
    Guard<'a, crate::raw::locks::ReentrantMutexGuard<'a, T>, Level>;

/// Guard of part of a [`ReentrantMutex`]'s data.
pub type MappedReentrantMutexGuard<'a, T> = Guard<
    'a,
    lock_api::MappedReentrantMutexGuard<'a, UncheckedReentrant, ThreadIdentity, T>,
    Level,
>;

/// An arc guard of a reentrant mutex (parking_lot's `ArcReentrantMutexGuard<RawMutex, RawThreadId, T>`).
pub type ArcReentrantMutexGuard<R, G, T> =
    Guard<'static, ArcLocked<GenericReentrantMutex<R, G, T>, Reentrant>, Level>;

/// A reentrant mutex; `R` and `G` name parking_lot's raw mutex and thread-id kinds.
///
/// It is lock_api's reentrant mutex over [`UncheckedReentrant`] (with validation compiled
/// out, exactly parking_lot's).
#[repr(transparent)]
pub struct GenericReentrantMutex<R, G, T: ?Sized> {
    kind: PhantomData<fn() -> (R, G)>,
    inner: crate::raw::locks::ReentrantMutex<T>,
}

impl<R, G, T> GenericReentrantMutex<R, G, T> {
    /// A reentrant mutex whose class is its construction site.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::with_dep(
            DepMap::site::<T>(Location::caller(), "ReentrantMutex"),
            value,
        )
    }

    /// A reentrant mutex whose class is its construction site, shown as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::with_dep(
            DepMap::named(Location::caller(), name, "ReentrantMutex"),
            value,
        )
    }

    /// A reentrant mutex of the class `class`.
    pub const fn with_class(class: &'static LockClass, value: T) -> Self {
        Self::with_dep(DepMap::class(class), value)
    }

    pub(crate) const fn with_dep(dep: DepMap, value: T) -> Self {
        Self::with_raw(crate::raw::imp_raw_mutex(dep), value)
    }

    const fn with_raw(raw: RawMutex, value: T) -> Self {
        GenericReentrantMutex {
            kind: PhantomData,
            inner: lock_api::ReentrantMutex::const_new(
                UncheckedReentrant::new(raw),
                ThreadIdentity,
                value,
            ),
        }
    }

    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> T {
        // Dropping the validator's handle (inside the raw mutex) checks "held lock freed".
        self.inner.into_inner()
    }
}

impl<G, T> GenericReentrantMutex<RawMutex, G, T> {
    /// A reentrant mutex on the raw mutex `raw_mutex` (lock_api's `ReentrantMutex::const_new`;
    /// `get_thread_id` is not used: this crate's reentrant mutexes tell threads apart with
    /// [`ThreadIdentity`]). Its class is
    /// `raw_mutex`'s if it has one ([`named`](crate::raw::RawLock::named),
    /// [`with_class`](crate::raw::RawLock::with_class)); a raw mutex made by `INIT` has none,
    /// and the class is then the construction site of this call.
    #[track_caller]
    pub const fn const_new(raw_mutex: RawMutex, get_thread_id: G, val: T) -> Self {
        std::mem::forget(get_thread_id);
        Self::with_raw(
            raw_mutex.or_site::<T>(Location::caller(), "ReentrantMutex"),
            val,
        )
    }

    /// The same as [`const_new`](Self::const_new) (lock_api's `ReentrantMutex::from_raw`).
    #[track_caller]
    pub const fn from_raw(raw_mutex: RawMutex, get_thread_id: G, val: T) -> Self {
        Self::const_new(raw_mutex, get_thread_id, val)
    }
}

/// A [`ReentrantMutex`] whose class is its construction site (parking_lot's `const_reentrant_mutex`).
#[track_caller]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(value)
}

impl<R, G, T: ?Sized> GenericReentrantMutex<R, G, T> {
    /// The raw mutex with the lock's record.
    #[inline]
    fn unchecked(&self) -> &UncheckedReentrant {
        // SAFETY: only reads the raw mutex's handle and record.
        #[allow(unsafe_code)]
        unsafe {
            self.inner.raw()
        }
    }

    #[inline]
    fn dep(&self) -> &DepMap {
        self.unchecked().dep()
    }

    /// Is an acquisition now a re-acquisition, with no record to make: does this thread hold
    /// the mutex already (lock_api's owner, compared with [`ThreadIdentity`]: inline)? Always,
    /// with validation compiled out: nothing is ever recorded, and nothing asked.
    #[inline]
    fn held_here(&self) -> bool {
        #[cfg(lockdep_enabled)]
        return self.inner.is_owned_by_current_thread();
        #[cfg(not(lockdep_enabled))]
        true
    }

    /// The validation of an acquisition, before it blocks: none for the holder's
    /// re-acquisition.
    #[inline(always)]
    #[track_caller]
    fn first(&self) -> Option<Tracked<'_>> {
        if self.held_here() {
            return None;
        }
        Some(
            self.dep()
                .acquire(Read::Exclusive, 0, None, Location::caller()),
        )
    }

    /// The guard of a level now held; `first` (a first acquisition's record) is kept by the
    /// lock until its last level goes.
    #[inline]
    fn level<'a, I>(&'a self, first: Option<Tracked<'a>>, inner: I) -> Guard<'a, I, Level> {
        if let Some(t) = first {
            self.unchecked().keep(t);
        }
        Guard::new(Tracked::borrowed(self.dep()), inner)
    }

    /// Acquires the mutex; the holder's re-acquisition returns at once (not validated). A
    /// first acquisition in an order reported as a possible deadlock that then really blocks
    /// gives up after `LOCKDEP_DEADLOCK_TIMEOUT` with a panic, as a [`Mutex`](crate::Mutex)'s.
    #[track_caller]
    #[inline(always)] // (left to the inliner, it and `first` went out of line: a call a level)
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        let inner = if self.held_here() {
            self.inner.lock()
        } else {
            self.lock_first()
        };
        Guard::new(Tracked::borrowed(self.dep()), inner)
    }

    /// [`lock`](Self::lock)'s first acquisition by this thread: validated, then the real
    /// lock, whose record the lock keeps. (Only the real guard comes back, one word in a
    /// register: a token carried out beside it, to be kept by the caller, went through memory
    /// and slowed the holder's later levels.)
    #[inline(always)]
    #[track_caller]
    fn lock_first(&self) -> crate::raw::locks::ReentrantMutexGuard<'_, T> {
        let t = self
            .dep()
            .acquire(Read::Exclusive, 0, None, Location::caller());
        #[cfg(lockdep_enabled)]
        if t.watch() {
            return self.lock_watched(t);
        }
        let inner = self.inner.lock();
        self.unchecked().keep(t);
        inner
    }

    /// [`lock`](Self::lock)'s first acquisition in an order reported before: waits at most
    /// the deadlock timeout (out of line: the common case stays small enough to inline).
    #[cfg(lockdep_enabled)]
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_watched<'a>(
        &'a self,
        first: Tracked<'a>,
    ) -> crate::raw::locks::ReentrantMutexGuard<'a, T> {
        // Returns the real guard only (one word, in a register): a whole guard returned from
        // here would come back through memory and keep `lock`'s guards there.
        let (first, inner) = crate::guard::block(
            first,
            || self.inner.lock(),
            |limit| self.inner.try_lock_for(limit),
        );
        self.unchecked().keep(first);
        inner
    }

    /// Attempts to acquire the mutex without blocking (recorded, unvalidated, if it is a
    /// first acquisition that succeeds).
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        let holder = self.held_here();
        let inner = self.inner.try_lock()?;
        let first = (!holder).then(|| self.dep().acquired_try(Read::Exclusive, Location::caller()));
        Some(self.level(first, inner))
    }

    #[inline]
    #[track_caller]
    fn timed<'a>(
        &'a self,
        lock: impl FnOnce() -> Option<crate::raw::locks::ReentrantMutexGuard<'a, T>>,
    ) -> Option<ReentrantMutexGuard<'a, T>> {
        let first = self.first();
        match lock() {
            Some(inner) => Some(self.level(first, inner)),
            None => {
                if let Some(mut t) = first {
                    t.release();
                }
                None
            }
        }
    }

    /// Acquires the mutex, giving up after `timeout`; validated first (unless re-acquired).
    #[track_caller]
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        self.timed(|| self.inner.try_lock_for(timeout))
    }

    /// Acquires the mutex, giving up at `timeout`; validated first (unless re-acquired).
    #[track_caller]
    #[inline]
    pub fn try_lock_until(&self, timeout: Instant) -> Option<ReentrantMutexGuard<'_, T>> {
        self.timed(|| self.inner.try_lock_until(timeout))
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Is the mutex locked (by any thread)?
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Is the mutex locked by the calling thread?
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// A raw pointer to the data.
    pub fn data_ptr(&self) -> *mut T {
        self.inner.data_ptr()
    }

    /// The raw mutex (lock_api's `ReentrantMutex::raw`): the same lock, validated, and not
    /// reentrant (lock_api's levels are above it). Its operations are recorded and checked as
    /// this mutex's, like [`Mutex::raw`](crate::GenericMutex::raw)'s.
    ///
    /// # Safety
    /// As lock_api's: unlocking through the raw mutex while a guard of it exists is undefined
    /// behaviour.
    #[allow(unsafe_code)]
    pub unsafe fn raw(&self) -> &RawMutex {
        self.unchecked().checked()
    }

    /// A guard for a level this thread already holds (lock_api's `make_guard_unchecked`), as
    /// for a forgotten guard. The record of the lock belongs to the lock (it was made when the
    /// thread took its first level and goes with its last), so nothing is recorded here.
    ///
    /// # Safety
    /// As lock_api's: this thread must hold a level of the lock that no other guard owns.
    #[allow(unsafe_code)]
    pub unsafe fn make_guard_unchecked(&self) -> ReentrantMutexGuard<'_, T> {
        // SAFETY: the caller's contract.
        Guard::new(Tracked::borrowed(self.dep()), unsafe {
            self.inner.make_guard_unchecked()
        })
    }

    /// [`make_guard_unchecked`](Self::make_guard_unchecked) through an `Arc`.
    ///
    /// # Safety
    /// As [`make_guard_unchecked`](Self::make_guard_unchecked).
    #[allow(unsafe_code)]
    pub unsafe fn make_arc_guard_unchecked(self: &Arc<Self>) -> ArcReentrantMutexGuard<R, G, T> {
        // SAFETY: the caller's contract.
        self.into_arc_guard(unsafe { self.make_guard_unchecked() })
    }

    /// Releases one level of a lock whose guard was forgotten; the record goes with the last
    /// level. If this thread does not hold the lock, reports `BadUnlockBalance` and leaves the
    /// lock untouched.
    ///
    /// # Safety
    /// As parking_lot's: a forgotten guard of this thread must hold the level.
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock(&self) {
        if !self.inner.is_owned_by_current_thread() {
            // Not the holder: let the validator report it, and leave the lock alone.
            let _ = self.dep().force_release(None, Location::caller());
            return;
        }
        // SAFETY: this thread holds the lock (checked above) through a forgotten guard.
        unsafe { self.inner.force_unlock() };
    }

    /// [`force_unlock`](Self::force_unlock), unlocking fairly.
    ///
    /// # Safety
    /// As [`force_unlock`](Self::force_unlock).
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_fair(&self) {
        if !self.inner.is_owned_by_current_thread() {
            let _ = self.dep().force_release(None, Location::caller());
            return;
        }
        // SAFETY: as in `force_unlock`.
        unsafe { self.inner.force_unlock_fair() };
    }

    /// Registers this lock with the validator now (see [`Mutex::register`](crate::GenericMutex::register)).
    pub fn register(&self) {
        self.dep().register();
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep().held_state().unwrap_or(true)
    }

    /// `unlocked*` of one level held by a guard: the level is released (with the record if it
    /// was the last), `f` runs, and the level is taken back (validated first if it is a real
    /// acquisition; also if `f` panics).
    #[allow(unsafe_code)]
    fn unlocked_level<U>(
        &self,
        fair: bool,
        site: &'static Location<'static>,
        f: impl FnOnce() -> U,
    ) -> U {
        // SAFETY: the caller's guard holds a level; it is taken back before the guard is used.
        unsafe {
            if fair {
                self.inner.force_unlock_fair();
            } else {
                self.inner.force_unlock();
            }
        }
        let _relock = Defer::new(|| self.relock(site));
        f()
    }

    /// Takes back a level released by `unlocked_level`, whatever happens: the guard owns it
    /// again when this returns or unwinds (a validation that panics, in `Panic` mode, still
    /// leaves the lock taken, unrecorded). A real acquisition is validated first (also while
    /// the thread unwinds, e.g. from `f`: the validator never panics then, it prints); it
    /// waits for the lock without the deadlock timeout, which could only give up by leaving
    /// the guard without its lock.
    fn relock(&self, site: &'static Location<'static>) {
        let real = !self.held_here();
        let take_back = Defer::new(|| std::mem::forget(self.inner.lock()));
        let first = real.then(|| self.dep().acquire(Read::Exclusive, 0, None, site));
        drop(take_back);
        if let Some(t) = first {
            self.unchecked().keep(t);
        }
    }

    #[allow(unsafe_code)]
    fn into_arc_guard(
        self: &Arc<Self>,
        g: ReentrantMutexGuard<'_, T>,
    ) -> ArcReentrantMutexGuard<R, G, T> {
        let (tracked, inner) = g.into_parts();
        std::mem::forget(inner);
        let tracked = ArcLocked::extend(self, tracked);
        // SAFETY: the guard just taken apart holds one level; the ArcLocked releases it once.
        Guard::new(tracked, unsafe { ArcLocked::new(self.clone()) })
    }

    /// [`lock`](Self::lock) through an `Arc`.
    #[track_caller]
    pub fn lock_arc(self: &Arc<Self>) -> ArcReentrantMutexGuard<R, G, T> {
        self.into_arc_guard(self.lock())
    }

    /// [`try_lock`](Self::try_lock) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        Some(self.into_arc_guard(self.try_lock()?))
    }

    /// [`try_lock_for`](Self::try_lock_for) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc_for(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        Some(self.into_arc_guard(self.try_lock_for(timeout)?))
    }

    /// [`try_lock_until`](Self::try_lock_until) through an `Arc`.
    #[track_caller]
    pub fn try_lock_arc_until(
        self: &Arc<Self>,
        timeout: Instant,
    ) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        Some(self.into_arc_guard(self.try_lock_until(timeout)?))
    }
}

impl<R, G, T: ?Sized> ArcLockable<Reentrant> for GenericReentrantMutex<R, G, T> {
    type Target = T;
    fn data(&self) -> *mut T {
        self.inner.data_ptr()
    }
    #[allow(unsafe_code)]
    unsafe fn unlock_mode(&self) {
        // SAFETY: the arc guard holds one level of the lock.
        unsafe { self.inner.force_unlock() }
    }
}

type Inner<'a, T> = crate::raw::locks::ReentrantMutexGuard<'a, T>;
type Mapped<'a, T> = lock_api::MappedReentrantMutexGuard<'a, UncheckedReentrant, ThreadIdentity, T>;

impl<'a, T: ?Sized + 'a> Guard<'a, Inner<'a, T>, Level> {
    /// The mutex this guard holds (lock_api's `ReentrantMutexGuard::remutex`).
    #[allow(unsafe_code)]
    pub fn remutex(s: &Self) -> &'a ReentrantMutex<T> {
        let inner: &'a crate::raw::locks::ReentrantMutex<T> = Inner::remutex(&s.inner);
        // SAFETY: `GenericReentrantMutex` is `repr(transparent)` over this field.
        unsafe {
            &*(inner as *const crate::raw::locks::ReentrantMutex<T> as *const ReentrantMutex<T>)
        }
    }

    /// A guard of a part of the data; the lock stays held until the new guard drops.
    pub fn map<U: ?Sized, F: FnOnce(&T) -> &U>(s: Self, f: F) -> Guard<'a, Mapped<'a, U>, Level> {
        s.map_inner(|inner| Inner::map(inner, f))
    }

    /// As `map`, if `f` returns `Some`; else the original guard.
    pub fn try_map<U: ?Sized, F: FnOnce(&T) -> Option<&U>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, U>, Level>, Self> {
        s.try_map_inner(|inner| Inner::try_map(inner, f))
    }

    /// As `try_map`, passing `f`'s error back with the original guard.
    #[allow(clippy::type_complexity)]
    pub fn try_map_or_err<U: ?Sized, E, F: FnOnce(&T) -> Result<&U, E>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, U>, Level>, (Self, E)> {
        let (tracked, inner) = s.into_parts();
        match Inner::try_map_or_err(inner, f) {
            Ok(m) => Ok(Guard::new(tracked, m)),
            Err((inner, e)) => Err((Guard::new(tracked, inner), e)),
        }
    }

    /// Unlocks this level while `f` runs, then relocks; if that is a real acquisition (the
    /// thread held no other level), the release is recorded and the re-acquisition validated.
    #[track_caller]
    pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        Self::remutex(s).unlocked_level(false, Location::caller(), f)
    }

    /// [`unlocked`](Self::unlocked), unlocking fairly.
    #[track_caller]
    pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        Self::remutex(s).unlocked_level(true, Location::caller(), f)
    }

    /// Unlocks this level fairly (with the record, if it is the last).
    pub fn unlock_fair(s: Self) {
        Inner::unlock_fair(s.into_parts().1);
    }

    /// Hands the lock to a waiting thread, if any, and takes it back (if this is the thread's
    /// only level: recorded as a release and a validated re-acquisition).
    #[track_caller]
    pub fn bump(s: &mut Self) {
        Self::remutex(s).unlocked_level(true, Location::caller(), || {});
    }
}

impl<'a, T: ?Sized + 'a> Guard<'a, Mapped<'a, T>, Level> {
    /// Maps further.
    pub fn map<U: ?Sized, F: FnOnce(&T) -> &U>(s: Self, f: F) -> Guard<'a, Mapped<'a, U>, Level> {
        s.map_inner(|inner| Mapped::map(inner, f))
    }

    /// As `map`, if `f` returns `Some`; else the original guard.
    pub fn try_map<U: ?Sized, F: FnOnce(&T) -> Option<&U>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, U>, Level>, Self> {
        s.try_map_inner(|inner| Mapped::try_map(inner, f))
    }

    /// As `try_map`, passing `f`'s error back with the original guard.
    #[allow(clippy::type_complexity)]
    pub fn try_map_or_err<U: ?Sized, E, F: FnOnce(&T) -> Result<&U, E>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, U>, Level>, (Self, E)> {
        let (tracked, inner) = s.into_parts();
        match Mapped::try_map_or_err(inner, f) {
            Ok(m) => Ok(Guard::new(tracked, m)),
            Err((inner, e)) => Err((Guard::new(tracked, inner), e)),
        }
    }

    /// Unlocks fairly (with the record, if this is the last level).
    pub fn unlock_fair(s: Self) {
        Mapped::unlock_fair(s.into_parts().1);
    }
}

impl<R, G, T: ?Sized> Guard<'static, ArcLocked<GenericReentrantMutex<R, G, T>, Reentrant>, Level> {
    /// The mutex this guard holds.
    pub fn remutex(s: &Self) -> &Arc<GenericReentrantMutex<R, G, T>> {
        s.inner.lock()
    }

    /// Unlocks (this level) and returns the `Arc` of the mutex.
    pub fn into_arc(s: Self) -> Arc<GenericReentrantMutex<R, G, T>> {
        let (_, inner) = s.into_parts();
        let arc = inner.lock().clone();
        drop(inner);
        arc
    }

    /// Unlocks (this level) fairly and returns the `Arc` of the mutex.
    #[allow(unsafe_code)]
    pub fn into_arc_fair(s: Self) -> Arc<GenericReentrantMutex<R, G, T>> {
        let (_, inner) = s.into_parts();
        let arc = inner.into_arc_locked();
        // SAFETY: the guard held one level; released once, here.
        unsafe { arc.inner.force_unlock_fair() };
        arc
    }

    /// Unlocks (this level) fairly.
    pub fn unlock_fair(s: Self) {
        drop(Self::into_arc_fair(s));
    }

    /// Unlocks this level while `f` runs, then relocks (see the borrowed guard's `unlocked`).
    #[track_caller]
    pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.inner.lock().unlocked_level(false, Location::caller(), f)
    }

    /// [`unlocked`](Self::unlocked), unlocking fairly.
    #[track_caller]
    pub fn unlocked_fair<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.inner.lock().unlocked_level(true, Location::caller(), f)
    }

    /// Hands the lock to a waiting thread, if any, and takes it back.
    #[track_caller]
    pub fn bump(s: &mut Self) {
        s.inner
            .lock()
            .unlocked_level(true, Location::caller(), || {});
    }
}

impl<R, G, T: Default> Default for GenericReentrantMutex<R, G, T> {
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "ReentrantMutex", Maker::Default),
            T::default(),
        )
    }
}

impl<R, G, T> From<T> for GenericReentrantMutex<R, G, T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made::<T>(Location::caller(), "ReentrantMutex", Maker::From),
            value,
        )
    }
}

impl<R, G, T: ?Sized + fmt::Debug> fmt::Debug for GenericReentrantMutex<R, G, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<R, G, T: ?Sized> Sealed for GenericReentrantMutex<R, G, T> {}
impl<R, G, T: ?Sized> TrackedLock for GenericReentrantMutex<R, G, T> {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(self.dep())
    }
}
