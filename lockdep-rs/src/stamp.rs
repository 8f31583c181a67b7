//! The fast path's stamp: one process-wide counter, changed by everything that invalidates
//! what a thread's fast path takes for granted — `reset()` (the validated chains forgotten,
//! the graph in a new epoch) and every mode change (in `Off` nothing is recorded).
//!
//! Each thread keeps its own copy with its chain cache (`chain_cache::LocalChains`); its fast
//! path runs only while the copy equals the stamp, so one compare stands for the mode check,
//! the graph epoch check and the chain cache's validity. The slow path refreshes the copy
//! (forgetting the thread's cached chains), except in `Off` mode: there every acquisition
//! misses the fast path and is left unrecorded. The stamp starts at 1 and the copies at 0, so
//! a thread's first acquisition takes the slow path (which also reads `LOCKDEP` the first
//! time).

use std::sync::atomic::{AtomicU64, Ordering};

static STAMP: AtomicU64 = AtomicU64::new(1);

/// The current stamp. (Acquire, paired with [`bump`]'s release: a slow path that reads the
/// new stamp then reads the mode set before it was bumped, so it never refreshes its copy in
/// `Off` mode. A plain load on x86, as relaxed.)
#[inline(always)]
pub(crate) fn current() -> u64 {
    STAMP.load(Ordering::Acquire)
}

/// Makes every thread's copy stale: their next acquisition takes the slow path.
pub(crate) fn bump() {
    STAMP.fetch_add(1, Ordering::Release);
}
