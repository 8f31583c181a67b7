//! The designs the model can run: the three that shipped in Linux, the broken variants of
//! §11 of the case note, and one way of annotating the fix for lockdep. Which kernel a design
//! runs on (its hotplug locking, its other notifiers) is its [`Era`](crate::Era).

use crate::Release;
use std::fmt;

/// How KSM keeps ksmd and its sysfs stores away from memory that is going offline.
///
/// Every [`Kernel`](crate::Kernel) runs exactly one design; the rest of the model (memory
/// hotplug, the notifier chain, ksmd's scan) is the same for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Design {
    /// 62b61f611e "ksm: memory hotremove migration only" (2.6.33 to 2.6.36):
    /// `mutex_lock(&ksm_thread_mutex)` at `MEM_GOING_OFFLINE`, held until `MEM_OFFLINE` /
    /// `MEM_CANCEL_OFFLINE`. Lockdep reports a circular dependency on `(memory_chain).rwsem`:
    /// a real deadlock without `CONFIG_HIBERNATION` (nothing serialises two offliners), a
    /// false positive with it (`pm_mutex` does).
    Original,
    /// a0b0f58 "ksm: annotate ksm_thread_mutex is no deadlock source" (2.6.37-rc5 to 3.8):
    /// the same, with `mutex_lock_nested(.., SINGLE_DEPTH_NESTING)`, merged with 20d6c96b5f's
    /// `mem_hotplug_mutex`, which made the report a false positive on every build. The cycle
    /// is still reported, now through `ksm_thread_mutex/1`.
    NestedAnnotation,
    /// ef4d43a8 "ksm: stop hotremove lockdep warning" (3.9-rc1), the fix: `KSM_RUN_OFFLINE`
    /// is set and cleared under the mutex, which is never held across notifications; ksmd,
    /// `run_store` and `merge_across_nodes_store` wait for the bit with the mutex dropped.
    RunOffline,
    /// Broken (§11.1): `wait_while_offlining()` waits for the bit still holding the mutex,
    /// which the offliner needs to clear the bit. A real deadlock that 2013's lockdep could
    /// not see; lockdep-rs's event tracking (the `KSM_RUN_OFFLINE` [`lockdep::Event`]) reports
    /// it as a circular wait.
    WaitUnderMutex,
    /// Broken (§11.5): `MEM_GOING_OFFLINE` does nothing, so ksmd touches struct pages that
    /// may vanish. `MEM_OFFLINE` still prunes the stable tree, under the mutex.
    NoLockout,
    /// Broken (§11.3): the flag is flipped without the mutex, so `MEM_GOING_OFFLINE` does not
    /// wait for a ksmd batch in progress, and `run_store`'s plain store can erase the bit.
    UnlockedFlag,
    /// Broken (a lost-wakeup flavour of §11.2): [`RunOffline`](Design::RunOffline), but
    /// `wait_on_bit()` tests `KSM_RUN_OFFLINE` only outside its wait-queue lock and then
    /// sleeps without testing it again after enqueueing (no `prepare_to_wait()` / re-test). If
    /// the offliner clears the bit and calls `wake_up_bit()` between the waiter's test and its
    /// enqueue, `waitqueue_active()` is false, nobody is woken, and the waiter sleeps forever
    /// on a clear bit. Lockdep sees nothing (no lock order changes); the loom suite finds the
    /// waiter that never wakes.
    LostWakeup,
    /// Annotation, not a kernel: [`RunOffline`](Design::RunOffline) plus the naive way to tell
    /// lockdep about the bit, a pseudo-lock (`lockdep_map`) `ksm_offline_window` acquired by
    /// the offliner at `MEM_GOING_OFFLINE` and released at `MEM_OFFLINE` /
    /// `MEM_CANCEL_OFFLINE`, and "might-acquired" by every waiter before it waits. Being held
    /// across the notifications like the pre-fix mutex, it reproduces the original false
    /// positive (through `(memory_chain).rwsem`), while the event annotation of the same run
    /// stays silent.
    NaivePseudoLock,
}

impl Design {
    /// Every design, the shipped ones first, then the broken variants, then the annotation.
    pub const ALL: [Design; 8] = [
        Design::Original,
        Design::NestedAnnotation,
        Design::RunOffline,
        Design::WaitUnderMutex,
        Design::NoLockout,
        Design::UnlockedFlag,
        Design::LostWakeup,
        Design::NaivePseudoLock,
    ];

    /// The three designs that shipped in Linux, in order.
    pub const SHIPPED: [Design; 3] = [
        Design::Original,
        Design::NestedAnnotation,
        Design::RunOffline,
    ];

