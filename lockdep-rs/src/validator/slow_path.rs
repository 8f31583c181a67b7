//! The slow path: a chain nobody validated yet, checked against the dependency graph under
//! the graph lock (kernel `validate_chain`): the same-class check, then an edge from the top
//! held lock (and from the trylocked and recursively-read entries above the first plain one)
//! to the new lock, each after a strong-cycle search. Every distinct problem is reported, and
//! the chain is cached whatever was found, so a repeat is a cache hit.

use std::sync::Arc;

use crate::class::ClassInfo;
use crate::dependency_graph::{edge_type, type_names, EdgeOrigin, Gate, Graph, GRAPH};
use crate::held_locks::{HeldLock, Read};
use crate::report::build::{self, PathEdge};
use crate::report::{thread_label, Report};
use crate::thread_state::ThreadState;
use crate::trace::Trace;

impl ThreadState {
    /// Validates `new` on top of the held stack (chain `key` = `parent` + `last`) and caches
    /// the chain. Returns every problem found.
    pub(super) fn validate(
        &mut self,
        new: &HeldLock,
        key: u64,
        parent: u64,
        last: u64,
        recent: bool,
    ) -> Vec<(Report, u64)> {
        let mut graph = GRAPH.lock();
        let mut reports = self.replay_after_reset(&mut graph);
        let stack = &self.held.stack;
        match same_class(stack, new) {
            SameClass::Conflict(prev) => reports.push(build::recursive(
                &self.held, prev, new, false, false, false, false,
            )),
            SameClass::Clear | SameClass::Lenient => {
                add_edges(&mut graph, stack, new, &mut reports, &self.held)
            }
            SameClass::Exempt => {}
        }
        // Published after validation, under the graph lock; problems are reported once, so
        // the chain is cached whatever was found.
        let found = (!reports.is_empty()).then(|| reports.clone().into());
        self.chains
            .insert_validated(key, parent, last, recent, found);
        reports
    }

    /// After a `reset()` cleared the graph, the locks this thread still holds record their
    /// edges again (as if taken again, bottom to top), so a lock taken later keeps the
    /// dependencies its lower held locks imply.
    fn replay_after_reset(&mut self, graph: &mut Graph) -> Vec<(Report, u64)> {
        let mut reports = Vec::new();
        let epoch = graph.epoch();
        if self.held.graph_epoch == epoch {
            return reports;
        }
        self.held.graph_epoch = epoch;
        for i in 1..self.held.stack.len() {
            let (below, rest) = self.held.stack.split_at(i);
            let entry = &rest[0];
            let with_edges = matches!(
                same_class(below, entry),
                SameClass::Clear | SameClass::Lenient
            );
            if !entry.trylock() && with_edges {
                add_edges(graph, below, entry, &mut reports, &self.held);
            }
        }
        // (Under the graph lock, as every replay: `reset()` clears the instance orders
        // before the graph, so none replayed after its new epoch is wiped.)
        self.replay_instance_orders();
        reports
    }
}

/// How `new` relates to the held locks of its own class (kernel `check_deadlock`).
pub(super) enum SameClass<'a> {
    /// No held lock of its class stands in the way.
    Clear,
    /// Taking `new` while holding this entry is recursive locking.
    Conflict(&'a HeldLock),
    /// Another lock of its class is held, and that is allowed under the nest lock. The
    /// acquisition adds no class edges (as the kernel's nested lock; its order is checked per
    /// instance).
    Exempt,
    /// Another lock of its class is held, and that is allowed: a lenient class's distinct
    /// instance. Its order against that sibling is checked per instance, but the locks held
    /// above the sibling still get their edges to the class (`a`, `X`, `b` records
    /// `X -> class`, which with the `class -> X` of `a`, `X` is a cycle: a thread holding
    /// `b` that takes `X` deadlocks with it).
    Lenient,
}

