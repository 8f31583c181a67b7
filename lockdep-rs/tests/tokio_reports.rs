//! What lockdep reports in async code (feature `tokio`): each problem from one run in which
//! nothing hangs, with exact kinds, classes and the task named.
//!
//! `cargo test -p lockdep --features tokio --test 'tokio_*'` (the README's test command runs it).
#![cfg(lockdep_tasks)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::{capture_async, Mutex};
use lockdep::ReportKind;
use tokio::task::yield_now;

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// Two tasks take async locks A→B and B→A (the first one finished before the second starts,
/// so nothing can hang): `CircularDependency`, naming both tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_in_opposite_orders_are_a_cycle_naming_the_tasks() {
    let a = Arc::new(Mutex::named("abba.A", ()));
    let b = Arc::new(Mutex::named("abba.B", ()));
    let (first_id, reports) = capture_async(async {
        let (a1, b1) = (a.clone(), b.clone());
        let first = lockdep::tokio::spawn(async move {
            let _a = a1.lock().await;
            yield_now().await; // may move to the other worker, holding A
            let _b = b1.lock().await; // A -> B
        });
        let first_id = first.id();
        first.await.unwrap();
        let (a2, b2) = (a.clone(), b.clone());
        lockdep::tokio::spawn(async move {
            let _b = b2.lock().await;
            yield_now().await;
            let _a = a2.lock().await; // B -> A: reported before it waits
        })
        .await
        .unwrap();
        first_id
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let r = &reports[0];
    assert_eq!(r.class_names(), ["abba.A", "abba.B"]);
    assert_eq!(r.acquiring().as_deref(), Some("abba.A"));
    assert_eq!(r.holding().as_deref(), Some("abba.B"));
    let task = r.task().expect("the holder is a task");
    assert!(task.starts_with("task "), "{task}");
    assert!(
        task.contains("(spawned at lockdep-rs/tests/tokio_reports.rs:"),
        "{task}"
    );
    assert!(r.thread().starts_with(task), "{}", r.thread());
    let text = r.to_string();
    // The edge A -> B was recorded by the first task, which the chain names.
    assert!(
        text.contains(&format!(
            "(taken at lockdep-rs/tests/tokio_reports.rs:29), task {first_id} (spawned at"
        )),
        "{text}"
    );
    // The holder is a task: the sentences say so (the kernel's "but task is already holding").
    assert!(text.contains("but task is already holding lock:"), "{text}");
    assert!(!text.contains("thread task"), "{text}");
    assert!(text.contains(&format!("{task} on ")), "{text}");
}

/// The same outside tokio's tasks: a future polled by a plain thread (`block_on`) re-locks an
/// async mutex its thread holds. The holder is the thread, and the panic says so (it said
/// "this task", of a holder that is no task).
#[test]
fn a_future_relocking_outside_tasks_panics_naming_its_thread() {
    let m = Mutex::named("self.thread.M", 0);
    let (run, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            common::block_on(async {
                let _g = m.lock().await;
                let _again = m.lock().await; // never completes: panics first
            })
        }))
    });
    let msg = run.expect_err("the re-lock panicked");
    let msg = msg
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        msg.starts_with("lockdep: self-deadlock: this thread already holds the lock a future it polls is awaiting"),
        "{msg}"
    );
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(reports[0].task().is_none(), "the thread is the holder");
}

/// A task re-locking an async mutex it holds would wait for itself forever: reported as
/// recursive locking of that very lock, and the task panics instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_relocking_its_mutex_is_reported_and_panics() {
    let m = Arc::new(Mutex::named("self.M", 0));
    let (joined, reports) = capture_async(async {
        let m = m.clone();
        tokio::spawn(async move {
            let _g = m.lock().await;
            yield_now().await;
            let _again = m.lock().await; // never completes: panics first
        })
        .await
    })
    .await;
    let err = joined.expect_err("the task panicked");
    assert!(err.is_panic());
    let msg = err.into_panic();
    let msg = msg
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    // The task's own words, not a thread's: certain only if no other branch releases it.
    assert!(
        msg.contains("self-deadlock: this task already holds the lock it is awaiting"),
        "{msg}"
    );
    assert!(
        msg.contains("no other branch of it released it within 1 s"),
        "{msg}"
    );
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(
        reports[0]
            .to_string()
            .contains("This task already holds this very lock instance"),
        "{}",
        reports[0]
    );
    assert_eq!(reports[0].class_names(), ["self.M"]);
    assert!(reports[0].task().is_some());
    // The panicking task's guard was released: the mutex is free.
    assert!(m.try_lock().is_ok());
}

