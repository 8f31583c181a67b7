//! The fast path: chains of held (class, read, trylock) ids that were validated before.
//!
//! Every distinct chain is validated once per process (per `reset()`). A thread first looks in
//! its own set of chain keys (no shared write, no lock); on a miss it looks in the global table,
//! which stores each chain as its parent chain's key plus its last entry's id (memory linear in
//! the distinct chains, whatever their depth), so a hit also needs the same last entry on the
//! same parent; only a global miss goes to the slow path. A chain is published to the global
//! table only after its validation has finished, under the graph lock.
//!
//! A chain whose validation found problems keeps its reports: a repeat is still a cache hit
//! (no graph lock, no search), and the reports are handed again to a `capture` that passes
//! through the chain, so each capture sees each problem it hits (outside captures they are
//! duplicates, reported once per process).
//!
//! Chains whose new lock is of a class the thread already holds (one lock key twice, e.g. two
//! subclasses of one class) are never put in the recent slots the fast path probes: such an
//! acquisition must check the instances it holds (a certain self-deadlock is per instance).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use once_cell::sync::Lazy;

use crate::report::Report;
use crate::sync::internal::Section;

/// The problems a chain's validation found, with their dedupe keys.
pub(crate) type Found = Arc<[(Report, u64)]>;

/// A validated chain: its parent chain's key, its last entry's id, and what was found.
struct Chain {
    parent: u64,
    last: u64,
    found: Option<Found>,
}

static GLOBAL: Lazy<DashMap<u64, Chain>> = Lazy::new(DashMap::new);

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
/// The part of `HITS` the fast path recorded.
static FAST_HITS: AtomicU64 = AtomicU64::new(0);

/// Slots of the direct-mapped cache of recently hit chains (a power of two).
const RECENT: usize = 32;

/// The answer of a cache lookup.
pub(crate) enum Lookup {
    /// Not validated yet (as far as this cache knows).
    Miss,
    /// Validated; `Some` holds the problems its validation found.
    Hit(Option<Found>),
}

/// [`LocalChains::stamp`] while the fast path is closed: never a stamp (they start at 1, and
/// a thread's copy starts at 0).
#[cfg(lockdep_tasks)]
const CLOSED: u64 = u64::MAX;

/// One thread's validated chain keys.
#[derive(Default)]
#[repr(C)] // the stamp first: next to the held stack in the thread state, in its cache line
pub(crate) struct LocalChains {
    /// This thread's copy of the fast path's stamp (`crate::stamp`): everything below is
    /// stale, and the fast path closed, while it differs.
    stamp: u64,
    /// The copy of the stamp while the fast path is [`close`](Self::close)d (`stamp` is then
    /// [`CLOSED`]): what is below stays valid.
    #[cfg(lockdep_tasks)]
    closed_at: u64,
    keys: HashSet<u64, BuildKeyHasher>,
    /// The problems of the known chains that had some.
    found: HashMap<u64, Found, BuildKeyHasher>,
    /// Direct-mapped cache of recent hits in front of `keys` (cheaper than a hash probe);
    /// only chains without problems whose new lock's class the thread did not hold.
    recent: [u64; RECENT],
    /// The thread's fast-path hits already added to the global statistics.
    flushed_fast_hits: u64,
    /// Hits found in `keys` (out of the fast path) not yet added to the statistics.
    local_hits: u64,
}

impl LocalChains {
    /// May the fast path run: is this thread's copy of the stamp current (no `reset()` and no
    /// mode change since its slow path last ran, and not in `Off` mode)?
    #[inline(always)]
    pub(crate) fn fresh(&self) -> bool {
        crate::stamp::current() == self.stamp
    }

    /// Closes the fast path, keeping what this thread knows: every acquisition takes the slow
    /// path until [`reopen`](Self::reopen) (with the `tokio` feature: while a task this thread
    /// parked holds blocking locks, see `validator::holder::held_by_parked_task`).
    #[cfg(lockdep_tasks)]
    pub(crate) fn close(&mut self) {
        if self.stamp != CLOSED {
            self.closed_at = self.stamp;
            self.stamp = CLOSED;
        }
    }

    /// Opens the fast path [`close`](Self::close)d (if nothing made it stale meanwhile).
    #[cfg(lockdep_tasks)]
    pub(crate) fn reopen(&mut self) {
        if self.stamp == CLOSED {
            self.stamp = self.closed_at;
        }
    }

    /// True if `key` is among the chains this thread hit recently (the fast path, once
    /// [`fresh`](Self::fresh): one slot compared).
    #[inline(always)]
    pub(crate) fn recent_hit(&self, key: u64) -> bool {
        self.recent[key as usize % RECENT] == key
    }

