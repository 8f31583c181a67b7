//! The steps of a program: each op resolved against the state at that point (what it names,
//! whether it can run at all), run on lockdep, then simulated by the oracle and compared.

#![allow(dead_code)]

use std::fmt::Write as _;

use lockdep::Mode;

use super::hook::conflicts;
use super::model::{Class, Inst, Kind, Rd, Req, Sel};
use super::program::{EvAct, How, MapAct, Op};
use super::run::{skip, GuardRec, Runner, Th};
use super::world::{
    self, catching, event_inst, map_inst, Guard, Pending, World, B_CV, B_EVENT, B_MAP, LOCKS,
};

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

    /// An acquisition of `inst` is attempted: lockdep notes it if the mode is `Off`.
    pub(crate) fn note_off(&self, inst: Inst) {
        if self.mode == Mode::Off {
            self.world.taken_off[inst as usize].store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn was_taken_off(&self, inst: Inst) -> bool {
        self.world.taken_off[inst as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Would taking lock `inst` in mode `rd` on thread `t` deadlock without lockdep being able
    /// to know (it conflicts with a real hold the validator has no record of: taken in `Off`
    /// mode, or forgotten by `reset()`)?
    pub(crate) fn hazard(&self, t: usize, inst: u8, rd: Rd) -> bool {
        let own: Vec<Rd> = self.own_holds(t)[inst as usize].clone();
        let known = self.oracle.stack(t).iter().any(|h| {
            h.acqs
                .iter()
                .any(|a| a.inst == inst as Inst && (a.rd == Rd::W || rd == Rd::W))
        });
        conflicts(&own, rd) && !known
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
            Op::Wait { from_top } => match Self::pick_mutex(self.world, th, from_top) {
                Some(g) => self.wait(th, g),
                None => Ok(()),
            },
            Op::WaitNoSleep { from_top } => match Self::pick_mutex(self.world, th, from_top) {
                Some(g) => self.wait_no_sleep(th, g),
                None => Ok(()),
            },
            Op::Map { m, act } => self.map(th, m % world::MAPS, act),
            // (Event number `EVENTS` is the condvar.)
            Op::Ev { e, act } => self.event(th, e % (world::EVENTS + 1), act),
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
        let mut sub = if inst == world::GATE { 0 } else { sub % 3 };
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
            || self.hazard(th.t, inst, rd)
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
        self.note_off(inst as Inst);
        let guards = &th.guards;
        let (g, panics) = self.on_lockdep(th.t, || match how {
            How::Try => l.try_lock(rd),
            How::Block => Some(l.lock(sub, rd)),
            How::Nest(_) => Some(l.lock_nest(&guards[nest.expect("nest")].guard)),
        });
        w.monitor.set(Pending::Nothing);
        if w.monitor.rescued.load(std::sync::atomic::Ordering::SeqCst) {
            self.current = None;
            drop(g); // the rescued acquisition's guard: its lock is really held now
            return self.check(th.t, false, (false, Vec::new()));
        }
        let site = match how {
            How::Block => world::lock_site(l.is_mutex(), rd),
            How::Try => world::try_site(l.is_mutex(), rd),
            How::Nest(_) => {
                let guard = match th.guards[nest.expect("nest")].guard {
                    Guard::M(_) => 0,
                    Guard::R(_) => 1,
                    Guard::W(_) => 2,
                };
                world::nest_site(l.is_mutex(), guard)
            }
        };
        let req = Req {
            class,
            rd,
            inst: inst as Inst,
            trylock,
            site,
            nest: nest_inst.map(|i| {
                let guard = match th.guards[nest.expect("nest")].guard {
                    Guard::M(_) => 0,
                    Guard::R(_) => 1,
                    Guard::W(_) => 2,
                };
                let site = guard + if l.is_mutex() { 0 } else { 3 };
                (i as Inst, world::lock_class(i, 0), site)
            }),
        };
        let (panic, serial) = self.sim_acquire(th.t, req, Kind::Lock, false)?;
        self.current = None;
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
        let l: &'static world::Lock = &self.world.locks[inst as usize];
        self.released = Some(inst);
        let (r, panics) = self.on_lockdep(th.t, || {
            if force {
                l.force_release(rec.guard)
            } else {
                drop(rec.guard)
            }
        });
        self.released = None;
        self.remove_real(th, inst, rd);
        let mut expect_panic = false;
        if let Some(s) = serial {
            let sel = if force {
                Sel::Inst(inst as Inst, shared)
            } else {
                Sel::Serial(s)
            };
            // (What the release finds is delivered after it, the lock really released.)
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

    /// The `from_top`-th mutex guard of `th` from the top, if it holds any.
    fn pick_mutex(world: &World, th: &Th, from_top: u8) -> Option<usize> {
        let mutexes: Vec<usize> = (0..th.guards.len())
            .filter(|&g| world.locks[th.guards[g].inst as usize].is_mutex())
            .collect();
        (!mutexes.is_empty())
            .then(|| mutexes[mutexes.len() - 1 - from_top as usize % mutexes.len()])
    }

    /// A condvar wait that cannot sleep: lockdep must validate nothing and change nothing.
    fn wait_no_sleep(&mut self, th: &mut Th, g: usize) -> Result<(), String> {
        let _ = writeln!(
            self.log,
            "  condvar wait that cannot sleep on inst {} (guard {g} of {})",
            th.guards[g].inst,
            th.guards.len()
        );
        self.outcome.steps += 1;
        let w = self.world;
        let guard = &mut th.guards[g].guard;
        let (r, panics) = self.on_lockdep(th.t, || world::cv_wait_no_sleep(&w.cv, guard));
        self.check(th.t, false, (r.is_none(), panics))
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
        self.waited = Some(th.guards[g].inst);
        let guard = &mut th.guards[g].guard;
        let (r, panics) = self.on_lockdep(th.t, || world::cv_wait(&w.cv, guard));
        w.monitor.set(Pending::Nothing);
        let mut expect_panic = false;
        let off = self.mode == Mode::Off;
        // The guard's entry comes out (the entries above are put back, some validated
        // again; what that finds is delivered at the next validation, the wait on the
        // condvar's event, while the mutex is still really held), the wait is validated, then
        // the re-acquisition (not in `Off` mode: the guard is untracked from then on).
        self.waited = None;
        let waiting = serial.and_then(|s| self.oracle.wait_begin(th.t, s, off));
        th.guards[g].serial = None;
        if let Some(mut w) = waiting {
            self.oracle.held_outside = Some((th.t, w.entry.clone(), w.idx));
            for p in std::mem::take(&mut w.problems) {
                self.deliver(th.t, p, false)?;
            }
            if !off {
                expect_panic = self.sim_validate_only(th.t, Class { base: B_CV, sub: 0 })?;
            }
            self.oracle.held_outside = None;
            if !off && !expect_panic {
                // Validated on top of the stack and recorded there before its problems are
                // delivered (never panicking), then put back where it was.
                // (Unless the hook turned validation `Off` meanwhile: then it is put back
                // as it was held, nothing validated.)
                let problems = if self.mode == Mode::Off {
                    self.oracle.wait_unvalidated(th.t, &mut w);
                    Vec::new()
                } else {
                    self.oracle.wait_validate(th.t, &mut w)
                };
                self.oracle.wait_push(th.t, &w);
                th.guards[g].serial = serial;
                for p in problems {
                    self.deliver(th.t, p, false)?;
                }
                self.oracle.wait_settle(th.t, &w);
            }
        }
        self.oracle.held_outside = None;
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
        if act != MapAct::Release {
            self.note_off(inst);
        }
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
                    site: if rd == Rd::W {
                        world::SITE_MAP
                    } else {
                        world::SITE_MAP_READ
                    },
                };
                self.sim_acquire(th.t, req, Kind::Map, false)?.0
            }
            MapAct::Release => {
                let bad = (!self.was_taken_off(inst)).then_some(class);
                let (acq, panic) = self.sim_release(th.t, Sel::Inst(inst, None), bad)?;
                if let Some(a) = acq {
                    th.leaked.retain(|&s| s != a.serial);
                }
                panic
            }
            MapAct::Might => self.sim_validate_only(th.t, class)?,
        };
        self.check(th.t, expect_panic, (r.is_none(), panics))
    }

    /// An event op; event number `EVENTS` is the world's condvar (armed and notified; its
    /// waits are `Op::Wait`), whose event is instance `CV_INST` of class `B_CV`.
    fn event(&mut self, th: &mut Th, e: u8, act: EvAct) -> Result<(), String> {
        let cv = e == world::EVENTS;
        if cv && act == EvAct::Wait {
            return Ok(());
        }
        let w = self.world;
        let inst = event_inst(e);
        let class = Class {
            base: B_EVENT + e,
            sub: 0,
        };
        let _ = writeln!(self.log, "  event {e}: {act:?}");
        self.outcome.steps += 1;
        if act == EvAct::Wait || (act == EvAct::Arm && !self.oracle.holds(th.t, inst)) {
            self.note_off(inst);
        }
        let (r, panics) = self.on_lockdep(th.t, || match (act, cv) {
            (EvAct::Arm, true) => world::cv_arm(&w.cv),
            (EvAct::Signal, true) => world::cv_notify(&w.cv),
            (EvAct::Arm, false) => world::event_arm(&w.events[e as usize]),
            (EvAct::Signal, false) => world::event_signal(&w.events[e as usize]),
            (EvAct::Wait, _) => world::event_wait(&w.events[e as usize]),
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
                        site: if cv {
                            world::SITE_CV_ARM
                        } else {
                            world::SITE_ARM
                        },
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
        let maps: Vec<u8> = self
            .oracle
            .stack(th.t)
            .iter()
            .flat_map(|h| h.acqs.iter())
            .filter_map(|a| (0..world::MAPS).find(|&m| map_inst(m) == a.inst))
            .collect();
        th.forgotten_maps.extend(maps);
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
            } else if let Some(e) = (0..=world::EVENTS).find(|&e| event_inst(e) == acq.inst) {
                self.event(th, e, EvAct::Signal)?;
            } else {
                return Err(self.fail("test bug: a held entry nothing releases"));
            }
        }
        while let Some(g) = th.guards.len().checked_sub(1) {
            self.unlock(th, g, false)?;
        }
        while let Some(m) = th.forgotten_maps.pop() {
            // (Not while the map is held again, left held on purpose: its release would be
            // that acquisition's, the most recent.)
            let held_again = self
                .oracle
                .stack(th.t)
                .iter()
                .any(|h| h.acqs.iter().any(|a| a.inst == map_inst(m)));
            if !held_again {
                self.release_forgotten_map(th, m)?;
            }
        }
        Ok(())
    }

    /// Releases pseudo-lock `m`, held across `reset()`: that forgot it, so the release
    /// records nothing and reports nothing (it is no unbalanced unlock).
    fn release_forgotten_map(&mut self, th: &mut Th, m: u8) -> Result<(), String> {
        let _ = writeln!(self.log, "  m{m}.release() (held across reset())");
        self.outcome.steps += 1;
        let w = self.world;
        let (r, panics) = self.on_lockdep(th.t, || w.maps[m as usize].release());
        self.check(th.t, false, (r.is_none(), panics))
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
    pub(crate) fn thread(&mut self, ops: &[Op], _real_thread: bool) -> Result<(), String> {
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
