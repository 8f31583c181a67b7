//! The per-thread held-lock stack (entries in [`held_lock`](crate::held_lock), storage in
//! [`held_stack`](crate::held_stack)) and its running chain key.
//!
//! The chain key is a hash over the (class, read, trylock, nest position) ids of the entries,
//! bottom to top, so a cached read chain never hides a write (kernel commit f611e8cf98ec), a
//! trylock entry never hides the edges its non-trylock twin would add, and a chain validated
//! with a nest-lock exemption is never reused for an acquisition without it.

use std::num::NonZeroUsize;
use std::panic::Location;

use crate::class::ClassInfo;
pub(crate) use crate::held_lock::{chain_id, HeldLock, Instance, Read};
use crate::held_stack::HeldStack;

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
    pub(crate) stack: HeldStack,
    /// The dependency graph's epoch the stack's edges were recorded in: after a `reset()` (a
    /// new epoch) they are recorded again before the next validation.
    pub(crate) graph_epoch: u64,
    /// Which holder's stack this is (unique in the process): a guard's token names it, so its
    /// release finds this stack wherever the guard is dropped.
    #[cfg(lockdep_tasks)]
    pub(crate) uid: u64,
    /// Serials handed out by [`push`](Self::push) (everything but the fast path).
    slow_serials: u64,
    /// Serials up to this one were handed out before the stack was last forgotten (`reset()`):
    /// their entries are gone, and their guards' releases must be ignored.
    pub(crate) forgotten_up_to: u64,
    /// The pseudo-locks (`LockMap`) and armed events among the entries forgotten and not
    /// released since, once per entry (a later `reset()` adds to them): their release names no
    /// entry, so each finds its own here, is ignored instead of being taken for an unbalanced
    /// unlock, and gives back its count of holders (`DepMap::count_hold`).
    forgotten_annotations: Vec<Instance>,
    /// The generation of the freed registry this stack last checked its entries against
    /// (see `validator/freed.rs`).
    pub(crate) freed_seen: u64,
}

// (Not derived: with the `tokio` feature a new stack takes a fresh uid.)
#[cfg_attr(not(lockdep_tasks), allow(clippy::derivable_impls))]
impl Default for HeldLocks {
    fn default() -> Self {
        HeldLocks {
            stack: HeldStack::default(),
            graph_epoch: 0,
            #[cfg(lockdep_tasks)]
            uid: next_uid(),
            slow_serials: 0,
            forgotten_up_to: 0,
            forgotten_annotations: Vec::new(),
            freed_seen: 0,
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
        let pos = nest_pos_in(&self.stack, entry.nest());
        if pos != 0 || entry.nesting().nest_pos != 0 {
            entry.nesting_mut().nest_pos = pos;
        }
    }

    /// Chain key the stack would have with `entry` (already [`place`](Self::place)d) pushed.
    pub(crate) fn key_with(&self, entry: &HeldLock) -> u64 {
        mix_chain_key(self.key(), entry.chain_id())
    }

    /// Pushes `entry`, placing it on the stack as it is; a fresh acquisition (serial 0) gets
    /// a new serial. Returns the serial.
    pub(crate) fn push(&mut self, mut entry: HeldLock) -> u64 {
        if entry.serial() == 0 {
            self.slow_serials += 1;
        }
        self.place(&mut entry);
        entry.key = self.key_with(&entry);
        self.stack.push(entry)
    }

    /// The fast path's push: a fresh acquisition with no nest lock whose chain key `key` the
    /// caller computed, written in place into the kept slot above the top (the caller checked
    /// [`HeldStack::has_spare_slot`]). Returns its serial.
    #[inline(always)]
    pub(crate) fn push_hot(
        &mut self,
        class: &'static ClassInfo,
        instance: Instance,
        read: Read,
        sendable: bool,
        site: &'static Location<'static>,
        key: u64,
    ) -> u64 {
        self.stack
            .push_in_place(class, instance, site, key, read, sendable)
    }

    /// Puts `entry` back at `index` (a condvar wait restoring the mutex where it was) and
    /// recomputes the nest positions and chain keys above it.
    pub(crate) fn insert(&mut self, index: usize, entry: HeldLock) {
        let index = index.min(self.stack.len());
        self.stack.insert(index, entry);
        self.rekey_from(index);
    }

    /// Removes the topmost entry of `instance` itself (not merged into another entry) with
    /// serial `serial`, if any, without putting back (or validating again) the entries above
    /// it: their chain keys are recomputed. (A condvar's mutex merged into another entry under
    /// a nest lock shares that entry's serial: only its own entry is the one to remove.)
    pub(crate) fn withdraw(&mut self, serial: u64, instance: Instance) {
        if let Some(i) = self
            .stack
            .iter()
            .rposition(|h| h.serial() == serial && h.instance == instance && !h.is_merged())
        {
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
            let pos = nest_pos_in(below, entry.nest());
            if pos != 0 || entry.nesting().nest_pos != 0 {
                entry.nesting_mut().nest_pos = pos;
            }
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
        let annotations = self
            .stack
            .iter()
            .filter(|h| h.class.pseudo || h.class.event)
            .map(|h| h.instance);
        self.forgotten_annotations.extend(annotations);
        self.stack.clear();
        self.forgotten_up_to = self.stack.issued();
    }

    /// Was an entry of the pseudo-lock or event `instance` forgotten by a `reset()` and not
    /// released since? Then this release is that entry's (taken off the list).
    pub(crate) fn take_forgotten_annotation(&mut self, instance: Instance) -> bool {
        match self
            .forgotten_annotations
            .iter()
            .rposition(|&i| i == instance)
        {
            Some(at) => {
                self.forgotten_annotations.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// How many acquisitions the fast path has pushed on this thread (its chain-cache hits).
    pub(crate) fn fast_pushes(&self) -> u64 {
        self.stack.acquisitions() - self.slow_serials
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

    /// The entry `serial` of `instance` is held in mode `read` from now on (`upgradable`: as
    /// the lock's upgradable reader), where it is: a downgrade (`validator::change_read`;
    /// nothing is validated: a change never needs to be). An entry into which other instances
    /// of its class were merged under their nest lock holds other guards' locks too, which
    /// keep their mode: `instance` leaves it for an entry of its own, right below it, with a
    /// new serial (the other guards keep the entry's). Returns the entry's serial now, `None`
    /// if there is no such entry.
    pub(crate) fn change_read(
        &mut self,
        instance: Instance,
        serial: u64,
        read: Read,
        upgradable: bool,
    ) -> Option<u64> {
        let idx = self.find(instance, |h| h.serial() == serial)?;
        // Re-push the entry and those above it: `push` keeps their serials and recomputes
        // each chain key.
        let mut above = self.stack.split_off(idx).into_iter();
        let mut entry = above.next().expect("found in the stack");
        let mut serial = serial;
        if entry.unmerge(instance) {
            // (Merged: it recorded no edges, and was taken by no trylock.)
            let mut own =
                HeldLock::new(entry.class, instance, read, false, entry.nest(), entry.site);
            own.set_edgeless(true);
            own.set_upgradable(upgradable);
            own.set_sendable(entry.sendable());
            // Below the entry it leaves: the locks taken after them keep their edges from
            // the top one, the others' (held in the stronger mode).
            serial = self.push(own);
            self.push(entry);
        } else {
            entry.set_read(read);
            entry.set_upgradable(upgradable);
            self.push(entry);
        }
        for e in above {
            self.push(e);
        }
        Some(serial)
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