/// `blocking_lock` re-locking a `lockdep::tokio::Mutex` its thread holds is a thread's certain
/// self-deadlock: no task, no grace for other branches, and the words say so.
#[test]
fn a_blocking_relock_on_a_thread_is_a_threads_certain_self_deadlock() {
    let m = Mutex::named("self.blocking", 0);
    let (r, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _a = m.blocking_lock();
            let _b = m.blocking_lock();
        }))
    });
    let err = r.expect_err("the re-lock panics");
    let msg = err
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        msg.contains("certain self-deadlock: this thread already holds the lock"),
        "{msg}"
    );
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(
        reports[0]
            .to_string()
            .contains("This thread already holds this very lock instance"),
        "{}",
        reports[0]
    );
}

/// A blocking re-lock by a task that holds the mutex is the *task's* certain self-deadlock
/// (the thread blocks, so the task never runs on to release it): the report says "but task
/// is already holding lock" and "This task already holds", and so does the panic (both said
/// "thread" before; found by tokio_holder_generated's `Relock` step).
#[test]
fn a_blocking_relock_in_a_task_is_named_the_tasks_self_deadlock() {
    let m: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("self.task", ())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (joined, reports) = local.block_on(
        &rt,
        capture_async(async {
            tokio::task::spawn_local(async move {
                let _a = m.lock();
                let _b = m.lock();
            })
            .await
        }),
    );
    let err = joined.expect_err("the re-lock panics").into_panic();
    let msg = err
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        msg.starts_with("lockdep: certain self-deadlock: this task already holds the lock"),
        "{msg}"
    );
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].class_names(), ["self.task"]);
    let text = reports[0].to_string();
    assert!(text.contains("but task is already holding lock:"), "{text}");
    assert!(
        text.contains("This task already holds this very lock instance"),
        "{text}"
    );
    assert!(!lockdep::is_held(m) && m.try_lock().is_some());
}

/// A blocking lock held across an `.await` by a task of a `LocalSet`: when the thread goes on
/// to another task, the lock is still held by the suspended one — `HeldAcrossAwait`, naming
/// the lock, where it was taken and the task.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_lock_held_across_await_is_reported() {
    let s = Arc::new(lockdep::Mutex::named("await.S", ()));
    let other = Arc::new(Mutex::named("await.other", ()));
    let local = tokio::task::LocalSet::new();
    let (site, reports) = local
        .run_until(capture_async(async {
            let s1 = s.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = lockdep::tokio::spawn_local(async move {
                let site_line = line!() + 1;
                let g = s1.lock();
                yield_now().await; // suspended with S held
                drop(g);
                site_line
            });
            let o = other.clone();
            let bystander = tokio::task::spawn_local(async move {
                let _o = o.lock().await; // this task runs while the first one is suspended
                let _ = tx.send(());
            });
            bystander.await.unwrap();
            rx.await.unwrap();
            holder.await.unwrap()
        }))
        .await;
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
    let r = &reports[0];
    assert_eq!(r.class_names(), ["await.S"]);
    assert_eq!(r.acquiring().as_deref(), Some("await.S"));
    let text = r.to_string();
    assert!(
        text.contains(&format!("at: lockdep-rs/tests/tokio_reports.rs:{site}")),
        "{text}"
    );
    assert!(
        text.contains("is suspended at an .await while holding"),
        "{text}"
    );
    let task = r.task().expect("a task holds it");
    assert!(
        task.contains("spawned at lockdep-rs/tests/tokio_reports.rs:"),
        "{task}"
    );
}

/// A task that has to wait for an async lock while it holds a blocking one: reported as soon
/// as its acquisition returns `Pending`.
#[tokio::test(flavor = "current_thread")]
async fn waiting_for_an_async_lock_while_holding_a_blocking_one_is_reported() {
    let s = Arc::new(lockdep::Mutex::named("pending.S", ()));
    let m = Arc::new(Mutex::named("pending.M", ()));
    let local = tokio::task::LocalSet::new();
    let ((), reports) = local
        .run_until(capture_async(async {
            let guard = m.lock().await; // held by the test body: the task will wait
            let (s1, m1) = (s.clone(), m.clone());
            let waiter = tokio::task::spawn_local(async move {
                let _s = s1.lock();
                let _m = m1.lock().await; // Pending: S stays held while it waits
            });
            yield_now().await; // the waiter runs and waits
            drop(guard);
            waiter.await.unwrap();
        }))
        .await;
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait]);
    assert_eq!(reports[0].class_names(), ["pending.S"]);
    assert!(
        reports[0]
            .to_string()
            .contains("wait for the async lock (pending.M)"),
        "{}",
        reports[0]
    );
}

