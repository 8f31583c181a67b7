//! The acquire / release pipeline: one validator core tying together the held-lock stack,
//! the chain cache (fast path) and the dependency graph (slow path).
//!
//! Acquire, in order (kernel `__lock_acquire`): nest-lock merge; trylocks are pushed
//! unvalidated; a chain already validated is a hit (thread-local set, then global table);
//! otherwise, under the graph lock, the same-class check, then an edge from the top held lock
//! (and from the trylocked and recursively-read entries above the first plain one) to the new
//! lock, each after a strong-cycle search. Problems become reports delivered *after* every
//! internal borrow and lock is released, so hooks and printing never run inside the validator.

use std::cell::RefCell;
use std::panic::Location;

use crate::chain_cache::LocalChains;
use crate::class::ClassInfo;
use crate::dep_map::DepMap;
use crate::dependency_graph::{edge_type, EdgeOrigin, GRAPH};
use crate::held_locks::{HeldLock, HeldLocks, Instance, Read};
use crate::report::sink::{self, Delivery};
use crate::report::trace::Trace;
use crate::report::{build, thread_label, Report};
use crate::sync::thread_local;

/// One acquisition as the lock wrappers describe it.
pub(crate) struct Request<'a> {
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    /// The nest lock (`lock_nest_lock`).
    pub(crate) nest: Option<&'a DepMap>,
    /// The nest lock's instance of an entry being re-acquired (after an out-of-order release).
    pub(crate) renest: Option<std::num::NonZeroUsize>,
    /// The serial of an entry being re-acquired (0: a fresh acquisition).
    pub(crate) reserial: u64,
    pub(crate) site: &'static Location<'static>,
}

/// The verdict of one acquisition, acted on after the thread state is released.
struct Outcome {
    /// The serial of the recorded entry, if the acquisition is tracked.
    tracked: Option<u64>,
    report: Option<(Report, u64)>,
    /// Re-locking an instance this thread holds exclusively: it can never succeed.
    certain_deadlock: bool,
}

/// One thread's validator state: its held locks and the chains it knows.
#[derive(Default)]
pub(crate) struct ThreadState {
    pub(crate) held: HeldLocks,
    pub(crate) chains: LocalChains,
}

thread_local! {
    pub(crate) static STATE: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // From here on the fast paths must not find this state (it is being destroyed).
        #[cfg(not(loom))]
        crate::sync::internal::set_fast(std::ptr::null());
        self.chains.flush_hits(self.held.fast_pushes());
        if !self.held.is_empty() && crate::mode::mode() != crate::mode::Mode::Off {
            let (report, key) = build::held_at_exit(&self.held);
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                // Never panic in a thread-local destructor: that aborts the process.
                crate::report::print_err!("{report}");
            }
        }
    }
}

/// Runs `f` on this thread's state; `None` if it is gone (thread exiting) or busy, or if
/// this thread is inside the validator's own synchronisation (re-entered by an allocator that
/// takes lockdep locks): such acquisitions and releases are left untracked.
fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    if crate::sync::internal::inside() {
        return None;
    }
    STATE
        .try_with(|s| {
            #[cfg(not(loom))]
            crate::sync::internal::set_fast(s as *const RefCell<ThreadState> as *const ());
            s.try_borrow_mut().ok().map(|mut s| f(&mut s))
        })
        .ok()
        .flatten()
}

/// Validates and records an acquisition of `instance` (class `class`): the local and global
/// chain caches, nest locks, trylocks, and the slow path. Returns the serial of the recorded
/// entry if the lock is tracked (its release must then be reported back). May panic (Panic
/// mode, or a certain self-deadlock) *before* the caller blocks on the real lock.
#[inline(never)]
pub(crate) fn acquire(class: &'static ClassInfo, instance: Instance, req: Request) -> Option<u64> {
    let outcome = with_state(|s| s.acquire(class, instance, &req, true))?;
    act(outcome, true)
}

