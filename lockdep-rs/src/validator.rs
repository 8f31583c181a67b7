//! The acquire / release pipeline: one validator core tying together the held-lock stack,
//! the chain cache (fast path) and the dependency graph (slow path, `validator/slow_path.rs`).
//!
//! Acquire, in order (kernel `__lock_acquire`): the certain-self-deadlock check (this thread
//! holds this very instance: on every path, cached or not); the nest-lock check and merge;
//! trylocks are pushed unvalidated; a chain already validated is a hit (thread-local set, then
//! global table); otherwise the slow path validates it under the graph lock. Problems become
//! reports delivered *after* every internal borrow and lock is released, so hooks and printing
//! never run inside the validator, and an acquisition that raised a report is recorded only
//! after delivery, once it is known not to panic: a hook or a mode change in between never
//! leaves a stale entry.

mod freed;
#[cfg(lockdep_tasks)]
pub(crate) mod holder;
mod release;
mod slow_path;
mod upgrade;

use std::num::NonZeroUsize;
use std::panic::Location;

use crate::chain_cache::Lookup;
use crate::class::ClassInfo;
use crate::held_locks::{HeldLock, Instance, Read};
use crate::instance_order::{self, Hold, InstanceLink, NestHold};
use crate::report::sink::{self, Delivery};
use crate::report::{build, Report};
use crate::thread_state::ThreadState;

/// Runs `f` on this thread's state (see `thread_state::with_state`), with the `tokio` feature
/// after making its loaded stack the calling context's holder's. Every such call first takes
/// off the stack the entries of locks freed meanwhile by another thread (see
/// `validator/freed.rs`): none of them is ever seen held here.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    #[cfg(lockdep_tasks)]
    holder::settle_here(false);
    crate::thread_state::with_state(|s| {
        s.forget_freed();
        f(s)
    })
}

#[cfg(lockdep_tasks)]
pub(crate) use holder::{current_tag, is_calling_holder, peek_entry};
pub(crate) use release::{
    forgotten, is_held, lock_freed, release, release_token, take_forgotten, wait_begin, wait_end,
    HeldSomewhere, WaitingEntry,
};
pub(crate) use upgrade::upgrade;

/// One acquisition as the lock wrappers describe it.
pub(crate) struct Request<'a> {
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    /// The nest lock's instance (`lock_nest_lock`).
    pub(crate) nest: Option<Instance>,
    /// The nest lock's guard holds it as the lock's upgradable reader (its entry says
    /// reader): see `instance_order::Hold::Upgradable`.
    pub(crate) nest_upgradable: bool,
    /// The nest lock's name, for a report if it is not held (fresh acquisitions only).
    pub(crate) nest_name: Option<&'a dyn Fn() -> String>,
    /// The serial of an entry being put back (0: a fresh acquisition).
    pub(crate) reserial: u64,
    pub(crate) site: &'static Location<'static>,
    /// A fresh acquisition: the thread is about to block on the real lock, so a problem may
    /// panic. Otherwise an entry being put back (the lock is already held): never panics,
    /// always recorded.
    pub(crate) fresh: bool,
    /// Never merge into the top entry (an entry restored after a condvar wait).
    pub(crate) no_merge: bool,
    /// A lock taken back after a wait (`unlocked`, a condvar wait): not fresh (it never
    /// panics), but a real acquisition, so its instance order counts.
    pub(crate) retake: bool,
    /// A lock taken back after `unlocked*`, which is really free while this is validated (the
    /// real relock comes after): not fresh (it never panics), but recorded only once its
    /// reports are delivered, like a fresh acquisition, so a report hook may take the lock.
    pub(crate) unlocked: bool,
    /// An async lock's acquisition: its guard is `Send` (see [`HeldLock::sendable`]).
    pub(crate) sendable: bool,
    /// A timed acquisition (`try_lock_for`): re-locking a lock this thread holds is reported
    /// but does not panic — the real acquisition times out rather than hangs — and is not
    /// recorded.
    pub(crate) timed: bool,
}

