//! Generated programs for async acquisitions by *branches of one holder* (feature `tokio`):
//! two to four branches of one future (as `join!` runs them, polled in a generated order
//! each round) take `lockdep::tokio::Mutex`es in one global order (ascending), hold them
//! across yields, release them, pause; the holder is a tokio task (with a second task on the
//! same current-thread runtime contending for the same locks) or a plain thread polling the
//! future (`block_on`); owned guards are handed to a keeper (a third task, or another
//! thread), which drops them a few yields later while their acquirer goes on. Every program is deadlock-free (one global order), so lockdep must
//! stop nothing and report nothing but the orders one holder's branches make of each other's
//! locks (a documented limit, see [`check`]), every branch must finish, each lock must have
//! been taken exactly as often as the program says, and every lock must be free at the end.
//!
//! The branches of one holder share its held-lock stack, and contend for one lock while the
//! holder "holds" it (a branch waiting for a lock another branch holds gets a grace): the
//! family of dataloader's false `RecursiveLocking` (a branch queued for a lock recorded as
//! holding it, then taken for a holder by the branch the lock was handed to; found by the
//! tokio adoption trial, tests/adoption_tokio.rs). And *free* programs, whose branches may
//! block their thread on any lock (a real deadlock when a sibling holds it or is queued for
//! it): lockdep must stop those, never hang (review 5's hangs). `PROPTEST_CASES` sets the
//! number of programs (default 2000 per holder kind, 300 free ones).
#![cfg(lockdep_tasks)]

mod common;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;

use lockdep::tokio::Mutex;
use proptest::prelude::*;

const LOCKS: usize = 4;
/// The lock only ever handed off (and taken blocking): never held by a branch itself, so a
/// branch blocking its thread for it waits only for the keeper.
const HANDED: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    /// Takes `locks` (ascending), adds 1 under each, yields `hold` times holding them all,
    /// then drops them (first taken first).
    Take { locks: Vec<usize>, hold: u8 },
    /// Yields `n` times holding nothing.
    Pause(u8),
    /// Takes `lock` with `lock_owned` and hands the guard to the keeper (a task of the same
    /// runtime, or another thread), which adds 1 under it, yields `hold` times and drops it:
    /// the entry stays the acquirer's (movable) until then, and the acquirer's holder taking
    /// the lock again meanwhile must wait for the keeper's drop, not be stopped.
    HandOff { lock: usize, hold: u8 },
    /// Takes `lock` with `blocking_lock` (thread holders only; skipped in a task), adds 1 and
    /// drops it. In a deadlock-free program only branch 0 does, and only on [`HANDED`]: if a
    /// guard of it is with the keeper, the holder's entry of it is movable, and the blocking
    /// re-lock must wait for the keeper's drop, not be stopped. In a *free* program any branch
    /// does, on any lock: it may then block its thread on a lock a sibling holds, or behind a
    /// sibling queued for it (real deadlocks), which lockdep must stop, never hang.
    Blocking(usize),
}

#[derive(Clone, Debug)]
struct Program {
    branches: Vec<Vec<Step>>,
    /// The order the branches are polled in, round after round (cycled).
    orders: Vec<Vec<usize>>,
    /// Run by a second task on the same runtime (task holders only).
    other: Vec<Step>,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (proptest::sample::subsequence((0..HANDED).collect::<Vec<_>>(), 1..=2), 0..3u8)
            .prop_map(|(locks, hold)| Step::Take { locks, hold }),
        1 => (0..3u8).prop_map(Step::Pause),
        2 => (0..LOCKS, 0..3u8).prop_map(|(lock, hold)| Step::HandOff { lock, hold }),
        1 => (0..LOCKS).prop_map(Step::Blocking),
    ]
}

/// A deadlock-free program (`free` false), or one whose blocking steps may deadlock.
fn program(free: bool) -> impl Strategy<Value = Program> {
    (2..=4usize).prop_flat_map(move |n| {
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        (
            proptest::collection::vec(proptest::collection::vec(step(), 1..=4), n),
            proptest::collection::vec(order, 1..=4),
            proptest::collection::vec(step(), 0..=3),
        )
            .prop_map(move |(mut branches, orders, other)| {
                // Deadlock-free: only branch 0 hands off or blocks, and only on `HANDED`: a
                // branch blocking its thread while a sibling is queued for that lock would
                // deadlock for real (tokio hands the lock to the queued sibling, which cannot
                // run; lockdep stops it: tests/adoption_tokio.rs).
                for (b, steps) in branches.iter_mut().enumerate() {
                    for s in steps.iter_mut() {
                        match s {
                            _ if free => {}
                            Step::Blocking(_) if b > 0 => *s = Step::Pause(0),
                            Step::Blocking(lock) => *lock = HANDED,
                            Step::HandOff { lock, .. } if b > 0 && *lock == HANDED => *lock = 0,
                            _ => {}
                        }
                    }
                }
                Program {
                    branches,
                    orders,
                    other,
                }
            })
    })
}

