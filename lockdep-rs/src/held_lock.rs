//! One entry of a held-lock stack: what the kernel's `struct held_lock` records that matters
//! in user space (class, instance, read mode, trylock, nest lock, where it was taken), plus
//! the other instances merged into it under its nest lock (the kernel keeps only a count; we
//! keep the instances, so each stays visible to `is_held`, release and the self-deadlock
//! check), and the id it contributes to the chain key.
//!
//! The layout serves the fast path: the fields every acquisition writes come first, the
//! serial shares a word with the flags, and the rarely used nest-lock fields are written by
//! the slow path only, with a flag saying whether they are current.

use std::num::NonZeroUsize;
use std::panic::Location;

use crate::class::ClassInfo;
pub(crate) use crate::read::Read;

/// Identity of a lock instance: the id its validator handle got on first use (never 0).
pub(crate) type Instance = usize;

/// One entry of the held-lock stack.
///
/// The hot fields (class, instance, site, key and the [`word`](Self::word) packing the serial
/// with the flags) are written by every push; the nest-lock fields only by the slow path (see
/// [`HeldStack`](crate::held_stack::HeldStack)), and the flags say whether they are current.
pub(crate) struct HeldLock {
    pub(crate) class: &'static ClassInfo,
    pub(crate) instance: Instance,
    pub(crate) site: &'static Location<'static>,
    /// The chain key of the stack up to and including this entry.
    pub(crate) key: u64,
    /// The serial (above [`FLAG_BITS`]) and the flags: read mode, trylock, edgeless,
    /// sendable, nesting current, merged, movable. The serial identifies this acquisition, so its guard
    /// releases exactly this entry (merged acquisitions share their entry's serial).
    word: u64,
    /// The nest-lock fields; current only if the [`NESTING`] flag is set (else whatever an
    /// earlier entry of this slot left: read them through [`nesting`](Self::nesting)).
    nesting: Nesting,
}

/// An entry's nest-lock fields (`lock_nest_lock`), written by the slow path only.
#[derive(Clone, Default)]
pub(crate) struct Nesting {
    /// The nest lock's instance.
    pub(crate) nest: Option<NonZeroUsize>,
    /// Index + 1 of the nest lock's entry in the stack (0: none); part of the chain id.
    pub(crate) nest_pos: u32,
    /// Further instances of this class merged into this entry under its nest lock (boxed: a
    /// list only when merged).
    /// (Kept in step with the [`MERGED`] flag: see [`HeldLock::set_merged`].)
    #[allow(clippy::box_collection)]
    merged: Option<Box<Vec<Instance>>>,
    /// The entry (a reader's) is the lock's upgradable reader's, which keeps writers and other
    /// upgradable readers out: set once a lock was taken under it as its nest lock (the
    /// guard's token says so; a lock taken back after a wait has no guard at hand to ask),
    /// and by a slow-path change of the entry's mode.
    pub(crate) upgradable: bool,
}

/// The nesting of an entry whose nest-lock fields are not current: none.
static NO_NESTING: Nesting = Nesting {
    nest: None,
    nest_pos: 0,
    merged: None,
    upgradable: false,
};

/// Low bits of [`HeldLock::word`] holding the flags; the serial is above them.
pub(crate) const FLAG_BITS: u32 = 8;
const READ_MASK: u64 = 0b11;
const TRYLOCK: u64 = 1 << 2;
/// Its acquisition recorded no edges (recursive locking, or exempt under its nest lock): put
/// back after an out-of-order release, it is validated again.
const EDGELESS: u64 = 1 << 3;
/// Its guard is `Send` (an async lock's): it may be released on another thread, by another
/// holder, or after its holder ended; never a blocking lock held across `.await`.
const SENDABLE: u64 = 1 << 4;
/// The entry's [`Nesting`] fields are current.
const NESTING: u64 = 1 << 5;
/// Other instances are merged into the entry (its [`Nesting::merged`] is a list).
const MERGED: u64 = 1 << 6;
/// Its guard owns its lock (an async lock's *owned* guard: `'static`, no borrow), so it may
/// have been handed to another task or thread, which releases the entry when it drops it: a
/// re-acquisition of the lock by this holder is then no certain self-deadlock.
const MOVABLE: u64 = 1 << 7;
/// The bits of [`HeldLock::word`] the fast release compares: the serial, and [`MERGED`] (a
/// merged entry is never popped whole).
const RELEASE_MASK: u64 = !((1 << FLAG_BITS) - 1) | MERGED;

