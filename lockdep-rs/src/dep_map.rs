//! The per-lock validator handle (kernel `struct lockdep_map`) and the token a guard keeps.
//!
//! Every lock wrapper embeds a [`DepMap`]: where its class comes from, plus the class resolved
//! on first use (then a single atomic load). Its address is the lock's *instance* identity.
//! With the `enabled` feature off, `DepMap` and [`Tracked`] are zero-sized and every call is an
//! empty inline function, so the wrappers compile to their parking_lot twins.

/// How a lock is held: kernel `read` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Read {
    /// read = 0: mutex, write lock, exclusive pseudo-lock.
    Exclusive = 0,
    /// read = 1: non-recursive reader (rwsem `down_read`, parking_lot `read`).
    Shared = 1,
    /// read = 2: recursive reader (`read_lock`, parking_lot `read_recursive`).
    Recursive = 2,
}

impl Read {
    #[cfg_attr(not(lockdep_enabled), allow(dead_code))]
    pub(crate) fn is_shared(self) -> bool {
        self != Read::Exclusive
    }
}

#[cfg(not(lockdep_enabled))]
pub(crate) use disabled::*;
#[cfg(lockdep_enabled)]
pub(crate) use enabled::*;

#[cfg(lockdep_enabled)]
mod enabled {
    use std::num::NonZeroU64;
    use std::panic::Location;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use once_cell::race::OnceRef;

    /// Source of instance ids (0 means "not assigned yet").
    static NEXT_INSTANCE: AtomicUsize = AtomicUsize::new(1);

    use super::Read;
    use crate::class::{ClassInfo, ClassSource, LockClass, MAX_SUBCLASSES};
    use crate::held_locks::Instance;
    use crate::mode::{mode, Mode};
    use crate::validator::{self, Request};

    /// A lock's validator handle.
    pub(crate) struct DepMap {
        source: ClassSource,
        class: OnceRef<'static, ClassInfo>,
        /// The instance id, assigned on first use. Not the address: a lock may be moved
        /// while a forgotten guard still counts it as held, and must still be recognised.
        id: AtomicUsize,
    }

    impl DepMap {
        pub(crate) const fn site(loc: &'static Location<'static>) -> DepMap {
            DepMap::with_source(ClassSource::Site(loc))
        }
        pub(crate) const fn named(loc: &'static Location<'static>, name: &'static str) -> DepMap {
            DepMap::with_source(ClassSource::Named(loc, name))
        }
        pub(crate) const fn class(class: &'static LockClass) -> DepMap {
            DepMap::with_source(ClassSource::Static(class))
        }
        pub(crate) const fn event(loc: &'static Location<'static>, name: &'static str) -> DepMap {
            DepMap::with_source(ClassSource::Event(loc, name))
        }
        /// Drop-in addition: a raw lock's handle; each instance is its own class `kind#id`.
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) const fn per_instance(kind: &'static str) -> DepMap {
            DepMap::with_source(ClassSource::Instance(kind))
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
            let id = self.id.load(Ordering::Relaxed);
            if id != 0 {
                return id;
            }
            self.assign_instance()
        }

