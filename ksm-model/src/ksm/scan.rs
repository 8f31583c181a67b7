//! ksmd's scan, and the `get_ksm_page()` work the stores do, all under `ksm_thread_mutex`,
//! with the locks of the merging process ([`crate::mm`]) taken where the kernel takes them.

use super::KSM_RUN_MERGE;
use super::KSM_RUN_OFFLINE;
use crate::frames::{Actor, Keyhole, Violation};
use crate::kernel_mutex::KernelMutexGuard;
use crate::rt::{yield_now, AtomicBool, Ordering};
use crate::waitbit::WaitOutcome;
use crate::{Design, Kernel, Point};

/// What one iteration of ksmd's loop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsmdStep {
    /// Scanned a batch of `pages_to_scan` pages.
    Scanned,
    /// `ksm_run` did not say MERGE: nothing to do.
    Idle,
    /// The watchdog gave up ksmd's wait for `KSM_RUN_OFFLINE` (a task that would have hung).
    GaveUp,
}

impl Kernel {
    /// One iteration of `ksm_scan_thread`: lock, `wait_while_offlining()`, a batch if
    /// `ksmd_should_run()`, unlock. (The sleep between batches is the caller's: see
    /// [`ksmd`](Self::ksmd).)
    pub fn ksmd_scan_step(&self) -> KsmdStep {
        self.ksmd_scan_step_with(&mut |_| {})
    }

    /// [`ksmd_scan_step`](Self::ksmd_scan_step), calling `hook` at [`Point::KsmdMidBatch`].
    pub fn ksmd_scan_step_with(&self, hook: &mut dyn FnMut(Point)) -> KsmdStep {
        let guard = self.lock_ksm_thread_mutex(Actor::Ksmd);
        let Some(guard) = self.wait_while_offlining(guard, Actor::Ksmd) else {
            return KsmdStep::GaveUp;
        };
        let step = if self.ksm.ksm_run.load(Ordering::Relaxed) & KSM_RUN_MERGE != 0 {
            for page in 0..self.config().pages_to_scan {
                if page > 0 {
                    hook(Point::KsmdMidBatch);
                }
                self.scan_one_page();
            }
            self.ksm.batches.fetch_add(1, Ordering::Relaxed);
            KsmdStep::Scanned
        } else {
            KsmdStep::Idle
        };
        drop(guard);
        step
    }

    /// ksmd's loop: up to `max_steps` iterations, until `stop` is set, yielding between
    /// iterations (`sleep_millisecs`). Returns the iterations done.
    pub fn ksmd(&self, stop: &AtomicBool, max_steps: usize) -> usize {
        let mut steps = 0;
        while steps < max_steps && !stop.load(Ordering::Acquire) {
            self.ksmd_scan_step();
            steps += 1;
            yield_now();
        }
        steps
    }

