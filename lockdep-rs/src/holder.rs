//! The holder of a lock: the thread that takes it, or — inside a tokio task — the task
//! (`cfg(lockdep_tasks)`: validation on and the `tokio` feature).
//!
//! A tokio task is polled by one thread at a time, but by any worker over its life, and one
//! worker polls many tasks in turn. So the held-lock stack belongs to the task: every lock a
//! task takes, async or sync, is on its stack, which goes wherever the task is polled next, and
//! a task polled on the same thread never sees another's locks. Outside a task (a plain thread,
//! a `block_on` future, which has no task id) the holder is the thread.
//!
//! **Switching.** Every stack — a thread's own, each task's — has a record ([`Stack`]) with a
//! process-unique id in the process-wide registry; the thread state has one stack *loaded*
//! ([`HeldRef`]). A task's stack lives in its record; the thread's own stack lives inline in
//! the thread state (outside tasks the fast path follows no pointer to reach it, as without
//! the `tokio` feature) and moves into its record only when the thread exits. At each
//! lockdep call the thread checks that the loaded stack is the calling context's: the fast
//! path (of a thread that may poll tasks: see below) asks tokio for the running task
//! (`tokio::task::try_id`, one thread-local read) and
//! compares it with the loaded stack's, and for a task's stack checks that it is still this
//! thread's; on a mismatch the slow path *settles*: it parks the outgoing task stack (or drops
//! it, if empty) and loads the incoming one from the registry (a new one for a task's first
//! lock). Nothing happens at task switches that make no lockdep call.
//!
//! **Threads that run no tasks ask nothing.** A thread is marked as one that may poll tasks
//! ([`HeldRef::tasks_possible`]) the first time one of its slow-path calls (its first lockdep
//! call, every new order, every async lock operation of a task: an uncontended `lock().await`
//! outside tasks on a validated order is none) finds it inside a task or inside a runtime's
//! context (a worker or blocking-pool thread, a `block_on`, a `Runtime::enter` guard). Until
//! then its blocking acquisitions' fast path goes on its own stack without asking tokio (that
//! call was most of what the feature cost a plain thread's locks). The limit: a thread whose
//! lockdep calls all came before it entered a runtime, and whose tasks then take blocking locks
//! only in orders the thread already validated, has those locks counted as its own until its
//! first slow-path call inside the runtime. When a task's call marks it, the blocking locks on
//! its own stack (the thread's own code's among them) are not reported as held across an
//! `.await` (their holder is not known), and the orders from them to what the calling task
//! takes next are missed (a task's locks are checked against the thread's own only for a
//! self-deadlock): once, until they are released; the next run of the same code is on a marked
//! thread. They are released cleanly: a guard's token names the thread's stack, and a release
//! by instance from a task (`force_unlock`, a raw lock's `unlock`, a `LockMap`'s `release`)
//! that finds no entry on the task's stack takes such an entry of the thread's, pushed before
//! the mark, for the task's (`validator::holder::release_unmarked`); such an entry is the task's
//! nest lock too (`lock_nest_lock`). A `HeldAcrossAwait` of the
//! `block_on` future, or of a `LocalSet` task keeping a blocking guard across an `.await`, is
//! reported late or names the thread meanwhile.
//! (`tests/tokio_tasks_possible.rs`.)
//!
//! **Ownership.** A stack is touched outside the registry's lock only by the thread that has
//! it loaded, while that thread runs its holder (the checks above). A task that moves to
//! another worker while its stack is still loaded on the old one (that worker made no lockdep
//! call since) has its stack *taken over* by the new worker, under the registry's lock; the old
//! worker finds out at its next call (the stack's owner is no longer it) and lets go without
//! touching it. Tokio's own hand-over of the task orders the two threads' accesses.
//!
//! **Guards that move.** A guard's token names its stack, so a release finds the entry wherever
//! the guard is dropped: on the stack loaded here; on a parked task stack (taken out here,
//! under the registry's lock); or, if the stack is loaded on another thread or is a live
//! thread's own (never parked: only its thread touches it), posted to it and applied by that
//! thread at its next slow-path call on it or when it parks it (until then the entry can only
//! make the fast path find chains that were validated anyway: no edge comes from it).
//! A downgrade by another holder finds the entry the same way and changes its mode where it
//! is (a change posted to a stack loaded elsewhere is applied with its releases, in order).
//! Until the guard is dropped its entry stays on its acquirer's stack, so the acquirer taking
//! the lock again looks like a re-lock; an owned guard's entry is marked movable
//! (`HeldLock::movable`), and such a re-lock waits for the real lock first (for the guard's
//! release elsewhere, up to the deadlock timeout: `tokio::watch`) instead of being taken for a
//! certain self-deadlock.
//!
//! **Held across `.await`.** A stack left while it holds a blocking (sync) lock belongs to a
//! holder that is suspended with that lock held: it blocks every other task that needs it,
//! and deadlocks a current-thread runtime or `LocalSet` if one of its tasks does. Found when the
//! stack is parked or taken over with such a lock, when an async acquisition of the holder
//! waits (returns `Pending`) with one held, and when a holder whose whole future lockdep runs
//! (a `capture_async` body, a task of `lockdep::tokio::spawn` or `spawn_local`) returns
//! `Pending` with one held (`validator::holder::suspended`: nothing else may ever switch its
//! thread's stack, e.g. a `block_on` body on a multi-thread runtime):
//! [`ReportKind::HeldAcrossAwait`](crate::ReportKind).
//!
//! **Limit: drops under another task's id.** tokio sets a task's id (`try_id`) not only while
//! it polls the task but also while it drops the task's output or future on whatever thread
//! does it: a `JoinHandle` of a finished task dropped with its output not taken, a runtime or
//! `LocalSet` dropped with tasks pending. A lockdep call there settles to that task as if it
//! were polled: the calling holder is left as if suspended (a blocking lock it holds is
//! reported held across `.await`, falsely), and a lock taken there goes on the dropped task's
//! stack instead of being nested under the caller's locks (its order is missed). Nothing public
//! in tokio tells an inline drop from a poll (`TaskLife` of `lockdep::tokio::spawn` sees a
//! task's end, but not who drops its output, nor tasks of tokio's own `spawn`), so this is a
//! documented limit (README, Async), not handled here.
//!
//! This module holds the data (stacks, the registry, the thread's handles, spawn sites) and
//! what the fast path and the thread state need; switching, releases meant for another
//! holder and the reports are the validator's (`validator/holder.rs`).

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::task::Id as TaskId;