/// The verdict of one acquisition, acted on after the thread state is released.
pub(crate) struct Outcome {
    /// The serial of the recorded entry, if it was recorded already.
    pushed: Option<u64>,
    /// The entry to record once the reports are delivered, unless the acquisition panics.
    pending: Option<HeldLock>,
    reports: Vec<(Report, u64)>,
    /// Re-locking an instance this thread holds exclusively: it can never succeed.
    certain_deadlock: bool,
    /// ... by an awaited acquisition (a task's: certain unless another branch of the task
    /// holds it for longer than the grace the async locks wait).
    in_task: bool,
    /// ... through an owned guard that the acquisition waited the deadlock timeout for, in
    /// vain (it may have been handed elsewhere, but nobody released it).
    waited: bool,
    /// ... by a blocking acquisition behind an awaited one of its holder, queued for the lock
    /// (recorded for this validation as if it held it: see `tokio::queued`).
    queued: bool,
    /// The acquisition's chain has known problems: the caller should not block for ever.
    watch: bool,
    /// A timed acquisition (see [`Request::timed`]).
    timed: bool,
    /// ... by a wait for a one-time cell this thread is initializing (see
    /// [`ClassInfo::cell`]).
    in_cell: bool,
    /// ... by a blocking acquisition of a lock another holder of this thread holds, suspended
    /// (see `holder::held_by_running_thread`, `holder::held_by_parked_task`): why the thread
    /// can never run that holder on.
    held_here: Option<&'static str>,
    /// For a chain whose problems were reported before: the first of them (Panic mode stops
    /// every thread that reaches a known problem, with one line naming it).
    known: Option<Report>,
}

impl Outcome {
    fn pushed(serial: u64) -> Outcome {
        Outcome {
            pushed: Some(serial),
            pending: None,
            reports: Vec::new(),
            certain_deadlock: false,
            in_task: false,
            waited: false,
            queued: false,
            watch: false,
            timed: false,
            in_cell: false,
            held_here: None,
            known: None,
        }
    }
}

/// A recorded acquisition: its entry's serial, and whether its order has known problems (a
/// report was raised for it, now or before): then the caller blocks on the real lock with a
/// deadline (see `guard::block`), since the deadlock predicted may really happen.
pub(crate) struct Acquired {
    pub(crate) serial: u64,
    pub(crate) watch: bool,
}

/// Validates and records an acquisition of `instance` (class `class`): the self-deadlock
/// check, nest locks, trylocks, the local and global chain caches, and the slow path. Returns
/// the serial of the recorded entry if the lock is tracked (its release must then be reported
/// back). May panic (Panic mode, or a certain self-deadlock) *before* the caller blocks on the
/// real lock.
#[inline(never)]
#[track_caller]
pub(crate) fn acquire(
    class: &'static ClassInfo,
    instance: Instance,
    req: Request,
) -> Option<Acquired> {
    report_env_error_once();
    deliver_deferred();
    let fresh = req.fresh;
    // The calling context's holder first (with the `tokio` feature): a report found while
    // switching (a blocking lock held across `.await`) may panic before this one blocks.
    #[cfg(lockdep_tasks)]
    holder::settle_here(fresh);
    let outcome = with_state(|s| s.acquire(class, instance, &req))?;
    let watch = outcome.watch;
    act(outcome, fresh).map(|serial| Acquired { serial, watch })
}

