//! The validator's process-wide controls: reports, capture, reset, hook and statistics.
//! Each is a no-op (or empty) when validation is compiled out.

use crate::report::Report;

/// Is validation compiled into this build? True with the `enabled` feature, or in a build with
/// debug assertions (`cargo test`, `cargo run`) unless the `disabled` feature is on; false in
/// release builds. When false every lock is its parking_lot twin and nothing is checked.
pub const VALIDATION_COMPILED_IN: bool = cfg!(lockdep_enabled);

/// Is the validator checking acquisitions right now? False when validation is compiled out
/// (a release build without the `enabled` feature, or the `disabled` feature) or the mode is [`Mode::Off`](crate::Mode::Off).
pub fn is_validating() -> bool {
    cfg!(lockdep_enabled) && crate::mode::mode() != crate::mode::Mode::Off
}

/// Drains every report kept so far, oldest first (reports raised inside [`capture`] are not
/// kept here).
pub fn take_reports() -> Vec<Report> {
    #[cfg(lockdep_enabled)]
    {
        // (Not under loom: `take_reports` is called outside the model too, where loom's
        // thread-locals cannot be reached; deferred reports come at the next validation.)
        #[cfg(not(loom))]
        crate::validator::deliver_deferred();
        crate::report::sink::take()
    }
    #[cfg(not(lockdep_enabled))]
    Vec::new()
}

/// Forgets every class's edges, every validated chain, every kept report and which problems
/// were already reported, and the calling thread's held locks. Classes stay registered. Meant
/// for single-threaded harnesses (and the start of each loom iteration): other threads' held
/// locks are not touched. A lock the calling thread held across it may still be released: the
/// guard's drop (or a [`LockMap`](crate::LockMap)'s `release()`, once per acquisition
/// forgotten) records nothing and reports nothing.
pub fn reset() {
    #[cfg(lockdep_enabled)]
    {
        // Instance orders first: a thread holding locks replays both once it sees the
        // graph's new epoch (see `validator/slow_path.rs`), which must not be wiped after.
        crate::instance_order::clear();
        crate::dependency_graph::GRAPH.lock().clear();
        crate::chain_cache::clear();
        crate::report::sink::clear();
        crate::validator::forget_held();
    }
}

/// Runs `f` and returns the reports raised on this thread meanwhile. They are not printed,
/// panicked on, passed to the hook or kept for [`take_reports`]; each distinct problem
/// appears once per capture, even if it was reported before elsewhere. Captures nest.
/// Threads started in `f` through [`thread`](crate::thread) report into it too while it runs;
/// what they find after it returned is reported as if not captured. If `f` panics, the
/// reports taken so far are delivered as if not captured (to an enclosing capture, or
/// printed and kept, failing the run): nothing is lost. Except when the panic is lockdep's
/// own stop of a certain self-deadlock (re-locking a lock this thread holds): its message is
/// the report, which goes with the panic to whoever catches it, so a `#[should_panic]` test
/// that expects it wraps its body in `capture` and passes without failing the run.
///
/// This makes tests that run in parallel independent: each sees only its own reports.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    #[cfg(lockdep_enabled)]
    // Problems found while this thread released locks belong to this capture too.
    return crate::report::capture::capture(f, crate::validator::deliver_deferred);
    #[cfg(not(lockdep_enabled))]
    (f(), Vec::new())
}

/// Sets (or with `None` removes) a hook called for each new report that no [`capture`]
/// takes, before the mode acts (print, panic). It runs on the thread that found the problem,
/// with no validator lock held, so it may itself take lockdep locks; a panic in it is
/// contained and printed.
#[allow(clippy::type_complexity)] // the exact signature of the API contract
pub fn set_report_hook(hook: Option<Box<dyn Fn(&Report) + Send + Sync>>) {
    #[cfg(lockdep_enabled)]
    crate::report::sink::set_hook(hook);
    #[cfg(not(lockdep_enabled))]
    drop(hook);
}

