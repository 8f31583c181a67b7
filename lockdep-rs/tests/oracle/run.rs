//! Running a program against lockdep and the oracle in lock step.
//!
//! Each op is resolved against the current state, run on lockdep, then simulated by the
//! oracle, which consumes lockdep's reports of the step as it delivers its own problems (see
//! [`Runner::deliver`]); then the panics, the held state (`is_held` of every instance) and
//! the mode must agree. Reports are read per step: inside a `capture` of the step (`Capture`,
//! parallel-safe), or outside any capture from `take_reports` (`Global`: modes, hooks and
//! thread programs; one program at a time, `reset()` between programs).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use lockdep::{Mode, ReportKind};

use super::hook::{HookCtx, HOOK};
use super::model::Rd;
use super::model::{Acq, Class, Inst, Kind, Oracle, Problem, Req, Sel};
use super::program::{HookAct, Op, Program};
use super::verify::{self, matches, reported_before, Seen};
use super::world::{self, catching, event_inst, map_inst, Guard, Panicked, World, LOCKS};

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
    /// Reported before: a known problem.
    Duplicate,
    /// Not reported (seen through a path lockdep does not report): nothing happens.
    Silent,
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
pub(crate) struct GuardRec {
    pub(crate) inst: u8,
    pub(crate) rd: Rd,
    pub(crate) guard: Guard,
    pub(crate) serial: Option<u64>,
}

/// One running thread of the program.
pub(crate) struct Th {
    pub(crate) t: usize,
    pub(crate) guards: Vec<GuardRec>,
    /// A rescued acquisition left the guards' real locks in an unknown state: never drop them.
    pub(crate) poisoned: bool,
    /// Nesting depth in `lockdep::thread` spawns (0: not spawned by it).
    pub(crate) depth: u8,
    /// Pseudo-lock acquisitions left held at thread exit.
    pub(crate) leaked: Vec<u64>,
    /// Locks its thread-local destructor takes: (lock, mode, inside a capture).
    pub(crate) at_exit: Vec<(u8, Rd, bool)>,
    /// Pseudo-locks it held when it called `reset()` (which forgot them), once per
    /// acquisition: released at its end like the others, which must report nothing.
    pub(crate) forgotten_maps: Vec<u8>,
}

pub struct Runner {
    pub world: &'static World,
    pub oracle: Oracle,
    pub env: Env,
    pub mode: Mode,
    pub hook: Option<HookAct>,
    pub log: world::Log,
    pub outcome: Outcome,
    /// Problems delivered (with the report that showed each): this step's (`Capture`) or the
    /// program's (`Global`).
    pub(crate) delivered: Vec<(Problem, Seen)>,
    /// This step's reports not matched yet.
    pub(crate) observed: Vec<Seen>,
    /// How many reports lockdep raised this step, and what the oracle delivered so far.
    pub(crate) step_reports: usize,
    pub(crate) step_trace: Vec<String>,
    /// Real holds of every lock: (thread, mode).
    pub(crate) real: Vec<Vec<(usize, Rd)>>,
    pub(crate) current: Option<u8>,
    /// The hook's lock is a hazard for this step (the hook then does nothing).
    pub(crate) hook_skip: bool,
    /// The mutex of the condvar wait the step is.
    pub(crate) waited: Option<u8>,
    /// The lock the step releases.
    pub(crate) released: Option<u8>,
    pub(crate) next_thread: usize,
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
            oracle: Oracle::new(World::bases(), env == Env::Capture),
            env,
            mode: program.mode,
            hook: program.hook,
            log: world::Log::default(),
            outcome: Outcome::default(),
            delivered: Vec::new(),
            observed: Vec::new(),
            step_reports: 0,
            step_trace: Vec::new(),
            real: vec![Vec::new(); LOCKS as usize + 1],
            current: None,
            hook_skip: false,
            waited: None,
            released: None,
            next_thread: 0,
            poisoned: false,
            bodies: program.bodies.clone(),
            avoid_known: true,
        }
    }

    /// Shows this runner's log to the supervisor if the program hangs.
    pub fn watched(self) -> Runner {
        *self
            .world
            .monitor
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = self.log.clone();
        self
    }

    pub(crate) fn fail(&self, what: impl std::fmt::Display) -> String {
        let hook = match self.hook {
            Some(act) => format!(" (report hook: {act:?})"),
            None => String::new(),
        };
        format!("{what}\nprogram as executed{hook}:\n{}", self.log)
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
            forgotten_maps: Vec::new(),
        }
    }
}

