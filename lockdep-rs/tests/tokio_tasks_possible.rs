//! Threads that run no tasks ask tokio nothing (feature `tokio`): a thread's blocking locks
//! take the fast path of a build without the feature until one of its slow-path calls finds
//! it inside a task or a runtime's context (`HeldRef::tasks_possible`, `src/holder.rs`). These
//! pin the two moments that matter: a thread that used lockdep before it entered a runtime is
//! marked by its first slow-path call inside it, even one from the `block_on` future (not a
//! task), so its tasks' locks are theirs again; and the locks its tasks took meanwhile by the
//! fast path are released cleanly and not reported as held across an `.await` when the mark
//! is set (their holder is not known), their order recorded the next time it is taken.
//!
//! `cargo test -p lockdep --features tokio --test 'tokio_*'` (the README's test command runs it).
#![cfg(lockdep_tasks)]

use lockdep::ReportKind;

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// A lock of its own class, for the rest of the process.
fn leak(name: &'static str) -> &'static lockdep::Mutex<()> {
    Box::leak(Box::new(lockdep::Mutex::named(name, ())))
}

/// Runs `body` on a current-thread runtime with a `LocalSet`, on this thread; the reports
/// raised meanwhile.
fn run_local(body: impl std::future::Future<Output = ()>) -> Vec<lockdep::Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, lockdep::tokio::capture_async(body)).1
}

/// The thread takes A and B before it builds a runtime (not marked: no task, no runtime).
/// Inside the runtime the `block_on` future's first slow-path call (a new lock's first
/// acquisition) marks it; then a local task holds A across an `.await` while another takes B
/// and then B -> A. The tasks are separate holders: the held-across-await is reported, and
/// B is not nested under the first task's A (no false cycle). Unmarked, the first task's A
/// went on the thread's own stack, B was nested under it, and B -> A then closed a false
/// A -> B -> A cycle.
#[test]
fn a_slow_call_of_the_block_on_future_marks_the_thread() {
    std::thread::spawn(|| {
        let (a, b) = (leak("marked.A"), leak("marked.B"));
        drop(a.lock()); // their one-lock chains: fast from now on
        drop(b.lock());
        let reports = run_local(async move {
            let fresh = lockdep::Mutex::named("marked.fresh", ());
            drop(fresh.lock()); // the body's slow-path call, inside the runtime
            let holder = tokio::task::spawn_local(async move {
                let _a = a.lock(); // the task's, on the task's stack
                tokio::task::yield_now().await; // suspended holding A
            });
            let other = tokio::task::spawn_local(async move {
                drop(b.lock()); // runs while the first task holds A: not under it
                tokio::task::yield_now().await;
            });
            holder.await.unwrap();
            other.await.unwrap();
            tokio::task::spawn_local(async move {
                let _b = b.lock();
                let _a = a.lock(); // B -> A: the only order of the two
            })
            .await
            .unwrap();
        });
        assert_eq!(
            kinds(&reports),
            [ReportKind::HeldAcrossAwait],
            "{reports:?}"
        );
        assert_eq!(reports[0].class_names(), ["marked.A"]);
        assert!(!lockdep::is_held(a) && !lockdep::is_held(b));
    })
    .join()
    .unwrap();
}

/// The gap the mark leaves (the README's limit): the thread took A before its runtime, and
/// nothing inside the runtime makes a slow-path call before a local task takes A again (its
/// one-lock chain: the fast path, on the thread's own stack) and then C under it (a new
/// order: the slow path, which marks the thread). A is then not reported as held across an
/// `.await` (its holder is not known), and both are released cleanly; the order A -> C is
/// missed that once (A is not on the task's stack), and recorded the next time the task's
/// code runs, now on a marked thread: C -> A then closes the cycle.
#[test]
fn locks_taken_before_the_mark_are_released_cleanly_and_their_order_seen_next_time() {
    std::thread::spawn(|| {
        let (a, c) = (leak("unmarked.A"), leak("unmarked.C"));
        drop(a.lock()); // fast from now on
        let a_then_c = move || async move {
            let _a = a.lock();
            let _c = c.lock();
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        // (`capture`, not `capture_async`: the latter's own call inside the runtime would
        // mark the thread first.)
        let ((), first) = lockdep::capture(|| {
            local.block_on(&rt, async {
                tokio::task::spawn_local(a_then_c()).await.unwrap();
            })
        });
        assert_eq!(kinds(&first), [], "{first:?}");
        assert!(
            !lockdep::is_held(a) && !lockdep::is_held(c),
            "both released"
        );
        let ((), next) = lockdep::capture(|| {
            local.block_on(&rt, async {
                tokio::task::spawn_local(a_then_c()).await.unwrap();
                tokio::task::spawn_local(async move {
                    let _c = c.lock();
                    let _a = a.lock(); // C -> A against A -> C
                })
                .await
                .unwrap();
            })
        });
        assert_eq!(kinds(&next), [ReportKind::CircularDependency], "{next:?}");
        assert_eq!(next[0].class_names(), ["unmarked.A", "unmarked.C"]);
    })
    .join()
    .unwrap();
}

/// A plain thread that never enters a runtime: its locks behave as without the feature (the
/// held state, orders and releases), however many it takes.
#[test]
fn a_plain_threads_locks_are_validated_as_without_the_feature() {
    std::thread::spawn(|| {
        let (a, b) = (leak("plain.A"), leak("plain.B"));
        let ((), reports) = lockdep::capture(|| {
            for _ in 0..3 {
                let _a = a.lock();
                let _b = b.lock();
                assert!(lockdep::is_held(a) && lockdep::is_held(b));
            }
            let _b = b.lock();
            let _a = a.lock();
        });
        assert_eq!(
            kinds(&reports),
            [ReportKind::CircularDependency],
            "{reports:?}"
        );
        assert!(!lockdep::is_held(a) && !lockdep::is_held(b));
    })
    .join()
    .unwrap();
}