/// Returns `Pending` once (waking itself at once), as `tokio::task::yield_now`, with no runtime.
fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

type Locks = Arc<[Arc<Mutex<u32>>; LOCKS]>;

/// Where handed-off guards go: the keeper.
type Keeper = tokio::sync::mpsc::UnboundedSender<(lockdep::tokio::OwnedMutexGuard<u32>, u8)>;

/// The keeper: adds 1 under each guard it gets, yields `hold` times, drops it.
async fn keep(
    mut guards: tokio::sync::mpsc::UnboundedReceiver<(lockdep::tokio::OwnedMutexGuard<u32>, u8)>,
) {
    while let Some((mut g, hold)) = guards.recv().await {
        *g += 1;
        for _ in 0..hold {
            yield_once().await;
        }
        drop(g);
    }
}

async fn run_steps(locks: Locks, steps: Vec<Step>, keeper: Keeper, in_task: bool) {
    for s in steps {
        match s {
            Step::Take { locks: ls, hold } => {
                let mut guards = Vec::new();
                for l in ls {
                    guards.push(locks[l].lock().await);
                }
                for g in guards.iter_mut() {
                    **g += 1;
                }
                for _ in 0..hold {
                    yield_once().await;
                }
                drop(guards);
            }
            Step::Pause(n) => {
                for _ in 0..n {
                    yield_once().await;
                }
            }
            Step::HandOff { lock, hold } => {
                let g = locks[lock].clone().lock_owned().await;
                keeper.send((g, hold)).expect("the keeper is gone");
            }
            Step::Blocking(_) if in_task => {}
            Step::Blocking(lock) => *locks[lock].blocking_lock() += 1,
        }
    }
}

/// All branches of `p`, joined (polled in the program's orders).
async fn branches(locks: Locks, p: Program, keeper: Keeper, in_task: bool) {
    let futs = p
        .branches
        .into_iter()
        .map(|steps| {
            Box::pin(run_steps(locks.clone(), steps, keeper.clone(), in_task)) as common::Branch
        })
        .collect();
    drop(keeper);
    common::join_ordered(futs, &p.orders).await
}

