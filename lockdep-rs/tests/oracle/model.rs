//! The oracle: a deliberately small, slow and obviously correct model of the validator's
//! verdicts for one thread's acquisitions and releases, written only for the tests.
//!
//! It keeps every edge with every dependency type it was recorded with, the validated chains,
//! and the held stack. Cycles are decided by exhaustive enumeration of walks in the state
//! graph `(class, arrived through a -(*R)-> edge)`, with the strong-path rule applied at every
//! joint; nothing is pruned except a state repeated within one walk (repeating a state cannot
//! make a walk reach anything new, because what may follow depends only on the state).

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// How a lock is held: exclusive (`write`, `lock`), non-recursive reader (`read`, `try_read`),
/// recursive reader (`read_recursive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rd {
    /// Exclusive (kernel read = 0).
    W,
    /// Non-recursive reader (read = 1).
    R1,
    /// Recursive reader (read = 2).
    R2,
}

impl Rd {
    pub fn shared(self) -> bool {
        self != Rd::W
    }
}

/// A class: base class `base` (one `LockClass` per program), subclass `sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class {
    pub base: u8,
    pub sub: u8,
}

impl Class {
    /// The name lockdep shows for it, given the base names `c0`, `c1`, ...
    pub fn name(self) -> String {
        if self.sub == 0 {
            format!("c{}", self.base)
        } else {
            format!("c{}/{}", self.base, self.sub)
        }
    }
}

/// One dependency type: how the source was held (shared?), how the target was taken
/// (recursive reader?). ER = (false, true), EN = (false, false), SR, SN likewise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DepType {
    pub from_shared: bool,
    pub to_recursive: bool,
}

/// One entry of the held stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Held {
    pub class: Class,
    pub rd: Rd,
    pub trylock: bool,
    /// Which lock instance (for modelling releases; not part of any rule).
    pub inst: u8,
}

/// A problem the oracle expects lockdep to report.
#[derive(Clone, Debug)]
pub enum Expected {
    Recursive {
        acquiring: String,
        holding: String,
        held: Vec<String>,
    },
    Circular {
        acquiring: String,
        holding: String,
        held: Vec<String>,
        /// Every class list (new lock first, held lock last, without repeats) of a strong walk
        /// that closes the cycle: the report's `class_names()` must be one of them.
        paths: BTreeSet<Vec<String>>,
    },
}

/// The oracle's state for one program (all its threads share the graph and chain cache).
#[derive(Default, Clone)]
pub struct Oracle {
    pub edges: BTreeMap<(Class, Class), BTreeSet<DepType>>,
    pub chains: HashSet<Vec<(Class, Rd, bool)>>,
    pub stack: Vec<Held>,
    /// Cycles found only through walks that visit a class twice (in both arrival states):
    /// the kernel's search, which visits each class once, would miss them.
    pub walk_only_cycles: usize,
}

/// Upper bound on the walk steps explored for one question (the graphs have at most 6
/// classes, i.e. 12 states; this is far above what they need).
const MAX_STEPS: usize = 2_000_000;

impl Oracle {
    pub fn held_names(&self) -> Vec<String> {
        self.stack.iter().map(|h| h.class.name()).collect()
    }

    /// A new acquisition of `class` in mode `rd` (trylock: a successful try).
    pub fn acquire(&mut self, class: Class, rd: Rd, trylock: bool, inst: u8) -> Option<Expected> {
        let entry = Held {
            class,
            rd,
            trylock,
            inst,
        };
        let found = self.validate(entry);
        self.stack.push(entry);
        found
    }

    /// Releases the stack entry at `idx`; the entries above are re-acquired in order, each
    /// validated as a new acquisition. Returns their problems, in order.
    pub fn release(&mut self, idx: usize) -> Vec<Expected> {
        let above = self.stack.split_off(idx + 1);
        self.stack.pop();
        let mut out = Vec::new();
        for e in above {
            if let Some(p) = self.acquire(e.class, e.rd, e.trylock, e.inst) {
                out.push(p);
            }
        }
        out
    }

