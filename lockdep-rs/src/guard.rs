//! The one guard layer every lock of this crate shares (as lock_api's guards share one raw-lock
//! trait): a [`Guard`] is the real lock's guard plus the validator's token for the acquisition.
//!
//! Every public guard type is an alias of `Guard<'a, G>` for some real guard `G` (parking_lot's
//! `MutexGuard`, `RwLockUpgradableReadGuard`, a mapped guard, an [`ArcLocked`] lock, std's
//! `MutexGuard`, …). `Deref`, `DerefMut`, `Debug`, `Display`, [`Held`] and the release on drop
//! are written once, here; each lock module adds only what is particular to its guards
//! (`map`, `upgrade`, `unlocked`, …) as inherent methods of its own instantiations.
//!
//! Semantics shared by every guard:
//! - dropping it records the release, then unlocks (a mapped or arc guard too: exactly once);
//! - `unlocked*` / `bump` take the acquisition out of the held state and put it back exactly as
//!   it was, validated *before* the real lock is taken again;
//! - `leak` keeps the acquisition held (the lock stays locked by this thread; `force_unlock`
//!   releases both).

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use crate::dep_map::{DepMap, Read, Tracked};
use crate::held::{Held, LockHandle, Sealed};

/// A lock guard: the real guard `G` and the validator's record of the acquisition.
///
/// Every guard type of this crate is an alias of this one (e.g.
/// [`MutexGuard<'a, T>`](crate::MutexGuard)); its methods (`map`, `upgrade`, `unlocked`, …)
/// are listed here, each on the instantiation it applies to. Like parking_lot's guards, most
/// are associated functions (`MutexGuard::map(guard, f)`), so they never shadow methods of `T`.
///
/// `M` says where the guard may go and what it releases: [`Local`] (the blocking locks' guards:
/// `!Send`, released by the holder that took them), [`Sendable`] (`lockdep::tokio`'s guards:
/// `Send` like tokio's, released from their holder's record wherever they are dropped) or
/// [`Level`] (a `ReentrantMutex`'s guards: `!Send`, and nothing to release: the lock's record
/// goes with its last level).
///
/// A [`Local`] guard is `!Send` whatever features are on (parking_lot's `send_guard`
/// included): its acquisition is an entry of its thread's held-lock stack.
#[must_use = "if unused the lock will immediately unlock"]
pub struct Guard<'a, G, M: GuardKind = Local> {
    pub(crate) tracked: Tracked<'a, M>,
    /// Dropped by hand in `Drop`, after the release is recorded (see there).
    pub(crate) inner: ManuallyDrop<G>,
}

pub use crate::dep_map::{GuardKind, Level, Local, Sendable};

impl<'a, G, M: GuardKind> Guard<'a, G, M> {
    #[inline]
    pub(crate) fn new(tracked: Tracked<'a, M>, inner: G) -> Self {
        Guard {
            tracked,
            inner: ManuallyDrop::new(inner),
        }
    }

    /// The same acquisition over the real guard `f` makes from this one (`map`, `downgrade`,
    /// …): nothing is released or recorded.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn map_inner<H>(self, f: impl FnOnce(G) -> H) -> Guard<'a, H, M> {
        let (tracked, inner) = self.into_parts();
        Guard::new(tracked, f(inner))
    }

    /// As [`map_inner`](Self::map_inner) when `f` may give the real guard back (`try_map`,
    /// `try_downgrade_map`, …): then this guard comes back unchanged.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn try_map_inner<H>(
        self,
        f: impl FnOnce(G) -> Result<H, G>,
    ) -> Result<Guard<'a, H, M>, Self> {
        let (tracked, inner) = self.into_parts();
        match f(inner) {
            Ok(mapped) => Ok(Guard::new(tracked, mapped)),
            Err(inner) => Err(Guard::new(tracked, inner)),
        }
    }

    /// Takes the guard apart without releasing anything (for `map`, `upgrade`, …).
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn into_parts(self) -> (Tracked<'a, M>, G) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, and each field is read exactly once,
        // so both values are moved out exactly once.
        unsafe {
            (
                std::ptr::read(&this.tracked),
                ManuallyDrop::into_inner(std::ptr::read(&this.inner)),
            )
        }
    }
}

