//! Differential testing of what is process-wide: modes (`set_mode` between steps, `Off`
//! included), report hooks (a hook that takes a lock, possibly the one being acquired, or
//! switches the mode), reports outside any `capture` (read back with `take_reports`, deduped
//! process-wide), `reset()` while other threads hold locks, `set_ignore_gated` on and off with
//! gated cycles, `lockdep::thread` (spawn and join, recursive fork-join from one site or two
//! sites spawning each other, thread-local destructors that take locks, in and out of a
//! `capture`, pseudo-locks held at exit), what the validator keeps (its chains, against
//! the oracle's: issue 12 item 13), and the whole graph as `graph_dot()` draws it (against
//! the oracle's edges, after every program: `oracle/dot.rs`).
//!
//! One program at a time, each after `lockdep::reset()`, on one world of locks reused by all
//! (a fresh one if a failed program left a lock locked). `PROPTEST_CASES` sets the number of
//! programs of each generator; see `oracle.rs` for the defaults, the soak and `ORACLE_SKIP`.
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

mod oracle {
    pub mod dot;
    pub mod graph;
    pub mod hook;
    pub mod instances;
    pub mod model;
    pub mod program;
    pub mod run;
    pub mod steps;
    pub mod threads;
    pub mod verify;
    pub mod world;
}

use std::sync::Mutex as StdMutex;
use std::time::Instant;

use lockdep::{Mode, ReportKind};
use oracle::model::Rd::{self, R2, W};
use oracle::program::{self, EvAct, HookAct, How, MapAct, Op, Program};
use oracle::run::{self, Env, Outcome, Runner};
use oracle::world::World;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};

/// The tests of this binary share the process-wide state: one at a time.
static SERIAL: StdMutex<()> = StdMutex::new(());

/// The world programs run on: one for all (`reset()` between programs), replaced by a fresh
/// one (new classes) when a failed program left one of its locks locked.
static WORLD: StdMutex<Option<&'static World>> = StdMutex::new(None);

fn world() -> &'static World {
    let mut w = WORLD.lock().unwrap_or_else(|e| e.into_inner());
    w.get_or_insert_with(|| {
        std::env::set_var("LOCKDEP_BACKTRACE", "0");
        lockdep::set_mode(Mode::Warn);
        lockdep::set_report_hook(Some(Box::new(oracle::hook::hook)));
        World::new("")
    })
}

/// After a failed program: a fresh world if a lock of this one is still locked.
fn renew_world_if_stuck() {
    let w = world();
    let ((), _) = lockdep::capture(|| {
        if w.locks.iter().any(|l| l.try_lock(W).is_none()) {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *WORLD.lock().unwrap_or_else(|e| e.into_inner()) = Some(World::new(&format!("p{n}.")));
        }
    });
}

