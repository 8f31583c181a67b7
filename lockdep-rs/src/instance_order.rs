//! Instance order: when two locks of one class are held together — nested through a subclass
//! (`lock_nested`), a nest lock, or a lenient class (built by `Default`, or any site under the
//! lenient policy) — the class graph cannot see their order, since both ends are one class.
//! This graph records it per *instance*: an edge `x -> y` means "instance `y` was taken while
//! instance `x`, of the same class, was held". An acquisition that closes a cycle here is two
//! threads away from a deadlock the class check misses (`transfer(a, b)` and `transfer(b, a)`
//! in code that does not sort its locks); code that always takes such locks in one global
//! order (by address, by id) never closes one.
//!
//! Memory is bounded by the live locks: a lock's edges go when the lock is dropped.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::held_locks::{Instance, Read};
use crate::sync::internal::Mutex;

/// A class id held as a gate below an occurrence (see `dependency_graph::Gate`).
pub(crate) type Gate = u32;

/// One recorded order `outer -> inner`.
#[derive(Clone)]
pub(crate) struct InstanceLink {
    pub(crate) outer: Instance,
    pub(crate) inner: Instance,
    /// The classes they were taken as (ids): different subclasses of one lock key, or one
    /// class for a nest-lock or lenient exemption.
    pub(crate) outer_class: u32,
    pub(crate) inner_class: u32,
    /// How the outer lock was held, and how the inner one was taken.
    pub(crate) outer_read: Read,
    pub(crate) inner_read: Read,
    /// Where the outer lock had been taken, and where the inner one was taken.
    pub(crate) outer_site: &'static Location<'static>,
    pub(crate) inner_site: &'static Location<'static>,
    pub(crate) thread: String,
    /// Gates held at every occurrence of this order (the intersection).
    pub(crate) gates: Vec<Gate>,
    /// The nest lock instance both were taken under (`lock_nest_lock` with one nest lock) at
    /// every occurrence of this order, if any, and how it was held when the inner lock was
    /// taken (the weakest way of all occurrences): two orders whose takers cannot hold it at
    /// once cannot wait in one cycle (see `path`).
    pub(crate) under: Option<NestHold>,
}

/// How a thread held a nest lock while it took a lock under it (weakest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Hold {
    /// Shared (a read guard): other readers, and the upgradable reader, may hold it too.
    Shared,
    /// As the lock's one upgradable reader: readers may hold it too, but no writer and no
    /// other upgradable reader.
    Upgradable,
    /// Exclusively: nobody else holds it meanwhile.
    Exclusive,
}

impl Hold {
    /// Can two threads hold one lock at once, one as `self` and the other as `other`? Only
    /// if one is a reader and the other a reader or the upgradable reader.
    fn beside(self, other: Hold) -> bool {
        matches!(
            (self, other),
            (Hold::Shared, Hold::Shared | Hold::Upgradable) | (Hold::Upgradable, Hold::Shared)
        )
    }

    /// The holds of a cycle's orders so far, summed up by the strongest (`self`), with one
    /// more (`next`): their strongest, or `None` if two of them exclude each other (then
    /// those orders cannot all wait at once: no deadlock through them). The strongest
    /// stands for all: a hold beside it is beside the weaker ones too.
    fn join(self, next: Hold) -> Option<Hold> {
        self.beside(next).then(|| self.max(next))
    }
}

/// An order's nest lock and how it was held (see [`InstanceLink::under`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NestHold {
    pub(crate) nest: Instance,
    pub(crate) hold: Hold,
}

impl NestHold {
    /// Two occurrences of one order: under one nest lock only if both were, held the weaker
    /// way of the two.
    fn meet(a: Option<NestHold>, b: Option<NestHold>) -> Option<NestHold> {
        match (a, b) {
            (Some(a), Some(b)) if a.nest == b.nest => Some(NestHold {
                nest: a.nest,
                hold: a.hold.min(b.hold),
            }),
            _ => None,
        }
    }
}

#[derive(Default)]
struct InstanceGraph {
    out: HashMap<Instance, HashMap<Instance, InstanceLink>>,
    inn: HashMap<Instance, HashSet<Instance>>,
}

static GRAPH: Mutex<InstanceGraph> = Mutex::new();

/// How many instances have edges (lets a dropped lock skip the graph when it is empty).
static TRACKED: AtomicUsize = AtomicUsize::new(0);

/// Records `link` (taking `link.inner` while holding `link.outer`). If the graph already had a
/// path `inner ->* outer`, returns it: with `link`, a cycle of instances.
pub(crate) fn record(link: InstanceLink) -> Option<Vec<InstanceLink>> {
    let mut g = GRAPH.lock();
    let found = g.path(link.inner, link.outer, link.under);
    g.insert(link);
    found
}

/// Does the cycle of `links` (with the closing `link`) go round the *class* graph too? Then
/// the class check reports it (its class edges were recorded: distinct subclasses), and the
/// instance report would repeat it. Links within one class (exempt: nest lock, lenient
/// class) are no class edges.
pub(crate) fn seen_by_classes(link: &InstanceLink, path: &[InstanceLink]) -> bool {
    let edges: Vec<(u32, u32)> = std::iter::once(link)
        .chain(path)
        .map(|l| (l.outer_class, l.inner_class))
        .filter(|(a, b)| a != b)
        .collect();
    // A cycle among at most a handful of classes: follow edges from each start.
    edges.iter().any(|&(start, first)| {
        let mut seen = vec![first];
        let mut i = 0;
        while i < seen.len() {
            let c = seen[i];
            if c == start {
                return true;
            }
            for &(a, b) in &edges {
                if a == c && !seen.contains(&b) {
                    seen.push(b);
                }
            }
            i += 1;
        }
        false
    })
}