#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
impl<'a, G> Guard<'a, G> {
    /// Records that the lock is about to be released by `unlocked*`; returns the lock's handle
    /// (if the acquisition was tracked) for [`reacquired`](Self::reacquired).
    #[inline]
    pub(crate) fn release_record(&mut self) -> Option<&'a DepMap> {
        let map = self.tracked.map();
        self.tracked.release();
        map
    }

    /// `upgrade`: the guard's acquisition becomes a write acquisition of the lock it holds
    /// as an upgradable reader, validated before the caller waits for the readers, and its
    /// entry changed in place (the locks taken under it stay under it): by the fast path when
    /// that chain is one it knows, else validated on top of every lock held
    /// (`validator::upgrade`). An entry that cannot change in place (merged with other guards'
    /// under a nest lock) is released and acquired again.
    #[inline]
    #[track_caller]
    pub(crate) fn rerecord_exclusive(&mut self, site: &'static Location<'static>) {
        if !self.tracked.rekind_fast(Read::Exclusive, site)
            && !self.tracked.upgrade_in_place(site, false)
        {
            let map = self.release_record();
            self.tracked = Self::reacquired(map, Read::Exclusive, site);
        }
    }

    /// A timed upgrade (`try_upgrade_for`, `try_with_upgraded_for`, …): as
    /// [`rerecord_exclusive`](Self::rerecord_exclusive), validated as a *timed* write
    /// acquisition: waiting for a reader this thread holds too is reported but not stopped
    /// with a panic (the real upgrade times out), and leaves the entry the upgradable
    /// reader's (or, if it was released and acquired again, the guard unrecorded). Returns
    /// the lock's handle, for [`back_to_upgradable`] once the upgrade timed out.
    #[track_caller]
    pub(crate) fn rerecord_exclusive_timed(
        &mut self,
        site: &'static Location<'static>,
    ) -> Option<&'a DepMap> {
        if self.tracked.upgrade_in_place(site, true) {
            return self.tracked.map();
        }
        let map = self.release_record();
        if let Some(map) = map {
            self.tracked = map.acquire_timed(Read::Exclusive, site);
        }
        map
    }

    /// The re-acquisition after `unlocked*` / `bump`, validated before the caller relocks.
    #[inline]
    #[track_caller]
    pub(crate) fn reacquired(
        map: Option<&'a DepMap>,
        read: Read,
        site: &'static Location<'static>,
    ) -> Tracked<'a> {
        match map {
            Some(map) => map.acquire(read, 0, None, site),
            None => Tracked::untracked(),
        }
    }

    /// `unlocked*` for any guard: takes the acquisition out of the held state, runs
    /// `unlock(inner, body)` where `body` runs `f` and then restores the acquisition exactly as
    /// it was (class, subclass, read kind, nest lock, position), validated before the real
    /// relock — also when `f` panics (the real guards relock then too).
    pub(crate) fn unlocked_with<U>(
        &mut self,
        site: &'static Location<'static>,
        unlock: impl FnOnce(&mut G, &mut dyn FnMut()),
        f: impl FnOnce() -> U,
    ) -> U {
        let upgradable = self.tracked.upgradable();
        let mut suspended = self.tracked.suspend(false);
        let tracked = &mut self.tracked;
        let mut f = Some(f);
        let mut out = None;
        unlock(&mut self.inner, &mut || {
            // Put back also if `f` panics: the real guard relocks while the panic leaves
            // `unlocked`, and the guard may outlive it (a `catch_unwind` around the call).
            // (No report panics while a panic unwinds: see `report::sink`.)
            let _resume = Defer::new(|| {
                if let Some((map, waiting)) = suspended.take() {
                    *tracked = resumed(map, waiting, site, upgradable);
                }
            });
            if let Some(f) = f.take() {
                out = Some(f());
            }
        });
        out.expect("unlocked: the closure ran")
    }

    /// `bump` for any guard: the release and the re-acquisition are recorded (and validated)
    /// first, then the real lock is handed over to a waiting thread and taken back.
    pub(crate) fn bump_with(
        &mut self,
        site: &'static Location<'static>,
        bump: impl FnOnce(&mut G),
    ) {
        let upgradable = self.tracked.upgradable();
        if let Some((map, waiting)) = self.tracked.suspend(true) {
            self.tracked = resumed(map, waiting, site, upgradable);
        }
        bump(&mut self.inner);
    }

    /// `unlocked*` for a guard that unlocks through its raw lock (the arc guards): `unlock`
    /// releases the real lock, `relock` takes it back (also if `f` panics: the guard still
    /// owns the lock when it unwinds), with the held state as in
    /// [`unlocked_with`](Self::unlocked_with).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn unlocked_raw<U>(
        &mut self,
        site: &'static Location<'static>,
        unlock: impl FnOnce(&G),
        relock: impl FnOnce(&G),
        f: impl FnOnce() -> U,
    ) -> U {
        self.unlocked_with(
            site,
            |g, body| {
                let g = &*g;
                unlock(g);
                let _relock = Defer::new(|| relock(g));
                body();
            },
            f,
        )
    }

    /// Ends the guard without unlocking: the acquisition stays recorded as held.
    pub(crate) fn leak_inner(self) -> G {
        self.into_parts().1
    }
}

