//! The class dependency graph and the strong-path search (the slow path's core).
//!
//! An edge `A -> B` means "B was acquired while A was held". Each edge keeps the set of
//! dependency types ever seen for that pair (kernel `lock_list::dep`): the first letter says how
//! A was held (E exclusive, S shared), the second how B was taken (R recursive reader, N
//! anything else). A cycle is a possible deadlock only if it is *strong*: it never enters a lock
//! through a `-(*R)->` edge and leaves it through a `-(S*)->` edge. The search tracks the state
//! (class, arrived-as-recursive-reader) rather than the class alone, so it finds every strong
//! path (the kernel marks classes visited before filtering, which can miss one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::held_locks::Read;
use crate::sync::internal::Mutex;
pub(crate) use crate::trace::EdgeOrigin;

/// Shared holder, recursive reader taken.
pub(crate) const SR: u8 = 1 << 0;
/// Exclusive holder, recursive reader taken.
pub(crate) const ER: u8 = 1 << 1;
/// Shared holder, non-recursive acquisition.
pub(crate) const SN: u8 = 1 << 2;
/// Exclusive holder, non-recursive acquisition.
pub(crate) const EN: u8 = 1 << 3;
const E_BITS: u8 = ER | EN;
const N_BITS: u8 = SN | EN;

/// The dependency type of "`next` taken in mode `next` while `prev` held in mode `prev`".
pub(crate) fn edge_type(prev: Read, next: Read) -> u8 {
    let e = !prev.is_shared() as u8;
    let n = (next != Read::Recursive) as u8;
    1 << (e + 2 * n)
}

/// Names a type mask, e.g. `EN` or `ER|SN`.
pub(crate) fn type_names(mask: u8) -> String {
    let names = [(SR, "SR"), (ER, "ER"), (SN, "SN"), (EN, "EN")];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join("|")
}

/// A lock held (exclusively) below both ends of an edge occurrence, by class: only classes
/// never seen with two live instances at once qualify, so the class stands for the instance
/// (and a gate lock dropped and re-created, never two alive together, stays one gate).
pub(crate) type Gate = u32;

/// One class-to-class dependency.
pub(crate) struct Edge {
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) types: u8,
    /// Gates held at every validated occurrence of this edge (the intersection).
    pub(crate) gates: Vec<Gate>,
    pub(crate) origin: Arc<EdgeOrigin>,
}

/// One step of a found path: the edge and the types that kept the path strong.
#[derive(Clone, Copy)]
pub(crate) struct Step {
    pub(crate) edge: u32,
    pub(crate) types: u8,
}

#[derive(Clone, Copy)]
struct Visit {
    class: u32,
    only_recursive: bool,
    parent: u32,
    via: Step,
}

/// The global dependency graph.
#[derive(Default)]
pub(crate) struct Graph {
    out: Vec<Vec<u32>>,
    pub(crate) edges: Vec<Edge>,
    index: HashMap<(u32, u32), u32>,
    /// Per class and arrival state, the search stamp that last visited it.
    visited: Vec<[u32; 2]>,
    stamp: u32,
    /// A topological order of the classes (Pearce-Kelly), valid while `cyclic` is false: an
    /// edge `new -> held` cannot close a cycle when `ord[new] > ord[held]`.
    ord: Vec<u32>,
    next_ord: u32,
    /// In-edges (edge indices) per class, for the order repair.
    inn: Vec<Vec<u32>>,
    cyclic: bool,
}

/// The graph, behind the validator's one slow-path lock.
pub(crate) static GRAPH: Mutex<Graph> = Mutex::new();

/// Bumped each time the graph is cleared (`reset()`): a thread that still holds locks then
/// records their edges again before its next validation.
static EPOCH: AtomicU64 = AtomicU64::new(0);

impl Graph {
    fn grow(&mut self, class: u32) {
        let need = class as usize + 1;
        if self.out.len() < need {
            self.out.resize_with(need, Vec::new);
            self.visited.resize(need, [0, 0]);
            self.inn.resize_with(need, Vec::new);
            while self.ord.len() < need {
                self.ord.push(self.next_ord);
                self.next_ord += 1;
            }
        }
    }

    /// True if no path `start ->* target` can exist (the topological order says so).
    pub(crate) fn surely_no_path(&mut self, start: u32, target: u32) -> bool {
        self.grow(start.max(target));
        !self.cyclic && self.ord[start as usize] > self.ord[target as usize]
    }

    fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.visited.iter_mut().for_each(|v| *v = [0, 0]);
            self.stamp = 1;
        }
        self.stamp
    }

    /// Pearce-Kelly repair of the order after adding `from -> to` with
    /// ord[from] > ord[to]; gives up the order (cyclic) if the edge closes any cycle.
    fn repair_order(&mut self, from: u32, to: u32) {
        let (lb, ub) = (self.ord[to as usize], self.ord[from as usize]);
        let sf = self.next_stamp();
        let mut fwd = vec![to];
        self.visited[to as usize][0] = sf;
        let mut i = 0;
        while i < fwd.len() {
            let n = fwd[i];
            i += 1;
            for &e in &self.out[n as usize] {
                let w = self.edges[e as usize].to;
                if w == from {
                    self.cyclic = true;
                    return;
                }
                if self.ord[w as usize] < ub && self.visited[w as usize][0] != sf {
                    self.visited[w as usize][0] = sf;
                    fwd.push(w);
                }
            }
        }
        let sb = self.next_stamp();
        let mut bwd = vec![from];
        self.visited[from as usize][1] = sb;
        let mut i = 0;
        while i < bwd.len() {
            let n = bwd[i];
            i += 1;
            for &e in &self.inn[n as usize] {
                let w = self.edges[e as usize].from;
                if self.ord[w as usize] > lb && self.visited[w as usize][1] != sb {
                    self.visited[w as usize][1] = sb;
                    bwd.push(w);
                }
            }
        }
        let ord = &self.ord;
        fwd.sort_unstable_by_key(|&c| ord[c as usize]);
        bwd.sort_unstable_by_key(|&c| ord[c as usize]);
        let mut pool: Vec<u32> = bwd
            .iter()
            .chain(fwd.iter())
            .map(|&c| ord[c as usize])
            .collect();
        pool.sort_unstable();
        for (c, o) in bwd.into_iter().chain(fwd).zip(pool) {
            self.ord[c as usize] = o;
        }
    }

    /// Records type `ty` on `from -> to`; `origin` is built only for a new edge.
    /// Returns true if the edge is new.
    pub(crate) fn add(
        &mut self,
        from: u32,
        to: u32,
        ty: u8,
        gates: &[Gate],
        origin: impl FnOnce() -> EdgeOrigin,
    ) -> bool {
        self.grow(from.max(to));
        if let Some(&i) = self.index.get(&(from, to)) {
            let e = &mut self.edges[i as usize];
            e.types |= ty;
            e.gates.retain(|g| gates.contains(g));
            return false;
        }
        let i = self.edges.len() as u32;
        self.edges.push(Edge {
            from,
            to,
            types: ty,
            gates: gates.to_vec(),
            origin: Arc::new(origin()),
        });
        self.index.insert((from, to), i);
        self.out[from as usize].push(i);
        self.inn[to as usize].push(i);
        if !self.cyclic && self.ord[from as usize] >= self.ord[to as usize] {
            if from == to {
                self.cyclic = true;
            } else {
                self.repair_order(from, to);
            }
        }
        true
    }

    /// Breadth-first search for a strong path from `start` (taken as a recursive reader if
    /// `start_recursive`) to `target` that closes a strong cycle with an edge
    /// `target -> start`, where `target` is held in mode `target_read`. Returns the steps
    /// from `start` to `target` (empty if `start == target` already matches).
    pub(crate) fn strong_path(
        &mut self,
        start: u32,
        start_recursive: bool,
        target: u32,
        target_read: Read,
    ) -> Option<Vec<Step>> {
        self.grow(start.max(target));
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.visited.iter_mut().for_each(|v| *v = [0, 0]);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        let matches = |class: u32, only_recursive: bool| {
            class == target && (target_read == Read::Exclusive || !only_recursive)
        };
        let root = Visit {
            class: start,
            only_recursive: start_recursive,
            parent: u32::MAX,
            via: Step { edge: 0, types: 0 },
        };
        self.visited[start as usize][start_recursive as usize] = stamp;
        let mut visits = vec![root];
        let mut head = 0;
        while head < visits.len() {
            let cur = visits[head];
            if matches(cur.class, cur.only_recursive) {
                return Some(path_to(&visits, head));
            }
            for &e in &self.out[cur.class as usize] {
                let edge = &self.edges[e as usize];
                let mut allowed = edge.types;
                if cur.only_recursive {
                    allowed &= E_BITS;
                }
                if allowed == 0 {
                    continue;
                }
                let only_recursive = allowed & N_BITS == 0;
                let seen = self.visited[edge.to as usize];
                // Arriving non-recursively dominates arriving as a recursive reader.
                if seen[0] == stamp || (only_recursive && seen[1] == stamp) {
                    continue;
                }
                self.visited[edge.to as usize][only_recursive as usize] = stamp;
                visits.push(Visit {
                    class: edge.to,
                    only_recursive,
                    parent: head as u32,
                    via: Step {
                        edge: e,
                        types: allowed,
                    },
                });
            }
            head += 1;
        }
        None
    }

    /// Number of classes with a node, and of edges.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.out.len(), self.edges.len())
    }

    /// Every edge, for rendering the whole graph.
    pub(crate) fn all_edges(&self) -> &[Edge] {
        &self.edges
    }

    pub(crate) fn clear(&mut self) {
        *self = Graph::default();
        EPOCH.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times the graph was cleared (read under the graph lock).
    pub(crate) fn epoch(&self) -> u64 {
        current_epoch()
    }
}

/// How many times the graph was cleared (a new thread starts in the current epoch: it held
/// nothing across a clear).
#[inline]
pub(crate) fn current_epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

fn path_to(visits: &[Visit], mut i: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    while visits[i].parent != u32::MAX {
        steps.push(visits[i].via);
        i = visits[i].parent as usize;
    }
    steps.reverse();
    steps
}
