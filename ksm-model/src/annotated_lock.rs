//! Locks the model keeps as their lockdep map only.
//!
//! Some kernel locks matter to the model only for the order lockdep records: the spinlocks
//! ksmd takes under `ksm_thread_mutex` (page table lock, `ksm_mmlist_lock`, the `anon_vma`
//! lock) and the locks the other memory notifiers take (`cgroup_mutex`, `kclist_lock`,
//! `sclp_mem_mutex`, ...). No scenario of the model depends on a task waiting for one of them,
//! so an [`AnnotatedLock`] records and validates every acquisition exactly as the kernel's
//! lockdep would (an exclusive acquisition of the lock's class) and never blocks. That also
//! keeps them out of loom's interleavings, which only the locks that can make a task wait need.

use lockdep::LockMap;

/// A lock as lockdep sees it: its map, acquired exclusively and released.
pub(crate) struct AnnotatedLock {
    map: LockMap,
}

/// Releases an [`AnnotatedLock`] when dropped.
pub(crate) struct AnnotatedGuard<'a> {
    map: &'a LockMap,
}

impl AnnotatedLock {
    /// The lock whose lockdep map (built at the caller's site, so of the caller's class) is
    /// `map`.
    pub(crate) const fn new(map: LockMap) -> AnnotatedLock {
        AnnotatedLock { map }
    }

    /// Takes it (`spin_lock`, `mutex_lock`, `write_lock`, `down_write`): validated and
    /// recorded as held until the guard drops.
    #[track_caller]
    pub(crate) fn lock(&self) -> AnnotatedGuard<'_> {
        self.map.acquire();
        AnnotatedGuard { map: &self.map }
    }
}

impl Drop for AnnotatedGuard<'_> {
    fn drop(&mut self) {
        self.map.release();
    }
}
