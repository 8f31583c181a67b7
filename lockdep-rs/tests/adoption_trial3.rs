//! Adoption trial 3 (rayon-core, moka, bb8, tokio-util; see the README's "Real crates,
//! switched"): no false positive was found, so these are the trial's idioms, reduced, kept as
//! regression tests that they stay silent (and, under the strict policy, the one report the
//! lenient policy exists to silence). Then rayon-core with `std::thread` switched too: one
//! false positive of the validated join, kept (ignored) with today's behaviour at the end.
//!
//! The lenient policy is read once per process: those tests run themselves in a child process
//! with `LOCKDEP_CLASSES` set, as `lenient_classes.rs` does.
#![cfg(lockdep_enabled)]

use lockdep::stdsync::{Mutex, TryLockError};
use lockdep::ReportKind;

mod common;
use common::in_child;

/// tokio-util's `CancellationToken` tree (`sync/cancellation_token/tree_node.rs`), reduced: the
/// root's lock is built in `TreeNode::new`, every child's in `child_node` (one site, one
/// class), and nodes are locked parent before child, the order of their creation.
struct Node {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    parent: Option<std::sync::Arc<Node>>,
    children: Vec<std::sync::Arc<Node>>,
}

fn root() -> std::sync::Arc<Node> {
    std::sync::Arc::new(Node {
        inner: Mutex::new(Inner::default()),
    })
}

fn child(parent: &std::sync::Arc<Node>) -> std::sync::Arc<Node> {
    let mut locked_parent = parent.inner.lock().unwrap();
    let child = std::sync::Arc::new(Node {
        inner: Mutex::new(Inner {
            parent: Some(parent.clone()),
            children: Vec::new(),
        }),
    });
    locked_parent.children.push(child.clone());
    child
}

/// `with_locked_node_and_parent` + `move_children_to_parent`: the node is locked first, its
/// parent *tried* (on `WouldBlock` the node is unlocked and both are taken parent first), then
/// each child of the node is locked under both.
fn detach(node: &std::sync::Arc<Node>, contended: bool) {
    let mut locked_node = node.inner.lock().unwrap();
    let parent = locked_node.parent.clone().unwrap();
    let mut locked_parent = if contended {
        drop(locked_node);
        let p = parent.inner.lock().unwrap();
        locked_node = node.inner.lock().unwrap();
        p
    } else {
        match parent.inner.try_lock() {
            Ok(p) => p,
            Err(TryLockError::WouldBlock) => unreachable!("nothing else holds it"),
            Err(TryLockError::Poisoned(e)) => panic!("{e}"),
        }
    };
    for c in std::mem::take(&mut locked_node.children) {
        c.inner.lock().unwrap().parent = Some(parent.clone());
        locked_parent.children.push(c);
    }
    locked_node.parent = None;
    // `remove_child`: the node's guard goes first (released out of order), the parent's stays.
    drop(locked_node);
    locked_parent
        .children
        .retain(|c| !std::ptr::eq(&**c, &**node));
}

/// `cancel`: a node, each child, and each grandchild held together.
fn cancel(node: &std::sync::Arc<Node>) {
    let mut locked = node.inner.lock().unwrap();
    while let Some(c) = locked.children.pop() {
        let mut locked_child = c.inner.lock().unwrap();
        locked_child.parent = None;
        while let Some(g) = locked_child.children.pop() {
            g.inner.lock().unwrap().parent = None;
        }
    }
}

fn cancellation_tree() -> Vec<lockdep::Report> {
    let ((), reports) = lockdep::capture(|| {
        let r = root();
        let a = child(&r);
        let b = child(&a);
        let _c = child(&b);
        let _d = child(&b);
        detach(&b, false); // b, a (tried), then c and d under both
        let e = child(&a);
        let _f = child(&e);
        detach(&e, true); // a, e, then f
        let g = child(&a);
        let _h = child(&g);
        cancel(&r); // r, a, then each of a's children
    });
    reports
}

/// tokio-util 0.7.20 switched to `lockdep::stdsync` (the `drop-in` feature's lenient policy):
/// children of one class nested parent before child, a parent taken by `try_lock` under its
/// child: silent, and rightly (one global order, the creation order; a trylock never waits).
#[test]
fn cancellation_tree_is_silent_under_the_lenient_policy() {
    if !in_child(
        "cancellation_tree_is_silent_under_the_lenient_policy",
        "lenient",
    ) {
        return;
    }
    let reports = cancellation_tree();
    assert!(reports.is_empty(), "{reports:?}");
}

