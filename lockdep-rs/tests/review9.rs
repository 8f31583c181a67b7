//! Review 9: lockdep adopted the way a Rust developer adopts it on existing code (derived and
//! hand-written constructors, generic helpers, lock collections, statics and lazy cells,
//! guards in closures, `Drop` impls that lock, condvar loops, the parking_lot rename, the
//! `stdsync` path, `#[tokio::test]` of both flavours). Each test here asserts the right
//! behaviour, and failed (or hung) before its fix.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review9`
#![cfg(all(lockdep_enabled, not(loom)))]

mod common;

/// The async half: tokio's runtime, with tasks as holders (feature `tokio`).
#[cfg(lockdep_tasks)]
mod tasks {
    use std::sync::Arc;

    use lockdep::ReportKind;

    use super::common;

    /// The idiom: a `#[tokio::test]` (current-thread) body takes a blocking lock and, still
    /// holding it, awaits while a task it spawned takes the same lock. The task runs on the
    /// body's thread, and its blocking acquisition stops that thread, so the body can never
    /// run on to release the lock: a certain deadlock (parking_lot hangs there for ever).
    /// lockdep reported the guard held across the `.await` (`HeldAcrossAwait`), then let the
    /// task block: the test hung, and inside `capture_async` without printing anything. Right:
    /// the task's acquisition is a certain self-deadlock of the thread — reported
    /// (`RecursiveLocking`, naming the lock) and stopped with a panic, as a thread re-locking
    /// a lock it holds is; the body goes on (the task's `JoinHandle` says it panicked).
    #[tokio::test(flavor = "current_thread")]
    async fn a_task_blocking_on_a_lock_its_threads_suspended_body_holds_panics() {
        let _w = common::watchdog("a task blocking on its thread's lock", 30);
        let m = Arc::new(lockdep::Mutex::named("review9.body.M", 0u32));
        let ((), reports) = lockdep::tokio::capture_async(async {
            let m1 = m.clone();
            let guard = m.lock();
            let task = tokio::spawn(async move {
                *m1.lock() += 1; // on the body's thread, the body suspended holding M
            });
            tokio::task::yield_now().await; // the task runs now, on this thread
            drop(guard);
            let err = task.await.unwrap_err();
            assert!(err.is_panic(), "the task was stopped: {err:?}");
        })
        .await;
        assert_eq!(
            common::kinds(&reports),
            [ReportKind::HeldAcrossAwait, ReportKind::RecursiveLocking],
            "{}",
            common::describe(&reports)
        );
        for r in &reports {
            assert_eq!(r.class_names(), ["review9.body.M"]);
        }
        assert!(reports[1].task().is_some(), "the task's acquisition");
        assert!(
            reports[1]
                .to_string()
                .contains("but thread is already holding lock:"),
            "{}",
            reports[1]
        );
        assert_eq!(*m.lock(), 0, "the task never took it");
    }

    /// The same on a `LocalSet`, where the thread's guard is held by one local task (moved into
    /// it: the entry stays the thread's, see `lockdep::tokio`'s limits) across an `.await`,
    /// and another local task of the thread blocks on the lock: the first can never run again
    /// to drop it. Stopped with a panic, not a hang; a third local task that takes another
    /// lock meanwhile is not disturbed.
    #[test]
    fn a_local_task_blocking_on_a_guard_another_local_task_holds_for_the_thread_panics() {
        let _w = common::watchdog("a local task blocking on its thread's lock", 30);
        let m: &'static lockdep::Mutex<()> =
            Box::leak(Box::new(lockdep::Mutex::named("review9.local.M", ())));
        let n: &'static lockdep::Mutex<()> =
            Box::leak(Box::new(lockdep::Mutex::named("review9.local.N", ())));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let ((), reports) = local.block_on(
            &rt,
            lockdep::tokio::capture_async(async move {
                let guard = m.lock();
                let keeper = tokio::task::spawn_local(async move {
                    let _guard = guard;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                });
                let blocker = tokio::task::spawn_local(async move {
                    drop(m.lock()); // the keeper is suspended holding M, on this thread
                });
                let other = tokio::task::spawn_local(async move {
                    drop(n.lock());
                });
                assert!(blocker.await.unwrap_err().is_panic());
                other.await.unwrap();
                keeper.await.unwrap();
                drop(m.lock()); // free again
            }),
        );
        assert!(
            common::kinds(&reports).contains(&ReportKind::RecursiveLocking),
            "{}",
            common::describe(&reports)
        );
        for r in &reports {
            assert!(
                matches!(
                    r.kind(),
                    ReportKind::RecursiveLocking | ReportKind::HeldAcrossAwait
                ),
                "{r}"
            );
            assert_eq!(r.class_names(), ["review9.local.M"]);
        }
    }

    /// Not a deadlock, and not stopped: on a multi-thread runtime the body (the test's thread)
    /// holds a blocking lock while a task on a worker thread waits for it; the body lets it go
    /// and the task gets it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_waiting_for_a_lock_another_thread_holds_is_not_stopped() {
        let m = Arc::new(lockdep::Mutex::named("review9.other.M", 0u32));
        let ((), reports) = lockdep::tokio::capture_async(async {
            let m1 = m.clone();
            let guard = m.lock();
            let task = tokio::spawn(async move {
                *m1.lock() += 1;
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(guard);
            task.await.unwrap();
        })
        .await;
        common::expect_none("a worker waits for the body's lock", &reports);
        assert_eq!(*m.lock(), 1);
    }

    /// Not stopped either: on a current-thread runtime a task *reading* a lock that the body
    /// holds for read does not wait for it (only the `HeldAcrossAwait` is reported).
    #[test]
    fn a_task_reading_a_lock_its_threads_body_reads_is_not_stopped() {
        let l = Arc::new(lockdep::RwLock::named("review9.read.L", 0u32));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async {
            let l1 = l.clone();
            let r = l.read();
            let task = tokio::spawn(async move { *l1.read() });
            tokio::task::yield_now().await;
            drop(r);
            assert_eq!(task.await.unwrap(), 0);
        }));
        assert_eq!(
            common::kinds(&reports),
            [ReportKind::HeldAcrossAwait],
            "{}",
            common::describe(&reports)
        );
    }
}
