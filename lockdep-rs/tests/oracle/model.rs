//! The oracle: a deliberately small, slow and obviously correct model of the validator's
//! verdicts, written only for the tests, from the rules of `lockdep-semantics.md` and issue 12.
//!
//! It keeps every edge with every dependency type it was recorded with, the validated chains,
//! and each thread's held stack. Whether an acquisition closes a strong cycle is decided by a
//! search over the states `(class, arrived through a -(*R)-> edge)`; the path lockdep reports
//! is then checked edge by edge against the graph the oracle had at that moment (`verify.rs`).
//!
//! What it models, rule by rule (the numbers are those of the lead's list for issue 12):
//! - same-class check, nest-lock exemption and merge, trylocks, edges from the top entry on
//!   through trylocked and recursively-read entries (every entry for an event), gates;
//! - (1) re-locking a real lock instance this thread holds, either side exclusive: a certain
//!   self-deadlock, reported and never recorded, before any cache;
//! - (2) merged instances stay individually visible (an entry keeps every acquisition merged
//!   into it, with its mode);
//! - (3) the chain key includes each entry's nest-lock position;
//! - (6) every problem of an acquisition is reported, and its chain is then cached with them
//!   (a `capture` passing through a cached chain gets its reports again);
//! - (10) once gated cycles are no longer ignored, chains are validated again (a cycle
//!   suppressed meanwhile is reported at the next acquisition closing it);
//! - (11) after another thread's `reset()`, a thread records its held stack's edges again
//!   (with the usual checks) at its next validation;
//! - (13) an out-of-order release puts the entries above back unvalidated, except those whose
//!   acquisition recorded no edges (recursive locking, nest-exempt) and those whose nest lock
//!   is the released lock: validated again on the stack as it is then.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::graph::{cycles, gated_cycle};
pub use super::graph::{DepType, Edges, Gates};

/// An instance (a lock, a pseudo-lock, an event) of a program.
pub type Inst = u16;

/// How a lock is held: exclusive (`write`, `lock`), non-recursive reader (`read`, `try_read`),
/// recursive reader (`read_recursive`, `LockMap::acquire_read`, an armed event).
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

/// What a class is made of: real locks (which block: re-locking one is a certain
/// self-deadlock), pseudo-locks, or events (waited for: edges from every held lock, and a cycle
/// through one is a `CircularWait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lock,
    Map,
    Event,
}

/// A base class of the program and how lockdep names it.
#[derive(Clone, Debug)]
pub struct Base {
    pub name: String,
    pub kind: Kind,
    /// A class with one instance only, which can serialise what is done under it (a *gate*:
    /// `Report::gates`). Programs have one gate class at most.
    pub gate: bool,
}

/// A class: base class `base`, subclass `sub` (for thread exits: the nesting depth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class {
    pub base: u8,
    pub sub: u8,
}

/// One acquisition recorded in an entry (an entry holds several after nest-lock merges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acq {
    pub inst: Inst,
    pub rd: Rd,
    pub serial: u64,
}

/// One entry of a held stack.
#[derive(Clone, Debug)]
pub struct Held {
    pub class: Class,
    pub rd: Rd,
    pub trylock: bool,
    /// The acquisitions this entry stands for, the entry's own first.
    pub acqs: Vec<Acq>,
    /// The nest lock the entry was acquired under.
    pub nest: Option<Inst>,
    /// Where that nest lock is in the stack (part of the chain key), set when pushed.
    nest_pos: Option<usize>,
    /// Its acquisition recorded no edges (same-class conflict, or exempt under its nest lock).
    edgeless: bool,
    /// Where it was taken (a harness call site; part of instance-order report identities).
    pub site: u8,
}

impl Held {
    pub fn holds(&self, inst: Inst) -> bool {
        self.acqs.iter().any(|a| a.inst == inst)
    }
    fn new(class: Class, rd: Rd, trylock: bool, acqs: Vec<Acq>, nest: Option<Inst>) -> Held {
        Held {
            class,
            rd,
            trylock,
            acqs,
            nest,
            nest_pos: None,
            edgeless: false,
            site: 0,
        }
    }

    /// Takes acquisition `j` out of a merged entry, as main does: the entry's own is replaced
    /// by the last merged one, a merged one by the last (order matters: the last instance of
    /// an entry is the outer end of an instance order).
    fn unmerge(&mut self, j: usize) -> Acq {
        let last = self.acqs.len() - 1;
        self.acqs.swap(j, last);
        self.acqs.pop().expect("merged")
    }
}

