//! The report hook of global programs: what the real hook does (it reads the step's context
//! from [`HOOK`]), and what the oracle expects it to do.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::Mutex as StdMutex;

use lockdep::Mode;

use super::model::{Inst, Kind, Rd, Req, Sel};
use super::program::HookAct;
use super::run::{skip, Runner};
use super::world::{self, Pending, World, LOCKS};

/// What the report hook of a global program does; set by the runner, read by the hook.
pub struct HookCtx {
    pub world: &'static World,
    pub act: HookAct,
    /// The lock the step is acquiring.
    pub current: Option<u8>,
    /// How this thread really holds each lock.
    pub holds: Vec<Vec<Rd>>,
    /// Taking its lock would deadlock where lockdep cannot know (see [`Runner::hazard`]):
    /// the hook does nothing.
    pub skip: bool,
}

pub static HOOK: StdMutex<Option<HookCtx>> = StdMutex::new(None);

/// The reports a hook took (`HookAct::TakeReports`), until the runner collects the step's.
static STASH: StdMutex<Vec<lockdep::Report>> = StdMutex::new(Vec::new());

/// The hook takes the reports kept so far (`HookAct::TakeReports`).
fn stash() {
    let taken = lockdep::take_reports();
    STASH
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(taken);
}

/// The step's reports taken by the hook, first, then the rest (`take_reports`). The kept ones
/// are taken first: a report kept meanwhile and moved by its hook to the stash is then found
/// there, not left for the next step.
pub fn take_stash() -> Vec<lockdep::Report> {
    let kept = lockdep::take_reports();
    let mut reports = std::mem::take(&mut *STASH.lock().unwrap_or_else(|e| e.into_inner()));
    reports.extend(kept);
    reports
}

/// The hook global programs install: records nothing (reports are read back with
/// `take_reports`), does what the program's [`HookAct`] says.
pub fn hook(_: &lockdep::Report) {
    let (world, act, current, holds) = {
        let g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = g.as_ref().filter(|c| !c.skip) else {
            return;
        };
        (c.world, c.act, c.current, c.holds.clone())
    };
    if lockdep::mode() == Mode::Off {
        return; // the oracle's hook takes nothing in `Off` mode, where nothing is checked
    }
    let (inst, rd) = match act {
        HookAct::SetMode(m) => return lockdep::set_mode(m),
        HookAct::TakeReports => return stash(),
        HookAct::TakeThenSetMode(m) => {
            stash();
            return lockdep::set_mode(m);
        }
        HookAct::HoldStderr => return hold_stderr(),
        HookAct::Take(i, rd) => (i % LOCKS, rd),
        HookAct::TakeCurrent => match current {
            Some(i) => (i, Rd::W),
            None => return,
        },
    };
    let l: &'static world::Lock = &world.locks[inst as usize];
    let rd = if l.is_mutex() { Rd::W } else { rd };
    let own = &holds[inst as usize];
    /// Puts back what the program thread was doing when the hook ran (a lockdep panic in
    /// the hook unwinds through it).
    struct Restore(&'static world::Monitor, Option<Pending>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(p) = self.1.take() {
                self.0.set(p);
            }
        }
    }
    let _restore = conflicts(own, rd).then(|| {
        Restore(
            &world.monitor,
            Some(world.monitor.swap(Pending::refuse(l, own.clone()))),
        )
    });
    drop(l.lock(0, rd));
}

/// The thread [`HookAct::HoldStderr`] started: told to let go by dropping the sender.
type StderrHolder = (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>);

static STDERR_HOLDER: StdMutex<Option<StderrHolder>> = StdMutex::new(None);

/// [`HookAct::HoldStderr`]: unless one does already, a thread takes std's stderr lock and
/// keeps it until [`release_stderr`]; returns once it has it.
fn hold_stderr() {
    let mut holder = STDERR_HOLDER.lock().unwrap_or_else(|e| e.into_inner());
    if holder.is_some() {
        return;
    }
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let stderr = std::io::stderr();
        let _held = stderr.lock();
        let _ = held_tx.send(());
        let _ = release_rx.recv(); // until the sender is dropped
    });
    let _ = held_rx.recv();
    *holder = Some((release_tx, thread));
}

/// Ends [`HookAct::HoldStderr`]'s hold, if any (after each program).
pub fn release_stderr() {
    let holder = STDERR_HOLDER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some((release, thread)) = holder {
        drop(release);
        let _ = thread.join();
    }
}

/// Does acquiring in mode `rd` conflict with holds `holds` (either side exclusive)?
pub(crate) fn conflicts(holds: &[Rd], rd: Rd) -> bool {
    if rd == Rd::W {
        !holds.is_empty()
    } else {
        holds.contains(&Rd::W)
    }
}

impl Runner {
    /// The report hook's effect, as the oracle sees it (`Global` only).
    pub(crate) fn run_hook(&mut self, t: usize) -> Result<(), String> {
        let Some(act) = self.hook else { return Ok(()) };
        if let HookAct::SetMode(m) | HookAct::TakeThenSetMode(m) = act {
            self.mode = m;
            return Ok(());
        }
        if self.hook_skip {
            return Ok(());
        }
        let Some((inst, rd)) = self.hook_target() else {
            return Ok(());
        };
        if self.mode == Mode::Off {
            return Ok(());
        }
        let rd = if self.world.locks[inst as usize].is_mutex() {
            Rd::W
        } else {
            rd
        };
        let site = world::lock_site(self.world.locks[inst as usize].is_mutex(), rd);
        let req = Req {
            site,
            class: world::lock_class(inst, 0),
            rd,
            inst: inst as Inst,
            trylock: false,
            nest: None,
        };
        let _ = writeln!(self.log, "    (hook takes inst {inst} {rd:?})");
        // A condvar's mutex held out of the stack while its wait is validated is back on it
        // while the hook runs.
        let outside = self.oracle.outside_back(t);
        let r = self.hook_acquire(t, req);
        if let Some(serial) = outside {
            self.oracle.outside_away(t, serial);
        }
        r
    }

    /// The hook's acquisition and release of its lock, as the oracle sees them.
    fn hook_acquire(&mut self, t: usize, req: Req) -> Result<(), String> {
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
    /// The lock the hook would take, and its mode.
    pub(crate) fn hook_target(&self) -> Option<(u8, Rd)> {
        let (inst, rd) = match self.hook? {
            HookAct::SetMode(_)
            | HookAct::TakeReports
            | HookAct::TakeThenSetMode(_)
            | HookAct::HoldStderr => return None,
            HookAct::Take(i, rd) => (i % LOCKS, rd),
            HookAct::TakeCurrent => (self.current?, Rd::W),
        };
        let rd = if self.world.locks[inst as usize].is_mutex() {
            Rd::W
        } else {
            rd
        };
        Some((inst, rd))
    }
    pub(crate) fn hook_hazard(&self, t: usize) -> bool {
        self.hook_target().is_some_and(|(inst, rd)| {
            self.hazard(t, inst, rd)
                || (skip("release-hook")
                    && (self.waited == Some(inst) || self.released == Some(inst)))
        })
    }
}
