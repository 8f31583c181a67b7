//! The storage of a held-lock stack: the entries, bottom first, in slots that outlive them.
//!
//! A pop only shortens the stack; the slot above the top keeps the entry that was there. A
//! push on the fast path then overwrites just the hot fields of that slot in place (class,
//! instance, site, chain key, serial and flags: five stores) instead of writing a whole entry:
//! each store before the lock's atomic instruction waits to drain, and this is the hottest
//! write of the validator. The rest of a kept slot (its nest-lock fields) is stale and marked
//! so by the flags (see [`HeldLock::nesting`]). The other changes (insert, remove, split,
//! retain) keep every slot too (a removed entry is handed out as a copy and its slot stays
//! above the top), so a thread keeps its fast pushes after an out-of-order release, and a
//! task's reused stack keeps them too.

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
    /// Serials skipped by [`set_count`](Self::set_count) (issued to no acquisition).
    skipped: u64,
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
        if n as u64 > self.issued {
            self.skipped += n as u64 - self.issued;
            self.issued = n as u64;
        }
        self.gone = self.issued - n as u64;
    }

    /// Serials issued to acquisitions (the last serial issued, less those skipped).
    pub(crate) fn acquisitions(&self) -> u64 {
        self.issued - self.skipped
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

    /// The top entry, and the chain key of the entries below it (`None`: nothing below).
    #[inline(always)]
    pub(crate) fn top_mut_with_key_below(&mut self) -> Option<(&mut HeldLock, Option<u64>)> {
        let n = self.count();
        let below = n
            .checked_sub(2)
            .and_then(|i| self.slots.get(i))
            .map(|h| h.key);
        let top = self.slots.get_mut(n.wrapping_sub(1))?;
        Some((top, below))
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

    /// Removes and returns (a copy of) the top entry; its slot is kept.
    pub(crate) fn pop(&mut self) -> Option<HeldLock> {
        let n = self.count().checked_sub(1)?;
        let entry = self.slots[n].clone();
        self.set_count(n);
        Some(entry)
    }

    /// Inserts `entry` (which has its serial) at `index` (at most the length), shifting the
    /// entries above it up.
    pub(crate) fn insert(&mut self, index: usize, entry: HeldLock) {
        let n = self.count();
        self.slots.insert(index.min(n), entry);
        self.set_count(n + 1);
    }

    /// Removes and returns (a copy of) entry `index`, shifting the entries above it down; the
    /// slot is kept above the top.
    pub(crate) fn remove(&mut self, index: usize) -> HeldLock {
        let n = self.count();
        self.slots[index..n].rotate_left(1);
        let entry = self.slots[n - 1].clone();
        self.set_count(n - 1);
        entry
    }

    /// Splits off (copies of) the entries from `at` up, bottom first; their slots are kept.
    pub(crate) fn split_off(&mut self, at: usize) -> Vec<HeldLock> {
        let n = self.count();
        let at = at.min(n);
        let above = self.slots[at..n].to_vec();
        self.set_count(at);
        above
    }

    /// Keeps only the entries for which `keep` is true, in order; the others' slots are
    /// kept above the top.
    #[cfg(lockdep_tasks)]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&HeldLock) -> bool) {
        let n = self.count();
        let mut kept = 0;
        for i in 0..n {
            if keep(&self.slots[i]) {
                self.slots.swap(kept, i);
                kept += 1;
            }
        }
        self.set_count(kept);
    }
}

impl Clone for HeldStack {
    fn clone(&self) -> Self {
        HeldStack {
            slots: self.to_vec(),
            issued: self.issued,
            gone: self.gone,
            skipped: self.skipped,
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

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;

    fn class(i: usize) -> &'static ClassInfo {
        crate::class::instance_class("held_stack test", i)
    }

    fn entry(i: usize) -> HeldLock {
        HeldLock::new(
            class(i),
            i,
            Read::Exclusive,
            false,
            None,
            Location::caller(),
        )
    }

    fn instances(s: &HeldStack) -> Vec<usize> {
        s.iter().map(|h| h.instance).collect()
    }

    #[test]
    fn out_of_order_changes_keep_the_slots_above_the_top() {
        let mut s = HeldStack::default();
        for i in 1..=4 {
            s.push(entry(i));
        }
        assert!(!s.has_spare_slot());
        assert_eq!(s.remove(1).instance, 2);
        assert_eq!(instances(&s), [1, 3, 4]);
        assert!(s.has_spare_slot(), "a removal keeps the slot");
        assert_eq!(s.split_off(1).len(), 2);
        assert_eq!(instances(&s), [1]);
        s.insert(0, entry(5));
        assert_eq!(instances(&s), [5, 1]);
        assert_eq!(s.pop().map(|e| e.instance), Some(1));
        s.clear();
        assert!(s.has_spare_slot(), "cleared, the slots stay");
        // The fast path's push reuses a kept slot: hot fields and word only, stale nest-lock
        // fields unseen.
        let mut nested = entry(6);
        nested.nesting_mut().nest = std::num::NonZeroUsize::new(1);
        s.push(nested);
        s.pop_in_place();
        let serial = s.push_in_place(class(7), 7, Location::caller(), 42, Read::Shared, true);
        let top = s.top().expect("pushed");
        assert_eq!((top.instance, top.key, top.serial()), (7, 42, serial));
        assert_eq!(
            (top.read(), top.sendable(), top.nest()),
            (Read::Shared, true, None)
        );
        assert!(top.is_whole_entry_of(serial));
    }

    #[test]
    fn an_entry_put_back_twice_skips_serials_without_counting_acquisitions() {
        let mut s = HeldStack::default();
        let first = s.push(entry(1));
        let again = s.top().cloned().expect("pushed");
        s.insert(0, again.clone());
        s.insert(0, again);
        assert_eq!(instances(&s), [1, 1, 1]);
        assert_eq!(
            s.acquisitions(),
            1,
            "one acquisition, however often it is shown held"
        );
        let next = s.push(entry(2));
        assert!(next > 3 && next != first, "serials stay unique: {next}");
        assert_eq!(s.acquisitions(), 2);
    }

    #[cfg(lockdep_tasks)]
    #[test]
    fn retain_keeps_the_order_and_the_slots() {
        let mut s = HeldStack::default();
        for i in 1..=5 {
            s.push(entry(i));
        }
        s.retain(|h| h.instance % 2 == 1);
        assert_eq!(instances(&s), [1, 3, 5]);
        assert!(s.has_spare_slot());
        s.retain(|_| false);
        assert!(s.is_empty() && s.has_spare_slot());
    }
}