/// A timed upgrade recorded by [`Guard::rerecord_exclusive_timed`] is over (timed out, or the
/// closure run upgraded returned): the guard is the upgradable reader of `map`'s lock again,
/// its entry a reader's in place — or recorded afresh (a trylock: nothing blocks) if the
/// timed validation left it unrecorded (a certain self-deadlock, reported).
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
pub(crate) fn back_to_upgradable<'a>(
    tracked: &mut Tracked<'a>,
    map: Option<&'a DepMap>,
    site: &'static Location<'static>,
) {
    match (tracked.map(), map) {
        (None, Some(map)) => {
            *tracked = map.acquired_try(Read::Shared, site);
            tracked.mark_upgradable();
        }
        _ => tracked.change_to_upgradable(),
    }
}

/// The token of a lock taken back after `unlocked*` / `bump` (see [`Tracked::resume`]): held
/// as before, so still as the upgradable reader if it was (`upgradable`).
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
fn resumed<'a>(
    map: &'a DepMap,
    waiting: crate::dep_map::Suspended,
    site: &'static Location<'static>,
    upgradable: bool,
) -> Tracked<'a> {
    let mut tracked = Tracked::resume(map, waiting, site);
    if upgradable {
        tracked.mark_upgradable();
    }
    tracked
}

/// Runs a closure when dropped (on return or unwind).
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
pub(crate) struct Defer<F: FnOnce()>(Option<F>);

#[cfg_attr(loom, allow(dead_code))]
impl<F: FnOnce()> Defer<F> {
    pub(crate) fn new(f: F) -> Self {
        Defer(Some(f))
    }
}

impl<F: FnOnce()> Drop for Defer<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl<G: Deref, M: GuardKind> Deref for Guard<'_, G, M> {
    type Target = G::Target;
    #[inline]
    fn deref(&self) -> &G::Target {
        &self.inner
    }
}

impl<G: DerefMut, M: GuardKind> DerefMut for Guard<'_, G, M> {
    #[inline]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.inner
    }
}

