//! Random lock programs: their shape and the proptest strategies that generate them.
//!
//! A program is a list of threads run one after another (each on a thread of its own, or as
//! segments of one thread), each a list of [`Op`]s. Ops name things loosely (an instance by
//! number, a guard by its distance from the top); the runner (`run.rs`) resolves each against
//! the state at that point, dropping what cannot run (a release with nothing held, a blocking
//! acquisition that would really deadlock with another thread or in `Off` mode).

#![allow(dead_code)]

use lockdep::Mode;
use proptest::prelude::*;

use super::model::Rd;
use super::world::{EVENTS, INSTANCES, LOCKS, MAPS};

/// The seed of the generated programs: `PROPTEST_RNG_SEED` if it is set (another set of
/// programs: e.g. `PROPTEST_RNG_SEED=$RANDOM`), else a fixed one, so that every run of the test
/// command checks the same programs: a failure comes back when run again, and the verdict
/// depends on the code, not on the draw.
pub fn seed() -> u64 {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10C_DE95)
}

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Block,
    /// `try_write` / `try_read` / `try_lock` (subclass 0, never a recursive read).
    Try,
    /// `lock_nest_lock` / `write_nest_lock` (exclusive, subclass 0) under the guard
    /// `from_top` places below the top of this thread's guards.
    Nest(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAct {
    Acquire,
    AcquireRead,
    Release,
    Might,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvAct {
    Arm,
    Signal,
    Wait,
}

/// What a report hook does (besides recording nothing: reports are read back afterwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAct {
    /// Takes and releases lock `inst` (exclusively or as a reader).
    Take(u8, Rd),
    /// Takes and releases the lock the step is acquiring, if it is one.
    TakeCurrent,
    SetMode(Mode),
    /// Takes the reports kept so far (`take_reports`): they are the step's, as if the runner
    /// took them (see `hook::take_stash`), and no longer fail the run.
    TakeReports,
    /// [`TakeReports`](Self::TakeReports), then [`SetMode`](Self::SetMode).
    TakeThenSetMode(Mode),
    /// Has another thread hold std's stderr lock from the first report until the program
    /// ends (a logger writing a record): lockdep's printing must not wait for it.
    HoldStderr,
}

/// One step of a thread, as generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Acquire lock `inst` (of base class `inst / INSTANCES`) as subclass `sub` in mode `rd`.
    Lock {
        inst: u8,
        sub: u8,
        rd: Rd,
        how: How,
    },
    /// Acquire again the lock of the guard `from_top` places below the top (a certain
    /// self-deadlock if either side is exclusive), as subclass `sub`, or under the nest lock
    /// of guard `nest` (counted the same way).
    Relock {
        from_top: u8,
        sub: u8,
        rd: Rd,
        nest: Option<u8>,
    },
    /// Drop the guard `from_top` places below the top: 0 is a LIFO release, anything else an
    /// out-of-order one. With `force`, forget it and release with `force_unlock*`.
    Unlock {
        from_top: u8,
        force: bool,
    },
    /// `Condvar::wait` on the `from_top`-th mutex guard from the top.
    Wait {
        from_top: u8,
    },
    /// A condvar wait that cannot sleep (`wait_for` with a zero timeout, `wait_until` with a
    /// deadline already passed) on the `from_top`-th mutex guard: nothing to validate, nothing
    /// changes.
    WaitNoSleep {
        from_top: u8,
    },
    Map {
        m: u8,
        act: MapAct,
    },
    Ev {
        e: u8,
        act: EvAct,
    },
    /// `set_mode` (global programs only).
    SetMode(Mode),
    /// Spawn a thread at spawn site `site` (0 or 1) running thread body `body`, and join it
    /// (global programs only).
    Fork {
        site: u8,
        body: u8,
    },
    /// In a spawned thread: a thread-local destructor that takes and releases lock `inst`
    /// (inside a `capture` if `captured`).
    AtExit {
        inst: u8,
        rd: Rd,
        captured: bool,
    },
    /// Acquire pseudo-lock `m` and never release it (held at thread exit).
    Leak {
        m: u8,
    },
    /// `lockdep::reset()` (global programs only), while ancestors hold locks.
    Reset,
    /// Lock the gate (a class with one instance).
    Gate,
    /// `set_ignore_gated` (global programs only).
    IgnoreGated(bool),
}

