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
//!   through trylocked and recursively-read entries (every entry for an event);
//! - (1) re-locking a real lock instance this thread holds, either side exclusive: a certain
//!   self-deadlock, reported and never recorded, before any cache;
//! - (2) merged instances stay individually visible (an entry keeps every acquisition merged
//!   into it);
//! - (3) the chain key includes each entry's nest-lock position;
//! - (6) every problem of an acquisition is reported, and its chain is then cached;
//! - (13) an out-of-order release puts the entries above back unvalidated, except those whose
//!   nest lock is the released lock (validated again, without the exemption).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

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

pub type Edges = BTreeMap<(Class, Class), BTreeSet<DepType>>;

/// Per edge: was the gate class held (exclusively, below the edge's source) at every
/// validated occurrence of the edge?
pub type Gates = BTreeMap<(Class, Class), bool>;

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
    /// Where that nest lock was in the stack when the entry was pushed (part of the chain key).
    nest_pos: Option<usize>,
}

impl Held {
    pub fn holds(&self, inst: Inst) -> bool {
        self.acqs.iter().any(|a| a.inst == inst)
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
        /// The held entries the report may name (one, except for a certain self-deadlock on an
        /// instance held more than once).
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
    BadUnlock {
        class: Class,
    },
    HeldAtExit {
        classes: Vec<Class>,
    },
}

/// An acquisition as asked.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub class: Class,
    pub rd: Rd,
    pub inst: Inst,
    pub trylock: bool,
    pub nest: Option<Inst>,
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
    pub chains: HashSet<Vec<ChainElem>>,
    /// `set_ignore_gated(true)` is in force.
    pub ignoring: bool,
    /// Chains validated while ignoring gated cycles that had one: validated again once gated
    /// cycles are no longer ignored (rule 10).
    suppressed: HashSet<Vec<ChainElem>>,
    /// Held stacks, by thread slot.
    pub stacks: Vec<Vec<Held>>,
    next_serial: u64,
    /// Threads that held locks across another thread's `reset()`: at their next validation
    /// they record again the edges of their held stacks (rule 11).
    pub stale: BTreeSet<usize>,
    /// Triage only (`ORACLE_SKIP=rule6`): the old rule 6 (only the first problem of an
    /// acquisition is reported; a chain with a problem is not cached).
    pub old_rule6: bool,
    /// Triage only (`ORACLE_SKIP=rule13`): the old rule 13 (every entry above an
    /// out-of-order release is validated again).
    pub old_rule13: bool,
}

impl Oracle {
    pub fn new(bases: Vec<Base>) -> Oracle {
        Oracle {
            bases,
            edges: Edges::new(),
            gates: Gates::new(),
            chains: HashSet::new(),
            ignoring: false,
            suppressed: HashSet::new(),
            stacks: Vec::new(),
            next_serial: 1,
            stale: BTreeSet::new(),
            old_rule6: super::run::skip("rule6"),
            old_rule13: super::run::skip("rule13"),
        }
    }

    /// `lockdep::reset()` on thread `t`: forgets edges and chains, and `t`'s stack; the other
    /// threads holding locks record their stacks' edges again at their next validation.
    pub fn reset(&mut self, t: usize) {
        self.edges.clear();
        self.gates.clear();
        self.chains.clear();
        self.suppressed.clear();
        self.stack_mut(t).clear();
        self.stale = (0..self.stacks.len())
            .filter(|&u| u != t && !self.stacks[u].is_empty())
            .collect();
    }

    /// Records the edges thread `t`'s held stack implies, as its acquisitions did (no checks).
    fn rerecord(&mut self, t: usize) {
        let stack = self.stack(t).to_vec();
        for (i, new) in stack.iter().enumerate() {
            if new.trylock {
                continue;
            }
            let event = self.kind(new.class) == Kind::Event;
            for (j, h) in stack[..i].iter().enumerate().rev() {
                let gated = self.gated_below(&stack[..j]);
                self.gates
                    .entry((h.class, new.class))
                    .and_modify(|g| *g &= gated)
                    .or_insert(gated);
                self.edges
                    .entry((h.class, new.class))
                    .or_default()
                    .insert(DepType::of(h.rd, new.rd));
                if !event && !h.trylock && h.rd != Rd::R2 {
                    break;
                }
            }
        }
    }

