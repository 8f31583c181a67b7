//! The holder of a lock: the thread that takes it, or — inside a tokio task — the task
//! (`cfg(lockdep_tasks)`: validation on and the `tokio` feature).
//!
//! A tokio task is polled by one thread at a time, but by any worker over its life, and one
//! worker polls many tasks in turn. So the held-lock stack belongs to the task: every lock a
//! task takes, async or sync, is on its stack, which goes wherever the task is polled next, and
//! a task polled on the same thread never sees another's locks. Outside a task (a plain thread,
//! a `block_on` future, which has no task id) the holder is the thread.
//!
//! **Switching.** Every stack — a thread's own, each task's — is a heap [`Stack`] with a
//! process-unique id; the thread state holds a handle on the one it has *loaded*
//! ([`HeldRef`]). At each lockdep call the thread checks that the loaded stack is the calling
//! context's: the fast path compares the task id tokio reports (`tokio::task::try_id`, one
//! thread-local read) with the loaded stack's and checks that the stack is still this
//! thread's; on a mismatch the slow path *settles*: it parks the outgoing stack (or drops it,
//! if a task's and empty) and loads the incoming one from the process-wide registry (a new
//! one for a task's first lock). Nothing happens at task switches that make no lockdep call.
//!
//! **Ownership.** A stack is touched outside the registry's lock only by the thread that has
//! it loaded, while that thread runs its holder (the checks above). A task that moves to
//! another worker while its stack is still loaded on the old one (that worker made no lockdep
//! call since) has its stack *taken over* by the new worker, under the registry's lock; the old
//! worker finds out at its next call (the stack's owner is no longer it) and lets go without
//! touching it. Tokio's own hand-over of the task orders the two threads' accesses.
//!
//! **Guards that move.** A guard's token names its stack, so a release finds the entry wherever
//! the guard is dropped: on the stack loaded here; on a parked stack (taken out here, under the
//! registry's lock); or, if the stack is loaded on another thread, posted to it and applied by
//! that thread at its next slow-path call or when it parks the stack (until then the entry
//! can only make the fast path find chains that were validated anyway: no edge comes from it).
//!
//! **Held across `.await`.** A stack left while it holds a blocking (sync) lock belongs to a
//! holder that is suspended with that lock held: it blocks every other task that needs it,
//! and deadlocks a current-thread runtime or `LocalSet` if one of its tasks does. Found when the
//! stack is parked or taken over with such a lock, and when an async acquisition of the holder
//! waits (returns `Pending`) with one held: [`ReportKind::HeldAcrossAwait`](crate::ReportKind).

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::task::Id as TaskId;

use crate::held_locks::{HeldLocks, Instance};
use crate::report::sink::{self, Delivery};
use crate::report::{build, Report};
use crate::sync::internal::Mutex;
use crate::thread_state::{with_state_raw, ThreadState};
use crate::validator::{act, Outcome};

/// The task a lockdep call runs in (`None`: not in a task; the thread is the holder).
pub(crate) type Task = Option<TaskId>;

/// The calling context's task.
#[inline(always)]
pub(crate) fn current_task() -> Task {
    tokio::task::try_id()
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A new process-unique stack id (never 0: 0 is "no owner").
pub(crate) fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, Relaxed)
}

/// One holder's held-lock stack.
pub(crate) struct Stack {
    held: UnsafeCell<HeldLocks>,
    uid: u64,
    /// The task it belongs to (`None`: a thread's own stack).
    task: Task,
    /// The thread that has it loaded (its own stack's uid); 0 while parked. Changed only under
    /// the registry's lock.
    owner: AtomicU64,
    /// Releases were posted to it (in the registry's inbox).
    pending: AtomicBool,
    /// A thread's own stack whose thread exited, kept for its async guards still alive.
    orphan: AtomicBool,
}

// `held` is only accessed by the thread that owns the stack (`owner`, checked by every access
// path: the fast path's `settled`, `settle` under the registry's lock) or, while it is parked,
// under the registry's lock; ownership moves only under that lock, and a task's stack is taken
// over only by a thread polling the task, after tokio's hand-over of the task from the previous
// thread (which then no longer runs that holder). So no two threads access it at once.
#[allow(unsafe_code)]
// SAFETY: as above.
unsafe impl Sync for Stack {}

