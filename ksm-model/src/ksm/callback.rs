//! `ksm_memory_callback()`, registered with priority 100, as each design has it.

use super::KSM_RUN_OFFLINE;
use crate::frames::{Actor, Violation};
use crate::hotplug::MemoryNotify;
use crate::notifier::{MemAction, NotifyResult};
use crate::rt::{fence, Ordering};
use crate::{Design, Kernel};

impl Kernel {
    /// `ksm_memory_callback()`.
    pub(crate) fn ksm_memory_callback(
        &self,
        action: MemAction,
        arg: &MemoryNotify,
    ) -> NotifyResult {
        match action {
            MemAction::GoingOffline => self.ksm_going_offline(arg),
            MemAction::Offline => {
                self.ksm_check_stable_tree(arg);
                self.ksm_offline_over(action, arg);
            }
            MemAction::CancelOffline => self.ksm_offline_over(action, arg),
            MemAction::Online | MemAction::GoingOnline | MemAction::CancelOnline => {}
        }
        NotifyResult::Ok
    }

    /// `MEM_GOING_OFFLINE`: lock ksmd and the stores out.
    ///
    /// The designs with the bit arm `KSM_RUN_OFFLINE` first: from here until `MEM_OFFLINE` /
    /// `MEM_CANCEL_OFFLINE` signals it, this thread owes the waiters a wake-up, so every lock
    /// it takes (starting with the mutex that guards the bit) is one the event depends on.
    fn ksm_going_offline(&self, arg: &MemoryNotify) {
        if let Some(event) = self.ksm.offline_wait.event() {
            event.arm();
        }
        let actor = Actor::MemoryCallback;
        match self.design() {
            Design::Original | Design::NestedAnnotation => {
                // Kept locked past our return, until MEM_OFFLINE / MEM_CANCEL_OFFLINE.
                let subclass = self.design().callback_subclass();
                self.lock_ksm_thread_mutex_nested(subclass, actor)
                    .keep_locked();
                arg.ksm_mutex_taken.set(true);
            }
            Design::RunOffline | Design::WaitUnderMutex | Design::LostWakeup => {
                let _guard = self.lock_ksm_thread_mutex(actor);
                self.set_run_bits(KSM_RUN_OFFLINE);
            }
            Design::NaivePseudoLock => {
                let guard = self.lock_ksm_thread_mutex(actor);
                self.set_run_bits(KSM_RUN_OFFLINE);
                drop(guard);
                // Held past our return, like the pre-fix mutex, until MEM_OFFLINE /
                // MEM_CANCEL_OFFLINE.
                self.ksm.offline_window.acquire();
            }
            Design::UnlockedFlag => self.set_run_bits(KSM_RUN_OFFLINE),
            Design::NoLockout => {}
        }
    }

    /// `MEM_OFFLINE`: `ksm_check_stable_tree()` drops every node pointing into the range.
    /// The pre-fix designs still hold the mutex here; the fix relies on the bit;
    /// [`Design::NoLockout`] takes the mutex just for the prune.
    fn ksm_check_stable_tree(&self, arg: &MemoryNotify) {
        let _guard = (self.design() == Design::NoLockout)
            .then(|| self.lock_ksm_thread_mutex(Actor::MemoryCallback));
        self.memmap().prune(&arg.pfns());
    }

    /// The end of the window (`MEM_OFFLINE` after the prune, or `MEM_CANCEL_OFFLINE`).
    ///
    /// Pre-fix: `mutex_unlock(&ksm_thread_mutex)`. With the bit: clear it, then signal
    /// `KSM_RUN_OFFLINE` (a no-op if this offline's `MEM_GOING_OFFLINE` never reached KSM,
    /// e.g. after a veto), then `smp_mb()` and `wake_up_bit()`. The naive annotation's
    /// pseudo-lock goes with the signal.
    fn ksm_offline_over(&self, action: MemAction, arg: &MemoryNotify) {
        match self.design() {
            Design::Original | Design::NestedAnnotation => self.unlock_callback_mutex(action, arg),
            Design::RunOffline
            | Design::WaitUnderMutex
            | Design::LostWakeup
            | Design::NaivePseudoLock => {
                let guard = self.lock_ksm_thread_mutex(Actor::MemoryCallback);
                self.clear_run_bits(KSM_RUN_OFFLINE);
                drop(guard);
                self.signal_run_offline();
                fence(Ordering::SeqCst); // smp_mb(): "wake_up_bit advises this"
                self.ksm.offline_wait.wake_up_bit();
            }
            Design::UnlockedFlag => {
                self.clear_run_bits(KSM_RUN_OFFLINE);
                self.signal_run_offline();
                fence(Ordering::SeqCst);
                self.ksm.offline_wait.wake_up_bit();
            }
            Design::NoLockout => {}
        }
    }

    /// `KSM_RUN_OFFLINE` was just cleared: the armed span of this thread ends, and with it the
    /// naive annotation's pseudo-lock (held only if this offline's `MEM_GOING_OFFLINE` reached
    /// KSM: a vetoed one never took it).
    fn signal_run_offline(&self) {
        if let Some(event) = self.ksm.offline_wait.event() {
            event.signal();
        }
        if self.design().holds_pseudo_lock_across_notifications()
            && self.ksm.offline_window.is_held()
        {
            self.ksm.offline_window.release();
        }
    }

    /// The pre-fix `mutex_unlock(&ksm_thread_mutex)`, which assumes `MEM_GOING_OFFLINE`
    /// locked it. After a veto by an earlier notifier it did not, and the unlock happens all
    /// the same: lockdep reports the bad unlock balance, and the lock word is cleared under
    /// whoever holds the mutex (ksmd mid-batch, a store), letting the next locker in beside
    /// it. The model records the unbalanced unlock here, and the intrusion when it happens.
    fn unlock_callback_mutex(&self, action: MemAction, arg: &MemoryNotify) {
        if !arg.ksm_mutex_taken.replace(false) {
            self.record(Violation::UnbalancedUnlock { action });
        }
        self.ksm.ksm_thread_mutex.unlock(Actor::MemoryCallback);
    }
}