use crate::held_locks::{HeldLocks, Instance, Read};
use crate::sync::internal::Mutex;

/// The task a lockdep call runs in (`None`: not in a task; the thread is the holder).
pub(crate) type Task = Option<TaskId>;

/// The calling context's task.
#[inline(always)]
pub(crate) fn current_task() -> Task {
    tokio::task::try_id()
}

/// Is the calling thread inside a tokio runtime's context (a worker, a blocking-pool thread,
/// a `block_on`, a `Runtime::enter` guard): where it may poll tasks?
pub(crate) fn in_runtime_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

std::thread_local! {
    /// Set while an awaited acquisition (`lock().await`, after its grace for other branches
    /// of its task) is validated: what the report of a re-lock says depends on it.
    static AWAITED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set while an acquisition is validated that first waited the deadlock timeout for a lock
    /// its holder holds only through owned guards (`HeldLock::movable`), and no guard released
    /// it: the re-lock is then taken for a self-deadlock after all.
    static WAITED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set while a blocking acquisition is validated that would wait behind an awaited
    /// acquisition of the same lock by the same holder, queued (see `tokio::queued`).
    static QUEUED_AHEAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Clears its mark when dropped (also on unwinding).
pub(crate) struct Marked(&'static std::thread::LocalKey<std::cell::Cell<bool>>);

impl Drop for Marked {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Sets `mark` until the returned value is dropped.
fn mark(mark: &'static std::thread::LocalKey<std::cell::Cell<bool>>) -> Marked {
    mark.set(true);
    Marked(mark)
}

/// Runs `validate` with `mark` set (cleared after it, also on unwinding).
fn marked<R>(
    mark_: &'static std::thread::LocalKey<std::cell::Cell<bool>>,
    validate: impl FnOnce() -> R,
) -> R {
    let _unset = mark(mark_);
    validate()
}

/// Runs `validate` as an awaited acquisition's validation (see [`take_awaited`]).
pub(crate) fn awaiting<R>(validate: impl FnOnce() -> R) -> R {
    marked(&AWAITED, validate)
}

/// Is the acquisition being validated an awaited one (not `blocking_lock` & co.)? Read once,
/// by that acquisition's validation: it clears the mark, so acquisitions of a report hook run
/// meanwhile are not taken for awaited ones.
pub(crate) fn take_awaited() -> bool {
    AWAITED.replace(false)
}

/// Until the returned value is dropped, the acquisition validated is one that waited in vain
/// for owned guards of its holder to be released elsewhere (see [`take_waited`]).
pub(crate) fn waited_in_vain() -> Marked {
    mark(&WAITED)
}

/// Until the returned value is dropped, the acquisition validated is a blocking one behind a
/// queued acquisition of its own holder (see [`take_queued_ahead`]).
pub(crate) fn queued_ahead() -> Marked {
    mark(&QUEUED_AHEAD)
}

/// Is the acquisition being validated a blocking one that would wait behind a queued
/// acquisition of its own holder? Read once, as [`take_awaited`].
pub(crate) fn take_queued_ahead() -> bool {
    QUEUED_AHEAD.replace(false)
}

/// Did the acquisition being validated wait the deadlock timeout in vain for its holder's
/// owned guards of the lock to be released elsewhere? Read once, as [`take_awaited`].
pub(crate) fn take_waited() -> bool {
    WAITED.replace(false)
}

/// One holder's held-lock stack.
pub(crate) struct Stack {
    pub(crate) held: UnsafeCell<HeldLocks>,
    pub(crate) uid: u64,
    /// The task it belongs to (`None`: a thread's own stack).
    pub(crate) task: Task,
    /// The thread that has it loaded (its own stack's uid); 0 while parked. Changed only under
    /// the registry's lock.
    pub(crate) owner: AtomicU64,
    /// Releases or changes were posted to it (in the registry's inbox).
    pub(crate) pending: AtomicBool,
    /// A thread's own stack whose thread exited, kept for its async guards still alive.
    pub(crate) orphan: AtomicBool,
    /// A local task's stack whose task ended with blocking locks still held, whose guards may
    /// be in its output or with another holder of its thread (`lockdep::tokio::spawn_local`):
    /// that thread (its own stack's uid; 0: the task did not end so). Not a holder suspended
    /// at an `.await`; its blocking locks are leaked if still held when that thread exits
    /// (`validator::holder::task_ended`, `leaked_by_ended_tasks`). Another thread that runs
    /// code under the task's id (dropping its output) does not load it but a stack of its own
    /// (`validator::holder::settle`): the guards are not there, and the stack stays where
    /// the thread it ended on can check it.
    pub(crate) ended_on: AtomicU64,
}

// `held` is only accessed by the thread that owns the stack (`owner`, checked by every access
// path: the fast path's `settled`, `settle` under the registry's lock) or, while it is parked,
// under the registry's lock; ownership moves only under that lock, and a task's stack is taken
// over only by a thread polling the task, after tokio's hand-over of the task from the previous
// thread (which then no longer runs that holder). So no two threads access it at once. (A
// thread's own record keeps `held` empty and owned by the thread while it lives: its stack is
// inline in the thread state; it is parked only once the thread is gone.)
#[allow(unsafe_code)]
// SAFETY: as above.
unsafe impl Sync for Stack {}

impl Stack {
    pub(crate) fn new(task: Task) -> Arc<Stack> {
        let held = HeldLocks::default();
        let uid = held.uid;
        Arc::new(Stack {
            held: UnsafeCell::new(held),
            uid,
            task,
            owner: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            orphan: AtomicBool::new(false),
            ended_on: AtomicU64::new(0),
        })
    }

    /// The stack, for the registry's holder: the caller holds the registry's lock and the
    /// stack is parked (no thread has it loaded) or loaded by the caller's thread.
    #[allow(unsafe_code, clippy::mut_from_ref)]
    pub(crate) fn parked<'r>(&self, _registry: &'r mut Registry) -> &'r mut HeldLocks {
        // SAFETY: see the caller's contract; the registry's lock (borrowed for 'r) keeps every
        // other thread from loading or touching a parked stack meanwhile.
        unsafe { &mut *self.held.get() }
    }
}

/// The thread state's hold on the stack it has loaded: dereferences to it. Dereferenced only
/// by the owning thread after the holder was settled (`with_state`) or checked (`settled`).
///
/// The thread's own stack is kept *inline* here, not in its record: outside tasks (most
/// code), the fast path reaches the top entry with no pointer to follow, as without the
/// `tokio` feature. Its record (in the registry, for the guards that name it) keeps an empty
/// `held` while the thread lives and is never parked: other threads post their releases to it
/// rather than touch it. When the thread exits, the inline stack moves into the record
/// ([`thread_exited`]), where it stays for the async guards still alive.
pub(crate) struct HeldRef {
    /// The loaded stack's record: the thread's own record while `own` is loaded.
    pub(crate) rec: Arc<Stack>,
    /// The thread's own stack.
    own: HeldLocks,
    /// `own`'s uid while it is the loaded stack (`rec` is then its record), [`UNLOADED`]
    /// otherwise: the fast paths' one test for "outside tasks, on the thread's own stack"
    /// (a guard's holder tag compared with it).
    own_tag: u64,
    /// The thread may be polling a tokio task: it was seen inside one, or inside a runtime's
    /// context (a worker, a `block_on`, a `Runtime::enter` guard), by one of its slow-path
    /// calls (`validator::holder::settle_here`). Never cleared. Until it is set, the own stack is
    /// the loaded one, and a blocking acquisition's fast path does not ask tokio for the
    /// running task: it is the fast path of a build without the `tokio` feature.
    tasks_possible: bool,
    /// The serials the thread's own stack had issued when [`tasks_possible`] was set: an
    /// entry of it up to this one may have been pushed by a task the thread polled (its
    /// holder is not known), and is released by instance from that task too
    /// (`validator::holder::release_unmarked`).
    ///
    /// [`tasks_possible`]: HeldRef::tasks_possible
    unmarked_up_to: u64,
}

/// [`HeldRef::own_tag`] while a task's stack is loaded: no stack's uid (and not `NO_HOLDER`).
const UNLOADED: u64 = u64::MAX;

impl HeldRef {
    /// Loads the stack of `rec` (the thread's own if it is `own_uid`'s) and returns the record
    /// that was loaded.
    pub(crate) fn swap_loaded(&mut self, rec: Arc<Stack>, own_uid: u64) -> Arc<Stack> {
        self.own_tag = if rec.uid == own_uid {
            own_uid
        } else {
            UNLOADED
        };
        std::mem::replace(&mut self.rec, rec)
    }

    /// The thread is going away: its own stack (loaded) moves into its record, which the
    /// registry may keep for the async guards still alive; `self` then shows the record's.
    #[allow(unsafe_code)]
    fn move_own_into_record(&mut self) {
        debug_assert!(self.own_loaded());
        // SAFETY: the record is this thread's own, still owned by it (its `owner` is this
        // thread until the caller parks it, after this): no other thread touches its `held`.
        unsafe { std::ptr::swap(self.rec.held.get(), &mut self.own) };
        self.own_tag = UNLOADED;
    }

    /// The thread's own stack (loaded or not).
    pub(crate) fn own(&self) -> &HeldLocks {
        &self.own
    }

    /// The thread's own stack and its tag, if it is the loaded one.
    #[inline(always)]
    pub(crate) fn own_loaded_mut(&mut self) -> Option<(&mut HeldLocks, u64)> {
        (self.own_tag != UNLOADED).then_some((&mut self.own, self.own_tag))
    }

    /// The thread was just seen inside a task or a runtime's context: from now on its
    /// blocking acquisitions ask tokio for the running task. Returns whether it was news.
    pub(crate) fn note_tasks_possible(&mut self) -> bool {
        let news = !std::mem::replace(&mut self.tasks_possible, true);
        if news {
            self.unmarked_up_to = self.own.stack.issued();
        }
        news
    }

    /// Was the entry `serial` of the thread's own stack pushed before the thread was marked
    /// (see [`HeldRef::unmarked_up_to`]): by the thread or by a task it polled?
    pub(crate) fn unmarked(&self, serial: u64) -> bool {
        serial <= self.unmarked_up_to
    }

    /// May the thread be polling a tokio task (see [`HeldRef::tasks_possible`])?
    #[inline(always)]
    pub(crate) fn tasks_possible(&self) -> bool {
        self.tasks_possible
    }

    /// The thread's own stack, if it is the loaded one and the stack `tag` names (a guard's
    /// holder tag): one compare.
    #[inline(always)]
    pub(crate) fn own_if_tagged(&mut self, tag: u64) -> Option<&mut HeldLocks> {
        (tag == self.own_tag).then_some(&mut self.own)
    }

    /// The loaded stack, known to be a task's (the holder was checked: `settled_for` a task):
    /// reached with no test of which stack is loaded.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn task_loaded_mut(&mut self) -> &mut HeldLocks {
        debug_assert!(!self.own_loaded());
        // SAFETY: as in `deref_mut`.
        unsafe { &mut *self.rec.held.get() }
    }

    /// Is the thread's own stack the loaded one?
    #[inline(always)]
    pub(crate) fn own_loaded(&self) -> bool {
        self.own_tag != UNLOADED
    }
}