/// One element of a chain key.
type ChainElem = (Class, Rd, bool, Option<usize>);

/// A problem the oracle expects lockdep to report.
#[derive(Clone, Debug)]
pub enum Problem {
    Recursive {
        acquiring: Class,
        new_rd: Rd,
        /// The held entry the report names (a one-element list).
        holding: Vec<(Class, Rd)>,
        held: Vec<Class>,
        certain: bool,
    },
    Circular {
        acquiring: Class,
        new_rd: Rd,
        holding: Class,
        prev_rd: Rd,
        held: Vec<Class>,
        /// The graph the search ran on (before the closing edge was added), and its gates.
        graph: Arc<(Edges, Gates)>,
        /// The gate class is held below the held lock (the closing edge is gated).
        gated: bool,
        /// Gated cycles are ignored (`set_ignore_gated(true)`): lockdep must not show a gated
        /// path.
        ignoring: bool,
        /// ... and this one may be seen through a gated path: lockdep may stay silent.
        optional: bool,
    },
    /// Closing a cycle of instances of one lock key (see `instances.rs`).
    Instance {
        acquiring: Class,
        holding: Class,
        held: Vec<Class>,
        /// The length of the shortest paths closing it.
        path_len: usize,
        /// Per shortest path: the report's identity, or `None` if that path is not reported.
        candidates: Vec<Option<super::instances::Key>>,
    },
    BadUnlock {
        class: Class,
    },
    NestNotHeld {
        acquiring: Class,
        nest: Class,
        held: Vec<Class>,
        site: u8,
    },
    HeldAtExit {
        /// The locks and pseudo-locks still held (what the report must name).
        classes: Vec<Class>,
        /// Every entry still held (events too): the problem's identity.
        key: Vec<Class>,
    },
}

/// An acquisition as asked.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub class: Class,
    pub rd: Rd,
    pub inst: Inst,
    pub trylock: bool,
    /// The nest lock, its class (subclass 0: what the report names), and which call site of
    /// the harness passes it (part of a nest report's identity).
    pub nest: Option<(Inst, Class, u8)>,
    /// The harness call site (see `steps.rs`, `site`).
    pub site: u8,
}

/// What committing an acquisition does to the stack.
#[derive(Clone, Debug)]
pub enum Plan {
    Push(Held),
    /// Merge into entry `.0` (nest lock: the top entry is of the same class).
    Merge(usize, Acq),
    Nothing,
}

/// The verdict on an acquisition, before it is committed (pushed only if nothing panics).
#[derive(Clone, Debug)]
pub struct Verdict {
    pub problems: Vec<Problem>,
    pub certain: bool,
    pub plan: Plan,
}

/// Which entry a release removes.
#[derive(Clone, Copy, Debug)]
pub enum Sel {
    /// A guard's own acquisition.
    Serial(u64),
    /// `force_unlock*`, `LockMap::release`, `Event::signal`: the topmost acquisition of the
    /// instance held in a matching way (`shared`; `None`: any).
    Inst(Inst, Option<bool>),
}

/// The oracle's state for one program (all its threads share the graph and chain cache).
#[derive(Clone)]
pub struct Oracle {
    pub bases: Vec<Base>,
    pub edges: Edges,
    pub gates: Gates,
    /// Validated chains, with the problems their validation found.
    pub chains: HashMap<Vec<ChainElem>, Vec<Problem>>,
    /// `set_ignore_gated(true)` is in force.
    pub ignoring: bool,
    /// Chains validated while ignoring gated cycles that had one.
    suppressed: HashSet<Vec<ChainElem>>,
    /// Held stacks, by thread slot.
    pub stacks: Vec<Vec<Held>>,
    next_serial: u64,
    /// Threads that held locks across another thread's `reset()`.
    pub stale: BTreeSet<usize>,
    /// Acquisitions run inside a `capture` (which gets a cached chain's problems again).
    pub capturing: bool,
    /// The instance order of locks of one key held together.
    pub inst: super::instances::Instances,
    /// The last validation found a chain cached with problems (a known problem: Panic mode
    /// stops the acquisition).
    pub last_known: bool,
    /// A condvar's mutex while its wait is validated (before the thread sleeps): out of
    /// thread `.0`'s stack but still really locked, at position `.2`. The validations of the
    /// wait do not see it; a report hook run meanwhile does (lockdep puts it back for the
    /// hook: see [`Oracle::outside_back`]).
    pub held_outside: Option<(usize, Held, usize)>,
}

