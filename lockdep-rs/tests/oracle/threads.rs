//! `lockdep::thread` in programs: spawning a thread and joining it at once (its body runs while
//! the parent waits), thread-local destructors that take locks, pseudo-locks leaked at exit.
//!
//! The oracle's view (rule 9 of issue 12): a spawned thread holds its *exit event* armed (a
//! recursive-read trylock entry of the class of its spawn site and nesting depth) from its
//! start until its thread-locals are destroyed; joining it waits for that event (edges from
//! every lock the joiner holds). So recursive fork-join from one site, or two sites spawning
//! each other, is silent, and joining while holding a lock the child's thread-local destructor
//! takes is a `CircularWait`.

#![allow(dead_code)]

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::mpsc::{channel, Sender};

use super::model::{Class, Inst, Kind, Rd, Req};
use super::run::{Runner, Th};
use super::world::{self, map_inst, World, B_EXIT, B_MAP, EXIT_INST};

/// Deepest nesting of spawned threads.
const MAX_DEPTH: u8 = 3;

fn spawn_a(f: impl FnOnce() + Send + 'static) -> lockdep::thread::JoinHandle<()> {
    lockdep::thread::spawn(f)
}
fn spawn_b(f: impl FnOnce() + Send + 'static) -> lockdep::thread::JoinHandle<()> {
    lockdep::thread::spawn(f)
}

/// What a spawned thread's thread-local destructor does: take each lock, then say so.
struct ExitPlan {
    world: &'static World,
    actions: Vec<(u8, Rd, bool)>,
    done: Sender<()>,
}

struct AtExit(RefCell<Option<ExitPlan>>);

impl Drop for AtExit {
    fn drop(&mut self) {
        let Some(plan) = self.0.borrow_mut().take() else {
            return;
        };
        for (inst, rd, captured) in plan.actions {
            let l: &'static world::Lock = &plan.world.locks[inst as usize];
            let take = || {
                // A panic (Panic mode) must not leave a thread-local destructor: that aborts.
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(l.lock(0, rd))));
            };
            if captured {
                let ((), _) = lockdep::capture(take);
            } else {
                take();
            }
        }
        let _ = plan.done.send(());
    }
}

thread_local! {
    static AT_EXIT: AtExit = const { AtExit(RefCell::new(None)) };
}

