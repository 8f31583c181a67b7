//! Review 9: lockdep adopted the way a Rust developer adopts it on existing code (derived and
//! hand-written constructors, generic helpers, lock collections, statics and lazy cells,
//! guards in closures, `Drop` impls that lock, condvar loops, the parking_lot rename, the
//! `stdsync` path, `#[tokio::test]` of both flavours). Each test here asserts the right
//! behaviour, and failed (or hung) before its fix — but those that pin what must stay as it
//! is (said in their comment), and the `limit_*` tests, which pin a documented limit, the
//! right behaviour in their comment: if one changes, its test fails and the docs must change
//! with it.
//!
//! `cargo test -p lockdep --features enabled,tokio --test review9`
#![cfg(all(lockdep_enabled, not(loom)))]

mod common;

/// The variable that tells a child run which test it is.
const CHILD: &str = "REVIEW9_CHILD";

/// README, Modes and settings: `LOCKDEP`'s unknown values are printed and fail the run, so a
/// typo cannot go unnoticed. The other settings' were silently taken for their default:
/// `LOCKDEP_CLASSES=lenent` ran strict (the user then sees the very `RecursiveLocking`
/// reports the setting was meant to stop, with no word about the setting), a negative or
/// unparsable `LOCKDEP_DEADLOCK_TIMEOUT` waited for ever or 10 s. Right: each is printed,
/// naming the variable and its valid values, and fails the run (exit status 101), as
/// `LOCKDEP`'s; the valid values pass.
#[test]
fn a_setting_with_an_unknown_value_is_printed_and_fails_the_run() {
    const NAME: &str = "a_setting_with_an_unknown_value_is_printed_and_fails_the_run";
    if common::in_self_child(CHILD, NAME) {
        let a = lockdep::Mutex::named("review9.settings.A", ());
        let b = lockdep::Mutex::named("review9.settings.B", ());
        drop((a.lock(), b.lock())); // the validator's first use: the settings are checked
        return;
    }
    for (var, value) in [
        ("LOCKDEP_CLASSES", "lenent"),
        ("LOCKDEP_GATED", "yes"),
        ("LOCKDEP_BACKTRACE", "off"),
        ("LOCKDEP_DEADLOCK_TIMEOUT", "10s"),
        ("LOCKDEP_DEADLOCK_TIMEOUT", "-1"),
    ] {
        let (stdout, stderr, code) = common::run_self_with(CHILD, NAME, &[(var, value)]);
        assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("lockdep: {var}={value:?} is not")),
            "{var}={value}: {stderr}"
        );
        assert!(
            stderr.contains("lockdep: fix the setting named above.\n"),
            "{var}={value}: {stderr}"
        );
        assert_eq!(code, Some(101), "{var}={value}: the run passed:\n{stderr}");
    }
    for (var, value) in [
        ("LOCKDEP_CLASSES", "lenient"),
        ("LOCKDEP_CLASSES", "strict"),
        ("LOCKDEP_GATED", "ignore"),
        ("LOCKDEP_BACKTRACE", "0"),
        ("LOCKDEP_DEADLOCK_TIMEOUT", "0"),
        ("LOCKDEP_DEADLOCK_TIMEOUT", "2.5"),
    ] {
        let (stdout, stderr, code) = common::run_self_with(CHILD, NAME, &[(var, value)]);
        assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
        assert!(!stderr.contains("is not"), "{var}={value}: {stderr}");
        assert_eq!(code, Some(0), "{var}={value}: {stderr}");
    }
}