/// Delivers an outcome's report; panics where the mode or a certain deadlock demands it.
fn act(outcome: Outcome, may_panic: bool) -> Option<u64> {
    if let Some((report, key)) = outcome.report {
        let delivery = sink::deliver(report.clone(), key);
        if may_panic && !crate::sync::panicking() {
            if delivery == Delivery::MustPanic {
                panic!("{report}");
            }
            if outcome.certain_deadlock {
                panic!("lockdep: certain self-deadlock: this thread already holds the lock it is acquiring\n{report}");
            }
        } else if delivery == Delivery::MustPanic {
            crate::report::print_err!("{report}");
        }
    } else if outcome.certain_deadlock && may_panic && !crate::sync::panicking() {
        panic!(
            "lockdep: certain self-deadlock: this thread already holds the lock it is acquiring"
        );
    }
    outcome.tracked
}

impl ThreadState {
    fn acquire(
        &mut self,
        class: &'static ClassInfo,
        instance: Instance,
        req: &Request,
        fresh: bool,
    ) -> Outcome {
        let mut entry = HeldLock {
            class,
            instance,
            read: req.read,
            trylock: req.trylock,
            nest: req
                .nest
                .and_then(|n| std::num::NonZeroUsize::new(n.instance()))
                .or(req.renest),
            references: 0,
            site: req.site,
            key: 0,
            serial: req.reserial,
        };
        let mut report = None;
        if let Some(nest) = req.nest {
            if !self
                .held
                .stack
                .iter()
                .any(|h| h.instance == nest.instance())
            {
                report = Some(build::nest_not_held(&self.held, &entry, nest.name()));
            } else if let Some(top) = self.held.stack.last() {
                if std::ptr::eq(top.class, class) && fresh {
                    let certain = self.holds_conflicting(instance, req.read);
                    if certain {
                        let prev = top.clone();
                        return Outcome {
                            tracked: None,
                            report: Some(build::recursive(&self.held, &prev, &entry, true)),
                            certain_deadlock: true,
                        };
                    }
                    // Kernel nest-lock merge: one entry, one more reference, no validation.
                    let top = self.held.stack.last_mut().expect("non-empty");
                    top.references = if top.references == 0 {
                        2
                    } else {
                        top.references + 1
                    };
                    return Outcome {
                        tracked: Some(top.serial),
                        report,
                        certain_deadlock: false,
                    };
                }
            }
        }
        if req.trylock {
            let serial = self.held.push(entry);
            return Outcome {
                tracked: Some(serial),
                report,
                certain_deadlock: false,
            };
        }
        let key = self.held.key_with(&entry);
        if report.is_none() && self.chains.contains(key) {
            // Still thread-local only: `contains` counts the hit for the next global lookup.
            let serial = self.held.push(entry);
            return Outcome {
                tracked: Some(serial),
                report: None,
                certain_deadlock: false,
            };
        }
        self.chains.flush_hits(self.held.fast_pushes());
        let chain = self.held.chain_with(&entry);
        if report.is_none() && self.chains.adopt_global(key, &chain) {
            let serial = self.held.push(entry);
            return Outcome {
                tracked: Some(serial),
                report: None,
                certain_deadlock: false,
            };
        }
        let (found, certain) = self.validate(&entry, key, chain);
        let report = report.or(found);
        let will_panic = fresh && (certain || (report.is_some() && sink::would_panic()));
        let mut tracked = None;
        if !will_panic {
            entry.references = 0;
            tracked = Some(self.held.push(entry));
        }
        Outcome {
            tracked,
            report,
            certain_deadlock: certain,
        }
    }

    /// True if this thread holds `instance` in a way that makes acquiring it in `read` block
    /// forever (either side exclusive).
    fn holds_conflicting(&self, instance: Instance, read: Read) -> bool {
        // An event is an annotation: the real wait is the caller's, and another thread may
        // still signal it, so it is reported but never treated as certain.
        self.held.stack.iter().any(|h| {
            h.instance == instance
                && !h.class.event
                && (h.read == Read::Exclusive || read == Read::Exclusive)
        })
    }

