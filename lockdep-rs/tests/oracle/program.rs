//! Random lock programs: their shape, the proptest strategy that generates them, and the
//! runner that executes one against lockdep and the oracle in lock step.

use std::fmt::Write as _;

use lockdep::{
    LockClass, Mutex, MutexGuard, Report, ReportKind, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use proptest::prelude::*;

use super::model::{Class, Expected, Oracle, Rd};

/// Base classes per program; each has subclasses 0 and 1, so at most 6 classes.
pub const BASES: u8 = 3;
/// Lock instances per base class: the first a `Mutex` (exclusive only), the others `RwLock`s.
pub const INSTANCES: u8 = 3;

/// One step of a thread, as generated (before [`normalize`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Acquire instance `inst` (of base class `inst / INSTANCES`) as subclass `sub` in mode
    /// `rd`; with `trylock`, `try_write` / `try_read` (subclass 0, never a recursive read).
    Lock {
        inst: u8,
        sub: u8,
        rd: Rd,
        trylock: bool,
    },
    /// Drop the guard `from_top` places below the top of this thread's held stack (modulo the
    /// stack's depth): 0 is a LIFO release, anything else an out-of-order one. With `force`,
    /// the guard is forgotten and the lock released by `force_unlock*` instead.
    Unlock { from_top: u8, force: bool },
}

/// Threads that run one after another; each ends by releasing what it still holds (LIFO).
/// With `real_threads`, each runs on a thread of its own, joined before the next starts;
/// otherwise they are sequential segments of the test's thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub threads: Vec<Vec<Op>>,
    pub real_threads: bool,
}

/// Steer the generator around the lockdep bugs not fixed yet (each kept as an ignored
/// regression test in oracle.rs), so that it keeps looking for new ones.
pub const AVOID_KNOWN_BUGS: bool = true;

/// A step as executed: every ambiguity resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Lock {
        inst: u8,
        class: Class,
        rd: Rd,
        trylock: bool,
    },
    /// A trylock that must fail (the thread holds the instance in a conflicting mode).
    FailedTry { inst: u8, rd: Rd },
    /// Release held-stack entry `idx` (0 = bottom).
    Unlock { idx: usize, force: bool },
}

/// Turns generated ops into executable steps: a recursive read or a trylock is always of
/// subclass 0 (the API has no nested variants of them); a blocking acquisition of an instance
/// this thread already holds where either side is exclusive (a certain self-deadlock, on which
/// lockdep panics) is dropped; an unlock with nothing held is dropped; a trylock is predicted
/// to fail exactly when parking_lot's would.
fn normalize(ops: &[Op], avoid_known_bugs: bool) -> Vec<Step> {
    let mut held: Vec<(u8, Rd, bool, u8)> = Vec::new();
    let mut out = Vec::new();
    for &op in ops {
        match op {
            Op::Lock {
                inst,
                sub,
                rd,
                trylock,
            } => {
                let inst = inst % (BASES * INSTANCES);
                let base = inst / INSTANCES;
                let rd = if inst % INSTANCES == 0 { Rd::W } else { rd }; // a Mutex
                let (sub, rd) = if trylock {
                    (0, if rd == Rd::W { Rd::W } else { Rd::R1 })
                } else if rd == Rd::R2 {
                    (0, rd)
                } else {
                    (sub % 2, rd)
                };
                let mut same = held.iter().filter(|&&(i, ..)| i == inst);
                let conflict = if rd == Rd::W {
                    same.next().is_some()
                } else {
                    same.any(|&(_, r, ..)| r == Rd::W)
                };
                if conflict {
                    if trylock {
                        out.push(Step::FailedTry { inst, rd });
                    }
                    continue;
                }
                held.push((inst, rd, trylock, sub));
                out.push(Step::Lock {
                    inst,
                    class: Class { base, sub },
                    rd,
                    trylock,
                });
            }
            Op::Unlock { from_top, force } => {
                if held.is_empty() {
                    continue;
                }
                let idx = held.len() - 1 - (from_top as usize % held.len());
                let j = released_entry(&held, idx, force);
                if avoid_known_bugs && force && j != idx {
                    // A `force_unlock_read` of an instance read-locked again higher up is
                    // ambiguous: no guard says which acquisition it ends, so lockdep removes
                    // the topmost and the orphaned guard later takes the topmost entry of the
                    // instance held the same way, which need not be the one the forgotten
                    // guard had. (Dropped guards are exact: see `bug4_*` in oracle.rs.)
                    continue;
                }
                held.remove(j);
                out.push(Step::Unlock { idx, force });
            }
        }
    }
    // The thread's end: release the rest, top first.
    for idx in (0..held.len()).rev() {
        out.push(Step::Unlock { idx, force: false });
    }
    out
}

