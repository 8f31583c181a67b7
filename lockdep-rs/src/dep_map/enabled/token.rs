//! The guard's token ([`Tracked`]): what a guard keeps to record its release.

use super::*;

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
pub(crate) struct Tracked<'a, M = Local>(
    Option<&'a DepMap>,
    pub(super) u64,
    pub(super) HolderTag,
    PhantomData<M>,
);

/// A token as scalars: its handle, packed word and holder (see [`Tracked::to_scalars`]).
pub(crate) type TokenScalars<'a> = (Option<&'a DepMap>, u64, TokenHolder);
/// A token's holder, as a scalar.
pub(crate) type TokenHolder = HolderTag;

impl<'a, M> Tracked<'a, M> {
    #[inline]
    pub(super) fn new(
        map: &'a DepMap,
        serial: u64,
        read: Read,
        holder: HolderTag,
    ) -> Tracked<'a, M> {
        Tracked(
            Some(map),
            serial << SERIAL_SHIFT | read as u64,
            holder,
            PhantomData,
        )
    }

    /// A token from the acquisition's words (`None`: untracked).
    #[inline(always)]
    pub(super) fn from_words(
        map: &'a DepMap,
        packed: Option<NonZeroU64>,
        holder: HolderTag,
    ) -> Tracked<'a, M> {
        match packed {
            Some(p) => Tracked(Some(map), p.get(), holder, PhantomData),
            None => Tracked::untracked(),
        }
    }

    /// The token as three scalars, for a call that must not take it through memory (see
    /// `guard::release_slow_then_unlock`); [`from_scalars`](Self::from_scalars) puts it back.
    #[inline(always)]
    pub(crate) fn to_scalars(&self) -> TokenScalars<'a> {
        (self.0, self.1, self.2)
    }

    /// The token [`to_scalars`](Self::to_scalars) gave.
    #[inline(always)]
    pub(crate) fn from_scalars((map, packed, holder): TokenScalars<'a>) -> Tracked<'a, M> {
        Tracked(map, packed, holder, PhantomData)
    }

    /// The handle and the packed word, if tracked.
    #[inline(always)]
    fn parts(&self) -> Option<(&'a DepMap, u64)> {
        self.0.filter(|_| self.1 != 0).map(|m| (m, self.1))
    }

    /// Sets the watch bit: the acquisition's order has known problems, so the caller must
    /// not block on the real lock for ever (see `guard::block`).
    #[inline]
    pub(super) fn watched(mut self, watch: bool) -> Tracked<'a, M> {
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
    /// (`downgrade`: write to read), keeping its position and serial (an entry merged with
    /// other guards' under a nest lock: see `validator::change_read`).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn change_read(&mut self, read: Read) {
        self.change_entry(read, false);
    }

    /// [`change_read`](Self::change_read), the entry becoming the lock's upgradable reader's
    /// if `upgradable` (see `HeldLock::upgradable`; the token is marked by the caller).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn change_entry(&mut self, read: Read, upgradable: bool) {
        if let Some((map, packed)) = self.parts() {
            let serial = packed >> SERIAL_SHIFT;
            let serial = validator::change_read(map.instance(), serial, read, upgradable, self.2)
                .unwrap_or(serial);
            *self = Tracked::<M>::new(map, serial, read, self.2);
        }
    }

    /// Drop-in addition (`upgrade` and its timed and scoped forms, slow path): this guard's
    /// entry, held as the upgradable reader, is validated as a write acquisition of its lock
    /// and becomes a writer's in place (see `validator::upgrade`: the locks taken under it
    /// stay under it). False: it cannot be changed in place (not on this holder's stack, or
    /// merged with other guards' under a nest lock); nothing changed, and the caller records
    /// the upgrade as a release and an acquisition. True also when the validation recorded
    /// nothing (a timed upgrade waiting for a reader of this thread): the entry is then the
    /// upgradable reader's still.
    #[track_caller]
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn upgrade_in_place(
        &mut self,
        site: &'static Location<'static>,
        timed: bool,
    ) -> bool {
        let Some((map, packed)) = self.parts() else {
            return false;
        };
        match validator::upgrade(map.instance(), Some(packed >> SERIAL_SHIFT), site, timed) {
            None => false,
            Some(None) => true,
            Some(Some(a)) => {
                *self = Tracked::<M>::new(map, a.serial, Read::Exclusive, self.2).watched(a.watch);
                true
            }
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
    /// `stays_locked`: the lock is really locked until `resume` (a condvar wait, validated
    /// before the thread sleeps; a `bump`, validated before the hand-over); false for
    /// `unlocked*`, which lets it go while user code runs and relocks it after `resume` (see
    /// `validator::wait_begin`).
    ///
    /// With the `tokio` feature the entry may be on another holder's stack (a guard the
    /// thread took, waited on by a local task, or the reverse): it is then released
    /// there, and [`resume`](Self::resume) takes the lock as a fresh acquisition of the
    /// calling holder.
    pub(crate) fn suspend(&mut self, stays_locked: bool) -> Option<(&'a DepMap, Suspended)> {
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
        let waiting = validator::wait_begin(map.instance(), packed >> SERIAL_SHIFT, stays_locked)?;
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
        #[cfg_attr(not(lockdep_tasks), allow(clippy::infallible_destructuring_match))]
        let waiting = match waiting {
            Suspended::Entry(w) => w,
            #[cfg(lockdep_tasks)]
            Suspended::Released(..) if mode() == Mode::Off => return Tracked::untracked(),
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
        if !waiting.validating() {
            return Tracked::untracked();
        }
        let read = waiting.read();
        match validator::wait_end(waiting, site) {
            Some(serial) => Tracked::new(map, serial, read, current_tag()),
            None => Tracked::untracked(),
        }
    }
}