    /// `set_ignore_gated(ignore)`: when gated cycles are no longer ignored, the chains that
    /// had one are validated again next time they are taken.
    pub fn set_ignoring(&mut self, ignore: bool) {
        if self.ignoring && !ignore {
            for c in self.suppressed.drain() {
                self.chains.remove(&c);
            }
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
        let acq = Acq {
            inst: req.inst,
            rd: req.rd,
            serial: self.new_serial(),
        };
        let stack = self.stack(t);
        // (1) A certain self-deadlock: on every path, before the merge and the caches.
        if kind == Kind::Lock && !req.trylock {
            let holding: Vec<(Class, Rd)> = stack
                .iter()
                .filter(|h| {
                    h.acqs
                        .iter()
                        .any(|a| a.inst == req.inst && (a.rd == Rd::W || req.rd == Rd::W))
                })
                .map(|h| (h.class, h.rd))
                .collect();
            if !holding.is_empty() {
                return Verdict {
                    problems: vec![Problem::Recursive {
                        acquiring: req.class,
                        new_rd: req.rd,
                        holding,
                        held: self.held_classes(t),
                        certain: true,
                    }],
                    certain: true,
                    plan: Plan::Nothing,
                };
            }
        }
        let entry = Held {
            class: req.class,
            rd: req.rd,
            trylock: req.trylock,
            acqs: vec![acq],
            nest: req.nest,
            nest_pos: None,
        };
        if req.trylock {
            return Verdict {
                problems: Vec::new(),
                certain: false,
                plan: Plan::Push(entry),
            };
        }
        if let Some(n) = req.nest {
            // The nest lock is always held in the programs generated (a guard is passed).
            assert!(stack.iter().any(|h| h.holds(n)), "test bug: nest not held");
            if let Some(top) = stack.last() {
                if top.class == req.class {
                    return Verdict {
                        problems: Vec::new(),
                        certain: false,
                        plan: Plan::Merge(stack.len() - 1, acq),
                    };
                }
            }
        }
        let problems = self.validate(t, &entry);
        Verdict {
            problems,
            certain: false,
            plan: Plan::Push(entry),
        }
    }

    /// Pushes (or merges) what `acquire` decided. Returns the serial of the acquisition.
    pub fn commit(&mut self, t: usize, plan: Plan) -> Option<u64> {
        match plan {
            Plan::Push(mut h) => {
                let serial = h.acqs[0].serial;
                let stack = self.stack_mut(t);
                h.nest_pos = nest_pos(stack, h.nest);
                stack.push(h);
                Some(serial)
            }
            Plan::Merge(idx, acq) => {
                self.stack_mut(t)[idx].acqs.push(acq);
                Some(acq.serial)
            }
            Plan::Nothing => None,
        }
    }

    /// Validates "acquiring `class` in mode `rd`" without holding it afterwards (an event
    /// wait, `might_acquire`).
    pub fn validate_only(&mut self, t: usize, class: Class, rd: Rd) -> Vec<Problem> {
        let entry = Held {
            class,
            rd,
            trylock: false,
            acqs: Vec::new(),
            nest: None,
            nest_pos: None,
        };
        self.validate(t, &entry)
    }

    /// Validates "acquiring `class` in mode `rd` under nest lock `nest`" on top of thread
    /// `t`'s stack, without pushing (the re-acquisition after a condvar wait).
    pub fn validate_as(
        &mut self,
        t: usize,
        class: Class,
        rd: Rd,
        nest: Option<Inst>,
    ) -> Vec<Problem> {
        let entry = Held {
            class,
            rd,
            trylock: false,
            acqs: Vec::new(),
            nest,
            nest_pos: None,
        };
        self.validate(t, &entry)
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

    /// The slow path of an acquisition of `new` on top of thread `t`'s stack: chain cache,
    /// same-class check, edges (each after a strong-cycle search).
    fn validate(&mut self, t: usize, new: &Held) -> Vec<Problem> {
        if self.stale.remove(&t) {
            self.rerecord(t);
        }
        let chain = self.chain_with(t, new);
        if self.old_rule6 {
            if self.chains.contains(&chain) {
                return Vec::new();
            }
            let (mut p, _) = self.validate_inner(t, new);
            if p.is_empty() {
                self.chains.insert(chain);
            }
            p.truncate(1);
            return p;
        }
        if !self.chains.insert(chain.clone()) {
            return Vec::new(); // validated before (reported or not: rule 6)
        }
        let (problems, suppressed) = self.validate_inner(t, new);
        if suppressed {
            self.suppressed.insert(chain);
        }
        problems
    }

    /// Is the gate class held exclusively in `below`?
    fn gated_below(&self, below: &[Held]) -> bool {
        below.iter().any(|h| h.rd == Rd::W && self.is_gate(h.class))
    }

    /// The checks of a chain not validated before. Returns the problems and whether a cycle
    /// was (or may have been) left unreported because it is gated.
    fn validate_inner(&mut self, t: usize, new: &Held) -> (Vec<Problem>, bool) {
        let stack = self.stack(t);
        let mut nest_seen = false;
        for h in stack {
            if new.nest.is_some_and(|n| h.holds(n)) {
                nest_seen = true;
            }
            if h.class != new.class || (new.rd == Rd::R2 && h.rd != Rd::W) {
                continue;
            }
            if nest_seen {
                return (Vec::new(), false); // exempt: no report and no edges
            }
            let p = Problem::Recursive {
                acquiring: new.class,
                new_rd: new.rd,
                holding: vec![(h.class, h.rd)],
                held: self.held_classes(t),
                certain: false,
            };
            return (vec![p], false);
        }
        let event = self.kind(new.class) == Kind::Event;
        let mut out = Vec::new();
        let mut suppressed = false;
        let mut snapshot: Option<Arc<(Edges, Gates)>> = None;
        for i in (0..stack.len()).rev() {
            let h = &self.stacks[t][i];
            let (hc, hrd, htry) = (h.class, h.rd, h.trylock);
            let gated = self.gated_below(&self.stacks[t][..i]);
            let (any, ungated) = cycles(&self.edges, &self.gates, new.class, new.rd, hc, hrd, gated);
            if any {
                // Ignoring gated cycles, one seen through a gated path is not reported.
                let silent = self.ignoring && !ungated;
                let optional = self.ignoring && ungated && gated && self.gated_cycle(new, hc, hrd);
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
                        held: self.held_classes(t),
                        graph,
                        gated,
                        ignoring: self.ignoring,
                        optional,
                    });
                }
            }
            let k = (hc, new.class);
            let new_type = self.edges.entry(k).or_default().insert(DepType::of(hrd, new.rd));
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

    /// Is there a strong cycle through gated edges only (the closing one gated)?
    fn gated_cycle(&self, new: &Held, prev: Class, prev_rd: Rd) -> bool {
        let only_gated: Edges = self
            .edges
            .iter()
            .filter(|(k, _)| self.gates.get(k) == Some(&true))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        strong_cycle(&only_gated, new.class, new.rd, prev, prev_rd)
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
            return Some((stack[idx].acqs.remove(j), Vec::new()));
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
            if self.old_rule13 && !off && !e.trylock {
                problems.extend(self.validate(t, &e));
            } else if e.nest == Some(gone.inst) {
                e.nest = None; // the exemption is gone: validated again
                if !off {
                    problems.extend(self.validate(t, &e));
                }
            }
            let stack = self.stack_mut(t);
            e.nest_pos = nest_pos(stack, e.nest);
            stack.push(e);
        }
        Some((gone, problems))
    }