/// Delivers an outcome's reports; panics where the mode or a certain deadlock demands it
/// (fresh acquisitions only), otherwise records the pending entry.
#[track_caller]
pub(crate) fn act(outcome: Outcome, fresh: bool) -> Option<u64> {
    let mut must_panic = Vec::new();
    let mut printed = false;
    let mut known = outcome.known.as_ref();
    for (report, key) in &outcome.reports {
        match deliver(report.clone(), *key) {
            Delivery::MustPanic if fresh => must_panic.push((report, *key)),
            // A report that would panic while the lock is already held: print it instead.
            Delivery::MustPanic => sink::print(report, *key),
            Delivery::Printed => printed = true,
            Delivery::Duplicate => known = known.or(Some(report)),
            Delivery::Delivered => {}
        }
    }
    let may_panic = fresh && !crate::sync::panicking() && !exiting();
    if may_panic && outcome.certain_deadlock && !outcome.timed {
        // Is the holder a task (the report names one)?
        let by_task = outcome
            .reports
            .first()
            .is_some_and(|(r, _)| r.task().is_some());
        let why = if outcome.in_cell {
            "lockdep: certain self-deadlock: this thread is running the initializer of the \
             one-time cell it now waits for (a re-entrant initialization never completes)"
        } else if outcome.waited {
            "lockdep: deadlock: this holder re-locks a lock it holds through an owned guard; the \
             guard may have been handed to another task or thread, but nobody released it within \
             the deadlock timeout (LOCKDEP_DEADLOCK_TIMEOUT sets the wait, 0 waits for ever)"
        } else if let Some(why) = outcome.held_here {
            why
        } else if outcome.queued {
            "lockdep: certain deadlock: another branch of this holder is queued for the lock \
             this blocking acquisition waits for; the lock goes to that branch first, and it \
             cannot run while this thread blocks"
        } else if outcome.in_task && !by_task {
            // An awaited re-lock whose holder is the thread: a future it polls outside tokio's
            // tasks (`block_on`, another executor), whose branches are all one holder.
            "lockdep: self-deadlock: this thread already holds the lock a future it polls is \
             awaiting (outside tokio's tasks the thread is the holder of every future it \
             polls), and nothing it polls released it within 1 s (awaited in sequence it can \
             never succeed)"
        } else if outcome.in_task {
            "lockdep: self-deadlock: this task already holds the lock it is awaiting, and no \
             other branch of it released it within 1 s (awaited in sequence it can never \
             succeed)"
        } else if by_task {
            // The holder is a task (a blocking re-lock in a task that holds the lock).
            "lockdep: certain self-deadlock: this task already holds the lock it is \
             acquiring; blocked, the thread that runs it can never run it on to release it"
        } else {
            "lockdep: certain self-deadlock: this thread already holds the lock it is \
             acquiring, which can never succeed"
        };
        match (printed, outcome.reports.first()) {
            (false, Some((report, key))) => {
                // The panic carries the report: a capture it unwinds keeps it.
                let message = format!("{why}\n{}", panic_text(report));
                crate::report::capture::panic_carries(*key, &message);
                panic!("{message}")
            }
            _ => panic!("{why} (see the report above)"),
        }
    }
    if may_panic && !must_panic.is_empty() {
        let text: Vec<String> = must_panic.iter().map(|(r, _)| panic_text(r)).collect();
        panic!("{}", text.join("\n"));
    }
    // Unwinding already, or a thread-local destructor (a panic there aborts): printed.
    for (report, key) in must_panic {
        sink::print(report, key);
    }
    if let (true, Some(report)) = (may_panic && sink::would_panic(), known) {
        // Reported before: Panic mode still stops every thread that reaches it (the second
        // one would otherwise go on and really deadlock), with one line, not the report again.
        panic!("{}", sink::same_problem(report));
    }
    if outcome.certain_deadlock {
        // Not panicking (already unwinding, or exiting): the lock is not taken, untracked.
        return None;
    }
    match outcome.pending {
        Some(entry) => with_state(|s| s.held.push(entry)),
        None => outcome.pushed,
    }
}

/// Delivers one report (see [`sink::deliver`]). While a condvar wait is validated, its mutex
/// (out of the stack, still really locked) is put back on the stack for the delivery, so a
/// report hook that takes it is stopped as a certain self-deadlock and what else the hook
/// takes is ordered after it, as it really is.
pub(crate) fn deliver(report: crate::report::Report, key: u64) -> Delivery {
    let back = with_state(|s| {
        let (entry, index) = s.suspended.clone()?;
        let shown = (entry.serial(), entry.instance);
        s.held.insert(index, entry);
        Some(shown)
    })
    .flatten();
    let delivery = sink::deliver(report, key);
    if let Some((serial, instance)) = back {
        with_state(|s| s.held.withdraw(serial, instance));
    }
    delivery
}

/// A report as a panic message: its text from its first line (the printed text starts with an
/// empty line, to stand apart from the output before it; std prints a panic message after
/// "panicked at …:", where that line would only push the report away).
fn panic_text(report: &Report) -> String {
    let text = report.to_string();
    match text.strip_prefix('\n') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// Delivers the problems found while this thread released locks (see
/// `ThreadState::deferred`): printed, kept or captured now, never panicking.
pub(crate) fn deliver_deferred() {
    let deferred = with_state(|s| {
        if s.deferred.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut s.deferred)
        }
    });
    for (report, key) in deferred.into_iter().flatten() {
        // (Through `deliver`, which puts a condvar wait's mutex back for the hook.)
        if deliver(report.clone(), key) == Delivery::MustPanic {
            sink::print(&report, key);
        }
    }
}