impl Deref for HeldRef {
    type Target = HeldLocks;
    #[inline(always)]
    #[allow(unsafe_code)]
    fn deref(&self) -> &HeldLocks {
        if self.own_loaded() {
            return &self.own;
        }
        // SAFETY: the thread state is thread-local, and this thread owns the loaded stack
        // while it runs its holder (see `Stack`'s `Sync`).
        unsafe { &*self.rec.held.get() }
    }
}

impl DerefMut for HeldRef {
    #[inline(always)]
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut HeldLocks {
        if self.own_loaded() {
            return &mut self.own;
        }
        // SAFETY: as in `deref`; `&mut self` is the only handle this thread uses on it.
        unsafe { &mut *self.rec.held.get() }
    }
}

/// Which holder a thread's state has loaded, and the thread's own stack.
pub(crate) struct Holding {
    pub(crate) task: Task,
    /// The uid of the thread's own stack: this thread, as a stack owner.
    pub(crate) me: u64,
    pub(crate) own: Arc<Stack>,
    /// An empty task stack this thread dropped, kept for the next task it loads (no allocation,
    /// and its kept slots let the fast path push at once).
    pub(crate) spare: Option<Arc<Stack>>,
    /// The task stacks this thread parked while they held blocking locks (their tasks were
    /// suspended at an `.await` holding a blocking guard, which is not `Send`: local tasks,
    /// which only this thread runs), and those of local tasks that ended here with blocking
    /// locks held (`Stack::ended_on`: listed as they end). While there are any, this thread's
    /// fast path is closed and its blocking acquisitions are checked against them
    /// (`validator::holder::held_by_parked_task`; reopened when the last one goes).
    pub(crate) suspended: Vec<Arc<Stack>>,
}