    /// Puts back an entry taken out for a condvar wait, where it was (or into the entry it was
    /// merged into, if that is still there).
    pub fn restore(&mut self, t: usize, idx: usize, mut entry: Held, merged_into: Option<u64>) {
        let stack = self.stack_mut(t);
        if let Some(s) = merged_into {
            if let Some(h) = stack
                .iter_mut()
                .find(|h| h.acqs.iter().any(|a| a.serial == s))
            {
                h.acqs.extend(entry.acqs);
                return;
            }
        }
        let idx = idx.min(stack.len());
        entry.nest_pos = nest_pos(&stack[..idx], entry.nest);
        stack.insert(idx, entry);
        // Entries above keep their keys' meaning: positions are recomputed as lockdep would.
        for i in idx + 1..stack.len() {
            let pos = nest_pos(&stack[..i], stack[i].nest);
            stack[i].nest_pos = pos;
        }
    }

    /// Thread `t` exits: the report for what it still holds (pseudo-locks; events excluded),
    /// and its stack is gone.
    pub fn exit(&mut self, t: usize) -> Option<Problem> {
        let stack = std::mem::take(self.stack_mut(t));
        let mut classes = Vec::new();
        for h in &stack {
            if self.kind(h.class) != Kind::Event && !classes.contains(&h.class) {
                classes.push(h.class);
            }
        }
        (!classes.is_empty()).then_some(Problem::HeldAtExit { classes })
    }
}

/// Where the (lowest) entry holding `nest` is in `stack`.
fn nest_pos(stack: &[Held], nest: Option<Inst>) -> Option<usize> {
    let n = nest?;
    stack.iter().position(|h| h.holds(n))
}

/// Is there a strong cycle closed by `prev -> next` (see [`strong_cycle`]), and is there one
/// that is not gated (`closing_gated`: the closing edge is; a cycle is gated if every edge is)?
fn cycles(
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
                    continue;
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

/// Is there a strong walk `next -> ... -> prev` closing a strong cycle with the new edge
/// `prev -> next` (`next` taken in mode `next_rd`, `prev` held in mode `prev_rd`)?
///
/// Joints: entering a class through a `*R` edge and leaving it through an `S*` edge is weak.
/// At `next` the entering edge is the new one (`*R` iff `next_rd` is a recursive read); at
/// `prev` the leaving edge is the new one (`S*` iff `prev` is held shared).
pub fn strong_cycle(edges: &Edges, next: Class, next_rd: Rd, prev: Class, prev_rd: Rd) -> bool {
    let start = (next, next_rd == Rd::R2);
    let mut seen = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some((at, rec)) = queue.pop_front() {
        if at == prev && !(rec && prev_rd.shared()) {
            return true;
        }
        let lo = (at, Class { base: 0, sub: 0 });
        for (&(from, to), types) in edges.range(lo..) {
            if from != at {
                break;
            }
            for t in types {
                if rec && t.from_shared {
                    continue; // -(*R)-> then -(S*)->: weak joint
                }
                let s = (to, t.to_recursive);
                if seen.insert(s) {
                    queue.push_back(s);
                }
            }
        }
    }
    false
}