impl Runner {
    pub(crate) fn own_holds(&self, t: usize) -> Vec<Vec<Rd>> {
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
            self.hook_skip = self.hook_hazard(t);
            let mut g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
            *g = self.hook.map(|act| HookCtx {
                world: self.world,
                act,
                current: self.current,
                holds: self.own_holds(t),
                skip: self.hook_hazard(t),
            });
        }
        let ((r, panics), reports) = match self.env {
            Env::Capture => lockdep::capture(|| catching(f)),
            Env::Global => {
                let r = catching(f);
                (r, super::hook::take_stash())
            }
        };
        if self.env == Env::Capture {
            self.delivered.clear();
        }
        self.observed = reports.iter().map(verify::seen).collect();
        self.step_reports = self.observed.len();
        self.step_trace.clear();
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
        let ambiguous = matches!(p, Problem::Circular { .. } | Problem::Instance { .. });
        let found = found.filter(|_| !dup || ambiguous);
        let what = self.describe(&p);
        self.step_trace.push(format!(
            "{}{}",
            what.lines().next().unwrap_or(""),
            if found.is_some() {
                " (matched)"
            } else {
                " (not reported)"
            }
        ));
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
        let optional = match &p {
            Problem::Circular { optional, .. } => *optional,
            Problem::Instance { candidates, .. } => candidates.contains(&None),
            _ => false,
        };
        if optional {
            return Ok(Delivery::Silent); // lockdep may have found it through a silent path
        }
        if dup {
            return Ok(Delivery::Duplicate); // one problem, one report, in every mode
        }
        let why = match self.observed.first() {
            Some(s) => format!(
                "lockdep's next report differs ({}):\n  {s:#?}",
                matches(&self.oracle, s, &p).unwrap_err()
            ),
            None => "lockdep reported nothing more".into(),
        };
        Err(self.fail(format!(
            "lockdep and the oracle disagree at the last step: the oracle expects\n  {}\n{why}\n\
             (lockdep raised {} reports this step; the oracle's problems so far: {:#?})",
            self.describe(&p),
            self.step_reports,
            self.step_trace
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
            Problem::Instance {
                acquiring,
                holding,
                held,
                path_len,
                candidates,
            } => format!(
                "InstanceInversion: acquiring {} holding {}, held {:?}, closing a cycle of {} \
                 instance orders ({} of {} shortest paths reported)",
                n(*acquiring),
                n(*holding),
                ns(held),
                path_len + 1,
                candidates.iter().flatten().count(),
                candidates.len()
            ),
            Problem::NestNotHeld {
                acquiring, nest, ..
            } => {
                format!(
                    "NestLockNotHeld: acquiring {} under {}",
                    n(*acquiring),
                    n(*nest)
                )
            }
            Problem::HeldAtExit { classes, .. } => {
                format!("LocksHeldAtExit of {:?}", ns(classes))
            }
        }
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
        let known = self.oracle.last_known;
        let panic = v.certain | self.deliver_all(t, v.problems, in_hook, known)?;
        if panic {
            return Ok((true, None));
        }
        Ok((false, self.oracle.commit(t, v.plan)))
    }

    /// Delivers the problems of a fresh acquisition; returns whether it panics: a new report in
    /// `Panic` mode, or a known problem (its chain cached with problems, `known`, or a report
    /// that is a duplicate) in `Panic` mode outside a capture — lockdep stops every thread that
    /// reaches a known problem again.
    fn deliver_all(
        &mut self,
        t: usize,
        problems: Vec<Problem>,
        in_hook: bool,
        mut known: bool,
    ) -> Result<bool, String> {
        let mut panic = false;
        for p in problems {
            match self.deliver(t, p, in_hook)? {
                Delivery::MustPanic => panic = true,
                Delivery::Duplicate => known = true,
                Delivery::Delivered | Delivery::Silent => {}
            }
        }
        Ok(panic || (known && self.env == Env::Global && self.mode == Mode::Panic))
    }

    /// Validation without holding (event wait, `might_acquire`, a condvar's event).
    pub(crate) fn sim_validate_only(&mut self, t: usize, class: Class) -> Result<bool, String> {
        if self.mode == Mode::Off {
            return Ok(false);
        }
        let problems = self.oracle.validate_only(t, class, Rd::W);
        let known = self.oracle.last_known;
        self.deliver_all(t, problems, false, known)
    }

    /// A release as the oracle sees it; `None` if nothing is held that matches (a bad unlock,
    /// reported unless `Off`). Problems of a release never panic, except a bad unlock in
    /// `Panic` mode.
    pub(crate) fn sim_release(
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
        if !self.observed.is_empty() {
            return Err(self.fail(format!(
                "lockdep and the oracle disagree at the last step: unexpected reports\n  {:#?}\n\
                 (the oracle's problems this step: {:#?})",
                self.observed, self.step_trace
            )));
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

/// Runs `program` against lockdep (a fresh world) and the oracle, comparing after every step:
/// on a thread of its own, supervised (condvar wake-ups, rescues from self-deadlocks lockdep
/// lets block, a time limit).
pub fn run(program: &Program) -> Result<Outcome, String> {
    static PROGRAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROGRAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let world = World::new(&format!("p{n}."));
    let p = program.clone();
    supervise(world, move || {
        let mut runner = Runner::new(world, Env::Capture, &p).watched();
        for ops in &p.threads {
            if p.real_threads {
                let r = std::thread::scope(|s| {
                    s.spawn(|| runner.thread(ops, true))
                        .join()
                        .unwrap_or_else(|_| Err("thread panicked".into()))
                });
                r?;
            } else {
                runner.thread(ops, false)?;
            }
        }
        Ok(runner.outcome)
    })
}

/// Runs `f` on a thread of its own while this one wakes its condvar waits and rescues it from
/// blocked self-deadlocks; fails after 20 s (the program thread is left blocked).
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
        if start.elapsed() > Duration::from_secs(20) {
            let log = world
                .monitor
                .log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            // The program thread stays blocked; a global run renews its world.
            return Err(format!(
                "a program hung for 20 s (a real deadlock lockdep did not prevent?)\n\
                 program so far:\n{log}"
            ));
        }
    }
}

/// Which program of a generator's run failed first, and how (proptest goes on to shrink it,
/// running more programs, and shows only the last failure): counted from 1.
#[derive(Default)]
pub struct FirstFailure(std::sync::Mutex<Tally>);

#[derive(Default)]
struct Tally {
    started: usize,
    passed: usize,
    first: Option<(usize, String)>,
}

impl FirstFailure {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A program starts (the one before it panicked if it neither passed nor failed).
    pub fn start(&self) {
        let mut t = self.tally();
        if t.started > t.passed && t.first.is_none() {
            t.first = Some((t.started, "(the test panicked)".into()));
        }
        t.started += 1;
    }

    /// The program started last passed.
    pub fn pass(&self) {
        self.tally().passed += 1;
    }

    /// The program started last failed with `why`.
    pub fn fail(&self, why: &str) {
        let mut t = self.tally();
        if t.first.is_none() {
            t.first = Some((t.started, why.to_string()));
        }
        t.passed = t.started; // not a panic
    }

    /// The first failure: the program's number and what failed.
    pub fn first(&self) -> Option<(usize, String)> {
        let t = self.tally();
        t.first
            .clone()
            .or_else(|| (t.started > t.passed).then(|| (t.started, "(the test panicked)".into())))
    }
}

/// Is check `what` skipped? For triage only (never set by the tests themselves): with
/// `ORACLE_SKIP=rule1,panic-location,release-hook` (any of them) a run looks past a known,
/// pending disagreement to the next one: `rule1` generates no certain self-deadlocks,
/// `panic-location` accepts a lockdep panic that points into lockdep, `release-hook` keeps a
/// report hook from taking the lock whose release (or condvar wait) raised the report.
pub fn skip(what: &str) -> bool {
    std::env::var("ORACLE_SKIP").is_ok_and(|v| v.split(',').any(|s| s.trim() == what))
}