/// Counters of the validator's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lock classes registered (each subclass counts).
    pub classes: usize,
    /// Class-to-class dependencies recorded.
    pub edges: usize,
    /// Distinct chains validated.
    pub chains: usize,
    /// Acquisitions answered by the chain cache.
    pub cache_hits: u64,
    /// Acquisitions whose chain the cache did not know (validated on the graph).
    pub cache_misses: u64,
    /// The part of `cache_hits` recorded by the fast path (a chain this thread validated
    /// recently, recorded on thread-local memory only); the others took the slow path to a
    /// cached answer (a chain new to this thread, a nest lock or a trylock, or the fast path
    /// closed: with the `tokio` feature, while a local task suspended on the thread holds a
    /// blocking lock).
    pub fast_path_hits: u64,
    /// Orders recorded between locks of one class held together (instance pairs; forgotten
    /// when a lock is dropped).
    pub instance_orders: usize,
    /// Problems counted against the run: printed (`Warn` mode) and not taken with
    /// [`take_reports`] since (and an unknown `LOCKDEP` value). If any are left when the
    /// process exits, it fails (status 101) with their summary.
    pub failing: usize,
}

impl Stats {
    /// Fraction of cached acquisitions (0 when nothing was counted).
    pub fn hit_rate(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 {
            0.0
        } else {
            self.cache_hits as f64 / total as f64
        }
    }
}

/// Current counters. Hits are counted per thread: the calling thread's are added up now,
/// other threads' when they next miss.
pub fn stats() -> Stats {
    #[cfg(lockdep_enabled)]
    {
        crate::validator::flush_hits();
        let (chains, cache_hits, cache_misses, fast_path_hits) = crate::chain_cache::stats();
        let edges = crate::dependency_graph::GRAPH.lock().size().1;
        Stats {
            classes: crate::class::class_count(),
            edges,
            chains,
            cache_hits,
            cache_misses,
            fast_path_hits,
            instance_orders: crate::instance_order::len(),
            failing: crate::report::exit_status::failing(),
        }
    }
    #[cfg(not(lockdep_enabled))]
    Stats::default()
}

/// The whole class dependency graph in Graphviz DOT (classes as boxes, events as diamonds,
/// edges labelled with their dependency types, gated edges dashed). For one report's cycle,
/// see [`Report::dot`]. Empty when validation is compiled out.
pub fn graph_dot() -> String {
    #[cfg(lockdep_enabled)]
    {
        use crate::report::dot::{GraphEdge, Node};
        let (nodes, edges) = {
            let graph = crate::dependency_graph::GRAPH.lock();
            let mut index = std::collections::BTreeMap::new();
            for e in graph.all_edges() {
                index.insert(e.from, 0);
                index.insert(e.to, 0);
            }
            for (i, slot) in index.values_mut().enumerate() {
                *slot = i;
            }
            let edges: Vec<GraphEdge> = graph
                .all_edges()
                .iter()
                .map(|e| GraphEdge {
                    from: index[&e.from],
                    to: index[&e.to],
                    types: crate::dependency_graph::type_names(e.types),
                    gated: !e.gates.is_empty(),
                })
                .collect();
            (index, edges)
        };
        // Class names are looked up after the graph lock is released.
        let nodes: Vec<Node> = nodes
            .keys()
            .map(|&id| {
                let c = crate::class::class_by_id(id);
                Node {
                    name: c.display_name(),
                    event: c.event,
                }
            })
            .collect();
        crate::report::dot::graph(&nodes, &edges)
    }
    #[cfg(not(lockdep_enabled))]
    String::from("digraph lockdep {}\n")
}

/// With `true`, cycles whose every edge was recorded under one gate lock instance (see
/// [`Report::gates`]) are not reported. They are reported again, ungated, if the gate is ever
/// missing from an occurrence of one of their edges, and again after `set_ignore_gated(false)`
/// the next time their chain is taken. Also `LOCKDEP_GATED=ignore`.
pub fn set_ignore_gated(ignore: bool) {
    let was = crate::mode::set_ignoring_gated(ignore);
    #[cfg(lockdep_enabled)]
    if was && !ignore {
        // Chains validated while ignoring hid their gated cycles: validate them again.
        crate::chain_cache::clear();
    }
    #[cfg(not(lockdep_enabled))]
    let _ = was;
}
