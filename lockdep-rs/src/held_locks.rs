//! The per-thread held-lock stack and its running chain key.
//!
//! Each entry records what the kernel's `struct held_lock` records that matters in user space:
//! the class, the instance, the read mode, trylock, the nest lock and where it was taken, plus
//! the other instances merged into it under its nest lock (the kernel keeps only a count; we
//! keep the instances, so each stays visible to `is_held`, release and the self-deadlock check).
//! The chain key is a hash over the (class, read, trylock, nest position) ids of the entries,
//! bottom to top, so a cached read chain never hides a write (kernel commit f611e8cf98ec), a
//! trylock entry never hides the edges its non-trylock twin would add, and a chain validated
//! with a nest-lock exemption is never reused for an acquisition without it.

use std::num::NonZeroUsize;
use std::panic::Location;

use crate::class::ClassInfo;

pub(crate) use crate::read::Read;

/// Identity of a lock instance: the id its validator handle got on first use (never 0).
pub(crate) type Instance = usize;

/// One entry of the held-lock stack.
#[derive(Clone)]
pub(crate) struct HeldLock {
    pub(crate) class: &'static ClassInfo,
    pub(crate) instance: Instance,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    /// The nest lock's instance (`lock_nest_lock`).
    pub(crate) nest: Option<NonZeroUsize>,
    /// Index + 1 of the nest lock's entry in the stack (0: none); part of the chain id.
    pub(crate) nest_pos: u32,
    /// Further instances of this class merged into this entry under its nest lock. Boxed:
    /// one word in every entry (the fast path copies entries), a list only when merged.
    #[allow(clippy::box_collection)]
    pub(crate) merged: Option<Box<Vec<Instance>>>,
    /// Its acquisition recorded no edges (recursive locking, or exempt under its nest lock):
    /// put back after an out-of-order release, it is validated again.
    pub(crate) edgeless: bool,
    /// Its guard is `Send` (an async lock's): it may be released on another thread, by
    /// another holder, or after its holder ended; never a blocking lock held across `.await`.
    pub(crate) sendable: bool,
    pub(crate) site: &'static Location<'static>,
    /// The chain key of the stack up to and including this entry.
    pub(crate) key: u64,
    /// Identifies this acquisition, so its guard releases exactly this entry (merged
    /// acquisitions share their entry's serial).
    pub(crate) serial: u64,
}

