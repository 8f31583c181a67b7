//! Switching holders (`cfg(lockdep_tasks)`; the data and the design are in `src/holder.rs`):
//! making the stack loaded on a thread the calling context's, applying the releases posted to
//! it, releasing an entry of another holder's stack, reporting blocking locks held across an
//! `.await`, and a task's end.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::{act, Outcome};
use crate::held_locks::{HeldLocks, Instance};
use crate::holder::{current_task, task_label, Posted, Registry, Stack, Task, REGISTRY};
use crate::report::sink::{self, Delivery};
use crate::report::{build, Report};
use crate::thread_state::{with_state as with_state_raw, ThreadState};

/// How reports name `task`'s holder: `task 12 (spawned at ..) on <thread>`, or the thread.
fn label(task: Task) -> String {
    let thread = crate::report::os_thread_label();
    match task {
        Some(_) => format!("{} on {thread}", task_label(task)),
        None => thread,
    }
}

/// This thread as a holder: its own stack's uid (0 once its state is gone).
pub(crate) fn own_uid() -> u64 {
    with_state_raw(|s| s.holding.me).unwrap_or(0)
}

/// The holder tag of a token made now: the uid of the stack loaded for the calling context.
pub(crate) fn current_tag() -> u64 {
    with_state_raw(|s| crate::holder::loaded(&s.held)).unwrap_or(0)
}

/// How the entry of serial `serial` (of `instance`) on the stack `tag` is held: its subclass
/// and nest lock's instance, if that stack can be read here — the thread's own (inline), or a
/// parked task stack. (A blocking guard never leaves its thread: its entry is on one of these
/// when another holder of the thread has the guard.)
pub(crate) fn peek_entry(
    tag: u64,
    instance: Instance,
    serial: u64,
) -> Option<(u8, Option<Instance>)> {
    let how = |held: &HeldLocks| {
        let h = held
            .stack
            .iter()
            .find(|h| h.serial() == serial && h.holds(instance))?;
        Some((h.class.subclass, h.nest().map(|n| n.get())))
    };
    with_state_raw(|s| {
        if tag == s.holding.me {
            return how(s.held.own());
        }
        let mut reg = REGISTRY.lock();
        let stack = reg.stacks.get(&tag).cloned()?;
        if stack.owner.load(Relaxed) != 0 {
            return None; // loaded on another thread
        }
        how(stack.parked(&mut reg))
    })
    .flatten()
}

/// Is `tag` the calling context's holder (settled first)? A blocking guard is released by
/// the thread that took it, but not always by the same holder: a local task may have it.
pub(crate) fn is_calling_holder(tag: u64) -> bool {
    settle_here(false);
    with_state_raw(|s| crate::holder::loaded(&s.held) == tag).unwrap_or(false)
}

/// How the calling holder holds a lock an acquisition would wait for ([`holds_conflicting`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Conflict {
    /// Not in a conflicting mode (or not at all).
    None,
    /// Through an entry whose guard cannot have left the holder (a borrowed guard): a re-lock,
    /// unless another branch of the task has it.
    Held,
    /// Only through entries of owned guards ([`HeldLock::movable`]), which may be with another
    /// task or thread by now, to be released there.
    Movable,
}

/// Does the calling context's holder (settled first: the running task's stack) hold
/// `instance` in a mode that an acquisition in mode `read` conflicts with (either side
/// exclusive), and through what kind of guard?
///
/// [`HeldLock::movable`]: crate::held_locks::HeldLock::movable
pub(crate) fn holds_conflicting(instance: Instance, read: crate::held_locks::Read) -> Conflict {
    use crate::held_locks::Read;
    settle_here(false);
    with_state_raw(|s| {
        let mut found = Conflict::None;
        for h in s.held.stack.iter() {
            if h.holds(instance) && (h.read() == Read::Exclusive || read == Read::Exclusive) {
                if !h.movable() {
                    return Conflict::Held;
                }
                found = Conflict::Movable;
            }
        }
        found
    })
    .unwrap_or(Conflict::None)
}

/// The entry of serial `serial` (of `instance`) on the stack `tag` is an owned guard's (see
/// [`HeldLock::movable`]): marked so. Called as the guard is made, by the holder that took it
/// (its stack is the one loaded here, once settled).
///
/// [`HeldLock::movable`]: crate::held_locks::HeldLock::movable
pub(crate) fn mark_movable(instance: Instance, serial: u64, tag: u64) {
    settle_here(false);
    with_state_raw(|s| {
        if crate::holder::loaded(&s.held) != tag {
            return;
        }
        if let Some(h) = s
            .held
            .stack
            .iter_mut()
            .rfind(|h| h.serial() == serial && h.holds(instance))
        {
            h.set_movable(true);
        }
    });
}