        #[cold]
        fn assign_instance(&self) -> Instance {
            let new = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
            match self
                .id
                .compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => new,
                Err(winner) => winner,
            }
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
                    info.instance_born();
                    info
                }
                // Another thread resolved it first (to the same class) and counted it.
                Err(()) => self.class.get().unwrap_or(info),
            }
        }

        /// Validates an acquisition before the caller blocks on the real lock.
        #[inline]
        pub(crate) fn acquire(
            &self,
            read: Read,
            subclass: u8,
            nest: Option<&DepMap>,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
            self.record(read, subclass, false, nest, site)
        }

        /// Records a successful trylock (no validation: a trylock cannot block).
        #[inline]
        pub(crate) fn acquired_try(
            &self,
            read: Read,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
            self.record(read, 0, true, None, site)
        }

        #[inline]
        fn record(
            &self,
            read: Read,
            subclass: u8,
            trylock: bool,
            nest: Option<&DepMap>,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
            // Kept tiny so `lock()` inlines: `Off` costs a load and a branch.
            if mode() == Mode::Off {
                return Tracked(None);
            }
            self.record_on(read, subclass, trylock, nest, site)
        }

        /// Kept apart from `record`: merged, the compiler lays out `lock()` worse and
        /// `Mode::Off` costs 1.18x parking_lot instead of 1.07x. A plain acquisition of a
        /// resolved lock tries the fast path inline; everything else is one call away.
        #[inline]
        fn record_on(
            &self,
            read: Read,
            subclass: u8,
            trylock: bool,
            nest: Option<&DepMap>,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
            if subclass == 0 && !trylock && nest.is_none() {
                let id = self.id.load(Ordering::Relaxed);
                if let (Some(class), true) = (self.class.get(), id != 0) {
                    if let Some(serial) = crate::fast_path::acquire_fast(class, id, read, site) {
                        return Tracked::new(self, serial, read);
                    }
                }
            }
            self.record_slow(read, subclass, trylock, nest, site)
        }

        /// Everything but the fast path: resolving the class and instance, subclasses,
        /// trylocks, nest locks, the chain caches and validation.
        #[inline(never)]
        fn record_slow(
            &self,
            read: Read,
            subclass: u8,
            trylock: bool,
            nest: Option<&DepMap>,
            site: &'static Location<'static>,
        ) -> Tracked<'_> {
            if crate::sync::internal::inside() {
                // Re-entered from inside lockdep (an allocator taking lockdep locks): stand
                // aside, untracked, rather than resolve or validate on top of ourselves.
                return Tracked(None);
            }
            if subclass >= MAX_SUBCLASSES {
                validator::invalid_subclass(self.name(), subclass, site);
                return Tracked(None);
            }
            let class = self.base_class().subclass(subclass);
            let tracked = validator::acquire(
                class,
                self.instance(),
                Request {
                    read,
                    trylock,
                    nest,
                    renest: None,
                    reserial: 0,
                    site,
                },
            );
            match tracked {
                Some(serial) => Tracked::new(self, serial, read),
                None => Tracked(None),
            }
        }

        /// `force_unlock*`: releases this thread's record of the lock held in a mode matching
        /// `shared` (None: any). Returns false, after a `BadUnlockBalance` report, if this
        /// thread does not hold it; the caller must then leave the real lock alone.
        pub(crate) fn force_release(
            &self,
            shared: Option<bool>,
            site: &'static Location<'static>,
        ) -> bool {
            if mode() == Mode::Off {
                return true;
            }
            validator::release(
                self.instance(),
                self.class.get(),
                &|h| shared.is_none_or(|s| s == h.read.is_shared()),
                None,
                || (self.name(), site),
                Some(site),
            )
        }

        /// Is this lock held by the calling thread (per the validator)?
        pub(crate) fn is_held(&self) -> bool {
            validator::is_held(self.instance())
        }

        /// An event: about to wait for it (edges from every held lock; not kept held).
        pub(crate) fn wait_event(&self, site: &'static Location<'static>) {
            self.acquire(Read::Exclusive, 0, None, site).release();
        }

        /// An event: armed by this thread (held as a recursive-read trylock: it gets no
        /// incoming edges, and every later acquisition gets an edge from it).
        pub(crate) fn arm_event(&self, site: &'static Location<'static>) {
            if !self.is_held() {
                let _ = self.record(Read::Recursive, 0, true, None, site);
            }
        }

        /// An event: signalled; ends the armed span if this thread armed it.
        pub(crate) fn signal_event(&self, site: &'static Location<'static>) {
            if self.is_held() {
                self.force_release(None, site);
            }
        }
    }

    impl Drop for DepMap {
        fn drop(&mut self) {
            // Only a lock that was ever taken can be held.
            if let Some(class) = self.class.get() {
                class.instance_died();
                let id = self.id.load(Ordering::Relaxed);
                if id != 0 {
                    validator::lock_freed(id);
                }
            }
        }
    }

    /// What a guard keeps to report its release: the lock's handle if the acquisition was
    /// tracked (it is not in `Off` mode), and the entry's serial and read mode packed in one
    /// word (`serial << 2 | read`; serials start at 1, so the word is never 0).
    pub(crate) struct Tracked<'a>(Option<(&'a DepMap, NonZeroU64)>);

    impl<'a> Tracked<'a> {
        #[inline]
        fn new(map: &'a DepMap, serial: u64, read: Read) -> Tracked<'a> {
            let packed = NonZeroU64::new(serial << 2 | read as u64);
            Tracked(packed.map(|p| (map, p)))
        }

        /// Reports the release of the guarded lock; the token is cleared, so a second call
        /// (a guard dropped after a condvar wait panicked) does nothing.
        #[inline]
        pub(crate) fn release(&mut self) {
            self.release_on_drop();
            self.0 = None;
        }

        /// Reports the release of the guarded lock from the guard's `Drop`: nothing reads the
        /// token afterwards, so it is left as it is (one store less on the hot path).
        #[inline]
        pub(crate) fn release_on_drop(&self) {
            if let Some((map, packed)) = self.0 {
                let serial = packed.get() >> 2;
                if !crate::fast_path::release_serial(serial) {
                    let read = match packed.get() & 3 {
                        0 => Read::Exclusive,
                        1 => Read::Shared,
                        _ => Read::Recursive,
                    };
                    Self::release_slow(map, serial, read);
                }
            }
        }

        /// This guard's own entry when it is not on top (several entries of one instance can
        /// be held, e.g. two read guards; a merged nest-lock entry is found by class).
        #[inline(never)]
        fn release_slow(map: &DepMap, serial: u64, read: Read) {
            if validator::forgotten(serial) {
                return; // `reset()` already forgot this acquisition
            }
            validator::release(
                map.instance(),
                map.class.get(),
                &|h| h.serial == serial,
                Some(read),
                || (map.name(), Location::caller()),
                None,
            );
        }

        /// Re-records the acquisition after a condvar wait released it (validated again).
        pub(crate) fn reacquire(map: &'a DepMap, site: &'static Location<'static>) -> Tracked<'a> {
            map.acquire(Read::Exclusive, 0, None, site)
        }

        /// The lock's handle, if tracked.
        pub(crate) fn map(&self) -> Option<&'a DepMap> {
            self.0.map(|(map, _)| map)
        }

        /// A token for an acquisition that is not tracked (a `ReentrantMutex` re-acquired by
        /// its holder, which is not a new acquisition).
        #[inline]
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn untracked() -> Tracked<'a> {
            Tracked(None)
        }

        /// Drop-in addition: the held entry of this guard changes its read kind in place
        /// (`downgrade`: write to read), keeping its position and serial.
        #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
        pub(crate) fn change_read(&mut self, read: Read) {
            if let Some((map, packed)) = self.0 {
                let serial = packed.get() >> 2;
                validator::change_read(map.instance(), serial, read);
                self.0 = Tracked::new(map, serial, read).0;
            }
        }
    }
}

