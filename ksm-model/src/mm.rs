//! The process whose memory KSM merges (one `mm_struct`, registered with `MADV_MERGEABLE`),
//! and the locks KSM takes on its way through it.
//!
//! What ksmd's scan takes under `ksm_thread_mutex` (the same in every release of the
//! episode, except for the `anon_vma` lock's type):
//!
//! - `ksm_mmlist_lock` (spinlock) to step through the list of registered mms, under
//!   `mmap_sem` at the end of an mm;
//! - `&mm->mmap_sem` for read, in `scan_get_next_rmap_item()` and again in
//!   `try_to_merge_with_ksm_page()`;
//! - the page table lock (`follow_page()`, `write_protect_page()`, `replace_page()`), under
//!   `mmap_sem`;
//! - the `anon_vma` lock when an rmap item drops the last reference to its `anon_vma`
//!   (`drop_anon_vma()` in 2.6, `put_anon_vma()` in 3.x), which the model assumes every time;
//! - page locks (`lock_page()` in `get_ksm_page(.., true)`, `try_to_merge_one_page()`): a bit
//!   wait on `PG_locked` that 2013's lockdep did not track, so the model records nothing for
//!   them.
//!
//! `run_store`'s unmerge takes the same (`mmap_sem`, page table lock, `anon_vma`) under the
//! mutex, and `merge_across_nodes_store` the `anon_vma` lock. None of them takes
//! `(memory_chain).rwsem` or a hotplug lock, and nothing that holds one of these locks takes
//! `ksm_thread_mutex`: the cpuset notifier writes `mmap_sem` under `cgroup_mutex`, never the
//! other way round. `tests/ksm_lock_graph.rs` checks that on the recorded graph.

use crate::annotated_lock::{AnnotatedGuard, AnnotatedLock};
use crate::Release;
use lockdep::{LockMap, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The locks of the merging process, and KSM's list of mms.
pub(crate) struct Mm {
    mmap_sem: RwLock<()>,
    page_table_lock: AnnotatedLock,
    anon_vma_lock: AnnotatedLock,
    ksm_mmlist_lock: AnnotatedLock,
}

impl Mm {
    /// The process's locks as `release` names them.
    pub(crate) fn new(release: Release) -> Mm {
        Mm {
            mmap_sem: RwLock::named("&mm->mmap_sem", ()),
            page_table_lock: AnnotatedLock::new(LockMap::new("&(&mm->page_table_lock)->rlock")),
            anon_vma_lock: anon_vma_lock(release),
            ksm_mmlist_lock: AnnotatedLock::new(LockMap::new("ksm_mmlist_lock")),
        }
    }

    /// `down_read(&mm->mmap_sem)`.
    pub(crate) fn mmap_read(&self) -> RwLockReadGuard<'_, ()> {
        self.mmap_sem.read()
    }

    /// `down_write(&mm->mmap_sem)` (the cpuset notifier's `mpol_rebind_mm()`).
    pub(crate) fn mmap_write(&self) -> RwLockWriteGuard<'_, ()> {
        self.mmap_sem.write()
    }

    /// The page table lock (`pte_offset_map_lock()`), taken and dropped around one pte.
    pub(crate) fn touch_pte(&self) {
        drop(self.page_table_lock.lock());
    }

    /// The `anon_vma` root lock, taken and dropped by the last `put_anon_vma()`.
    pub(crate) fn put_anon_vma(&self) {
        drop(self.anon_vma_lock.lock());
    }

    /// `spin_lock(&ksm_mmlist_lock)`.
    pub(crate) fn mmlist_lock(&self) -> AnnotatedGuard<'_> {
        self.ksm_mmlist_lock.lock()
    }
}

/// The `anon_vma` lock of `release`, one construction site (so one class) per lock type.
fn anon_vma_lock(release: Release) -> AnnotatedLock {
    match release {
        Release::V2_6_36 | Release::V2_6_37 => {
            AnnotatedLock::new(LockMap::new("&(&anon_vma->lock)->rlock"))
        }
        Release::V3_3 => AnnotatedLock::new(LockMap::new("&anon_vma->mutex")),
        Release::V3_9 => AnnotatedLock::new(LockMap::new("&anon_vma->rwsem")),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Each release's `anon_vma` lock has the name [`Release::anon_vma_lock`] gives, and is
    /// recorded under `mmap_sem` like the page table lock.
    #[test]
    fn the_anon_vma_lock_is_named_by_release() {
        for release in Release::ALL {
            let mm = Mm::new(release);
            let ((), reports) = lockdep::capture(|| {
                let _mmap = mm.mmap_read();
                mm.put_anon_vma();
                mm.touch_pte();
                drop(mm.mmlist_lock());
            });
            assert!(reports.is_empty(), "{release}: {reports:?}");
            let graph = lockdep::graph_dot();
            for to in [release.anon_vma_lock(), "&(&mm->page_table_lock)->rlock"] {
                let edge = format!("\"&mm->mmap_sem\" -> \"{to}\"");
                assert!(graph.contains(&edge), "{release}: no {edge} in\n{graph}");
            }
        }
    }
}
