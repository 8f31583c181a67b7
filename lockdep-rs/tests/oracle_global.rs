//! Differential testing of what is process-wide: modes (`set_mode` between steps, `Off`
//! included), report hooks (a hook that takes a lock, possibly the one being acquired, or
//! switches the mode), reports outside any `capture` (read back with `take_reports`, deduped
//! process-wide), `lockdep::thread` (spawn and join, recursive fork-join from one site,
//! thread-local destructors that take locks, pseudo-locks held at exit), and what the validator
//! keeps (its chains, against the oracle's: issue 12 item 13).
//!
//! One program at a time, each after `lockdep::reset()`, on one world of locks reused by all.
//! `PROPTEST_CASES` sets the number of programs of each generator.

mod oracle {
    pub mod model;
    pub mod program;
    pub mod run;
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
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};

/// The tests of this binary share the process-wide state: one at a time.
static SERIAL: StdMutex<()> = StdMutex::new(());

fn world() -> &'static World {
    static WORLD: std::sync::OnceLock<&'static World> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        std::env::set_var("LOCKDEP_BACKTRACE", "0");
        lockdep::set_mode(Mode::Warn);
        lockdep::set_report_hook(Some(Box::new(run::hook)));
        World::new("")
    })
}

/// Runs one program after a `reset()`, then checks the validator's chains against the
/// oracle's.
fn run_global(p: &Program) -> Result<Outcome, String> {
    let world = world();
    let p = p.clone();
    run::supervise(world, move || {
        lockdep::set_mode(Mode::Warn);
        lockdep::reset();
        let _ = lockdep::take_reports();
        lockdep::set_mode(p.mode);
        let mut runner = Runner::new(world, Env::Global, &p);
        let r = (|| -> Result<(), String> {
            for ops in &p.threads {
                if p.real_threads {
                    std::thread::scope(|s| {
                        s.spawn(|| runner.thread(ops))
                            .join()
                            .unwrap_or_else(|_| Err("thread panicked".into()))
                    })?;
                } else {
                    runner.thread(ops)?;
                }
            }
            Ok(())
        })();
        lockdep::set_mode(Mode::Warn);
        lockdep::set_ignore_gated(false);
        r?;
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
        ..Config::default()
    };
    let start = Instant::now();
    let mut runner = TestRunner::new(config);
    let stats = StdMutex::new((0usize, Outcome::default()));
    let result = runner.run(&strategy, |p| {
        let out = run_global(&p).map_err(TestCaseError::fail)?;
        let mut s = stats.lock().unwrap();
        s.0 += 1;
        s.1.steps += out.steps;
        s.1.panics += out.panics;
        s.1.reports.extend(out.reports);
        Ok(())
    });
    let (n, s) = stats.into_inner().unwrap();
    let count = |k| s.reports.iter().filter(|&&r| r == k).count();
    println!(
        "{name}: {n} programs, {} steps, {} panics, {} cycle, {} circular-wait, {} \
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
    generate("modes and hooks", 2_000, mode_program());
}

#[test]
fn generated_thread_programs_agree_with_the_oracle() {
    generate("threads", 1_000, thread_program());
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
        Err(e) => panic!("{e}"),
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
    // 30 recursive reads of the three classes in an irregular order (so that the chains
    // left after each release are new ones), each of the two instances of the class in turn.
    let order = [
        0, 1, 2, 0, 0, 1, 1, 2, 2, 0, 2, 1, 0, 0, 0, 1, 0, 2, 2, 1, 1, 1, 2, 0, 1, 2, 2, 2, 0, 1,
    ];
    let mut ops: Vec<Op> = order
        .iter()
        .enumerate()
        .map(|(i, &c)| lock(c * 3 + 1 + (i % 2) as u8, R2))
        .collect();
    ops.extend((0..30).rev().map(|below| Op::Unlock {
        from_top: below,
        force: false,
    }));
    check(Program::new(vec![ops]));
}

#[test]
fn legacy_harness_check_global() {
    if std::env::var("ORACLE_SKIP").is_err() {
        return;
    }
    let m = prop_oneof![Just(Mode::Warn), Just(Mode::Collect), Just(Mode::Panic)];
    let base = prop_oneof![
        10 => (0..9u8, 0..2u8, program::rd(), prop_oneof![3 => Just(How::Block), 1 => Just(How::Try)])
            .prop_map(|(inst, sub, rd, how)| Op::Lock { inst, sub, rd, how }),
        6 => (0..4u8, proptest::bool::weighted(0.15)).prop_map(|(from_top, force)| Op::Unlock { from_top, force }),
        2 => (0..2u8, prop_oneof![Just(EvAct::Arm), Just(EvAct::Signal), Just(EvAct::Wait)]).prop_map(|(e, act)| Op::Ev { e, act }),
        2 => (0..4u8).prop_map(|m| Op::Map { m, act: MapAct::AcquireRead }),
        1 => Just(Op::Gate),
    ];
    let ops = prop_oneof![10 => base.clone(), 1 => m.clone().prop_map(Op::SetMode)];
    let hook = Just(None);
    let modes = (program::program(ops, 14), hook, m).prop_map(|(p, hook, mode)| Program {
        hook,
        mode,
        ..p
    });
    generate("legacy modes", 1500, modes);
    let fork = (0..2u8, 0..3u8).prop_map(|(site, body)| Op::Fork { site, body });
    let threads = (
        proptest::collection::vec(
            proptest::collection::vec(prop_oneof![3 => base.clone(), 1 => fork], 0..=8),
            1..=3,
        ),
        proptest::collection::vec(proptest::collection::vec(base, 0..=8), 1..=3),
    )
        .prop_map(|(threads, bodies)| Program {
            bodies,
            ..Program::new(threads)
        });
    generate("legacy threads", 700, threads);
}