/// The [`HeldLock::word`] of a fast-path entry: serial, read mode, sendable; no trylock, not
/// edgeless, no nest-lock fields.
#[inline(always)]
pub(crate) fn hot_word(serial: u64, read: Read, sendable: bool) -> u64 {
    serial << FLAG_BITS | read as u64 | if sendable { SENDABLE } else { 0 }
}

impl Clone for HeldLock {
    fn clone(&self) -> Self {
        HeldLock {
            class: self.class,
            instance: self.instance,
            site: self.site,
            key: self.key,
            word: self.word | NESTING,
            nesting: self.nesting().clone(),
        }
    }
}

impl HeldLock {
    /// A fresh entry (no serial, key or nest position yet:
    /// [`HeldLocks::push`](crate::held_locks::HeldLocks::push) sets them).
    pub(crate) fn new(
        class: &'static ClassInfo,
        instance: Instance,
        read: Read,
        trylock: bool,
        nest: Option<NonZeroUsize>,
        site: &'static Location<'static>,
    ) -> HeldLock {
        HeldLock {
            class,
            instance,
            site,
            key: 0,
            word: read as u64 | if trylock { TRYLOCK } else { 0 } | NESTING,
            nesting: Nesting {
                nest,
                nest_pos: 0,
                merged: None,
                upgradable: false,
            },
        }
    }

    /// Sets the serial and flags word ([`HeldStack`](crate::held_stack::HeldStack)'s
    /// in-place push).
    #[inline(always)]
    pub(crate) fn set_word(&mut self, word: u64) {
        self.word = word;
    }

    /// The serial of this acquisition (0: none yet).
    #[inline(always)]
    pub(crate) fn serial(&self) -> u64 {
        self.word >> FLAG_BITS
    }

    /// Gives the entry serial `serial` (its flags unchanged).
    pub(crate) fn set_serial(&mut self, serial: u64) {
        self.word = serial << FLAG_BITS | (self.word & ((1 << FLAG_BITS) - 1));
    }

    /// How the lock is held.
    #[inline]
    pub(crate) fn read(&self) -> Read {
        Read::from_bits(self.word & READ_MASK)
    }

    /// Changes how the lock is held (`downgrade` and friends).
    pub(crate) fn set_read(&mut self, read: Read) {
        self.word = (self.word & !READ_MASK) | read as u64;
    }

    /// Taken by a trylock.
    #[inline]
    pub(crate) fn trylock(&self) -> bool {
        self.word & TRYLOCK != 0
    }

    /// See [`EDGELESS`].
    pub(crate) fn edgeless(&self) -> bool {
        self.word & EDGELESS != 0
    }

    /// See [`EDGELESS`].
    pub(crate) fn set_edgeless(&mut self, edgeless: bool) {
        self.set_flag(EDGELESS, edgeless);
    }

    /// See [`SENDABLE`].
    #[inline]
    pub(crate) fn sendable(&self) -> bool {
        self.word & SENDABLE != 0
    }

    /// See [`SENDABLE`].
    pub(crate) fn set_sendable(&mut self, sendable: bool) {
        self.set_flag(SENDABLE, sendable);
    }

    /// See [`MOVABLE`].
    #[inline]
    pub(crate) fn movable(&self) -> bool {
        self.word & MOVABLE != 0
    }

    /// See [`MOVABLE`].
    pub(crate) fn set_movable(&mut self, movable: bool) {
        self.set_flag(MOVABLE, movable);
    }

    fn set_flag(&mut self, flag: u64, on: bool) {
        self.word = if on {
            self.word | flag
        } else {
            self.word & !flag
        };
    }

    /// The nest-lock fields (none if this entry was pushed by the fast path).
    #[inline]
    pub(crate) fn nesting(&self) -> &Nesting {
        if self.word & NESTING != 0 {
            &self.nesting
        } else {
            &NO_NESTING
        }
    }

    /// The nest-lock fields, made current first if they were not.
    pub(crate) fn nesting_mut(&mut self) -> &mut Nesting {
        if self.word & NESTING == 0 {
            self.nesting = Nesting::default();
            self.word |= NESTING;
        }
        &mut self.nesting
    }

    /// The nest lock's instance (`lock_nest_lock`).
    pub(crate) fn nest(&self) -> Option<NonZeroUsize> {
        self.nesting().nest
    }

    /// Is the entry known to be the lock's upgradable reader's (see [`Nesting::upgradable`])?
    pub(crate) fn upgradable(&self) -> bool {
        self.nesting().upgradable
    }