impl Stack {
    fn new(task: Task) -> Arc<Stack> {
        let held = HeldLocks::default();
        let uid = held.uid;
        Arc::new(Stack {
            held: UnsafeCell::new(held),
            uid,
            task,
            owner: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            orphan: AtomicBool::new(false),
        })
    }

    /// The stack, for the registry's holder: the caller holds the registry's lock and the
    /// stack is parked (no thread has it loaded) or loaded by the caller's thread.
    #[allow(unsafe_code, clippy::mut_from_ref)]
    fn parked<'r>(&self, _registry: &'r mut Registry) -> &'r mut HeldLocks {
        // SAFETY: see the caller's contract; the registry's lock (borrowed for 'r) keeps every
        // other thread from loading or touching a parked stack meanwhile.
        unsafe { &mut *self.held.get() }
    }
}

/// The thread state's handle on the stack it has loaded: dereferences to it. Dereferenced only
/// by the owning thread after the holder was settled (`with_state`) or checked (`settled`).
pub(crate) struct HeldRef(Arc<Stack>);

impl Deref for HeldRef {
    type Target = HeldLocks;
    #[inline(always)]
    #[allow(unsafe_code)]
    fn deref(&self) -> &HeldLocks {
        // SAFETY: the thread state is thread-local, and this thread owns the loaded stack
        // while it runs its holder (see `Stack`'s `Sync`).
        unsafe { &*self.0.held.get() }
    }
}

impl DerefMut for HeldRef {
    #[inline(always)]
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut HeldLocks {
        // SAFETY: as in `deref`; `&mut self` is the only handle this thread uses on it.
        unsafe { &mut *self.0.held.get() }
    }
}

/// Which holder a thread's state has loaded, and the thread's own stack.
pub(crate) struct Holding {
    task: Task,
    /// The uid of the thread's own stack: this thread, as a stack owner.
    me: u64,
    own: Arc<Stack>,
    /// An empty task stack this thread dropped, kept for the next task it loads (no allocation,
    /// and its capacity lets the fast path push at once).
    spare: Option<Arc<Stack>>,
}

/// A release posted to a stack loaded on another thread.
struct Posted {
    instance: Instance,
    serial: u64,
}

#[derive(Default)]
struct Registry {
    stacks: HashMap<u64, Arc<Stack>, Mix>,
    tasks: HashMap<TaskId, u64, Mix>,
    inbox: HashMap<u64, Vec<Posted>, Mix>,
}

/// The registry's keys are integers (stack uids, task ids: both counters): one multiply mixes
/// them enough (SipHash would be most of a switch's cost).
#[derive(Default, Clone, Copy)]
struct Mix;

impl std::hash::BuildHasher for Mix {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(0)
    }
}

