//! The oracle's dependency graph and its searches: is there a strong cycle, a gated one, an
//! ungated one. Exhaustive breadth-first searches over the states `(class, arrived through a
//! -(*R)-> edge, ...)`: small graphs, no pruning beyond a state seen twice.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::model::{Class, Rd};

/// One dependency type: how the source was held (shared?), how the target was taken
/// (recursive reader?). ER = (false, true), EN = (false, false), SR, SN likewise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DepType {
    pub from_shared: bool,
    pub to_recursive: bool,
}

impl DepType {
    pub fn of(prev: Rd, next: Rd) -> DepType {
        DepType {
            from_shared: prev.shared(),
            to_recursive: next == Rd::R2,
        }
    }
    pub fn name(self) -> &'static str {
        match (self.from_shared, self.to_recursive) {
            (false, false) => "EN",
            (false, true) => "ER",
            (true, false) => "SN",
            (true, true) => "SR",
        }
    }
}

/// Every edge with every type it was recorded with.
pub type Edges = BTreeMap<(Class, Class), BTreeSet<DepType>>;

/// Per edge: was the gate class held (exclusively, below the edge's source) at every
/// validated occurrence of the edge?
pub type Gates = BTreeMap<(Class, Class), bool>;

/// Is there a strong walk `next -> ... -> prev` closing a strong cycle with the new edge
/// `prev -> next` (`next` taken in mode `next_rd`, `prev` held in mode `prev_rd`)?
///
/// Joints: entering a class through a `*R` edge and leaving it through an `S*` edge is weak.
/// At `next` the entering edge is the new one (`*R` iff `next_rd` is a recursive read); at
/// `prev` the leaving edge is the new one (`S*` iff `prev` is held shared).
pub fn strong_cycle(edges: &Edges, next: Class, next_rd: Rd, prev: Class, prev_rd: Rd) -> bool {
    cycles(edges, &Gates::new(), next, next_rd, prev, prev_rd, false).0
}

/// Is there a strong cycle closed by `prev -> next` (see [`strong_cycle`]), and is there one
/// that is not gated (`closing_gated`: the closing edge is; a cycle is gated if every edge
/// is)? A walk stops at its first strong arrival at `prev`, as lockdep's search does.
pub fn cycles(
    edges: &Edges,
    gates: &Gates,
    next: Class,
    next_rd: Rd,
    prev: Class,
    prev_rd: Rd,
    closing_gated: bool,
) -> (bool, bool) {
    // States (class, arrived recursive, every edge so far gated).
    let start = (next, next_rd == Rd::R2, closing_gated);
    let mut seen = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    let (mut any, mut ungated) = (false, false);
    while let Some((at, rec, all_gated)) = queue.pop_front() {
        if at == prev && !(rec && prev_rd.shared()) {
            any = true;
            ungated |= !all_gated;
            continue;
        }
        let lo = (at, Class { base: 0, sub: 0 });
        for (&(from, to), types) in edges.range(lo..) {
            if from != at {
                break;
            }
            let g = all_gated && gates.get(&(from, to)) == Some(&true);
            for t in types {
                if rec && t.from_shared {
                    continue; // -(*R)-> then -(S*)->: weak joint
                }
                let s = (to, t.to_recursive, g);
                if seen.insert(s) {
                    queue.push_back(s);
                }
            }
        }
    }
    (any, ungated)
}

/// Is there a strong cycle through gated edges only?
pub fn gated_cycle(
    edges: &Edges,
    gates: &Gates,
    next: Class,
    next_rd: Rd,
    prev: Class,
    prev_rd: Rd,
) -> bool {
    let only_gated: Edges = edges
        .iter()
        .filter(|(k, _)| gates.get(k) == Some(&true))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    strong_cycle(&only_gated, next, next_rd, prev, prev_rd)
}