/// Has this thread finished its own work (its thread-local destructors are running)?
fn exiting() -> bool {
    with_state(|s| s.exiting).unwrap_or(true)
}

/// May this thread panic now without aborting the process (not unwinding already, not in its
/// thread-local destructors)?
#[cfg_attr(loom, allow(dead_code))] // used by the joins of `lockdep::thread`, not under loom
pub(crate) fn may_panic_here() -> bool {
    !crate::sync::panicking() && !exiting()
}

/// Marks this thread as exiting: from now on problems it hits never panic.
pub(crate) fn set_exiting() {
    with_state(|s| s.exiting = true);
}

impl ThreadState {
    pub(crate) fn acquire(
        &mut self,
        class: &'static ClassInfo,
        instance: Instance,
        req: &Request,
    ) -> Outcome {
        let mut entry = HeldLock::new(
            class,
            instance,
            req.read,
            req.trylock,
            req.nest.and_then(NonZeroUsize::new),
            req.site,
        );
        entry.set_serial(req.reserial);
        entry.set_sendable(req.sendable);
        // (Read once, here: acquisitions of a report hook run later are not awaited ones.)
        let awaited = awaited(&entry);
        let mut reports = Vec::new();
        if self.held.stack.is_empty() {
            // Nothing is held across any `reset()` so far: nothing to replay later.
            self.held.graph_epoch = crate::dependency_graph::current_epoch();
        }

        // 0. Validation is off: only an entry put back gets here (a lock taken back after a
        //    wait begun with validation on, an upgrade in place; a fresh acquisition is left
        //    untracked before). `Off` keeps the held state: recorded, nothing validated.
        if crate::mode::mode() == crate::mode::Mode::Off {
            if let Some(nest) = entry.nest() {
                if !self.holds_nest(nest.get()) {
                    entry.nesting_mut().nest = None;
                }
            }
            return Outcome::pushed(self.held.push(entry));
        }

        // 1. This very instance held in a conflicting mode: certain self-deadlock, whatever
        //    the subclass, nest lock or cached chain. One scan also tells whether the thread
        //    holds this lock key at all (then the chain is kept out of the fast path, which
        //    never checks instances). An owned async guard's entry (`HeldLock::movable`) is
        //    no certain self-deadlock: the guard may be with another task or thread by now,
        //    which will release it. The async locks wait for such a lock first (up to the
        //    deadlock timeout, see `tokio::watch`); only if it did not come (`waited`) is it
        //    taken for a self-deadlock; a re-lock seen without that wait (a race) goes on to
        //    the same-class check, which reports it as possible recursive locking.
        let waited = waited(&entry);
        let queued = queued_ahead();
        let mut same_key = false;
        let mut conflict = None;
        for (i, h) in self.held.stack.iter().enumerate() {
            if std::ptr::eq(h.class.base(), class.base()) {
                same_key = true;
                if h.holds(instance)
                    && class.certain_when_held()
                    && (h.read() == Read::Exclusive || req.read == Read::Exclusive)
                    && (!h.movable() || waited)
                {
                    conflict = Some(i);
                }
            }
        }
        if let (Some(i), true, false) = (conflict, req.fresh, req.trylock) {
            let prev = &self.held.stack[i];
            let waited = waited && prev.movable();
            reports.push(build::recursive(
                &self.held, prev, &entry, true, awaited, waited, queued,
            ));
            return Outcome {
                pushed: None,
                pending: None,
                reports,
                certain_deadlock: true,
                in_task: awaited,
                waited,
                queued,
                watch: false,
                timed: req.timed,
                in_cell: class.cell,
                held_here: None,
                known: None,
            };
        }

        // 1b. (With the `tokio` feature.) A blocking acquisition of a lock that another
        //     holder of this thread holds, suspended while the thread runs this one: the
        //     thread's own code (a `block_on` future, while it polls this task), or a local
        //     task suspended at an `.await` holding a blocking guard. The thread blocks, so
        //     that holder can never run on to release it: a certain self-deadlock of the
        //     thread.
        #[cfg(lockdep_tasks)]
        if req.fresh && !req.trylock && !req.sendable {
            let found = holder::held_by_running_thread(self, instance, class, req.read)
                .map(|prev| {
                    let thread = crate::report::os_thread_label();
                    let note = format!(
                        "The lock is held by this task's thread ({thread}), outside the task: by its\n\
                         code that polls the task (a block_on future such as a #[tokio::test] body,\n\
                         or the code around a LocalSet), suspended at an .await, or by a local task it\n\
                         handed the guard to. This acquisition blocks that thread, so the holder can\n\
                         never run on to release the lock (a certain self-deadlock), and lockdep\n\
                         panics instead of letting the thread hang. Release the lock before the\n\
                         .await, or use an async lock (lockdep::tokio::Mutex)."
                    );
                    let why = "lockdep: certain self-deadlock: the thread running this task holds \
                               the lock it is acquiring, outside the task (its code is suspended \
                               at an .await); blocked, the thread can never go back to release it";
                    (prev, "thread".to_string(), note, why)
                })
                .or_else(|| {
                    let (prev, task, ended) =
                        holder::held_by_parked_task(self, instance, class, req.read)?;
                    if ended {
                        // A local task that ended holding it: the guard outlived the task.
                        let note = format!(
                            "The lock is held through a guard that {task} took: the task ended\n\
                             on this thread without releasing it, and its output or another holder of\n\
                             this thread (the code that awaited it, another local task) has the guard,\n\
                             which is not Send: only this thread can drop it. This acquisition blocks the\n\
                             thread, so the guard can never be dropped to release the lock (a certain\n\
                             self-deadlock), and lockdep panics instead of letting the thread hang. Drop\n\
                             that guard (the task's output) before taking the lock again."
                        );
                        let why = "lockdep: certain self-deadlock: a task that ended on this thread \
                                   left the lock this thread is acquiring held (its guard is in the \
                                   task's output, or with another holder of this thread); blocked, \
                                   the thread can never drop that guard to release the lock";
                        return Some((prev, format!("{task}, which ended,"), note, why));
                    }
                    let note = format!(
                        "The lock is held by {task}, a task of this thread suspended at an .await\n\
                         with the lock held (a blocking guard is not Send: only this thread can run\n\
                         that task on). This acquisition blocks the thread, so the task can never\n\
                         release the lock (a certain self-deadlock), and lockdep panics instead of\n\
                         letting the thread hang. Release the lock before the .await, or use an async\n\
                         lock (lockdep::tokio::Mutex)."
                    );
                    let why = "lockdep: certain self-deadlock: a task suspended on this thread \
                               holds the lock this thread is acquiring; blocked, the thread can \
                               never run that task on to release it";
                    Some((prev, task, note, why))
                });
            if let Some((prev, holder, note, why)) = found {
                reports.push(build::held_on_this_thread(
                    &self.held, &prev, &entry, holder, note,
                ));
                return Outcome {
                    pushed: None,
                    pending: None,
                    reports,
                    certain_deadlock: true,
                    in_task: false,
                    waited: false,
                    queued: false,
                    watch: false,
                    timed: req.timed,
                    in_cell: false,
                    held_here: Some(why),
                    known: None,
                };
            }
        }

        // The order of this class's instances, which the class graph cannot see.
        if same_key && (req.fresh || req.retake) && !req.trylock {
            reports.extend(self.check_instance_order(&entry, req.nest_upgradable));
        }

        // 2. Nest lock: it must be held; a lock of the top entry's class taken under it is
        //    merged into that entry (kernel `references`), unvalidated. A nest guard that is
        //    the lock's upgradable reader says so to its entry, for the acquisitions under it
        //    that have no guard at hand (locks taken back after a wait).
        if let Some(nest) = entry.nest() {
            if req.nest_upgradable {
                // (The upgradable reader's entry is a non-recursive reader's: a recursive
                // reader let in beside it on this thread is a plain reader.)
                for h in self.held.stack.iter_mut() {
                    if h.holds(nest.get()) && h.read() == Read::Shared {
                        h.set_upgradable(true);
                    }
                }
            }
            if !self.holds_nest(nest.get()) {
                if let Some(name) = req.nest_name {
                    reports.push(build::nest_not_held(&self.held, &entry, name()));
                }
                entry.nesting_mut().nest = None;
            } else if let Some(top) = self.held.stack.last_mut() {
                // (Not when something was reported: the entry is then recorded only after
                // delivery, as its own entry, still exempt under the nest lock.)
                let mergeable = !req.trylock && !req.no_merge && reports.is_empty();
                if std::ptr::eq(top.class, class) && top.read() == req.read && mergeable {
                    top.merge(instance);
                    return Outcome::pushed(top.serial());
                }
            }
        }

        // (A fresh acquisition, or a lock taken back after `unlocked*`, is recorded only once
        // its reports are delivered: the lock is not held meanwhile.)
        let after_delivery = req.fresh || req.unlocked;

        // 3. A trylock cannot block: recorded, not validated.
        if req.trylock {
            return self.record(entry, reports, after_delivery, None);
        }

        // 4. The chain caches.
        self.held.place(&mut entry);
        if same_key {
            let stack = &self.held.stack;
            entry.set_edgeless(!matches!(
                slow_path::same_class(stack, &entry),
                slow_path::SameClass::Clear
            ));
        }
        let parent = self.held.key();
        let last = entry.chain_id();
        let key = crate::held_locks::mix_chain_key(parent, last);
        let recent = !same_key;
        let mut lookup = self.chains.lookup(key, recent);
        if matches!(lookup, Lookup::Miss) {
            self.chains.flush_hits(self.held.fast_pushes());
            lookup = self.chains.adopt_global(key, parent, last, recent);
        }
        if let Lookup::Hit(found) = lookup {
            // A known chain: its problems were reported; a capture passing through it gets
            // them again (deduplicated per capture), anything else would drop them.
            let known = found.as_ref().map(|f| f[0].0.clone());
            if let Some(found) = found.filter(|_| sink::capturing()) {
                reports.extend(found.iter().cloned());
            }
            return self.record(entry, reports, after_delivery, known);
        }

        // 5. The slow path.
        reports.extend(self.validate(&entry, key, parent, last, recent));
        self.record(entry, reports, after_delivery, None)
    }

