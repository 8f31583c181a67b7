//! KSM's sysfs stores that take `ksm_thread_mutex`: `run` and (3.9) `merge_across_nodes`.
//! (`sleep_millisecs` and `pages_to_scan` do a plain store and are not modelled.)

use super::KSM_RUN_UNMERGE;
use crate::frames::Actor;
use crate::rt::Ordering;
use crate::{Errno, Kernel};

impl Kernel {
    /// `echo <value> > /sys/kernel/mm/ksm/run`. Values above `KSM_RUN_UNMERGE` are `Inval`;
    /// UNMERGE breaks every KSM page back into ordinary pages and empties the stable tree.
    pub fn run_store(&self, value: usize) -> Result<(), Errno> {
        if value > KSM_RUN_UNMERGE {
            return Err(Errno::Inval);
        }
        self.ksm.run_attr.store(|| {
            let guard = self.lock_ksm_thread_mutex(Actor::RunStore);
            let guard = self
                .wait_while_offlining(guard, Actor::RunStore)
                .ok_or(Errno::Intr)?;
            if self.ksm.ksm_run.load(Ordering::Relaxed) != value {
                self.ksm.ksm_run.store(value, Ordering::Relaxed);
                if value & KSM_RUN_UNMERGE != 0 {
                    self.unmerge_and_remove_all_rmap_items();
                }
            }
            drop(guard);
            // A MERGE would wake ksm_thread_wait here; the model's ksmd polls instead.
            Ok(())
        })
    }

    /// `echo <0|1> > /sys/kernel/mm/ksm/merge_across_nodes`: `NoEnt` before 3.9 (the file
    /// came with 3.9-rc1) or without NUMA, `Inval` for other values, `Busy` while KSM pages
    /// are shared.
    pub fn merge_across_nodes_store(&self, value: usize) -> Result<(), Errno> {
        if !self.release().has_merge_across_nodes() || !self.config().numa {
            return Err(Errno::NoEnt);
        }
        if value > 1 {
            return Err(Errno::Inval);
        }
        self.ksm.merge_attr.store(|| {
            let guard = self.lock_ksm_thread_mutex(Actor::MergeAcrossNodesStore);
            let guard = self
                .wait_while_offlining(guard, Actor::MergeAcrossNodesStore)
                .ok_or(Errno::Intr)?;
            let mut ret = Ok(());
            if self.ksm.merge_across_nodes.load(Ordering::Relaxed) != value {
                if self.memmap().pages_shared() > 0 || !self.remove_all_stable_nodes() {
                    ret = Err(Errno::Busy);
                } else {
                    self.ksm.merge_across_nodes.store(value, Ordering::Relaxed);
                }
            }
            drop(guard);
            ret
        })
    }
}