/// Threads that run one after another; each ends by releasing what it still holds (top
/// first). With `real_threads`, each runs on a thread of its own, joined before the next
/// starts; otherwise they are segments of one thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub threads: Vec<Vec<Op>>,
    pub real_threads: bool,
    /// Bodies of spawned threads (global programs).
    pub bodies: Vec<Vec<Op>>,
    /// The report hook (global programs).
    pub hook: Option<HookAct>,
    /// The mode the program starts in (global programs; `Warn` otherwise).
    pub mode: Mode,
}

impl Program {
    pub fn new(threads: Vec<Vec<Op>>) -> Program {
        Program {
            threads,
            real_threads: false,
            bodies: Vec::new(),
            hook: None,
            mode: Mode::Warn,
        }
    }
}

pub fn rd() -> impl Strategy<Value = Rd> {
    prop_oneof![Just(Rd::W), Just(Rd::R1), Just(Rd::R2)]
}

fn sub() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)]
}

fn from_top() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 2 => 1..4u8]
}

fn lock_op() -> impl Strategy<Value = Op> {
    let how = prop_oneof![
        6 => Just(How::Block),
        2 => Just(How::Try),
        2 => from_top().prop_map(How::Nest),
    ];
    (0..LOCKS, sub(), rd(), how).prop_map(|(inst, sub, rd, how)| Op::Lock { inst, sub, rd, how })
}

fn relock_op() -> impl Strategy<Value = Op> {
    (
        from_top(),
        sub(),
        rd(),
        proptest::option::weighted(0.3, from_top()),
    )
        .prop_map(|(from_top, sub, rd, nest)| Op::Relock {
            from_top,
            sub,
            rd,
            nest,
        })
}

fn unlock_op() -> impl Strategy<Value = Op> {
    (from_top(), proptest::bool::weighted(0.15))
        .prop_map(|(from_top, force)| Op::Unlock { from_top, force })
}

fn map_op() -> impl Strategy<Value = Op> {
    let act = prop_oneof![
        3 => Just(MapAct::Acquire),
        2 => Just(MapAct::AcquireRead),
        3 => Just(MapAct::Release),
        2 => Just(MapAct::Might),
    ];
    (0..MAPS, act).prop_map(|(m, act)| Op::Map { m, act })
}

fn event_op() -> impl Strategy<Value = Op> {
    let act = prop_oneof![Just(EvAct::Arm), Just(EvAct::Signal), Just(EvAct::Wait)];
    (0..EVENTS, act).prop_map(|(e, act)| Op::Ev { e, act })
}

/// The world's condvar as an event (event number `EVENTS`): armed, or notified (its waits
/// are `Op::Wait`).
fn cv_event_op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(EvAct::Arm), Just(EvAct::Signal)].prop_map(|act| Op::Ev { e: EVENTS, act })
}

/// Ops on real locks: acquisitions (every way), re-locking a held instance, releases in and
/// out of order, condvar waits.
pub fn lock_ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => lock_op(),
        1 => Just(Op::Gate),
        1 => relock_op(),
        6 => unlock_op(),
        1 => from_top().prop_map(|from_top| Op::Wait { from_top }),
        1 => from_top().prop_map(|from_top| Op::WaitNoSleep { from_top }),
    ]
}

/// Ops on real locks, pseudo-locks and events.
pub fn mixed_ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => lock_ops(),
        3 => map_op(),
        2 => event_op(),
        1 => cv_event_op(),
    ]
}

