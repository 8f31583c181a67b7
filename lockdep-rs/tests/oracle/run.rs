//! Running a program against lockdep and the oracle in lock step.
//!
//! Each op is resolved against the current state, run on lockdep, then simulated by the
//! oracle, which consumes lockdep's reports of the step as it delivers its own problems (see
//! [`Runner::deliver`]); then the panics, the held state (`is_held` of every instance) and
//! the mode must agree. Reports are read per step: inside a `capture` of the step (`Capture`,
//! parallel-safe), or outside any capture from `take_reports` (`Global`: modes, hooks and
//! thread programs; one program at a time, `reset()` between programs).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use lockdep::{Mode, ReportKind};

use super::model::Rd;
use super::model::{Acq, Class, Inst, Kind, Oracle, Problem, Req, Sel};
use super::program::{EvAct, HookAct, How, MapAct, Op, Program};
use super::verify::{self, matches, reported_before, Seen};
use super::world::{
    self, catching, event_inst, map_inst, Guard, Panicked, Pending, World, B_CV, B_EVENT, B_MAP,
    LOCKS,
};

/// Where reports are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Env {
    Capture,
    Global,
}

/// How a delivered problem affects the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    Duplicate,
    MustPanic,
}

/// The outcome of running one program.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Reports lockdep raised (all kinds), in order.
    pub reports: Vec<ReportKind>,
    /// Steps executed.
    pub steps: usize,
    /// Steps that panicked (as expected).
    pub panics: usize,
}

/// A guard of the program, and the acquisition it stands for (`None`: untracked, taken in
/// `Off` mode or after a condvar wait in `Off` mode).
struct GuardRec {
    inst: u8,
    rd: Rd,
    guard: Guard,
    serial: Option<u64>,
}

/// One running thread of the program.
pub(crate) struct Th {
    pub(crate) t: usize,
    guards: Vec<GuardRec>,
    /// A rescued acquisition left the guards' real locks in an unknown state: never drop them.
    poisoned: bool,
    /// Nesting depth in `lockdep::thread` spawns (0: not spawned by it).
    pub(crate) depth: u8,
    /// Pseudo-lock acquisitions left held at thread exit.
    pub(crate) leaked: Vec<u64>,
    /// Locks its thread-local destructor takes: (lock, mode, inside a capture).
    pub(crate) at_exit: Vec<(u8, Rd, bool)>,
}

/// What the report hook of a global program does; set by the runner, read by the hook.
pub struct HookCtx {
    pub world: &'static World,
    pub act: HookAct,
    /// The lock the step is acquiring.
    pub current: Option<u8>,
    /// How this thread really holds each lock.
    pub holds: Vec<Vec<Rd>>,
}

pub static HOOK: StdMutex<Option<HookCtx>> = StdMutex::new(None);

/// The hook global programs install: records nothing (reports are read back with
/// `take_reports`), does what the program's [`HookAct`] says.
pub fn hook(_: &lockdep::Report) {
    let (world, act, current, holds) = {
        let g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = g.as_ref() else { return };
        (c.world, c.act, c.current, c.holds.clone())
    };
    let (inst, rd) = match act {
        HookAct::SetMode(m) => return lockdep::set_mode(m),
        HookAct::Take(i, rd) => (i % LOCKS, rd),
        HookAct::TakeCurrent => match current {
            Some(i) => (i, Rd::W),
            None => return,
        },
    };
    let l: &'static world::Lock = &world.locks[inst as usize];
    let rd = if l.is_mutex() { Rd::W } else { rd };
    let own = &holds[inst as usize];
    if conflicts(own, rd) {
        world.monitor.set(Pending::refuse(l, own.clone()));
    }
    drop(l.lock(0, rd));
}

fn conflicts(holds: &[Rd], rd: Rd) -> bool {
    if rd == Rd::W {
        !holds.is_empty()
    } else {
        holds.contains(&Rd::W)
    }
}

pub struct Runner {
    pub world: &'static World,
    pub oracle: Oracle,
    pub env: Env,
    pub mode: Mode,
    pub hook: Option<HookAct>,
    pub log: String,
    pub outcome: Outcome,
    /// Problems delivered (with the report that showed each): this step's (`Capture`) or the
    /// program's (`Global`).
    delivered: Vec<(Problem, Seen)>,
    /// This step's reports not matched yet.
    observed: Vec<Seen>,
    /// Real holds of every lock: (thread, mode).
    pub(crate) real: Vec<Vec<(usize, Rd)>>,
    current: Option<u8>,
    next_thread: usize,
    /// A rescue left real locks in an unknown state: never drop a guard again.
    pub(crate) poisoned: bool,
    /// Bodies of spawned threads.
    pub(crate) bodies: Vec<Vec<Op>>,
    /// Steer around the known ambiguity of `force_unlock_read` (see `resolve`).
    pub avoid_known: bool,
}

