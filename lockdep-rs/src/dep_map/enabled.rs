//! The lock's handle with validation on ([`DepMap`]): its class source, resolved class and
//! instance id, and every way an acquisition, a release or a wait reaches the validator. The
//! guard's token is [`token`].

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use once_cell::race::OnceRef;

/// Source of instance ids (0 means "not assigned yet").
static NEXT_INSTANCE: AtomicUsize = AtomicUsize::new(1);

/// Where a token's serial starts, above the upgradable bit, the watch bit and the two
/// read bits.
const SERIAL_SHIFT: u32 = 4;
/// A token's watch bit.
const WATCH_BIT: u64 = 1 << 2;
/// A token's upgradable bit: its guard holds the lock as the lock's upgradable reader
/// (recorded as a reader: see [`Tracked::mark_upgradable`]).
const UPGRADABLE_BIT: u64 = 1 << 3;

/// Set in a lock's id word once it was taken while the mode was `Off` (unrecorded): a
/// release the validator cannot match may then be that acquisition's.
const TAKEN_WHILE_OFF: usize = 1 << (usize::BITS - 1);
/// Set in a lock's id word by the lock's own `Drop` (through `&mut`, no atomic operation)
/// when its real lock is still locked as it is dropped: someone holds it (a forgotten or
/// leaked guard), maybe another thread (see [`validator::lock_freed`]).
const LOCKED_AT_DROP: usize = 1 << (usize::BITS - 2);
/// Where a pseudo-lock's or an event's count of its holders is kept in the id word (see
/// [`DepMap::count_hold`]): 6 bits below the two flags; all ones is saturated (counted as
/// held for good).
const HOLDS_SHIFT: u32 = usize::BITS - 8;
const HOLDS_MAX: usize = 0x3F;
const HOLDS_MASK: usize = HOLDS_MAX << HOLDS_SHIFT;
/// The instance id's bits of the id word (instance ids stay below `2^(BITS - 8)`).
const ID_MASK: usize = (1 << HOLDS_SHIFT) - 1;

use super::Read;
#[cfg(all(feature = "tokio", not(loom)))]
use super::Sendable;
use super::{GuardKind, Level, Local, Nest};
use crate::class::{ClassInfo, ClassSource, LockClass, LockKind, Maker, MAX_SUBCLASSES};
use crate::fast_path::HolderTag;
use crate::held_locks::Instance;
use crate::mode::{mode, Mode};
use crate::validator::{self, Request, WaitingEntry};

/// A nest lock's name, made when a report needs it.
type NestName<'a> = &'a dyn Fn() -> String;

/// The nest lock of a fresh acquisition, for the validator: its instance, whether it is
/// held as the upgradable reader, and its name for a report if it is not held (none: no
/// such report).
struct NestRequest<'a> {
    instance: Instance,
    upgradable: bool,
    name: Option<NestName<'a>>,
}

/// What [`Tracked::suspend`] took out of the held state.
pub(crate) enum Suspended {
    /// The entry, to be put back exactly as it was.
    Entry(WaitingEntry),
    /// Nothing: the entry was on another holder's stack and was released there; the lock
    /// is taken again as a fresh acquisition as it was held: read kind, subclass, nest
    /// lock's instance.
    #[cfg(lockdep_tasks)]
    Released(Read, u8, Option<Instance>),
}

/// A lock's validator handle.
pub(crate) struct DepMap {
    source: ClassSource,
    class: OnceRef<'static, ClassInfo>,
    /// The instance id, assigned on first use, the [`TAKEN_WHILE_OFF`] and
    /// [`LOCKED_AT_DROP`] bits and (pseudo-locks, events) the count of holders. Not the
    /// address: a lock may be moved while a forgotten guard still counts it as held, and
    /// must still be recognised.
    id: AtomicUsize,
}

