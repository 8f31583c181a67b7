//! `ReentrantMutex`: parking_lot's reentrant mutex, validated (not under loom).
//!
//! Its first acquisition by a thread is validated and recorded like a [`Mutex`](crate::Mutex)'s,
//! so its order against other classes is tracked as for a mutex. A re-acquisition by the thread
//! that already holds it is **not** recursion: it never blocks, so it is neither validated nor
//! recorded (its guard is untracked). The record ends when the guard of the first acquisition
//! drops; drop re-acquisitions' guards first (the usual nesting), or the validator stops
//! counting the lock as held while the inner guards still hold it.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::class::{LockClass, Maker};
use crate::dep_map::{DepMap, Read, Tracked};
use crate::guard::{ArcLockable, ArcLocked, Guard, Reentrant};
use crate::held::{LockHandle, Sealed, TrackedLock};
use crate::raw::RawMutex;
use crate::sync::real::{self, lock_api, RawThreadId};

/// A mutex the holding thread may lock again (parking_lot's `ReentrantMutex`).
///
/// Its first acquisition by a thread is validated and recorded like a mutex's (its order
/// against other classes is tracked as for a mutex). A re-acquisition by the holder is **not**
/// recursion: it never blocks, so it is neither validated nor recorded. The record ends when
/// the guard of the first acquisition drops: drop inner guards first (the usual nesting).
///
/// ```
/// let m = lockdep::ReentrantMutex::named("console", 0);
/// let outer = m.lock();
/// let inner = m.lock(); // the holder again: not recursion
/// assert_eq!(*outer + *inner, 0);
/// ```
pub type ReentrantMutex<T> = GenericReentrantMutex<RawMutex, RawThreadId, T>;

/// Guard of a [`ReentrantMutex`] (shared access: the holder may have several).
pub type ReentrantMutexGuard<'a, T> = Guard<'a, real::ReentrantMutexGuard<'a, T>>;

/// Guard of part of a [`ReentrantMutex`]'s data.
pub type MappedReentrantMutexGuard<'a, T> =
    Guard<'a, lock_api::MappedReentrantMutexGuard<'a, real::RawMutex, RawThreadId, T>>;

/// An arc guard of a reentrant mutex (parking_lot's `ArcReentrantMutexGuard<RawMutex, RawThreadId, T>`).
pub type ArcReentrantMutexGuard<R, G, T> =
    Guard<'static, ArcLocked<GenericReentrantMutex<R, G, T>, Reentrant>>;

/// A reentrant mutex; `R` and `G` name parking_lot's raw mutex and thread-id kinds.
pub struct GenericReentrantMutex<R, G, T: ?Sized> {
    dep: DepMap,
    kind: PhantomData<fn() -> (R, G)>,
    inner: real::ReentrantMutex<T>,
}

impl<R, G, T> GenericReentrantMutex<R, G, T> {
    /// A reentrant mutex whose class is its construction site.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::with_dep(DepMap::site(Location::caller(), "ReentrantMutex"), value)
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

    const fn with_dep(dep: DepMap, value: T) -> Self {
        GenericReentrantMutex {
            dep,
            kind: PhantomData,
            inner: real::ReentrantMutex::new(value),
        }
    }

    /// Consumes the mutex, returning its value.
    pub fn into_inner(self) -> T {
        let GenericReentrantMutex {
            dep: _dep, inner, ..
        } = self;
        inner.into_inner()
    }
}

/// A [`ReentrantMutex`] whose class is its construction site (parking_lot's `const_reentrant_mutex`).
#[track_caller]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(value)
}