    /// The slow path. Returns the first problem found and whether it is a certain deadlock.
    fn validate(
        &mut self,
        new: &HeldLock,
        key: u64,
        chain: Vec<u64>,
    ) -> (Option<(Report, u64)>, bool) {
        let mut graph = GRAPH.lock();
        new.class.note_usage(new.read.is_shared());
        let certain = self.holds_conflicting(new.instance, new.read);
        let held = &self.held;

        // 1. Same-class check (kernel check_deadlock).
        let mut nest_seen = false;
        let mut exempt = false;
        for h in &held.stack {
            if new.nest.is_some_and(|n| n.get() == h.instance) {
                nest_seen = true;
            }
            if !std::ptr::eq(h.class, new.class) {
                continue;
            }
            if new.read == Read::Recursive && h.read != Read::Exclusive {
                continue;
            }
            if nest_seen {
                exempt = true;
                break;
            }
            return (Some(build::recursive(held, h, new, certain)), certain);
        }

        // 2. Edges to the new lock, each after a strong-cycle search (check_prevs_add). A
        //    wait on an event gets an edge from every held lock.
        let mut first = None;
        let mut more_problems = false;
        if !exempt {
            let mut trace: Option<Trace> = None;
            for (i, h) in held.stack.iter().enumerate().rev() {
                let ty = edge_type(h.read, new.read);
                let gates = gates_below(&held.stack[..i]);
                let skip = graph.surely_no_path(new.class.id, h.class.id);
                let path = if skip {
                    None
                } else {
                    graph.strong_path(
                        new.class.id,
                        new.read == Read::Recursive,
                        h.class.id,
                        h.read,
                    )
                };
                if let Some(path) = path {
                    let found = build::circular(&graph, held, h, new, ty, &gates, &path);
                    if found.0.gates().is_empty() || !crate::api::ignoring_gated() {
                        if first.is_none() {
                            first = Some(found);
                        } else {
                            more_problems = true;
                        }
                    }
                }
                graph.add(h.class.id, new.class.id, ty, &gates, || EdgeOrigin {
                    trace: trace.get_or_insert_with(Trace::capture).clone(),
                    prev_site: h.site,
                    next_site: new.site,
                    thread: thread_label(),
                });
                // Stop after the first entry that is neither a trylock nor a recursive reader:
                // entries below it already reach the new lock through a strong path.
                if !new.class.event && !h.trylock && h.read != Read::Recursive {
                    break;
                }
            }
        }
        if first.is_none() && !more_problems && !certain {
            // Published only after validation, under the graph lock.
            self.chains.insert_validated(key, chain);
        }
        drop(graph);
        (first, certain)
    }

    /// Removes the entry of `instance` (matching `pred`); re-acquires the entries above it.
    fn release(
        &mut self,
        instance: Instance,
        class: Option<&'static ClassInfo>,
        pred: &dyn Fn(&HeldLock) -> bool,
        any_entry: Option<Read>,
    ) -> Option<Vec<Outcome>> {
        let idx = self.held.find(instance, pred).or_else(|| {
            // A guard whose own entry went with a `force_unlock` (which cannot know which
            // of several entries of the instance it meant) releases another of the instance.
            if let Some(read) = any_entry {
                if let Some(i) = self
                    .held
                    .find(instance, |h| h.read.is_shared() == read.is_shared())
                    .or_else(|| self.held.find(instance, |_| true))
                {
                    return Some(i);
                }
            }
            let class = class?;
            self.held
                .stack
                .iter()
                .rposition(|h| h.references > 0 && std::ptr::eq(h.class, class))
        })?;
        // Of a run of identical adjacent entries (same instance, class and mode), release the
        // topmost, like the kernel: the resulting stack is the same and fewer are re-acquired.
        let same = |a: &HeldLock, b: &HeldLock| {
            a.instance == b.instance
                && std::ptr::eq(a.class, b.class)
                && a.read == b.read
                && a.trylock == b.trylock
        };
        let own = idx;
        let mut idx = idx;
        while idx + 1 < self.held.stack.len()
            && same(&self.held.stack[idx], &self.held.stack[idx + 1])
        {
            idx += 1;
        }
        if idx != own {
            // The entry that stays takes over the removed one's serial, so the guard that
            // owned the removed entry still finds "its" entry later.
            self.held.stack[own].serial = self.held.stack[idx].serial;
        }
        let entry = &mut self.held.stack[idx];
        if entry.references > 0 {
            entry.references -= 1;
            if entry.references > 0 {
                return Some(Vec::new());
            }
        }
        let above = self.held.remove(idx);
        Some(self.reacquire(above))
    }

    /// Re-acquires entries (after an out-of-order release), re-validating their chains.
    fn reacquire(&mut self, entries: Vec<HeldLock>) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for e in entries {
            let req = Request {
                read: e.read,
                trylock: e.trylock,
                nest: None,
                renest: e.nest,
                reserial: e.serial,
                site: e.site,
            };
            let out = self.acquire(e.class, e.instance, &req, false);
            if let Some(top) = self.held.stack.last_mut() {
                if top.instance == e.instance {
                    top.references = e.references;
                }
            }
            outcomes.push(out);
        }
        outcomes
    }
}