    /// `wait_while_offlining()`, called with the mutex held, returning with it held; `None`
    /// (mutex released) if the watchdog gave the wait up. The pre-fix designs have no such
    /// function: the guard comes straight back.
    pub(super) fn wait_while_offlining<'a>(
        &'a self,
        mut guard: KernelMutexGuard<'a>,
        actor: Actor,
    ) -> Option<KernelMutexGuard<'a>> {
        let offlining = || self.ksm.ksm_run.load(Ordering::Relaxed) & KSM_RUN_OFFLINE != 0;
        match self.design() {
            Design::RunOffline
            | Design::UnlockedFlag
            | Design::LostWakeup
            | Design::NaivePseudoLock => {
                while offlining() {
                    drop(guard);
                    if self.design().holds_pseudo_lock_across_notifications() {
                        // The naive annotation: "this waits for whoever holds the window".
                        self.ksm.offline_window.might_acquire();
                    }
                    let wait = &self.ksm.offline_wait;
                    let outcome = if self.design() == Design::LostWakeup {
                        // The broken wait: no re-test of the bit once on the queue.
                        wait.wait_on_bit_unlocked_test(&self.ksm.ksm_run, KSM_RUN_OFFLINE)
                    } else {
                        wait.wait_on_bit(&self.ksm.ksm_run, KSM_RUN_OFFLINE)
                    };
                    if outcome == WaitOutcome::Aborted {
                        self.record(Violation::HungTask {
                            actor,
                            holding: None,
                        });
                        return None;
                    }
                    guard = self.lock_ksm_thread_mutex(actor);
                }
            }
            Design::WaitUnderMutex => {
                while offlining() {
                    let outcome = self
                        .ksm
                        .offline_wait
                        .wait_on_bit(&self.ksm.ksm_run, KSM_RUN_OFFLINE);
                    if outcome == WaitOutcome::Aborted {
                        self.record(Violation::HungTask {
                            actor,
                            holding: Some("ksm_thread_mutex"),
                        });
                        return None;
                    }
                }
            }
            Design::Original | Design::NestedAnnotation | Design::NoLockout => {}
        }
        Some(guard)
    }

    /// `get_ksm_page()` on the `index`-th stable node: true if it found the node's page. A
    /// stale node is removed (`remove_node_from_stable_tree()`, which drops its rmap items'
    /// `anon_vma` references); a frame whose struct page may be gone is a violation (the model
    /// then leaves the node alone).
    fn get_ksm_page(&self, index: &mut usize, actor: Actor) -> Option<Violation> {
        let mut mm = self.memmap();
        match mm.keyhole(*index) {
            Keyhole::Live => {
                *index += 1;
                None
            }
            Keyhole::Stale => {
                mm.remove_node(*index);
                drop(mm);
                self.mm.put_anon_vma();
                None
            }
            Keyhole::Gone(state) => {
                let node = mm.stable_nodes()[*index];
                *index += 1;
                Some(Violation::UseAfterFree {
                    actor,
                    pfn: node.kpfn,
                    node: node.id,
                    state,
                })
            }
        }
    }

    /// One page of `ksm_do_scan()`. `scan_get_next_rmap_item()` walks the mm under
    /// `mmap_sem` (`follow_page()` under the page table lock; `ksm_mmlist_lock` at the end of
    /// the mm); `cmp_and_merge_page()` then looks at every stable node through
    /// `get_ksm_page()` (`stable_tree_search()`), and `try_to_merge_with_ksm_page()` merges
    /// the next anonymous page into a new KSM page under `mmap_sem` again
    /// (`write_protect_page()`, `replace_page()`: the page table lock twice).
    fn scan_one_page(&self) {
        {
            let _mmap = self.mm.mmap_read();
            self.mm.touch_pte();
            drop(self.mm.mmlist_lock());
        }
        let mut found = Vec::new();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            found.extend(self.get_ksm_page(&mut index, Actor::Ksmd));
        }
        {
            let _mmap = self.mm.mmap_read();
            self.mm.touch_pte();
            self.mm.touch_pte();
            let mut mm = self.memmap();
            if let Some(pfn) = mm.next_candidate() {
                mm.merge(pfn);
            }
        }
        self.record_all(found);
    }

    /// `unmerge_and_remove_all_rmap_items()`, under `mmap_sem`: `get_ksm_page(locked)` on each
    /// node's page, break it back into an ordinary page (`break_ksm()`: a fault, under the
    /// page table lock), drop the node and its `anon_vma` reference; then `ksm_mmlist_lock`
    /// to leave the mm.
    pub(super) fn unmerge_and_remove_all_rmap_items(&self) {
        let mut found = Vec::new();
        let _mmap = self.mm.mmap_read();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            let before = index;
            found.extend(self.get_ksm_page(&mut index, Actor::RunStore));
            if index > before {
                self.mm.touch_pte();
                self.memmap().unmerge_node(before);
                self.mm.put_anon_vma();
                index = before;
            }
        }
        drop(self.mm.mmlist_lock());
        self.record_all(found);
    }

    /// `remove_all_stable_nodes()`, with no page shared: every node is stale and
    /// `get_ksm_page()` removes it. False if a node still owned its page.
    pub(super) fn remove_all_stable_nodes(&self) -> bool {
        let mut found = Vec::new();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            found.extend(self.get_ksm_page(&mut index, Actor::MergeAcrossNodesStore));
        }
        self.record_all(found);
        self.memmap().pages_shared() == 0
    }
}
