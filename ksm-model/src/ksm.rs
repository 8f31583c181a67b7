//! KSM: `ksm_thread_mutex`, the `ksm_run` flags, ksmd's scan step, the `run` and
//! `merge_across_nodes` stores, and `ksm_memory_callback`, each as the [`Design`] has it.
//!
//! `ksm_run` is updated with plain (non-atomic) read-modify-writes, as in the kernel: relaxed
//! loads and stores that only the mutex serialises. Every `get_ksm_page()` goes through
//! `Kernel::get_ksm_page`, which records a [`Violation::UseAfterFree`] when the frame's
//! struct page may be gone.
//!
//! The `KSM_RUN_OFFLINE` bit is annotated as a [`lockdep::Event`] of the same name (one per
//! kernel, of a class per design like `ksm_thread_mutex`): `MEM_GOING_OFFLINE` arms it on the
//! offliner's thread before it takes the mutex to set the bit, `MEM_OFFLINE` /
//! `MEM_CANCEL_OFFLINE` signal it right after the clear, and `wait_on_bit()` waits for it just
//! before sleeping. [`Design::NaivePseudoLock`] adds the naive annotation on top: a pseudo-lock
//! `ksm_offline_window` held by the offliner across the notifications.

use crate::frames::{Actor, Keyhole, Violation};
use crate::hotplug::{MemoryNotify, SysfsAttr};
use crate::notifier::{MemAction, NotifyResult};
use crate::rt::{fence, yield_now, AtomicBool, AtomicUsize, Ordering};
use crate::waitbit::{BitWaitQueue, WaitOutcome};
use crate::{Design, Errno, Kernel, Point};
use lockdep::{Event, LockMap, Mutex, MutexGuard};

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
    ksm_thread_mutex: Mutex<()>,
    ksm_run: AtomicUsize,
    merge_across_nodes: AtomicUsize,
    offline_wait: BitWaitQueue,
    /// [`Design::NaivePseudoLock`]'s annotation (unused by the other designs).
    offline_window: LockMap,
    run_attr: SysfsAttr,
    merge_attr: SysfsAttr,
    batches: AtomicUsize,
}

/// `ksm_thread_mutex`, with a lockdep class of its own per design (every arm is its own
/// construction site). Each design stands for a different kernel build, and lockdep only ever
/// sees one build; if the designs shared the class, the pre-fix designs' `ksm_thread_mutex` →
/// `(memory_chain).rwsem` edge would close a cycle with the fix's (correct) opposite edge
/// whenever two designs run in one process, e.g. in parallel tests. The name is the kernel's
/// for all of them.
fn ksm_thread_mutex(design: Design) -> Mutex<()> {
    match design {
        Design::Original => Mutex::named("ksm_thread_mutex", ()),
        Design::NestedAnnotation => Mutex::named("ksm_thread_mutex", ()),
        Design::RunOffline => Mutex::named("ksm_thread_mutex", ()),
        Design::WaitUnderMutex => Mutex::named("ksm_thread_mutex", ()),
        Design::NoLockout => Mutex::named("ksm_thread_mutex", ()),
        Design::UnlockedFlag => Mutex::named("ksm_thread_mutex", ()),
        Design::NoHotplugMutex => Mutex::named("ksm_thread_mutex", ()),
        Design::LostWakeup => Mutex::named("ksm_thread_mutex", ()),
        Design::NaivePseudoLock => Mutex::named("ksm_thread_mutex", ()),
    }
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
        Design::Original
        | Design::NestedAnnotation
        | Design::NoLockout
        | Design::NoHotplugMutex => None,
    }
}

impl Ksm {
    pub(crate) fn new(design: Design) -> Ksm {
        Ksm {
            ksm_thread_mutex: ksm_thread_mutex(design),
            ksm_run: AtomicUsize::new(KSM_RUN_STOP),
            merge_across_nodes: AtomicUsize::new(1),
            offline_wait: match ksm_run_offline_event(design) {
                Some(event) => BitWaitQueue::with_event(event),
                None => BitWaitQueue::new(),
            },
            offline_window: LockMap::new("ksm_offline_window"),
            run_attr: SysfsAttr::new(),
            merge_attr: SysfsAttr::new(),
            batches: AtomicUsize::new(0),
        }
    }
}

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