    fn validate(&mut self, new: Held) -> Option<Expected> {
        if new.trylock {
            // No same-class check, no incoming edges, no chain lookup.
            return None;
        }
        let mut chain: Vec<(Class, Rd, bool)> = self
            .stack
            .iter()
            .map(|h| (h.class, h.rd, h.trylock))
            .collect();
        chain.push((new.class, new.rd, false));
        if self.chains.contains(&chain) {
            return None;
        }

        // Same-class rule: bottom to top, the first held lock of the class conflicts unless
        // the new acquisition is a recursive reader and the held one a reader.
        for h in &self.stack {
            if h.class == new.class && !(new.rd == Rd::R2 && h.rd.shared()) {
                return Some(Expected::Recursive {
                    acquiring: new.class.name(),
                    holding: h.class.name(),
                    held: self.held_names(),
                });
            }
        }

        // Edges from the top entry, and on through trylocked and recursively-read entries.
        let mut first = None;
        let mut problem = false;
        for i in (0..self.stack.len()).rev() {
            let h = self.stack[i];
            if let Some((paths, class_simple)) = self.strong_walks(new.class, new.rd, h.class, h.rd)
            {
                problem = true;
                if first.is_none() {
                    if !class_simple {
                        self.walk_only_cycles += 1;
                    }
                    first = Some(Expected::Circular {
                        acquiring: new.class.name(),
                        holding: h.class.name(),
                        held: self.held_names(),
                        paths,
                    });
                }
            }
            let ty = DepType {
                from_shared: h.rd.shared(),
                to_recursive: new.rd == Rd::R2,
            };
            self.edges
                .entry((h.class, new.class))
                .or_default()
                .insert(ty);
            if !h.trylock && h.rd != Rd::R2 {
                break;
            }
        }
        if !problem {
            self.chains.insert(chain);
        }
        first
    }

    /// All strong walks `next -> ... -> prev` that close a strong cycle with the new edge
    /// `prev -> next` (`next` taken in mode `next_rd`, `prev` held in mode `prev_rd`).
    /// Returns the class lists of those walks and whether one of them is simple in classes;
    /// `None` if there is none.
    ///
    /// Joints: entering a class through a `*R` edge and leaving it through an `S*` edge is
    /// weak. At `next` the entering edge is the new edge (`*R` iff `next_rd` is a recursive
    /// read); at `prev` the leaving edge is the new edge (`S*` iff `prev` is held shared).
    fn strong_walks(
        &self,
        next: Class,
        next_rd: Rd,
        prev: Class,
        prev_rd: Rd,
    ) -> Option<(BTreeSet<Vec<String>>, bool)> {
        struct Search<'a> {
            o: &'a Oracle,
            prev: Class,
            prev_shared: bool,
            path: Vec<(Class, bool)>,
            found: BTreeSet<Vec<String>>,
            class_simple: bool,
            steps: usize,
        }
        impl Search<'_> {
            fn go(&mut self) {
                self.steps += 1;
                assert!(self.steps < MAX_STEPS, "oracle: walk enumeration blew up");
                let &(at, arrived_recursive) = self.path.last().expect("non-empty");
                if at == self.prev && !(arrived_recursive && self.prev_shared) {
                    let mut names: Vec<String> = Vec::new();
                    let mut classes: Vec<Class> = Vec::new();
                    for &(c, _) in &self.path {
                        if !classes.contains(&c) {
                            classes.push(c);
                            names.push(c.name());
                        }
                    }
                    // Simple in classes: no class twice, except that the walk may end where
                    // it started when the held lock and the new one are of one class.
                    let n = self.path.len();
                    let inner: Vec<Class> = self.path[..n - 1].iter().map(|p| p.0).collect();
                    let distinct = inner.iter().collect::<BTreeSet<_>>().len() == inner.len();
                    if distinct && !inner[1.min(n - 1)..].contains(&at) {
                        self.class_simple = true;
                    }
                    self.found.insert(names);
                    return; // a walk stops at its first match (the BFS returns there too)
                }
                for (&(from, to), types) in self.o.edges.range((at, Class { base: 0, sub: 0 })..) {
                    if from != at {
                        break;
                    }
                    for t in types {
                        if arrived_recursive && t.from_shared {
                            continue; // -(*R)-> then -(S*)->: weak joint
                        }
                        let state = (to, t.to_recursive);
                        if self.path.contains(&state) {
                            continue;
                        }
                        self.path.push(state);
                        self.go();
                        self.path.pop();
                    }
                }
            }
        }
        let mut s = Search {
            o: self,
            prev,
            prev_shared: prev_rd.shared(),
            path: vec![(next, next_rd == Rd::R2)],
            found: BTreeSet::new(),
            class_simple: false,
            steps: 0,
        };
        s.go();
        if s.found.is_empty() {
            None
        } else {
            Some((s.found, s.class_simple))
        }
    }
}
