//! Generated programs for async acquisitions by *branches of one holder* (feature `tokio`):
//! two to four branches of one future (as `join!` runs them, polled in a generated order
//! each round) take `lockdep::tokio::Mutex`es in one global order (ascending), hold them
//! across yields, release them, pause; the holder is a tokio task (with a second task on the
//! same current-thread runtime contending for the same locks) or a plain thread polling the
//! future (`block_on`). Every program is deadlock-free (one global order), so lockdep must
//! stop nothing and report nothing but the orders one holder's branches make of each other's
//! locks (a documented limit, see [`check`]), every branch must finish, each lock must have
//! been taken exactly as often as the program says, and every lock must be free at the end.
//!
//! The branches of one holder share its held-lock stack, and contend for one lock while the
//! holder "holds" it (a branch waiting for a lock another branch holds gets a grace): the
//! family of dataloader's false `RecursiveLocking` (a branch queued for a lock recorded as
//! holding it, then taken for a holder by the branch the lock was handed to; found by the
//! tokio adoption trial, tests/adoption_tokio.rs). `PROPTEST_CASES` sets the number of
//! programs (default 2000 per holder kind).
#![cfg(lockdep_tasks)]

mod common;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;

use lockdep::tokio::Mutex;
use proptest::prelude::*;

const LOCKS: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    /// Takes `locks` (ascending), adds 1 under each, yields `hold` times holding them all,
    /// then drops them (first taken first).
    Take { locks: Vec<usize>, hold: u8 },
    /// Yields `n` times holding nothing.
    Pause(u8),
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
        4 => (proptest::sample::subsequence((0..LOCKS).collect::<Vec<_>>(), 1..=2), 0..3u8)
            .prop_map(|(locks, hold)| Step::Take { locks, hold }),
        1 => (0..3u8).prop_map(Step::Pause),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (2..=4usize).prop_flat_map(|n| {
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        (
            proptest::collection::vec(proptest::collection::vec(step(), 1..=4), n),
            proptest::collection::vec(order, 1..=4),
            proptest::collection::vec(step(), 0..=3),
        )
            .prop_map(|(branches, orders, other)| Program {
                branches,
                orders,
                other,
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

type Locks = Arc<[Mutex<u32>; LOCKS]>;

async fn run_steps(locks: Locks, steps: Vec<Step>) {
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
        }
    }
}

/// All branches of `p`, joined (polled in the program's orders).
async fn branches(locks: Locks, p: Program) {
    let futs = p
        .branches
        .into_iter()
        .map(|steps| Box::pin(run_steps(locks.clone(), steps)) as common::Branch)
        .collect();
    common::join_ordered(futs, &p.orders).await
}

fn new_locks() -> Locks {
    static CLASSES: std::sync::OnceLock<[&'static lockdep::LockClass; LOCKS]> =
        std::sync::OnceLock::new();
    let classes = CLASSES.get_or_init(|| {
        ["gen.branches.0", "gen.branches.1", "gen.branches.2"]
            .map(|n| &*Box::leak(Box::new(lockdep::LockClass::new(n))))
    });
    Arc::new(classes.map(|c| Mutex::with_class(c, 0)))
}

/// How often each lock is taken by `steps`.
fn count(steps: &[Step], into: &mut [u32; LOCKS]) {
    for s in steps {
        if let Step::Take { locks, .. } = s {
            for &l in locks {
                into[l] += 1;
            }
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
fn check(p: &Program, with_other: bool, locks: &Locks, reports: &[lockdep::Report]) {
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
        count(b, &mut expected);
    }
    if with_other {
        count(&p.other, &mut expected);
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
    let _dog = common::watchdog("branches_of_a_task_contending_for_async_locks", 300);
    let mut runner = common::generator(2000);
    let result = runner.run(&program(), |p| {
        let locks = new_locks();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (l1, l2, p1, other) = (locks.clone(), locks.clone(), p.clone(), p.other.clone());
        let ((main, second), reports) = rt.block_on(lockdep::tokio::capture_async(async move {
            let main = tokio::spawn(branches(l1, p1));
            let second = tokio::spawn(run_steps(l2, other));
            (main.await, second.await)
        }));
        if let Err(e) = main.and(second) {
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
    let _dog = common::watchdog("branches_of_a_thread_contending_for_async_locks", 300);
    let mut runner = common::generator(2000);
    let result = runner.run(&program(), |p| {
        let locks = new_locks();
        let (l1, p1) = (locks.clone(), p.clone());
        let run =
            std::thread::spawn(move || lockdep::capture(|| common::block_on(branches(l1, p1))))
                .join();
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