/// `LOCKDEP_DEADLOCK_TIMEOUT` too large for a `Duration` (`1e30`: "for ever", in effect) made
/// every acquisition in a reported order panic inside lockdep, with std's "cannot convert
/// float seconds to Duration" — a crash of the program at the lock it was taking. Right: such
/// a wait is for ever (as `0`), and the acquisition goes on.
#[test]
fn a_deadlock_timeout_too_large_for_a_duration_does_not_panic_an_acquisition() {
    const NAME: &str = "a_deadlock_timeout_too_large_for_a_duration_does_not_panic_an_acquisition";
    if common::in_self_child(CHILD, NAME) {
        let a = lockdep::Mutex::named("review9.timeout.A", ());
        let b = lockdep::Mutex::named("review9.timeout.B", ());
        let ((), reports) = lockdep::capture(|| {
            drop((a.lock(), b.lock()));
            let _b = b.lock();
            let _a = a.lock(); // B -> A: reported, and waited for with the timeout
        });
        common::expect_circular(
            "B -> A",
            &reports,
            "review9.timeout.A",
            "review9.timeout.B",
            &["review9.timeout.A".into(), "review9.timeout.B".into()],
        );
        return;
    }
    let (stdout, stderr, code) =
        common::run_self_with(CHILD, NAME, &[("LOCKDEP_DEADLOCK_TIMEOUT", "1e30")]);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// The idiom: a `Vec` of locks built by a closure (`(0..n).map(|_| Mutex::new(..))`), two of
/// them nested without an annotation: `RecursiveLocking` (strict policy), rightly. Its hint
/// named the function around the closure as the constructor helper and said to "put
/// `#[track_caller]` on" it — which changes nothing (the locks are built in the closure, and
/// a closure takes no `#[track_caller]` on stable Rust). Right: the hint says the site is a
/// closure and gives fixes that work (build each lock at its own site, names or classes;
/// `lock_nested`, a nest lock, or the lenient policy for locks of one kind), and never
/// advises `#[track_caller]` on the enclosing function.
#[test]
fn a_recursive_locking_hint_for_locks_built_in_a_closure_names_the_closure() {
    let shards: Vec<lockdep::Mutex<u32>> = (0..2).map(|_| lockdep::Mutex::new(0)).collect();
    let ((), reports) = lockdep::capture(|| {
        let _first = shards[0].lock();
        let _second = shards[1].lock();
    });
    assert_eq!(
        common::kinds(&reports),
        [lockdep::ReportKind::RecursiveLocking]
    );
    let text = reports[0].to_string();
    assert!(
        text.contains("built by one `new` call in a closure"),
        "{text}"
    );
    assert!(!text.contains("put `#[track_caller]` on `fn"), "{text}");
    assert!(text.contains("lock_nested(1)"), "{text}");

    // The same in a cycle through such a class: no `#[track_caller]` on the enclosing `fn`.
    let log = lockdep::Mutex::named("review9.closure.log", ());
    let ((), reports) = lockdep::capture(|| {
        drop((shards[0].lock(), log.lock()));
        drop((log.lock(), shards[1].lock()));
    });
    assert_eq!(
        common::kinds(&reports),
        [lockdep::ReportKind::CircularDependency]
    );
    let text = reports[0].to_string();
    assert!(
        text.contains("built by the `new` call in a closure"),
        "{text}"
    );
    assert!(!text.contains("put `#[track_caller]` on `fn"), "{text}");
}

/// Limit (documented on `lockdep::thread::scope`: "the implicit joins at the end of the scope
/// are not validated"): a scope left while holding a lock that one of its threads takes is the
/// deadlock a `join` under that lock is — here the thread took it first (a handshake), so
/// this run ends, but another schedule hangs in the scope's implicit join — and it is not
/// reported, where the explicit join of the same thread is (`CircularWait`). The right
/// behaviour: the implicit join validated as an explicit one. If this changes, update the
/// docs of `scope`.
#[test]
fn limit_a_scopes_implicit_join_under_a_lock_its_thread_takes_is_not_seen() {
    let m = lockdep::Mutex::named("review9.scope.M", ());
    let (taken_tx, taken_rx) = std::sync::mpsc::channel();
    let ((), reports) = lockdep::capture(|| {
        let mut held = None;
        lockdep::thread::scope(|s| {
            s.spawn(|| {
                drop(m.lock());
                taken_tx.send(()).unwrap();
            });
            taken_rx.recv().unwrap();
            held = Some(m.lock()); // held across the scope's implicit join of the thread
        });
        drop(held);
    });
    common::expect_none("a scope's implicit join under M", &reports);

    // The explicit join of the same kind of thread is reported.
    let (taken_tx, taken_rx) = std::sync::mpsc::channel();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            let t = s.spawn(|| {
                drop(m.lock());
                taken_tx.send(()).unwrap();
            });
            taken_rx.recv().unwrap();
            let _held = m.lock();
            t.join().unwrap();
        });
    });
    assert_eq!(
        common::kinds(&reports),
        [lockdep::ReportKind::CircularWait],
        "{}",
        common::describe(&reports)
    );
}