impl Oracle {
    pub fn new(bases: Vec<Base>, capturing: bool) -> Oracle {
        Oracle {
            bases,
            edges: Edges::new(),
            gates: Gates::new(),
            chains: HashMap::new(),
            ignoring: false,
            suppressed: HashSet::new(),
            stacks: Vec::new(),
            next_serial: 1,
            stale: BTreeSet::new(),
            capturing,
            held_outside: None,
            inst: Default::default(),
            last_known: false,
        }
    }

    /// `lockdep::reset()` on thread `t`: forgets edges and chains, and `t`'s stack; the other
    /// threads holding locks record their stacks' edges again at their next validation.
    pub fn reset(&mut self, t: usize) {
        self.edges.clear();
        self.gates.clear();
        self.chains.clear();
        self.suppressed.clear();
        self.inst = Default::default();
        self.stack_mut(t).clear();
        self.stale = (0..self.stacks.len())
            .filter(|&u| u != t && !self.stacks[u].is_empty())
            .collect();
    }

    /// `set_ignore_gated(ignore)`: when gated cycles are no longer ignored, every chain is
    /// validated again next time it is taken, so a cycle suppressed meanwhile is reported at
    /// the first acquisition that closes it (main forgets all chains; forgetting only the
    /// chains that had one would be enough for rule 10, but would report it later).
    pub fn set_ignoring(&mut self, ignore: bool) {
        if self.ignoring && !ignore {
            self.chains.clear();
            self.suppressed.clear();
        }
        self.ignoring = ignore;
    }

    pub fn is_gate(&self, c: Class) -> bool {
        self.bases[c.base as usize].gate
    }

    pub fn kind(&self, c: Class) -> Kind {
        self.bases[c.base as usize].kind
    }

    /// The name lockdep shows for `c`.
    pub fn name(&self, c: Class) -> String {
        let b = &self.bases[c.base as usize].name;
        if c.sub == 0 {
            b.clone()
        } else {
            format!("{b}/{}", c.sub)
        }
    }

    /// A report hook runs on thread `t`: the lock held outside the stack (if `t`'s) goes
    /// back to where it was for the hook's duration. Returns its serial, for
    /// [`outside_away`](Self::outside_away).
    pub fn outside_back(&mut self, t: usize) -> Option<u64> {
        let (ht, entry, idx) = self.held_outside.clone()?;
        if ht != t {
            return None;
        }
        let serial = entry.acqs[0].serial;
        let stack = self.stack_mut(t);
        let idx = idx.min(stack.len());
        stack.insert(idx, entry);
        renest(stack, idx);
        Some(serial)
    }

    /// The hook is done: the lock put back by [`outside_back`](Self::outside_back) is out
    /// of the stack again.
    pub fn outside_away(&mut self, t: usize, serial: u64) {
        let stack = self.stack_mut(t);
        if let Some(i) = stack
            .iter()
            .rposition(|h| h.acqs.first().is_some_and(|a| a.serial == serial))
        {
            stack.remove(i);
            renest(stack, i);
        }
    }

    pub fn stack(&self, t: usize) -> &[Held] {
        self.stacks.get(t).map_or(&[], |s| &s[..])
    }

    pub fn stack_mut(&mut self, t: usize) -> &mut Vec<Held> {
        if self.stacks.len() <= t {
            self.stacks.resize_with(t + 1, Vec::new);
        }
        &mut self.stacks[t]
    }

    pub fn held_classes(&self, t: usize) -> Vec<Class> {
        self.stack(t).iter().map(|h| h.class).collect()
    }

    /// Does thread `t` hold `inst` (per the validator's record)?
    pub fn holds(&self, t: usize, inst: Inst) -> bool {
        self.stack(t).iter().any(|h| h.holds(inst))
    }