/// The exclusive lock instances in `below` that can serialise what is done above them.
fn gates_below(below: &[HeldLock]) -> Vec<crate::dependency_graph::Gate> {
    below
        .iter()
        .filter(|h| h.read == Read::Exclusive && h.class.can_gate())
        .map(|h| {
            h.class.note_gate_use();
            h.class.id
        })
        .collect()
}

/// Records the release of a tracked `instance`. Returns false (after a `BadUnlockBalance`
/// report) if this thread does not hold it.
pub(crate) fn release(
    instance: Instance,
    class: Option<&'static ClassInfo>,
    pred: &dyn Fn(&HeldLock) -> bool,
    any_entry: Option<Read>,
    unlock_report: impl FnOnce() -> (String, &'static Location<'static>),
    site: Option<&'static Location<'static>>,
) -> bool {
    let result = with_state(|s| match s.release(instance, class, pred, any_entry) {
        Some(outcomes) => Ok(outcomes),
        None => {
            let (name, class_site) = unlock_report();
            Err(build::bad_unlock(&s.held, name, instance, site, class_site))
        }
    });
    match result {
        None => true, // thread state gone: nothing to check
        Some(Ok(outcomes)) => {
            for o in outcomes {
                act(o, false);
            }
            true
        }
        Some(Err((report, key))) => {
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                panic!("{report}");
            }
            false
        }
    }
}

/// Is `instance` held by this thread?
pub(crate) fn is_held(instance: Instance) -> bool {
    with_state(|s| s.held.find(instance, |_| true).is_some()).unwrap_or(false)
}

/// The lock at `instance` is being dropped: report and forget it if this thread holds it.
pub(crate) fn lock_freed(instance: Instance) {
    let found = with_state(|s| {
        let idx = s.held.find(instance, |_| true)?;
        let report = build::freed(&s.held, &s.held.stack[idx]);
        let above = s.held.remove(idx);
        let outcomes = s.reacquire(above);
        Some((report, outcomes))
    })
    .flatten();
    if let Some(((report, key), outcomes)) = found {
        for o in outcomes {
            act(o, false);
        }
        if sink::deliver(report.clone(), key) == Delivery::MustPanic && !crate::sync::panicking() {
            panic!("{report}");
        }
    }
}

/// Reports an invalid subclass (the acquisition then goes untracked).
pub(crate) fn invalid_subclass(name: String, subclass: u8, site: &'static Location<'static>) {
    let report = with_state(|s| build::invalid_subclass(&s.held, name, subclass, site));
    if let Some((report, key)) = report {
        if sink::deliver(report.clone(), key) == Delivery::MustPanic {
            panic!("{report}");
        }
    }
}

/// Forgets this thread's held locks (used by `reset()` on the calling thread).
pub(crate) fn forget_held() {
    with_state(|s| s.held.forget());
}

/// Was the entry with this serial forgotten by `reset()` (its guard outlived it)?
pub(crate) fn forgotten(serial: u64) -> bool {
    with_state(|s| serial <= s.held.forgotten_up_to).unwrap_or(false)
}

/// Adds this thread's fast-path hits to the statistics now.
pub(crate) fn flush_hits() {
    with_state(|s| s.chains.flush_hits(s.held.fast_pushes()));
}

/// Drop-in addition (`downgrade`): the entry `serial` of `instance` is now held in mode
/// `read`, at the same position. The chain keys of it and of the entries above it are
/// recomputed; nothing is validated (a downgrade never blocks). Returns false if this thread
/// holds no such entry.
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
pub(crate) fn change_read(instance: Instance, serial: u64, read: Read) -> bool {
    with_state(|s| {
        let Some(idx) = s.held.find(instance, |h| h.serial == serial) else {
            return false;
        };
        // Re-push the entry and those above it: `push` keeps their serials and recomputes
        // each chain key.
        let above = s.held.stack.split_off(idx);
        for (i, mut e) in above.into_iter().enumerate() {
            if i == 0 {
                e.read = read;
            }
            s.held.push(e);
        }
        true
    })
    .unwrap_or(false)
}