/// What tells two held entries apart: instance, mode, trylock, subclass.
type EntryKey = (u8, Rd, bool, u8);

/// Which held entry a release removes, given the releasing guard's own entry `idx`.
///
/// A dropped guard removes its own entry; of a run of identical adjacent entries it may as
/// well remove the topmost (the stack that results is the same, and fewer entries are
/// re-acquired), the guards' positions then standing for the entries that remain. A
/// `force_unlock*` has no guard to tell which acquisition it ends: it removes the topmost entry
/// of the instance held in the matching way (shared for `force_unlock_read`, exclusive
/// otherwise), as the kernel's `lock_release` does; only a reader can be held twice, so this
/// differs from `idx` only for `force_unlock_read` of an instance read-locked again higher up.
fn released_entry(keys: &[EntryKey], idx: usize, force: bool) -> usize {
    let mut j = if force {
        let (inst, rd, ..) = keys[idx];
        (idx..keys.len())
            .rev()
            .find(|&j| keys[j].0 == inst && keys[j].1.shared() == rd.shared())
            .expect("idx itself matches")
    } else {
        idx
    };
    while j + 1 < keys.len() && keys[j + 1] == keys[j] {
        j += 1;
    }
    j
}

/// A lock of a program: a `Mutex` or an `RwLock` of one of its classes.
pub enum Lock {
    M(Mutex<()>),
    Rw(RwLock<()>),
}

impl Lock {
    fn acquire(&self, class: Class, rd: Rd, trylock: bool) -> Option<Guard<'_>> {
        match (self, rd, trylock) {
            (Lock::M(m), _, false) => Some(Guard::M(m.lock_nested(class.sub))),
            (Lock::M(m), _, true) => m.try_lock().map(Guard::M),
            (Lock::Rw(l), Rd::W, false) => Some(Guard::W(l.write_nested(class.sub))),
            (Lock::Rw(l), Rd::R1, false) => Some(Guard::R(l.read_nested(class.sub))),
            (Lock::Rw(l), Rd::R2, false) => Some(Guard::R(l.read_recursive())),
            (Lock::Rw(l), Rd::W, true) => l.try_write().map(Guard::W),
            (Lock::Rw(l), _, true) => l.try_read().map(Guard::R),
        }
    }
}

enum Guard<'a> {
    M(#[allow(dead_code)] MutexGuard<'a, ()>),
    R(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    W(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

impl Guard<'_> {
    /// Releases the lock through `force_unlock*` after forgetting the guard.
    fn force_release(self, lock: &Lock) {
        match (self, lock) {
            (Guard::M(g), Lock::M(m)) => {
                std::mem::forget(g);
                // SAFETY: this thread locked `m` through the guard just forgotten.
                unsafe { m.force_unlock() }
            }
            (Guard::R(g), Lock::Rw(l)) => {
                std::mem::forget(g);
                // SAFETY: this thread read-locked `l` through the guard just forgotten.
                unsafe { l.force_unlock_read() }
            }
            (Guard::W(g), Lock::Rw(l)) => {
                std::mem::forget(g);
                // SAFETY: this thread write-locked `l` through the guard just forgotten.
                unsafe { l.force_unlock_write() }
            }
            _ => unreachable!("a guard of another kind of lock"),
        }
    }
}

/// One report, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kind: ReportKind,
    acquiring: Option<String>,
    holding: Option<String>,
    classes: Vec<String>,
    held: Vec<String>,
}

fn seen(r: &Report) -> Seen {
    Seen {
        kind: r.kind(),
        acquiring: r.acquiring(),
        holding: r.holding(),
        classes: r.class_names(),
        held: r.held_locks(),
    }
}

fn matches(s: &Seen, e: &Expected) -> bool {
    match e {
        Expected::Recursive {
            acquiring,
            holding,
            held,
        } => {
            s.kind == ReportKind::RecursiveLocking
                && s.acquiring.as_ref() == Some(acquiring)
                && s.holding.as_ref() == Some(holding)
                && &s.held == held
        }
        Expected::Circular {
            acquiring,
            holding,
            held,
            paths,
            ..
        } => {
            s.kind == ReportKind::CircularDependency
                && s.acquiring.as_ref() == Some(acquiring)
                && s.holding.as_ref() == Some(holding)
                && &s.held == held
                && paths.contains(&s.classes)
        }
    }
}

/// Two expected problems of one step that lockdep may treat as one (same dedupe key): only
/// possible for re-acquisitions within one release.
fn same_problem(a: &Expected, b: &Expected) -> bool {
    match (a, b) {
        (
            Expected::Recursive {
                acquiring: a1,
                holding: h1,
                ..
            },
            Expected::Recursive {
                acquiring: a2,
                holding: h2,
                ..
            },
        ) => a1 == a2 && h1 == h2,
        // One cycle (the same class pairs), whichever of its edges closed it.
        (Expected::Circular { paths: p1, .. }, Expected::Circular { paths: p2, .. }) => p1
            .iter()
            .any(|a| p2.iter().any(|b| cycle_edges(a) == cycle_edges(b))),
        _ => false,
    }
}

/// The class pairs of the cycle `path[0] -> ... -> path[n] -> path[0]`.
fn cycle_edges(path: &[String]) -> std::collections::BTreeSet<(&str, &str)> {
    let n = path.len();
    (0..n)
        .map(|i| (path[i].as_str(), path[(i + 1) % n].as_str()))
        .collect()
}

/// Does lockdep's list of reports for one step match the oracle's? A problem equal to an
/// earlier one of the same step may be missing (lockdep reports each problem once per
/// capture); nothing else may differ.
fn compare(actual: &[Seen], expected: &[Expected]) -> bool {
    let mut a = 0;
    for (i, e) in expected.iter().enumerate() {
        if a < actual.len() && matches(&actual[a], e) {
            a += 1;
        } else if !expected[..i].iter().any(|p| same_problem(p, e)) {
            return false;
        }
    }
    a == actual.len()
}

/// The outcome of running one program.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Reports lockdep raised (all kinds), in order.
    pub reports: Vec<ReportKind>,
    /// Cycles found only through walks that repeat a class.
    pub walk_only_cycles: usize,
    /// Steps executed.
    pub steps: usize,
}