    fn new_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// An acquisition by thread `t` (validation on; the caller handles `Off`). Records edges and
    /// chains; the entry is pushed by [`commit`](Self::commit) if the acquisition goes ahead.
    pub fn acquire(&mut self, t: usize, req: Req, kind: Kind) -> Verdict {
        self.last_known = false;
        let acq = Acq {
            inst: req.inst,
            rd: req.rd,
            serial: self.new_serial(),
        };
        let stack = self.stack(t);
        // (1) A certain self-deadlock: on every path, before the merge and the caches.
        if kind == Kind::Lock && !req.trylock {
            // The report names the topmost entry holding it (the key has its mode).
            let holding: Vec<(Class, Rd)> = stack
                .iter()
                .rev()
                .find(|h| {
                    h.acqs
                        .iter()
                        .any(|a| a.inst == req.inst && (a.rd == Rd::W || req.rd == Rd::W))
                })
                .map(|h| (h.class, h.rd))
                .into_iter()
                .collect();
            if !holding.is_empty() {
                let p = Problem::Recursive {
                    acquiring: req.class,
                    new_rd: req.rd,
                    holding,
                    held: self.held_classes(t),
                    certain: true,
                };
                return Verdict {
                    problems: vec![p],
                    certain: true,
                    plan: Plan::Nothing,
                };
            }
        }
        let mut problems = Vec::new();
        // The order of this key's instances (not for a trylock).
        let same_key = stack.iter().any(|h| h.class.base == req.class.base);
        if same_key && !req.trylock {
            problems.extend(self.check_instances(t, &req));
        }
        let stack = self.stack(t);
        let mut nest = req.nest.map(|n| n.0);
        if let Some((n, nest_class, site)) = req.nest {
            if !stack.iter().any(|h| h.holds(n)) {
                // A guard of a lock whose record `reset()` forgot.
                problems.push(Problem::NestNotHeld {
                    acquiring: req.class,
                    nest: nest_class,
                    held: self.held_classes(t),
                    site,
                });
                nest = None;
            } else if stack.last().is_some_and(|top| {
                // A merge joins an entry of the class held the same way, if nothing was found.
                top.class == req.class && top.rd == req.rd && problems.is_empty()
            }) && !req.trylock
            {
                return Verdict {
                    problems,
                    certain: false,
                    plan: Plan::Merge(stack.len() - 1, acq),
                };
            }
        }
        let mut entry = Held::new(req.class, req.rd, req.trylock, vec![acq], nest);
        entry.site = req.site;
        if req.trylock {
            return Verdict {
                problems,
                certain: false,
                plan: Plan::Push(entry),
            };
        }
        entry.edgeless = edgeless(self.stack(t), &entry);
        problems.extend(self.validate(t, &entry));
        Verdict {
            problems,
            certain: false,
            plan: Plan::Push(entry),
        }
    }

    /// The instance order (`instances.rs`): records `outer -> new` (not for recursive locking,
    /// which the class check reports) and tells whether it closes a cycle to report.
    fn check_instances(&mut self, t: usize, req: &Req) -> Option<Problem> {
        self.check_instances_of(
            t,
            req.class,
            req.rd,
            req.inst,
            req.site,
            req.nest.map(|n| n.0),
        )
    }

    /// The instance order taking `inst` (class `class`, mode `rd`, at `site`, under the nest
    /// lock `nest`) on top of `below` makes with the last other instance of its key held
    /// there: that instance and the link; `None` if there is none, or if it is a same-class
    /// conflict (the class check reports it).
    fn instance_link(
        &self,
        below: &[Held],
        class: Class,
        rd: Rd,
        inst: Inst,
        site: u8,
        nest: Option<Inst>,
    ) -> Option<(Inst, super::instances::Link)> {
        let new = Held::new(class, rd, false, Vec::new(), nest);
        if same_class_conflict(below, &new).is_some() {
            return None;
        }
        let idx = below
            .iter()
            .rposition(|h| h.class.base == class.base && !h.holds(inst))?;
        let outer = &below[idx];
        let outer_inst = outer.acqs.last().expect("an acquisition").inst;
        let link = super::instances::Link {
            outer_class: outer.class,
            inner_class: class,
            outer_rd: outer.rd,
            inner_rd: rd,
            sites: (outer.site, site),
            gated: self.gated_below(&below[..idx]),
            // Both under one nest lock: how this thread holds it while taking `inst`.
            under: new
                .nest
                .filter(|_| outer.nest == new.nest)
                .and_then(|n| Some((n, nest_hold(below, n)?))),
        };
        Some((outer_inst, link))
    }