/// A release, or a change of mode in place, posted to a stack loaded on another thread.
pub(crate) struct Posted {
    pub(crate) instance: Instance,
    pub(crate) serial: u64,
    /// `None`: the entry is released. `Some((read, upgradable))`: it is now held in mode `read`
    /// (a guard downgraded by another holder: see `validator::change_read`).
    pub(crate) change: Option<(Read, bool)>,
}

impl Posted {
    /// The release of the entry `serial` of `instance`.
    pub(crate) fn release(instance: Instance, serial: u64) -> Posted {
        Posted {
            instance,
            serial,
            change: None,
        }
    }

    /// Is it the release of an entry of `instance` of serial `serial`?
    pub(crate) fn releases(&self, instance: Instance, serial: u64) -> bool {
        self.change.is_none() && self.instance == instance && self.serial == serial
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) stacks: HashMap<u64, Arc<Stack>, Mix>,
    pub(crate) tasks: HashMap<TaskId, u64, Mix>,
    pub(crate) inbox: HashMap<u64, Vec<Posted>, Mix>,
}

/// The registry's keys are integers (stack uids, task ids: both counters): one multiply mixes
/// them enough (SipHash would be most of a switch's cost).
#[derive(Default, Clone, Copy)]
pub(crate) struct Mix;

