//! The holder is the task (feature `tokio`): locks stay with a task across `.await` and worker
//! threads, no other task inherits them, and guards that move or die release exactly their
//! entry — no stale entry (which would record false edges, checked by taking the opposite
//! order afterwards) and no false `BadUnlockBalance`.
//!
//! `cargo test -p lockdep --features tokio --test 'tokio_*'` (the README's test command runs it).
#![cfg(lockdep_tasks)]

use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::{capture_async, Mutex, RwLock};
use lockdep::ReportKind;
use tokio::task::{yield_now, JoinSet};

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// Tasks on a 2-worker runtime hold async and blocking locks across `yield_now` (so they move
/// between workers holding them), always in one order: nothing is reported, each task sees its
/// own locks held (and no other task's), and every entry is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_migrating_between_workers_keep_their_locks() {
    let a = Arc::new(Mutex::named("migrate.A", 0u64));
    let b = Arc::new(RwLock::named("migrate.B", 0u64));
    let s = Arc::new(lockdep::Mutex::named("migrate.S", 0u64));
    let (rounds, reports) = capture_async(async {
        // Until some task was seen on both workers (the scheduler decides; almost always the
        // first round).
        for round in 1..=20 {
            let mut tasks = JoinSet::new();
            for _ in 0..8 {
                let (a, b, s) = (a.clone(), b.clone(), s.clone());
                tasks.spawn(async move {
                    let mut workers = std::collections::HashSet::new();
                    for _ in 0..40 {
                        let mut ga = a.lock().await;
                        workers.insert(std::thread::current().id());
                        yield_now().await; // may resume on the other worker, holding A
                        workers.insert(std::thread::current().id());
                        assert!(a.is_held(), "A moved with its task");
                        let mut gb = b.write().await;
                        yield_now().await;
                        assert!(a.is_held() && b.is_held());
                        {
                            let mut gs = s.lock(); // A -> B -> S, never across an await
                            *gs += 1;
                        }
                        *ga += 1;
                        *gb += 1;
                        drop(gb);
                        drop(ga);
                        assert!(!a.is_held() && !b.is_held());
                        yield_now().await;
                    }
                    workers.len()
                });
            }
            // Meanwhile the test body (a thread, not a task) holds none of them.
            let mut moved = 0;
            while let Some(n) = tasks.join_next().await {
                moved += usize::from(n.unwrap() > 1);
                assert!(!a.is_held() && !b.is_held() && !s.is_held());
            }
            if moved > 0 {
                return round;
            }
        }
        panic!("no task ever moved between the workers");
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(*a.lock().await, rounds * 8 * 40);
    assert_eq!(*s.lock(), rounds * 8 * 40);
}

/// The per-thread false positive of the issue, as a regression: two tasks on one thread, one
/// holding a guard across an `.await` while the other takes its own locks. With a per-thread
/// held stack the second task's locks looked nested under the first's guard (X -> Y), and a
/// later Y -> X — which nothing ever nests wrongly — was reported as a cycle. Silent now.
#[tokio::test(flavor = "current_thread")]
async fn another_tasks_guard_held_across_await_is_not_inherited() {
    let x = Arc::new(Mutex::named("inherit.X", ()));
    let y = Arc::new(Mutex::named("inherit.Y", ()));
    let ((), reports) = capture_async(async {
        let (x1, y1) = (x.clone(), y.clone());
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = tokio::spawn(async move {
            let _x = x1.lock().await;
            go_rx.await.unwrap(); // suspended with X held; the other task runs meanwhile
        });
        let other = tokio::spawn(async move {
            let _y = y1.lock().await; // on the same thread, while X is held by `holder`
            go_tx.send(()).unwrap();
        });
        other.await.unwrap();
        holder.await.unwrap();
        // Y then X: the only real order with both.
        let _y = y.lock().await;
        let _x = x.lock().await;
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// An owned guard sent to another task and dropped there, while its own task waits for that:
/// the entry leaves the first task's stack (posted to it, or released in place), so the lock
/// the first task takes next is not nested under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_dropped_in_another_task_releases_its_holders_entry() {
    let m = Arc::new(Mutex::named("moved.M", ()));
    let n = Arc::new(Mutex::named("moved.N", ()));
    let ((), reports) = capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        let (guard_tx, guard_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let dropper = tokio::spawn(async move {
            let g: lockdep::tokio::OwnedMutexGuard<()> = guard_rx.await.unwrap();
            yield_now().await;
            drop(g); // another task (maybe another thread) releases it
            done_tx.send(()).unwrap();
        });
        let owner = tokio::spawn(async move {
            let g = m1.clone().lock_owned().await;
            assert!(m1.is_held());
            guard_tx.send(g).ok().unwrap();
            done_rx.await.unwrap();
            assert!(!m1.is_held(), "released by the other task");
            let _n = n1.lock().await; // not under M
        });
        dropper.await.unwrap();
        owner.await.unwrap();
        // N then M: silent, since M -> N was never real.
        let _n = n.lock().await;
        let _m = m.lock().await;
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// A guard returned by a task and dropped after the task ended (by the test body, a thread):
/// released from the ended task's parked stack, no `BadUnlockBalance`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_outliving_its_task_releases_cleanly() {
    let m = Arc::new(Mutex::named("outlive.M", 1));
    let rw = Arc::new(RwLock::named("outlive.RW", 2));
    let ((), reports) = capture_async(async {
        let (m1, rw1) = (m.clone(), rw.clone());
        let (gm, gr) = tokio::spawn(async move {
            let gm = m1.lock_owned().await;
            let gr = rw1.read_owned().await;
            (gm, gr)
        })
        .await
        .unwrap();
        assert!(!m.is_held(), "held by the ended task, not by the test body");
        assert_eq!(*gm + *gr, 3);
        drop(gr);
        drop(gm);
        assert!(m.try_lock().is_ok() && rw.try_write().is_ok());
        // Taken again in the task's order by the body: nothing stale, nothing reported.
        let _m = m.lock().await;
        let _w = rw.write().await;
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// Aborting a task that holds guards (and one that waits for a lock) releases its entries: its
/// future is dropped inside the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_task_releases_its_guards() {
    let m = Arc::new(Mutex::named("abort.M", ()));
    let n = Arc::new(Mutex::named("abort.N", ()));
    let ((), reports) = capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let victim = tokio::spawn(async move {
            let _m = m1.lock().await;
            let _n = n1.lock().await; // M -> N
            locked_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        locked_rx.await.unwrap();
        victim.abort();
        assert!(victim.await.unwrap_err().is_cancelled());
        assert!(m.try_lock().is_ok() && n.try_lock().is_ok());

        // A task aborted while it waits for a lock: its pending entry goes too.
        let held = m.clone().lock_owned().await;
        let m2 = m.clone();
        let waiter = tokio::spawn(async move {
            let _m = m2.lock().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        drop(held);
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// `tokio::time::timeout` around a lock: the timed-out acquisition leaves no entry, so what
/// the task takes next is not nested under it.
#[tokio::test(flavor = "current_thread")]
async fn a_timed_out_lock_leaves_no_entry() {
    let m = Arc::new(Mutex::named("timeout.M", ()));
    let q = Arc::new(Mutex::named("timeout.Q", ()));
    let ((), reports) = capture_async(async {
        let held = m.clone().lock_owned().await;
        let (m1, q1) = (m.clone(), q.clone());
        tokio::spawn(async move {
            let timed_out = tokio::time::timeout(Duration::from_millis(10), m1.lock()).await;
            assert!(timed_out.is_err());
            assert!(!m1.is_held());
            let _q = q1.lock().await; // not under M
        })
        .await
        .unwrap();
        drop(held);
        let _q = q.lock().await;
        let _m = m.lock().await; // Q -> M: silent
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// `JoinSet`: many tasks in one order are silent; a pair in opposite orders is one cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_set_tasks_are_holders() {
    let a = Arc::new(Mutex::named("joinset.A", ()));
    let b = Arc::new(Mutex::named("joinset.B", ()));
    let ((), reports) = capture_async(async {
        let mut set = JoinSet::new();
        for _ in 0..16 {
            let (a, b) = (a.clone(), b.clone());
            set.spawn(async move {
                let _a = a.lock().await;
                yield_now().await;
                let _b = b.lock().await;
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let (a, b) = (a.clone(), b.clone());
        set.spawn(async move {
            let _b = b.lock().await;
            let _a = a.lock().await;
        });
        set.join_next().await.unwrap().unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["joinset.A", "joinset.B"]);
}

/// `spawn_blocking`: the closure is a task of the blocking pool and holds what it locks;
/// blocking acquisitions of async locks are validated there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_closures_are_holders() {
    let m = Arc::new(Mutex::named("blocking.M", 0));
    let s = Arc::new(lockdep::Mutex::named("blocking.S", 0));
    let ((), reports) = capture_async(async {
        let mut set = JoinSet::new();
        for _ in 0..4 {
            let (m, s) = (m.clone(), s.clone());
            set.spawn_blocking(move || {
                for _ in 0..20 {
                    let mut gm = m.blocking_lock();
                    assert!(m.is_held());
                    let mut gs = s.lock(); // M -> S
                    *gm += 1;
                    *gs += 1;
                }
                assert!(!m.is_held() && !s.is_held());
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let (m, s) = (m.clone(), s.clone());
        lockdep::tokio::spawn_blocking(move || {
            let _s = s.lock();
            let _m = m.blocking_lock(); // S -> M: a cycle
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["blocking.M", "blocking.S"]);
    assert!(reports[0].task().unwrap().contains("spawned at"));
    assert_eq!(*m.lock().await, 80);
}

/// A current-thread runtime: the test body (a thread) and its tasks are separate holders on
/// one thread; the body's guard held across an `.await` is not the tasks'.
#[tokio::test(flavor = "current_thread")]
async fn current_thread_runtime_separates_the_body_and_its_tasks() {
    let a = Arc::new(Mutex::named("current.A", ()));
    let b = Arc::new(Mutex::named("current.B", ()));
    let ((), reports) = capture_async(async {
        let _a = a.lock().await; // the body holds A across the awaits below
        let mut set = JoinSet::new();
        for _ in 0..4 {
            let b = b.clone();
            set.spawn(async move {
                let _b = b.lock().await; // not under A: another holder
                yield_now().await;
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        assert!(a.is_held() && !b.is_held());
        drop(_a);
        let _b = b.lock().await;
        let _a = a.lock().await; // B -> A: the only nesting of the two
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// A thread's own stack (its locks outside tasks) stays with the thread — never handed to
/// another, only this thread touches it — and guards of it that its tasks drop still leave
/// it: a blocking guard dropped by a local task before the task takes anything (popped from
/// the thread's stack, still the one loaded), and an async guard dropped by a task that holds a
/// lock of its own (the release is posted to the thread's stack and applied when the body
/// resumes). Both are seen free by the body, with no `BadUnlockBalance` and nothing stale
/// under the body's next locks. (The blocking guard moved into the local task is the body's
/// while the body awaits the task: reported held across that `.await` as the body suspends,
/// the documented limit of `lockdep::tokio`'s module docs — the validator sees no guard move.)
#[test]
fn a_threads_guards_dropped_by_its_tasks_leave_its_stack() {
    let m = Arc::new(Mutex::named("inline.M", ()));
    let n = Arc::new(Mutex::named("inline.N", ()));
    let s: &'static lockdep::Mutex<()> = Box::leak(Box::new(lockdep::Mutex::named("inline.S", ())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local.block_on(
        &rt,
        capture_async(async {
            let gs = s.lock();
            assert!(lockdep::is_held(s));
            tokio::task::spawn_local(async move { drop(gs) })
                .await
                .unwrap();
            assert!(!lockdep::is_held(s), "dropped by the local task");

            let gm = m.clone().lock_owned().await;
            let n1 = n.clone();
            tokio::spawn(async move {
                let _n = n1.lock().await; // the task's stack is loaded now
                drop(gm); // the body's entry: posted to the body's stack
                assert!(n1.is_held());
            })
            .await
            .unwrap();
            assert!(
                !m.is_held(),
                "the posted release is applied when the body resumes"
            );
            assert!(!n.is_held(), "the task's lock is not the body's");

            // N -> M, then S alone: nothing stale makes them nested under M or S.
            let _n = n.lock().await;
            let _m = m.lock().await;
            drop((_m, _n));
            let _s = s.lock();
        }),
    );
    assert_eq!(
        kinds(&reports),
        [ReportKind::HeldAcrossAwait],
        "{reports:?}"
    );
    assert_eq!(reports[0].class_names(), ["inline.S"], "{reports:?}");
}

/// `unlocked` (the `Condvar`-wait path: the entry out, then back exactly as it was) on a
/// thread's blocking guard, called by a local task of that thread: the entry is on the
/// thread's stack, not the task's. It is released there and the lock taken again as the
/// task's fresh acquisition; the thread's entry does not stay behind (it did: `is_held` true
/// after the drop, and `LocksHeldAtExit` when the thread ended). Found by review, 2026-12-07.
#[test]
fn unlocked_by_a_local_task_on_a_threads_guard_leaves_no_entry_behind() {
    let s: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("unlocked.S", ())));
    let t: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("unlocked.T", ())));
    let reports = run_local(async move {
        let mut gs = s.lock();
        tokio::task::spawn_local(async move {
            drop(t.lock()); // the task's stack is loaded now
            lockdep::MutexGuard::unlocked(&mut gs, || {});
            assert!(lockdep::is_held(s), "held by the task after `unlocked`");
            drop(gs);
            assert!(!lockdep::is_held(s));
        })
        .await
        .unwrap();
        assert!(!lockdep::is_held(s), "nothing left on the thread's stack");
        let _t = t.lock();
        let _s = s.lock(); // T -> S: nothing stale under it
    });
    assert!(but_held_across_await(&reports).is_empty(), "{reports:?}");
}

/// As above, with a task entry of the same serial (serials count per stack: the thread's
/// first entry and the task's first are both 1): `unlocked` never takes the task's entry for
/// the thread's (it did: the thread's entry stayed, and the task's guard then found none, a
/// false `BadUnlockBalance`).
#[test]
fn unlocked_by_a_local_task_never_takes_its_own_entry_of_the_same_serial() {
    let x: &'static lockdep::RwLock<()> =
        Box::leak(Box::new(lockdep::RwLock::named("unlocked.X", ())));
    let reports = run_local(async move {
        let mut r1 = x.read_recursive(); // the thread's first entry
        tokio::task::spawn_local(async move {
            let r2 = x.read(); // the task's first entry
            lockdep::RwLockReadGuard::unlocked(&mut r1, || {}); // taken again: recursive
            drop(r1);
            assert!(lockdep::is_held(x), "the task's own read is still held");
            drop(r2);
            assert!(!lockdep::is_held(x));
        })
        .await
        .unwrap();
        assert!(!lockdep::is_held(x), "nothing left on the thread's stack");
    });
    assert!(but_held_across_await(&reports).is_empty(), "{reports:?}");
}

/// `unlocked` by a local task on the thread's guard taken with `lock_nested(1)`: taken again
/// by the task as it was held — subclass 1 — so a subclass-0 lock of the class the task holds
/// is no recursive locking (as on one holder). It came back as subclass 0: a false
/// `RecursiveLocking`. Found by review, 2026-12-07.
#[test]
fn unlocked_by_a_local_task_keeps_the_subclass() {
    let mk = || -> &'static lockdep::Mutex<()> { Box::leak(Box::new(lockdep::Mutex::new(()))) };
    let (m1, m2) = (mk(), mk()); // one site: one class
    let reports = run_local(async move {
        let mut c = m2.lock_nested(1); // the thread's entry, subclass 1
        tokio::task::spawn_local(async move {
            let _p = m1.lock(); // the task's, subclass 0
            lockdep::MutexGuard::unlocked(&mut c, || {});
            assert!(lockdep::is_held(m2));
            drop(c);
        })
        .await
        .unwrap();
        assert!(!lockdep::is_held(m2));
    });
    assert!(but_held_across_await(&reports).is_empty(), "{reports:?}");
}

/// `upgrade` of a thread's upgradable guard by a local task, as the task's first lockdep call
/// (the thread's stack still loaded): the write acquisition is the task's (held by it, and
/// its order X -> T recorded), not the thread's entry changed in place — the in-place upgrade
/// of a warm chain is for the calling holder's own entry only. It was applied here: X looked
/// free to the task, and the inversion T -> X below went unreported. Found by review,
/// 2026-12-07.
#[test]
fn a_local_tasks_upgrade_of_a_threads_guard_is_the_tasks_acquisition() {
    use lockdep::RwLockUpgradableReadGuard;
    let x: &'static lockdep::RwLock<()> =
        Box::leak(Box::new(lockdep::RwLock::named("upgrade.X", ())));
    let t: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("upgrade.T", ())));
    for _ in 0..3 {
        drop(RwLockUpgradableReadGuard::upgrade(x.upgradable_read())); // warm: in place
    }
    let reports = run_local(async move {
        let g = x.upgradable_read(); // the thread's entry
        tokio::task::spawn_local(async move {
            let w = RwLockUpgradableReadGuard::upgrade(g); // the task's first lockdep call
            assert!(lockdep::is_held(x), "the task holds it");
            drop(t.lock()); // X -> T, by the task
            drop(w);
        })
        .await
        .unwrap();
        assert!(!lockdep::is_held(x), "nothing left on the thread's stack");
        let _t = t.lock();
        drop(x.write()); // T -> X: against the task's X -> T
    });
    assert_eq!(
        but_held_across_await(&reports),
        [ReportKind::CircularDependency]
    );
}

/// Runs `body` on a current-thread runtime with a `LocalSet` (for `!Send` tasks); the
/// reports raised meanwhile.
fn run_local(body: impl std::future::Future<Output = ()>) -> Vec<lockdep::Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, capture_async(body)).1
}

/// The reports but `HeldAcrossAwait`: a thread whose blocking guard moved into its local task
/// still holds it as far as the validator can see while the task runs (expected).
fn but_held_across_await(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    kinds(reports)
        .into_iter()
        .filter(|k| *k != ReportKind::HeldAcrossAwait)
        .collect()
}

/// A `LocalSet`: local tasks are holders like any task; an AB/BA between two of them is found.
#[tokio::test(flavor = "current_thread")]
async fn local_set_tasks_are_holders() {
    let a = std::rc::Rc::new(Mutex::named("local.A", ()));
    let b = std::rc::Rc::new(Mutex::named("local.B", ()));
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local
        .run_until(capture_async(async {
            let (a1, b1) = (a.clone(), b.clone());
            let first = tokio::task::spawn_local(async move {
                let _a = a1.lock().await;
                yield_now().await;
                let _b = b1.lock().await;
            });
            let (a2, b2) = (a.clone(), b.clone());
            let bystander = tokio::task::spawn_local(async move {
                // Runs while `first` holds A: must not be nested under it.
                let _b = b2.lock().await;
                drop(_b);
                yield_now().await;
                let _a = a2.try_lock(); // A is held by `first`, maybe: no trace either way
            });
            first.await.unwrap();
            bystander.await.unwrap();
            let (a3, b3) = (a.clone(), b.clone());
            tokio::task::spawn_local(async move {
                let _b = b3.lock().await;
                let _a = a3.lock().await; // B -> A against `first`'s A -> B
            })
            .await
            .unwrap();
        }))
        .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["local.A", "local.B"]);
}

/// A guard dropped on another thread while its task is running (its stack loaded on the
/// task's thread): the release is posted to that thread and applied at the task's next
/// lockdep call, before anything is validated on top of it.
#[test]
fn a_release_posted_to_a_running_task_is_applied_before_its_next_lock() {
    let m = Arc::new(Mutex::named("posted.M", ()));
    let n = Arc::new(Mutex::named("posted.N", ()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), reports) = rt.block_on(capture_async(async {
        let (m1, n1) = (m.clone(), n.clone());
        tokio::spawn(async move {
            let guard = m1.clone().lock_owned().await;
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            // Another thread drops it while this task keeps running (blocked in `recv`).
            std::thread::spawn(move || {
                drop(guard);
                done_tx.send(()).unwrap();
            });
            done_rx.recv().unwrap();
            assert!(!m1.is_held(), "the posted release is applied");
            let _n = n1.lock().await; // not under M
        })
        .await
        .unwrap();
        let _n = n.lock().await;
        let _m = m.lock().await; // N -> M: silent
    }));
    assert!(reports.is_empty(), "{reports:?}");
}

/// Stress: tasks on four workers pass owned guards to each other through a channel (dropped
/// by whichever task receives them, on whichever worker), while all take blocking and async
/// locks in one global order and yield in between. Nothing is reported (no stale entry ever
/// makes a false edge, no release goes missing), and every lock ends free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guards_passed_between_migrating_tasks_stay_balanced() {
    let outer = Arc::new(Mutex::named("stress.outer", 0u64));
    let inner = Arc::new(RwLock::named("stress.inner", 0u64));
    let leaf = Arc::new(lockdep::Mutex::named("stress.leaf", 0u64));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<lockdep::tokio::OwnedMutexGuard<u64>>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let ((), reports) = capture_async(async {
        let mut set = JoinSet::new();
        for t in 0..8u64 {
            let (outer, inner, leaf, tx, rx) = (
                outer.clone(),
                inner.clone(),
                leaf.clone(),
                tx.clone(),
                rx.clone(),
            );
            set.spawn(async move {
                for i in 0..60u64 {
                    if (t + i) % 3 == 0 {
                        // Hand a guard of `outer` to whoever receives it next (only if free:
                        // a guard waiting in the channel keeps it locked).
                        if let Ok(g) = outer.clone().try_lock_owned() {
                            tx.send(g).ok().unwrap();
                        }
                    } else if let Ok(g) = rx.lock().await.try_recv() {
                        yield_now().await;
                        drop(g); // someone else's guard
                    }
                    let _r = inner.read().await;
                    yield_now().await;
                    *leaf.lock() += 1; // inner -> leaf
                }
            });
        }
        drop(tx);
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let mut rx = rx.lock().await;
        while let Ok(g) = rx.try_recv() {
            drop(g);
        }
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
    assert!(outer.try_lock().is_ok() && inner.try_write().is_ok());
    assert_eq!(*leaf.lock(), 8 * 60);
}

/// A plain thread takes an async mutex (`blocking_lock`) and exits while its guard lives on
/// elsewhere: no `LocksHeldAtExit` (an async guard may be released later, by anyone), and the
/// later release finds the exited thread's record: no `BadUnlockBalance`, nothing stale.
#[test]
fn an_async_guard_outliving_its_thread_releases_cleanly() {
    let m = Arc::new(Mutex::named("orphan.M", 5));
    let n = Arc::new(Mutex::named("orphan.N", ()));
    let m1 = m.clone();
    // The thread's exit (a report there would go to the process-wide list, checked below).
    let guard = std::thread::spawn(move || m1.blocking_lock_owned())
        .join()
        .unwrap();
    assert_eq!(*guard, 5);
    let ((), reports) = lockdep::capture(|| {
        drop(guard); // released from the exited thread's parked record
        let _n = n.blocking_lock();
        let _m = m.blocking_lock(); // N -> M: nothing stale under it
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert!(lockdep::take_reports()
        .iter()
        .all(|r| !r.class_names().iter().any(|c| c.starts_with("orphan."))));
}

/// Data aligned beyond the validator handle: the mutex's data then starts past padding.
#[repr(align(64))]
#[derive(Debug)]
struct Aligned64(u8);

/// `MutexGuard::mutex` and the owned guards' `mutex()` / `rwlock()` (tokio's names) give
/// back this crate's lock the guard holds — the very lock, or the very `Arc` — whatever the
/// data's alignment or size (unsized data too), and the lock they give is the validator's:
/// held while the guard lives.
#[tokio::test(flavor = "current_thread")]
async fn guards_give_back_the_lock_they_hold() {
    use lockdep::tokio::{
        MutexGuard, OwnedMutexGuard, OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard,
        OwnedRwLockWriteGuard,
    };
    use std::fmt::Debug;

    let ((), reports) = capture_async(async {
        let m = Mutex::named("owner.M", 1u8);
        let g = m.lock().await;
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
        assert!(MutexGuard::mutex(&g).is_held());
        drop(g);
        let g = m.try_lock().unwrap();
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
        drop(g);
        let g = m.lock().await;
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
        let g = MutexGuard::try_map(g, |_| None::<&mut u8>).unwrap_err();
        assert!(
            std::ptr::eq(MutexGuard::mutex(&g), &m),
            "given back by try_map"
        );
        assert_eq!(*MutexGuard::map(g, |v| v), 1);
        assert!(!m.is_held());

        let aligned = Mutex::named("owner.aligned", Aligned64(7));
        let g = aligned.lock().await;
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &aligned));
        assert_eq!(g.0, 7);
        drop(g);

        let slice: Box<Mutex<[u16]>> = Box::new(Mutex::named("owner.slice", [1u16, 2, 3]));
        let g = slice.lock().await;
        let back: &Mutex<[u16]> = MutexGuard::mutex(&g);
        assert!(std::ptr::eq(back, &*slice), "same address and length");
        assert!(back.is_held());
        drop(g);

        let dynamic: Box<Mutex<dyn Debug + Send>> =
            Box::new(Mutex::named("owner.dyn", Aligned64(9)));
        let g = dynamic.lock().await;
        assert!(std::ptr::eq(MutexGuard::mutex(&g), &*dynamic));
        assert_eq!(format!("{:?}", &*g), "Aligned64(9)");
        drop(g);

        let am = Arc::new(Mutex::named("owner.owned", 0u32));
        let g = am.clone().lock_owned().await;
        assert!(Arc::ptr_eq(OwnedMutexGuard::mutex(&g), &am));
        assert!(OwnedMutexGuard::mutex(&g).is_held());
        assert_eq!(Arc::strong_count(&am), 2, "borrowed, not cloned");
        drop(g);
        let g = am.clone().try_lock_owned().unwrap();
        assert!(Arc::ptr_eq(OwnedMutexGuard::mutex(&g), &am));
        drop(g);

        let rw = Arc::new(RwLock::named("owner.rw", (1u32, 2u32)));
        let r = rw.clone().read_owned().await;
        assert!(Arc::ptr_eq(OwnedRwLockReadGuard::rwlock(&r), &rw));
        let part = OwnedRwLockReadGuard::map(r, |p| &p.1);
        assert!(Arc::ptr_eq(OwnedRwLockReadGuard::rwlock(&part), &rw));
        assert!(OwnedRwLockReadGuard::rwlock(&part).is_held());
        drop(part);
        let w = rw.clone().write_owned().await;
        assert!(Arc::ptr_eq(OwnedRwLockWriteGuard::rwlock(&w), &rw));
        let part = OwnedRwLockWriteGuard::map(w, |p| &mut p.0);
        assert!(Arc::ptr_eq(OwnedRwLockMappedWriteGuard::rwlock(&part), &rw));
        assert!(OwnedRwLockMappedWriteGuard::rwlock(&part).is_held());
        drop(part);
        assert!(!rw.is_held());
        assert_eq!(Arc::strong_count(&rw), 1);
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
}

/// `into_mapped` (tokio's name, borrowed and owned): the same exclusive hold as a mapped
/// guard of all the data — still write-locked, still held, mappable further — released once,
/// by the mapped guard's drop (no unlock report).
#[tokio::test(flavor = "current_thread")]
async fn into_mapped_keeps_the_exclusive_hold() {
    use lockdep::tokio::{
        OwnedRwLockMappedWriteGuard, OwnedRwLockWriteGuard, RwLockMappedWriteGuard,
        RwLockWriteGuard,
    };
    let rw = Arc::new(RwLock::named("into_mapped.RW", (1u32, 2u32)));
    let ((), reports) = capture_async(async {
        let mut all = RwLockWriteGuard::into_mapped(rw.write().await);
        all.0 += 10;
        assert!(rw.try_read().is_err() && rw.is_held());
        let mut second = RwLockMappedWriteGuard::map(all, |p| &mut p.1);
        *second += 10;
        assert!(rw.is_held());
        drop(second);
        assert!(!rw.is_held());

        let w = rw.clone().write_owned().await;
        let mut all = OwnedRwLockWriteGuard::into_mapped(w);
        all.0 += 100;
        assert!(Arc::ptr_eq(OwnedRwLockMappedWriteGuard::rwlock(&all), &rw));
        assert!(rw.try_read().is_err() && rw.is_held());
        drop(all);
        assert!(!rw.is_held());
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(*rw.try_read().unwrap(), (111, 12));
}