    /// [`check_instances`](Self::check_instances) for taking `inst` (of `class`, in mode
    /// `rd`, at harness site `site`, under the nest lock `nest`): also a lock taken back
    /// after a condvar wait.
    fn check_instances_of(
        &mut self,
        t: usize,
        class: Class,
        rd: Rd,
        inst: Inst,
        site: u8,
        nest: Option<Inst>,
    ) -> Option<Problem> {
        use super::instances::{blocks, class_cycle, Link};
        let (outer_inst, link) = self.instance_link(self.stack(t), class, rd, inst, site, nest)?;
        let holding = link.outer_class;
        let held = self.held_classes(t);
        let paths = self.inst.shortest_paths(inst, outer_inst, link.under);
        self.inst.insert(outer_inst, inst, link.clone());
        let path_len = paths.first()?.len();
        let candidates = paths
            .iter()
            .map(|p| {
                let links: Vec<&Link> = p.iter().map(|(a, b)| &self.inst.links[a][b]).collect();
                let mut classes = vec![(link.outer_class, link.inner_class)];
                classes.extend(links.iter().map(|l| (l.outer_class, l.inner_class)));
                let mut cycle = vec![&link];
                cycle.extend(links.iter().copied());
                if class_cycle(&classes) || !blocks(&cycle) {
                    return None; // the class check reports it, or readers never block readers
                }
                let gated = link.gated && links.iter().all(|l| l.gated);
                if gated && self.ignoring {
                    return None;
                }
                let mut sites = vec![link.sites];
                sites.extend(links.iter().map(|l| l.sites));
                sites.sort_unstable();
                Some((class.base, sites, gated))
            })
            .collect::<Vec<_>>();
        if candidates.iter().all(Option::is_none) {
            return None;
        }
        Some(Problem::Instance {
            acquiring: class,
            holding,
            held,
            path_len,
            candidates,
        })
    }

    /// Pushes (or merges) what `acquire` decided. Returns the serial of the acquisition.
    pub fn commit(&mut self, t: usize, plan: Plan) -> Option<u64> {
        match plan {
            Plan::Push(h) => {
                let serial = h.acqs[0].serial;
                self.push(t, h);
                Some(serial)
            }
            Plan::Merge(idx, acq) => {
                self.stack_mut(t)[idx].acqs.push(acq);
                Some(acq.serial)
            }
            Plan::Nothing => None,
        }
    }

    fn push(&mut self, t: usize, mut h: Held) {
        let stack = self.stack_mut(t);
        h.nest_pos = nest_pos(stack, h.nest);
        stack.push(h);
    }

    /// Validates "acquiring `class` in mode `rd`" without holding it afterwards (an event
    /// wait, `might_acquire`).
    pub fn validate_only(&mut self, t: usize, class: Class, rd: Rd) -> Vec<Problem> {
        self.validate(t, &Held::new(class, rd, false, Vec::new(), None))
    }

    /// The chain of thread `t`'s stack plus `new` (its nest position as it would be pushed).
    fn chain_with(&self, t: usize, new: &Held) -> Vec<ChainElem> {
        let stack = self.stack(t);
        stack
            .iter()
            .map(|h| (h.class, h.rd, h.trylock, h.nest_pos))
            .chain(std::iter::once((
                new.class,
                new.rd,
                false,
                nest_pos(stack, new.nest),
            )))
            .collect()
    }

    /// Validates `new` on top of thread `t`'s stack: the chain caches, then the slow path
    /// (after a `reset()`, the held stack's edges first), the chain cached with its problems.
    fn validate(&mut self, t: usize, new: &Held) -> Vec<Problem> {
        self.stack_mut(t); // (allocated)
        let chain = self.chain_with(t, new);
        self.last_known = false;
        if let Some(found) = self.chains.get(&chain) {
            self.last_known = !found.is_empty();
            return if self.capturing {
                found.clone()
            } else {
                Vec::new()
            };
        }
        let mut problems = Vec::new();
        let mut suppressed = false;
        if self.stale.remove(&t) {
            let held = self.held_classes(t);
            for i in 1..self.stack(t).len() {
                let e = self.stack(t)[i].clone();
                if e.trylock || same_class_conflict(&self.stack(t)[..i], &e).is_some() {
                    continue;
                }
                let (p, s) = self.check(t, i, &e, &held);
                problems.extend(p);
                suppressed |= s;
            }
            // Their instance orders too (recorded, not checked), as lockdep's
            // `replay_instance_orders`.
            for i in 1..self.stack(t).len() {
                let e = &self.stack(t)[i];
                if e.trylock {
                    continue;
                }
                let stack = self.stack(t);
                let inst = e.acqs[0].inst;
                if let Some((outer, link)) =
                    self.instance_link(&stack[..i], e.class, e.rd, inst, e.site, e.nest)
                {
                    self.inst.insert(outer, inst, link);
                }
            }
        }
        let held = self.held_classes(t);
        let below = self.stack(t).len();
        let (p, s) = self.check(t, below, new, &held);
        problems.extend(p);
        suppressed |= s;
        if suppressed {
            self.suppressed.insert(chain.clone());
        }
        self.chains.insert(chain, problems.clone());
        problems
    }