#[cfg(not(lockdep_enabled))]
mod disabled {
    use std::panic::Location;

    use super::Read;
    use crate::class::LockClass;

    /// Zero-sized: validation is compiled out.
    pub(crate) struct DepMap;

    #[allow(clippy::unused_self)]
    impl DepMap {
        pub(crate) const fn site(_: &'static Location<'static>) -> DepMap {
            DepMap
        }
        pub(crate) const fn named(_: &'static Location<'static>, _: &'static str) -> DepMap {
            DepMap
        }
        pub(crate) const fn class(_: &'static LockClass) -> DepMap {
            DepMap
        }
        pub(crate) const fn event(_: &'static Location<'static>, _: &'static str) -> DepMap {
            DepMap
        }
        pub(crate) const fn per_instance(_: &'static str) -> DepMap {
            DepMap
        }
        #[inline(always)]
        pub(crate) fn acquire(
            &self,
            _: Read,
            _: u8,
            _: Option<&DepMap>,
            _: &'static Location<'static>,
        ) -> Tracked<'_> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn acquired_try(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
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
        pub(crate) fn register(&self) {}
        #[inline(always)]
        pub(crate) fn wait_event(&self, _: &'static Location<'static>) {}
        #[inline(always)]
        pub(crate) fn arm_event(&self, _: &'static Location<'static>) {}
        #[inline(always)]
        pub(crate) fn signal_event(&self, _: &'static Location<'static>) {}
    }

    /// Zero-sized: nothing to report on release.
    pub(crate) struct Tracked<'a>(std::marker::PhantomData<&'a ()>);

    impl<'a> Tracked<'a> {
        #[inline(always)]
        pub(crate) fn release(&mut self) {}
        #[inline(always)]
        pub(crate) fn release_on_drop(&self) {}
        #[inline(always)]
        pub(crate) fn reacquire(_: &'a DepMap, _: &'static Location<'static>) -> Tracked<'a> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn map(&self) -> Option<&'a DepMap> {
            None
        }
        #[inline(always)]
        pub(crate) fn untracked() -> Tracked<'a> {
            Tracked(std::marker::PhantomData)
        }
        #[inline(always)]
        pub(crate) fn change_read(&mut self, _: Read) {}
    }
}