/// Joins `join` (a `lockdep::thread` join) holding `lock`, which the thread is blocked on:
/// the deadlock the join's `CircularWait` predicts, really happening. Returns the panic
/// message the join gave up with (the guard unwinds, so the thread then finishes).
fn join_under<'a>(
    lock: &lockdep::Mutex<()>,
    spawn: impl FnOnce() -> Box<dyn FnOnce() + 'a>,
) -> String {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _held = lock.lock();
        let join = spawn();
        std::thread::sleep(std::time::Duration::from_millis(300)); // the thread waits for `lock`
        join();
    }));
    let payload = outcome.expect_err("the join must give up, not hang or return");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// README: lockdep never hangs a test run on a deadlock it predicted — an acquisition in a
/// reported order that really blocks gives up after `LOCKDEP_DEADLOCK_TIMEOUT` with a panic,
/// "so the test fails instead of hanging the run". A `lockdep::thread` join is a validated
/// wait of the same kind: joining a thread while holding a lock it is blocked on is reported
/// (`CircularWait`) — and then the join waited for ever, hanging the run. Right: a join whose
/// wait was reported gives up after the timeout too (`JoinHandle::join` and
/// `ScopedJoinHandle::join`), panicking on the joining thread. Child process (the timeout is
/// read once), with a 1 s timeout.
#[test]
fn a_join_in_a_reported_wait_that_really_deadlocks_gives_up_after_the_timeout() {
    const NAME: &str = "a_join_in_a_reported_wait_that_really_deadlocks_gives_up_after_the_timeout";
    if common::in_self_child(CHILD, NAME) {
        let _w = common::watchdog("a join that deadlocks", 30);
        let m = std::sync::Arc::new(lockdep::Mutex::named("review9.join.M", ()));
        let n = lockdep::Mutex::named("review9.join.N", ());
        let ((), reports) = lockdep::capture(|| {
            let m1 = m.clone();
            let message = join_under(&m, || {
                let t = lockdep::thread::spawn(move || drop(m1.lock()));
                Box::new(move || drop(t.join()))
            });
            assert!(message.contains("lockdep: deadlock"), "{message}");
            lockdep::thread::scope(|s| {
                let message = join_under(&n, || {
                    let t = s.spawn(|| drop(n.lock()));
                    Box::new(move || drop(t.join()))
                });
                assert!(message.contains("lockdep: deadlock"), "{message}");
            });
        });
        assert_eq!(
            common::kinds(&reports),
            [
                lockdep::ReportKind::CircularWait,
                lockdep::ReportKind::CircularWait
            ],
            "{}",
            common::describe(&reports)
        );
        assert!(reports[0]
            .class_names()
            .contains(&"review9.join.M".to_string()));
        assert!(reports[1]
            .class_names()
            .contains(&"review9.join.N".to_string()));
        return;
    }
    let (stdout, stderr, code) =
        common::run_self_with(CHILD, NAME, &[("LOCKDEP_DEADLOCK_TIMEOUT", "1")]);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// The async half: tokio's runtime, with tasks as holders (feature `tokio`).
#[cfg(lockdep_tasks)]
mod tasks {
    use std::sync::Arc;

    use lockdep::ReportKind;

    use super::common;

    /// Two mutexes `<prefix>.M` and `<prefix>.N`, leaked (tasks' guards of them are `'static`).
    fn leaked_pair(prefix: &str) -> (&'static lockdep::Mutex<()>, &'static lockdep::Mutex<()>) {
        let named = |s: &str| -> &'static lockdep::Mutex<()> {
            let name: &'static str = Box::leak(format!("{prefix}.{s}").into_boxed_str());
            Box::leak(Box::new(lockdep::Mutex::named(name, ())))
        };
        (named("M"), named("N"))
    }

    /// A current-thread runtime with timers, and a `LocalSet` to run local tasks on it.
    fn local_runtime() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        (rt, tokio::task::LocalSet::new())
    }

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
        let (m, n) = leaked_pair("review9.local");
        let (rt, local) = local_runtime();
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

    /// The other way round: a local task holds a blocking lock across an `.await` (reported,
    /// `HeldAcrossAwait`), and another local task of its thread takes that lock blocking —
    /// after another lock, so its acquisition of the first is a warm chain of the fast path.
    /// The holder is suspended on this thread (a task holding a blocking guard across an
    /// `.await` is not `Send`: a local task, which only this thread runs), so the blocked
    /// thread can never run it on: a certain deadlock. lockdep let the second task block: the
    /// test hung. Right: reported (`RecursiveLocking`) and stopped with a panic.
    #[test]
    fn a_task_blocking_on_a_lock_a_suspended_local_task_of_its_thread_holds_panics() {
        let _w = common::watchdog("a local task blocking on another's lock", 30);
        let (m, n) = leaked_pair("review9.parked");
        let (rt, local) = local_runtime();
        let ((), reports) = local.block_on(
            &rt,
            lockdep::tokio::capture_async(async move {
                // N -> M once, by a task of its own: the chain is warm for the next one.
                tokio::task::spawn_local(async move { drop((n.lock(), m.lock())) })
                    .await
                    .unwrap();
                let keeper = tokio::task::spawn_local(async move {
                    let _guard = m.lock();
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                });
                tokio::task::yield_now().await; // the keeper takes M and is suspended
                let blocker = tokio::task::spawn_local(async move {
                    let _n = n.lock();
                    drop(m.lock()); // the keeper can never run on to release it
                });
                assert!(blocker.await.unwrap_err().is_panic());
                keeper.await.unwrap();
                drop((n.lock(), m.lock())); // free again, and nothing stale
            }),
        );
        assert_eq!(
            common::kinds(&reports),
            [ReportKind::HeldAcrossAwait, ReportKind::RecursiveLocking],
            "{}",
            common::describe(&reports)
        );
        for r in &reports {
            assert_eq!(r.class_names(), ["review9.parked.M"]);
        }
    }

    /// As above, with the thread's own code (the future the `LocalSet` runs) as the one that
    /// blocks: stopped with a panic out of `block_on`, not a hang.
    #[test]
    fn a_thread_blocking_on_a_lock_its_suspended_local_task_holds_panics() {
        let _w = common::watchdog("a thread blocking on its local task's lock", 30);
        let (m, n) = leaked_pair("review9.parkedbody");
        let (outcome, reports) = lockdep::capture(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let (rt, local) = local_runtime();
                local.block_on(&rt, async move {
                    drop((n.lock(), m.lock())); // N -> M: warm
                    let _keeper = tokio::task::spawn_local(async move {
                        let _guard = m.lock();
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    });
                    tokio::task::yield_now().await; // the keeper takes M and is suspended
                    let _n = n.lock();
                    drop(m.lock()); // the keeper can never run on to release it
                })
            }))
        });
        assert!(outcome.is_err(), "the thread was stopped");
        assert_eq!(
            common::kinds(&reports),
            [ReportKind::HeldAcrossAwait, ReportKind::RecursiveLocking],
            "{}",
            common::describe(&reports)
        );
        for r in &reports {
            assert_eq!(r.class_names(), ["review9.parkedbody.M"]);
        }
        drop((n.lock(), m.lock())); // free again
    }

    /// Limit (README, Async: only the locks are validated): awaiting a task's `JoinHandle`
    /// while holding a lock that the task needs is a deadlock (the task waits for the lock,
    /// the holder for the task), as a `lockdep::thread` join under such a lock is; but a
    /// tokio task's end is no event lockdep knows, so nothing is reported (here the await
    /// times out after 300 ms instead of hanging). The right behaviour: a `CircularWait`, as
    /// for a thread's join (it would need `lockdep::tokio::spawn` to hand out a validated
    /// handle). If this changes, update the README's sentence on what is not seen as a wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limit_awaiting_a_join_handle_under_a_lock_the_task_needs_is_not_seen() {
        let m = Arc::new(lockdep::tokio::Mutex::named("review9.joinhandle.M", 0u32));
        let ((), reports) = lockdep::tokio::capture_async(async {
            let held = m.lock().await;
            let m1 = m.clone();
            let task = lockdep::tokio::spawn(async move {
                *m1.lock().await += 1;
            });
            let waited = tokio::time::timeout(std::time::Duration::from_millis(300), task).await;
            assert!(
                waited.is_err(),
                "the task waits for the lock the joiner holds"
            );
            drop(held);
        })
        .await;
        common::expect_none("a JoinHandle awaited under the task's lock", &reports);
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