/// Mixed orders: a blocking lock under an async one in one task, the async one under the
/// blocking one elsewhere (a blocking thread of the pool): a cycle across both kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_blocking_and_async_orders_are_a_cycle() {
    let a = Arc::new(Mutex::named("mixed.A", ()));
    let s = Arc::new(lockdep::Mutex::named("mixed.S", ()));
    let ((), reports) = capture_async(async {
        let (a1, s1) = (a.clone(), s.clone());
        tokio::spawn(async move {
            let _a = a1.lock().await;
            let _s = s1.lock(); // A -> S
        })
        .await
        .unwrap();
        let (a2, s2) = (a.clone(), s.clone());
        tokio::task::spawn_blocking(move || {
            let _s = s2.lock();
            let _a = a2.blocking_lock(); // S -> A
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["mixed.A", "mixed.S"]);
    assert!(reports[0].task().is_some(), "a blocking task holds S");
}

/// Branches of one task (`join!`) taking A then B and B then A: one holder, one cycle.
#[tokio::test(flavor = "current_thread")]
async fn join_branches_of_one_task_in_opposite_orders_are_a_cycle() {
    let a = Mutex::named("join.A", ());
    let b = Mutex::named("join.B", ());
    let ((), reports) = capture_async(async {
        tokio::join!(
            async {
                let _a = a.lock().await;
                let _b = b.lock().await;
            },
            async {
                yield_now().await; // after the first branch
                let _b = b.lock().await;
                let _a = a.lock().await;
            }
        );
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["join.A", "join.B"]);
    assert_eq!(
        reports[0].task(),
        None,
        "the test body is the holder: a thread"
    );
}

/// The same with `select!` inside a spawned task: its branches are the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_branches_of_one_task_in_opposite_orders_are_a_cycle() {
    let a = Arc::new(Mutex::named("select.A", ()));
    let b = Arc::new(Mutex::named("select.B", ()));
    let ((), reports) = capture_async(async {
        let (a1, b1) = (a.clone(), b.clone());
        tokio::spawn(async move {
            {
                let _a = a1.lock().await;
                let _b = b1.lock().await; // A -> B
            }
            tokio::select! {
                _ = async { let _b = b1.lock().await; let _a = a1.lock().await; } => {}
                _ = tokio::time::sleep(Duration::from_secs(60)) => unreachable!(),
            }
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].class_names(), ["select.A", "select.B"]);
    assert!(reports[0].task().is_some());
}

/// A task spawned with `lockdep::tokio::spawn` that ends with a blocking lock still held (a
/// leaked guard): `LocksHeldAtExit`, naming the task; its record is then forgotten, so the
/// next task on the thread is not blamed for it.
#[tokio::test(flavor = "current_thread")]
async fn a_task_ending_with_a_blocking_lock_held_is_a_leak() {
    let s = Arc::new(lockdep::Mutex::named("leak.S", ()));
    let ((), reports) = capture_async(async {
        let s1 = s.clone();
        lockdep::tokio::spawn(async move {
            std::mem::forget(s1.lock());
        })
        .await
        .unwrap();
        let other = Mutex::named("leak.other", ());
        tokio::spawn(async move {
            let _o = other.lock().await;
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::LocksHeldAtExit]);
    assert_eq!(reports[0].class_names(), ["leak.S"]);
    assert!(reports[0].task().unwrap().contains("spawned at"));
}

/// `with_max_readers` / `const_with_max_readers` (tokio's names): the reader limit is tokio's
/// (a reader beyond it waits), and the class is the construction site as for `new`: two such
/// locks built on different lines, taken in both orders, are a `CircularDependency` naming
/// both sites.
#[tokio::test(flavor = "current_thread")]
async fn with_max_readers_limits_readers_and_classes_by_site() {
    static LIMITED: lockdep::tokio::RwLock<u32> =
        lockdep::tokio::RwLock::const_with_max_readers(1, 8);
    let a = lockdep::tokio::RwLock::with_max_readers(0u32, 1);
    let b = lockdep::tokio::RwLock::with_max_readers(0u32, 2);
    let (_, reports) = lockdep::tokio::capture_async(async {
        let r1 = a.read().await;
        assert!(
            a.try_read().is_err(),
            "one reader at most: a second one must wait"
        );
        drop(r1);
        {
            let _a = a.write().await;
            let _b = b.write().await;
        }
        {
            let _b = b.write().await;
            let _a = a.write().await;
        }
        assert_eq!(*LIMITED.read().await, 1);
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), lockdep::ReportKind::CircularDependency);
    let names = reports[0].class_names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|n| n.contains("tokio_reports.rs")),
        "classes named by their construction sites: {names:?}"
    );
}

/// Branches of one task (`join!`) contending for one async mutex: one branch waits while the
/// other holds it across an `.await`. The task is one holder, but this is no self-deadlock:
/// the waiting branch gets the lock once the other releases it, and nothing is reported (the
/// wait for another branch lasts up to a grace period before it counts as a re-lock).
#[tokio::test(flavor = "current_thread")]
async fn branches_of_one_task_contending_for_a_mutex_are_silent() {
    let m = Mutex::named("branches.M", 0u32);
    let rw = lockdep::tokio::RwLock::named("branches.RW", 0u32);
    let (_, reports) = capture_async(async {
        tokio::join!(
            async {
                let mut g = m.lock().await;
                let mut w = rw.write().await;
                yield_now().await; // the other branch now waits for `m`
                *g += 1;
                *w += 1;
            },
            async {
                yield_now().await;
                *m.lock().await += 1;
                *rw.write().await += 1;
                *rw.read().await
            },
        )
    })
    .await;
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(*m.lock().await, 2);
    assert_eq!(*rw.read().await, 2);
}

/// The edge `from -> to` of the report's cycle and its dependency type (`EN`: `from` held
/// exclusively, `SN`: held shared).
fn edge_type(r: &lockdep::Report, from: &str, to: &str) -> String {
    let cycle = r.cycle();
    cycle
        .iter()
        .find(|(f, t, _)| f == from && t == to)
        .unwrap_or_else(|| panic!("no edge {from} -> {to} in {cycle:?}"))
        .2
        .clone()
}

/// `downgrade_map` (tokio's name, borrowed and owned guards): the read guard is of the mapped
/// part; the lock is held for reading (another reader may join, a writer may not) and so is
/// the held entry, changed in place: a lock taken under it records a dependency on a *shared*
/// hold (`SN`), seen in the cycle the opposite order then closes; the read guard's drop
/// releases it (no unlock report).
#[tokio::test(flavor = "current_thread")]
async fn downgrade_map_holds_the_part_as_a_reader() {
    use lockdep::tokio::{OwnedRwLockWriteGuard, RwLock, RwLockWriteGuard};
    let rw = Arc::new(RwLock::named("dmap.RW", (1u32, 2u32)));
    let orw = Arc::new(RwLock::named("dmap.ORW", (3u32, 4u32)));
    let m = Mutex::named("dmap.M", ());
    let (_, reports) = capture_async(async {
        let w = rw.write().await;
        let part = RwLockWriteGuard::downgrade_map(w, |p| &p.1);
        assert_eq!(*part, 2);
        {
            let other = rw.try_read().expect("a reader joins the downgraded lock");
            assert_eq!(other.0, 1);
        }
        assert!(rw.try_write().is_err(), "still held for reading");
        assert!(rw.is_held());
        drop(m.lock().await); // dmap.RW (shared) -> dmap.M
        drop(part);
        assert!(!rw.is_held());

        let w = orw.clone().write_owned().await;
        let part = OwnedRwLockWriteGuard::downgrade_map(w, |p| &p.0);
        assert_eq!(*part, 3);
        drop(orw.clone().try_read_owned().expect("a reader joins"));
        assert!(orw.try_write().is_err());
        assert!(orw.is_held());
        drop(m.lock().await); // dmap.ORW (shared) -> dmap.M
        drop(part);
        assert!(!orw.is_held());

        // The opposite orders: each closes a cycle through the shared dependency.
        {
            let _m = m.lock().await;
            drop(rw.write().await);
            drop(orw.write().await);
        }
        assert!(rw.try_write().is_ok() && orw.try_write().is_ok());
    })
    .await;
    assert_eq!(
        kinds(&reports),
        [
            ReportKind::CircularDependency,
            ReportKind::CircularDependency
        ],
        "{reports:#?}"
    );
    assert_eq!(edge_type(&reports[0], "dmap.RW", "dmap.M"), "SN");
    assert_eq!(edge_type(&reports[1], "dmap.ORW", "dmap.M"), "SN");
}

/// `try_downgrade_map` (borrowed and owned): `None` gives the write guard back as it was —
/// usable, the lock still write-locked, the entry still exclusive (a lock taken under it
/// records `EN`); `Some` downgrades like `downgrade_map` (`SN`).
#[tokio::test(flavor = "current_thread")]
async fn try_downgrade_map_none_keeps_the_writer() {
    use lockdep::tokio::{OwnedRwLockWriteGuard, RwLock, RwLockWriteGuard};
    let rw = RwLock::named("tdmap.RW", (1u32, 2u32));
    let orw = Arc::new(RwLock::named("tdmap.ORW", (3u32, 4u32)));
    let kept = Mutex::named("tdmap.kept", ());
    let down = Mutex::named("tdmap.down", ());
    let (_, reports) = capture_async(async {
        let w = rw.write().await;
        let Err(mut w) = RwLockWriteGuard::try_downgrade_map(w, |_| None::<&u32>) else {
            panic!("None: the write guard back");
        };
        w.0 += 10;
        assert!(rw.try_read().is_err(), "still held for writing");
        assert!(rw.is_held());
        drop(kept.lock().await); // tdmap.RW (exclusive) -> tdmap.kept
        let Ok(part) = RwLockWriteGuard::try_downgrade_map(w, |p| Some(&p.0)) else {
            panic!("Some: downgraded");
        };
        assert_eq!(*part, 11);
        drop(rw.try_read().expect("a reader joins"));
        drop(down.lock().await); // tdmap.RW (shared) -> tdmap.down
        drop(part);
        assert!(!rw.is_held());

        let w = orw.clone().write_owned().await;
        let Err(mut w) = OwnedRwLockWriteGuard::try_downgrade_map(w, |_| None::<&u32>) else {
            panic!("None: the write guard back");
        };
        w.1 += 10;
        assert!(orw.try_read().is_err());
        drop(kept.lock().await); // tdmap.ORW (exclusive) -> tdmap.kept
        let Ok(part) = OwnedRwLockWriteGuard::try_downgrade_map(w, |p| Some(&p.1)) else {
            panic!("Some: downgraded");
        };
        assert_eq!(*part, 14);
        drop(orw.try_read().expect("a reader joins"));
        drop(down.lock().await); // tdmap.ORW (shared) -> tdmap.down
        drop(part);
        assert!(!orw.is_held());

        {
            let _k = kept.lock().await;
            drop(rw.write().await);
            drop(orw.write().await);
        }
        {
            let _d = down.lock().await;
            drop(rw.write().await);
            drop(orw.write().await);
        }
    })
    .await;
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency; 4],
        "{reports:#?}"
    );
    assert_eq!(edge_type(&reports[0], "tdmap.RW", "tdmap.kept"), "EN");
    assert_eq!(edge_type(&reports[1], "tdmap.ORW", "tdmap.kept"), "EN");
    assert_eq!(edge_type(&reports[2], "tdmap.RW", "tdmap.down"), "SN");
    assert_eq!(edge_type(&reports[3], "tdmap.ORW", "tdmap.down"), "SN");
}

#[derive(Default)]
struct Accounts {
    balances: Mutex<Vec<u64>>,
    audit: lockdep::tokio::RwLock<Vec<String>>,
    pending: Mutex<Vec<u64>>,
    failed: Mutex<Vec<u64>>,
}

/// The async locks of a `derive(Default)` struct follow the blocking locks' rule: a field of
/// each type is a class (the derive's one site cannot tell them apart), and two fields of
/// one type may nest, their order checked per instance. (They were the derive's one site
/// class: nesting two was a false recursive locking.)
#[tokio::test]
async fn derive_default_async_locks_nest_by_type_and_instance() {
    let accounts = Accounts::default();
    let (_, reports) = capture_async(async {
        let _p = accounts.pending.lock().await;
        let _f = accounts.failed.lock().await; // one type, two instances: no recursion
        let _b = accounts.balances.lock().await;
        let _a = accounts.audit.write().await;
    })
    .await;
    assert!(reports.is_empty(), "{reports:?}");
    let (_, reports) = capture_async(async {
        let _f = accounts.failed.lock().await;
        let _p = accounts.pending.lock().await; // the same two the other way round
    })
    .await;
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);
    assert!(
        reports[0].class_names()[0].starts_with("tokio::Mutex<Vec<u64>>::default() at"),
        "{:?}",
        reports[0].class_names()
    );
}