/// The entry through which the thread `s` belongs to holds `instance` outside tasks, in a
/// mode that an acquisition in mode `read` waits for, if a task's stack is loaded (the thread
/// polls a task while its own code is suspended: a `block_on` future, the code around a
/// `LocalSet`). Only a blocking guard's entry (not `Send`): its guard is on this thread —
/// with the thread's own code or with a local task of it — and only code this thread runs can
/// release it, so a blocking acquisition of the lock here waits for ever. An entry whose
/// release is already posted to the thread's stack (a local task dropped the guard, or let
/// the lock go in `unlocked`: applied when the thread's code resumes) is not held.
pub(crate) fn held_by_running_thread(
    s: &ThreadState,
    instance: Instance,
    class: &'static crate::class::ClassInfo,
    read: crate::held_locks::Read,
) -> Option<crate::held_locks::HeldLock> {
    use crate::held_locks::Read;
    if s.held.own_loaded() || !class.blocks() {
        return None;
    }
    s.held
        .own()
        .stack
        .iter()
        .find(|h| {
            h.holds(instance)
                && !h.sendable()
                && (h.read() == Read::Exclusive || read == Read::Exclusive)
                && !posted_to_own(s, instance, h.serial())
        })
        .cloned()
}

/// Is the release of the entry `serial` of `instance` on the thread's own stack posted to it
/// (applied when the thread's code resumes)?
fn posted_to_own(s: &ThreadState, instance: Instance, serial: u64) -> bool {
    let own = &s.holding.own;
    own.pending.load(Relaxed)
        && REGISTRY
            .lock()
            .inbox
            .get(&own.uid)
            .is_some_and(|posted| posted.iter().any(|p| p.releases(instance, serial)))
}

/// Where a lock released by instance from a task (`force_unlock`, a raw lock's `unlock`, a
/// `LockMap`'s `release`) may be held when the task's stack has no entry of it: on the
/// thread's own stack, pushed before the thread was marked as one that may poll tasks
/// (`HeldRef::tasks_possible`), when a task it polled took it by the fast path, which asked
/// no one who runs (its holder is not known: it is taken for the task's). The index of such
/// a blocking entry of `instance` matching `pred`, whose release is not posted already.
fn unmarked_entry(
    s: &ThreadState,
    instance: Instance,
    pred: &dyn Fn(&crate::held_locks::HeldLock) -> bool,
) -> Option<usize> {
    if s.held.own_loaded() {
        return None;
    }
    s.held.own().find(instance, |h| {
        s.held.unmarked(h.serial())
            && !h.sendable()
            && pred(h)
            && !posted_to_own(s, instance, h.serial())
    })
}

/// Does the calling task hold `instance` through an entry of the thread's own stack pushed
/// before the thread was marked (see [`unmarked_entry`])?
pub(crate) fn held_unmarked(s: &ThreadState, instance: Instance) -> bool {
    unmarked_entry(s, instance, &|_| true).is_some()
}

/// A release by instance from a task that found nothing on its stack: the entry of
/// `instance` matching `pred` on the thread's own stack that [`unmarked_entry`] finds,
/// released there (the own stack loaded for the call, as a parked stack in
/// [`elsewhere`]). `None`: there is none.
pub(crate) fn release_unmarked(
    s: &mut ThreadState,
    instance: Instance,
    pred: &dyn Fn(&crate::held_locks::HeldLock) -> bool,
) -> Option<Vec<Outcome>> {
    let serial = s.held.own().stack[unmarked_entry(s, instance, pred)?].serial();
    let me = s.holding.me;
    on_stack_of(s, me, |s| {
        s.release(instance, &|h| h.serial() == serial, None)
    })
}

