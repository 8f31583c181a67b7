//! KSM: `ksm_thread_mutex`, the `ksm_run` flags, ksmd's scan step (`scan.rs`), the `run` and
//! `merge_across_nodes` stores (`stores.rs`), and `ksm_memory_callback` (`callback.rs`), each
//! as the [`Design`] has it.
//!
//! `ksm_run` is updated with plain (non-atomic) read-modify-writes, as in the kernel: relaxed
//! loads and stores that only the mutex serialises. Every `get_ksm_page()` goes through
//! `Kernel::get_ksm_page`, which records a [`Violation::UseAfterFree`] when the frame's
//! struct page may be gone.
//!
//! `ksm_thread_mutex` is a kernel mutex (`kernel_mutex.rs`): a lock word plus its lockdep maps, so that the
//! pre-fix `mutex_unlock()` after a veto really unlocks it, as the kernel did, and the model
//! sees a second task get into the critical section ([`Violation::MutualExclusion`]).
//!
//! The `KSM_RUN_OFFLINE` bit is annotated as a [`lockdep::Event`] of the same name (one per
//! kernel, of a class per design like `ksm_thread_mutex`): `MEM_GOING_OFFLINE` arms it on the
//! offliner's thread before it takes the mutex to set the bit, `MEM_OFFLINE` /
//! `MEM_CANCEL_OFFLINE` signal it right after the clear, and `wait_on_bit()` waits for it just
//! before sleeping. [`Design::NaivePseudoLock`] adds the naive annotation on top: a pseudo-lock
//! `ksm_offline_window` held by the offliner across the notifications. Both are lockdep-rs
//! extensions: 2013's lockdep had no way to annotate a bit wait.

mod callback;
mod scan;
mod stores;

use crate::frames::{Actor, Violation};
use crate::kernel_mutex::{KernelMutex, KernelMutexGuard};
use crate::rt::{AtomicUsize, Ordering};
use crate::sysfs::SysfsAttr;
use crate::waitbit::BitWaitQueue;
use crate::{Design, Era, Kernel, Release};
use lockdep::{Event, LockMap, RwLock};

pub use scan::KsmdStep;

/// `KSM_RUN_STOP`: ksmd idles.
pub const KSM_RUN_STOP: usize = 0;
/// `KSM_RUN_MERGE`: ksmd scans and merges.
pub const KSM_RUN_MERGE: usize = 1;
/// `KSM_RUN_UNMERGE`: everything was unmerged; ksmd idles.
pub const KSM_RUN_UNMERGE: usize = 2;
/// `KSM_RUN_OFFLINE` (ef4d43a8): a memory block is going offline. Userspace can't set it.
pub const KSM_RUN_OFFLINE: usize = 4;

/// The KSM half of the kernel.
pub(crate) struct Ksm {
    ksm_thread_mutex: KernelMutex,
    ksm_run: AtomicUsize,
    merge_across_nodes: AtomicUsize,
    offline_wait: BitWaitQueue,
    /// [`Design::NaivePseudoLock`]'s annotation (unused by the other designs).
    offline_window: LockMap,
    run_attr: SysfsAttr,
    merge_attr: SysfsAttr,
    batches: AtomicUsize,
}

/// A pair of lockdep maps for `ksm_thread_mutex` (subclass 0, subclass 1) built at the
/// invocation's own site, so of classes of their own.
macro_rules! ksm_thread_mutex_maps {
    () => {
        (
            LockMap::new("ksm_thread_mutex"),
            LockMap::new("ksm_thread_mutex/1"),
        )
    };
}

