//! The storage of a held-lock stack: the entries, bottom first, in slots that outlive them.
//!
//! A pop only shortens the stack; the slot above the top keeps the entry that was there. A
//! push on the fast path then overwrites just the hot fields of that slot in place (class,
//! instance, site, chain key, serial and flags: five stores) instead of writing a whole entry:
//! each store before the lock's atomic instruction waits to drain, and this is the hottest
//! write of the validator. The rest of a kept slot (its nest-lock fields) is stale and marked
//! so by the flags (see [`HeldLock::nesting`]). Every other change (insert, remove, split)
//! first drops the leftovers, so they are never seen or moved.

use std::ops::{Deref, DerefMut};
use std::panic::Location;

use crate::class::ClassInfo;
use crate::held_lock::{hot_word, HeldLock, Instance, Read};

/// A held-lock stack's entries (`self[..]`, bottom first) and the kept slots above them.
///
/// It also hands out the entries' serials. Its length is not stored: it is the number of
/// serials issued less a count that every shortening raises, so the fast path's push makes
/// one bookkeeping store (the serial counter, which is also the length) and its pop one.
#[derive(Default)]
pub(crate) struct HeldStack {
    /// `slots[..len]` are the entries; `slots[len..]` the leftovers of popped ones.
    slots: Vec<HeldLock>,
    /// Serials issued so far (the last one issued; serials start at 1).
    issued: u64,
    /// `issued - len`.
    gone: u64,
}

impl HeldStack {
    /// The number of entries.
    #[inline(always)]
    fn count(&self) -> usize {
        (self.issued - self.gone) as usize
    }

    /// Records that the stack has `n` entries. More entries than serials issued (an entry
    /// put back twice, e.g. a condvar wait's mutex shown held to a report hook while a
    /// nested report is delivered, or one from another stack) moves the serial counter on:
    /// serials stay unique, a few go unused.
    fn set_count(&mut self, n: usize) {
        self.issued = self.issued.max(n as u64);
        self.gone = self.issued - n as u64;
    }

    /// The last serial issued (0: none yet).
    pub(crate) fn issued(&self) -> u64 {
        self.issued
    }

    /// Is there a kept slot for [`push_in_place`](Self::push_in_place)?
    #[inline(always)]
    pub(crate) fn has_spare_slot(&self) -> bool {
        self.count() < self.slots.len()
    }

    /// Pushes a fresh acquisition with no nest lock by overwriting the hot fields of the kept
    /// slot above the top ([`has_spare_slot`](Self::has_spare_slot) must be true; else nothing
    /// is pushed). Returns its new serial.
    #[inline(always)]
    pub(crate) fn push_in_place(
        &mut self,
        class: &'static ClassInfo,
        instance: Instance,
        site: &'static Location<'static>,
        key: u64,
        read: Read,
        sendable: bool,
    ) -> u64 {
        let serial = self.issued + 1;
        // (`get_mut`, not indexing: no panic path, so the callers stay small enough to inline.)
        let at = self.count();
        if let Some(slot) = self.slots.get_mut(at) {
            slot.class = class;
            slot.instance = instance;
            slot.site = site;
            slot.key = key;
            slot.set_word(hot_word(serial, read, sendable));
            self.issued = serial;
        }
        serial
    }

    /// The top entry (as `last()`, without a panic path: the fast paths use it).
    #[inline(always)]
    pub(crate) fn top(&self) -> Option<&HeldLock> {
        // (Nothing held: index `usize::MAX`, no slot.)
        self.slots.get(self.count().wrapping_sub(1))
    }

    /// Removes the top entry, leaving it in its slot (nothing is dropped or moved). The
    /// caller saw the entry ([`top`](Self::top)).
    #[inline(always)]
    pub(crate) fn pop_in_place(&mut self) {
        self.gone += 1;
    }

    /// Pushes `entry`, into a kept slot if there is one; a fresh acquisition (serial 0) gets
    /// a new serial. Returns its serial.
    pub(crate) fn push(&mut self, mut entry: HeldLock) -> u64 {
        let at = self.count();
        if entry.serial() == 0 {
            self.issued += 1;
            entry.set_serial(self.issued);
        } else {
            self.set_count(at + 1);
        }
        let serial = entry.serial();
        match self.slots.get_mut(at) {
            Some(slot) => *slot = entry,
            None => self.slots.push(entry),
        }
        serial
    }

    /// Forgets every entry (their slots are kept; serials keep counting).
    pub(crate) fn clear(&mut self) {
        self.gone = self.issued;
    }

    /// Removes and returns the top entry.
    pub(crate) fn pop(&mut self) -> Option<HeldLock> {
        self.edit(Vec::pop)
    }

    /// Inserts `entry` (which has its serial) at `index` (at most the length), shifting the
    /// entries above it up.
    pub(crate) fn insert(&mut self, index: usize, entry: HeldLock) {
        self.edit(|v| v.insert(index, entry));
    }

    /// Removes and returns entry `index`, shifting the entries above it down.
    pub(crate) fn remove(&mut self, index: usize) -> HeldLock {
        self.edit(|v| v.remove(index))
    }

    /// Splits off the entries from `at` up, bottom first.
    pub(crate) fn split_off(&mut self, at: usize) -> Vec<HeldLock> {
        self.edit(|v| v.split_off(at))
    }

    /// Keeps only the entries for which `keep` is true, in order.
    #[cfg(lockdep_tasks)]
    pub(crate) fn retain(&mut self, keep: impl FnMut(&HeldLock) -> bool) {
        self.edit(|v| v.retain(keep));
    }

    /// Runs `f` on the entries as a `Vec` (the leftovers dropped first); `f` adds no fresh
    /// acquisitions (their entries already have serials).
    fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<HeldLock>) -> R) -> R {
        self.slots.truncate(self.count());
        let out = f(&mut self.slots);
        self.set_count(self.slots.len());
        out
    }
}

impl Clone for HeldStack {
    fn clone(&self) -> Self {
        HeldStack {
            slots: self.to_vec(),
            issued: self.issued,
            gone: self.gone,
        }
    }
}

impl Deref for HeldStack {
    type Target = [HeldLock];
    #[inline(always)]
    fn deref(&self) -> &[HeldLock] {
        &self.slots[..self.count()]
    }
}

impl DerefMut for HeldStack {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [HeldLock] {
        let n = self.count();
        &mut self.slots[..n]
    }
}