impl<G, M: GuardKind> Drop for Guard<'_, G, M> {
    #[inline(always)]
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // Record the release first, then unlock. The common case (the entry on top of this
        // thread's stack, popped in place) is inline and cannot unwind, so the whole drop
        // inlines into the caller as parking_lot's does (drop glue with an unwinding edge
        // stayed out of line: the guard went through memory, a store-forwarding stall per
        // lock). Anything else (which may report and run the report hook) goes out of line,
        // where the unlock is made unwind-safe.
        if self.tracked.release_fast() {
            // SAFETY: `inner` is dropped exactly once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        } else {
            // The token goes as scalars, the inner guard by value: passed by reference, they
            // would have to be in memory, and the hot path would store the whole guard on
            // every acquisition for this cold call's sake.
            // SAFETY: `inner` is taken exactly once, here, and never used again.
            let inner = unsafe { ManuallyDrop::take(&mut self.inner) };
            let (map, packed, holder) = self.tracked.to_scalars();
            release_slow_then_unlock::<G, M>(map, packed, holder, inner);
        }
    }
}

/// The guard's drop when the fast release did not apply: records the release (which may
/// report), then unlocks (drops `inner`), also if the release unwinds.
#[cold]
#[inline(never)]
fn release_slow_then_unlock<G, M: GuardKind>(
    map: Option<&crate::dep_map::DepMap>,
    packed: u64,
    holder: crate::dep_map::TokenHolder,
    inner: G,
) {
    let unlock = Defer::new(move || drop(inner));
    Tracked::<'_, M>::from_scalars((map, packed, holder)).release_slow_path();
    drop(unlock);
}

impl<G: Deref, M: GuardKind> fmt::Debug for Guard<'_, G, M>
where
    G::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<G: Deref, M: GuardKind> fmt::Display for Guard<'_, G, M>
where
    G::Target: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<G, M: GuardKind> Sealed for Guard<'_, G, M> {}
impl<G, M: GuardKind> Held for Guard<'_, G, M> {
    fn held_handle(&self) -> LockHandle<'_> {
        LockHandle::of_guard(&self.tracked)
    }
}

#[cfg(not(loom))]
pub use arc::{ArcLockable, ArcLocked, Exclusive, Reentrant, Shared, Upgradable};

/// Guards that own an `Arc` of their lock (parking_lot's `arc_lock` feature): the guard is a
/// [`Guard`] over an [`ArcLocked`], which keeps the lock alive and unlocks it on drop.
#[cfg(not(loom))]
mod arc {
    use std::marker::PhantomData;
    use std::mem::ManuallyDrop;
    use std::ops::{Deref, DerefMut};
    use std::sync::Arc;

    use crate::dep_map::Tracked;
    use crate::sync::real::lock_api;

    /// parking_lot's guard marker: `Send` with its `send_guard` feature.
    type GuardMarker = <crate::sync::real::RawMutex as lock_api::RawMutex>::GuardMarker;

    /// Mode marker of an arc guard: held exclusively.
    #[derive(Debug)]
    pub struct Exclusive;
    /// Mode marker of an arc guard: held shared (a read guard).
    #[derive(Debug)]
    pub struct Shared;
    /// Mode marker of an arc guard: held as an upgradable reader.
    #[derive(Debug)]
    pub struct Upgradable;
    /// Mode marker of an arc guard: one level of a reentrant mutex (shared access only). Its
    /// arc guards are never `Send` (parking_lot's neither: the level belongs to the thread).
    #[derive(Debug)]
    pub struct Reentrant(PhantomData<*const ()>);

    /// A lock that an arc guard can hold in mode `M` (implemented by this crate's locks).
    #[doc(hidden)]
    #[allow(unsafe_code)]
    pub trait ArcLockable<M> {
        /// The data type.
        type Target: ?Sized;
        /// Pointer to the data.
        fn data(&self) -> *mut Self::Target;
        /// Unlocks the real lock held in mode `M`.
        ///
        /// # Safety
        /// The lock must be held in mode `M` by the guard calling this.
        unsafe fn unlock_mode(&self);
    }