    /// The checks of `new` on top of the first `below` entries of `t`'s stack: same class,
    /// nest exemption, then the edges. `held` is what reports show as held. Returns the
    /// problems and whether a gated cycle was (or may have been) left unreported.
    fn check(
        &mut self,
        t: usize,
        below: usize,
        new: &Held,
        held: &[Class],
    ) -> (Vec<Problem>, bool) {
        let stack = &self.stacks[t][..below];
        if let Some(h) = same_class_conflict(stack, new) {
            let p = Problem::Recursive {
                acquiring: new.class,
                new_rd: new.rd,
                holding: vec![(h.class, h.rd)],
                held: held.to_vec(),
                certain: false,
            };
            return (vec![p], false);
        }
        if exempt_by_nest(stack, new) {
            return (Vec::new(), false); // no report and no edges
        }
        let event = self.kind(new.class) == Kind::Event;
        let mut out = Vec::new();
        let mut suppressed = false;
        let mut snapshot: Option<Arc<(Edges, Gates)>> = None;
        for i in (0..below).rev() {
            let h = &self.stacks[t][i];
            let (hc, hrd, htry) = (h.class, h.rd, h.trylock);
            let gated = self.gated_below(&self.stacks[t][..i]);
            let (any, ungated) =
                cycles(&self.edges, &self.gates, new.class, new.rd, hc, hrd, gated);
            if any {
                // Ignoring gated cycles, one seen through a gated path is not reported.
                let silent = self.ignoring && !ungated;
                let optional = self.ignoring
                    && ungated
                    && gated
                    && gated_cycle(&self.edges, &self.gates, new.class, new.rd, hc, hrd);
                suppressed |= silent || optional;
                if !silent {
                    let graph = snapshot
                        .get_or_insert_with(|| Arc::new((self.edges.clone(), self.gates.clone())))
                        .clone();
                    out.push(Problem::Circular {
                        acquiring: new.class,
                        new_rd: new.rd,
                        holding: hc,
                        prev_rd: hrd,
                        held: held.to_vec(),
                        graph,
                        gated,
                        ignoring: self.ignoring,
                        optional,
                    });
                }
            }
            let k = (hc, new.class);
            let new_type = self
                .edges
                .entry(k)
                .or_default()
                .insert(DepType::of(hrd, new.rd));
            let g = self.gates.entry(k).or_insert(gated);
            let new_gate = *g && !gated;
            *g &= gated;
            if new_type || new_gate {
                snapshot = None;
            }
            if !event && !htry && hrd != Rd::R2 {
                break;
            }
        }
        (out, suppressed)
    }

    /// Is the gate class held exclusively in `below`?
    fn gated_below(&self, below: &[Held]) -> bool {
        below.iter().any(|h| h.rd == Rd::W && self.is_gate(h.class))
    }

    /// Finds what `sel` releases in thread `t`'s stack: (entry, acquisition index).
    pub fn find(&self, t: usize, sel: Sel) -> Option<(usize, usize)> {
        let stack = self.stack(t);
        for (i, h) in stack.iter().enumerate().rev() {
            for (j, a) in h.acqs.iter().enumerate().rev() {
                let hit = match sel {
                    Sel::Serial(s) => a.serial == s,
                    Sel::Inst(inst, shared) => {
                        a.inst == inst && shared.is_none_or(|s| s == a.rd.shared())
                    }
                };
                if hit {
                    return Some((i, j));
                }
            }
        }
        None
    }

