//! The memory notifiers of the era other than KSM's, those that take locks.
//!
//! Before the fix, every callback of lower priority than KSM's (100) ran its
//! `MEM_GOING_OFFLINE` with `ksm_thread_mutex` held, so each lock it takes is recorded after
//! the mutex. The model registers at boot the ones that take locks:
//!
//! | notifier | priority | locks |
//! |---|---|---|
//! | `cpuset_track_online_nodes` | 10 | up to 3.8: `cgroup_mutex` for every event; at `MEM_ONLINE` also `callback_mutex` and, rebinding each task's memory policy, `&mm->mmap_sem` for write. 3.9 only queues work. |
//! | `slab_memory_callback` (slub) | 1 | `slub_lock` for read (3.9: `slab_mutex`): at `MEM_GOING_OFFLINE` (shrinking every cache), and at `MEM_GOING_ONLINE`, `MEM_OFFLINE` and `MEM_CANCEL_ONLINE` when the node gains its first or loses its last memory |
//! | `kcore_callback` | 0 | `kclist_lock` (an rwlock, for write) at `MEM_ONLINE` and `MEM_OFFLINE` |
//! | `sclp_mem_notifier` (s390 only) | 0 | `sclp_mem_mutex` for every event |
//!
//! The others of the era take no lock of their own and are not modelled: ipc's (priority 10,
//! queues work), `node_memory_callback` (queues work), `page_cgroup_callback` (allocates).
//! None of these locks leads back to `ksm_thread_mutex`, `(memory_chain).rwsem` or a hotplug
//! lock; `tests/ksm_lock_graph.rs` checks it on the recorded graph.

use crate::annotated_lock::AnnotatedLock;
use crate::hotplug::MemoryNotify;
use crate::notifier::{MemAction, NotifyResult};
use crate::{Kernel, Release};
use lockdep::{LockMap, RwLock};

/// slub's lock over the list of caches.
enum SlabLock {
    /// `slub_lock`, an rwsem the notifier takes for read (until 3.6).
    SlubLock(RwLock<()>),
    /// `slab_mutex` (3.7 on).
    SlabMutex(AnnotatedLock),
}

/// The locks of the other notifiers.
pub(crate) struct OtherNotifierLocks {
    cgroup_mutex: AnnotatedLock,
    callback_mutex: AnnotatedLock,
    slab: SlabLock,
    kclist_lock: AnnotatedLock,
    sclp_mem_mutex: AnnotatedLock,
}

impl OtherNotifierLocks {
    pub(crate) fn new(release: Release) -> OtherNotifierLocks {
        OtherNotifierLocks {
            cgroup_mutex: AnnotatedLock::new(LockMap::new("cgroup_mutex")),
            callback_mutex: AnnotatedLock::new(LockMap::new("callback_mutex")),
            slab: if release.slab_lock() == "slab_mutex" {
                SlabLock::SlabMutex(AnnotatedLock::new(LockMap::new("slab_mutex")))
            } else {
                SlabLock::SlubLock(RwLock::named("slub_lock", ()))
            },
            kclist_lock: AnnotatedLock::new(LockMap::new("kclist_lock")),
            sclp_mem_mutex: AnnotatedLock::new(LockMap::new("sclp_mem_mutex")),
        }
    }

    fn take_slab_lock(&self) {
        match &self.slab {
            SlabLock::SlubLock(rwsem) => drop(rwsem.read()),
            SlabLock::SlabMutex(mutex) => drop(mutex.lock()),
        }
    }
}

impl Kernel {
    /// The cpuset notifier (`cpuset_track_online_nodes`, priority 10).
    pub(crate) fn cpuset_track_online_nodes(&self, action: MemAction) -> NotifyResult {
        if !self.release().cpuset_notifier_locks() {
            return NotifyResult::Ok; // schedule_work(&cpuset_hotplug_work)
        }
        let locks = &self.other_notifiers;
        let _cgroup = locks.cgroup_mutex.lock();
        if action == MemAction::Online {
            drop(locks.callback_mutex.lock());
            // update_tasks_nodemask() -> mpol_rebind_mm() for the merging process.
            drop(self.mm.mmap_write());
        }
        NotifyResult::Ok
    }

    /// slub's notifier (`slab_memory_callback`, priority 1).
    pub(crate) fn slab_memory_callback(
        &self,
        action: MemAction,
        arg: &MemoryNotify,
    ) -> NotifyResult {
        let node_changes = arg.status_change_nid.is_some();
        match action {
            MemAction::GoingOffline => self.other_notifiers.take_slab_lock(),
            MemAction::GoingOnline | MemAction::Offline | MemAction::CancelOnline
                if node_changes =>
            {
                self.other_notifiers.take_slab_lock()
            }
            _ => {}
        }
        NotifyResult::Ok
    }

    /// `/proc/kcore`'s notifier (`kcore_callback`, priority 0).
    pub(crate) fn kcore_callback(&self, action: MemAction) -> NotifyResult {
        if matches!(action, MemAction::Online | MemAction::Offline) {
            drop(self.other_notifiers.kclist_lock.lock());
        }
        NotifyResult::Ok
    }

    /// s390's storage notifier (`sclp_mem_notifier`, priority 0): takes `sclp_mem_mutex` for
    /// every event. (Its veto of blocks with standby memory is not modelled.)
    pub(crate) fn sclp_mem_notifier(&self) -> NotifyResult {
        drop(self.other_notifiers.sclp_mem_mutex.lock());
        NotifyResult::Ok
    }
}