    /// The broken variants of the fix (§11). (The original design without
    /// `CONFIG_HIBERNATION`, §11.4, is not a variant: it is how 2.6.33–2.6.36 shipped, see
    /// [`Era::ORIGINAL_WITHOUT_HIBERNATION`](crate::Era::ORIGINAL_WITHOUT_HIBERNATION).)
    pub const BROKEN: [Design; 4] = [
        Design::WaitUnderMutex,
        Design::NoLockout,
        Design::UnlockedFlag,
        Design::LostWakeup,
    ];

    /// The variant's name, as in the enum.
    pub fn name(self) -> &'static str {
        match self {
            Design::Original => "Original",
            Design::NestedAnnotation => "NestedAnnotation",
            Design::RunOffline => "RunOffline",
            Design::WaitUnderMutex => "WaitUnderMutex",
            Design::NoLockout => "NoLockout",
            Design::UnlockedFlag => "UnlockedFlag",
            Design::LostWakeup => "LostWakeup",
            Design::NaivePseudoLock => "NaivePseudoLock",
        }
    }

    /// One line: where the design comes from and what its `MEM_GOING_OFFLINE` does.
    pub fn summary(self) -> &'static str {
        match self {
            Design::Original => {
                "62b61f611e \"ksm: memory hotremove migration only\": \
                 mutex_lock(&ksm_thread_mutex) at MEM_GOING_OFFLINE, held until MEM_OFFLINE / \
                 MEM_CANCEL_OFFLINE"
            }
            Design::NestedAnnotation => {
                "a0b0f58 \"ksm: annotate ksm_thread_mutex is no deadlock source\": the same \
                 with mutex_lock_nested(&ksm_thread_mutex, SINGLE_DEPTH_NESTING)"
            }
            Design::RunOffline => {
                "ef4d43a8 \"ksm: stop hotremove lockdep warning\": KSM_RUN_OFFLINE set and \
                 cleared under the mutex; wait_while_offlining() with the mutex dropped"
            }
            Design::WaitUnderMutex => {
                "broken: wait_while_offlining() waits for KSM_RUN_OFFLINE still holding \
                 ksm_thread_mutex"
            }
            Design::NoLockout => "broken: MEM_GOING_OFFLINE does nothing; ksmd keeps scanning",
            Design::UnlockedFlag => "broken: KSM_RUN_OFFLINE set and cleared without the mutex",
            Design::LostWakeup => {
                "broken: the fix, but wait_on_bit() tests KSM_RUN_OFFLINE outside its \
                 wait-queue lock and sleeps without re-testing it: a wake-up can be lost"
            }
            Design::NaivePseudoLock => {
                "annotation: the fix, plus a pseudo-lock ksm_offline_window held by the \
                 offliner from MEM_GOING_OFFLINE to MEM_OFFLINE and might-acquired by waiters"
            }
        }
    }

    /// True if `MEM_GOING_OFFLINE` takes `ksm_thread_mutex` and keeps it until `MEM_OFFLINE`
    /// or `MEM_CANCEL_OFFLINE` (the pre-fix kernels).
    pub fn holds_mutex_across_notifications(self) -> bool {
        matches!(self, Design::Original | Design::NestedAnnotation)
    }

    /// True if the design uses the `KSM_RUN_OFFLINE` bit and `wait_while_offlining()`.
    pub fn uses_offline_bit(self) -> bool {
        matches!(
            self,
            Design::RunOffline
                | Design::WaitUnderMutex
                | Design::UnlockedFlag
                | Design::LostWakeup
                | Design::NaivePseudoLock
        )
    }

    /// True if the offliner holds the `ksm_offline_window` pseudo-lock across the
    /// notifications ([`Design::NaivePseudoLock`]).
    pub fn holds_pseudo_lock_across_notifications(self) -> bool {
        self == Design::NaivePseudoLock
    }

    /// The release the design shipped in; the broken variants and the annotation are
    /// variants of the fix, so 3.9.
    pub fn release(self) -> Release {
        match self {
            Design::Original => Release::V2_6_36,
            Design::NestedAnnotation => Release::V3_3,
            Design::RunOffline
            | Design::WaitUnderMutex
            | Design::NoLockout
            | Design::UnlockedFlag
            | Design::LostWakeup
            | Design::NaivePseudoLock => Release::V3_9,
        }
    }

    /// The lockdep subclass `MEM_GOING_OFFLINE` takes `ksm_thread_mutex` with.
    pub fn callback_subclass(self) -> u8 {
        if self == Design::NestedAnnotation {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