impl Runner {
    pub fn new(world: &'static World, env: Env, program: &Program) -> Runner {
        Runner {
            world,
            oracle: Oracle::new(World::bases()),
            env,
            mode: program.mode,
            hook: program.hook,
            log: String::new(),
            outcome: Outcome::default(),
            delivered: Vec::new(),
            observed: Vec::new(),
            real: vec![Vec::new(); LOCKS as usize + 1],
            current: None,
            next_thread: 0,
            poisoned: false,
            bodies: program.bodies.clone(),
            avoid_known: true,
        }
    }

    pub(crate) fn fail(&self, what: impl std::fmt::Display) -> String {
        format!("{what}\nprogram as executed:\n{}", self.log)
    }

    pub(crate) fn new_thread(&mut self) -> Th {
        let t = self.next_thread;
        self.next_thread += 1;
        Th::new(t, 0)
    }
}

impl Th {
    pub(crate) fn new(t: usize, depth: u8) -> Th {
        Th {
            t,
            guards: Vec::new(),
            poisoned: false,
            depth,
            leaked: Vec::new(),
            at_exit: Vec::new(),
        }
    }
}

impl Runner {
    fn own_holds(&self, t: usize) -> Vec<Vec<Rd>> {
        self.real
            .iter()
            .map(|v| v.iter().filter(|h| h.0 == t).map(|h| h.1).collect())
            .collect()
    }

    /// Runs `f` on lockdep; the step's reports go to `observed`.
    pub(crate) fn on_lockdep<R>(
        &mut self,
        t: usize,
        f: impl FnOnce() -> R,
    ) -> (Option<R>, Vec<Panicked>) {
        if self.env == Env::Global {
            let mut g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
            *g = self.hook.map(|act| HookCtx {
                world: self.world,
                act,
                current: self.current,
                holds: self.own_holds(t),
            });
        }
        let ((r, panics), reports) = match self.env {
            Env::Capture => lockdep::capture(|| catching(f)),
            Env::Global => {
                let r = catching(f);
                (r, lockdep::take_reports())
            }
        };
        if self.env == Env::Capture {
            self.delivered.clear();
        }
        self.observed = reports.iter().map(verify::seen).collect();
        self.outcome
            .reports
            .extend(reports.iter().map(|r| r.kind()));
        (r.ok(), panics)
    }

    /// Delivers one of the oracle's problems: it must be the next report lockdep raised,
    /// unless it is one lockdep already reported (then lockdep must stay silent, and in
    /// `Panic` mode still panic). A new report outside a capture runs the hook, then the mode
    /// acts. A cycle lockdep reported before may still be shown again through another path:
    /// which path lockdep finds is its choice.
    pub(crate) fn deliver(
        &mut self,
        t: usize,
        p: Problem,
        in_hook: bool,
    ) -> Result<Delivery, String> {
        let dup = reported_before(&self.oracle, &p, &self.delivered);
        let any_order = matches!(p, Problem::HeldAtExit { .. });
        let found = if any_order {
            self.observed
                .iter()
                .position(|s| matches(&self.oracle, s, &p).is_ok())
        } else {
            self.observed
                .first()
                .filter(|s| matches(&self.oracle, s, &p).is_ok())
                .map(|_| 0)
        };
        let found = found.filter(|_| !dup || matches!(p, Problem::Circular { .. }));
        let panic_mode = self.env == Env::Global && self.mode == Mode::Panic;
        if let Some(i) = found {
            let s = self.observed.remove(i);
            self.delivered.push((p, s));
            if self.env == Env::Global && !in_hook {
                self.run_hook(t)?;
            }
            let panic_mode = self.env == Env::Global && self.mode == Mode::Panic;
            return Ok(if panic_mode {
                Delivery::MustPanic
            } else {
                Delivery::Delivered
            });
        }
        if matches!(p, Problem::Circular { optional: true, .. }) {
            return Ok(Delivery::Duplicate); // shown through a gated path: ignored
        }
        if dup {
            return Ok(if panic_mode {
                Delivery::MustPanic
            } else {
                Delivery::Duplicate
            });
        }
        let why = match self.observed.first() {
            Some(s) => format!(
                "lockdep's next report differs ({}):\n  {s:#?}",
                matches(&self.oracle, s, &p).unwrap_err()
            ),
            None => "lockdep reported nothing more".into(),
        };
        Err(self.fail(format!(
            "lockdep and the oracle disagree at the last step: the oracle expects\n  {}\n{why}",
            self.describe(&p)
        )))
    }