    /// Another instance of `new`'s lock key is held: records the instance order (held ->
    /// new) and reports it if it reverses an order recorded before. `nest_upgradable`: the
    /// guard `new` is taken under holds its nest lock as the upgradable reader.
    fn check_instance_order(&self, new: &HeldLock, nest_upgradable: bool) -> Option<(Report, u64)> {
        let stack = &self.held.stack;
        let (idx, link) = self.instance_link(stack, new, nest_upgradable)?;
        let outer = &stack[idx];
        let gates = link.gates.clone();
        let path = instance_order::record(link.clone())?;
        if instance_order::seen_by_classes(&link, &path) || !instance_order::blocks(&link, &path) {
            return None; // the class check reports this cycle, or readers never block readers
        }
        let mut common = gates;
        for l in &path {
            common.retain(|g| l.gates.contains(g));
        }
        if !common.is_empty() && crate::mode::ignoring_gated() {
            return None;
        }
        Some(build::instance_inversion(
            &self.held, outer, new, &path, &common,
        ))
    }

    /// After a `reset()` cleared the instance orders, the locks this thread still holds
    /// record theirs again (as if taken again, bottom to top), as their class edges are (see
    /// `replay_after_reset`): a lock of their class taken later in the other order, by any
    /// thread, is still an inversion. Nothing is reported here (the orders were checked when
    /// they were taken).
    pub(super) fn replay_instance_orders(&self) {
        let stack = &self.held.stack;
        for i in 1..stack.len() {
            let (below, rest) = stack.split_at(i);
            let entry = &rest[0];
            if entry.trylock() {
                continue; // a trylock records no order (see `acquire`)
            }
            if let Some((_, link)) = self.instance_link(below, entry, false) {
                let _ = instance_order::record(link);
            }
        }
    }

