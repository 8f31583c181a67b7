//! The fast path: chains of held (class, read, trylock) ids that were validated before.
//!
//! Every distinct chain is validated once per process (per `reset()`). A thread first looks in
//! its own set of chain keys (no shared write, no lock); on a miss it looks in the global table,
//! which stores each chain's full id list so a hash collision can never make an unvalidated
//! chain look validated; only a global miss goes to the slow path. A chain is published to the
//! global table only after its validation has finished, under the graph lock.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use once_cell::sync::Lazy;

use crate::sync::internal::Section;

/// Bumped by `reset()`: every thread's local set is stale once it changes.
static GENERATION: AtomicU64 = AtomicU64::new(0);

static GLOBAL: Lazy<DashMap<u64, Box<[u64]>>> = Lazy::new(DashMap::new);

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// Slots of the direct-mapped cache of recently hit chains (a power of two).
const RECENT: usize = 32;

/// One thread's validated chain keys.
#[derive(Default)]
pub(crate) struct LocalChains {
    keys: HashSet<u64, BuildKeyHasher>,
    /// Direct-mapped cache of recent hits in front of `keys` (cheaper than a hash probe).
    recent: [u64; RECENT],
    generation: u64,
    /// The thread's fast-path hits already added to the global statistics.
    flushed_fast_hits: u64,
    /// Hits found in `keys` (out of the fast path) not yet added to the statistics.
    local_hits: u64,
}

impl LocalChains {
    /// True if `key` is among the chains this thread hit recently (the fast path: one load of
    /// the generation, one slot compared).
    #[inline(always)]
    pub(crate) fn recent_hit(&self, key: u64) -> bool {
        GENERATION.load(Ordering::Relaxed) == self.generation
            && self.recent[key as usize % RECENT] == key
    }

    /// True if this thread already knows `key` as validated (out of the fast path): then it
    /// remembers it as recent and counts the hit, thread-locally, for the next
    /// [`flush_hits`](Self::flush_hits).
    pub(crate) fn contains(&mut self, key: u64) -> bool {
        let generation = GENERATION.load(Ordering::Relaxed);
        if generation != self.generation {
            self.keys.clear();
            self.recent = [0; RECENT];
            self.generation = generation;
            return false;
        }
        let hit = self.recent[key as usize % RECENT] == key || self.keys.contains(&key);
        if hit {
            self.remember(key);
            self.local_hits += 1;
        }
        hit
    }

    /// Knows `key` from now on, and as recent.
    fn remember(&mut self, key: u64) {
        self.keys.insert(key);
        self.recent[key as usize % RECENT] = key;
    }

    /// Adds this thread's fast-path hits to the statistics; `total` is how many it has had
    /// (the fast path counts nothing itself: the held-lock stack knows how many it pushed).
    pub(crate) fn flush_hits(&mut self, total: u64) {
        let new = total.wrapping_sub(self.flushed_fast_hits) + std::mem::take(&mut self.local_hits);
        self.flushed_fast_hits = total;
        if new != 0 {
            HITS.fetch_add(new, Ordering::Relaxed);
        }
    }

    /// Looks `chain` up in the global table; on a hit, remembers it locally.
    pub(crate) fn adopt_global(&mut self, key: u64, chain: &[u64]) -> bool {
        let hit = {
            let _section = Section::enter();
            GLOBAL.get(&key).is_some_and(|c| &c[..] == chain)
        };
        if hit {
            HITS.fetch_add(1, Ordering::Relaxed);
            self.remember(key);
        } else {
            MISSES.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Records a chain validated by this thread's slow path.
    pub(crate) fn insert_validated(&mut self, key: u64, chain: Vec<u64>) {
        let _section = Section::enter();
        GLOBAL.insert(key, chain.into_boxed_slice());
        self.remember(key);
    }
}

/// Forgets every validated chain, in every thread.
pub(crate) fn clear() {
    let _section = Section::enter();
    GLOBAL.clear();
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// (validated chains, hits, misses) so far; fast-path hits of other threads are counted when
/// they next take the slow path.
pub(crate) fn stats() -> (usize, u64, u64) {
    let _section = Section::enter(); // the table's lazy initialisation allocates
    (
        GLOBAL.len(),
        HITS.load(Ordering::Relaxed),
        MISSES.load(Ordering::Relaxed),
    )
}

/// Chain keys are already well-mixed hashes: use them as they are.
#[derive(Default, Clone, Copy)]
pub(crate) struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// Identity hasher for `u64` chain keys.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