/// The same under the strict policy (lockdep's default for its own API): a child and its
/// grandchild are one class, so nesting them is reported as recursive locking — the report
/// the lenient policy exists for (std code has no `lock_nested` to annotate it with).
#[test]
fn cancellation_tree_is_recursive_locking_under_the_strict_policy() {
    if !in_child(
        "cancellation_tree_is_recursive_locking_under_the_strict_policy",
        "strict",
    ) {
        return;
    }
    let reports = cancellation_tree();
    assert!(
        !reports.is_empty()
            && reports
                .iter()
                .all(|r| r.kind() == ReportKind::RecursiveLocking),
        "{reports:?}"
    );
}

/// A trylock of an instance taken under another of its class, then the two taken the other
/// way round with blocking locks: no deadlock is possible (the trylock never waits), and none
/// is reported.
#[test]
fn trylock_then_the_other_order_is_silent_under_the_lenient_policy() {
    if !in_child(
        "trylock_then_the_other_order_is_silent_under_the_lenient_policy",
        "lenient",
    ) {
        return;
    }
    let locks: Vec<Mutex<u32>> = (0..2).map(Mutex::new).collect();
    let ((), reports) = lockdep::capture(|| {
        {
            let _a = locks[0].lock().unwrap();
            let _b = locks[1].try_lock().unwrap();
        }
        let _b = locks[1].lock().unwrap();
        let _a = locks[0].lock().unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// bb8 0.9.1 (parking_lot renamed, lockdep's `tokio` feature on): the pool's one `Mutex`
/// (`SharedPool::internals`) is taken inside tasks, a task is spawned while it is held
/// (`spawn_replenishing_approvals`), and the spawned task takes it too, after a lock of its
/// own: the spawned task does not inherit its spawner's lock, so nothing is reported. Then
/// another task takes the other order: a real inversion, found although both orders were
/// taken by tasks on the same two worker threads (run after the first phase: it cannot
/// deadlock here).
#[cfg(lockdep_tasks)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bb8_spawn_under_the_pool_lock() {
    use std::sync::Arc;
    let internals = Arc::new(lockdep::Mutex::new(Vec::<u32>::new()));
    let stats = Arc::new(lockdep::Mutex::new(0u64));
    let ((), reports) = lockdep::tokio::capture_async({
        let (internals, stats) = (internals.clone(), stats.clone());
        async move {
            let mut handles = Vec::new();
            for i in 0..8 {
                let (internals, stats) = (internals.clone(), stats.clone());
                handles.push(tokio::spawn(async move {
                    let h = {
                        let mut locked = internals.lock();
                        locked.push(i);
                        tokio::spawn({
                            let (internals, stats) = (internals.clone(), stats.clone());
                            async move {
                                tokio::task::yield_now().await;
                                let _s = stats.lock();
                                let _l = internals.lock(); // stats -> internals
                            }
                        })
                        // (the pool lock released here, before the spawned task is awaited)
                    };
                    h.await.unwrap();
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        }
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = lockdep::tokio::capture_async(async move {
        tokio::spawn(async move {
            let _l = internals.lock();
            *stats.lock() += 1; // internals -> stats
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(
        reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        vec![ReportKind::CircularDependency],
        "{reports:?}"
    );
}

/// rayon-core 1.13.0 with `std::thread` switched too (`tests/use_current_thread.rs`, reduced):
/// a worker thread runs a job that sets a flag under a mutex and notifies a condvar; the main
/// thread waits on the condvar until the flag is set, keeps the guard that wait returns
/// (`let _guard = cv.wait_while(m.lock().unwrap(), ..)`), and joins the worker while holding
/// it. The worker's only acquisition of the mutex happened before the main thread took it for
/// good (the wait saw the flag, so the job's critical section was over), and the worker never
/// takes it again: no schedule deadlocks. lockdep records "the thread takes M" for the thread's
/// whole life (its exit event -> M, whenever in that life M was taken) and reports the join
/// made under M, as a wait its waker cannot finish. Limit (README, std users): today one
/// `CircularWait`, whose text says how to tell and how to remove the order; right: no report.
#[test]
fn limit_join_under_a_lock_the_thread_took_before_the_handshake_is_reported() {
    use lockdep::stdsync::{Arc, Condvar};
    let pair = Arc::new((Mutex::named("trial3.ran", false), Condvar::new()));
    let pair2 = pair.clone();
    let ((), reports) = lockdep::capture(|| {
        let worker = lockdep::thread::spawn(move || {
            let (ran, cv) = &*pair2;
            *ran.lock().unwrap() = true;
            cv.notify_one();
        });
        let (ran, cv) = &*pair;
        let _guard = cv.wait_while(ran.lock().unwrap(), |ran| !*ran).unwrap();
        worker.join().unwrap(); // under `_guard`
    });
    assert_eq!(
        reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        vec![ReportKind::CircularWait],
        "{reports:?}"
    );
    assert!(
        reports[0]
            .to_string()
            .contains("that span is the thread's whole life"),
        "{}",
        reports[0]
    );
}
