//! The per-thread held-lock stack and its running chain key.
//!
//! Each entry records what the kernel's `struct held_lock` records that matters in user space:
//! the class, the instance, the read mode, trylock, the nest lock and where it was taken. The
//! chain key is a hash over the (class, read, trylock) ids of the entries, bottom to top, so a
//! cached read chain never hides a write (kernel commit f611e8cf98ec) and a trylock entry never
//! hides the edges its non-trylock twin would add.

use std::panic::Location;

use crate::class::ClassInfo;

pub(crate) use crate::dep_map::Read;

/// Identity of a lock instance: the address of its validator handle.
pub(crate) type Instance = usize;

/// One entry of the held-lock stack.
#[derive(Clone)]
pub(crate) struct HeldLock {
    pub(crate) class: &'static ClassInfo,
    pub(crate) instance: Instance,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    /// The nest lock's instance (ids start at 1, so `None` costs no extra word).
    pub(crate) nest: Option<std::num::NonZeroUsize>,
    /// Acquisitions merged into this entry under a nest lock (kernel `references`).
    pub(crate) references: u32,
    pub(crate) site: &'static Location<'static>,
    /// The chain key of the stack up to and including this entry.
    pub(crate) key: u64,
    /// Identifies this acquisition, so its guard releases exactly this entry.
    pub(crate) serial: u64,
}

impl HeldLock {
    /// The id this entry contributes to the chain key.
    pub(crate) fn chain_id(&self) -> u64 {
        chain_id(self.class, self.read, self.trylock)
    }
}

/// The id an entry of `class` held in mode `read` (`trylock`) contributes to the chain key.
#[inline]
pub(crate) fn chain_id(class: &ClassInfo, read: Read, trylock: bool) -> u64 {
    ((class.id as u64) << 3) | ((read as u64) << 1) | trylock as u64
}

/// Key of the empty chain (kernel INITIAL_CHAIN_KEY).
pub(crate) const INITIAL_CHAIN_KEY: u64 = !0;

/// Mixes one entry id into a chain key (a splitmix64 round).
#[inline]
pub(crate) fn mix_chain_key(key: u64, id: u64) -> u64 {
    let mut z = key.rotate_left(17) ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The held-lock stack of one thread.
pub(crate) struct HeldLocks {
    pub(crate) stack: Vec<HeldLock>,
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

    /// Pushes `entry`; a fresh acquisition (serial 0) gets a new serial. Returns the serial.
    pub(crate) fn push(&mut self, mut entry: HeldLock) -> u64 {
        if entry.serial == 0 {
            entry.serial = self.next_serial;
            self.next_serial += 1;
            self.slow_serials += 1;
        }
        let serial = entry.serial;
        entry.key = self.key_with(&entry);
        self.stack.push(entry);
        serial
    }

    /// Pushes a fresh `entry` whose chain key `key` the caller already computed.
    #[inline]
    pub(crate) fn push_keyed(&mut self, mut entry: HeldLock, key: u64) -> u64 {
        entry.serial = self.next_serial;
        self.next_serial += 1;
        let serial = entry.serial;
        entry.key = key;
        self.stack.push(entry);
        serial
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

    /// Chain key the stack would have with `entry` pushed.
    pub(crate) fn key_with(&self, entry: &HeldLock) -> u64 {
        mix_chain_key(self.key(), entry.chain_id())
    }

    /// The chain ids of the stack plus `entry`, bottom to top.
    pub(crate) fn chain_with(&self, entry: &HeldLock) -> Vec<u64> {
        self.stack
            .iter()
            .chain(std::iter::once(entry))
            .map(HeldLock::chain_id)
            .collect()
    }

    /// Index of the topmost entry of `instance` matching `pred`.
    pub(crate) fn find(
        &self,
        instance: Instance,
        pred: impl Fn(&HeldLock) -> bool,
    ) -> Option<usize> {
        self.stack
            .iter()
            .rposition(|h| h.instance == instance && pred(h))
    }

    /// Removes entry `idx` and returns the entries that were above it (to be re-acquired).
    pub(crate) fn remove(&mut self, idx: usize) -> Vec<HeldLock> {
        let above = self.stack.split_off(idx + 1);
        self.stack.pop();
        above
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }
}
