//! Differential testing: random lock programs run against lockdep and against a small oracle
//! written only for this test (`oracle/model.rs`); they must agree on every step.
//!
//! A program is 1 to 5 threads run one after another (on real threads or as segments of one
//! thread) of real locks (three classes of three instances each: a `Mutex` and two `RwLock`s;
//! subclasses 0 to 2; and a gate: a class with one instance), pseudo-locks (`LockMap`) and
//! events (`Event`). Steps: acquisitions of every kind (exclusive, read, recursive read;
//! blocking, trylock, under a nest lock), re-acquisitions of a held lock (a certain
//! self-deadlock when either side is exclusive: lockdep must report and panic, and if it lets
//! the acquisition block instead, the supervisor releases the lock behind its back and the
//! program fails), releases in and out of order (dropping the guard or `force_unlock*`),
//! condvar waits on any mutex guard (nested, merged under a nest lock, taken by trylock),
//! pseudo-lock acquire / acquire_read / release / might_acquire, event arm / signal / wait.
//! Every program uses fresh classes, so programs never interact, and each step runs inside its
//! own `lockdep::capture`: its reports must be what the oracle expects (kind, classes, held
//! stack, a cycle's edges checked against the oracle's graph: `oracle/verify.rs`), its panic
//! (where lockdep's panic points), and afterwards `is_held` of every instance.
//!
//! Modes, report hooks, `reset()`, `set_ignore_gated` and `lockdep::thread` are process-wide:
//! `oracle_global.rs`.
//!
//! Generators: `locks` (real locks), `mixed` (with pseudo-locks and events), `deep` (stacks of
//! up to 40 locks, released in any order), `nest` (children of one class under nest locks held
//! exclusively or shared, in both orders, beside orders not under the nest lock).
//! `PROPTEST_CASES` sets the number of programs of each generator (defaults: 5,000 + 5,000 +
//! 1,800 + 2,500 here, 2,200 + 2,500 + 1,200 + 300 in `oracle_global.rs`: 20,500 in all, about
//! 40 s in a debug build on two cores). For a soak, `PROPTEST_CASES=20000 cargo test -p lockdep
//! --test oracle --test oracle_global` runs 160,000 programs (see the README for how long). `PROPTEST_RNG_SEED` fixes the programs.
//!
//! `ORACLE_SKIP` (see `oracle/run.rs`, `skip`) is for triage only: it steers the generators
//! around (or makes the oracle accept) a known, pending disagreement, to look for the next one.
//!
//! Every disagreement found is kept below as a named regression test; those lockdep does not
//! pass yet are `#[ignore]`d with the reason, and the generators keep finding them.
//!
//! # Coverage check
//!
//! Issue 12 asks that each of its defects be a program the generators produce. Checked on
//! 2026-12-06 (branch `oracle-revert`): each fix was undone by a minimal temporary edit of
//! `src/` (below), and only the generated tests were run, at the default counts; every defect
//! was found. The numbers are the first failing program of each generator that failed (one run,
//! random seed; "reruns" lists further runs). Generators: `locks`, `mixed`, `deep` here;
//! `modes` (modes and hooks), `gates`, `threads`, `deep (chains)` in `oracle_global.rs`.
//!
//! | item | the defect, put back | found by (first failing program) |
//! |---|---|---|
//! | 1 | `ThreadState::acquire`: the same-instance check skipped on a chain-cache hit | locks 333, mixed 122, deep 273, modes 428, gates 307 |
//! | 1 | the same, only for a nest-lock acquisition (a chain cached as nest-exempt) | locks 130, mixed 1521, modes 1799 |
//! | 1 | chains of a lock key already held put in the fast path's recent slots | locks 939 (reruns 1793, 1371, 716), modes 2195 |
//! | 2 | `HeldLock::holds`: an entry holds its own instance only, not the merged ones | locks 2, mixed 32, deep 1, modes 10, threads 115, deep (chains) 4 |
//! | 2 | the same, in the self-deadlock check only | locks 95, mixed 11, deep 5, modes 95, threads 996, deep (chains) 5 |
//! | 2 | the same, in `ThreadState::release` only | locks 4, mixed 33, deep 3, modes 1, threads 205, deep (chains) 3 |
//! | 3 | `HeldLock::chain_id` without the nest lock's position | locks 217, mixed 358, deep 105, modes 1369 |
//! | 4 | `wait_end`: the mutex re-acquired as subclass 0 | locks 4, mixed 50, modes 75, threads 8 |
//! | 4 | `wait_end`: without its nest lock | locks 439, mixed 29, modes 1041, threads 1084 |
//! | 4 | `wait_end`: left on top, not put back at its position | locks 2, mixed 14, modes 137, threads 335 |
//! | 4 | `wait_end`: a merged mutex not merged back | locks 1, mixed 135, modes 200 |
//! | 6 | `validate` keeps only the first problem | locks 4, mixed 20, deep 12, gates 392, modes 25, threads 15, deep (chains) 1 |
//! | 6 | a chain whose validation reported something is not cached | mixed 68, threads 21 (reruns: threads 37, 8, 24) |
//! | 7 | the entry pushed before delivery unless the mode is `Panic` at validation (hook switching to `Panic`; hook taking the lock being acquired) | modes 16 (reruns 58, 2, 15, 12, 1, shrunk to a `SetMode(Panic)` hook once and a `TakeCurrent` hook once) |
//! | 7 | `force_unlock*` in `Off` mode pops nothing | modes 748 (reruns 20, 757, 190, 162, 317) |
//! | 7 | `LockMap::release` in `Off` mode pops nothing | modes 48 |
//! | 7 | `Event::signal` in `Off` mode pops nothing | modes 97 |
//! | 8 | a re-entered pseudo-lock counted as a certain self-deadlock | mixed 4, deep 2, modes 1, threads 54, deep (chains) 1 |
//! | 9a | every `lockdep::thread` exit event of one site one class (no depth) | threads 2 |
//! | 9b | the exit event signalled when the body returns, before thread-local destructors | threads 2 |
//! | 10 | `set_ignore_gated(false)` keeps the chains validated while ignoring | gates 23, modes 8 (by the chain count); the missed report itself (chain count off): gates 98, 139, 247, 422 of 2,500 |
//! | 11 | no replay of held locks' edges after `reset()` | threads 67 |
//!
//! The nest-lock rule (children under one nest lock instance may be taken in any order),
//! checked the same way on 2026-12-07 with the `nest` generator:
//!
//! | the defect, put back | found by |
//! |---|---|
//! | a nest lock held shared counted as serialising its children's orders | nest 7, 26 |
//! | only the shortest instance path checked (a path with an order not under the nest lock hid behind it) | nest 3 |
//! | an order under a read lock of the nest lock and one under its write lock taken for an inversion (they exclude each other) | nest 20, 48 |
//! | a condvar wait that cannot sleep (zero timeout, deadline passed) validated as a wait (`WaitNoSleep` ops) | locks 1, mixed 16, nest 2 |
//!
//! Item 13 (performance) is not the generators' (`oracle_global.rs` checks the chain count
//! only); item 4's read kind has no defect to put back (a condvar waits on a mutex guard,
//! always exclusive). To repeat: put one defect back, run `cargo test -p lockdep --test oracle generated --
//! --nocapture` and the same with `--test oracle_global`, and read each failing generator's
//! `NAME: the first failure was program K: ...` line (the whole failure, before shrinking);
//! then `git checkout lockdep-rs/src`. The named `issue12_item*` tests show each defect's shape.
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

