//! The per-lock validator handle (kernel `struct lockdep_map`) and the token a guard keeps.
//!
//! Every lock wrapper embeds a [`DepMap`]: where its class comes from, plus the class resolved
//! on first use (then a single atomic load). Its address is the lock's *instance* identity.
//! With the `enabled` feature off, `DepMap` and [`Tracked`] are zero-sized and every call is an
//! empty inline function, so the wrappers compile to their parking_lot twins.

pub(crate) use crate::read::Read;

/// Makes a guard `!Send` (and leaves it `Sync`), whatever features parking_lot was built
/// with (its `send_guard` included): a validated guard's acquisition is an entry of its
/// holder's held-lock stack and must be released there. Named for the compiler's error when
/// a guard is moved to another thread ("required because it appears within the type
/// `ValidatedGuardStaysOnItsThread`").
/// (Over std's mutex guard, which is exactly `!Send` and `Sync`: no `unsafe` needed.)
#[cfg(lockdep_enabled)]
pub(crate) struct ValidatedGuardStaysOnItsThread(
    std::marker::PhantomData<std::sync::MutexGuard<'static, ()>>,
);

#[cfg(lockdep_enabled)]
pub(crate) type NotSend = ValidatedGuardStaysOnItsThread;

/// The kind of a blocking lock's guard ([`Guard`](crate::guard::Guard)'s default): `!Send` while validation is on,
/// since the acquisition is recorded on its holder — the thread, or the tokio task, that took
/// it — and must be released there.
pub struct Local {
    #[cfg(lockdep_enabled)]
    _not_send: std::marker::PhantomData<NotSend>,
}

/// The kind of an async lock's guard (`lockdep::tokio`): `Send`, like tokio's; its release finds
/// the record on its holder (the task that took it) from any thread or task, even after that
/// task ended.
pub struct Sendable(());

/// The kind of a [`ReentrantMutex`](crate::ReentrantMutex)'s guard: `!Send` like [`Local`],
/// but its token owns no entry. The lock keeps the record of its first level and releases it
/// with its last, whichever guard that is; so the guard's drop has nothing to release (known
/// from the type, not looked up at run time).
pub struct Level {
    #[cfg(lockdep_enabled)]
    _not_send: std::marker::PhantomData<NotSend>,
}

/// What a guard's kind says about its token (sealed): [`Local`], [`Sendable`], [`Level`].
pub trait GuardKind: crate::sealed::Sealed {
    /// Does the token own a held entry that the guard's drop releases? (Only [`Level`]'s
    /// does not.)
    #[doc(hidden)]
    const OWNS_ENTRY: bool = true;
}

impl crate::sealed::Sealed for Local {}
impl crate::sealed::Sealed for Sendable {}
impl crate::sealed::Sealed for Level {}
impl GuardKind for Local {}
impl GuardKind for Sendable {}
impl GuardKind for Level {
    const OWNS_ENTRY: bool = false;
}

#[cfg(not(lockdep_enabled))]
pub(crate) use disabled::*;
#[cfg(lockdep_enabled)]
pub(crate) use enabled::*;

impl<M> Tracked<'_, M> {
    /// The guard holds its lock as the upgradable reader again (after an upgrade, or a
    /// downgrade from a writer): its entry becomes a reader's in place, and the token is
    /// marked (see `mark_upgradable`).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn change_to_upgradable(&mut self) {
        self.change_read(Read::Shared);
        self.mark_upgradable();
    }
}

/// A nest lock as `lock_nest_lock` passes it: its handle, and whether the guard passed holds
/// it as the lock's upgradable reader. Recorded as a reader, such a lock still keeps writers
/// and the other upgradable readers out, so it serialises what is taken under it against
/// them (see `instance_order::Hold`).
#[derive(Clone, Copy)]
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) struct Nest<'a> {
    pub(crate) map: &'a DepMap,
    pub(crate) upgradable: bool,
}