/// Nest-lock programs: one nest class and one child class (instances 0..3 and 3..6 of the
/// world). Each segment takes a nest lock instance (exclusively or shared: a read guard
/// serialises nothing) or none, then two or three distinct children in some order, each under
/// the nest guard (`lock_nest_lock`) or plainly (an order not under it), then maybe a condvar
/// wait, a re-lock or an out-of-order release, and releases the rest; some segments first
/// arm the condvar, take a nest instance and notify (its waker needs the nest class), so a
/// later wait under a nest lock is reported while its mutex is out of the stack. The general generators
/// rarely build two children of one class under one nest instance in both orders, beside
/// other paths between them; these programs are mostly that.
pub fn nest_program() -> impl Strategy<Value = Program> {
    let nest = proptest::option::weighted(
        0.8,
        (
            0..INSTANCES,
            rd(),
            prop_oneof![5 => Just(How::Block), 1 => Just(How::Try)],
        ),
    );
    let children = Just((INSTANCES..2 * INSTANCES).collect::<Vec<u8>>())
        .prop_shuffle()
        .prop_flat_map(|order| (2..=order.len()).prop_map(move |n| order[..n].to_vec()));
    let under = proptest::collection::vec(proptest::bool::weighted(0.75), 3);
    let extra = proptest::option::weighted(
        0.3,
        prop_oneof![
            unlock_op(),
            relock_op(),
            from_top().prop_map(|from_top| Op::Wait { from_top }),
            from_top().prop_map(|from_top| Op::WaitNoSleep { from_top }),
        ],
    );
    // The condvar's waker needs a nest instance: a later wait holding one is a `CircularWait`,
    // reported while the wait's mutex (maybe merged under the nest lock) is out of the stack.
    let waker = proptest::option::weighted(0.25, 0..INSTANCES);
    let segment =
        (nest, children, under, extra, waker).prop_map(|(nest, children, under, extra, waker)| {
            let mut ops = Vec::new();
            if let Some(inst) = waker {
                ops.extend([
                    Op::Ev {
                        e: EVENTS,
                        act: EvAct::Arm,
                    },
                    Op::Lock {
                        inst,
                        sub: 0,
                        rd: Rd::W,
                        how: How::Block,
                    },
                    Op::Unlock {
                        from_top: 0,
                        force: false,
                    },
                    Op::Ev {
                        e: EVENTS,
                        act: EvAct::Signal,
                    },
                ]);
            }
            if let Some((inst, rd, how)) = nest {
                ops.push(Op::Lock {
                    inst,
                    sub: 0,
                    rd,
                    how,
                });
            }
            for (k, &inst) in children.iter().enumerate() {
                let how = match nest {
                    Some(_) if under[k] => How::Nest(k as u8),
                    _ => How::Block,
                };
                ops.push(Op::Lock {
                    inst,
                    sub: 0,
                    rd: Rd::W,
                    how,
                });
            }
            ops.extend(extra);
            ops
        });
    (
        proptest::collection::vec(segment, 2..=5),
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(threads, real_threads)| Program {
            real_threads,
            ..Program::new(threads)
        })
}

/// Programs of 1 to 5 threads of up to `len` ops each.
pub fn program<S: Strategy<Value = Op>>(ops: S, len: usize) -> impl Strategy<Value = Program> {
    (
        proptest::collection::vec(proptest::collection::vec(ops, 0..=len), 1..=5),
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(threads, real_threads)| Program {
            real_threads,
            ..Program::new(threads)
        })
}

/// Deep stacks: one or two threads holding up to `depth` locks at once, taken mostly in one
/// order (every instance of every class, every subclass, pseudo-locks), then released in an
/// arbitrary order.
pub fn deep_program(depth: usize) -> impl Strategy<Value = Program> {
    let thread = (
        proptest::collection::vec(
            prop_oneof![8 => lock_op(), 2 => map_op(), 1 => relock_op()],
            depth / 2..=depth,
        ),
        proptest::collection::vec(unlock_op(), 0..=depth),
    )
        .prop_map(|(mut take, rel)| {
            take.extend(rel);
            take
        });
    proptest::collection::vec(thread, 1..=2).prop_map(Program::new)
}