    /// The instance order `new` makes with the lock of its key held last in `below` (another
    /// instance), and that lock's index; `None` if there is none, or if taking `new` there
    /// is plain recursive locking (the class check reports it).
    fn instance_link(
        &self,
        below: &[HeldLock],
        new: &HeldLock,
        nest_upgradable: bool,
    ) -> Option<(usize, InstanceLink)> {
        if let slow_path::SameClass::Conflict(_) = slow_path::same_class(below, new) {
            return None; // plain recursive locking: the class check reports it
        }
        let idx = below.iter().rposition(|h| {
            std::ptr::eq(h.class.base(), new.class.base()) && !h.holds(new.instance)
        })?;
        let outer = &below[idx];
        let gates = slow_path::gates_below(&below[..idx]);
        let link = InstanceLink {
            outer: outer.last_instance(),
            inner: new.instance,
            outer_class: outer.class.id,
            inner_class: new.class.id,
            outer_read: outer.read(),
            inner_read: new.read(),
            outer_site: outer.site,
            inner_site: new.site,
            thread: crate::report::thread_label(),
            gates: gates.clone(),
            // Both taken under one nest lock: how it is held now, while `new` is taken.
            under: new
                .nest()
                .filter(|_| outer.nest() == new.nest())
                .and_then(|n| self.nest_hold(n.get(), nest_upgradable)),
        };
        Some((idx, link))
    }