/// Runs one program after a `reset()`, then checks the drawn graph and the validator's
/// chains against the oracle's.
fn run_global(p: &Program) -> Result<Outcome, String> {
    let world = world();
    let p = p.clone();
    run::supervise(world, move || {
        oracle::hook::release_stderr(); // (left held by a program that hung)
        lockdep::set_mode(Mode::Warn);
        lockdep::reset();
        let _ = lockdep::take_reports();
        // Every report of the program is taken (by the runner, or by a hook): none may be
        // left counted against the run.
        let failing = lockdep::stats().failing;
        lockdep::set_mode(p.mode);
        let mut runner = Runner::new(world, Env::Global, &p).watched();
        let r = (|| -> Result<(), String> {
            for ops in &p.threads {
                if p.real_threads {
                    std::thread::scope(|s| {
                        s.spawn(|| runner.thread(ops, true))
                            .join()
                            .unwrap_or_else(|_| Err("thread panicked".into()))
                    })?;
                } else {
                    runner.thread(ops, false)?;
                }
            }
            Ok(())
        })();
        oracle::hook::release_stderr();
        lockdep::set_mode(Mode::Warn);
        lockdep::set_ignore_gated(false);
        r?;
        oracle::dot::check_dot(&runner.oracle, &lockdep::graph_dot())
            .map_err(|e| runner.fail(e))?;
        let still = lockdep::stats().failing;
        if still != failing {
            return Err(runner.fail(format!(
                "{still} problems count against the run after the program, {failing} before: \
                 a report taken with take_reports still fails the run (still kept: {:?})",
                lockdep::take_reports()
            )));
        }
        let chains = lockdep::stats().chains;
        let expected = runner.oracle.chains.len();
        if chains > expected + runner.outcome.panics {
            return Err(runner.fail(format!(
                "lockdep keeps {chains} chains, the oracle validated {expected} (issue 12 item \
                 13: memory linear in the distinct chains)"
            )));
        }
        Ok(runner.outcome)
    })
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn generate(name: &str, default: u32, strategy: impl Strategy<Value = Program>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = cases(default);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20_000,
        // ChaCha (the default) is a quarter of the run time in a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: RngSeed::Fixed(program::seed()),
        ..Config::default()
    };
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    let stats = StdMutex::new((0usize, Outcome::default()));
    let first = run::FirstFailure::default();
    let result = runner.run(&strategy, |p| {
        first.start();
        let out = run_global(&p)
            .inspect_err(|_| renew_world_if_stuck())
            .inspect_err(|e| first.fail(e))
            .map_err(TestCaseError::fail)?;
        first.pass();
        let mut s = stats.lock().unwrap();
        s.0 += 1;
        s.1.steps += out.steps;
        s.1.panics += out.panics;
        s.1.reports.extend(out.reports);
        Ok(())
    });
    let (n, s) = stats.into_inner().unwrap();
    let count = |k| s.reports.iter().filter(|&&r| r == k).count();
    let seed = program::seed();
    println!(
        "{name}: {n} programs (seed {seed}), {} steps, {} panics, {} cycle, {} circular-wait, {} \
         recursive-locking, {} bad-unlock, {} held-at-exit reports, in {:.1?}",
        s.steps,
        s.panics,
        count(ReportKind::CircularDependency),
        count(ReportKind::CircularWait),
        count(ReportKind::RecursiveLocking),
        count(ReportKind::BadUnlockBalance),
        count(ReportKind::LocksHeldAtExit),
        start.elapsed()
    );
    if let Err(e) = result {
        if let Some((k, why)) = first.first() {
            println!("{name}: the first failure was program {k}: {why}");
        }
        panic!("{e}");
    }
    assert!(n >= cases as usize);
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        3 => Just(Mode::Warn),
        2 => Just(Mode::Collect),
        2 => Just(Mode::Panic),
        1 => Just(Mode::Off),
    ]
}

fn hook() -> impl Strategy<Value = Option<HookAct>> {
    proptest::option::weighted(
        0.7,
        prop_oneof![
            3 => (0..9u8, program::rd()).prop_map(|(i, rd)| HookAct::Take(i, rd)),
            3 => Just(HookAct::TakeCurrent),
            2 => mode().prop_map(HookAct::SetMode),
            1 => Just(HookAct::TakeReports),
            1 => mode().prop_map(HookAct::TakeThenSetMode),
            1 => Just(HookAct::HoldStderr),
        ],
    )
}

/// Modes and hooks: programs of pseudo-locks, events and locks with `set_mode` between steps.
fn mode_program() -> impl Strategy<Value = Program> {
    let ops = prop_oneof![
        20 => program::mixed_ops(),
        2 => mode().prop_map(Op::SetMode),
        1 => proptest::bool::ANY.prop_map(Op::IgnoreGated),
    ];
    (
        program::program(ops, 14),
        hook(),
        prop_oneof![3 => Just(Mode::Warn), 1 => Just(Mode::Collect), 2 => Just(Mode::Panic)],
    )
        .prop_map(|(p, hook, mode)| Program { hook, mode, ..p })
}

/// Gates: a few short sequences (most under the gate lock) run again and again, with
/// `set_ignore_gated` switched on and off between them, so that gated cycles are closed,
/// suppressed, and their chains taken again after the switch.
fn gate_program() -> impl Strategy<Value = Program> {
    let lock = (0..9u8, program::rd()).prop_map(|(inst, rd)| Op::Lock {
        inst,
        sub: 0,
        rd,
        how: How::Block,
    });
    let template = (
        proptest::bool::weighted(0.8),
        proptest::collection::vec(lock, 1..=3),
    )
        .prop_map(|(gated, locks)| {
            let mut ops = Vec::new();
            if gated {
                ops.push(Op::Gate);
            }
            ops.extend(locks);
            ops
        });
    let schedule = proptest::collection::vec(
        (
            0..3usize,
            proptest::option::weighted(0.4, proptest::bool::ANY),
        ),
        2..=8,
    );
    (proptest::collection::vec(template, 1..=3), schedule).prop_map(|(templates, schedule)| {
        let threads = schedule
            .into_iter()
            .map(|(i, toggle)| {
                let mut ops: Vec<Op> = toggle.into_iter().map(Op::IgnoreGated).collect();
                ops.extend(templates[i % templates.len()].iter().copied());
                ops
            })
            .collect();
        Program::new(threads)
    })
}