struct MixHasher(u64);

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
    fn remove(&mut self, stack: &Stack) {
        self.stacks.remove(&stack.uid);
        self.inbox.remove(&stack.uid);
        if let Some(id) = stack.task {
            if self.tasks.get(&id) == Some(&stack.uid) {
                self.tasks.remove(&id);
            }
        }
    }

    /// Parks `stack` (this thread had it loaded); a task's empty stack, or an exited thread's,
    /// is dropped instead.
    fn park(&mut self, stack: &Arc<Stack>) {
        stack.owner.store(0, Relaxed);
        self.drop_if_done(stack);
    }

    fn drop_if_done(&mut self, stack: &Arc<Stack>) {
        let done = stack.task.is_some() || stack.orphan.load(Relaxed);
        if done && stack.parked(self).stack.is_empty() {
            self.remove(stack);
        }
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new();

/// A new thread's state: its own stack, loaded and registered (an async guard it holds may be
/// released from another thread).
pub(crate) fn new_thread() -> (HeldRef, Holding) {
    let own = Stack::new(None);
    own.owner.store(own.uid, Relaxed);
    REGISTRY.lock().stacks.insert(own.uid, own.clone());
    let holding = Holding {
        task: None,
        me: own.uid,
        own: own.clone(),
        spare: None,
    };
    (HeldRef(own), holding)
}

/// Is the loaded stack the calling context's, and still this thread's? (The fast path's check:
/// one thread-local read through tokio, two compares.)
#[inline(always)]
pub(crate) fn settled(s: &ThreadState) -> bool {
    settled_for(s, current_task())
}

/// [`settled`] for the calling context's task `task`.
#[inline(always)]
pub(crate) fn settled_for(s: &ThreadState, task: Task) -> bool {
    match s.holding.task {
        // The thread's own stack: only this thread ever has it loaded.
        None => task.is_none(),
        mine => task == mine && s.held.0.owner.load(Relaxed) == s.holding.me,
    }
}

/// May the fast path pop an entry of the stack `holder` here? Only if it is the stack loaded
/// here, and this thread may touch it now: its own stack (no other thread ever touches a
/// loaded own stack), or the stack of the task it is running. A thread's own stack needs no
/// task id: a release outside tasks pays no call into tokio.
#[inline(always)]
pub(crate) fn may_pop(s: &ThreadState, holder: u64) -> bool {
    s.held.0.uid == holder && (holder == s.holding.me || settled(s))
}

/// The uid of the loaded stack (the holder a new entry belongs to).
#[inline(always)]
pub(crate) fn loaded(s: &ThreadState) -> u64 {
    s.held.0.uid
}

/// The holder tag of a token made now: the uid of the stack loaded for the calling context.
pub(crate) fn current_tag() -> u64 {
    with_state_raw(|s| loaded(s)).unwrap_or(0)
}

/// What settling found, acted on once the thread state is released.
#[derive(Default)]
pub(crate) struct Settled {
    reports: Vec<(Report, u64)>,
    outcomes: Vec<Outcome>,
}

impl Settled {
    /// Delivers the reports; `fresh`: an acquisition is about to block, so a report may panic
    /// (Panic mode) before it does.
    #[track_caller]
    fn act(self, fresh: bool) {
        for o in self.outcomes {
            act(o, false);
        }
        for (report, key) in self.reports {
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                if fresh && !crate::sync::panicking() {
                    panic!("{report}");
                }
                sink::print(&report);
            }
        }
    }
}

/// Makes this thread's loaded stack the calling context's holder's, and applies the releases
/// posted to it. `fresh`: called by an acquisition before it blocks (its reports may panic).
#[track_caller]
pub(crate) fn settle_here(fresh: bool) {
    let task = current_task();
    let settled = with_state_raw(|s| {
        let needed = s.holding.task != task
            || s.held.0.owner.load(Relaxed) != s.holding.me
            || s.held.0.pending.load(Relaxed);
        needed.then(|| settle(s, task))
    })
    .flatten();
    if let Some(settled) = settled {
        settled.act(fresh);
    }
}

fn settle(s: &mut ThreadState, task: Task) -> Settled {
    let mut out = Settled::default();
    let mut reg = REGISTRY.lock();
    let me = s.holding.me;
    let owned = s.held.0.owner.load(Relaxed) == me;
    if s.holding.task != task || !owned {
        if owned {
            // Leaving a stack this thread has: its holder is suspended (or done).
            drain(&mut reg, s, &mut out);
            out.reports
                .extend(across_await(&s.held, s.holding.task, None));
            reg.park(&s.held.0);
        }
        let incoming = match task {
            None => s.holding.own.clone(),
            Some(id) => match reg.tasks.get(&id).and_then(|uid| reg.stacks.get(uid)) {
                Some(stack) => stack.clone(),
                None => {
                    let stack = fresh_stack(s.holding.spare.take(), task);
                    reg.tasks.insert(id, stack.uid);
                    reg.stacks.insert(stack.uid, stack.clone());
                    stack
                }
            },
        };
        let was = incoming.owner.swap(me, Relaxed);
        let outgoing = load(s, incoming, owned);
        s.holding.task = task;
        if owned && outgoing.0.task.is_some() && !reg.stacks.contains_key(&outgoing.0.uid) {
            // A task's empty stack, dropped from the registry: kept as the spare if no other
            // thread still has a handle on it (one that lost it to a take-over).
            let mut outgoing = outgoing.0;
            if Arc::get_mut(&mut outgoing).is_some() {
                s.holding.spare = Some(outgoing);
            }
        }
        if was != 0 && was != me {
            // Taken over from the thread the task last ran on, which left it loaded: the task
            // was suspended since.
            out.reports.extend(across_await(&s.held, task, None));
        }
    }
    drain(&mut reg, s, &mut out);
    out
}