impl Runner {
    /// Spawns a thread at `site` running body `body`, waits until it has run its body and
    /// its thread-local destructor, then joins it (the join is the step compared).
    pub(crate) fn fork(&mut self, th: &mut Th, site: u8, body: u8) -> Result<(), String> {
        if th.depth >= MAX_DEPTH || self.bodies.is_empty() {
            return Ok(());
        }
        let ops = self.bodies[body as usize % self.bodies.len()].clone();
        let site = site % 2;
        let exit = Class {
            base: B_EXIT + site,
            sub: th.depth + 1,
        };
        let child = self.new_thread();
        let (child_t, depth) = (child.t, th.depth + 1);
        drop(child);
        let _ = writeln!(
            self.log,
            "  spawn thread {child_t} at site {site} (depth {depth}), body {body}:"
        );
        self.outcome.steps += 1;
        // The child arms its exit event first thing (a trylock: nothing to report).
        let mut exit_serial = None;
        if self.mode != lockdep::Mode::Off {
            let req = Req {
                class: exit,
                rd: Rd::R2,
                inst: EXIT_INST + child_t as Inst,
                trylock: true,
                nest: None,
                site: world::SITE_ARM,
            };
            exit_serial = self.sim_acquire(child_t, req, Kind::Event, false)?.1;
        }
        let world = self.world;
        let placeholder = Runner::new(world, self.env, &super::program::Program::new(Vec::new()));
        let moved = std::mem::replace(self, placeholder);
        let (tx, rx) = channel();
        let (done_tx, done_rx) = channel();
        let run_child = move || {
            AT_EXIT.with(|a| {
                *a.0.borrow_mut() = Some(ExitPlan {
                    world,
                    actions: Vec::new(),
                    done: done_tx,
                })
            });
            let mut moved = moved;
            let mut child = Th::new(child_t, depth);
            child.leaked.extend(exit_serial); // released by the thread's end, not by its body
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                moved.body(&mut child, &ops)
            }))
            .unwrap_or_else(|_| Err("the spawned thread panicked".into()));
            AT_EXIT.with(|a| {
                if let Some(plan) = a.0.borrow_mut().as_mut() {
                    plan.actions = child.at_exit.clone();
                }
            });
            let _ = tx.send((moved, child.at_exit.clone(), r));
        };
        let handle = if site == 0 {
            spawn_a(run_child)
        } else {
            spawn_b(run_child)
        };
        let (runner, at_exit, r) = rx.recv().map_err(|e| format!("spawned thread lost: {e}"))?;
        *self = runner;
        if r.is_err() {
            // Join it anyway (quietly): nothing of this program may outlive it.
            let _ = done_rx.recv();
            let (_, _) = lockdep::capture(|| handle.join());
            return r;
        }
        let _ = writeln!(self.log, "  join thread {child_t}");
        done_rx
            .recv()
            .map_err(|e| self.fail(format!("no thread-local destructor ran: {e}")))?;
        let (r, panics) = self.on_lockdep(th.t, || handle.join());
        // The child's end: its thread-local destructor's locks, its exit, then the join.
        let off = self.mode == lockdep::Mode::Off;
        for (inst, rd, captured) in at_exit {
            if off {
                continue;
            }
            let req = Req {
                class: world::lock_class(inst, 0),
                rd,
                inst: inst as Inst,
                trylock: false,
                nest: None,
                site: world::lock_site(self.world.locks[inst as usize].is_mutex(), rd),
            };
            let v = self.oracle.acquire(child_t, req, Kind::Lock);
            let panic = v.certain;
            for p in v.problems {
                if captured {
                    self.deliver_maybe(p);
                } else {
                    // The thread's own work is over: what its thread-local destructors do is
                    // reported but never panics (that would abort the process).
                    self.deliver(child_t, p, true)?;
                }
            }
            if !panic {
                let s = self.oracle.commit(child_t, v.plan).expect("pushed");
                self.oracle
                    .release(child_t, super::model::Sel::Serial(s), false)
                    .expect("just pushed");
            }
        }
        if let Some(p) = self.oracle.exit(child_t) {
            if !off {
                self.deliver(child_t, p, true)?;
            }
        }
        let panic = self.sim_validate_only(th.t, exit)?;
        let joined = matches!(r, Some(Ok(())));
        if r.is_some() && !joined {
            return Err(self.fail("the spawned thread panicked"));
        }
        self.check(th.t, panic, (r.is_none(), panics))
    }

    /// Registers a lock for the thread-local destructor of a spawned thread to take (not one
    /// an ancestor holds: it waits for this thread in `join`).
    pub(crate) fn at_exit(
        &mut self,
        th: &mut Th,
        inst: u8,
        rd: Rd,
        captured: bool,
    ) -> Result<(), String> {
        let rd = if self.world.locks[inst as usize].is_mutex() {
            Rd::W
        } else {
            rd
        };
        let busy = self.real[inst as usize]
            .iter()
            .any(|&(t, r)| t != th.t && (rd == Rd::W || r == Rd::W));
        if th.depth == 0 || busy {
            return Ok(());
        }
        let _ = writeln!(
            self.log,
            "  at exit: inst {inst} ({rd:?}){}",
            if captured { ", in a capture" } else { "" }
        );
        th.at_exit.push((inst, rd, captured));
        Ok(())
    }

    /// Acquires pseudo-lock `m` and never releases it (spawned threads only).
    pub(crate) fn leak(&mut self, th: &mut Th, m: u8) -> Result<(), String> {
        if th.depth == 0 {
            return Ok(());
        }
        let lm = &self.world.maps[m as usize];
        let class = Class {
            base: B_MAP + m / 2,
            sub: 0,
        };
        let _ = writeln!(self.log, "  pseudo-lock {m}: leaked");
        self.outcome.steps += 1;
        self.note_off(map_inst(m));
        let (r, panics) = self.on_lockdep(th.t, || world::map_leak(lm));
        let req = Req {
            class,
            rd: Rd::W,
            inst: map_inst(m),
            trylock: false,
            nest: None,
            site: world::SITE_LEAK,
        };
        let (panic, serial) = self.sim_acquire(th.t, req, Kind::Map, false)?;
        th.leaked.extend(serial);
        self.check(th.t, panic, (r.is_none(), panics))
    }
}