    /// The real part of an arc guard: the `Arc` of a lock held in mode `M`. Dropping it
    /// unlocks the lock.
    pub struct ArcLocked<L: ArcLockable<M> + ?Sized, M> {
        lock: ManuallyDrop<Arc<L>>,
        /// `Send` exactly when parking_lot's arc guards are (its `send_guard` feature: the
        /// raw lock may then be unlocked by another thread), never for a `Reentrant` level.
        /// (A validated guard is `!Send` anyway: see [`Local`](crate::guard::Local).)
        mode: PhantomData<(M, GuardMarker)>,
    }

    impl<L: ArcLockable<M> + ?Sized, M> ArcLocked<L, M> {
        /// # Safety
        /// `lock` must be held in mode `M`; the result unlocks it once.
        #[allow(unsafe_code)]
        pub(crate) unsafe fn new(lock: Arc<L>) -> Self {
            ArcLocked {
                lock: ManuallyDrop::new(lock),
                mode: PhantomData,
            }
        }

        pub(crate) fn lock(&self) -> &Arc<L> {
            &self.lock
        }

        /// The `Arc`, without unlocking (the caller takes over the lock's state).
        #[allow(unsafe_code)]
        pub(crate) fn into_arc_locked(self) -> Arc<L> {
            let mut this = ManuallyDrop::new(self);
            // SAFETY: `this` is never dropped, so the Arc is moved out exactly once.
            unsafe { ManuallyDrop::take(&mut this.lock) }
        }

        /// The token of an acquisition of the lock in this `Arc`, made valid for as long as
        /// the arc guard that will own it (which releases it before dropping the `Arc`).
        #[allow(unsafe_code)]
        pub(crate) fn extend<K>(lock: &Arc<L>, t: Tracked<'_, K>) -> Tracked<'static, K> {
            let _ = lock;
            // SAFETY: the DepMap lives in the Arc's allocation, which does not move, and the
            // guard holding this token keeps the Arc alive until after it has released the
            // token (`Guard::drop` releases before its fields drop).
            unsafe { std::mem::transmute::<Tracked<'_, K>, Tracked<'static, K>>(t) }
        }
    }

    impl<L: ArcLockable<M> + ?Sized, M> Drop for ArcLocked<L, M> {
        #[allow(unsafe_code)]
        fn drop(&mut self) {
            // SAFETY: constructed holding the lock in mode `M` (see `new`); unlocked once here.
            unsafe {
                self.lock.unlock_mode();
                ManuallyDrop::drop(&mut self.lock);
            }
        }
    }

    impl<L: ArcLockable<M> + ?Sized, M> Deref for ArcLocked<L, M> {
        type Target = L::Target;
        #[allow(unsafe_code)]
        fn deref(&self) -> &L::Target {
            // SAFETY: the lock is held (in a mode that allows reading) while this exists.
            unsafe { &*self.lock.data() }
        }
    }

    impl<L: ArcLockable<Exclusive> + ?Sized> DerefMut for ArcLocked<L, Exclusive> {
        #[allow(unsafe_code)]
        fn deref_mut(&mut self) -> &mut L::Target {
            // SAFETY: the lock is held exclusively while this exists.
            unsafe { &mut *self.lock.data() }
        }
    }