/// Loads `stack` (this thread owns it) in place of the stack loaded here (returned); the
/// fast-path hit count follows. `owned`: this thread still owns the outgoing stack (else another
/// thread took it over and may be using it: it is not read).
fn load(s: &mut ThreadState, stack: Arc<Stack>, owned: bool) -> HeldRef {
    let incoming = HeldRef(stack);
    let before = owned.then(|| s.held.fast_pushes());
    s.chains.switch_stack(before, incoming.fast_pushes());
    std::mem::replace(&mut s.held, incoming)
}

/// A stack for a task's first lock: the spare, given a new identity (no handle on it exists
/// anywhere else, so it can be changed in place), or a new one.
fn fresh_stack(spare: Option<Arc<Stack>>, task: Task) -> Arc<Stack> {
    if let Some(mut stack) = spare {
        if let Some(st) = Arc::get_mut(&mut stack) {
            let uid = next_uid();
            st.uid = uid;
            st.task = task;
            st.held.get_mut().uid = uid;
            *st.pending.get_mut() = false;
            *st.owner.get_mut() = 0;
            return stack;
        }
    }
    Stack::new(task)
}

/// Applies the releases posted to the loaded stack.
fn drain(reg: &mut Registry, s: &mut ThreadState, out: &mut Settled) {
    if !s.held.0.pending.load(Relaxed) || !s.held.0.pending.swap(false, Relaxed) {
        return;
    }
    for p in reg.inbox.remove(&s.held.0.uid).unwrap_or_default() {
        if p.serial <= s.held.forgotten_up_to {
            continue; // `reset()` forgot it
        }
        if let Some(o) = s.release(p.instance, &|h| h.serial == p.serial, None) {
            out.outcomes.extend(o);
        }
    }
}

/// A `HeldAcrossAwait` report if `held` (of `task`) holds blocking locks; `waiting`: the async
/// lock the holder is about to wait for.
fn across_await(held: &HeldLocks, task: Task, waiting: Option<String>) -> Option<(Report, u64)> {
    let blocking: Vec<_> = held
        .stack
        .iter()
        .filter(|h| !h.sendable && h.class.blocks())
        .collect();
    if blocking.is_empty() || crate::mode::mode() == crate::mode::Mode::Off {
        return None;
    }
    Some(build::held_across_await(
        held,
        &blocking,
        label(task),
        task.map(|_| task_label(task)),
        waiting,
    ))
}

/// An async acquisition of the calling holder is about to wait for `name` (its future returned
/// `Pending`): a blocking lock it holds stays held while it is suspended.
#[track_caller]
pub(crate) fn suspending(name: String) {
    settle_here(true);
    let found = with_state_raw(|s| across_await(&s.held, s.holding.task, Some(name))).flatten();
    if let Some(r) = found {
        Settled {
            reports: vec![r],
            outcomes: Vec::new(),
        }
        .act(true);
    }
}

/// What became of a release meant for another holder's stack.
pub(crate) enum Elsewhere {
    /// Done on that stack here: the outcomes, or `None` if it holds no such entry.
    Done(Option<Vec<Outcome>>),
    /// Posted to the thread that has the stack loaded.
    Posted,
    /// No such stack any more (its entries were forgotten).
    Gone,
}