    /// Delivers a problem whose report may or may not be seen (raised inside a `capture` in a
    /// thread-local destructor: issue 12 item 12 lets such a capture return nothing).
    pub(crate) fn deliver_maybe(&mut self, p: Problem) {
        if let Some(s) = self.observed.first() {
            if matches(&self.oracle, s, &p).is_ok() {
                let s = self.observed.remove(0);
                self.delivered.push((p, s));
            }
        }
    }

    pub fn describe(&self, p: &Problem) -> String {
        let n = |c: Class| self.oracle.name(c);
        let ns = |v: &[Class]| v.iter().map(|&c| n(c)).collect::<Vec<_>>();
        match p {
            Problem::Recursive {
                acquiring,
                new_rd,
                holding,
                held,
                certain,
            } => format!(
                "RecursiveLocking{}: acquiring {} ({new_rd:?}) holding one of {:?}, held {:?}",
                if *certain {
                    " (certain self-deadlock)"
                } else {
                    ""
                },
                n(*acquiring),
                holding
                    .iter()
                    .map(|&(c, r)| format!("{} ({r:?})", n(c)))
                    .collect::<Vec<_>>(),
                ns(held)
            ),
            Problem::Circular {
                acquiring,
                new_rd,
                holding,
                prev_rd,
                held,
                graph,
                optional,
                ..
            } => format!(
                "a{} cycle: acquiring {} ({new_rd:?}) holding {} ({prev_rd:?}), held {:?}, in\n{}",
                if *optional { "n optional (gated)" } else { "" },
                n(*acquiring),
                n(*holding),
                ns(held),
                verify::graph_text(&self.oracle, graph)
            ),
            Problem::BadUnlock { class } => format!("BadUnlockBalance of {}", n(*class)),
            Problem::HeldAtExit { classes } => format!("LocksHeldAtExit of {:?}", ns(classes)),
        }
    }

    /// The report hook's effect, as the oracle sees it (`Global` only).
    fn run_hook(&mut self, t: usize) -> Result<(), String> {
        let Some(act) = self.hook else { return Ok(()) };
        let (inst, rd) = match act {
            HookAct::SetMode(m) => {
                self.mode = m;
                return Ok(());
            }
            HookAct::Take(i, rd) => (i % LOCKS, rd),
            HookAct::TakeCurrent => match self.current {
                Some(i) => (i, Rd::W),
                None => return Ok(()),
            },
        };
        if self.mode == Mode::Off {
            return Ok(());
        }
        let rd = if self.world.locks[inst as usize].is_mutex() {
            Rd::W
        } else {
            rd
        };
        let req = Req {
            class: world::lock_class(inst, 0),
            rd,
            inst: inst as Inst,
            trylock: false,
            nest: None,
        };
        let _ = writeln!(self.log, "    (hook takes inst {inst} {rd:?})");
        if let (false, Some(s)) = self.sim_acquire(t, req, Kind::Lock, true)? {
            let off = self.mode == Mode::Off;
            let (_, problems) = self
                .oracle
                .release(t, Sel::Serial(s), off)
                .expect("just pushed");
            for p in problems {
                self.deliver(t, p, true)?;
            }
        }
        Ok(())
    }

    /// An acquisition as the oracle sees it: validated, delivered, then committed unless it
    /// panics. Returns (panics, serial of the recorded acquisition).
    pub(crate) fn sim_acquire(
        &mut self,
        t: usize,
        req: Req,
        kind: Kind,
        in_hook: bool,
    ) -> Result<(bool, Option<u64>), String> {
        if self.mode == Mode::Off {
            return Ok((false, None));
        }
        let v = self.oracle.acquire(t, req, kind);
        let mut panic = v.certain;
        for p in v.problems {
            if self.deliver(t, p, in_hook)? == Delivery::MustPanic {
                panic = true;
            }
        }
        if panic {
            return Ok((true, None));
        }
        Ok((false, self.oracle.commit(t, v.plan)))
    }

    /// Validation without holding (event wait, `might_acquire`, a condvar's event).
    pub(crate) fn sim_validate_only(&mut self, t: usize, class: Class) -> Result<bool, String> {
        if self.mode == Mode::Off {
            return Ok(false);
        }
        let mut panic = false;
        for p in self.oracle.validate_only(t, class, Rd::W) {
            panic |= self.deliver(t, p, false)? == Delivery::MustPanic;
        }
        Ok(panic)
    }