    /// Releases what `sel` selects in thread `t`'s stack (rule 13 for the entries above; no
    /// validation when `off`). Returns the released acquisition and the problems of the
    /// entries validated again; `None` if nothing matches (a bad unlock).
    pub fn release(&mut self, t: usize, sel: Sel, off: bool) -> Option<(Acq, Vec<Problem>)> {
        let (idx, j) = self.find(t, sel)?;
        let stack = self.stack_mut(t);
        if stack[idx].acqs.len() > 1 {
            return Some((stack[idx].unmerge(j), Vec::new()));
        }
        // Of a run of identical adjacent entries (one instance, class, mode), the topmost
        // goes, like the kernel's; the entry that stays takes the released one's serial.
        let same = |a: &Held, b: &Held| {
            a.acqs.len() == 1
                && b.acqs.len() == 1
                && a.acqs[0].inst == b.acqs[0].inst
                && (a.class, a.rd, a.trylock) == (b.class, b.rd, b.trylock)
        };
        let mut idx = idx;
        while idx + 1 < stack.len() && same(&stack[idx], &stack[idx + 1]) {
            let (lo, hi) = (stack[idx].acqs[0].serial, stack[idx + 1].acqs[0].serial);
            stack[idx].acqs[0].serial = hi;
            stack[idx + 1].acqs[0].serial = lo;
            idx += 1;
        }
        let above = stack.split_off(idx + 1);
        let gone = stack.pop().expect("idx exists").acqs[0];
        let mut problems = Vec::new();
        for mut e in above {
            let nest_gone = e.nest == Some(gone.inst);
            if nest_gone {
                e.nest = None; // the exemption is gone
            }
            let again = nest_gone || (e.edgeless && !e.trylock);
            if again && !off {
                // Validated again on the stack as it is now.
                if e.trylock {
                    e.edgeless = false;
                } else {
                    e.edgeless = edgeless(self.stack(t), &e);
                    problems.extend(self.validate(t, &e));
                }
            }
            self.push(t, e);
        }
        Some((gone, problems))
    }

    /// Takes out of thread `t`'s stack the acquisition `serial` for a condvar wait: returns
    /// the entry (with just that acquisition), its position, another acquisition of the entry
    /// if it was merged (it goes back into that entry), and the problems of the release.
    pub fn wait_begin(&mut self, t: usize, serial: u64, off: bool) -> Option<Waiting> {
        let (idx, j) = self.find(t, Sel::Serial(serial))?;
        let mut entry = self.stack(t)[idx].clone();
        let acq = entry.acqs[j];
        let merged_into = entry
            .acqs
            .iter()
            .find(|a| a.serial != serial)
            .map(|a| a.serial);
        entry.acqs = vec![acq];
        let (_, problems) = self.release(t, Sel::Serial(serial), off).expect("found");
        Some(Waiting {
            entry,
            idx,
            merged_into,
            problems,
        })
    }

    /// The re-acquisition after a condvar wait, validated on top of the stack as it is (a
    /// merged acquisition goes back into its entry unvalidated, as it was taken).
    pub fn wait_validate(&mut self, t: usize, w: &mut Waiting) -> Vec<Problem> {
        if w.merged_into
            .is_some_and(|s| self.find(t, Sel::Serial(s)).is_some())
        {
            return Vec::new();
        }
        w.merged_into = None;
        // A lock taken back is a real acquisition: the order of its class's instances counts
        // (checked with the nest lock as requested, as a fresh acquisition's).
        let requested_nest = w.entry.nest;
        let e = &mut w.entry;
        e.nest = e.nest.filter(|&n| self.holds(t, n));
        e.trylock = false;
        e.edgeless = edgeless(self.stack(t), e);
        let e = e.clone();
        let mut problems = Vec::new();
        let same_key = self.stack(t).iter().any(|h| h.class.base == e.class.base);
        if same_key {
            let inst = e.acqs[0].inst;
            problems.extend(self.check_instances_of(
                t,
                e.class,
                e.rd,
                inst,
                super::world::SITE_CV,
                requested_nest,
            ));
        }
        problems.extend(self.validate(t, &e));
        problems
    }

    /// The re-acquisition after a condvar wait once validation is `Off` (a report hook turned
    /// it off while the wait was validated): put back as it was held, nothing validated or
    /// recorded (so it is not marked as having recorded no edges either).
    pub fn wait_unvalidated(&mut self, t: usize, w: &mut Waiting) {
        if w.merged_into
            .is_some_and(|s| self.find(t, Sel::Serial(s)).is_some())
        {
            return;
        }
        w.merged_into = None;
        let nest = w.entry.nest.filter(|&n| self.holds(t, n));
        let e = &mut w.entry;
        e.nest = nest;
        e.trylock = false;
        e.edgeless = false;
    }