    /// Does the calling holder hold the nest lock `nest`: on its stack, or with the `tokio`
    /// feature, in a task, through an entry a task may have pushed on the thread's own stack
    /// before the thread was marked (see `holder::release_unmarked`), or through the stack of
    /// a local task that ended on this thread leaving the nest guard (in hand: its output, or
    /// handed on) to a holder of the thread (`holder::held_by_ended_task`)?
    fn holds_nest(&self, nest: Instance) -> bool {
        let here = self.held.stack.iter().any(|h| h.holds(nest));
        #[cfg(lockdep_tasks)]
        let here =
            here || holder::held_unmarked(self, nest) || holder::held_by_ended_task_of(self, nest);
        here
    }

    /// How this thread holds the nest lock `nest` (`None`: not at all): exclusively if one of
    /// its entries is a writer's, else as the upgradable reader if the nest guard says so
    /// (`upgradable`) or its entry does (see `Nesting::upgradable`), else shared.
    fn nest_hold(&self, nest: Instance, upgradable: bool) -> Option<NestHold> {
        let entries: Vec<&HeldLock> = self.held.stack.iter().filter(|h| h.holds(nest)).collect();
        if entries.is_empty() {
            return None;
        }
        let hold = if entries.iter().any(|h| h.read() == Read::Exclusive) {
            Hold::Exclusive
        } else if upgradable || entries.iter().any(|h| h.upgradable()) {
            Hold::Upgradable
        } else {
            Hold::Shared
        };
        Some(NestHold { nest, hold })
    }

    /// Records `entry` now if nothing was found or it is the entry of a lock held already (not
    /// `after_delivery`); otherwise leaves it pending until the reports are delivered.
    fn record(
        &mut self,
        entry: HeldLock,
        reports: Vec<(Report, u64)>,
        after_delivery: bool,
        known: Option<Report>,
    ) -> Outcome {
        let watch = known.is_some() || !reports.is_empty();
        // A known problem stops this acquisition in Panic mode: then it is recorded only
        // once it is known not to panic.
        let may_stop = known.is_some() && sink::would_panic();
        if (reports.is_empty() && !may_stop) || !after_delivery {
            let serial = self.held.push(entry);
            return Outcome {
                pushed: Some(serial),
                pending: None,
                reports,
                certain_deadlock: false,
                in_task: false,
                waited: false,
                queued: false,
                watch,
                timed: false,
                in_cell: false,
                held_here: None,
                known,
            };
        }
        Outcome {
            pushed: None,
            pending: Some(entry),
            reports,
            certain_deadlock: false,
            in_task: false,
            waited: false,
            queued: false,
            watch,
            timed: false,
            in_cell: false,
            held_here: None,
            known,
        }
    }
}

/// An unknown `LOCKDEP` value, and an unknown value of any other setting, is reported once, at
/// the first slow-path acquisition.
fn report_env_error_once() {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !DONE.load(std::sync::atomic::Ordering::Relaxed)
        && !DONE.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        if let Some(e) = crate::mode::take_env_error() {
            let meanwhile = if crate::mode::set_by_program() {
                "the mode the program set applies"
            } else {
                "using warn meanwhile"
            };
            sink::config_error(&format!("lockdep: {e} ({meanwhile})"));
        }
        for e in crate::mode::setting_errors() {
            sink::config_error(&e);
        }
    }
}

/// Reports an invalid subclass (the acquisition then goes untracked).
#[track_caller]
pub(crate) fn invalid_subclass(name: String, subclass: u8, site: &'static Location<'static>) {
    let report = with_state(|s| build::invalid_subclass(&s.held, name, subclass, site));
    if let Some((report, key)) = report {
        deliver_or_panic(report, key);
    }
}

/// Delivers a report that is no acquisition's; in Panic mode panics with it where this thread
/// can (not unwinding, not in its thread-local destructors, where a panic aborts the
/// process): else it is printed (and counted) instead.
#[track_caller]
pub(crate) fn deliver_or_panic(report: crate::report::Report, key: u64) {
    if deliver(report.clone(), key) == Delivery::MustPanic {
        if !crate::sync::panicking() && !exiting() {
            panic!("{}", panic_text(&report));
        }
        sink::print(&report, key);
    }
}