impl<R, G, T: ?Sized> GenericReentrantMutex<R, G, T> {
    /// The token of an acquisition: none for the holder's re-acquisition.
    #[track_caller]
    fn first(&self, read_try: bool) -> Option<Tracked<'_>> {
        if self.inner.is_owned_by_current_thread() {
            return None;
        }
        Some(if read_try {
            Tracked::untracked()
        } else {
            self.dep
                .acquire(Read::Exclusive, 0, None, Location::caller())
        })
    }

    /// Acquires the mutex; the holder's re-acquisition returns at once (not validated).
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        let tracked = self.first(false).unwrap_or_else(Tracked::untracked);
        Guard::new(tracked, self.inner.lock())
    }

    /// Attempts to acquire the mutex without blocking.
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        let holder = self.inner.is_owned_by_current_thread();
        let inner = self.inner.try_lock()?;
        let tracked = if holder {
            Tracked::untracked()
        } else {
            self.dep.acquired_try(Read::Exclusive, Location::caller())
        };
        Some(Guard::new(tracked, inner))
    }

    #[track_caller]
    fn timed<'a>(
        &'a self,
        lock: impl FnOnce() -> Option<real::ReentrantMutexGuard<'a, T>>,
    ) -> Option<ReentrantMutexGuard<'a, T>> {
        let first = self.first(false);
        match (lock(), first) {
            (Some(inner), t) => Some(Guard::new(t.unwrap_or_else(Tracked::untracked), inner)),
            (None, Some(mut t)) => {
                t.release();
                None
            }
            (None, None) => None,
        }
    }

    /// Acquires the mutex, giving up after `timeout`; validated first (unless re-acquired).
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        self.timed(|| self.inner.try_lock_for(timeout))
    }

    /// Acquires the mutex, giving up at `timeout`; validated first (unless re-acquired).
    #[track_caller]
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

    /// Releases one level of a lock whose guard was forgotten. Releases the validator's record
    /// when the last level goes (reported as `BadUnlockBalance`, lock untouched, if this
    /// thread does not hold it).
    ///
    /// # Safety
    /// As parking_lot's: a forgotten guard of this thread must hold the lock.
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock(&self) {
        if !self.inner.is_owned_by_current_thread() {
            // Not the holder: let the validator report it, and leave the lock alone.
            let _ = self.dep.force_release(None, Location::caller());
            return;
        }
        // SAFETY: this thread holds the lock (checked above) through a forgotten guard.
        unsafe { self.inner.force_unlock() };
        if !self.inner.is_owned_by_current_thread() {
            let _ = self.dep.force_release(None, Location::caller());
        }
    }

    /// [`force_unlock`](Self::force_unlock), unlocking fairly.
    ///
    /// # Safety
    /// As [`force_unlock`](Self::force_unlock).
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn force_unlock_fair(&self) {
        if !self.inner.is_owned_by_current_thread() {
            let _ = self.dep.force_release(None, Location::caller());
            return;
        }
        // SAFETY: as in `force_unlock`.
        unsafe { self.inner.force_unlock_fair() };
        if !self.inner.is_owned_by_current_thread() {
            let _ = self.dep.force_release(None, Location::caller());
        }
    }

    /// Registers this lock with the validator now (see [`Mutex::register`](crate::GenericMutex::register)).
    pub fn register(&self) {
        self.dep.register();
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep.held_state().unwrap_or(true)
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

type Inner<'a, T> = real::ReentrantMutexGuard<'a, T>;
type Mapped<'a, T> = lock_api::MappedReentrantMutexGuard<'a, real::RawMutex, RawThreadId, T>;

impl<'a, T: ?Sized + 'a> Guard<'a, Inner<'a, T>> {
    /// A guard of a part of the data; the lock stays held until the new guard drops.
    pub fn map<U: ?Sized, F: FnOnce(&T) -> &U>(s: Self, f: F) -> Guard<'a, Mapped<'a, U>> {
        let (tracked, inner) = s.into_parts();
        Guard::new(tracked, Inner::map(inner, f))
    }

    /// As `map`, if `f` returns `Some`; else the original guard.
    pub fn try_map<U: ?Sized, F: FnOnce(&T) -> Option<&U>>(
        s: Self,
        f: F,
    ) -> Result<Guard<'a, Mapped<'a, U>>, Self> {
        let (tracked, inner) = s.into_parts();
        match Inner::try_map(inner, f) {
            Ok(m) => Ok(Guard::new(tracked, m)),
            Err(inner) => Err(Guard::new(tracked, inner)),
        }
    }

    /// Unlocks (this level) while `f` runs, then relocks; the re-acquisition is validated.
    #[track_caller]
    pub fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
        s.unlocked_with(Location::caller(), |g, body| Inner::unlocked(g, body), f)
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

    /// Unlocks fairly.
    pub fn unlock_fair(s: Self) {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        Inner::unlock_fair(inner);
    }

    /// Hands the lock to a waiting thread, if any, and takes it back.
    #[track_caller]
    pub fn bump(s: &mut Self) {
        s.bump_with(Location::caller(), Inner::bump);
    }
}

impl<'a, T: ?Sized + 'a> Guard<'a, Mapped<'a, T>> {
    /// Maps further.
    pub fn map<U: ?Sized, F: FnOnce(&T) -> &U>(s: Self, f: F) -> Guard<'a, Mapped<'a, U>> {
        let (tracked, inner) = s.into_parts();
        Guard::new(tracked, Mapped::map(inner, f))
    }

    /// Unlocks fairly.
    pub fn unlock_fair(s: Self) {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        Mapped::unlock_fair(inner);
    }
}

impl<R, G, T: ?Sized> Guard<'static, ArcLocked<GenericReentrantMutex<R, G, T>, Reentrant>> {
    /// The mutex this guard holds.
    pub fn remutex(s: &Self) -> &Arc<GenericReentrantMutex<R, G, T>> {
        s.inner.lock()
    }

    /// Unlocks (this level) and returns the `Arc` of the mutex.
    pub fn into_arc(s: Self) -> Arc<GenericReentrantMutex<R, G, T>> {
        let (mut tracked, inner) = s.into_parts();
        tracked.release();
        let arc = inner.lock().clone();
        drop(inner);
        arc
    }
}

impl<R, G, T: Default> Default for GenericReentrantMutex<R, G, T> {
    #[track_caller]
    fn default() -> Self {
        Self::with_dep(
            DepMap::made(Location::caller(), "ReentrantMutex", Maker::Default),
            T::default(),
        )
    }
}

impl<R, G, T> From<T> for GenericReentrantMutex<R, G, T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::with_dep(
            DepMap::made(Location::caller(), "ReentrantMutex", Maker::From),
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
        LockHandle::of_lock(&self.dep)
    }
}