/// `lockdep::thread`: top-level threads and spawned bodies that spawn and join each other.
fn thread_program() -> impl Strategy<Value = Program> {
    let fork = (0..2u8, 0..3u8).prop_map(|(site, body)| Op::Fork { site, body });
    let body_op = prop_oneof![
        8 => program::mixed_ops(),
        3 => fork.clone(),
        2 => (0..9u8, program::rd(), proptest::bool::weighted(0.3))
            .prop_map(|(inst, rd, captured)| Op::AtExit { inst, rd, captured }),
        1 => (0..4u8).prop_map(|m| Op::Leak { m }),
        1 => Just(Op::Reset),
    ];
    let top_op = prop_oneof![6 => program::lock_ops(), 3 => fork];
    (
        proptest::collection::vec(proptest::collection::vec(top_op, 0..=8), 1..=3),
        proptest::collection::vec(proptest::collection::vec(body_op, 0..=8), 1..=3),
        prop_oneof![3 => Just(Mode::Warn), 1 => Just(Mode::Collect)],
    )
        .prop_map(|(threads, bodies, mode)| Program {
            bodies,
            mode,
            ..Program::new(threads)
        })
}

#[test]
fn generated_mode_and_hook_programs_agree_with_the_oracle() {
    generate("modes and hooks", 2_200, mode_program());
}

#[test]
fn generated_gate_programs_agree_with_the_oracle() {
    generate("gates", 2_500, gate_program());
}

#[test]
fn generated_thread_programs_agree_with_the_oracle() {
    generate("threads", 1_200, thread_program());
}

#[test]
fn generated_deep_programs_keep_linear_chains() {
    generate("deep (chains)", 300, program::deep_program(60));
}

/// Runs one global program, panicking with the disagreement if there is one.
fn check(p: Program) -> Vec<ReportKind> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    match run_global(&p) {
        Ok(out) => out.reports,
        Err(e) => {
            renew_world_if_stuck();
            panic!("{e}")
        }
    }
}

fn lock(inst: u8, rd: Rd) -> Op {
    Op::Lock {
        inst,
        sub: 0,
        rd,
        how: How::Block,
    }
}
fn try_lock(inst: u8, rd: Rd) -> Op {
    Op::Lock {
        inst,
        sub: 0,
        rd,
        how: How::Try,
    }
}
fn unlock() -> Op {
    Op::Unlock {
        from_top: 0,
        force: false,
    }
}

// Instances 0, 1, 2 are of class c0 (0 a Mutex), 3, 4, 5 of c1, 6, 7, 8 of c2.
const MX: u8 = 0;
const X: u8 = 1;
const Y: u8 = 4;
const Z: u8 = 7;
const MZ: u8 = 6;

/// Item 6: every problem of an acquisition is reported once, and a repeat of its chain
/// reports nothing (in Panic mode: panics only the first time).
#[test]
fn issue12_item6_every_problem_once_per_process() {
    let threads = vec![
        vec![lock(Z, W), lock(X, W)],
        vec![lock(Z, W), lock(Y, W)],
        vec![lock(X, W), try_lock(Y, W), lock(Z, W)],
        vec![lock(X, W), try_lock(Y, W), lock(Z, W)],
    ];
    let kinds = check(Program::new(threads.clone()));
    assert_eq!(kinds, [ReportKind::CircularDependency; 2]);
    check(Program {
        mode: Mode::Panic,
        ..Program::new(threads)
    });
}

/// Item 7: a hook that switches to Panic mode: the acquisition panics and leaves no entry; the
/// lock is free afterwards.
#[test]
fn issue12_item7_hook_switches_to_panic() {
    check(Program {
        hook: Some(HookAct::SetMode(Mode::Panic)),
        ..Program::new(vec![
            vec![lock(X, W), lock(Y, W)],
            vec![lock(Y, W), lock(X, W), lock(X, W)],
        ])
    });
}

/// Item 7: a hook that takes the lock being acquired sees no entry of it yet.
#[test]
fn issue12_item7_hook_takes_the_lock_being_acquired() {
    check(Program {
        hook: Some(HookAct::TakeCurrent),
        ..Program::new(vec![
            vec![lock(X, W), lock(Y, W)],
            vec![lock(Y, W), lock(X, W)],
        ])
    });
}