impl std::hash::BuildHasher for Mix {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(0)
    }
}

pub(crate) struct MixHasher(u64);

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Registry {
    /// Posts `posted` (a release or a change) to `stack`, loaded by another thread, which
    /// applies it at its next call on the stack (or when it parks it).
    pub(crate) fn post(&mut self, stack: &Stack, posted: Posted) {
        self.inbox.entry(stack.uid).or_default().push(posted);
        stack.pending.store(true, Relaxed);
    }

    pub(crate) fn remove(&mut self, stack: &Stack) {
        self.stacks.remove(&stack.uid);
        self.inbox.remove(&stack.uid);
        if let Some(id) = stack.task {
            if self.tasks.get(&id) == Some(&stack.uid) {
                self.tasks.remove(&id);
            }
            if stack.ended_on.load(Relaxed) != 0 {
                forget_site(id); // kept for its reports (`validator::holder::task_ended`)
            }
        }
    }

    /// Parks `stack` (this thread had it loaded); a task's empty stack, or an exited thread's,
    /// is dropped instead.
    pub(crate) fn park(&mut self, stack: &Arc<Stack>) {
        stack.owner.store(0, Relaxed);
        self.drop_if_done(stack);
    }

    pub(crate) fn drop_if_done(&mut self, stack: &Arc<Stack>) {
        let done = stack.task.is_some() || stack.orphan.load(Relaxed);
        if done && stack.parked(self).stack.is_empty() {
            self.remove(stack);
        }
    }
}