/// A release by instance (a raw lock's unlock: its `lock_api` guard dropped; a
/// `force_unlock`) that found no entry on the calling holder's stack: the blocking entry of
/// `instance` matching `pred` on the stack of a local task that ended on this thread
/// (`Stack::ended_on`), released there. Its guard was with a holder of this thread (the task's
/// output, or handed on), which releases it. `None`: there is none.
pub(crate) fn release_ended(
    s: &mut ThreadState,
    instance: Instance,
    pred: &dyn Fn(&crate::held_locks::HeldLock) -> bool,
    any_entry: Option<crate::held_locks::Read>,
) -> Option<Vec<Outcome>> {
    if s.holding.suspended.is_empty() {
        return None;
    }
    let me = s.holding.me;
    let blocking = |h: &crate::held_locks::HeldLock| !h.sendable() && pred(h);
    let mut reg = REGISTRY.lock();
    let stack = s
        .holding
        .suspended
        .iter()
        .find(|st| {
            st.ended_on.load(Relaxed) == me
                && st.owner.load(Relaxed) == 0
                && reg.stacks.contains_key(&st.uid)
                && st.parked(&mut reg).find(instance, blocking).is_some()
        })?
        .clone();
    // Parked: released here, with the stack standing in for this thread's (as `elsewhere`).
    let mine = load(s, stack, true);
    let result = under_registry(s, &mut reg, |s| s.release(instance, &blocking, any_entry));
    let stack = load(s, mine, true);
    reg.drop_if_done(&stack);
    unlist_if_done(s, &mut reg, &stack);
    result
}

/// Runs `f` with the stack `tag` (a guard's holder tag) loaded, if it is the thread's own and
/// a task's stack is loaded here (a blocking guard taken by the thread's code, or by a task
/// the fast path of an unmarked thread put on the thread's stack: see
/// `HeldRef::tasks_possible`), then loads the task's again; else `f` runs on the loaded stack.
/// (The own stack is this thread's alone, so it can be changed here at once.)
pub(crate) fn on_stack_of<R>(
    s: &mut ThreadState,
    tag: u64,
    f: impl FnOnce(&mut ThreadState) -> R,
) -> R {
    if tag != s.holding.me || s.held.own_loaded() {
        return f(s);
    }
    let own = s.holding.own.clone();
    let task = load(s, own, true);
    let result = f(s);
    load(s, task, true);
    result
}

/// The entry through which a task suspended on this thread holds `instance` in a mode that an
/// acquisition in mode `read` waits for: a blocking guard's entry of a stack this thread
/// parked ([`Holding::suspended`]), still parked. Its guard is not `Send`, so it is on this
/// thread, and only this thread can run the task on to release it: a blocking acquisition of
/// the lock here waits for ever. Returns the entry, the task's label, and whether the task
/// ended (`Stack::ended`: its output, which only this thread can drop, holds the guard; it is
/// not suspended). Forgets the stacks that hold no blocking lock any more or were loaded
/// since (an ended task's stack of this thread is kept while another thread has it loaded:
/// its guards are still here), and opens the thread's fast path again when none is left.
///
/// [`Holding::suspended`]: crate::holder::Holding::suspended
pub(crate) fn held_by_parked_task(
    s: &mut ThreadState,
    instance: Instance,
    class: &'static crate::class::ClassInfo,
    read: crate::held_locks::Read,
) -> Option<(crate::held_locks::HeldLock, String, bool)> {
    use crate::held_locks::Read;
    if s.holding.suspended.is_empty() {
        return None;
    }
    let mut reg = REGISTRY.lock();
    let mut found = None;
    let me = s.holding.me;
    s.holding.suspended.retain(|stack| {
        let kept = reg.stacks.contains_key(&stack.uid);
        if stack.owner.load(Relaxed) != 0 {
            // Loaded since: its holder runs again. But a task that ended here with blocking
            // locks held (their guards are with holders of this thread) stays this thread's
            // to check, even while a thread drops its output under its id (`task_ended`).
            return kept && stack.ended_on.load(Relaxed) == me;
        }
        if !kept {
            return false;
        }
        if stack.ended_on.load(Relaxed) != 0 {
            // No holder visits an ended task's stack to forget the locks freed meanwhile.
            super::freed::forget_dead(stack.parked(&mut reg));
            reg.drop_if_done(stack);
            if !reg.stacks.contains_key(&stack.uid) {
                return false;
            }
        }
        let posted: Vec<(Instance, u64)> = reg
            .inbox
            .get(&stack.uid)
            .map(|v| {
                v.iter()
                    .filter(|p| p.change.is_none())
                    .map(|p| (p.instance, p.serial))
                    .collect()
            })
            .unwrap_or_default();
        let released = |h: &crate::held_locks::HeldLock| {
            posted
                .iter()
                .any(|&(instance, serial)| serial == h.serial() && h.holds(instance))
        };
        let held: Vec<_> = stack
            .parked(&mut reg)
            .stack
            .iter()
            .filter(|h| !h.sendable() && h.class.blocks() && !released(h))
            .cloned()
            .collect();
        if found.is_none() && class.blocks() {
            found = held
                .iter()
                .find(|h| {
                    h.holds(instance) && (h.read() == Read::Exclusive || read == Read::Exclusive)
                })
                .map(|h| (h.clone(), stack.task, stack.ended_on.load(Relaxed) != 0));
        }
        !held.is_empty()
    });
    drop(reg);
    if s.holding.suspended.is_empty() {
        s.chains.reopen();
    }
    found.map(|(entry, task, ended)| (entry, task_label(task), ended))
}