/// True if lockdep validates at run time: compiled in and not switched off. Replaying the veto bug calls
/// `force_unlock` on a mutex this thread does not hold; only a validating lockdep turns that
/// into a report and leaves the lock alone, so otherwise the model records the violation and
/// skips the unlock.
fn validating() -> bool {
    lockdep::is_validating()
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
        let guard = self.ksm.ksm_thread_mutex.lock();
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

    /// Batches ksmd has scanned so far.
    pub fn ksmd_batches(&self) -> usize {
        self.ksm.batches.load(Ordering::Relaxed)
    }

    /// `cat /sys/kernel/mm/ksm/run`: the whole word, so 5 = MERGE | OFFLINE while offlining.
    pub fn run_show(&self) -> usize {
        self.ksm.ksm_run.load(Ordering::Relaxed)
    }

    /// `echo <value> > /sys/kernel/mm/ksm/run`. Values above `KSM_RUN_UNMERGE` are `Inval`;
    /// UNMERGE breaks every KSM page back into ordinary pages and empties the stable tree.
    pub fn run_store(&self, value: usize) -> Result<(), Errno> {
        if value > KSM_RUN_UNMERGE {
            return Err(Errno::Inval);
        }
        self.ksm.run_attr.store(|| {
            let guard = self.ksm.ksm_thread_mutex.lock();
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

    /// `echo <0|1> > /sys/kernel/mm/ksm/merge_across_nodes`. `NoEnt` without NUMA, `Inval`
    /// for other values, `Busy` while KSM pages are shared.
    pub fn merge_across_nodes_store(&self, value: usize) -> Result<(), Errno> {
        if !self.config().numa {
            return Err(Errno::NoEnt);
        }
        if value > 1 {
            return Err(Errno::Inval);
        }
        self.ksm.merge_attr.store(|| {
            let guard = self.ksm.ksm_thread_mutex.lock();
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

    /// `wait_while_offlining()`, called with the mutex held, returning with it held; `None`
    /// (mutex released) if the watchdog gave the wait up. The pre-fix designs have no such
    /// function: the guard comes straight back.
    fn wait_while_offlining<'a>(
        &'a self,
        mut guard: MutexGuard<'a, ()>,
        actor: Actor,
    ) -> Option<MutexGuard<'a, ()>> {
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
                    guard = self.ksm.ksm_thread_mutex.lock();
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
            Design::Original
            | Design::NestedAnnotation
            | Design::NoLockout
            | Design::NoHotplugMutex => {}
        }
        Some(guard)
    }

    /// `get_ksm_page()` on the `index`-th stable node: true if it found the node's page. A
    /// stale node is removed; a frame whose struct page may be gone is a violation (the model
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

    /// One page of `ksm_do_scan()`: `stable_tree_search()` looks at every stable node through
    /// `get_ksm_page()`, then the next anonymous page is merged into a new KSM page.
    fn scan_one_page(&self) {
        let mut found = Vec::new();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            found.extend(self.get_ksm_page(&mut index, Actor::Ksmd));
        }
        let mut mm = self.memmap();
        if let Some(pfn) = mm.next_candidate() {
            mm.merge(pfn);
        }
        drop(mm);
        self.record_all(found);
    }

    /// `unmerge_and_remove_all_rmap_items()`: `get_ksm_page(locked)` on each node's page,
    /// break it back into an ordinary page, drop the node.
    fn unmerge_and_remove_all_rmap_items(&self) {
        let mut found = Vec::new();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            let before = index;
            found.extend(self.get_ksm_page(&mut index, Actor::RunStore));
            if index > before {
                self.memmap().unmerge_node(before);
                index = before;
            }
        }
        self.record_all(found);
    }

    /// `remove_all_stable_nodes()`, with no page shared: every node is stale and
    /// `get_ksm_page()` removes it. False if a node still owned its page.
    fn remove_all_stable_nodes(&self) -> bool {
        let mut found = Vec::new();
        let mut index = 0;
        while index < self.memmap().stable_nodes().len() {
            found.extend(self.get_ksm_page(&mut index, Actor::MergeAcrossNodesStore));
        }
        self.record_all(found);
        self.memmap().pages_shared() == 0
    }

    fn set_run_bits(&self, bits: usize) {
        let run = self.ksm.ksm_run.load(Ordering::Relaxed);
        self.ksm.ksm_run.store(run | bits, Ordering::Relaxed);
    }

    fn clear_run_bits(&self, bits: usize) {
        let run = self.ksm.ksm_run.load(Ordering::Relaxed);
        self.ksm.ksm_run.store(run & !bits, Ordering::Relaxed);
    }

    /// `ksm_memory_callback()`, registered with priority 100.
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
        let mutex = &self.ksm.ksm_thread_mutex;
        if let Some(event) = self.ksm.offline_wait.event() {
            event.arm();
        }
        match self.design() {
            Design::Original | Design::NestedAnnotation | Design::NoHotplugMutex => {
                // Kept locked past our return, until MEM_OFFLINE / MEM_CANCEL_OFFLINE.
                let guard = match self.design().callback_subclass() {
                    0 => mutex.lock(),
                    subclass => mutex.lock_nested(subclass),
                };
                std::mem::forget(guard);
                arg.ksm_mutex_taken.set(true);
            }
            Design::RunOffline | Design::WaitUnderMutex | Design::LostWakeup => {
                let _guard = mutex.lock();
                self.set_run_bits(KSM_RUN_OFFLINE);
            }
            Design::NaivePseudoLock => {
                let guard = mutex.lock();
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
        let _guard = (self.design() == Design::NoLockout).then(|| self.ksm.ksm_thread_mutex.lock());
        self.memmap().prune(&arg.pfns());
    }

    /// The end of the window (`MEM_OFFLINE` after the prune, or `MEM_CANCEL_OFFLINE`).
    ///
    /// With the bit: clear it, then signal `KSM_RUN_OFFLINE` (a no-op if this offline's
    /// `MEM_GOING_OFFLINE` never reached KSM, e.g. after a veto), then `smp_mb()` and
    /// `wake_up_bit()`. The naive annotation's pseudo-lock goes with the signal.
    fn ksm_offline_over(&self, action: MemAction, arg: &MemoryNotify) {
        match self.design() {
            Design::Original | Design::NestedAnnotation | Design::NoHotplugMutex => {
                self.unlock_callback_mutex(action, arg)
            }
            Design::RunOffline
            | Design::WaitUnderMutex
            | Design::LostWakeup
            | Design::NaivePseudoLock => {
                let guard = self.ksm.ksm_thread_mutex.lock();
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
    /// locked it. After a veto by an earlier notifier it did not: the model records that and,
    /// when lockdep validates, replays the unlock so lockdep reports it.
    #[allow(unsafe_code)] // force_unlock: the kernel's bare mutex_unlock, see the SAFETY notes
    fn unlock_callback_mutex(&self, action: MemAction, arg: &MemoryNotify) {
        if arg.ksm_mutex_taken.replace(false) {
            // SAFETY: this thread locked the mutex in this offline's MEM_GOING_OFFLINE callback
            // and forgot the guard; nothing has unlocked it since.
            unsafe { self.ksm.ksm_thread_mutex.force_unlock() };
            return;
        }
        self.record(Violation::UnbalancedUnlock { action });
        if validating() {
            // SAFETY: this thread does not hold the mutex; a validating lockdep reports
            // BadUnlockBalance and leaves the lock untouched (the API contract).
            unsafe { self.ksm.ksm_thread_mutex.force_unlock() };
        }
    }
}
