//! The instance order: when two locks of one lock key (class and its subclasses) are held
//! together (not as recursive locking, which the class check reports), the class graph cannot
//! order them; lockdep records the order of the *instances* (`outer -> inner`), and an
//! acquisition that closes a cycle of instances that can really block is an
//! `InstanceInversion` (unless the cycle also goes round the class graph, whose check reports
//! it, or it is gated and gated cycles are ignored). It blocks unless some lock of it is taken
//! as a recursive reader where it is held shared (the kernel's strong-path rule, per lock).
//!
//! Which shortest path lockdep shows is its choice (its search order is a hash map's), so the
//! oracle keeps every shortest path's verdict and report identity.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::model::{Class, Inst, Rd};

/// One recorded order `outer -> inner`.
#[derive(Clone, Debug)]
pub struct Link {
    pub outer_class: Class,
    pub inner_class: Class,
    /// How the outer lock was held, how the inner one was taken.
    pub outer_rd: Rd,
    pub inner_rd: Rd,
    /// Where the outer entry was taken, where the inner lock was taken (harness call sites).
    pub sites: (u8, u8),
    /// The gate was held below the outer entry at every occurrence.
    pub gated: bool,
    /// Both were taken under one nest lock instance (this one), held exclusively, at every
    /// occurrence: it lets one thread at a time into the order.
    pub serialized_by: Option<Inst>,
}

/// A report's identity: the lock key (base class), the sorted call-site pairs of the cycle's
/// links, whether it is gated.
pub type Key = (u8, Vec<(u8, u8)>, bool);

#[derive(Clone, Default)]
pub struct Instances {
    pub links: BTreeMap<Inst, BTreeMap<Inst, Link>>,
}

impl Instances {
    /// Records `outer -> inner` (an existing order keeps the gate only if this one has it).
    pub fn insert(&mut self, outer: Inst, inner: Inst, link: Link) {
        self.links
            .entry(outer)
            .or_default()
            .entry(inner)
            .and_modify(|l| {
                l.gated &= link.gated;
                if l.serialized_by != link.serialized_by {
                    l.serialized_by = None;
                }
            })
            .or_insert(link);
    }

    /// Every shortest path `from ->* to`, as lists of orders. With `by` (the order being
    /// recorded is serialised by that nest lock instance), only paths with an order not
    /// serialised by it: a cycle all under one nest lock (held exclusively) cannot deadlock.
    pub fn shortest_paths(&self, from: Inst, to: Inst, by: Option<Inst>) -> Vec<Vec<(Inst, Inst)>> {
        // States: (instance, "an order not under `by` was passed"). Distances by breadth-first
        // search, then every way back along them.
        type State = (Inst, bool);
        let step = |(x, tainted): State, y: Inst| -> State {
            (y, tainted || self.links[&x][&y].serialized_by != by)
        };
        let start: State = (from, by.is_none());
        let goal: State = (to, true);
        let mut dist: BTreeMap<State, usize> = BTreeMap::from([(start, 0)]);
        let mut queue = VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            for &y in self.links.get(&x.0).into_iter().flat_map(BTreeMap::keys) {
                let next = step(x, y);
                if !dist.contains_key(&next) {
                    dist.insert(next, dist[&x] + 1);
                    queue.push_back(next);
                }
            }
        }
        let Some(&n) = dist.get(&goal) else {
            return Vec::new();
        };
        let mut paths: Vec<Vec<State>> = vec![vec![goal]];
        for d in (0..n).rev() {
            let mut next = Vec::new();
            for p in paths {
                let head = p[0];
                for (&state, &sd) in &dist {
                    if sd == d
                        && self
                            .links
                            .get(&state.0)
                            .is_some_and(|o| o.contains_key(&head.0))
                        && step(state, head.0) == head
                    {
                        let mut q = vec![state];
                        q.extend(&p);
                        next.push(q);
                    }
                }
            }
            paths = next;
        }
        paths
            .into_iter()
            .map(|p| p.windows(2).map(|w| (w[0].0, w[1].0)).collect())
            .collect()
    }
}

/// Does a cycle of these class edges (self-loops left out) exist?
pub fn class_cycle(edges: &[(Class, Class)]) -> bool {
    let edges: BTreeSet<(Class, Class)> = edges.iter().copied().filter(|(a, b)| a != b).collect();
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

/// Can the cycle `links` (each link's inner lock the next one's outer, round) deadlock? Every
/// lock of it must block the thread taking it: not a recursive reader where it is held shared.
pub fn blocks(links: &[&Link]) -> bool {
    (0..links.len()).all(|i| {
        let (taken, held) = (links[i], links[(i + 1) % links.len()]);
        !(taken.inner_rd == Rd::R2 && held.outer_rd != Rd::W)
    })
}