/// Does the stack of a local task that ended on this thread (`Stack::ended_on`) hold
/// `instance` through a blocking guard's entry? Its guard is then with a holder of this
/// thread: in the task's output, or handed to another local task (a guard in hand whose
/// entry is there is held: `assert_held`).
pub(crate) fn held_by_ended_task(instance: Instance) -> bool {
    with_state_raw(|s| held_by_ended_task_of(s, instance)).unwrap_or(false)
}

/// [`held_by_ended_task`] for the thread of `s` (its state borrowed by the caller: a nest
/// lock's check, `ThreadState::holds_nest`).
pub(crate) fn held_by_ended_task_of(s: &ThreadState, instance: Instance) -> bool {
    let me = s.holding.me;
    if s.holding.suspended.is_empty() {
        return false;
    }
    // Under the registry's lock already (`under_registry`): its snapshot answers.
    if let Some(held) = ENDED_HELD.with(|e| e.borrow().as_ref().map(|v| v.contains(&instance))) {
        return held;
    }
    let mut reg = REGISTRY.lock();
    s.holding.suspended.iter().any(|st| {
        st.ended_on.load(Relaxed) == me
            && st.owner.load(Relaxed) == 0
            && reg.stacks.contains_key(&st.uid)
            && st
                .parked(&mut reg)
                .stack
                .iter()
                .any(|h| h.holds(instance) && !h.sendable())
    })
}

std::thread_local! {
    /// While this thread runs a release or a change on a parked stack under the registry's
    /// lock (`under_registry`): the instances the other stacks of local tasks that ended on
    /// it hold through blocking entries, for [`held_by_ended_task_of`] (a nest lock's check
    /// of an entry put back and validated again), which cannot take that lock again.
    static ENDED_HELD: std::cell::RefCell<Option<Vec<Instance>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a release or a change on the stack loaded for the call, a parked one, while the
/// caller holds the registry's lock `reg`) with [`ENDED_HELD`] set: the entries it puts back
/// may be validated again under their nest lock, whose check looks at the stacks of local
/// tasks that ended on this thread (it took the registry's lock again: a hang).
fn under_registry<R>(
    s: &mut ThreadState,
    reg: &mut Registry,
    f: impl FnOnce(&mut ThreadState) -> R,
) -> R {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            ENDED_HELD.with(|e| e.borrow_mut().take());
        }
    }
    let me = s.holding.me;
    let loaded = s.held.rec.uid;
    let mut held = Vec::new();
    for st in s.holding.suspended.iter() {
        if st.uid == loaded
            || st.ended_on.load(Relaxed) != me
            || st.owner.load(Relaxed) != 0
            || !reg.stacks.contains_key(&st.uid)
        {
            continue;
        }
        for h in st.parked(reg).stack.iter().filter(|h| !h.sendable()) {
            held.push(h.instance);
            held.extend(h.merged_instances().iter().copied());
        }
    }
    ENDED_HELD.with(|e| *e.borrow_mut() = Some(held));
    let _unset = Unset;
    f(s)
}

/// Adds `stack` (a task's, holding blocking locks whose guards are on this thread) to the
/// stacks this thread checks its blocking acquisitions against (once), closing its fast path.
fn note_suspended(s: &mut ThreadState, stack: Arc<Stack>) {
    if !s.holding.suspended.iter().any(|st| Arc::ptr_eq(st, &stack)) {
        s.holding.suspended.push(stack);
    }
    s.chains.close();
}