/// `ksm_thread_mutex`, with lockdep classes of its own per kernel build: every arm is its own
/// construction site. lockdep only ever sees one build, and the builds disagree about the
/// order of `ksm_thread_mutex` and `(memory_chain).rwsem`: if they shared the classes, one
/// build's edges would close (or pre-empt) another's cycle whenever two run in one process,
/// e.g. in parallel tests. The designs that hold the mutex across the notifications get a
/// class per release and `CONFIG_HIBERNATION`, so that each era's report is found where its
/// kernel found it (at `MEM_OFFLINE`, with that era's held locks); the fix and its variants
/// never take the rwsem under the mutex and get a class per design. The name is the
/// kernel's for all of them.
fn ksm_thread_mutex(era: Era) -> KernelMutex {
    use Release::{V2_6_36, V2_6_37, V3_3, V3_9};
    let (dep_map, nested) = match (era.design, era.release, era.hibernation) {
        (Design::Original, V2_6_36, true) => ksm_thread_mutex_maps!(),
        (Design::Original, V2_6_36, false) => ksm_thread_mutex_maps!(),
        (Design::Original, V2_6_37 | V3_3 | V3_9, _) => ksm_thread_mutex_maps!(),
        (Design::NestedAnnotation, V2_6_37, true) => ksm_thread_mutex_maps!(),
        (Design::NestedAnnotation, V2_6_37, false) => ksm_thread_mutex_maps!(),
        (Design::NestedAnnotation, V3_3, true) => ksm_thread_mutex_maps!(),
        (Design::NestedAnnotation, V3_3, false) => ksm_thread_mutex_maps!(),
        (Design::NestedAnnotation, V2_6_36 | V3_9, _) => ksm_thread_mutex_maps!(),
        (Design::RunOffline, ..) => ksm_thread_mutex_maps!(),
        (Design::WaitUnderMutex, ..) => ksm_thread_mutex_maps!(),
        (Design::NoLockout, ..) => ksm_thread_mutex_maps!(),
        (Design::UnlockedFlag, ..) => ksm_thread_mutex_maps!(),
        (Design::LostWakeup, ..) => ksm_thread_mutex_maps!(),
        (Design::NaivePseudoLock, ..) => ksm_thread_mutex_maps!(),
    };
    KernelMutex::new(dep_map, nested)
}

/// The `KSM_RUN_OFFLINE` event of the designs that use the bit, with a class per design for
/// the reason given at [`ksm_thread_mutex`]: one design's waiters must not meet another
/// design's waker in the graph.
fn ksm_run_offline_event(design: Design) -> Option<Event> {
    match design {
        Design::RunOffline => Some(Event::new("KSM_RUN_OFFLINE")),
        Design::WaitUnderMutex => Some(Event::new("KSM_RUN_OFFLINE")),
        Design::UnlockedFlag => Some(Event::new("KSM_RUN_OFFLINE")),
        Design::LostWakeup => Some(Event::new("KSM_RUN_OFFLINE")),
        Design::NaivePseudoLock => Some(Event::new("KSM_RUN_OFFLINE")),
        Design::Original | Design::NestedAnnotation | Design::NoLockout => None,
    }
}

impl Ksm {
    /// KSM's state at boot. Its two attributes' `s_active` maps are classes of their own
    /// (the numbers are the model's: the reports quote no KSM attribute).
    pub(crate) fn new(era: Era) -> Ksm {
        Ksm {
            ksm_thread_mutex: ksm_thread_mutex(era),
            ksm_run: AtomicUsize::new(KSM_RUN_STOP),
            merge_across_nodes: AtomicUsize::new(1),
            offline_wait: match ksm_run_offline_event(era.design) {
                Some(event) => BitWaitQueue::with_event(event),
                None => BitWaitQueue::new(),
            },
            offline_window: LockMap::new("ksm_offline_window"),
            run_attr: SysfsAttr::new(RwLock::named("s_active#60", ())),
            merge_attr: SysfsAttr::new(RwLock::named("s_active#61", ())),
            batches: AtomicUsize::new(0),
        }
    }
}