    /// The entry is (or is no longer) the lock's upgradable reader's.
    pub(crate) fn set_upgradable(&mut self, upgradable: bool) {
        if upgradable || self.word & NESTING != 0 {
            self.nesting_mut().upgradable = upgradable;
        }
    }

    /// Does this entry hold other instances merged into it?
    #[inline]
    pub(crate) fn is_merged(&self) -> bool {
        self.word & MERGED != 0
    }

    /// Is this the entry of serial `serial`, unmerged (the fast release's test: one compare)?
    #[inline(always)]
    pub(crate) fn is_whole_entry_of(&self, serial: u64) -> bool {
        self.word & RELEASE_MASK == serial << FLAG_BITS
    }

    /// Is this the plain entry of serial `serial` — pushed by the fast path: no trylock, not
    /// edgeless, not an async lock's, no nest-lock fields, nothing merged — whatever its read
    /// mode? Only such an entry changes its kind in place ([`rekind`](Self::rekind)).
    #[inline(always)]
    pub(crate) fn is_plain_entry_of(&self, serial: u64) -> bool {
        self.word & !READ_MASK == serial << FLAG_BITS
    }

    /// A plain entry ([`is_plain_entry_of`](Self::is_plain_entry_of)) is now held in mode
    /// `read`, taken at `site`, with `key` the chain key that goes with it.
    #[inline(always)]
    pub(crate) fn rekind(&mut self, read: Read, key: u64, site: &'static Location<'static>) {
        self.word = (self.word & !READ_MASK) | read as u64;
        self.key = key;
        self.site = site;
    }

    /// A copy of the instances merged into this entry.
    #[allow(clippy::box_collection)]
    pub(crate) fn merged_clone(&self) -> Option<Box<Vec<Instance>>> {
        self.nesting().merged.clone()
    }

    /// Replaces the instances merged into this entry.
    #[allow(clippy::box_collection)]
    pub(crate) fn set_merged(&mut self, merged: Option<Box<Vec<Instance>>>) {
        if merged.is_none() && !self.is_merged() {
            return;
        }
        self.set_flag(MERGED, merged.is_some());
        self.nesting_mut().merged = merged;
    }

    /// The id this entry contributes to the chain key.
    pub(crate) fn chain_id(&self) -> u64 {
        chain_id(self.class, self.read(), self.trylock()) | (self.nesting().nest_pos as u64) << 35
    }

    /// Does this entry hold `instance` (itself or merged)?
    pub(crate) fn holds(&self, instance: Instance) -> bool {
        self.instance == instance
            || self
                .nesting()
                .merged
                .as_ref()
                .is_some_and(|m| m.contains(&instance))
    }

    /// The instance last added to this entry (the merged ones come after its own).
    pub(crate) fn last_instance(&self) -> Instance {
        self.nesting()
            .merged
            .as_ref()
            .and_then(|m| m.last().copied())
            .unwrap_or(self.instance)
    }

    /// The instances merged into this entry besides its own.
    pub(crate) fn merged_instances(&self) -> &[Instance] {
        self.nesting().merged.as_ref().map_or(&[], |m| m.as_slice())
    }

    /// Instances merged into this entry besides its own.
    pub(crate) fn merged_count(&self) -> usize {
        self.nesting().merged.as_ref().map_or(0, |m| m.len())
    }

    /// Adds `instance` to this entry (a nest-lock merge).
    pub(crate) fn merge(&mut self, instance: Instance) {
        self.nesting_mut()
            .merged
            .get_or_insert_with(Default::default)
            .push(instance);
        self.word |= MERGED;
    }

    /// Takes `instance` out of a merged entry; returns false if the entry holds only it.
    pub(crate) fn unmerge(&mut self, instance: Instance) -> bool {
        if !self.is_merged() {
            return false;
        }
        let own = self.instance;
        let merged = self.nesting_mut().merged.as_mut().expect("checked above");
        let new_own = if own == instance {
            Some(merged.pop().expect("merged lists are never empty"))
        } else if let Some(i) = merged.iter().position(|&m| m == instance) {
            merged.swap_remove(i);
            None
        } else {
            return false;
        };
        if merged.is_empty() {
            self.set_merged(None);
        }
        if let Some(i) = new_own {
            self.instance = i;
        }
        true
    }
}

/// The id an entry of `class` held in mode `read` (`trylock`), with no nest lock, contributes
/// to the chain key.
#[inline]
pub(crate) fn chain_id(class: &ClassInfo, read: Read, trylock: bool) -> u64 {
    ((class.id as u64) << 3) | ((read as u64) << 1) | trylock as u64
}