/// Delivers `found`, if any (`fresh`: see [`Settled::act`]).
#[track_caller]
fn deliver_found(found: Option<(Report, u64)>, fresh: bool) {
    Settled {
        reports: found.into_iter().collect(),
        outcomes: Vec::new(),
    }
    .act(fresh);
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
            if fresh {
                // Panics where the thread can (not in its thread-local destructors).
                super::deliver_or_panic(report, key);
            } else if super::deliver(report.clone(), key) == Delivery::MustPanic {
                sink::print(&report, key);
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
        // A thread seen inside a task or a runtime's context may poll tasks: from now on its
        // blocking acquisitions' fast path asks tokio for the running task too (until then
        // it asks nothing: `HeldRef::tasks_possible`).
        let first = !s.held.tasks_possible()
            && (task.is_some() || crate::holder::in_runtime_context())
            && s.held.note_tasks_possible();
        let needed = s.holding.task != task
            || s.held.rec.owner.load(Relaxed) != s.holding.me
            || s.held.rec.pending.load(Relaxed);
        needed.then(|| settle(s, task, first))
    })
    .flatten();
    if let Some(settled) = settled {
        settled.act(fresh);
    }
}

/// `first`: the thread was just seen, for the first time, where it may be polling tasks (see
/// `settle_here`).
fn settle(s: &mut ThreadState, task: Task, first: bool) -> Settled {
    let mut out = Settled::default();
    let mut reg = REGISTRY.lock();
    let me = s.holding.me;
    let owned = s.held.rec.owner.load(Relaxed) == me;
    if s.holding.task != task || !owned {
        if owned {
            // Leaving a stack this thread has: its holder is suspended (or done).
            drain(&mut reg, s, &mut out);
            // The first time, the thread's own stack may hold blocking locks that tasks polled
            // here took by the fast path, which asked no one who runs (see `settle_here`):
            // its holder is not known, so it is not reported as suspended. (The thread's own
            // locks among them are, the next time its stack is left holding them.)
            let across = if first && s.held.own_loaded() {
                None
            } else {
                across_await(&s.held, s.holding.task, None)
            };
            // A task that ended with blocking locks whose guards outlived it (see
            // `task_ended`) is not suspended: not reported, but its locks are still on the
            // thread it ended on, checked there as a suspended task's (another thread running
            // code under its id gets a stack of its own: see below; the guards are not there).
            let ended_on = s.held.rec.ended_on.load(Relaxed);
            let ended = ended_on != 0;
            if !s.held.own_loaded() {
                if across.is_some() && (!ended || ended_on == me) {
                    // A task suspended holding blocking locks: this thread's to run on.
                    note_suspended(s, s.held.rec.clone());
                }
                // The thread's own stack stays inline, owned by the thread: never parked
                // (other threads post their releases to it).
                reg.park(&s.held.rec);
            }
            if !ended {
                out.reports.extend(across);
            }
        }
        let incoming = match task {
            None => s.holding.own.clone(),
            Some(id) => match reg.tasks.get(&id).and_then(|uid| reg.stacks.get(uid)) {
                // Not the stack of a local task that ended on another thread with blocking
                // locks held (`task_ended`): this thread runs code under its id only to drop
                // its output (tokio sets the id then), which gets a stack of its own. The
                // ended one stays where the thread whose holders have its guards can check
                // it (loaded here, it could not: a re-lock there would hang); the output's
                // guards name it, released there or posted to it.
                Some(stack) if !ended_elsewhere(stack, me) => stack.clone(),
                _ => {
                    let stack = fresh_stack(s.holding.spare.take(), task);
                    reg.tasks.insert(id, stack.uid);
                    reg.stacks.insert(stack.uid, stack.clone());
                    stack
                }
            },
        };
        if !s.holding.suspended.is_empty() {
            // Its holder runs again: not suspended (put back if it is left holding blocking
            // locks). The last one gone, the fast path opens again.
            s.holding.suspended.retain(|st| st.uid != incoming.uid);
            if s.holding.suspended.is_empty() {
                s.chains.reopen();
            }
        }
        let was = incoming.owner.swap(me, Relaxed);
        let outgoing = load(s, incoming, owned);
        s.holding.task = task;
        if owned && outgoing.task.is_some() && !reg.stacks.contains_key(&outgoing.uid) {
            // A task's empty stack, dropped from the registry: kept as the spare if no other
            // thread still has a handle on it (one that lost it to a take-over).
            let mut outgoing = outgoing;
            if Arc::get_mut(&mut outgoing).is_some() {
                s.holding.spare = Some(outgoing);
            }
        }
        if was != 0 && was != me && s.held.rec.ended_on.load(Relaxed) == 0 {
            // Taken over from the thread the task last ran on, which left it loaded: the task
            // was suspended since (unless it ended: its output is dropped here).
            out.reports.extend(across_await(&s.held, task, None));
        }
    }
    drain(&mut reg, s, &mut out);
    out
}