/// Item 7: releases in Off mode still pop what was recorded; what is taken in Off mode is not
/// recorded.
#[test]
fn issue12_item7_off_mode_keeps_the_held_state() {
    check(Program::new(vec![vec![
        lock(MX, W),
        Op::Map {
            m: 0,
            act: MapAct::Acquire,
        },
        Op::Ev {
            e: 0,
            act: EvAct::Arm,
        },
        Op::SetMode(Mode::Off),
        Op::Unlock {
            from_top: 0,
            force: true,
        },
        Op::Map {
            m: 0,
            act: MapAct::Release,
        },
        Op::Ev {
            e: 0,
            act: EvAct::Signal,
        },
        lock(Y, W),
        Op::SetMode(Mode::Warn),
        unlock(),
        lock(MX, W),
    ]]));
}

/// Item 8 in Panic mode: a re-entered pseudo-lock panics (Panic mode only) and stays held once.
#[test]
fn issue12_item8_reentered_lock_map_in_panic_mode() {
    check(Program {
        mode: Mode::Panic,
        ..Program::new(vec![vec![
            Op::Map {
                m: 0,
                act: MapAct::Acquire,
            },
            Op::Map {
                m: 0,
                act: MapAct::Acquire,
            },
        ]])
    });
}

/// Item 9a: recursive fork-join from one spawn site is silent.
#[test]
fn issue12_item9_recursive_fork_join() {
    let kinds = check(Program {
        bodies: vec![vec![Op::Fork { site: 0, body: 0 }]],
        ..Program::new(vec![vec![Op::Fork { site: 0, body: 0 }]])
    });
    assert_eq!(kinds, []);
}

/// Item 9b: joining while holding a lock the child's thread-local destructor takes.
#[test]
fn issue12_item9_join_while_holding_what_exit_takes() {
    let kinds = check(Program {
        bodies: vec![vec![Op::AtExit {
            inst: MX,
            rd: W,
            captured: false,
        }]],
        ..Program::new(vec![vec![
            Op::Fork { site: 1, body: 0 },
            lock(MX, W),
            Op::Fork { site: 1, body: 1 },
        ]])
    });
    assert_eq!(kinds, [ReportKind::CircularWait]);
}

/// Item 10: a gated cycle suppressed while gated cycles are ignored is reported once they are
/// not, the next time its chain is taken.
#[test]
fn issue12_item10_ignored_gated_cycle_comes_back() {
    let kinds = check(Program::new(vec![
        vec![Op::IgnoreGated(true), Op::Gate, lock(X, W), lock(Y, W)],
        vec![Op::Gate, lock(Y, W), lock(X, W)],
        vec![Op::IgnoreGated(false), Op::Gate, lock(Y, W), lock(X, W)],
    ]));
    assert_eq!(kinds, [ReportKind::CircularDependency]);
}

/// Item 11: a thread holding X, Y across another thread's `reset()` records X -> Y again, so
/// Z -> X later closes X -> Y -> Z -> X.
#[test]
fn issue12_item11_reset_while_others_hold_locks() {
    let kinds = check(Program {
        bodies: vec![vec![Op::Reset]],
        ..Program::new(vec![
            vec![
                lock(X, W),
                lock(Y, W),
                Op::Fork { site: 0, body: 0 },
                lock(Z, W),
            ],
            vec![lock(Z, W), lock(X, W)],
        ])
    });
    assert_eq!(kinds, [ReportKind::CircularDependency]);
}

/// Item 13: releasing a deep stack bottom first keeps no more chains than were validated.
#[test]
fn issue12_item13_release_bottom_first() {
    // 30 recursive reads of the three classes in an irregular order (so that the chains left
    // after each release are new ones), one instance per class, never twice in a row.
    let order = [
        0, 1, 2, 0, 2, 1, 0, 1, 0, 2, 1, 2, 0, 2, 0, 1, 2, 1, 0, 2, 1, 0, 1, 2, 0, 1, 2, 1, 0, 2,
    ];
    let mut ops: Vec<Op> = order.iter().map(|&c: &u8| lock(c * 3 + 1, R2)).collect();
    ops.extend((0..30).rev().map(|below| Op::Unlock {
        from_top: below,
        force: false,
    }));
    check(Program::new(vec![ops]));
}