impl DepMap {
    /// A lock built at `loc` whose data is a `T` (the type splits the site's class only
    /// under the lenient policy).
    pub(crate) const fn site<T: ?Sized>(loc: &'static Location<'static>, kind: LockKind) -> DepMap {
        DepMap::with_source(ClassSource::Site(loc, kind, std::any::type_name::<T>))
    }
    pub(crate) const fn named(
        loc: &'static Location<'static>,
        name: &'static str,
        kind: LockKind,
    ) -> DepMap {
        DepMap::with_source(ClassSource::Named(loc, name, kind))
    }
    /// A lock built by `Default` or `From` at `loc` (see [`Maker`]) whose data is a `T`.
    pub(crate) const fn made<T: ?Sized>(
        loc: &'static Location<'static>,
        kind: LockKind,
        maker: Maker,
    ) -> DepMap {
        DepMap::with_source(ClassSource::Made(
            loc,
            kind,
            maker,
            std::any::type_name::<T>,
        ))
    }
    pub(crate) const fn class(class: &'static LockClass) -> DepMap {
        DepMap::with_source(ClassSource::Static(class))
    }
    /// A pseudo-lock (`LockMap`): validated like a lock, never blocks.
    pub(crate) const fn pseudo(loc: &'static Location<'static>, name: &'static str) -> DepMap {
        DepMap::with_source(ClassSource::Pseudo(loc, name))
    }
    /// An event; `depth` separates nested events of one site (thread exits).
    pub(crate) const fn event(
        loc: &'static Location<'static>,
        name: &'static str,
        depth: u32,
    ) -> DepMap {
        DepMap::with_source(ClassSource::Event(loc, name, depth))
    }
    /// A condvar's event (see [`ClassSource::Condvar`]).
    pub(crate) const fn condvar(loc: &'static Location<'static>) -> DepMap {
        DepMap::with_source(ClassSource::Condvar(loc))
    }
    /// A one-time cell's event (see [`ClassSource::Cell`]).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) const fn cell(loc: &'static Location<'static>, name: &'static str) -> DepMap {
        DepMap::with_source(ClassSource::Cell(loc, name))
    }
    /// Drop-in addition: a raw lock's handle; each instance is its own class `kind#id`.
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) const fn per_instance(kind: &'static str) -> DepMap {
        DepMap::with_source(ClassSource::Instance(kind))
    }
    /// Drop-in addition (`const_new(raw, ..)`): this handle if its class has a source,
    /// else (a raw lock made by `INIT`, per-instance) a handle whose class is `site`, for
    /// a lock of the kind `kind` over `T`s.
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) const fn or_site<T: ?Sized>(
        self,
        site: &'static Location<'static>,
        kind: LockKind,
    ) -> DepMap {
        match self.source {
            ClassSource::Instance(_) => {
                // Never used: nothing to release (its class is resolved on first use).
                std::mem::forget(self);
                DepMap::site::<T>(site, kind)
            }
            _ => self,
        }
    }
    const fn with_source(source: ClassSource) -> DepMap {
        DepMap {
            source,
            class: OnceRef::new(),
            id: AtomicUsize::new(0),
        }
    }

    /// The lock's instance identity.
    #[inline]
    pub(crate) fn instance(&self) -> Instance {
        let id = self.id.load(Ordering::Relaxed) & ID_MASK;
        if id != 0 {
            return id;
        }
        self.assign_instance()
    }

    #[cold]
    fn assign_instance(&self) -> Instance {
        let new = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let mut current = self.id.load(Ordering::Relaxed);
        loop {
            if current & ID_MASK != 0 {
                return current & ID_MASK; // another thread assigned it
            }
            match self.id.compare_exchange_weak(
                current,
                current | new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return new,
                Err(now) => current = now,
            }
        }
    }

    /// Was this lock ever taken while the mode was `Off` (so not recorded)?
    fn taken_while_off(&self) -> bool {
        self.id.load(Ordering::Relaxed) & TAKEN_WHILE_OFF != 0
    }

    #[cold]
    fn note_taken_while_off(&self) {
        self.id.fetch_or(TAKEN_WHILE_OFF, Ordering::Relaxed);
    }

    /// The lock's own `Drop`: its real lock is still locked (a guard of it was forgotten or
    /// leaked, by this thread or another), so the handle's drop must find out who holds it.
    /// (Through `&mut`: a plain write, read back by this handle's `Drop` right after.)
    #[cfg_attr(loom, allow(dead_code))] // loom builds leave out the raw locks that call it
    pub(crate) fn mark_locked_at_drop(&mut self) {
        *self.id.get_mut() |= LOCKED_AT_DROP;
    }

    /// A pseudo-lock (`LockMap`) or an event has one more holder (an acquisition recorded,
    /// an arming): with no real lock to ask, its drop learns from this count whether anyone
    /// holds it. Saturates (then counted as held for good: a drop that consults the freed
    /// registry for nothing, never one that misses a holder).
    pub(crate) fn count_hold(&self) {
        let _ = self
            .id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let n = (w & HOLDS_MASK) >> HOLDS_SHIFT;
                (n < HOLDS_MAX).then(|| w + (1 << HOLDS_SHIFT))
            });
    }

    /// Does some thread hold this pseudo-lock or have this event armed now (see
    /// [`count_hold`](Self::count_hold))? `None` once the count saturated (it cannot tell).
    #[cfg_attr(loom, allow(dead_code))] // used by the one-time cells, which loom builds leave out
    pub(crate) fn held_anywhere(&self) -> Option<bool> {
        let n = (self.id.load(Ordering::Relaxed) & HOLDS_MASK) >> HOLDS_SHIFT;
        (n < HOLDS_MAX).then_some(n > 0)
    }

    /// One holder fewer (see [`count_hold`](Self::count_hold)); a saturated count stays.
    pub(crate) fn count_release(&self) {
        let _ = self
            .id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let n = (w & HOLDS_MASK) >> HOLDS_SHIFT;
                (n > 0 && n < HOLDS_MAX).then(|| w - (1 << HOLDS_SHIFT))
            });
    }

    /// The class name shown for this lock (subclass 0): its class's once resolved; a raw
    /// lock's (its own class, `kind#instance`) from its instance id even before.
    pub(crate) fn name(&self) -> String {
        if let Some(class) = self.class.get() {
            return class.display_name();
        }
        match self.source {
            ClassSource::Instance(kind) => format!("{kind}#{}", self.instance()),
            source => source.name(),
        }
    }

    /// Resolves the class now and counts this lock as a live instance of it.
    pub(crate) fn register(&self) {
        let _ = self.base_class();
    }

    /// Resolves the subclass-0 class once; then one atomic load. The first resolution
    /// counts this lock as an instance of its class.
    #[inline]
    fn base_class(&self) -> &'static ClassInfo {
        match self.class.get() {
            Some(info) => info,
            None => self.resolve_slow(),
        }
    }

    #[cold]
    fn resolve_slow(&self) -> &'static ClassInfo {
        let info = match self.source {
            ClassSource::Instance(kind) => crate::class::instance_class(kind, self.instance()),
            source => source.resolve(),
        };
        match self.class.set(info) {
            Ok(()) => {
                if info.instance_born() {
                    crate::chain_cache::clear();
                }
                info
            }
            // Another thread resolved it first (to the same class) and counted it.
            Err(()) => self.class.get().unwrap_or(info),
        }
    }

    /// Validates an acquisition before the caller blocks on the real lock.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn acquire(
        &self,
        read: Read,
        subclass: u8,
        nest: Option<Nest<'_>>,
        site: &'static Location<'static>,
    ) -> Tracked<'_> {
        self.record(read, subclass, false, nest, site, false)
    }

    /// Validates a timed acquisition (`try_lock_for`) before the caller blocks with a
    /// deadline: as [`acquire`](Self::acquire), but re-locking a lock this thread holds
    /// is reported without a panic and left unrecorded (the real wait times out).
    #[inline(always)]
    #[track_caller]
    #[cfg_attr(loom, allow(dead_code))] // loom's locks have no clock
    pub(crate) fn acquire_timed(
        &self,
        read: Read,
        site: &'static Location<'static>,
    ) -> Tracked<'_> {
        // A fast-path hit is never a lock this thread holds (see `record_fast`), the one
        // case a timed acquisition treats differently. (The fast path is closed in `Off`
        // mode: see `record`.)
        let (packed, holder) = match self.record_fast(read, site, false) {
            Some(words) => words,
            None if mode() == Mode::Off => {
                return self.record(read, 0, false, None, site, false);
            }
            None => self.record_slow_timed(read, site, true),
        };
        Tracked::from_words(self, packed, holder)
    }

    /// Records a successful trylock (no validation: a trylock cannot block).
    #[inline]
    #[track_caller]
    pub(crate) fn acquired_try(&self, read: Read, site: &'static Location<'static>) -> Tracked<'_> {
        self.record(read, 0, true, None, site, false)
    }

    /// An async lock's acquisition (`lockdep::tokio`), validated before the caller waits:
    /// its token is `Send`, and releases the entry from its holder's stack wherever it is
    /// dropped.
    #[cfg(all(feature = "tokio", not(loom)))]
    #[inline]
    #[track_caller]
    pub(crate) fn acquire_async(
        &self,
        read: Read,
        subclass: u8,
        site: &'static Location<'static>,
    ) -> Tracked<'_, Sendable> {
        self.record(read, subclass, false, None, site, true)
    }

    /// A successful async trylock, recorded (not validated).
    #[cfg(all(feature = "tokio", not(loom)))]
    #[inline]
    #[track_caller]
    pub(crate) fn acquired_try_async(
        &self,
        read: Read,
        site: &'static Location<'static>,
    ) -> Tracked<'_, Sendable> {
        self.record(read, 0, true, None, site, true)
    }

    /// Drop-in addition (`make_*_guard_unchecked`): this thread holds the lock already,
    /// through a forgotten guard or the raw lock, and a new guard takes it over. The record
    /// of it (if any) is taken off and the lock recorded again on top of the held stack,
    /// as a trylock (the guard's creation does not block); with no record (the lock was
    /// taken while the mode was `Off`) it is simply recorded now. The guard's drop
    /// releases it as any guard's.
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    #[track_caller]
    pub(crate) fn adopt(&self, read: Read, site: &'static Location<'static>) -> Tracked<'_> {
        if self.is_held() {
            let _ = self.force_release(Some(read.is_shared()), site);
        }
        self.acquired_try(read, site)
    }

    #[inline(always)]
    #[track_caller]
    fn record<M>(
        &self,
        read: Read,
        subclass: u8,
        trylock: bool,
        nest: Option<Nest<'_>>,
        site: &'static Location<'static>,
        sendable: bool,
    ) -> Tracked<'_, M> {
        // A plain acquisition of a resolved lock tries the fast path inline; everything
        // else is one call away. The fast path checks no mode: it is closed in `Off` mode
        // (see `crate::stamp`), so the mode is looked at only when it misses.
        let fast = if subclass == 0 && !trylock && nest.is_none() {
            self.record_fast(read, site, sendable)
        } else {
            None
        };
        // Both paths give the token's words as scalars and the token is built here: a
        // token returned through memory (the slow path's, 24 bytes with the `tokio`
        // feature) and then moved into the guard costs a store-forwarding stall.
        let (packed, holder) = match fast {
            Some(words) => words,
            None => {
                if mode() == Mode::Off {
                    if !self.taken_while_off() {
                        self.note_taken_while_off();
                    }
                    return Tracked::untracked();
                }
                self.record_slow(read, subclass, trylock, nest, site, sendable)
            }
        };
        Tracked::from_words(self, packed, holder)
    }

    /// The fast path for a plain acquisition of a resolved lock: the token's words, or
    /// `None` for the slow path. A hit means this thread holds no lock of this class (a
    /// chain holding one class twice never enters the recent slots), so it cannot be a
    /// re-acquisition of a held lock.
    #[inline(always)]
    fn record_fast(
        &self,
        read: Read,
        site: &'static Location<'static>,
        sendable: bool,
    ) -> Option<(Option<NonZeroU64>, HolderTag)> {
        let id = self.id.load(Ordering::Relaxed) & ID_MASK;
        let class = self.class.get().filter(|_| id != 0)?;
        let (serial, holder) = crate::fast_path::acquire_fast(class, id, read, site, sendable)?;
        Some((
            NonZeroU64::new(serial << SERIAL_SHIFT | read as u64),
            holder,
        ))
    }

    /// Everything but the fast path: resolving the class and instance, subclasses,
    /// trylocks, nest locks, the chain caches and validation. Returns the token's words
    /// (two registers; the caller builds the token).
    #[inline(never)]
    #[track_caller]
    fn record_slow(
        &self,
        read: Read,
        subclass: u8,
        trylock: bool,
        nest: Option<Nest<'_>>,
        site: &'static Location<'static>,
        sendable: bool,
    ) -> (Option<NonZeroU64>, HolderTag) {
        let nest_name = || nest.map(|n| n.map.name()).unwrap_or_default();
        let nest = nest.map(|n| NestRequest {
            instance: n.map.instance(),
            upgradable: n.upgradable,
            name: Some(&nest_name as NestName<'_>),
        });
        let t: Tracked<'_> =
            self.record_request(read, subclass, trylock, nest, site, false, sendable);
        (NonZeroU64::new(t.1), t.2)
    }

    /// The slow path of a timed acquisition (its token's words, as `record_slow`).
    #[inline(never)]
    #[track_caller]
    #[cfg_attr(loom, allow(dead_code))]
    fn record_slow_timed(
        &self,
        read: Read,
        site: &'static Location<'static>,
        timed: bool,
    ) -> (Option<NonZeroU64>, HolderTag) {
        let t: Tracked<'_> = self.record_request(read, 0, false, None, site, timed, false);
        (NonZeroU64::new(t.1), t.2)
    }

    /// A fresh acquisition through the validator, under the nest lock `nest` if any.
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    fn record_request<M>(
        &self,
        read: Read,
        subclass: u8,
        trylock: bool,
        nest: Option<NestRequest<'_>>,
        site: &'static Location<'static>,
        timed: bool,
        sendable: bool,
    ) -> Tracked<'_, M> {
        if crate::sync::internal::inside() {
            // Re-entered from inside lockdep (an allocator taking lockdep locks): stand
            // aside, untracked, rather than resolve or validate on top of ourselves.
            return Tracked::untracked();
        }
        if subclass >= MAX_SUBCLASSES {
            validator::invalid_subclass(self.name(), subclass, site);
            // Not validated, but recorded (as subclass 0, unvalidated as a trylock is): the
            // lock is held, so re-locking it is caught as the certain self-deadlock it is,
            // and what is taken under it is ordered after it. A lock this thread holds
            // already goes through the full check (the self-deadlock report and panic).
            let trylock = trylock || !validator::is_held(self.instance());
            return self.record_request(read, 0, trylock, nest, site, timed, sendable);
        }
        let class = self.base_class().subclass(subclass);
        let tracked = validator::acquire(
            class,
            self.instance(),
            Request {
                read,
                trylock,
                nest: nest.as_ref().map(|n| n.instance),
                nest_upgradable: nest.as_ref().is_some_and(|n| n.upgradable),
                nest_name: nest.and_then(|n| n.name),
                reserial: 0,
                site,
                fresh: true,
                no_merge: false,
                retake: false,
                unlocked: false,
                timed,
                sendable,
            },
        );
        match tracked {
            Some(a) => Tracked::new(self, a.serial, read, current_tag()).watched(a.watch),
            None => Tracked::untracked(),
        }
    }

    /// `force_unlock*`: releases this thread's record of the lock held in a mode matching
    /// `shared` (None: any), in every mode (an entry recorded before a switch to `Off`
    /// must still come off). Returns false, after a `BadUnlockBalance` report, if this
    /// thread does not hold it; the caller must then leave the real lock alone.
    #[track_caller]
    pub(crate) fn force_release(
        &self,
        shared: Option<bool>,
        site: &'static Location<'static>,
    ) -> bool {
        validator::release(
            self.instance(),
            &|h| shared.is_none_or(|s| s == h.read().is_shared()),
            None,
            self.taken_while_off() || mode() == Mode::Off,
            || (self.name(), site),
            Some(site),
        )
    }

    /// Is this lock held by the calling thread (per the validator)?
    pub(crate) fn is_held(&self) -> bool {
        validator::is_held(self.instance())
    }

    /// Is this lock, of which the caller has a guard, held (per the validator)? By the
    /// calling holder, or (`lockdep_tasks`) through the stack of a local task that ended on
    /// this thread and left the guard to its output or to another holder of the thread.
    pub(crate) fn guard_held(&self) -> bool {
        // (`is_held` first: it settles the holder, parking a task's stack left loaded here.)
        #[cfg(lockdep_tasks)]
        return self.is_held() || validator::holder::held_by_ended_task(self.instance());
        #[cfg(not(lockdep_tasks))]
        self.is_held()
    }

    /// Does the calling task (or thread) hold this lock in a mode an acquisition in mode
    /// `read` would wait for, and through what guard? (Async locks: see
    /// `tokio::watch::other_branch`.)
    #[cfg(all(feature = "tokio", not(loom)))]
    pub(crate) fn held_conflicting(&self, read: Read) -> validator::holder::Conflict {
        if mode() == Mode::Off {
            return validator::holder::Conflict::None;
        }
        validator::holder::holds_conflicting(self.instance(), read)
    }

    /// What the public `is_held` says: `Some(held)`, or `None` when lockdep cannot tell
    /// (the mode is `Off`, so acquisitions are not recorded).
    pub(crate) fn held_state(&self) -> Option<bool> {
        (mode() != Mode::Off).then(|| self.is_held())
    }

    /// An event: about to wait for it (edges from every held lock; not kept held).
    #[track_caller]
    pub(crate) fn wait_event(&self, site: &'static Location<'static>) {
        self.acquire(Read::Exclusive, 0, None, site).release();
    }

    /// [`wait_event`](Self::wait_event), saying whether the wait's order has known problems
    /// (a report was raised for it, now or before): then the caller should not wait for ever.
    #[track_caller]
    #[cfg_attr(loom, allow(dead_code))] // loom's threads have no `is_finished`
    pub(crate) fn wait_event_watched(&self, site: &'static Location<'static>) -> bool {
        let mut tracked = self.acquire(Read::Exclusive, 0, None, site);
        let watch = tracked.watch();
        tracked.release();
        watch
    }

    /// An event: armed by this thread (held as a recursive-read trylock: it gets no
    /// incoming edges, and every later acquisition gets an edge from it).
    #[track_caller]
    pub(crate) fn arm_event(&self, site: &'static Location<'static>) {
        if !self.is_held() {
            let armed = self.record::<Local>(Read::Recursive, 0, true, None, site, false);
            if armed.map().is_some() {
                self.count_hold();
            }
        }
    }

    /// An event: signalled; ends the armed span if this thread armed it (in every mode).
    #[track_caller]
    pub(crate) fn signal_event(&self, site: &'static Location<'static>) {
        if self.is_held() {
            if self.force_release(None, site) {
                self.count_release();
            }
        } else if validator::take_forgotten(self.instance()) {
            // Armed across `reset()`, which forgot the entry: its holder goes all the same.
            self.count_release();
        }
    }

    /// An event this thread armed, whose armed span ended without a signal as the thread's
    /// validator state went away (a `lockdep::thread`'s exit event): one holder fewer.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn disarmed_at_exit(&self) {
        self.count_release();
    }

    /// A pseudo-lock's acquisition (`LockMap`): recorded, and counted as held (see
    /// [`count_hold`](Self::count_hold)) if tracked.
    #[track_caller]
    pub(crate) fn acquire_pseudo(&self, read: Read, site: &'static Location<'static>) {
        // The record outlives this call (`Tracked` has no drop glue): the release finds it by
        // instance.
        if self.acquire(read, 0, None, site).map().is_some() {
            self.count_hold();
        }
    }

    /// A pseudo-lock's release (`LockMap`): as [`force_release`](Self::force_release), one
    /// holder fewer if this thread held it.
    #[track_caller]
    pub(crate) fn release_pseudo(&self, site: &'static Location<'static>) {
        if self.is_held() {
            if self.force_release(None, site) {
                self.count_release();
            }
        } else if validator::take_forgotten(self.instance()) {
            // Held across `reset()`, which forgot the entry: no unbalanced unlock.
            self.count_release();
        } else {
            self.force_release(None, site); // reports the unbalanced unlock
        }
    }
}