/// Is `stack` the stack of a local task that ended on another thread than `me` with blocking
/// locks held ([`task_ended`])?
fn ended_elsewhere(stack: &Stack, me: u64) -> bool {
    let on = stack.ended_on.load(Relaxed);
    on != 0 && on != me
}

/// Loads `stack` (this thread owns it) in place of the stack loaded here (whose record is
/// returned); the fast-path hit count follows. `owned`: this thread still owns the outgoing
/// stack (else another thread took it over and may be using it: it is not read).
fn load(s: &mut ThreadState, stack: Arc<Stack>, owned: bool) -> Arc<Stack> {
    let before = owned.then(|| s.held.fast_pushes());
    let outgoing = s.held.swap_loaded(stack, s.holding.me);
    s.chains.switch_stack(before, s.held.fast_pushes());
    outgoing
}

/// A stack for a task's first lock: the spare, given a new identity (no handle on it exists
/// anywhere else, so it can be changed in place), or a new one.
fn fresh_stack(spare: Option<Arc<Stack>>, task: Task) -> Arc<Stack> {
    let mut stack = spare
        .filter(|s| Arc::strong_count(s) == 1 && Arc::weak_count(s) == 0)
        .unwrap_or_else(|| Stack::new(task));
    let st = Arc::get_mut(&mut stack).expect("a spare or a new stack: no other handle");
    let uid = crate::held_locks::next_uid();
    st.uid = uid;
    st.task = task;
    *st.pending.get_mut() = false;
    *st.owner.get_mut() = 0;
    *st.ended_on.get_mut() = 0;
    let held = st.held.get_mut();
    held.uid = uid;
    // A new holder held nothing across any `reset()`: nothing to replay later (the fast path
    // no longer records the epoch on an empty stack).
    held.graph_epoch = crate::dependency_graph::current_epoch();
    stack
}

/// Applies the releases and changes posted to the loaded stack, in the order they were posted.
fn drain(reg: &mut Registry, s: &mut ThreadState, out: &mut Settled) {
    if !s.held.rec.pending.load(Relaxed) || !s.held.rec.pending.swap(false, Relaxed) {
        return;
    }
    for p in reg.inbox.remove(&s.held.rec.uid).unwrap_or_default() {
        if p.serial <= s.held.forgotten_up_to {
            continue; // `reset()` forgot it
        }
        match p.change {
            None => {
                if let Some(o) = s.release(p.instance, &|h| h.serial() == p.serial, None) {
                    out.outcomes.extend(o);
                }
            }
            // (The guard kept the serial: a changed entry keeps it unless merged with other
            // guards' under a nest lock, which no `Send` guard's entry is.)
            Some((read, upgradable)) => {
                super::change_read_here(s, p.instance, p.serial, read, upgradable);
            }
        }
    }
}

/// A `HeldAcrossAwait` report if `held` (of `task`) holds blocking locks; `waiting`: the async
/// lock the holder is about to wait for.
fn across_await(held: &HeldLocks, task: Task, waiting: Option<String>) -> Option<(Report, u64)> {
    let blocking: Vec<_> = held
        .stack
        .iter()
        .filter(|h| !h.sendable() && h.class.blocks())
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
    deliver_found(found, true);
}

/// The calling holder's whole future returned `Pending` (a `capture_async` future polled by
/// `block_on`, a task spawned with `lockdep::tokio::spawn` or `spawn_local`): it is suspended
/// now, and a blocking lock it holds stays held meanwhile (`HeldAcrossAwait`). Without this a
/// holder that suspends is found only when its thread's next lockdep call is another holder's
/// (a switch of stacks), which may never come: a `block_on` body on a multi-thread runtime,
/// a `LocalSet`'s one task waiting on a timer. Looks only at the stack loaded here, if it is
/// the calling holder's (one that is not loaded was reported as it was parked, if it held
/// such a lock), with the releases posted to it applied first; a reported problem is not
/// reported again when the stack is parked later.
#[track_caller]
pub(crate) fn suspended() {
    let task = current_task();
    let loaded = with_state_raw(|s| {
        s.holding.task == task && s.held.rec.owner.load(Relaxed) == s.holding.me
    });
    if loaded != Some(true) {
        return;
    }
    settle_here(false); // (the holder's stack is loaded: only applies what was posted to it)
    let found = with_state_raw(|s| across_await(&s.held, task, None)).flatten();
    deliver_found(found, true);
}