/// Found by the thread generator on main at cf56191: a `lockdep::thread` whose `JoinHandle`
/// is dropped (a detached thread) reports its own exit event as a held lock freed when it
/// ends: its closure drops the last reference to the exit event while the event is still
/// armed (it stays armed through the thread-local destructors).
#[test]
fn detached_thread_exit_is_not_a_held_lock_freed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _ = world();
    lockdep::set_mode(Mode::Collect);
    lockdep::reset();
    let _ = lockdep::take_reports();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    drop(lockdep::thread::spawn(move || {
        let _ = rx.recv();
    }));
    drop(tx);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kinds: Vec<ReportKind> = lockdep::take_reports().iter().map(|r| r.kind()).collect();
    lockdep::set_mode(Mode::Warn);
    assert_eq!(kinds, [], "a detached thread's end");
}

/// Found by the mode generator on main at cf56191: in `Off` mode a release still validates the
/// entries it puts back, and reports what it finds. Here X2, exempt under its nest lock G,
/// loses the exemption when G is released in `Off` mode: lockdep validates it again and
/// reports X2 after X as recursive locking. `Off` means no checks: releases pop what was
/// recorded, nothing more.
#[test]
fn off_mode_release_validates_nothing() {
    check(Program {
        mode: Mode::Collect,
        ..Program::new(vec![vec![
            lock(MZ, W),
            lock(X, W),
            lock(Y, W),
            Op::Lock {
                inst: 2,
                sub: 0,
                rd: W,
                how: How::Nest(2),
            },
            Op::SetMode(Mode::Off),
            Op::Unlock {
                from_top: 3,
                force: false,
            },
        ]])
    });
}

/// Found by the hook generator on main at cf56191: a condvar wait validates the re-acquisition
/// of its mutex before sleeping, with the mutex's entry taken out of the stack while the mutex
/// is still held; a report raised there (here: re-acquiring c2 over m0, taken under c2, closes
/// c2 -> m0 -> c2) runs the hook, and a hook that takes that mutex blocks for real instead of
/// being stopped as a certain self-deadlock.
#[test]
fn hook_taking_the_mutex_of_a_condvar_wait() {
    check(Program {
        hook: Some(HookAct::Take(MZ, W)),
        ..Program::new(vec![vec![
            lock(MZ, W),
            Op::Map {
                m: 0,
                act: MapAct::Acquire,
            },
            Op::Wait { from_top: 0 },
        ]])
    });
}

/// The same through the wait's release (main at a908cc2 still blocks): X2, exempt under its
/// nest lock (the condvar's mutex MZ), loses the exemption when the wait takes MZ out;
/// validated again it is recursive locking, delivered at the wait's validation before the
/// thread sleeps, with MZ still locked and out of the stack: a hook that takes MZ must be
/// stopped as a certain self-deadlock; lockdep validates it as an ordinary acquisition and it
/// blocks.
#[test]
fn hook_taking_the_mutex_of_a_condvar_wait_through_its_release() {
    check(Program {
        hook: Some(HookAct::Take(MZ, W)),
        ..Program::new(vec![vec![
            lock(MZ, W),
            lock(X, W),
            lock(Y, W),
            Op::Lock {
                inst: 2,
                sub: 0,
                rd: W,
                how: How::Nest(2),
            },
            Op::Wait { from_top: 0 },
        ]])
    });
}

/// Found by the hook generator on main at cf56191: the same with a release. Releasing G puts
/// X2 back without its nest-lock exemption: validated again, it is recursive locking (after
/// X), reported from inside the release, before G is really unlocked; a hook that takes G
/// then blocks for real.
#[test]
fn hook_taking_the_lock_being_released() {
    check(Program {
        hook: Some(HookAct::Take(MZ, W)),
        ..Program::new(vec![vec![
            lock(MZ, W),
            lock(X, W),
            lock(Y, W),
            Op::Lock {
                inst: 2,
                sub: 0,
                rd: W,
                how: How::Nest(2),
            },
            Op::Unlock {
                from_top: 3,
                force: false,
            },
        ]])
    });
}