    // SAFETY: like lock_api's arc guards: sharing the guard shares `&T` (and the `Arc`).
    #[allow(unsafe_code)]
    unsafe impl<L: ArcLockable<M> + ?Sized + Send + Sync, M> Sync for ArcLocked<L, M> where
        L::Target: Sync
    {
    }
}

/// Blocks on the real lock: `lock()`, unless the acquisition's order has known problems (a
/// report was raised for it, now or before). Then the deadlock the report predicts may really
/// be happening: this waits at most the deadlock timeout (`LOCKDEP_DEADLOCK_TIMEOUT`, seconds,
/// 10 by default; `0` waits for ever) through `try_for`, and panics — after recording the
/// release — if the lock has not come by then. A test that hit a real deadlock fails instead
/// of hanging the run.
#[inline]
#[track_caller]
pub(crate) fn block<'a, G>(
    tracked: Tracked<'a>,
    lock: impl FnOnce() -> G,
    try_for: impl FnOnce(std::time::Duration) -> Option<G>,
) -> (Tracked<'a>, G) {
    // The token goes in and out by value: taking its address would keep it in memory, and
    // moving it into the guard would then cost a store-forwarding stall on the hot path.
    #[cfg(all(not(loom), lockdep_enabled))]
    if tracked.watch() {
        // Out of line, and given nothing of the token: the token's words stay in registers
        // on every path (a token returned from a call comes back through memory, and the
        // paths merging would keep it there).
        return match block_watched(lock, try_for) {
            Ok(guard) => (tracked, guard),
            Err(limit) => give_up(tracked, limit),
        };
    }
    #[cfg(any(loom, not(lockdep_enabled)))]
    let _ = try_for;
    let guard = lock();
    (tracked, guard)
}

/// [`block`] with the deadline (none: wait for ever): the guard, or the limit waited in vain.
#[cfg(all(not(loom), lockdep_enabled))]
#[cold]
#[inline(never)]
fn block_watched<G>(
    lock: impl FnOnce() -> G,
    try_for: impl FnOnce(std::time::Duration) -> Option<G>,
) -> Result<G, std::time::Duration> {
    let Some(limit) = crate::mode::deadlock_timeout() else {
        return Ok(lock());
    };
    try_for(limit).ok_or(limit)
}

/// The lock did not come within the deadlock timeout `limit`: records the release and panics.
#[cfg(all(not(loom), lockdep_enabled))]
#[cold]
#[inline(never)]
#[track_caller]
fn give_up(mut tracked: Tracked<'_>, limit: std::time::Duration) -> ! {
    let name = tracked.map().map(DepMap::name).unwrap_or_default();
    tracked.release();
    panic!(
        "lockdep: deadlock: this thread waited {} s for {name}, taken in an order reported above \
         as a possible deadlock; giving up (LOCKDEP_DEADLOCK_TIMEOUT sets the wait, 0 waits for \
         ever)",
        limit.as_secs_f64()
    );
}

/// A wait with known problems (a `CircularWait` was reported for it, now or before: a join,
/// a wait for another thread's initializer): the deadlock predicted may really be happening.
/// Waits at most the deadlock timeout (`LOCKDEP_DEADLOCK_TIMEOUT`; `0` for ever) for `over`
/// (the wait would end now), then panics, as an acquisition in a reported order does (see
/// [`block`]): a test that hit a real deadlock fails instead of hanging the run. Where a panic
/// would abort the process (unwinding already, a thread-local destructor) it returns, and the
/// caller waits on. `what` completes "this thread waited N s …".
#[cfg(not(loom))]
#[track_caller]
pub(crate) fn give_up_unless(what: &str, over: impl Fn() -> bool) {
    #[cfg(lockdep_enabled)]
    {
        let Some(limit) = crate::mode::deadlock_timeout() else {
            return;
        };
        let done = poll_for(limit, || over().then_some(())).is_some();
        if !done && crate::validator::may_panic_here() {
            panic!(
                "lockdep: deadlock: this thread waited {} s {what}, a wait reported above as a \
                 possible deadlock; giving up (LOCKDEP_DEADLOCK_TIMEOUT sets the wait, 0 waits \
                 for ever)",
                limit.as_secs_f64()
            );
        }
    }
    #[cfg(not(lockdep_enabled))]
    let _ = (what, over);
}

/// `try_for` for a lock with only a `try_lock`: polls until the deadline.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn poll_for<G>(
    limit: std::time::Duration,
    mut try_lock: impl FnMut() -> Option<G>,
) -> Option<G> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(g) = try_lock() {
            return Some(g);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