/// Every parked stack, and every thread's own.
pub(crate) static REGISTRY: Mutex<Registry> = Mutex::new();

/// A new thread's state: its own stack, loaded and registered (an async guard it holds may be
/// released from another thread).
pub(crate) fn new_thread() -> (HeldRef, Holding) {
    let rec = Stack::new(None);
    rec.owner.store(rec.uid, Relaxed);
    REGISTRY.lock().stacks.insert(rec.uid, rec.clone());
    let mut own = HeldLocks::default();
    own.uid = rec.uid;
    let holding = Holding {
        task: None,
        me: rec.uid,
        own: rec.clone(),
        spare: None,
        suspended: Vec::new(),
    };
    let held = HeldRef {
        own_tag: rec.uid,
        rec,
        own,
        tasks_possible: false,
        unmarked_up_to: 0,
    };
    (held, holding)
}

/// Is the loaded stack `held` the calling context's, and still this thread's? (The fast path's
/// check: one thread-local read through tokio, two compares.)
#[inline(always)]
pub(crate) fn settled(held: &HeldRef, holding: &Holding) -> bool {
    settled_for(held, holding, current_task())
}

/// [`settled`] for the calling context's task `task`.
#[inline(always)]
pub(crate) fn settled_for(held: &HeldRef, holding: &Holding, task: Task) -> bool {
    match holding.task {
        // The thread's own stack: only this thread ever has it loaded.
        None => task.is_none(),
        mine => task == mine && held.rec.owner.load(Relaxed) == holding.me,
    }
}

/// May the fast path pop an entry of the task stack `holder` here? Only if it is the stack
/// loaded here and this thread runs that task now (asks tokio). (The thread's own stack needs
/// neither: only this thread ever touches it.)
#[inline(always)]
pub(crate) fn may_pop_task(held: &HeldRef, holding: &Holding, holder: u64) -> bool {
    held.rec.uid == holder && settled(held, holding)
}

/// The uid of the loaded stack (the holder a new entry belongs to).
#[inline(always)]
pub(crate) fn loaded(held: &HeldRef) -> u64 {
    held.uid
}