    /// Records the re-acquired entry (before its problems are delivered): on top of the stack,
    /// or back into the entry it was merged into.
    pub fn wait_push(&mut self, t: usize, w: &Waiting) {
        if let Some(s) = w.merged_into {
            let (i, _) = self.find(t, Sel::Serial(s)).expect("checked");
            self.stack_mut(t)[i]
                .acqs
                .extend(w.entry.acqs.iter().copied());
            return;
        }
        self.push(t, w.entry.clone());
    }

    /// Moves the re-acquired entry from the top back to where it was.
    pub fn wait_settle(&mut self, t: usize, w: &Waiting) {
        if w.merged_into.is_some() {
            return;
        }
        let stack = self.stack_mut(t);
        let idx = w.idx.min(stack.len() - 1);
        let e = stack.pop().expect("pushed");
        stack.insert(idx, e);
        renest(stack, idx);
    }

    /// Thread `t` exits: the report for what it still holds (if any lock or pseudo-lock;
    /// its armed exit event is not a lock), and its stack is gone.
    pub fn exit(&mut self, t: usize) -> Option<Problem> {
        let stack = std::mem::take(self.stack_mut(t));
        let key: Vec<Class> = stack.iter().map(|h| h.class).collect();
        let mut classes = Vec::new();
        for h in &stack {
            if self.kind(h.class) != Kind::Event && !classes.contains(&h.class) {
                classes.push(h.class);
            }
        }
        (!classes.is_empty()).then_some(Problem::HeldAtExit { classes, key })
    }
}

/// An acquisition taken out of the stack while its thread waits on a condvar.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub entry: Held,
    pub idx: usize,
    pub merged_into: Option<u64>,
    pub problems: Vec<Problem>,
}

/// How `stack` holds the nest lock `n`: exclusively if an entry holding it is a writer's,
/// shared if only readers' entries hold it, `None` if none does.
fn nest_hold(stack: &[Held], n: Inst) -> Option<super::instances::Hold> {
    use super::instances::Hold;
    let entries: Vec<&Held> = stack.iter().filter(|h| h.holds(n)).collect();
    if entries.is_empty() {
        None
    } else if entries.iter().any(|h| h.rd == Rd::W) {
        Some(Hold::Exclusive)
    } else {
        Some(Hold::Shared)
    }
}

/// Recomputes the nest positions of `stack`'s entries from `from` up (the entries below
/// changed).
fn renest(stack: &mut [Held], from: usize) {
    for i in from..stack.len() {
        let pos = nest_pos(&stack[..i], stack[i].nest);
        stack[i].nest_pos = pos;
    }
}

/// Where the (lowest) entry holding `nest` is in `stack`.
fn nest_pos(stack: &[Held], nest: Option<Inst>) -> Option<usize> {
    let n = nest?;
    stack.iter().position(|h| h.holds(n))
}

/// The held entry of `new`'s class that makes taking `new` recursive locking (kernel
/// `check_deadlock`): bottom to top, the first of the class, unless `new` is a recursive read
/// and it a read, or `new`'s nest lock is held below it.
fn same_class_conflict<'a>(stack: &'a [Held], new: &Held) -> Option<&'a Held> {
    let mut nest_seen = false;
    for h in stack {
        if new.nest.is_some_and(|n| h.holds(n)) {
            nest_seen = true;
        }
        if h.class != new.class || (new.rd == Rd::R2 && h.rd != Rd::W) {
            continue;
        }
        return (!nest_seen).then_some(h);
    }
    None
}

/// Is `new` another lock of a class already held at or above its nest lock (then it records
/// no edges)?
fn exempt_by_nest(stack: &[Held], new: &Held) -> bool {
    let Some(n) = nest_pos(stack, new.nest) else {
        return false;
    };
    stack[n..].iter().any(|h| h.class == new.class)
}

/// Does taking `new` on `stack` record no edges?
fn edgeless(stack: &[Held], new: &Held) -> bool {
    same_class_conflict(stack, new).is_some() || exempt_by_nest(stack, new)
}