/// Found by the thread generator on main at cf56191: after `reset()`, a thread *started later*
/// also records its held stack's edges again at its first validation (its graph epoch starts
/// at 0), as if each entry had been taken directly above the one now below it: here m0, taken
/// under X (since released), is recorded as taken right under the thread's exit event. Rule
/// 11 is about threads that held locks across the reset; this one held nothing then. The edge
/// is implied by a path (exit -> X -> m0), so verdicts do not change, but reports show a path
/// no thread took.
#[test]
fn thread_started_after_reset_replays_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    lockdep::set_mode(Mode::Collect);
    lockdep::reset();
    for take_y in [false, true] {
        lockdep::thread::spawn(move || {
            let g = w.locks[X as usize].lock(0, W);
            w.maps[0].acquire();
            drop(g);
            if take_y {
                drop(w.locks[Y as usize].lock(0, W));
            }
            w.maps[0].release();
        })
        .join()
        .unwrap();
    }
    let dot = lockdep::graph_dot();
    let _ = lockdep::take_reports();
    lockdep::set_mode(Mode::Warn);
    assert!(
        !dot.contains("\"(thread exit)\" -> \"m0\""),
        "an edge no thread recorded:\n{dot}"
    );
}

/// Found by the thread generator in the soak on `oracle-revert` at cef2c6e (program 19 of
/// 20,000; fixed on main: a thread's graph epoch now catches up whenever its stack is empty):
/// a thread's held stack was replayed after a `reset()` although it held nothing across it. Thread d1 (body 2) calls `reset()`, which forgets its own stack, and
/// its descendants d2 and d3 reset again; d1 then takes c0 and m1 with cache hits only (d3
/// validated the chain `c0, m1` first, before d2's join of a body-1 child recorded
/// `m1 -> exit/3 -> c0`), so its graph epoch stays stale. Its next slow-path validation, the
/// join of its own body-1 child, replays `c0 -> m1` as if held across the reset, finds
/// `c0 -> m1 -> exit/3 -> c0` and reports it as "acquiring m1" at the join. Rule 11 replays
/// only what was held across a reset (see `thread_started_after_reset_replays_nothing`).
#[test]
fn thread_that_reset_replays_locks_taken_after_it() {
    check(Program {
        bodies: vec![
            vec![],
            vec![
                Op::AtExit {
                    inst: MX,
                    rd: W,
                    captured: false,
                },
                Op::Map {
                    m: 2,
                    act: MapAct::Might,
                },
            ],
            vec![
                Op::Reset,
                Op::Fork { site: 0, body: 2 },
                lock(X, W),
                Op::Map {
                    m: 2,
                    act: MapAct::Acquire,
                },
                Op::Fork { site: 0, body: 1 },
            ],
        ],
        ..Program::new(vec![vec![Op::Fork { site: 0, body: 2 }]])
    });
}

/// A condvar wait whose validation raises a report, with a report hook that turns validation
/// `Off`: the mutex is held across the wait, and `Off` keeps the held state, so it is taken
/// back as it was held (the oracle: a wait begun with validation on is validated and
/// recorded). Its entry was dropped instead (the re-acquisition was skipped because the mode
/// was `Off` by then): lockdep no longer saw the mutex held. Found by
/// `generated_mode_and_hook_programs_agree_with_the_oracle` (a random program; shrunk by hand).
#[test]
fn hook_turning_validation_off_during_a_condvar_wait() {
    let p = Program {
        threads: vec![vec![
            Op::Gate,
            Op::Ev {
                e: 2,
                act: EvAct::Arm,
            },
            Op::Wait { from_top: 0 },
        ]],
        real_threads: false,
        bodies: vec![],
        hook: Some(HookAct::SetMode(Mode::Off)),
        mode: Mode::Warn,
    };
    // (Event number `EVENTS` is the world's condvar: armed by the waiter itself.)
    assert_eq!(check(p), [ReportKind::RecursiveLocking]);
}

/// A pseudo-lock held across `reset()` (which forgets the calling thread's held locks) and
/// released at its thread's end: the release found no entry and was reported as
/// `BadUnlockBalance`; it is now ignored, once per acquisition forgotten (the generator's
/// threads release such maps since then, `steps.rs`).
#[test]
fn a_pseudo_lock_held_across_reset_then_released() {
    let p = Program {
        threads: vec![vec![Op::Fork { site: 0, body: 0 }]],
        real_threads: false,
        bodies: vec![vec![
            Op::Map {
                m: 3,
                act: MapAct::Acquire,
            },
            Op::Map {
                m: 0,
                act: MapAct::AcquireRead,
            },
            Op::Reset,
            Op::Reset, // forgets nothing more: the first one's entries stay forgotten
        ]],
        hook: None,
        mode: Mode::Warn,
    };
    assert_eq!(check(p), []);
}
