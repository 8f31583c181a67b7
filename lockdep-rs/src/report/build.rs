//! Building reports from validator state (the slow path's findings), with their dedupe keys.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::Location;
use std::sync::Arc;

use super::{
    push_unique, task_label, thread_label, Link, LockLine, Report, ReportData, ReportKind,
};
use crate::class::ClassInfo;
use crate::held_locks::{HeldLock, HeldLocks};
use crate::trace::EdgeOrigin;
use crate::trace::Trace;

fn key_of(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

pub(crate) fn lock_line(h: &HeldLock) -> LockLine {
    LockLine {
        class: h.class.display_name(),
        read: h.read() as u8,
        instance: h.instance,
        site: h.site,
    }
}

fn held_lines(held: &HeldLocks) -> Vec<LockLine> {
    held.stack.iter().map(lock_line).collect()
}

fn base(kind: ReportKind, held: &HeldLocks) -> ReportData {
    ReportData {
        kind,
        thread: thread_label(),
        task: task_label(),
        acquiring: None,
        holding: None,
        chain: Vec::new(),
        middle: None,
        held: held_lines(held),
        stack: Trace::capture(),
        class_names: Vec::new(),
        gates: Vec::new(),
        cycle: Vec::new(),
        notes: Vec::new(),
        at: None,
        same_instance: false,
        held_by: None,
        key: 0,
    }
}

fn finish(mut d: ReportData, key: u64) -> (Report, u64) {
    d.key = key;
    (Report(Arc::new(d)), key)
}

/// `new` is a class this thread already holds as `prev`.
pub(crate) fn recursive(
    held: &HeldLocks,
    prev: &HeldLock,
    new: &HeldLock,
    certain: bool,
    awaited: bool,
    waited: bool,
    queued: bool,
) -> (Report, u64) {
    let mut d = base(ReportKind::RecursiveLocking, held);
    d.acquiring = Some(lock_line(new));
    d.holding = Some(lock_line(prev));
    push_unique(&mut d.class_names, new.class.display_name());
    push_unique(&mut d.class_names, prev.class.display_name());
    d.same_instance = prev.holds(new.instance);
    if !d.same_instance && std::ptr::eq(prev.class, new.class) {
        if let Some((file, line, column)) = new.class.construction_site() {
            d.notes
                .push(super::site_hint::one_site_many_locks(file, line, column));
        }
    }
    if certain && queued {
        d.notes.push(
            "The lock is not held yet: another branch of this holder (join!, select!) is queued\n\
             for it (the held line above is that branch's acquisition), and this acquisition\n\
             blocks the thread. When the lock is released tokio hands it to the queued branch,\n\
             which cannot run while the thread blocks: a certain deadlock, so lockdep panics\n\
             instead of hanging. Await the lock here (`lock().await`) instead of blocking."
                .into(),
        );
    } else if certain && waited {
        d.notes.push(
            "This holder already holds this very lock instance through an owned guard. Such a\n\
             guard may have been handed to another task or thread, so the acquisition waited for\n\
             it to be released there, for the deadlock timeout (LOCKDEP_DEADLOCK_TIMEOUT), in\n\
             vain: lockdep panics instead of letting the holder wait for itself forever."
                .into(),
        );
    } else if certain && awaited {
        d.notes.push(
            "This task already holds this very lock instance, and no other branch of it (join!,\n\
             select!) released it within 1 s: awaited in sequence the acquisition can never\n\
             succeed, so lockdep panics instead of letting the task hang. (A branch that holds\n\
             it longer while another awaits it is reported so too: see lockdep::tokio's limits.)"
                .into(),
        );
    } else if certain && new.class.event {
        d.notes.push(
            "This thread is running this one-time cell's initializer (armed where the held\n\
             line says) and now waits for that initializer to complete: a re-entrant\n\
             initialization never completes (std and parking_lot hang here), so lockdep panics\n\
             instead of letting the thread hang. Break the cycle: the initializer must not\n\
             reach its own cell (directly or through the functions it calls)."
                .into(),
        );
    } else if certain && d.task.is_some() {
        d.notes.push(
            "This task already holds this very lock instance, and the acquisition blocks the\n\
             thread that runs it: the task can never run on to release it (a certain\n\
             self-deadlock), so lockdep panics instead of letting the thread hang."
                .into(),
        );
    } else if certain {
        d.notes.push(
            "This thread already holds this very lock instance: the acquisition can never succeed\n\
             (a certain self-deadlock), so lockdep panics instead of letting the thread hang."
                .into(),
        );
    }
    let key = key_of((
        "recursive",
        new.class.id,
        new.read(),
        prev.class.id,
        prev.read(),
        certain,
    ));
    finish(d, key)
}

/// A blocking acquisition of `new`, an instance that another holder of this thread holds
/// (`prev`, an entry of its stack; `held`: the acquiring holder's), suspended while this
/// thread runs the acquiring one: `holder` names it, `note` says why it can never run on
/// (see `validator::holder::held_by_running_thread` and `held_by_parked_task`).
#[cfg(lockdep_tasks)]
pub(crate) fn held_on_this_thread(
    held: &HeldLocks,
    prev: &HeldLock,
    new: &HeldLock,
    holder: String,
    note: String,
) -> (Report, u64) {
    let mut d = base(ReportKind::RecursiveLocking, held);
    d.acquiring = Some(lock_line(new));
    d.holding = Some(lock_line(prev));
    push_unique(&mut d.class_names, new.class.display_name());
    d.same_instance = true;
    d.held_by = Some(holder);
    d.notes.push(note);
    let key = key_of((
        "held on this thread",
        new.class.id,
        new.read(),
        prev.class.id,
        prev.read(),
    ));
    finish(d, key)
}

/// One edge of a found dependency path, as the report needs it.
pub(crate) struct PathEdge {
    pub(crate) from: &'static ClassInfo,
    pub(crate) to: &'static ClassInfo,
    /// The dependency types that kept the path strong at this edge.
    pub(crate) step_types: String,
    /// Every dependency type the edge was recorded with.
    pub(crate) edge_types: String,
    /// Gates held at every occurrence of the edge.
    pub(crate) gates: Vec<u32>,
    pub(crate) origin: Arc<EdgeOrigin>,
}

/// Acquiring `new` while holding `prev` (dependency type `new_type`, gates `new_gates`)
/// closes the strong cycle `new -> path -> prev -> new`.
pub(crate) fn circular(
    held: &HeldLocks,
    prev: &HeldLock,
    new: &HeldLock,
    new_type: &str,
    new_gates: &[u32],
    path: &[PathEdge],
) -> (Report, u64) {
    let mut d = base(ReportKind::CircularDependency, held);
    let mut gates: Vec<u32> = new_gates.to_vec();
    d.acquiring = Some(lock_line(new));
    d.holding = Some(lock_line(prev));
    // Classes along the path: C0 = new ... CN = prev.
    let mut classes: Vec<&'static ClassInfo> = vec![new.class];
    let mut triples = vec![(prev.class.id, new.class.id, new_type.to_string())];
    let mut links = Vec::new();
    for e in path {
        triples.push((e.from.id, e.to.id, e.step_types.clone()));
        gates.retain(|g| e.gates.contains(g));
        let o = &e.origin;
        links.push(Link {
            class: e.to.display_name(),
            what: format!(
                "{} taken at {}:{} while holding {} (taken at {}:{}), {}; {}",
                e.to.display_name(),
                o.next_site.file(),
                o.next_site.line(),
                e.from.display_name(),
                o.prev_site.file(),
                o.prev_site.line(),
                recorder(&o.thread),
                edge_words(&e.edge_types, &e.from.display_name(), &e.to.display_name()),
            ),
            trace: o.trace.clone(),
        });
        classes.push(e.to);
    }
    links.reverse();
    links.push(Link {
        class: new.class.display_name(),
        what: format!(
            "{} being taken at {}:{} while holding {} (taken at {}:{}): this acquisition",
            new.class.display_name(),
            new.site.file(),
            new.site.line(),
            prev.class.display_name(),
            prev.site.file(),
            prev.site.line(),
        ),
        trace: d.stack.clone(),
    });
    d.chain = links;
    d.middle = Some(classes[classes.len().saturating_sub(2)].display_name());
    let mut seen = std::collections::HashSet::new();
    for c in &classes {
        if seen.insert(c.id) {
            d.class_names.push(c.display_name());
        }
    }
    let gate_classes: Vec<&'static ClassInfo> = gates
        .iter()
        .map(|&g| crate::class::class_by_id(g))
        .filter(|c| c.can_gate())
        .collect();
    d.gates = gate_classes.iter().map(|c| c.display_name()).collect();
    d.cycle = std::iter::once((
        prev.class.display_name(),
        new.class.display_name(),
        new_type.to_string(),
    ))
    .chain(path.iter().map(|e| {
        (
            e.from.display_name(),
            e.to.display_name(),
            e.step_types.clone(),
        )
    }))
    .collect();
    d.notes.extend(shared_names(&classes));
    // A class standing for several locks may join different ones into this cycle: say so,
    // and how to split it (most often a constructor helper or a derive made it one class).
    let mut hinted = std::collections::HashSet::new();
    for c in &classes {
        if c.many_locks() && hinted.insert(c.base().id) {
            if let Some((file, line, column)) = c.lock_site() {
                d.notes.push(super::site_hint::shared_class(
                    &c.display_name(),
                    (file, line, column),
                    c.made_by(),
                ));
            }
        }
    }
    let events: Vec<(String, Option<Site>)> = classes
        .iter()
        .filter(|c| c.event)
        .map(|c| (c.display_name(), c.key_site()))
        .collect();
    if !events.is_empty() {
        d.kind = ReportKind::CircularWait;
        d.notes.extend(event_notes(&d.cycle, &events));
    }
    triples.sort_unstable();
    let mut gate_ids: Vec<u32> = gate_classes.iter().map(|c| c.id).collect();
    gate_ids.sort_unstable();
    let key = key_of(("circular", triples, gate_ids));
    finish(d, key)
}

/// Notes for names that stand for several classes of one cycle (two locks `named("state")`
/// at two sites are two classes, shown alike): which is which. Names are compared without
/// their subclass (`state` at one site and `state/1` at another read as one class and its
/// subclass, and are two).
fn shared_names(classes: &[&'static ClassInfo]) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    // Hashed: a cycle may go through every class (100,000 in `tests/faults.rs`). Each class
    // once, by id: not by a scan of its name's list, quadratic when many classes of the cycle
    // share one name (static keys of one name made in a loop).
    let mut by_name: HashMap<&'static str, Vec<&'static ClassInfo>> = HashMap::new();
    // Per base class, the subclasses the cycle goes through (bit n: subclass n).
    let mut subclasses: HashMap<u32, u32> = HashMap::new();
    let mut seen = HashSet::new();
    for &c in classes {
        let base = c.base();
        *subclasses.entry(base.id).or_default() |= 1 << c.subclass;
        if seen.insert(base.id) {
            by_name.entry(base.name).or_default().push(base);
        }
    }
    let mut notes = Vec::new();
    for c in classes {
        let name = c.base().name;
        let Some(same) = by_name.remove(name) else {
            continue; // noted already
        };
        if same.len() > 1 {
            let which: Vec<String> = same
                .iter()
                .map(|b| {
                    let bits = subclasses.get(&b.id).copied().unwrap_or(1);
                    let shown: Vec<String> = (0..u32::BITS)
                        .filter(|n| bits & (1 << n) != 0)
                        .map(|n| match n {
                            0 => format!("`{name}`"),
                            n => format!("`{name}/{n}`"),
                        })
                        .collect();
                    let here = if bits == 1 {
                        String::new()
                    } else {
                        format!(", shown {}", shown.join(" and "))
                    };
                    format!("\n  - one {}{here}", b.origin())
                })
                .collect();
            notes.push(format!(
                "{name} names {} different classes in this cycle (give them different names \
                 to tell them apart):{}",
                same.len(),
                which.concat()
            ));
        }
    }
    notes
}

/// A dependency's types (`EN|SR`, see `Report::cycle`) in words: how `from` was held, and
/// how `to` was taken when that matters (as a recursive reader).
fn edge_words(types: &str, from: &str, to: &str) -> String {
    let tags: Vec<&str> = types.split('|').collect();
    let held = |c: char| tags.iter().any(|t| t.starts_with(c));
    let how = match (held('E'), held('S')) {
        (true, true) => "exclusively or shared",
        (false, true) => "shared",
        _ => "exclusively",
    };
    let recursive = tags.iter().all(|t| t.ends_with('R'));
    let taken = if recursive {
        format!(", {to} taken as a recursive reader")
    } else {
        String::new()
    };
    format!("{from} held {how}{taken}")
}

/// A source position: file, line, column.
type Site = (&'static str, u32, u32);

/// Explains a cycle through events: for each event, which lock its waiter holds and which
/// lock its signaller needs first (the cycle's edges into and out of the event).
fn event_notes(
    cycle: &[(String, String, String)],
    events: &[(String, Option<Site>)],
) -> Vec<String> {
    let mut notes = Vec::new();
    for (ev, site) in events {
        let held = cycle
            .iter()
            .find(|e| &e.1 == ev)
            .map(|e| e.0.as_str())
            .unwrap_or("?");
        let needed = cycle
            .iter()
            .find(|e| &e.0 == ev)
            .map(|e| e.1.as_str())
            .unwrap_or("?");
        notes.push(format!(
            "A thread waits for the event {ev} while holding {held}, and the thread that will\n\
             signal {ev} takes {needed} between arming it and signalling it: if the waiter still\n\
             holds what the signaller needs, the waiter is never woken."
        ));
        if ev.starts_with(super::THREAD_EXIT) {
            // Which threads: the exit events of one spawn site (and depth) are one class.
            let whose = site
                .map(|(file, line, column)| {
                    format!("{ev} is the exit of the threads spawned at {file}:{line}:{column}.\n")
                })
                .unwrap_or_default();
            notes.push(format!(
                "{whose}For a thread's exit, that span is the thread's whole life: a join is reported\n\
                 if the thread ever took {needed}. If it is known to be done with {needed} by\n\
                 the time of the join (it took it only before something the joiner waited for,\n\
                 such as a handshake), no deadlock can happen here, but nothing in the order\n\
                 says so: join after releasing {held}, and the order is gone."
            ));
        }
    }
    notes
}

/// `instance` (class `name`) is released at `site` but this thread does not hold it.
pub(crate) fn bad_unlock(
    held: &HeldLocks,
    name: String,
    instance: usize,
    site: Option<&'static Location<'static>>,
    class_site: &'static Location<'static>,
) -> (Report, u64) {
    let mut d = base(ReportKind::BadUnlockBalance, held);
    d.acquiring = Some(LockLine {
        class: name.clone(),
        read: 0,
        instance,
        site: class_site,
    });
    d.at = site;
    d.class_names.push(name.clone());
    let at = site.map(|s| (s.file(), s.line(), s.column()));
    finish(d, key_of(("unlock", name, at)))
}

/// `entry` is held by this thread while its lock is being dropped.
pub(crate) fn freed(held: &HeldLocks, entry: &HeldLock) -> (Report, u64) {
    let mut d = base(ReportKind::HeldLockFreed, held);
    d.acquiring = Some(lock_line(entry));
    d.class_names.push(entry.class.display_name());
    finish(
        d,
        key_of((
            "freed",
            entry.class.id,
            entry.site.file(),
            entry.site.line(),
            thread_label(),
        )),
    )
}

/// The lock `instance` of class `class` is being dropped while another thread or task holds
/// it (or held it and leaked it): this thread does not. Keyed by class and the freeing thread,
/// as [`freed`] is by class, site and thread.
#[track_caller]
pub(crate) fn freed_elsewhere(
    held: &HeldLocks,
    class: &'static ClassInfo,
    instance: usize,
) -> (Report, u64) {
    let mut d = base(ReportKind::HeldLockFreed, held);
    d.acquiring = Some(LockLine {
        class: class.display_name(),
        read: 0,
        instance,
        // (Not shown: where the holder took it is on the holder's stack.)
        site: Location::caller(),
    });
    d.held_by = Some("another thread or task".to_owned());
    d.class_names.push(class.display_name());
    d.notes.push(
        "It is not held by this thread: another thread or task took it and has not released \
         it (a guard forgotten or leaked there). Its holder forgets it at its next lock \
         operation."
            .to_owned(),
    );
    finish(d, key_of(("freed elsewhere", class.id, thread_label())))
}

/// `new` names a nest lock (class `nest_name`) that this thread does not hold.
pub(crate) fn nest_not_held(held: &HeldLocks, new: &HeldLock, nest_name: String) -> (Report, u64) {
    let mut d = base(ReportKind::NestLockNotHeld, held);
    d.acquiring = Some(lock_line(new));
    d.holding = Some(LockLine {
        class: nest_name.clone(),
        read: 0,
        instance: 0,
        site: new.site,
    });
    push_unique(&mut d.class_names, new.class.display_name());
    push_unique(&mut d.class_names, nest_name.clone());
    finish(
        d,
        key_of((
            "nest",
            new.class.id,
            nest_name,
            new.site.file(),
            new.site.line(),
        )),
    )
}

/// The thread is exiting with `held` still held.
pub(crate) fn held_at_exit(held: &HeldLocks) -> (Report, u64) {
    held_at_exit_where(held, &|_| true)
}

/// [`held_at_exit`], naming only the entries of `held` that match `leaked` (the others are
/// still held rightly: a local task's blocking guards that outlive it).
pub(crate) fn held_at_exit_where(
    held: &HeldLocks,
    leaked: &dyn Fn(&HeldLock) -> bool,
) -> (Report, u64) {
    let mut d = base(ReportKind::LocksHeldAtExit, held);
    d.stack = Trace::default();
    for h in held.stack.iter().filter(|h| leaked(h)) {
        push_unique(&mut d.class_names, h.class.display_name());
    }
    // One problem per set of leaked locks (classes and where they were taken), not per
    // thread: a thousand threads leaking the same guard are one report.
    let leaked: Vec<(u32, &str, u32)> = held
        .stack
        .iter()
        .filter(|h| leaked(h))
        .map(|h| (h.class.id, h.site.file(), h.site.line()))
        .collect();
    let key = key_of(("exit", leaked));
    finish(d, key)
}

/// The local task `task` (its label) ended on this thread, which is exiting, with the
/// blocking locks of `held` that match `leaked` still held (see
/// `validator::holder::leaked_by_ended_tasks`).
#[cfg(lockdep_tasks)]
pub(crate) fn task_held_at_exit(
    held: &HeldLocks,
    leaked: &dyn Fn(&HeldLock) -> bool,
    task: String,
) -> (Report, u64) {
    let (report, key) = held_at_exit_where(held, leaked);
    let mut d = (*report.0).clone();
    d.thread = format!("{task} on {}", super::os_thread_label());
    d.task = Some(task);
    d.notes.push(
        "The task ended on this thread with these blocking locks held, and no guard of them\n\
         was dropped before the thread exited: they were leaked. (A local task's blocking guards\n\
         may outlive it, in its output or handed to another holder of its thread, so its leaks\n\
         are reported when its thread exits.)"
            .to_string(),
    );
    finish(d, key)
}

/// A holder (`holder`: its label; `task`: the task part) is suspended at an `.await` while
/// `held` holds the blocking locks `blocking`; `waiting`: the async lock it is about to wait
/// for, when that is how it was found.
#[cfg(lockdep_tasks)]
pub(crate) fn held_across_await(
    held: &HeldLocks,
    blocking: &[&HeldLock],
    holder: String,
    task: Option<String>,
    waiting: Option<String>,
) -> (Report, u64) {
    let mut d = base(ReportKind::HeldAcrossAwait, held);
    d.thread = holder;
    d.task = task;
    d.acquiring = Some(lock_line(blocking[0]));
    for h in blocking {
        push_unique(&mut d.class_names, h.class.display_name());
    }
    if let Some(name) = waiting {
        d.notes.push(format!(
            "It is about to wait for the async lock ({name}), and every blocking lock above stays held\n\
             while it is suspended."
        ));
    }
    d.notes.push(
        "A blocking lock held while its holder is suspended blocks every other task that needs it\n\
         (and its worker thread) until the holder is polled again; on a current-thread runtime or a\n\
         LocalSet, a task of the same thread that takes it deadlocks (lockdep stops it with a panic).\n\
         Release it before the .await, or use an async lock (lockdep::tokio::Mutex)."
            .into(),
    );
    let sites: Vec<(u32, &str, u32)> = blocking
        .iter()
        .map(|h| (h.class.id, h.site.file(), h.site.line()))
        .collect();
    finish(d, key_of(("across await", sites)))
}

/// A subclass outside `0..=7` was asked for.
pub(crate) fn invalid_subclass(
    held: &HeldLocks,
    name: String,
    subclass: u8,
    site: &'static Location<'static>,
) -> (Report, u64) {
    let mut d = base(ReportKind::InvalidSubclass, held);
    d.acquiring = Some(LockLine {
        class: format!("{name}/{subclass}"),
        read: 0,
        instance: 0,
        site,
    });
    d.class_names.push(name.clone());
    d.notes.push(format!(
        "subclass {subclass} is out of range 0..=7; this acquisition is not validated."
    ));
    finish(
        d,
        key_of(("subclass", name, subclass, site.file(), site.line())),
    )
}

/// Taking `new` while holding `prev` (same class, another instance) reverses the instance
/// order `path` (`new ->* prev`); `gates`: held across every occurrence.
pub(crate) fn instance_inversion(
    held: &HeldLocks,
    prev: &HeldLock,
    new: &HeldLock,
    path: &[crate::instance_order::InstanceLink],
    gates: &[u32],
) -> (Report, u64) {
    let mut d = base(ReportKind::InstanceInversion, held);
    d.acquiring = Some(lock_line(new));
    d.holding = Some(lock_line(prev));
    push_unique(&mut d.class_names, new.class.display_name());
    push_unique(&mut d.class_names, prev.class.display_name());
    let name = |i: usize| format!("lock#{i}");
    let mut sites = vec![(prev.site, new.site)];
    for l in path {
        d.chain.push(Link {
            class: new.class.base().display_name(),
            what: format!(
                "{} taken at {}:{} while holding {} (taken at {}:{}), {}",
                name(l.inner),
                l.inner_site.file(),
                l.inner_site.line(),
                name(l.outer),
                l.outer_site.file(),
                l.outer_site.line(),
                recorder(&l.thread),
            ),
            trace: Trace::default(),
        });
        d.cycle.push((name(l.outer), name(l.inner), String::new()));
        sites.push((l.outer_site, l.inner_site));
    }
    // The order recorded is from the held entry's last instance (a nest-lock merged entry
    // holds several): the cycle starts there, so it is a closed walk.
    let from = name(prev.last_instance());
    d.cycle.insert(0, (from, name(new.instance), String::new()));
    d.gates = gates
        .iter()
        .map(|&g| crate::class::class_by_id(g))
        .filter(|c| c.can_gate())
        .map(|c| c.display_name())
        .collect();
    d.notes.push(format!(
        "Both locks are of class {base}, held together through {how}, so the class graph\n\
         cannot order them; their instances were taken in the opposite order before. Take\n\
         the locks of this class in one global order (by address, or by an id), as the\n\
         kernel's double_lock helpers do.",
        base = new.class.base().display_name(),
        how = if new.class.lenient {
            "a lenient class (its site cannot tell its locks apart)"
        } else if new.nest().is_some() {
            "a nest lock"
        } else {
            "a subclass annotation (lock_nested)"
        },
    ));
    let mut site_keys: Vec<(&str, u32, &str, u32)> = sites
        .iter()
        .map(|(a, b)| (a.file(), a.line(), b.file(), b.line()))
        .collect();
    site_keys.sort_unstable();
    let key = key_of(("instances", new.class.base().id, site_keys, d.gates.clone()));
    finish(d, key)
}

/// Who recorded an order, as a chain link names it: `thread main/1`, or a tokio task's label
/// (`task 12 (spawned at ..) on worker/2`: the task held the locks, not the thread).
fn recorder(label: &str) -> String {
    if label.starts_with("task ") {
        label.to_string()
    } else {
        format!("thread {label}")
    }
}