/// What became of a release or a change meant for another holder's stack.
pub(crate) enum Elsewhere<R> {
    /// Done on that stack here, with this result.
    Done(R),
    /// Posted to the thread that has the stack loaded.
    Posted,
    /// No such stack any more, or `reset()` forgot the entry.
    Gone,
}

/// Runs `apply` (the release or change `posted`) on the stack `uid`, which is not the one
/// loaded here (a guard dropped or downgraded by another holder than its own): here, under
/// the registry's lock, if it is parked; otherwise `posted` goes to the thread that has it
/// loaded.
pub(crate) fn elsewhere<R>(
    s: &mut ThreadState,
    uid: u64,
    posted: Posted,
    apply: impl FnOnce(&mut ThreadState) -> R,
) -> Elsewhere<R> {
    let mut reg = REGISTRY.lock();
    let Some(stack) = reg.stacks.get(&uid).cloned() else {
        return Elsewhere::Gone;
    };
    if stack.owner.load(Relaxed) != 0 {
        reg.post(&stack, posted);
        return Elsewhere::Posted;
    }
    if posted.serial <= stack.parked(&mut reg).forgotten_up_to {
        return Elsewhere::Gone;
    }
    // Parked: done here, with the stack standing in for this thread's for the call.
    let mine = load(s, stack, true);
    let result = under_registry(s, &mut reg, apply);
    let stack = load(s, mine, true);
    reg.drop_if_done(&stack);
    unlist_if_done(s, &mut reg, &stack);
    Elsewhere::Done(result)
}

/// Takes `stack` (parked, or dropped from the registry) off this thread's list of stacks to
/// check ([`Holding::suspended`]) if it holds no blocking lock any more, and opens the fast
/// path again when none is left. (A release here is the only news for the stack of a local
/// task that ended with blocking locks held: it is never loaded again, and only a fresh
/// blocking acquisition's check, `held_by_parked_task`, looks at the list otherwise. A thread
/// whose later acquisitions are all async kept its fast path closed for good.)
///
/// [`Holding::suspended`]: crate::holder::Holding::suspended
fn unlist_if_done(s: &mut ThreadState, reg: &mut Registry, stack: &Arc<Stack>) {
    if !s.holding.suspended.iter().any(|st| Arc::ptr_eq(st, stack)) {
        return;
    }
    let holds = reg.stacks.contains_key(&stack.uid)
        && stack
            .parked(reg)
            .stack
            .iter()
            .any(|h| !h.sendable() && h.class.blocks());
    if holds {
        return;
    }
    s.holding.suspended.retain(|st| !Arc::ptr_eq(st, stack));
    if s.holding.suspended.is_empty() {
        s.chains.reopen();
    }
}

/// A guard's release (the entry `serial` of `instance` on the stack `uid`) on a thread that has
/// no lockdep state to run it with: gone (a thread-local destructor run after lockdep's own, at
/// the thread's exit) or busy. Nothing here can validate, but the entry's stack needs no state
/// of this thread: under the registry's lock the release is posted to it if a thread has it
/// loaded (applied there at its next call on it, or when it parks it; this thread has none
/// loaded any more), or, if it is parked, done in place — the entries above put back as they
/// were (they were validated when taken; there is no state here to validate them again with).
pub(crate) fn release_stateless(uid: u64, instance: Instance, serial: u64) {
    let mut reg = REGISTRY.lock();
    let Some(stack) = reg.stacks.get(&uid).cloned() else {
        return; // no such stack any more: its entries were forgotten
    };
    if stack.owner.load(Relaxed) != 0 {
        reg.post(&stack, Posted::release(instance, serial));
        return;
    }
    crate::holder::release_unvalidated(stack.parked(&mut reg), instance, serial);
    reg.drop_if_done(&stack);
}