impl HeldLock {
    /// A fresh entry (no serial, key or nest position yet: [`HeldLocks::push`] sets them).
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
            read,
            trylock,
            nest,
            nest_pos: 0,
            merged: None,
            edgeless: false,
            sendable: false,
            site,
            key: 0,
            serial: 0,
        }
    }

    /// The id this entry contributes to the chain key.
    pub(crate) fn chain_id(&self) -> u64 {
        chain_id(self.class, self.read, self.trylock) | (self.nest_pos as u64) << 35
    }

    /// Does this entry hold `instance` (itself or merged)?
    pub(crate) fn holds(&self, instance: Instance) -> bool {
        self.instance == instance || self.merged.as_ref().is_some_and(|m| m.contains(&instance))
    }

    /// The instance last added to this entry (the merged ones come after its own).
    pub(crate) fn last_instance(&self) -> Instance {
        self.merged
            .as_ref()
            .and_then(|m| m.last().copied())
            .unwrap_or(self.instance)
    }

    /// Instances merged into this entry besides its own.
    pub(crate) fn merged_count(&self) -> usize {
        self.merged.as_ref().map_or(0, |m| m.len())
    }

    /// Adds `instance` to this entry (a nest-lock merge).
    pub(crate) fn merge(&mut self, instance: Instance) {
        self.merged
            .get_or_insert_with(Default::default)
            .push(instance);
    }

    /// Takes `instance` out of a merged entry; returns false if the entry holds only it.
    pub(crate) fn unmerge(&mut self, instance: Instance) -> bool {
        let Some(merged) = self.merged.as_mut() else {
            return false;
        };
        if self.instance == instance {
            self.instance = merged.pop().expect("merged lists are never empty");
        } else if let Some(i) = merged.iter().position(|&m| m == instance) {
            merged.swap_remove(i);
        } else {
            return false;
        }
        if merged.is_empty() {
            self.merged = None;
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

/// Source of held-stack uids (a thread's or a task's stack; 0 is "none").
#[cfg(lockdep_tasks)]
static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new process-unique held-stack uid (never 0).
#[cfg(lockdep_tasks)]
pub(crate) fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(crate) use crate::chain_key::{mix_chain_key, INITIAL_CHAIN_KEY};

/// The held-lock stack of one holder: a thread, or (`cfg(lockdep_tasks)`) a tokio task.
pub(crate) struct HeldLocks {
    pub(crate) stack: Vec<HeldLock>,
    /// The dependency graph's epoch the stack's edges were recorded in: after a `reset()` (a
    /// new epoch) they are recorded again before the next validation.
    pub(crate) graph_epoch: u64,
    /// Which holder's stack this is (unique in the process): a guard's token names it, so its
    /// release finds this stack wherever the guard is dropped.
    #[cfg(lockdep_tasks)]
    pub(crate) uid: u64,
    next_serial: u64,
    /// Serials handed out by [`push`](Self::push) (everything but the fast path).
    slow_serials: u64,
    /// Serials up to this one were handed out before the stack was last forgotten (`reset()`):
    /// their entries are gone, and their guards' releases must be ignored.
    pub(crate) forgotten_up_to: u64,
}

impl Default for HeldLocks {
    fn default() -> Self {
        HeldLocks {
            stack: Vec::new(),
            graph_epoch: 0,
            #[cfg(lockdep_tasks)]
            uid: next_uid(),
            next_serial: 1,
            slow_serials: 0,
            forgotten_up_to: 0,
        }
    }
}

impl HeldLocks {
    /// The chain key of the whole stack (kept in the top entry, so a pop restores it).
    #[inline]
    pub(crate) fn key(&self) -> u64 {
        self.stack.last().map_or(INITIAL_CHAIN_KEY, |h| h.key)
    }

    /// Fills in `entry`'s nest position for the stack as it is now (its nest lock must be
    /// held for the position to count; a nest lock no longer held gives 0).
    pub(crate) fn place(&self, entry: &mut HeldLock) {
        entry.nest_pos = nest_pos_in(&self.stack, entry.nest);
    }

    /// Chain key the stack would have with `entry` (already [`place`](Self::place)d) pushed.
    pub(crate) fn key_with(&self, entry: &HeldLock) -> u64 {
        mix_chain_key(self.key(), entry.chain_id())
    }

    /// Pushes `entry`, placing it on the stack as it is; a fresh acquisition (serial 0) gets
    /// a new serial. Returns the serial.
    pub(crate) fn push(&mut self, mut entry: HeldLock) -> u64 {
        if entry.serial == 0 {
            entry.serial = self.next_serial;
            self.next_serial += 1;
            self.slow_serials += 1;
        }
        self.place(&mut entry);
        let serial = entry.serial;
        entry.key = self.key_with(&entry);
        self.stack.push(entry);
        serial
    }

    /// Pushes a fresh `entry` with no nest lock whose chain key `key` the caller computed.
    #[inline]
    pub(crate) fn push_keyed(&mut self, mut entry: HeldLock, key: u64) -> u64 {
        entry.serial = self.next_serial;
        self.next_serial += 1;
        let serial = entry.serial;
        entry.key = key;
        self.stack.push(entry);
        serial
    }

    /// Puts `entry` back at `index` (a condvar wait restoring the mutex where it was) and
    /// recomputes the nest positions and chain keys above it.
    pub(crate) fn insert(&mut self, index: usize, entry: HeldLock) {
        let index = index.min(self.stack.len());
        self.stack.insert(index, entry);
        self.rekey_from(index);
    }

    /// Removes the topmost entry with serial `serial`, if any, without putting back (or
    /// validating again) the entries above it: their chain keys are recomputed.
    pub(crate) fn withdraw(&mut self, serial: u64) {
        if let Some(i) = self.stack.iter().rposition(|h| h.serial == serial) {
            self.stack.remove(i);
            self.rekey_from(i);
        }
    }

    /// Recomputes nest positions and chain keys from entry `from` up (the entries below
    /// changed).
    fn rekey_from(&mut self, from: usize) {
        for i in from..self.stack.len() {
            let (below, rest) = self.stack.split_at_mut(i);
            let entry = &mut rest[0];
            entry.nest_pos = nest_pos_in(below, entry.nest);
            let key = below.last().map_or(INITIAL_CHAIN_KEY, |h| h.key);
            entry.key = mix_chain_key(key, entry.chain_id());
        }
    }

    /// Forgets the entries matching `pred` (a task's leaked blocking locks, once it ended) and
    /// recomputes the keys of the rest.
    #[cfg(lockdep_tasks)]
    pub(crate) fn forget_where(&mut self, pred: impl Fn(&HeldLock) -> bool) {
        self.stack.retain(|h| !pred(h));
        self.rekey_from(0);
    }

    /// Forgets every entry (`reset()`); serials keep counting, so a guard that outlives this
    /// can be told apart from the entries pushed after it.
    pub(crate) fn forget(&mut self) {
        self.stack.clear();
        self.forgotten_up_to = self.next_serial - 1;
    }

    /// How many acquisitions the fast path has pushed on this thread (its chain-cache hits).
    pub(crate) fn fast_pushes(&self) -> u64 {
        self.next_serial - 1 - self.slow_serials
    }

    /// Index of the topmost entry holding `instance` that matches `pred`.
    pub(crate) fn find(
        &self,
        instance: Instance,
        pred: impl Fn(&HeldLock) -> bool,
    ) -> Option<usize> {
        self.stack
            .iter()
            .rposition(|h| h.holds(instance) && pred(h))
    }

    /// Removes entry `idx` and returns it with the entries that were above it, bottom first
    /// (the caller puts those back).
    pub(crate) fn remove(&mut self, idx: usize) -> (HeldLock, Vec<HeldLock>) {
        let above = self.stack.split_off(idx + 1);
        let entry = self.stack.pop().expect("idx is in the stack");
        (entry, above)
    }
}

/// Index + 1 of the entry of `stack` holding the nest lock `nest` (0: none, or not held).
fn nest_pos_in(stack: &[HeldLock], nest: Option<NonZeroUsize>) -> u32 {
    nest.map_or(0, |n| {
        stack
            .iter()
            .position(|h| h.holds(n.get()))
            .map_or(0, |i| i as u32 + 1)
    })
}