impl Kernel {
    /// `mutex_lock(&ksm_thread_mutex)` by `actor`. If another task was still inside (its
    /// mutex released under it by an unbalanced unlock), records a
    /// [`Violation::MutualExclusion`].
    #[track_caller]
    fn lock_ksm_thread_mutex(&self, actor: Actor) -> KernelMutexGuard<'_> {
        self.lock_ksm_thread_mutex_nested(0, actor)
    }

    /// `mutex_lock_nested(&ksm_thread_mutex, subclass)` by `actor`.
    #[track_caller]
    fn lock_ksm_thread_mutex_nested(&self, subclass: u8, actor: Actor) -> KernelMutexGuard<'_> {
        let mutex = &self.ksm.ksm_thread_mutex;
        if let Some(holder) = mutex.lock(subclass, actor).intruded_on {
            self.record(Violation::MutualExclusion {
                holder,
                intruder: actor,
            });
        }
        KernelMutexGuard::new(mutex, actor)
    }

    /// The tasks inside `ksm_thread_mutex`'s critical section right now, in the order they
    /// got in (more than one only after an unbalanced unlock).
    pub fn ksm_thread_mutex_holders(&self) -> Vec<Actor> {
        self.ksm.ksm_thread_mutex.inside()
    }

    /// The tasks asleep waiting for `ksm_thread_mutex` right now, in the order they came.
    pub fn ksm_thread_mutex_waiters(&self) -> Vec<Actor> {
        self.ksm.ksm_thread_mutex.waiting()
    }

    /// Batches ksmd has scanned so far.
    pub fn ksmd_batches(&self) -> usize {
        self.ksm.batches.load(Ordering::Relaxed)
    }

    /// `cat /sys/kernel/mm/ksm/run`: the whole word, so 5 = MERGE | OFFLINE while offlining.
    pub fn run_show(&self) -> usize {
        self.ksm.ksm_run.load(Ordering::Relaxed)
    }

    /// How many tasks sleep on `KSM_RUN_OFFLINE` right now.
    pub fn bit_waiters(&self) -> usize {
        self.ksm.offline_wait.waiters()
    }

    /// True if the calling thread has armed the `KSM_RUN_OFFLINE` event and not yet signalled
    /// it: between an offline's `MEM_GOING_OFFLINE` and its `MEM_OFFLINE` /
    /// `MEM_CANCEL_OFFLINE`, on the offliner's thread, in the designs with the bit. (A thread
    /// that exits armed gets a `LocksHeldAtExit` report.) Always false when lockdep does not
    /// validate.
    pub fn run_offline_armed(&self) -> bool {
        self.ksm.offline_wait.event().is_some_and(Event::is_armed)
    }

    /// True if the calling thread holds [`Design::NaivePseudoLock`]'s `ksm_offline_window`
    /// pseudo-lock (from `MEM_GOING_OFFLINE` to `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE`). Always
    /// false when lockdep does not validate.
    pub fn offline_window_held(&self) -> bool {
        self.ksm.offline_window.is_held()
    }

    /// The hung-task detector's lever: gives up every wait on `KSM_RUN_OFFLINE` (each waiter
    /// records a [`Violation::HungTask`] and abandons its step). Returns how many there were.
    pub fn abort_bit_waits(&self) -> usize {
        self.ksm.offline_wait.abort_waiters()
    }

    fn set_run_bits(&self, bits: usize) {
        let run = self.ksm.ksm_run.load(Ordering::Relaxed);
        self.ksm.ksm_run.store(run | bits, Ordering::Relaxed);
    }

    fn clear_run_bits(&self, bits: usize) {
        let run = self.ksm.ksm_run.load(Ordering::Relaxed);
        self.ksm.ksm_run.store(run & !bits, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Two builds' mutexes are two classes: holding one while taking the other is no
    /// recursive locking.
    #[test]
    fn every_build_has_its_own_ksm_thread_mutex_class() {
        let builds = [
            Era::ORIGINAL,
            Era::ORIGINAL_WITHOUT_HIBERNATION,
            Era::NESTED_2_6_37,
            Era::NESTED_3_3,
            Era::FIX,
        ];
        let mutexes: Vec<KernelMutex> = builds.iter().map(|&era| ksm_thread_mutex(era)).collect();
        let ((), reports) = lockdep::capture(|| {
            for mutex in &mutexes {
                let _ = mutex.lock(0, Actor::Ksmd);
            }
            for mutex in mutexes.iter().rev() {
                mutex.unlock(Actor::Ksmd);
            }
        });
        assert!(reports.is_empty(), "{reports:?}");
        // The control: two mutexes of one build are one class.
        let (a, b) = (ksm_thread_mutex(Era::FIX), ksm_thread_mutex(Era::FIX));
        let ((), reports) = lockdep::capture(|| {
            let _ = a.lock(0, Actor::Ksmd);
            let _ = b.lock(0, Actor::RunStore);
            b.unlock(Actor::RunStore);
            a.unlock(Actor::Ksmd);
        });
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].kind(), lockdep::ReportKind::RecursiveLocking);
    }
}