/// The thread is exiting: a task's stack it has loaded is parked for the task's next poll
/// (dropped if it holds nothing: the task may have ended), and its own stack is loaded again;
/// the releases and changes posted to either are applied first (not validated: the thread is
/// going away). Returns the fast-path hit count of the stack it had loaded, if this thread
/// still owned it (read under the registry's lock: once another thread may have taken it
/// over, that thread may be changing it).
pub(crate) fn thread_exit(held: &mut HeldRef, holding: &mut Holding) -> Option<u64> {
    let mut reg = REGISTRY.lock();
    let me = holding.me;
    let before = (held.rec.owner.load(Relaxed) == me).then(|| held.fast_pushes());
    if holding.task.is_some() || !held.own_loaded() {
        if held.rec.owner.load(Relaxed) == me {
            // Else a stack whose task ended here, its last entries released from elsewhere,
            // would be kept for ever (no one loads it again).
            apply_posted(&mut reg, held);
            reg.park(&held.rec);
            let listed = holding
                .suspended
                .iter()
                .any(|st| Arc::ptr_eq(st, &held.rec));
            if held.rec.ended_on.load(Relaxed) == me && !listed {
                // Checked for leaks with the others (`leaked_by_ended_tasks`).
                holding.suspended.push(held.rec.clone());
            }
        }
        held.swap_loaded(holding.own.clone(), me);
        holding.task = None;
    }
    apply_posted(&mut reg, held);
    before
}

/// Applies the releases and changes posted to the loaded stack, in order, without validating
/// anything (the thread is going away; see [`release_unvalidated`]).
fn apply_posted(reg: &mut Registry, held: &mut HeldRef) {
    if held.rec.pending.swap(false, Relaxed) {
        for p in reg.inbox.remove(&held.rec.uid).unwrap_or_default() {
            if p.serial <= held.forgotten_up_to {
                continue; // `reset()` forgot it
            }
            match p.change {
                None => release_unvalidated(held, p.instance, p.serial),
                Some((read, upgradable)) => {
                    held.change_read(p.instance, p.serial, read, upgradable);
                }
            }
        }
    }
}

/// Releases the entry `serial` of `instance` of `held`, a stack no thread validates on now
/// (parked, or loaded by an exiting thread): the entries above it put back as they were
/// (they were validated when taken; there is no state here to validate them again with).
pub(crate) fn release_unvalidated(held: &mut HeldLocks, instance: Instance, serial: u64) {
    if serial <= held.forgotten_up_to {
        return; // `reset()` forgot it
    }
    let Some(idx) = held.find(instance, |h| h.serial() == serial) else {
        return;
    };
    if !held.stack[idx].unmerge(instance) {
        let (removed, above) = held.remove(idx);
        for mut e in above {
            if e.nest().is_some_and(|n| removed.holds(n.get())) {
                e.nesting_mut().nest = None;
            }
            held.push(e);
        }
    }
}

/// After the exit's leak check: the thread's own stack is kept (parked, as an orphan) while it
/// holds async guards that may still be released elsewhere, and forgotten otherwise.
pub(crate) fn thread_exited(held: &mut HeldRef, holding: &mut Holding) {
    let mut reg = REGISTRY.lock();
    let own = holding.own.clone();
    // Releases posted since `thread_exit` applied them (e.g. by a report hook run meanwhile).
    apply_posted(&mut reg, held);
    let keep = held.stack.iter().any(|h| h.sendable());
    if keep {
        // Leaked blocking locks were reported: only the async guards are waited for.
        held.forget_where(|h| !h.sendable());
    }
    held.move_own_into_record();
    own.orphan.store(true, Relaxed);
    own.owner.store(0, Relaxed);
    if !keep {
        reg.remove(&own);
    }
}

/// Where tasks spawned by `lockdep::tokio::spawn` were spawned.
pub(crate) static SITES: Mutex<HashMap<TaskId, &'static Location<'static>, Mix>> = Mutex::new();

/// Records where the task `id` was spawned (shown in reports that name it).
pub(crate) fn spawned(id: TaskId, site: &'static Location<'static>) {
    SITES.lock().insert(id, site);
}

/// `task 12 (spawned at src/lib.rs:3:5)`, or `task 12`.
pub(crate) fn task_label(task: Task) -> String {
    let Some(id) = task else {
        return String::new();
    };
    let site = SITES.lock().get(&id).copied();
    match site {
        Some(l) => format!(
            "task {id} (spawned at {}:{}:{})",
            l.file(),
            l.line(),
            l.column()
        ),
        None => format!("task {id}"),
    }
}

/// Forgets where the task `id` was spawned (it ended).
pub(crate) fn forget_site(id: TaskId) {
    SITES.lock().remove(&id);
}