    /// Does this thread already know `key` as validated (out of the fast path)? On a hit it
    /// remembers it as recent (if `recent` and it had no problems) and counts the hit,
    /// thread-locally, for the next [`flush_hits`](Self::flush_hits).
    pub(crate) fn lookup(&mut self, key: u64, recent: bool) -> Lookup {
        let stamp = crate::stamp::current();
        #[cfg(lockdep_tasks)]
        if self.stamp == CLOSED && self.closed_at == stamp {
            return self.lookup_fresh(key, recent);
        }
        if stamp != self.stamp {
            self.keys.clear();
            self.found.clear();
            self.recent = [0; RECENT];
            // In `Off` mode the copy stays stale: the fast path (which checks no mode) must
            // not record anything.
            if crate::mode::mode() != crate::mode::Mode::Off {
                // (Closed: it stays closed, what reopens it now current.)
                #[cfg(lockdep_tasks)]
                if self.stamp == CLOSED {
                    self.closed_at = stamp;
                    return Lookup::Miss;
                }
                self.stamp = stamp;
            }
            return Lookup::Miss;
        }
        self.lookup_fresh(key, recent)
    }

    /// [`lookup`](Self::lookup) once the copy of the stamp is known current.
    fn lookup_fresh(&mut self, key: u64, recent: bool) -> Lookup {
        if self.recent[key as usize % RECENT] != key && !self.keys.contains(&key) {
            return Lookup::Miss;
        }
        self.local_hits += 1;
        let found = self.found.get(&key).cloned();
        self.remember(key, recent, found.clone());
        Lookup::Hit(found)
    }

    /// Knows `key` from now on (with its problems), and as recent if `recent` and clean.
    fn remember(&mut self, key: u64, recent: bool, found: Option<Found>) {
        self.keys.insert(key);
        match found {
            Some(found) => {
                self.found.insert(key, found);
            }
            None if recent => self.recent[key as usize % RECENT] = key,
            None => {}
        }
    }

    /// Adds this thread's fast-path hits to the statistics; `total` is how many it has had
    /// (the fast path counts nothing itself: the held-lock stack knows how many it pushed).
    pub(crate) fn flush_hits(&mut self, total: u64) {
        let fast = total.wrapping_sub(self.flushed_fast_hits);
        let new = fast + std::mem::take(&mut self.local_hits);
        self.flushed_fast_hits = total;
        if new != 0 {
            HITS.fetch_add(new, Ordering::Relaxed);
        }
        if fast != 0 {
            FAST_HITS.fetch_add(fast, Ordering::Relaxed);
        }
    }

    /// The held stack whose pushes count this thread's fast-path hits changes (with the `tokio`
    /// feature: another holder's stack is loaded): the hits counted on the old one (`before`)
    /// are added, and counting goes on from the new one's count (`after`).
    /// `before` is `None` when the old stack may not be read (another thread took it over):
    /// its uncounted hits are lost.
    #[cfg(lockdep_tasks)]
    pub(crate) fn switch_stack(&mut self, before: Option<u64>, after: u64) {
        self.flush_hits(before.unwrap_or(self.flushed_fast_hits));
        self.flushed_fast_hits = after;
    }

    /// Looks the chain `key` (= `parent` + `last`) up in the global table; on a hit,
    /// remembers it locally.
    pub(crate) fn adopt_global(
        &mut self,
        key: u64,
        parent: u64,
        last: u64,
        recent: bool,
    ) -> Lookup {
        let hit = {
            let _section = Section::enter();
            GLOBAL
                .get(&key)
                .filter(|c| c.parent == parent && c.last == last)
                .map(|c| c.found.clone())
        };
        match hit {
            Some(found) => {
                HITS.fetch_add(1, Ordering::Relaxed);
                self.remember(key, recent, found.clone());
                Lookup::Hit(found)
            }
            None => {
                MISSES.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss
            }
        }
    }

    /// Records a chain (`parent` + `last`) validated by this thread's slow path, with the
    /// problems its validation found.
    pub(crate) fn insert_validated(
        &mut self,
        key: u64,
        parent: u64,
        last: u64,
        recent: bool,
        found: Option<Found>,
    ) {
        {
            let _section = Section::enter();
            let chain = Chain {
                parent,
                last,
                found: found.clone(),
            };
            GLOBAL.insert(key, chain);
        }
        self.remember(key, recent, found);
    }
}

/// Forgets every validated chain, in every thread.
pub(crate) fn clear() {
    let _section = Section::enter();
    GLOBAL.clear();
    crate::stamp::bump();
}

/// (validated chains, hits, misses) so far; fast-path hits of other threads are counted when
/// they next take the slow path.
pub(crate) fn stats() -> (usize, u64, u64, u64) {
    let _section = Section::enter(); // the table's lazy initialisation allocates
    (
        GLOBAL.len(),
        HITS.load(Ordering::Relaxed),
        MISSES.load(Ordering::Relaxed),
        FAST_HITS.load(Ordering::Relaxed),
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