fn new_locks() -> Locks {
    static CLASSES: std::sync::OnceLock<[&'static lockdep::LockClass; LOCKS]> =
        std::sync::OnceLock::new();
    let classes = CLASSES.get_or_init(|| {
        [
            "gen.branches.0",
            "gen.branches.1",
            "gen.branches.2",
            "gen.branches.handed",
        ]
        .map(|n| &*Box::leak(Box::new(lockdep::LockClass::new(n))))
    });
    Arc::new(classes.map(|c| Arc::new(Mutex::with_class(c, 0))))
}

/// How often each lock is taken by `steps`.
fn count(steps: &[Step], in_task: bool, into: &mut [u32; LOCKS]) {
    for s in steps {
        match s {
            Step::Take { locks, .. } => {
                for &l in locks {
                    into[l] += 1;
                }
            }
            Step::HandOff { lock, .. } => into[*lock] += 1,
            Step::Blocking(lock) if !in_task => into[*lock] += 1,
            Step::Blocking(_) | Step::Pause(_) => {}
        }
    }
}

/// What every program must end with: nothing reported but what one holder's branches make of
/// each other's locks, every count as expected, every lock free.
///
/// A lock one branch holds counts as held by the whole holder (a documented limit: see the
/// `lockdep::tokio` docs), so a branch taking lock 0 while a sibling holds lock 2 records
/// 2 → 0, and 0 → 2 elsewhere closes a `CircularDependency` between branches that never wait
/// for each other. That report is allowed; any other (a re-lock, a held-lock confusion) is
/// a defect.
fn check(p: &Program, in_task: bool, locks: &Locks, reports: &[lockdep::Report]) {
    let unexpected: Vec<_> = reports
        .iter()
        .filter(|r| r.kind() != lockdep::ReportKind::CircularDependency)
        .cloned()
        .collect();
    assert!(
        unexpected.is_empty(),
        "a deadlock-free program was reported:\n{}",
        common::describe(&unexpected)
    );
    let mut expected = [0; LOCKS];
    for b in &p.branches {
        count(b, in_task, &mut expected);
    }
    if in_task {
        count(&p.other, in_task, &mut expected);
    }
    for (l, want) in expected.iter().enumerate() {
        let got = *locks[l].try_lock().expect("a lock still taken at the end");
        assert_eq!(got, *want, "lock {l} taken {got} times, not {want}");
    }
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The holder is a tokio task; a second task on the same current-thread runtime runs
/// `other` meanwhile.
#[test]
fn branches_of_a_task_contending_for_async_locks() {
    let _dog = common::watchdog("branches_of_a_task_contending_for_async_locks", 120);
    let mut runner = common::generator(2000);
    let result = runner.run(&program(false), |p| {
        let locks = new_locks();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (l1, l2, p1, other) = (locks.clone(), locks.clone(), p.clone(), p.other.clone());
        let (keeper, kept) = tokio::sync::mpsc::unbounded_channel();
        let ((main, second, kept), reports) =
            rt.block_on(lockdep::tokio::capture_async(async move {
                let kept = tokio::spawn(keep(kept));
                let main = tokio::spawn(branches(l1, p1, keeper.clone(), true));
                let second = tokio::spawn(run_steps(l2, other, keeper, true));
                (main.await, second.await, kept.await)
            }));
        if let Err(e) = main.and(second).and(kept) {
            let text = e
                .try_into_panic()
                .map(|p| panic_text(&*p))
                .unwrap_or_default();
            return Err(TestCaseError::fail(format!(
                "a task was stopped: {text}\n{}",
                common::describe(&reports)
            )));
        }
        check(&p, true, &locks, &reports);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The holder is a plain thread polling the joined branches.
#[test]
fn branches_of_a_thread_contending_for_async_locks() {
    let _dog = common::watchdog("branches_of_a_thread_contending_for_async_locks", 120);
    let mut runner = common::generator(2000);
    let result = runner.run(&program(false), |p| {
        let locks = new_locks();
        let (l1, p1) = (locks.clone(), p.clone());
        let (keeper, kept) = tokio::sync::mpsc::unbounded_channel();
        let kept = std::thread::spawn(move || common::block_on(keep(kept)));
        let run = std::thread::spawn(move || {
            lockdep::capture(|| common::block_on(branches(l1, p1, keeper, false)))
        })
        .join();
        kept.join().expect("the keeper thread was stopped");
        let ((), reports) = run.map_err(|e| {
            TestCaseError::fail(format!("the thread was stopped: {}", panic_text(&*e)))
        })?;
        check(&p, false, &locks, &reports);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The holder is a plain thread, and any branch may take any lock blocking: it may block the
/// thread on a lock a sibling branch holds, or behind a sibling queued for it (in its grace,
/// behind another thread, behind an owned guard with the keeper) — real deadlocks, which
/// lockdep must stop (`RecursiveLocking`, and a panic of its own) instead of hanging. A
/// program either runs to the end (checked as the deadlock-free ones) or is stopped so, and
/// every lock is free afterwards. The family of review 5's hangs (a blocking acquisition
/// behind a branch in its grace, or behind one waiting for an owned guard).
#[test]
fn branches_of_a_thread_blocking_are_stopped_not_hung() {
    let _dog = common::watchdog("branches_of_a_thread_blocking_are_stopped_not_hung", 300);
    let mut runner = common::generator(300);
    let result = runner.run(&program(true), |p| {
        let locks = new_locks();
        let (l1, p1) = (locks.clone(), p.clone());
        let (keeper, kept) = tokio::sync::mpsc::unbounded_channel();
        let kept = std::thread::spawn(move || common::block_on(keep(kept)));
        let (run, reports) = std::thread::spawn(move || {
            lockdep::capture(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    common::block_on(branches(l1, p1, keeper, false))
                }))
            })
        })
        .join()
        .map_err(|e| TestCaseError::fail(format!("the thread died: {}", panic_text(&*e))))?;
        kept.join().expect("the keeper thread was stopped");
        match run {
            Ok(()) => check(&p, false, &locks, &reports),
            Err(e) => {
                let text = panic_text(&*e);
                // Stopped by lockdep: a certain deadlock, or an awaited re-lock whose holder's
                // other branches did not release the lock within the 1 s grace (on a loaded
                // machine a branch that would have released it may not have run by then: the
                // grace's documented limit, not a hang).
                prop_assert!(
                    text.starts_with("lockdep: certain")
                        || text.starts_with("lockdep: self-deadlock: this task already holds")
                        || text.starts_with("lockdep: self-deadlock: this thread already holds"),
                    "stopped, but not by lockdep: {text}"
                );
                prop_assert!(
                    reports
                        .iter()
                        .any(|r| r.kind() == lockdep::ReportKind::RecursiveLocking),
                    "stopped with no re-lock reported: {}",
                    common::describe(&reports)
                );
                let unexpected: Vec<_> = reports
                    .iter()
                    .filter(|r| {
                        !matches!(
                            r.kind(),
                            lockdep::ReportKind::RecursiveLocking
                                | lockdep::ReportKind::CircularDependency
                        )
                    })
                    .cloned()
                    .collect();
                prop_assert!(unexpected.is_empty(), "{}", common::describe(&unexpected));
                for (l, lock) in locks.iter().enumerate() {
                    prop_assert!(
                        lock.try_lock().is_ok(),
                        "lock {l} still taken after the stop"
                    );
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