/// Can the cycle of `link` then `path` (back to `link.outer`) really deadlock? The kernel's
/// strong-path rule, per lock of the cycle: the thread that takes it is blocked by the thread
/// that holds it unless it takes it as a recursive reader while the holder holds it shared
/// (a recursive reader waits only for a writer that holds the lock; a non-recursive reader
/// also waits behind a writer that is waiting).
pub(crate) fn blocks(link: &InstanceLink, path: &[InstanceLink]) -> bool {
    let cycle: Vec<&InstanceLink> = std::iter::once(link).chain(path).collect();
    (0..cycle.len()).all(|i| {
        let (taken, held) = (cycle[i], cycle[(i + 1) % cycle.len()]);
        !(taken.inner_read == Read::Recursive && held.outer_read != Read::Exclusive)
    })
}

/// Forgets every order involving `instance` (its lock is being dropped).
pub(crate) fn forget(instance: Instance) {
    if TRACKED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut g = GRAPH.lock();
    if let Some(targets) = g.out.remove(&instance) {
        for t in targets.keys() {
            g.unlink_in(*t, instance);
        }
        TRACKED.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(sources) = g.inn.remove(&instance) {
        for s in sources {
            if let Some(outs) = g.out.get_mut(&s) {
                outs.remove(&instance);
                if outs.is_empty() {
                    g.out.remove(&s);
                    TRACKED.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Forgets every order (`reset()`).
pub(crate) fn clear() {
    let mut g = GRAPH.lock();
    *g = InstanceGraph::default();
    TRACKED.store(0, Ordering::Relaxed);
}

/// How many orders are recorded (for tests of the memory bound).
pub(crate) fn len() -> usize {
    GRAPH.lock().out.values().map(HashMap::len).sum()
}

impl InstanceGraph {
    fn insert(&mut self, link: InstanceLink) {
        let (outer, inner) = (link.outer, link.inner);
        let outs = self.out.entry(outer).or_insert_with(|| {
            TRACKED.fetch_add(1, Ordering::Relaxed);
            HashMap::new()
        });
        match outs.get_mut(&inner) {
            Some(existing) => {
                existing.gates.retain(|g| link.gates.contains(g));
                existing.under = NestHold::meet(existing.under, link.under);
            }
            None => {
                outs.insert(inner, link);
                self.inn.entry(inner).or_default().insert(outer);
            }
        }
    }

    fn unlink_in(&mut self, target: Instance, source: Instance) {
        if let Some(sources) = self.inn.get_mut(&target) {
            sources.remove(&source);
            if sources.is_empty() {
                self.inn.remove(&target);
            }
        }
    }

    /// A shortest path `from ->* to`, as its links, that can close a deadlock with the order
    /// being recorded (`to -> from`, taken `under` a nest lock, if any). Each order of a
    /// deadlock's cycle is waited on at once, by its own thread, holding the nest lock as the
    /// order says; so a path with an order under the same nest lock held in a way that
    /// excludes another order's hold of it (two writers, a writer and a reader) cannot close
    /// one: a cycle all under one nest lock held exclusively lets one thread in at a time. (A
    /// breadth-first search over (instance, strongest hold of the nest lock so far) states;
    /// without a nest lock, over instances.)
    fn path(
        &self,
        from: Instance,
        to: Instance,
        under: Option<NestHold>,
    ) -> Option<Vec<InstanceLink>> {
        type State = (Instance, Hold);
        let start: State = (from, under.map_or(Hold::Shared, |u| u.hold));
        let mut parent: HashMap<State, State> = HashMap::from([(start, start)]);
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            if x.0 == to {
                return Some(self.links_back(&parent, start, x));
            }
            for (&y, link) in self.out.get(&x.0).into_iter().flatten() {
                let Some(next) = step(x, y, link, under) else {
                    continue; // this order excludes one of the cycle's: no deadlock that way
                };
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(next) {
                    e.insert(x);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The links of the search's path from `start` to `goal` (`parent`: each state's
    /// predecessor).
    fn links_back(
        &self,
        parent: &HashMap<(Instance, Hold), (Instance, Hold)>,
        start: (Instance, Hold),
        goal: (Instance, Hold),
    ) -> Vec<InstanceLink> {
        let mut links = Vec::new();
        let mut cur = goal;
        while cur != start {
            let prev = parent[&cur];
            links.push(self.out[&prev.0][&cur.0].clone());
            cur = prev;
        }
        links.reverse();
        links
    }
}

/// The search's step from state `x` along `link` (to `y`): the strongest hold of the cycle's
/// nest lock (`under`) grows with the link's hold of the same nest lock; `None` if the two
/// exclude each other. Orders under another nest lock, or none, leave it as it is.
fn step(
    x: (Instance, Hold),
    y: Instance,
    link: &InstanceLink,
    under: Option<NestHold>,
) -> Option<(Instance, Hold)> {
    match (under, link.under) {
        (Some(u), Some(l)) if u.nest == l.nest => Some((y, x.1.join(l.hold)?)),
        _ => Some((y, x.1)),
    }
}