struct Ctx<'a> {
    locks: &'a [Lock],
    log: String,
    outcome: Outcome,
}

/// Runs `program` against lockdep (fresh classes) and the oracle, comparing after every step.
pub fn run(program: &Program) -> Result<Outcome, String> {
    run_with(program, AVOID_KNOWN_BUGS)
}

/// [`run`], choosing whether to steer around the known lockdep bugs.
pub fn run_with(program: &Program, avoid_known_bugs: bool) -> Result<Outcome, String> {
    // Fresh classes: programs never interact through the global graph.
    let classes: Vec<&'static LockClass> = (0..BASES)
        .map(|b| {
            &*Box::leak(Box::new(LockClass::new(
                ["c0", "c1", "c2", "c3"][b as usize],
            )))
        })
        .collect();
    let locks: Vec<Lock> = (0..BASES * INSTANCES)
        .map(|i| {
            let class = classes[(i / INSTANCES) as usize];
            if i % INSTANCES == 0 {
                Lock::M(Mutex::with_class(class, ()))
            } else {
                Lock::Rw(RwLock::with_class(class, ()))
            }
        })
        .collect();
    // Take every instance once (a successful trylock, released at once: no edge, no check, no
    // chain) so that both instances of every class are alive from the start. Then no class can
    // serve as a gate lock (`Report::gates`), a refinement the oracle does not model, and no
    // new instance later makes lockdep forget its validated chains.
    for l in &locks {
        let g = l.acquire(Class { base: 0, sub: 0 }, Rd::W, true);
        drop(g.expect("a fresh lock"));
    }
    let mut oracle = Oracle::default();
    let mut ctx = Ctx {
        locks: &locks,
        log: String::new(),
        outcome: Outcome::default(),
    };
    for (t, ops) in program.threads.iter().enumerate() {
        let steps = normalize(ops, avoid_known_bugs);
        let _ = writeln!(ctx.log, "thread {t}:");
        let result = if program.real_threads {
            std::thread::scope(|s| {
                s.spawn(|| run_thread(&mut ctx, &mut oracle, &steps))
                    .join()
                    .unwrap_or_else(|p| Err(format!("thread panicked: {}", panic_text(&*p))))
            })
        } else {
            run_thread(&mut ctx, &mut oracle, &steps)
        };
        result.map_err(|e| format!("{e}\nprogram as executed:\n{}", ctx.log))?;
    }
    ctx.outcome.walk_only_cycles = oracle.walk_only_cycles;
    Ok(ctx.outcome)
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn run_thread(ctx: &mut Ctx<'_>, oracle: &mut Oracle, steps: &[Step]) -> Result<(), String> {
    // Guards in held-stack order, with the instance each one holds.
    let mut guards: Vec<(u8, Guard<'_>)> = Vec::new();
    let result = run_steps(ctx, oracle, steps, &mut guards);
    // After a disagreement, release what is left top first, quietly.
    let ((), _) = lockdep::capture(|| {
        while let Some(g) = guards.pop() {
            drop(g);
        }
    });
    result
}

fn run_steps<'a>(
    ctx: &mut Ctx<'a>,
    oracle: &mut Oracle,
    steps: &[Step],
    guards: &mut Vec<(u8, Guard<'a>)>,
) -> Result<(), String> {
    let locks = ctx.locks;
    for &step in steps {
        ctx.outcome.steps += 1;
        let (actual, expected) = match step {
            Step::Lock {
                inst,
                class,
                rd,
                trylock,
            } => {
                let _ = writeln!(
                    ctx.log,
                    "  {} inst {inst} as {} ({rd:?})",
                    if trylock { "try" } else { "lock" },
                    class.name()
                );
                let l = &locks[inst as usize];
                let (g, reports) = lockdep::capture(|| l.acquire(class, rd, trylock));
                let Some(g) = g else {
                    return Err(format!("{}a trylock predicted to succeed failed", ctx.log));
                };
                guards.push((inst, g));
                let expected: Vec<Expected> = oracle
                    .acquire(class, rd, trylock, inst)
                    .into_iter()
                    .collect();
                (reports, expected)
            }
            Step::FailedTry { inst, rd } => {
                let _ = writeln!(ctx.log, "  try inst {inst} ({rd:?}): fails");
                let l = &locks[inst as usize];
                let (ok, reports) =
                    lockdep::capture(|| l.acquire(Class { base: 0, sub: 0 }, rd, true).is_some());
                if ok {
                    return Err(format!("{}a trylock predicted to fail succeeded", ctx.log));
                }
                (reports, Vec::new())
            }
            Step::Unlock { idx, force } => {
                let (inst, g) = guards.remove(idx);
                let _ = writeln!(
                    ctx.log,
                    "  {} inst {inst} (entry {idx} of {}, {})",
                    if force { "force_unlock" } else { "unlock" },
                    guards.len() + 1,
                    oracle.stack[idx].class.name()
                );
                let l = &locks[inst as usize];
                let ((), reports) = lockdep::capture(|| {
                    if force {
                        g.force_release(l);
                    } else {
                        drop(g);
                    }
                });
                let keys: Vec<EntryKey> = oracle
                    .stack
                    .iter()
                    .map(|h| (h.inst, h.rd, h.trylock, h.class.sub))
                    .collect();
                let j = released_entry(&keys, idx, force);
                if j != idx {
                    // The guard of entry j (same instance, also a reader) now stands for the
                    // acquisition at idx, which stays recorded.
                    let moved = guards.remove(j - 1);
                    guards.insert(idx, moved);
                }
                (reports, oracle.release(j))
            }
        };
        let actual: Vec<Seen> = actual.iter().map(seen).collect();
        ctx.outcome.reports.extend(actual.iter().map(|s| s.kind));
        if !compare(&actual, &expected) {
            return Err(format!(
                "lockdep and the oracle disagree at the last step\n  lockdep: {actual:#?}\n  oracle:  {expected:#?}\n{}",
                ctx.log
            ));
        }
        if oracle.stack.len() != guards.len()
            || oracle
                .stack
                .iter()
                .zip(guards.iter())
                .any(|(h, (i, _))| h.inst != *i)
        {
            return Err(format!("test bug: oracle stack out of step\n{}", ctx.log));
        }
    }
    Ok(())
}

fn rd() -> impl Strategy<Value = Rd> {
    prop_oneof![Just(Rd::W), Just(Rd::R1), Just(Rd::R2)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..BASES * INSTANCES, prop_oneof![3 => Just(0u8), 1 => Just(1u8)], rd(), proptest::bool::weighted(0.2))
            .prop_map(|(inst, sub, rd, trylock)| Op::Lock { inst, sub, rd, trylock }),
        2 => (prop_oneof![3 => Just(0u8), 1 => 1..4u8], proptest::bool::weighted(0.15))
            .prop_map(|(from_top, force)| Op::Unlock { from_top, force }),
    ]
}

/// Programs of 1 to 5 threads of up to 16 ops each.
pub fn program() -> impl Strategy<Value = Program> {
    (
        proptest::collection::vec(proptest::collection::vec(op(), 0..=16), 1..=5),
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(threads, real_threads)| Program {
            threads,
            real_threads,
        })
}