/// Runs `release` on the stack `uid`, which is not the one loaded here (a guard dropped by
/// another holder than its own): here, under the registry's lock, if it is parked; otherwise
/// posted to the thread that has it loaded.
pub(crate) fn release_elsewhere(
    s: &mut ThreadState,
    uid: u64,
    instance: Instance,
    serial: u64,
    release: impl FnOnce(&mut ThreadState) -> Option<Vec<Outcome>>,
) -> Elsewhere {
    let mut reg = REGISTRY.lock();
    let Some(stack) = reg.stacks.get(&uid).cloned() else {
        return Elsewhere::Gone;
    };
    if stack.owner.load(Relaxed) != 0 {
        reg.inbox
            .entry(uid)
            .or_default()
            .push(Posted { instance, serial });
        stack.pending.store(true, Relaxed);
        return Elsewhere::Posted;
    }
    if serial <= stack.parked(&mut reg).forgotten_up_to {
        return Elsewhere::Done(Some(Vec::new()));
    }
    // Parked: release it here, with the stack standing in for this thread's for the call.
    let mine = load(s, stack, true);
    let result = release(s);
    let HeldRef(stack) = load(s, mine.0, true);
    reg.drop_if_done(&stack);
    Elsewhere::Done(result)
}

/// The thread is exiting: a task's stack it has loaded is parked for the task's next poll,
/// and its own stack is loaded again, with the releases posted to it applied (their
/// re-validations, if any, are not reported: the thread is going away).
pub(crate) fn thread_exit(s: &mut ThreadState) {
    let mut reg = REGISTRY.lock();
    let me = s.holding.me;
    if s.holding.task.is_some() || s.held.0.uid != me {
        let owned = s.held.0.owner.load(Relaxed) == me;
        if owned {
            reg.park(&s.held.0);
        }
        s.holding.own.owner.store(me, Relaxed);
        let own = s.holding.own.clone();
        load(s, own, owned);
        s.holding.task = None;
    }
    let mut out = Settled::default();
    drain(&mut reg, s, &mut out);
}

/// After the exit's leak check: the thread's own stack is kept (parked, as an orphan) while it
/// holds async guards that may still be released elsewhere, and forgotten otherwise.
pub(crate) fn thread_exited(s: &mut ThreadState) {
    let mut reg = REGISTRY.lock();
    let own = s.holding.own.clone();
    let keep = s.held.stack.iter().any(|h| h.sendable);
    if keep {
        // Leaked blocking locks were reported: only the async guards are waited for.
        s.held.forget_where(|h| !h.sendable);
    }
    own.orphan.store(true, Relaxed);
    own.owner.store(0, Relaxed);
    if !keep {
        reg.remove(&own);
    }
}

/// The task calling this is ending (`lockdep::tokio::spawn`'s wrapper is being dropped, with
/// the task's future): blocking locks it still holds were leaked (reported like a thread's
/// `LocksHeldAtExit`, then forgotten, so they never look held by a suspended task); its async
/// guards may be alive elsewhere and stay on its stack until they are dropped.
pub(crate) fn task_ended() {
    settle_here(false);
    let found = with_state_raw(|s| {
        let leaked = s.held.stack.iter().any(|h| !h.sendable && !h.class.event);
        if !leaked || crate::mode::mode() == crate::mode::Mode::Off {
            return None;
        }
        let report = build::held_at_exit(&s.held);
        s.held.forget_where(|h| !h.sendable && !h.class.event);
        Some(report)
    })
    .flatten();
    if let Some(r) = found {
        Settled {
            reports: vec![r],
            outcomes: Vec::new(),
        }
        .act(false);
    }
    if let Some(id) = current_task() {
        SITES.lock().remove(&id);
    }
}

/// Where tasks spawned by `lockdep::tokio::spawn` were spawned.
static SITES: Mutex<HashMap<TaskId, &'static Location<'static>, Mix>> = Mutex::new();

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

/// How reports name `task`'s holder: `task 12 (spawned at ..) on <thread>`, or the thread.
pub(crate) fn label(task: Task) -> String {
    let thread = crate::report::os_thread_label();
    match task {
        Some(_) => format!("{} on {thread}", task_label(task)),
        None => thread,
    }
}