#[cfg(lockdep_enabled)]
mod enabled {
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
        /// The instance id, assigned on first use, and the [`TAKEN_WHILE_OFF`] bit. Not the
        /// address: a lock may be moved while a forgotten guard still counts it as held, and
        /// must still be recognised.
        id: AtomicUsize,
    }

    impl DepMap {
        /// A lock built at `loc` whose data is a `T` (the type splits the site's class only
        /// under the lenient policy).
        pub(crate) const fn site<T: ?Sized>(
            loc: &'static Location<'static>,
            kind: LockKind,
        ) -> DepMap {
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
            let id = self.id.load(Ordering::Relaxed) & !TAKEN_WHILE_OFF;
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
                if current & !TAKEN_WHILE_OFF != 0 {
                    return current & !TAKEN_WHILE_OFF; // another thread assigned it
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

        /// The class name shown for this lock (subclass 0).
        pub(crate) fn name(&self) -> String {
            self.source.name()
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
        pub(crate) fn acquired_try(
            &self,
            read: Read,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
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
            let id = self.id.load(Ordering::Relaxed) & !TAKEN_WHILE_OFF;
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
                return Tracked::untracked();
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

        /// An event: armed by this thread (held as a recursive-read trylock: it gets no
        /// incoming edges, and every later acquisition gets an edge from it).
        #[track_caller]
        pub(crate) fn arm_event(&self, site: &'static Location<'static>) {
            if !self.is_held() {
                let _ = self.record::<Local>(Read::Recursive, 0, true, None, site, false);
            }
        }

        /// An event: signalled; ends the armed span if this thread armed it (in every mode).
        #[track_caller]
        pub(crate) fn signal_event(&self, site: &'static Location<'static>) {
            if self.is_held() {
                self.force_release(None, site);
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
                let id = self.id.load(Ordering::Relaxed) & !TAKEN_WHILE_OFF;
                if id != 0 {
                    validator::lock_freed(id);
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

    /// What a guard keeps to report its release: the lock's handle if the acquisition was
    /// tracked (it is not in `Off` mode), and the entry's serial, the upgradable and watch bits
    /// and the read mode packed in one word (`serial << 4 | upgradable << 3 | watch << 2 |
    /// read`; serials start at 1, so the word is never 0); with the `tokio` feature also the
    /// holder whose stack the entry is on. `M` is [`Local`]: `!Send` whatever parking_lot's
    /// features say, since the entry's holder is its thread (or the task it runs); or
    /// [`Sendable`], an async lock's token, released from its holder's stack wherever it is
    /// dropped.
    ///
    /// The packed word is kept beside the handle, 0 when untracked (then the handle is
    /// `None`), so the release's common case tests one word: serial 0 (untracked, or a
    /// borrowed token) releases nothing.
    pub(crate) struct Tracked<'a, M = Local>(Option<&'a DepMap>, u64, HolderTag, PhantomData<M>);

    impl<'a, M> Tracked<'a, M> {
        #[inline]
        fn new(map: &'a DepMap, serial: u64, read: Read, holder: HolderTag) -> Tracked<'a, M> {
            Tracked(
                Some(map),
                serial << SERIAL_SHIFT | read as u64,
                holder,
                PhantomData,
            )
        }

        /// A token from the acquisition's words (`None`: untracked).
        #[inline(always)]
        fn from_words(
            map: &'a DepMap,
            packed: Option<NonZeroU64>,
            holder: HolderTag,
        ) -> Tracked<'a, M> {
            match packed {
                Some(p) => Tracked(Some(map), p.get(), holder, PhantomData),
                None => Tracked::untracked(),
            }
        }

        /// The handle and the packed word, if tracked.
        #[inline(always)]
        fn parts(&self) -> Option<(&'a DepMap, u64)> {
            self.0.filter(|_| self.1 != 0).map(|m| (m, self.1))
        }

        /// Sets the watch bit: the acquisition's order has known problems, so the caller must
        /// not block on the real lock for ever (see `guard::block`).
        #[inline]
        fn watched(mut self, watch: bool) -> Tracked<'a, M> {
            if watch && self.1 != 0 {
                self.1 |= WATCH_BIT;
            }
            self
        }

        /// Does the acquisition's order have known problems (a report, now or before)?
        #[inline]
        #[cfg_attr(loom, allow(dead_code))] // loom's locks have no clock to wait with
        pub(crate) fn watch(&self) -> bool {
            self.1 & WATCH_BIT != 0
        }

        /// Marks the token's guard as holding its lock as the lock's upgradable reader
        /// (the entry says reader): a nest lock held so serialises the locks taken under it
        /// against writers and other upgradable readers. Set by every way to an upgradable
        /// guard; any other change of the token (`change_read`, a re-acquisition) drops it,
        /// so a guard that goes on upgradable is marked again, and one that is not never is.
        #[inline]
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn mark_upgradable(&mut self) {
            if self.1 != 0 {
                self.1 |= UPGRADABLE_BIT;
            }
        }

        /// The guard holds its lock as a plain reader now (an upgradable guard downgraded).
        #[inline]
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn unmark_upgradable(&mut self) {
            self.1 &= !UPGRADABLE_BIT;
        }

        /// See [`mark_upgradable`](Self::mark_upgradable).
        #[inline]
        pub(crate) fn upgradable(&self) -> bool {
            self.1 & UPGRADABLE_BIT != 0
        }

        /// A token for an acquisition that is not tracked (`Off` mode; a `ReentrantMutex`
        /// re-acquired by its holder, which is not a new acquisition).
        #[inline]
        pub(crate) fn untracked() -> Tracked<'a, M> {
            Tracked(None, 0, crate::fast_path::NO_HOLDER, PhantomData)
        }

        /// The release when [`release_fast`](Self::release_fast) did not apply (may report).
        /// With the `tokio` feature it first tries the release's common case in a task (left
        /// out of `release_fast`, which is inlined into every guard's drop): the entry popped
        /// from the top of the running task's stack loaded here.
        #[inline]
        pub(crate) fn release_slow_path(&self) {
            if let Some((map, packed)) = self.parts() {
                let serial = packed >> SERIAL_SHIFT;
                #[cfg(lockdep_tasks)]
                if crate::fast_path::release_task_entry(serial, self.2) {
                    return;
                }
                release_slow(map, serial, Read::from_bits(packed), self.2);
            }
        }

        /// The lock's handle, if tracked.
        pub(crate) fn map(&self) -> Option<&'a DepMap> {
            self.parts().map(|(map, _)| map)
        }

        /// Drop-in addition: the held entry of this guard changes its read kind in place
        /// (`downgrade`: write to read), keeping its position and serial.
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn change_read(&mut self, read: Read) {
            if let Some((map, packed)) = self.parts() {
                let serial = packed >> SERIAL_SHIFT;
                validator::change_read(map.instance(), serial, read);
                *self = Tracked::<M>::new(map, serial, read, self.2);
            }
        }

        /// Drop-in addition (`upgrade`): this guard's entry is now held in mode `read`, changed
        /// in place by the fast path if it can be (see `fast_path::rekind_top`: what releasing
        /// it and acquiring the lock again would record). False: nothing changed; the caller
        /// releases and acquires again.
        #[inline]
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn rekind_fast(&mut self, read: Read, site: &'static Location<'static>) -> bool {
            let Some((map, packed)) = self.parts() else {
                return false;
            };
            let serial = packed >> SERIAL_SHIFT;
            if !crate::fast_path::rekind_top(serial, self.2, read, site) {
                return false;
            }
            *self = Tracked::<M>::new(map, serial, read, self.2);
            true
        }
    }

    #[cfg(all(feature = "tokio", not(loom)))]
    impl Tracked<'_, Sendable> {
        /// The token of an *owned* guard (`lock_owned` & co.): its entry is marked movable —
        /// the guard may be handed to another task or thread, so the holder re-locking the
        /// lock meanwhile waits for it rather than being taken for a self-deadlock (see
        /// `HeldLock::movable`).
        pub(crate) fn owned(self) -> Self {
            if let Some((map, packed)) = self.parts() {
                validator::holder::mark_movable(map.instance(), packed >> SERIAL_SHIFT, self.2);
            }
            self
        }
    }

    impl<M: GuardKind> Tracked<'_, M> {
        /// Reports the release of the guarded lock; the token is cleared, so a second call
        /// does nothing.
        #[inline]
        pub(crate) fn release(&mut self) {
            self.release_on_drop();
            *self = Tracked::untracked();
        }

        /// Reports the release of the guarded lock from the guard's `Drop`: nothing reads the
        /// token afterwards, so it is left as it is (one store less on the hot path).
        #[inline(always)]
        pub(crate) fn release_on_drop(&self) {
            if !self.release_fast() {
                self.release_slow_path();
            }
        }

        /// The release's common case: nothing to release (untracked or borrowed token), or
        /// the entry popped from the top of this thread's stack. False: call
        /// [`release_slow_path`](Self::release_slow_path). Never reports, never unwinds.
        #[inline(always)]
        pub(crate) fn release_fast(&self) -> bool {
            // A reentrant level owns no entry (known from the type: nothing to inline). Serial
            // 0: untracked, or a borrowed token (see `borrowed`): nothing to release.
            let serial = self.1 >> SERIAL_SHIFT;
            !M::OWNS_ENTRY || serial == 0 || crate::fast_path::release_serial(serial, self.2)
        }
    }

    /// This guard's own entry when it is not on top of the stack loaded here (several entries
    /// of one instance can be held, e.g. two read guards; a merged nest-lock entry holds
    /// several instances; another holder's entry).
    #[inline(never)]
    fn release_slow(map: &DepMap, serial: u64, read: Read, holder: HolderTag) {
        if validator::forgotten(serial, holder) {
            return; // `reset()` already forgot this acquisition
        }
        validator::release_token(
            map.instance(),
            serial,
            read,
            holder,
            map.taken_while_off(),
            || (map.name(), Location::caller()),
        );
    }

    impl<'a> Tracked<'a> {
        /// Drop-in addition: a token that names the lock (for [`Held`](crate::Held)) but owns
        /// no entry, so its release does nothing: a `ReentrantMutex` guard, whose lock's
        /// record is released with the mutex's last level, whichever guard that is.
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        #[inline]
        pub(crate) fn borrowed(map: &'a DepMap) -> Tracked<'a, Level> {
            // Serial 0 (serials start at 1), read bits 2 so the packed word is non-zero.
            Tracked::new(map, 0, Read::Recursive, crate::fast_path::NO_HOLDER)
        }

        /// Drop-in addition: the token as one word (0: untracked or borrowed), to be kept by
        /// the lock (a `ReentrantMutex`'s record) and made a token again by
        /// [`from_packed`](Self::from_packed).
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        #[inline]
        pub(crate) fn into_packed(self) -> (u64, HolderTag) {
            match self.parts() {
                Some((_, packed)) if packed >> SERIAL_SHIFT != 0 => (packed, self.2),
                _ => (0, crate::fast_path::NO_HOLDER),
            }
        }

        /// The token of `map`'s acquisition packed by [`into_packed`](Self::into_packed).
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        #[inline]
        pub(crate) fn from_packed(map: &'a DepMap, packed: u64, holder: HolderTag) -> Tracked<'a> {
            Tracked::from_words(map, NonZeroU64::new(packed), holder)
        }

        /// A condvar wait is about to release the lock: takes its entry out of the held
        /// stack, and the token with it (a panic before [`resume`](Self::resume) then leaves
        /// an untracked guard, which releases nothing).
        ///
        /// With the `tokio` feature the entry may be on another holder's stack (a guard the
        /// thread took, waited on by a local task, or the reverse): it is then released
        /// there, and [`resume`](Self::resume) takes the lock as a fresh acquisition of the
        /// calling holder.
        pub(crate) fn suspend(&mut self) -> Option<(&'a DepMap, Suspended)> {
            let (map, packed) = self.parts()?;
            #[cfg(lockdep_tasks)]
            if !validator::is_calling_holder(self.2) {
                // How it was taken (subclass, nest lock), from that stack, then released there.
                let serial = packed >> SERIAL_SHIFT;
                let (subclass, nest) =
                    validator::peek_entry(self.2, map.instance(), serial).unwrap_or((0, None));
                self.release();
                let read = Read::from_bits(packed);
                return Some((map, Suspended::Released(read, subclass, nest)));
            }
            *self = Tracked::untracked();
            let waiting = validator::wait_begin(map.instance(), packed >> SERIAL_SHIFT)?;
            Some((map, Suspended::Entry(waiting)))
        }

        /// The wait is over: the entry taken out by [`suspend`](Self::suspend) is validated
        /// again and put back exactly as it was (class, subclass, read kind, nest lock,
        /// position).
        #[track_caller]
        pub(crate) fn resume(
            map: &'a DepMap,
            waiting: Suspended,
            site: &'static Location<'static>,
        ) -> Tracked<'a> {
            if mode() == Mode::Off {
                return Tracked::untracked();
            }
            #[cfg_attr(not(lockdep_tasks), allow(clippy::infallible_destructuring_match))]
            let waiting = match waiting {
                Suspended::Entry(w) => w,
                #[cfg(lockdep_tasks)]
                Suspended::Released(read, subclass, nest) => {
                    // (How the nest lock is held is not known here: as its entry says.)
                    let nest = nest.map(|instance| NestRequest {
                        instance,
                        upgradable: false,
                        name: None,
                    });
                    return map.record_request(read, subclass, false, nest, site, false, false);
                }
            };
            let read = waiting.read();
            match validator::wait_end(waiting, site) {
                Some(serial) => Tracked::new(map, serial, read, current_tag()),
                None => Tracked::untracked(),
            }
        }
    }
}

#[cfg(not(lockdep_enabled))]
mod disabled {
    use std::panic::Location;

    use super::Read;
    #[cfg(all(feature = "tokio", not(loom)))]
    use super::Sendable;
    use super::{Level, Local};
    use crate::class::LockClass;
    use crate::class::Maker;

    /// Zero-sized: validation is compiled out.
    pub(crate) struct DepMap;

    #[allow(clippy::unused_self)]
    impl DepMap {
        #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
        pub(crate) const fn site<T: ?Sized>(
            _: &'static Location<'static>,
            _: &'static str,
        ) -> DepMap {
            DepMap
        }
        pub(crate) const fn named(
            _: &'static Location<'static>,
            _: &'static str,
            _: &'static str,
        ) -> DepMap {
            DepMap
        }
        #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
        pub(crate) const fn made<T: ?Sized>(
            _: &'static Location<'static>,
            _: &'static str,
            _: Maker,
        ) -> DepMap {
            DepMap
        }
        pub(crate) const fn class(_: &'static LockClass) -> DepMap {
            DepMap
        }
        pub(crate) const fn pseudo(_: &'static Location<'static>, _: &'static str) -> DepMap {
            DepMap
        }
        pub(crate) const fn event(
            _: &'static Location<'static>,
            _: &'static str,
            _: u32,
        ) -> DepMap {
            DepMap
        }
        pub(crate) const fn cell(_: &'static Location<'static>, _: &'static str) -> DepMap {
            DepMap
        }
        pub(crate) const fn per_instance(_: &'static str) -> DepMap {
            DepMap
        }
        #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
        pub(crate) const fn or_site<T: ?Sized>(
            self,
            _: &'static Location<'static>,
            _: &'static str,
        ) -> DepMap {
            self
        }
        #[inline(always)]
        pub(crate) fn adopt(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn acquire(
            &self,
            _: Read,
            _: u8,
            _: Option<super::Nest<'_>>,
            _: &'static Location<'static>,
        ) -> Tracked<'_> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn acquired_try(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
            Tracked(std::marker::PhantomData)
        }
        #[cfg(all(feature = "tokio", not(loom)))]
        #[inline(always)]
        pub(crate) fn acquire_async(
            &self,
            _: Read,
            _: u8,
            _: &'static Location<'static>,
        ) -> Tracked<'_, Sendable> {
            Tracked(std::marker::PhantomData)
        }
        #[cfg(all(feature = "tokio", not(loom)))]
        #[inline(always)]
        pub(crate) fn acquired_try_async(
            &self,
            _: Read,
            _: &'static Location<'static>,
        ) -> Tracked<'_, Sendable> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn acquire_timed(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn force_release(&self, _: Option<bool>, _: &'static Location<'static>) -> bool {
            true
        }
        #[inline(always)]
        pub(crate) fn is_held(&self) -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn held_state(&self) -> Option<bool> {
            None
        }
        #[inline(always)]
        pub(crate) fn register(&self) {}
        #[inline(always)]
        pub(crate) fn wait_event(&self, _: &'static Location<'static>) {}
        #[inline(always)]
        pub(crate) fn arm_event(&self, _: &'static Location<'static>) {}
        #[inline(always)]
        pub(crate) fn signal_event(&self, _: &'static Location<'static>) {}
    }

    /// Zero-sized: nothing to report on release (and `Send` whatever `M` says: the real
    /// guard alone decides).
    pub(crate) struct Tracked<'a, M = Local>(Marker<'a, M>);

    /// A lifetime and a kind, and nothing else.
    type Marker<'a, M> = std::marker::PhantomData<(&'a (), fn() -> M)>;

    impl<'a, M> Tracked<'a, M> {
        #[inline(always)]
        pub(crate) fn release(&mut self) {}
        #[inline(always)]
        pub(crate) fn release_fast(&self) -> bool {
            true
        }
        #[inline(always)]
        pub(crate) fn release_slow_path(&self) {}
        #[inline(always)]
        pub(crate) fn map(&self) -> Option<&'a DepMap> {
            None
        }
        #[inline(always)]
        pub(crate) fn untracked() -> Tracked<'a, M> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn change_read(&mut self, _: Read) {}
        #[inline(always)]
        pub(crate) fn mark_upgradable(&mut self) {}
        #[inline(always)]
        pub(crate) fn unmark_upgradable(&mut self) {}
        #[inline(always)]
        pub(crate) fn upgradable(&self) -> bool {
            false
        }
        #[inline(always)]
        pub(crate) fn rekind_fast(&mut self, _: Read, _: &'static Location<'static>) -> bool {
            true
        }
    }

    /// Nothing is ever taken out of a held state that is not kept.
    pub(crate) type Suspended = std::convert::Infallible;

    impl<'a> Tracked<'a> {
        #[inline(always)]
        pub(crate) fn suspend(&mut self) -> Option<(&'a DepMap, Suspended)> {
            None
        }
        #[inline(always)]
        pub(crate) fn resume(
            _: &'a DepMap,
            waiting: Suspended,
            _: &'static Location<'static>,
        ) -> Tracked<'a> {
            match waiting {}
        }
        #[inline(always)]
        pub(crate) fn borrowed(_: &'a DepMap) -> Tracked<'a, Level> {
            Tracked(std::marker::PhantomData)
        }
    }
}