    /// A release as the oracle sees it; `None` if nothing is held that matches (a bad unlock,
    /// reported unless `Off`). Problems of a release never panic, except a bad unlock in
    /// `Panic` mode.
    fn sim_release(
        &mut self,
        t: usize,
        sel: Sel,
        bad: Option<Class>,
    ) -> Result<(Option<Acq>, bool), String> {
        let off = self.mode == Mode::Off;
        match self.oracle.release(t, sel, off) {
            Some((acq, problems)) => {
                for p in problems {
                    self.deliver(t, p, false)?;
                }
                Ok((Some(acq), false))
            }
            None => {
                let mut panic = false;
                if let (false, Some(class)) = (off, bad) {
                    panic = self.deliver(t, Problem::BadUnlock { class }, false)?
                        == Delivery::MustPanic;
                }
                Ok((None, panic))
            }
        }
    }

    /// After a step: every report consumed, panics as expected, held state and mode agree.
    pub(crate) fn check(
        &mut self,
        t: usize,
        expect_panic: bool,
        got: (bool, Vec<Panicked>),
    ) -> Result<(), String> {
        if !self.observed.is_empty() {
            return Err(self.fail(format!(
                "lockdep and the oracle disagree at the last step: unexpected reports\n  {:#?}",
                self.observed
            )));
        }
        if self
            .world
            .monitor
            .rescued
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.poisoned = true;
            return Err(self.fail(
                "lockdep let a certain self-deadlock block (the test released the real lock \
                 behind lockdep's back to report it): it must report RecursiveLocking and panic",
            ));
        }
        let (panicked, panics) = got;
        if panicked != expect_panic {
            return Err(self.fail(format!(
                "lockdep and the oracle disagree at the last step: lockdep {}, the oracle \
                 expects it {}\n  panics: {panics:#?}",
                if panicked {
                    "panicked"
                } else {
                    "did not panic"
                },
                if expect_panic { "to" } else { "not to" },
            )));
        }
        if panicked {
            self.outcome.panics += 1;
            let last = panics.last().expect("a panic was recorded");
            if !last.file.ends_with("world.rs") && !skip("panic-location") {
                return Err(self.fail(format!(
                    "lockdep's panic points at {}:{}, not at the caller's acquisition \
                     (issue 12 item 14)\n  {}",
                    last.file,
                    last.line,
                    last.message.lines().next().unwrap_or("")
                )));
            }
        }
        if self.env == Env::Global && lockdep::mode() != self.mode {
            return Err(self.fail(format!(
                "mode: lockdep {:?}, the oracle {:?}",
                lockdep::mode(),
                self.mode
            )));
        }
        if self.mode != Mode::Off {
            self.check_held(t)?;
        }
        Ok(())
    }

    /// `is_held` of every instance (locks, pseudo-locks, events) against the oracle.
    fn check_held(&self, t: usize) -> Result<(), String> {
        let w = self.world;
        let mut wrong = Vec::new();
        for (i, l) in w.locks.iter().enumerate() {
            if l.is_held() != self.oracle.holds(t, i as Inst) {
                wrong.push(format!("lock inst {i}: is_held {}", l.is_held()));
            }
        }
        for (m, l) in w.maps.iter().enumerate() {
            if l.is_held() != self.oracle.holds(t, map_inst(m as u8)) {
                wrong.push(format!("pseudo-lock {m}: is_held {}", l.is_held()));
            }
        }
        for (e, ev) in w.events.iter().enumerate() {
            if ev.is_armed() != self.oracle.holds(t, event_inst(e as u8)) {
                wrong.push(format!("event {e}: is_armed {}", ev.is_armed()));
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        Err(self.fail(format!(
            "lockdep and the oracle disagree on what is held after the last step: {wrong:?}\n  \
             oracle's stack: {:?}",
            self.oracle
                .stack(t)
                .iter()
                .map(|h| (
                    self.oracle.name(h.class),
                    h.rd,
                    h.acqs.iter().map(|a| a.inst).collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>()
        )))
    }
}

/// Is check `what` skipped? For triage only (never set by the tests themselves): with
/// `ORACLE_SKIP=rule1,rule6,rule13,panic-location` (any of them) a run looks past known, pending
/// disagreements to the next one: `rule1` generates no certain self-deadlocks, `rule6` and
/// `rule13` make the oracle follow the old rules, `panic-location` accepts a lockdep panic that
/// points into lockdep.
pub fn skip(what: &str) -> bool {
    std::env::var("ORACLE_SKIP").is_ok_and(|v| v.split(',').any(|s| s.trim() == what))
}

/// The real holds of lock `inst` by other threads than `t` (ancestors blocked in a join).
fn others(real: &[(usize, Rd)], t: usize) -> Vec<Rd> {
    real.iter().filter(|h| h.0 != t).map(|h| h.1).collect()
}

impl Runner {
    fn add_real(&mut self, th: &Th, inst: u8, rd: Rd) {
        self.real[inst as usize].push((th.t, rd));
    }

    fn remove_real(&mut self, th: &Th, inst: u8, rd: Rd) {
        let v = &mut self.real[inst as usize];
        let i = v
            .iter()
            .rposition(|&h| h == (th.t, rd))
            .expect("a real hold");
        v.remove(i);
    }

    /// Index of the guard `from_top` places below the top, if any.
    fn pick(th: &Th, from_top: u8) -> Option<usize> {
        let n = th.guards.len();
        (n > 0).then(|| n - 1 - from_top as usize % n)
    }

    /// Runs one op (resolved against the current state; ops that cannot run are skipped).
    pub(crate) fn op(&mut self, th: &mut Th, op: Op) -> Result<(), String> {
        match op {
            Op::Lock { inst, sub, rd, how } => {
                let inst = inst % LOCKS;
                let nest = match how {
                    How::Nest(k) => match Self::pick(th, k) {
                        Some(g) => Some(g),
                        None => return Ok(()),
                    },
                    _ => None,
                };
                self.lock(th, inst, sub, rd, how, nest)
            }
            Op::Relock {
                from_top,
                sub,
                rd,
                nest,
            } => {
                let Some(g) = Self::pick(th, from_top) else {
                    return Ok(());
                };
                let inst = th.guards[g].inst;
                match nest.and_then(|k| Self::pick(th, k)) {
                    Some(n) => self.lock(th, inst, 0, Rd::W, How::Nest(0), Some(n)),
                    None => self.lock(th, inst, sub, rd, How::Block, None),
                }
            }
            Op::Unlock { from_top, force } => match Self::pick(th, from_top) {
                Some(g) => self.unlock(th, g, force),
                None => Ok(()),
            },
            Op::Wait { from_top } => {
                let mutexes: Vec<usize> = (0..th.guards.len())
                    .filter(|&g| self.world.locks[th.guards[g].inst as usize].is_mutex())
                    .collect();
                if mutexes.is_empty() {
                    return Ok(());
                }
                let g = mutexes[mutexes.len() - 1 - from_top as usize % mutexes.len()];
                self.wait(th, g)
            }
            Op::Map { m, act } => self.map(th, m % world::MAPS, act),
            Op::Ev { e, act } => self.event(th, e % world::EVENTS, act),
            Op::SetMode(m) => {
                let _ = writeln!(self.log, "  set_mode({m:?})");
                lockdep::set_mode(m);
                self.mode = m;
                Ok(())
            }
            Op::Fork { site, body } => self.fork(th, site, body),
            Op::AtExit { inst, rd, captured } => self.at_exit(th, inst % LOCKS, rd, captured),
            Op::Leak { m } => self.leak(th, m % world::MAPS),
            Op::Reset => self.reset(th),
            Op::Gate => self.lock(th, world::GATE, 0, Rd::W, How::Block, None),
            Op::IgnoreGated(ignore) => {
                let _ = writeln!(self.log, "  set_ignore_gated({ignore})");
                lockdep::set_ignore_gated(ignore);
                self.oracle.set_ignoring(ignore);
                Ok(())
            }
        }
    }

    fn lock(
        &mut self,
        th: &mut Th,
        inst: u8,
        sub: u8,
        rd: Rd,
        how: How,
        nest: Option<usize>,
    ) -> Result<(), String> {
        let w = self.world;
        let l: &'static world::Lock = &w.locks[inst as usize];
        let trylock = how == How::Try;
        let mut rd = if l.is_mutex() { Rd::W } else { rd };
        let mut sub = sub % 3;
        if trylock {
            sub = 0;
            if rd == Rd::R2 {
                rd = Rd::R1;
            }
        } else if nest.is_some() {
            (sub, rd) = (0, Rd::W);
        } else if rd == Rd::R2 {
            sub = 0;
        }
        let own: Vec<Rd> = self.real[inst as usize]
            .iter()
            .filter(|h| h.0 == th.t)
            .map(|h| h.1)
            .collect();
        let other = others(&self.real[inst as usize], th.t);
        let class = world::lock_class(inst, sub);
        if trylock && (conflicts(&own, rd) || conflicts(&other, rd)) {
            let _ = writeln!(self.log, "  try inst {inst} ({rd:?}): fails");
            self.outcome.steps += 1;
            let (r, panics) = self.on_lockdep(th.t, || l.try_lock(rd).is_some());
            if r != Some(false) {
                return Err(self.fail("a trylock predicted to fail succeeded"));
            }
            return self.check(th.t, false, (false, panics));
        }
        if conflicts(&other, rd)
            || (conflicts(&own, rd) && (self.mode == Mode::Off || skip("rule1")))
        {
            return Ok(()); // a real deadlock: not a program
        }
        let certain = conflicts(&own, rd);
        let nest_inst = nest.and_then(|g| th.guards[g].serial.map(|_| th.guards[g].inst));
        let _ = writeln!(
            self.log,
            "  {} inst {inst} as {} ({rd:?}){}{}",
            match how {
                How::Try => "try",
                How::Block => "lock",
                How::Nest(_) => "lock_nest_lock",
            },
            self.oracle.name(class),
            match nest {
                Some(g) => format!(" under inst {} (guard {g})", th.guards[g].inst),
                None => String::new(),
            },
            if certain {
                ": a certain self-deadlock"
            } else {
                ""
            }
        );
        self.outcome.steps += 1;
        if certain {
            w.monitor.set(Pending::refuse(l, own));
        }
        self.current = Some(inst);
        let guards = &th.guards;
        let (g, panics) = self.on_lockdep(th.t, || match how {
            How::Try => l.try_lock(rd),
            How::Block => Some(l.lock(sub, rd)),
            How::Nest(_) => Some(l.lock_nest(&guards[nest.expect("nest")].guard)),
        });
        self.current = None;
        w.monitor.set(Pending::Nothing);
        if w.monitor.rescued.load(std::sync::atomic::Ordering::SeqCst) {
            drop(g); // the rescued acquisition's guard: its lock is really held now
            return self.check(th.t, false, (false, Vec::new()));
        }
        let req = Req {
            class,
            rd,
            inst: inst as Inst,
            trylock,
            nest: nest_inst.map(|i| i as Inst),
        };
        let (panic, serial) = self.sim_acquire(th.t, req, Kind::Lock, false)?;
        let panicked = g.is_none();
        self.check(th.t, panic, (panicked, panics))?;
        let Some(g) = g else { return Ok(()) };
        let Some(guard) = g else {
            return Err(self.fail("a trylock predicted to succeed failed"));
        };
        self.add_real(th, inst, rd);
        th.guards.push(GuardRec {
            inst,
            rd,
            guard,
            serial,
        });
        Ok(())
    }

    fn unlock(&mut self, th: &mut Th, g: usize, force: bool) -> Result<(), String> {
        let rec = &th.guards[g];
        let (inst, rd, serial) = (rec.inst, rec.rd, rec.serial);
        let shared = if self.world.locks[inst as usize].is_mutex() {
            None
        } else {
            Some(rd.shared())
        };
        // A guard whose acquisition `reset()` forgot is released quietly when dropped; forced,
        // it would be a bad unlock that leaves the lock locked for good.
        let known = serial.is_some_and(|s| self.oracle.find(th.t, Sel::Serial(s)).is_some());
        let mut force = force && known;
        if force {
            let own = self
                .oracle
                .find(th.t, Sel::Serial(serial.expect("tracked")));
            let top = self.oracle.find(th.t, Sel::Inst(inst as Inst, shared));
            if self.avoid_known && own.map(|x| x.0) != top.map(|x| x.0) {
                // `force_unlock_read` of an instance read-locked again higher up: no guard
                // says which acquisition it ends; lockdep removes the topmost, and the
                // orphaned guard later takes whichever entry of the instance is topmost then.
                force = false;
            }
        }
        let _ = writeln!(
            self.log,
            "  {} inst {inst} (guard {g} of {}){}",
            if force { "force_unlock" } else { "unlock" },
            th.guards.len(),
            if serial.is_none() { ", untracked" } else { "" }
        );
        self.outcome.steps += 1;
        let rec = th.guards.remove(g);
        self.remove_real(th, inst, rd);
        let l: &'static world::Lock = &self.world.locks[inst as usize];
        let (r, panics) = self.on_lockdep(th.t, || {
            if force {
                l.force_release(rec.guard)
            } else {
                drop(rec.guard)
            }
        });
        let mut expect_panic = false;
        if let Some(s) = serial {
            let sel = if force {
                Sel::Inst(inst as Inst, shared)
            } else {
                Sel::Serial(s)
            };
            let (acq, panic) = self.sim_release(th.t, sel, None)?;
            expect_panic = panic;
            if let Some(acq) = acq {
                if acq.serial != s {
                    // `force_unlock` removed another acquisition of the instance: the guard
                    // of that one now stands for the forgotten one's.
                    if let Some(o) = th.guards.iter_mut().find(|x| x.serial == Some(acq.serial)) {
                        o.serial = Some(s);
                    }
                }
            }
        }
        self.check(th.t, expect_panic, (r.is_none(), panics))
    }

    fn wait(&mut self, th: &mut Th, g: usize) -> Result<(), String> {
        let serial = th.guards[g].serial;
        let _ = writeln!(
            self.log,
            "  condvar wait on inst {} (guard {g} of {}){}",
            th.guards[g].inst,
            th.guards.len(),
            if serial.is_none() { ", untracked" } else { "" }
        );
        self.outcome.steps += 1;
        let w = self.world;
        w.monitor.set(Pending::Wait);
        let guard = &mut th.guards[g].guard;
        let (r, panics) = self.on_lockdep(th.t, || world::cv_wait(&w.cv, guard));
        w.monitor.set(Pending::Nothing);
        let mut expect_panic = false;
        if let Some(s) = serial {
            let (idx, j) = self.oracle.find(th.t, Sel::Serial(s)).expect("tracked");
            let entry = self.oracle.stack(th.t)[idx].clone();
            let merged_into = (entry.acqs.len() > 1).then(|| {
                entry
                    .acqs
                    .iter()
                    .find(|a| a.serial != s)
                    .expect("another")
                    .serial
            });
            let acq = entry.acqs[j];
            self.sim_release(th.t, Sel::Serial(s), None)?;
            let off = self.mode == Mode::Off;
            let mut panic = false;
            if !off {
                panic = self.sim_validate_only(th.t, Class { base: B_CV, sub: 0 })?;
            }
            if !off && !panic {
                let nest = entry.nest.filter(|&n| self.oracle.holds(th.t, n));
                for p in self.oracle.validate_as(th.t, entry.class, acq.rd, nest) {
                    panic |= self.deliver(th.t, p, false)? == Delivery::MustPanic;
                }
            }
            if off || panic {
                th.guards[g].serial = None; // the guard is no longer tracked
            } else {
                let mut restored = entry.clone();
                restored.acqs = vec![acq];
                restored.nest = entry.nest.filter(|&n| self.oracle.holds(th.t, n));
                self.oracle.restore(th.t, idx, restored, merged_into);
            }
            expect_panic = panic;
        }
        self.check(th.t, expect_panic, (r.is_none(), panics))
    }

    pub(crate) fn map(&mut self, th: &mut Th, m: u8, act: MapAct) -> Result<(), String> {
        let w = self.world;
        let lm = &w.maps[m as usize];
        let inst = map_inst(m);
        let class = Class {
            base: B_MAP + m / 2,
            sub: 0,
        };
        let _ = writeln!(
            self.log,
            "  pseudo-lock {m} ({}): {act:?}",
            self.oracle.name(class)
        );
        self.outcome.steps += 1;
        let (r, panics) = self.on_lockdep(th.t, || match act {
            MapAct::Acquire => world::map_acquire(lm, Rd::W),
            MapAct::AcquireRead => world::map_acquire(lm, Rd::R2),
            MapAct::Release => world::map_release(lm),
            MapAct::Might => world::map_might(lm),
        });
        let expect_panic = match act {
            MapAct::Acquire | MapAct::AcquireRead => {
                let rd = if act == MapAct::Acquire {
                    Rd::W
                } else {
                    Rd::R2
                };
                let req = Req {
                    class,
                    rd,
                    inst,
                    trylock: false,
                    nest: None,
                };
                self.sim_acquire(th.t, req, Kind::Map, false)?.0
            }
            MapAct::Release => {
                self.sim_release(th.t, Sel::Inst(inst, None), Some(class))?
                    .1
            }
            MapAct::Might => self.sim_validate_only(th.t, class)?,
        };
        self.check(th.t, expect_panic, (r.is_none(), panics))
    }

    fn event(&mut self, th: &mut Th, e: u8, act: EvAct) -> Result<(), String> {
        let ev = &self.world.events[e as usize];
        let inst = event_inst(e);
        let class = Class {
            base: B_EVENT + e,
            sub: 0,
        };
        let _ = writeln!(self.log, "  event {e}: {act:?}");
        self.outcome.steps += 1;
        let (r, panics) = self.on_lockdep(th.t, || match act {
            EvAct::Arm => world::event_arm(ev),
            EvAct::Signal => world::event_signal(ev),
            EvAct::Wait => world::event_wait(ev),
        });
        let t = th.t;
        let expect_panic = match act {
            EvAct::Arm => {
                if !self.oracle.holds(t, inst) {
                    let req = Req {
                        class,
                        rd: Rd::R2,
                        inst,
                        trylock: true,
                        nest: None,
                    };
                    self.sim_acquire(t, req, Kind::Event, false)?.0
                } else {
                    false
                }
            }
            EvAct::Signal => {
                if self.oracle.holds(t, inst) {
                    self.sim_release(t, Sel::Inst(inst, None), None)?.1
                } else {
                    false
                }
            }
            EvAct::Wait => self.sim_validate_only(t, class)?,
        };
        self.check(th.t, expect_panic, (r.is_none(), panics))
    }

    /// `lockdep::reset()`.
    fn reset(&mut self, th: &mut Th) -> Result<(), String> {
        let _ = writeln!(self.log, "  reset()");
        self.outcome.steps += 1;
        let (r, panics) = self.on_lockdep(th.t, lockdep::reset);
        self.oracle.reset(th.t);
        self.delivered.clear();
        th.leaked.clear();
        self.check(th.t, false, (r.is_none(), panics))
    }

    /// Releases everything `th` still holds, top first: guards, pseudo-locks, armed events
    /// (each a step of its own).
    pub(crate) fn release_all(&mut self, th: &mut Th) -> Result<(), String> {
        loop {
            let leaked = &th.leaked;
            let Some(top) = self
                .oracle
                .stack(th.t)
                .iter()
                .rev()
                .find(|h| h.acqs.iter().any(|a| !leaked.contains(&a.serial)))
            else {
                break;
            };
            let acq = *top
                .acqs
                .iter()
                .rev()
                .find(|a| !leaked.contains(&a.serial))
                .expect("an acquisition");
            if let Some(g) = th.guards.iter().position(|g| g.serial == Some(acq.serial)) {
                self.unlock(th, g, false)?;
            } else if let Some(m) = (0..world::MAPS).find(|&m| map_inst(m) == acq.inst) {
                self.map(th, m, MapAct::Release)?;
            } else if let Some(e) = (0..world::EVENTS).find(|&e| event_inst(e) == acq.inst) {
                self.event(th, e, EvAct::Signal)?;
            } else {
                return Err(self.fail("test bug: a held entry nothing releases"));
            }
        }
        while let Some(g) = th.guards.len().checked_sub(1) {
            self.unlock(th, g, false)?;
        }
        Ok(())
    }

    /// After a failure: drop what is left quietly (or leak it if a rescue made the real
    /// locks' state unknown).
    pub(crate) fn abandon(&self, th: &mut Th) {
        let w = self.world;
        let ((), _) = lockdep::capture(|| {
            let _ = catching(|| {
                for m in &w.maps {
                    while m.is_held() {
                        m.release();
                    }
                }
                for e in &w.events {
                    e.signal();
                }
            });
        });
        let guards = std::mem::take(&mut th.guards);
        if th.poisoned || self.poisoned {
            std::mem::forget(guards);
        } else {
            let ((), _) = lockdep::capture(|| {
                let _ = catching(|| drop(guards.into_iter().rev().collect::<Vec<_>>()));
            });
        }
    }

    /// Runs the ops of one thread, then releases what it holds.
    pub(crate) fn thread(&mut self, ops: &[Op]) -> Result<(), String> {
        let mut th = self.new_thread();
        let _ = writeln!(self.log, "thread {}:", th.t);
        self.body(&mut th, ops)
    }

    /// Runs `ops` on `th`, then releases what it holds (but what it leaks).
    pub(crate) fn body(&mut self, th: &mut Th, ops: &[Op]) -> Result<(), String> {
        let th = &mut *th;
        let mut r = ops.iter().try_for_each(|&op| self.op(th, op));
        if r.is_ok() {
            r = self.release_all(th);
        }
        if r.is_err() {
            self.abandon(th);
        }
        r
    }
}

/// Runs `program` against lockdep (a fresh world) and the oracle, comparing after every step:
/// on a thread of its own, supervised (condvar wake-ups, rescues from self-deadlocks lockdep
/// lets block, a time limit).
pub fn run(program: &Program) -> Result<Outcome, String> {
    static PROGRAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROGRAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let world = World::new(&format!("p{n}."));
    let p = program.clone();
    supervise(world, move || {
        let mut runner = Runner::new(world, Env::Capture, &p);
        for ops in &p.threads {
            if p.real_threads {
                let r = std::thread::scope(|s| {
                    s.spawn(|| runner.thread(ops))
                        .join()
                        .unwrap_or_else(|_| Err("thread panicked".into()))
                });
                r?;
            } else {
                runner.thread(ops)?;
            }
        }
        Ok(runner.outcome)
    })
}

/// Runs `f` on a thread of its own while this one wakes its condvar waits and rescues it from
/// blocked self-deadlocks; fails after a minute.
pub fn supervise<T: Send + 'static>(
    world: &'static World,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r.unwrap_or_else(|p| {
            Err(format!(
                "the program thread panicked: {:?}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            ))
        }));
    });
    let start = Instant::now();
    loop {
        let busy = world.monitor.tick(&world.cv);
        let wait = if busy {
            Duration::from_micros(50)
        } else {
            Duration::from_millis(2)
        };
        match rx.recv_timeout(wait) {
            Ok(r) => return r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(format!("the program thread vanished: {e}")),
        }
        if start.elapsed() > Duration::from_secs(60) {
            panic!("a program hung for a minute (a real deadlock lockdep did not prevent?)");
        }
    }
}