/// The first held entry of `new`'s class decides: recursive readers may share a class with
/// readers; a nest lock held below it exempts `new`, and so does a lenient class (another
/// instance), with its edges. A nest lock `new` keeps that is on no entry of `stack` was
/// found held elsewhere (with the `tokio` feature: through the stack of a local task that
/// ended on this thread and left its guard to the caller, or an entry of the thread's own
/// stack a task pushed before the thread was marked): held below everything here.
pub(super) fn same_class<'a>(stack: &'a [HeldLock], new: &HeldLock) -> SameClass<'a> {
    let mut nest_seen = new
        .nest()
        .is_some_and(|n| !stack.iter().any(|h| h.holds(n.get())));
    for h in stack {
        if new.nest().is_some_and(|n| h.holds(n.get())) {
            nest_seen = true;
        }
        if !std::ptr::eq(h.class, new.class) {
            continue;
        }
        if new.read() == Read::Recursive && h.read() != Read::Exclusive {
            continue;
        }
        if nest_seen {
            return SameClass::Exempt;
        }
        if new.class.lenient && !h.holds(new.instance) {
            return SameClass::Lenient;
        }
        return SameClass::Conflict(h);
    }
    SameClass::Clear
}

/// Adds the edges `held -> new` (from the top entry down through trylocked and recursively
/// read entries; from every entry for a wait on an event), each after a strong-cycle search.
/// A held sibling of a lenient class (another instance of `new`'s class) gets no edge (its
/// order is per instance), but counts for where the walk stops.
fn add_edges(
    graph: &mut Graph,
    stack: &[HeldLock],
    new: &HeldLock,
    reports: &mut Vec<(Report, u64)>,
    held: &crate::held_locks::HeldLocks,
) {
    let mut trace: Option<Trace> = None;
    for (i, h) in stack.iter().enumerate().rev() {
        if new.class.lenient && std::ptr::eq(h.class, new.class) && !h.holds(new.instance) {
            if !new.class.event && !h.trylock() && h.read() != Read::Recursive {
                break;
            }
            continue;
        }
        let ty = edge_type(h.read(), new.read());
        let gates = gates_below(&stack[..i]);
        let path = if graph.surely_no_path(new.class.id, h.class.id) {
            None
        } else {
            graph.strong_path(
                new.class.id,
                new.read() == Read::Recursive,
                h.class.id,
                h.read(),
            )
        };
        if let Some(path) = path {
            let edges = path_edges(graph, new.class, &path);
            let found = build::circular(held, h, new, &type_names(ty), &gates, &edges);
            if found.0.gates().is_empty() || !crate::mode::ignoring_gated() {
                reports.push(found);
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
        if !new.class.event && !h.trylock() && h.read() != Read::Recursive {
            break;
        }
    }
}

/// The edges of a found path, as the report builder needs them.
fn path_edges(
    graph: &Graph,
    start: &'static ClassInfo,
    path: &[crate::dependency_graph::Step],
) -> Vec<PathEdge> {
    let mut from = start;
    path.iter()
        .map(|step| {
            let e = &graph.edges[step.edge as usize];
            let to = crate::class::class_by_id(e.to);
            let edge = PathEdge {
                from,
                to,
                step_types: type_names(step.types),
                edge_types: type_names(e.types),
                gates: e.gates.clone(),
                origin: Arc::clone(&e.origin),
            };
            from = to;
            edge
        })
        .collect()
}

/// Most gates kept per edge occurrence: the outermost ones (gates are outer locks, like a
/// subsystem's mutex). Keeping fewer only ever hides a gate, never invents one, and keeps an
/// edge's memory bounded however deep the stack is.
const MAX_GATES: usize = 16;

/// The exclusive lock instances in `below` that can serialise what is done above them (the
/// outermost [`MAX_GATES`] of them).
pub(super) fn gates_below(below: &[HeldLock]) -> Vec<Gate> {
    below
        .iter()
        .filter(|h| h.read() == Read::Exclusive && h.class.can_gate())
        .take(MAX_GATES)
        .map(|h| {
            h.class.note_gate_use();
            h.class.id
        })
        .collect()
}