/// The task calling this is ending (`lockdep::tokio::spawn`'s wrapper is being dropped, with
/// the task's future): blocking locks it still holds were leaked (reported like a thread's
/// `LocksHeldAtExit`, then forgotten, so they never look held by a suspended task); its async
/// guards may be alive elsewhere and stay on its stack until they are dropped.
///
/// `local`: a local task's (`lockdep::tokio::spawn_local`), whose blocking guards may have
/// left it, to its output or to another holder of the thread (they are not `Send`: never to
/// another thread). Its blocking locks are then not taken for leaked: they stay on its stack,
/// released where their guards are dropped, and its stack is marked as ended, not suspended
/// (`Stack::ended`; a blocking acquisition of such a lock on the thread is still stopped as a
/// certain self-deadlock while it is held). Those still held when the thread exits were
/// leaked ([`leaked_by_ended_tasks`]). Its pseudo-locks (`LockMap`: no guard, released by
/// instance by their holder only) cannot have left it: leaked now, as any task's.
pub(crate) fn task_ended(local: bool) {
    settle_here(false);
    let mut ended = false;
    let found = with_state_raw(|s| {
        let leaked = |h: &crate::held_locks::HeldLock| !h.sendable() && !h.class.event;
        if !s.held.stack.iter().any(leaked) || crate::mode::mode() == crate::mode::Mode::Off {
            return None;
        }
        if local
            && !s.held.own_loaded()
            && s.held.stack.iter().any(|h| leaked(h) && h.class.blocks())
        {
            s.held.rec.ended_on.store(s.holding.me, Relaxed);
            // Checked from now on, whoever loads the stack next: another thread may take it
            // over first (to drop the task's output under its id), and never park it here.
            note_suspended(s, s.held.rec.clone());
            ended = true;
        }
        // A pseudo-lock (no guard: released by instance by its holder only) cannot have left
        // the task, local or not: leaked.
        let gone = |h: &crate::held_locks::HeldLock| leaked(h) && !(ended && h.class.blocks());
        if !s.held.stack.iter().any(gone) {
            return None;
        }
        // Naming only what leaked: an async guard (`Send`) may be alive elsewhere, in the
        // task's output, and its blocking locks that outlive it (`ended`) are held rightly.
        let report = build::held_at_exit_where(&s.held, &gone);
        // Reported here: not again by the thread that frees such a lock later.
        super::freed::note_left_where(&s.held, &gone);
        s.held.forget_where(gone);
        Some(report)
    })
    .flatten();
    deliver_found(found, false);
    // An ended stack's reports name the task with its site: forgotten with the stack
    // (`Registry::remove`).
    if let Some(id) = current_task().filter(|_| !ended) {
        crate::holder::forget_site(id);
    }
}

impl ThreadState {
    /// The thread is exiting (after `holder::thread_exit`): the blocking locks still held by
    /// the stacks of local tasks that ended on it (`Stack::ended_on`) were leaked — no holder
    /// of the thread dropped their guards, and no other thread can. A `LocksHeldAtExit` for
    /// each such task, naming it; its blocking entries are then forgotten (noted as left at
    /// exit, as a thread's own), and the stack dropped if nothing else is left on it. (A
    /// method, as `note_left_at_exit`: the state's destructor calls it, and `thread_state`
    /// names no upper layer.)
    pub(crate) fn leaked_by_ended_tasks(&mut self) -> Vec<(Report, u64)> {
        let holding = &mut self.holding;
        let stacks = std::mem::take(&mut holding.suspended);
        let mut reports = Vec::new();
        if stacks.is_empty() {
            return reports;
        }
        let mut reg = REGISTRY.lock();
        for stack in stacks {
            let parked = stack.owner.load(Relaxed) == 0 && reg.stacks.contains_key(&stack.uid);
            if !parked || stack.ended_on.load(Relaxed) != holding.me {
                continue;
            }
            // Those freed meanwhile were reported where they were freed: not left held.
            super::freed::forget_dead(stack.parked(&mut reg));
            let held = stack.parked(&mut reg);
            let leaked = |h: &crate::held_locks::HeldLock| !h.sendable() && !h.class.event;
            if !held.stack.iter().any(leaked) {
                reg.drop_if_done(&stack);
                continue;
            }
            if crate::mode::mode() != crate::mode::Mode::Off {
                // (Not its async guards: they may be alive elsewhere, released there.)
                let task = task_label(stack.task);
                reports.push(build::task_held_at_exit(held, &leaked, task));
            }
            super::freed::note_left(held);
            held.forget_where(leaked);
            reg.drop_if_done(&stack);
        }
        reports
    }
}