// A lock's handle: its class, resolved once, and its instance id. A panic cannot leave
// them half-updated (each is one atomic store), so the locks and the guards that refer to
// it are unwind-safe as their std twins are. `UnwindSafe` too: the handle owns nothing a
// panic could leave broken (its class source, a `&'static LockClass`, is such a cache
// too), so a lock is `UnwindSafe` exactly when the lock it wraps is (tokio's `Mutex<T>`
// when `T: UnwindSafe`).
impl std::panic::RefUnwindSafe for DepMap {}
impl std::panic::UnwindSafe for DepMap {}

impl Drop for DepMap {
    fn drop(&mut self) {
        // Only a lock that was ever taken can be held.
        if let Some(class) = self.class.get() {
            class.instance_died();
            let word = *self.id.get_mut();
            let id = word & ID_MASK;
            if id != 0 {
                // Someone may hold it: its real lock is still locked, or (no real lock) its
                // count of holders says so. Not for a lock taken while the mode was `Off`
                // (unrecorded: nobody's record may hold it).
                let held = if word & LOCKED_AT_DROP != 0 {
                    (word & TAKEN_WHILE_OFF == 0).then_some(validator::HeldSomewhere::Locked)
                } else {
                    (word & HOLDS_MASK != 0).then_some(validator::HeldSomewhere::Counted)
                };
                validator::lock_freed(class, id, held);
                crate::instance_order::forget(id);
            }
        }
    }
}

/// The holder tag of a token made now (the stack loaded for the calling context).
#[inline]
fn current_tag() -> HolderTag {
    #[cfg(lockdep_tasks)]
    return crate::validator::current_tag();
    #[cfg(not(lockdep_tasks))]
    HolderTag
}

mod token;

pub(crate) use token::{TokenHolder, Tracked};