/// Forgets this thread's held locks (used by `reset()` on the calling thread).
pub(crate) fn forget_held() {
    // (Its graph epoch catches up at its next acquisition onto the now empty stack.) What it
    // held is no longer held as far as lockdep knows: freeing it later (a leaked guard's
    // lock, a pseudo-lock whose count of holders still says held) is not reported as held
    // by another thread, as a lock left held by an exited thread is not.
    with_state(|s| {
        s.note_left_at_exit();
        s.held.forget()
    });
}

/// Adds this thread's fast-path hits to the statistics now.
pub(crate) fn flush_hits() {
    with_state(|s| s.chains.flush_hits(s.held.fast_pushes()));
}

/// Drop-in addition (`downgrade`): the entry `serial` of `instance` is now held in mode
/// `read` (as the lock's upgradable reader if `upgradable`), at the same position. The chain keys of it and of the entries above it are
/// recomputed; nothing is validated (a downgrade never blocks). Returns the serial the guard
/// has from now on, or `None` if this thread holds no such entry. `_holder`: the stack the
/// guard's token names (with the `tokio` feature the thread's own is reached from a task
/// too: see `holder::on_stack_of`).
///
/// An entry into which other instances of its class were merged under their nest lock holds
/// other guards' locks too, which keep their mode: `instance` leaves it for an entry of its
/// own, right below it, with a new serial (the other guards keep the entry's).
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
pub(crate) fn change_read(
    instance: Instance,
    serial: u64,
    read: Read,
    upgradable: bool,
    _holder: crate::fast_path::HolderTag,
) -> Option<u64> {
    with_state(|s| {
        #[cfg(lockdep_tasks)]
        {
            use crate::holder::{loaded, Posted};
            // The stack loaded here, or the thread's own while a task's is loaded.
            if _holder == loaded(&s.held) || _holder == s.holding.me {
                return holder::on_stack_of(s, _holder, |s| {
                    change_read_here(s, instance, serial, read, upgradable)
                });
            }
            // Another task's (its guard is in another holder's hands): parked, changed there;
            // loaded on another thread (a `Send` guard's entry), posted to it. The guard keeps
            // its serial then (see `holder::drain`).
            let posted = Posted {
                instance,
                serial,
                change: Some((read, upgradable)),
            };
            match holder::elsewhere(s, _holder, posted, |s| {
                change_read_here(s, instance, serial, read, upgradable)
            }) {
                holder::Elsewhere::Done(serial) => serial,
                holder::Elsewhere::Posted | holder::Elsewhere::Gone => None,
            }
        }
        #[cfg(not(lockdep_tasks))]
        change_read_here(s, instance, serial, read, upgradable)
    })
    .flatten()
}

/// [`change_read`] on the stack loaded.
pub(crate) fn change_read_here(
    s: &mut ThreadState,
    instance: Instance,
    serial: u64,
    read: Read,
    upgradable: bool,
) -> Option<u64> {
    s.held.change_read(instance, serial, read, upgradable)
}

/// Did `entry`'s acquisition (an async lock's) first wait the deadlock timeout in vain for a
/// lock its holder holds through owned guards (see step 1 of `ThreadState::acquire`)?
fn waited(entry: &HeldLock) -> bool {
    #[cfg(lockdep_tasks)]
    return crate::holder::take_waited() && entry.sendable();
    #[cfg(not(lockdep_tasks))]
    {
        let _ = entry;
        false
    }
}

/// Is the acquisition being validated a blocking one behind a queued awaited acquisition of
/// its own holder (see `tokio::queued`)?
fn queued_ahead() -> bool {
    #[cfg(lockdep_tasks)]
    return crate::holder::take_queued_ahead();
    #[cfg(not(lockdep_tasks))]
    false
}

/// Is `entry` an awaited acquisition (`lock().await`, given a grace for other branches of its
/// task), not a blocking or a thread's one?
fn awaited(entry: &HeldLock) -> bool {
    #[cfg(lockdep_tasks)]
    return crate::holder::take_awaited() && entry.sendable();
    #[cfg(not(lockdep_tasks))]
    {
        let _ = entry;
        false
    }
}