mod oracle {
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

use std::time::Instant;

use lockdep::{Mode, ReportKind};
use oracle::model::Rd::{self, R1, R2, W};
use oracle::program::{self, EvAct, How, MapAct, Op, Program};
use oracle::run::{self, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};

fn setup() {
    // Reports are compared, never printed: no stack traces (symbolising them is slow, and a
    // panicking acquisition must not look blocked to the supervisor).
    std::env::set_var("LOCKDEP_BACKTRACE", "0");
    // Captured reports are never printed; make sure validation is on whatever LOCKDEP says.
    if lockdep::mode() != Mode::Warn {
        lockdep::set_mode(Mode::Warn);
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cases` programs of `strategy`, printing what they did.
fn generate(name: &str, default: u32, strategy: impl Strategy<Value = Program>) {
    setup();
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
    let stats = std::sync::Mutex::new((0usize, Outcome::default()));
    let first = run::FirstFailure::default();
    let result = runner.run(&strategy, |p| {
        first.start();
        let out = run::run(&p)
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
        "{name}: {n} programs (seed {seed}), {} steps, {} cycle reports, {} circular-wait reports, {} \
         recursive-locking reports ({} certain self-deadlocks), {} bad unlocks, in {:.1?}",
        s.steps,
        count(ReportKind::CircularDependency),
        count(ReportKind::CircularWait),
        count(ReportKind::RecursiveLocking),
        s.panics,
        count(ReportKind::BadUnlockBalance),
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

#[test]
fn generated_lock_programs_agree_with_the_oracle() {
    generate("locks", 5_000, program::program(program::lock_ops(), 16));
}

#[test]
fn generated_mixed_programs_agree_with_the_oracle() {
    generate("mixed", 5_000, program::program(program::mixed_ops(), 16));
}

#[test]
fn generated_nest_lock_programs_agree_with_the_oracle() {
    generate("nest", 2_500, program::nest_program());
}

#[test]
fn generated_deep_programs_agree_with_the_oracle() {
    generate("deep", 1_800, program::deep_program(40));
}

/// Runs one program (segments of one thread, then real threads), panicking with the
/// disagreement if there is one. Returns the kinds of the reports of the first run.
fn check(threads: Vec<Vec<Op>>) -> Vec<ReportKind> {
    setup();
    let mut kinds = Vec::new();
    for real_threads in [false, true] {
        let p = Program {
            real_threads,
            ..Program::new(threads.clone())
        };
        match run::run(&p) {
            Ok(out) if !real_threads => kinds = out.reports,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    kinds
}

fn lock(inst: u8, rd: Rd) -> Op {
    lock_sub(inst, 0, rd)
}
fn lock_sub(inst: u8, sub: u8, rd: Rd) -> Op {
    Op::Lock {
        inst,
        sub,
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
/// `lock_nest_lock` / `write_nest_lock` under the guard `nest_from_top` below the top.
fn lock_nest(inst: u8, nest_from_top: u8) -> Op {
    Op::Lock {
        inst,
        sub: 0,
        rd: W,
        how: How::Nest(nest_from_top),
    }
}
fn relock(from_top: u8, sub: u8) -> Op {
    Op::Relock {
        from_top,
        sub,
        rd: W,
        nest: None,
    }
}
fn unlock() -> Op {
    unlock_below(0)
}
fn unlock_below(from_top: u8) -> Op {
    Op::Unlock {
        from_top,
        force: false,
    }
}
fn force_unlock_below(from_top: u8) -> Op {
    Op::Unlock {
        from_top,
        force: true,
    }
}
fn wait(from_top: u8) -> Op {
    Op::Wait { from_top }
}
fn map(m: u8, act: MapAct) -> Op {
    Op::Map { m, act }
}
fn ev(e: u8, act: EvAct) -> Op {
    Op::Ev { e, act }
}

// Instances 0, 1, 2 are of class c0 (0 a Mutex, 1 and 2 RwLocks); 3, 4, 5 of c1; 6, 7, 8 of c2.
const MX: u8 = 0;
const X: u8 = 1;
const X2: u8 = 2;
const MY: u8 = 3;
const Y: u8 = 4;
const Y2: u8 = 5;
const MZ: u8 = 6;
const Z: u8 = 7;
// Pseudo-locks 0 and 1 are of class m0, 2 and 3 of m1; events 0 and 1 are e0 and e1.

/// The oracle itself against the verdict table of the reference (§6.4), run through both.
#[test]
fn oracle_reproduces_the_reference_table() {
    let two = |a: Rd, b: Rd, c: Rd, d: Rd| -> bool {
        let p = Program::new(vec![
            vec![lock(X, a), lock(Y, b)],
            vec![lock(Y, c), lock(X, d)],
        ]);
        let out = run::run(&p).unwrap();
        out.reports.contains(&ReportKind::CircularDependency)
    };
    setup();
    // Closed form: report iff NOT [(d = R and a in {r,R}) or (b = R and c in {r,R})].
    for a in [W, R1, R2] {
        for b in [W, R1, R2] {
            for c in [W, R1, R2] {
                for d in [W, R1, R2] {
                    let silent = (d == R2 && a.shared()) || (b == R2 && c.shared());
                    assert_eq!(
                        two(a, b, c, d),
                        !silent,
                        "X:{a:?} Y:{b:?} / Y:{c:?} X:{d:?}"
                    );
                }
            }
        }
    }
    let three = |t: [[Rd; 2]; 3]| -> bool {
        let p = Program::new(vec![
            vec![lock(X, t[0][0]), lock(Y, t[0][1])],
            vec![lock(Y, t[1][0]), lock(Z, t[1][1])],
            vec![lock(Z, t[2][0]), lock(X, t[2][1])],
        ]);
        run::run(&p)
            .unwrap()
            .reports
            .contains(&ReportKind::CircularDependency)
    };
    assert!(three([[W, R2], [W, R2], [W, R2]]));
    assert!(three([[W, W], [R2, R2], [W, R2]]));
    assert!(!three([[W, W], [R2, R2], [R2, W]]));
    assert!(!three([[W, R2], [R2, R2], [W, W]]));
}

#[test]
fn same_class_rule() {
    setup();
    for (held, new, reported) in [
        (R2, R2, false),
        (R1, R2, false),
        (R1, R1, true),
        (R2, R1, true),
        (W, R2, true),
        (R2, W, true),
        (W, W, true),
    ] {
        let p = Program::new(vec![vec![lock(X, held), lock(X2, new)]]);
        let out = run::run(&p).unwrap();
        assert_eq!(
            out.reports.contains(&ReportKind::RecursiveLocking),
            reported,
            "{held:?} then {new:?} of one class"
        );
    }
}

#[test]
fn trylock_and_out_of_order_release_examples() {
    // A trylock gets no incoming edge, but gives outgoing ones and lets the walk through.
    check(vec![
        vec![lock(X, W), try_lock(Y, W), lock(Z, W)],
        vec![lock(Z, W), lock(X, W)],
    ]);
    check(vec![
        vec![lock(Y, W), try_lock(X, W)],
        vec![lock(X, W), lock(Y, W)],
    ]);
    // Holding X, Y, Z and releasing Y records nothing new (rule 13): X -> Y -> Z implies it.
    check(vec![
        vec![lock(X, W), lock(Y, W), lock(Z, W), unlock_below(1)],
        vec![lock(Z, W), lock(X, W)],
    ]);
    // Subclasses are classes of their own.
    check(vec![
        vec![lock(X, W), lock_sub(X2, 1, W)],
        vec![lock_sub(X2, 1, W), lock(X, W)],
        vec![unlock()],
    ]);
}

#[test]
fn force_unlock_releases_like_a_guard() {
    // Out of order, from a Mutex and from both sides of an RwLock.
    check(vec![
        vec![lock(MX, W), lock(Y, W), lock(Z, W), force_unlock_below(1)],
        vec![lock(Z, W), lock(MX, W)],
    ]);
    check(vec![vec![
        lock(X, R1),
        lock(Y, R2),
        lock(Z, W),
        force_unlock_below(2),
        force_unlock_below(0),
    ]]);
    check(vec![
        vec![
            try_lock(X, W),
            lock(Y, W),
            force_unlock_below(1),
            lock(Z, W),
        ],
        vec![lock(Z, W), lock(Y, W)],
    ]);
}

#[test]
fn pseudo_locks_and_events_examples() {
    // A waiter holding c0 while the event's signaller takes c0 first: a circular wait.
    let kinds = check(vec![vec![
        ev(0, EvAct::Arm),
        lock(X, W),
        unlock(),
        ev(0, EvAct::Signal),
        lock(X, W),
        ev(0, EvAct::Wait),
    ]]);
    assert_eq!(kinds, [ReportKind::CircularWait]);
    // `might_acquire` records the order without holding; a pseudo-lock re-entered is
    // recursive locking, never a certain self-deadlock (it cannot block); so is another
    // pseudo-lock of its class; releasing one not held is a bad unlock.
    let kinds = check(vec![vec![
        map(0, MapAct::Acquire),
        map(0, MapAct::Acquire),
        map(1, MapAct::Might),
        map(2, MapAct::Release),
    ]]);
    assert_eq!(
        kinds,
        [
            ReportKind::RecursiveLocking,
            ReportKind::RecursiveLocking,
            ReportKind::BadUnlockBalance
        ]
    );
}

/// A cycle the kernel's search (each class visited once) would miss: the strong walk
/// c1 -(EN)-> c0 -(EN)-> c1 -(SN)-> c2 enters c1 twice, first as a recursive reader (so it may
/// only leave through an E* edge), then non-recursively. It is a real deadlock between four
/// threads with two instances of c1: one holds c2 and waits to read c1 recursively behind a
/// writer holding c1 (instance 1) who waits for c0, whose holder waits for c1 (instance 2)
/// read-held by a thread waiting for c2. Lockdep searches (class, arrival) states and finds it.
#[test]
fn cycle_through_a_class_entered_twice() {
    let kinds = check(vec![
        vec![lock(X, W), lock(Y, W)],
        vec![lock(Y, W), lock(X, W)],
        vec![lock(Y2, R1), lock(Z, W)],
        vec![lock(Z, W), lock(Y, R2)],
    ]);
    assert_eq!(
        kinds,
        [
            ReportKind::CircularDependency,
            ReportKind::CircularDependency
        ]
    );
}

// Lockdep bug 1 (fixed in 942b6e6, "Guards release their own entry"): a guard's release
// removed the topmost held entry of its lock *instance*, not the entry the guard was acquired
// as. Found by the generator.

/// read_recursive(Z); write(X); read(Z); drop the read_recursive guard. What is held now is
/// X then Z (read, non-recursive): re-acquiring Z must check Z -(SN)-> X and X -(EN)-> Z.
#[test]
fn bug1_release_drops_the_entry_of_the_other_mode() {
    check(vec![vec![
        lock(Z, R2),
        lock(X, W),
        lock(Z, R1),
        unlock_below(2),
        lock(Z, R1),
    ]]);
}

/// read_nested(Y, 1); read(Y); drop the first guard: Y is held as c1 (subclass 0), so taking
/// another c1 lock exclusively is recursive locking.
#[test]
fn bug1_release_drops_the_entry_of_the_other_subclass() {
    check(vec![vec![
        lock_sub(Y, 1, R1),
        lock(Y, R1),
        unlock_below(1),
        lock(Y2, W),
    ]]);
}

/// Lockdep bug 4 (fixed): of a run of identical adjacent entries of one instance, releasing
/// the lower guard removed the topmost entry and did not hand that guard the entry that stays.
#[test]
fn bug4_release_after_the_identical_entry_was_taken_for_another() {
    check(vec![vec![
        try_lock(X, R1),
        try_lock(X, R1),
        lock(Y, W),
        unlock_below(2),
        lock(X, R1),
        unlock_below(2),
    ]]);
}

// Issue 12: each defect the generator finds, as the program it found (shrunk).

/// Item 1: `transfer(x, y)` locks x, then y (of x's class) as subclass 1; `transfer(x, x)`
/// then re-locks x as subclass 1 on the chain cached by the first call: a certain
/// self-deadlock lockdep must catch on every path.
#[test]
fn issue12_item1_cached_chain_self_deadlock() {
    check(vec![vec![
        lock(MX, W),
        lock_sub(X, 1, W),
        unlock(),
        unlock(),
        lock(MX, W),
        relock(0, 1),
    ]]);
}

/// Item 2: a lock merged under a nest lock stays visible (`is_held`), and re-locking it under
/// the nest lock is a certain self-deadlock.
#[test]
fn issue12_item2_merged_lock_stays_held() {
    check(vec![vec![
        lock(MY, W),
        lock_nest(X, 0),
        lock_nest(X2, 1),
        Op::Relock {
            from_top: 0,
            sub: 0,
            rd: W,
            nest: Some(2),
        },
    ]]);
}

/// Children taken under one nest lock instance in both orders: it lets one thread at a time
/// in, so no instance inversion (one was reported; found by an adoption trial, and by this
/// generator now that the oracle knows it); the same two the other way round without it are.
#[test]
fn children_under_one_nest_lock_in_both_orders() {
    check(vec![vec![
        lock(MY, W),
        lock_nest(X, 0),
        lock_nest(X2, 1),
        unlock(),
        unlock(),
        lock_nest(X2, 0),
        lock_nest(X, 1),
        unlock(),
        unlock(),
        unlock(),
        lock(X2, W),
        lock_sub(X, 1, W),
    ]]);
}

/// Children taken in both orders under one nest `RwLock`, once under its write lock and once
/// under a read lock of it, whichever comes first: the thread waiting in one order holds the
/// nest lock exclusively, the other shares it, never both at once, so no instance inversion
/// (one was reported: an order under a read lock counted as taken without the nest lock).
/// Both under read locks they can deadlock, and are reported.
#[test]
fn children_under_a_write_and_a_read_lock_of_one_nest_lock() {
    let under = |rd: Rd, first: u8, second: u8| {
        vec![
            lock(Y, rd),
            lock_nest(first, 0),
            lock_nest(second, 1),
            unlock(),
            unlock(),
            unlock(),
        ]
    };
    for (a, b) in [(W, R1), (R1, W)] {
        let kinds = check(vec![[under(a, X, X2), under(b, X2, X)].concat()]);
        assert!(kinds.is_empty(), "{a:?} then {b:?}: {kinds:?}");
    }
    let kinds = check(vec![[under(R1, X, X2), under(R1, X2, X)].concat()]);
    assert!(kinds.contains(&ReportKind::InstanceInversion), "{kinds:?}");
}

/// Item 3: a chain validated with a nest-lock exemption is not reused for the same classes
/// taken without it.
#[test]
fn issue12_item3_nest_exempt_chain_not_reused() {
    check(vec![
        vec![lock(MY, W), lock(X, W), lock(MZ, W), lock_nest(X2, 2)],
        vec![lock(MY, W), lock(X, W), lock(MZ, W), lock(X2, W)],
    ]);
}

/// Item 4: a condvar wait on a guard taken with `lock_nested(1)` restores it as subclass 1.
#[test]
fn issue12_item4_condvar_wait_keeps_the_subclass() {
    check(vec![vec![
        lock(X, W),
        lock_sub(MX, 1, W),
        wait(0),
        unlock(),
        unlock(),
    ]]);
}

/// Item 6: `X; try_lock(T); Z` closing both T <-> Z and X <-> Z reports both; the chain is
/// then cached with them, and a capture passing through it again gets both again (once each).
/// (Process-wide, the repeat reports nothing: `oracle_global.rs`.)
#[test]
fn issue12_item6_every_problem_once() {
    let kinds = check(vec![
        vec![lock(Z, W), lock(X, W)],
        vec![lock(Z, W), lock(Y, W)],
        vec![lock(X, W), try_lock(Y, W), lock(Z, W)],
        vec![lock(X, W), try_lock(Y, W), lock(Z, W)],
    ]);
    assert_eq!(kinds, [ReportKind::CircularDependency; 4]);
}

/// Item 8: a re-entered pseudo-lock is recursive locking, not a certain self-deadlock.
#[test]
fn issue12_item8_reentered_lock_map() {
    let kinds = check(vec![vec![map(0, MapAct::Acquire), map(0, MapAct::Acquire)]]);
    assert_eq!(kinds, [ReportKind::RecursiveLocking]);
}

/// Found by the generator on main at ce1dea7 (the instance-order check, fixed in ab6f42f): two
/// recursive readers of one class, taken in both orders by two threads, were reported as an
/// instance inversion; recursive readers never block readers. Also with a non-recursive
/// reader first.
#[test]
fn recursive_readers_of_one_class_in_both_orders() {
    check(vec![
        vec![lock(X, R2), lock(X2, R2)],
        vec![lock(X2, R2), lock(X, R2)],
    ]);
    check(vec![
        vec![lock(X, R1), lock(X2, R2)],
        vec![lock(X2, R1), lock(X, R2)],
    ]);
}

/// Found by the generator on main at ce1dea7 (fixed in 1eef9a3): the outer lock of an
/// instance inversion is a nest-lock merged entry ({6, 7}); the order recorded is from its last
/// instance (7 -> 8), but the report's cycle started with the entry's own (6 -> 8), so the
/// cycle shown was no closed walk (6 -> 8, 8 -> 6, 6 -> 7).
#[test]
fn instance_inversion_from_a_merged_entry_shows_a_closed_cycle() {
    check(vec![vec![
        lock(8, R1),
        lock_nest(MZ, 0),
        lock_nest(Z, 1),
        lock_sub(8, 1, R1),
    ]]);
}

/// The instance-order check's true positive: `transfer(a, b)` and `transfer(b, a)` (the second
/// lock as subclass 1) in code that does not sort its locks.
#[test]
fn instance_inversion_of_an_unsorted_transfer() {
    let kinds = check(vec![
        vec![lock(MX, W), lock_sub(X, 1, W)],
        vec![lock(X, W), lock_sub(MX, 1, W)],
    ]);
    assert_eq!(kinds, [ReportKind::InstanceInversion]);
}

// Found by the extended generator on main at cf56191 (issue 12 fixes): a lock write-locked
// under a nest lock is merged into the top entry of its class even when that entry is a read,
// and the merged instance then counts as held the entry's way (shared).

/// Reading the merged instance again is a certain self-deadlock (it hangs for real): lockdep
/// took it for a recursive read and let it block.
#[test]
fn merged_exclusive_instance_in_a_read_entry_relocked() {
    check(vec![vec![lock(Z, R1), lock_nest(8, 0), lock(8, R1)]]);
}

/// `force_unlock_write` of the merged instance finds no exclusive entry of it: a false
/// `BadUnlockBalance`, and the lock is left locked.
#[test]
fn merged_exclusive_instance_in_a_read_entry_force_unlocked() {
    check(vec![vec![
        lock(Z, R1),
        lock_nest(8, 0),
        force_unlock_below(0),
    ]]);
}

/// Review 10's defect 8 as an oracle program: the condvar's waker needs the nest lock MX
/// (armed, MX taken, notified); then, holding MX, a child Y (class c1) and the mutex MY
/// merged into Y's entry under MX, a condvar wait on MY is a `CircularWait`, delivered while
/// MY is out of the stack: the held state after it must still be Y and MY both held.
#[test]
fn condvar_wait_on_a_merged_guard_reported_during_the_wait() {
    let cv = oracle::world::EVENTS;
    let kinds = check(vec![vec![
        ev(cv, EvAct::Arm),
        lock(MX, W),
        unlock(),
        ev(cv, EvAct::Signal),
        lock(MX, W),
        lock_nest(Y, 0),
        lock_nest(MY, 1),
        wait(0),
        unlock(),
        unlock(),
        unlock(),
    ]]);
    assert!(kinds.contains(&ReportKind::CircularWait), "{kinds:?}");
}
