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
    /// Both were taken under one nest lock instance (this one) at every occurrence, and how
    /// it was held while the inner lock was taken (the weakest way of all occurrences).
    pub under: Option<(Inst, Hold)>,
}

/// How a nest lock was held while a lock was taken under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hold {
    /// By a read guard: other readers may hold it too.
    Shared,
    /// By a write guard or a mutex guard: nobody else holds it.
    Exclusive,
}

impl Hold {
    /// Can two threads hold one lock at once, this way and `other`?
    pub fn beside(self, other: Hold) -> bool {
        self == Hold::Shared && other == Hold::Shared
    }
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
                l.under = match (l.under, link.under) {
                    (Some((n, a)), Some((m, b))) if n == m => Some((n, a.min(b))),
                    _ => None,
                };
            })
            .or_insert(link);
    }

    /// Every shortest path `from ->* to`, as lists of orders, that can close a deadlock with
    /// the order being recorded (`to -> from`, taken `under` a nest lock held some way): every
    /// order of the cycle is waited on at once, each by its thread holding the nest lock as
    /// the order says, so no two of them may be under that nest lock held in ways that
    /// exclude each other (two writers, a writer and a reader).
    pub fn shortest_paths(
        &self,
        from: Inst,
        to: Inst,
        under: Option<(Inst, Hold)>,
    ) -> Vec<Vec<(Inst, Inst)>> {
        // States: (instance, the ways the nest lock `under` is held by the cycle's orders so
        // far, each beside every other: a set, since a way held twice is beside itself).
        // Distances by breadth-first search, then every way back along them.
        type State = (Inst, BTreeSet<Hold>);
        let step = |(x, holds): &State, y: Inst| -> Option<State> {
            let mut holds = holds.clone();
            if let (Some((n, _)), Some((m, h))) = (under, self.links[x][&y].under) {
                if n == m {
                    if !holds.iter().all(|o| o.beside(h)) {
                        return None;
                    }
                    holds.insert(h);
                }
            }
            Some((y, holds))
        };
        let start: State = (from, under.map(|(_, h)| h).into_iter().collect());
        let mut dist: BTreeMap<State, usize> = BTreeMap::from([(start.clone(), 0)]);
        let mut queue = VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            for &y in self.links.get(&x.0).into_iter().flat_map(BTreeMap::keys) {
                let Some(next) = step(&x, y) else {
                    continue;
                };
                if !dist.contains_key(&next) {
                    dist.insert(next.clone(), dist[&x] + 1);
                    queue.push_back(next);
                }
            }
        }
        // Every state at `to` at the shortest distance is a goal.
        let Some(n) = dist
            .iter()
            .filter(|(s, _)| s.0 == to)
            .map(|(_, &d)| d)
            .min()
        else {
            return Vec::new();
        };
        let mut paths: Vec<Vec<State>> = dist
            .iter()
            .filter(|(s, &d)| s.0 == to && d == n)
            .map(|(s, _)| vec![s.clone()])
            .collect();
        for d in (0..n).rev() {
            let mut next = Vec::new();
            for p in paths {
                let head = &p[0];
                for (state, &sd) in &dist {
                    if sd == d
                        && self
                            .links
                            .get(&state.0)
                            .is_some_and(|o| o.contains_key(&head.0))
                        && step(state, head.0).as_ref() == Some(head)
                    {
                        let mut q = vec![state.clone()];
                        q.extend(p.iter().cloned());
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
