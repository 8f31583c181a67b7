//! `capture_async` in `#[tokio::test]`s of both flavours (feature `tokio`): the reports of the
//! test's own future and of every task and blocking thread of its runtime, and nothing from
//! the tests running in parallel; and reports that no capture takes reach the mode's action
//! as in synchronous code.
//!
//! `cargo test -p lockdep --features tokio --test 'tokio_*'` (the README's test command runs it).
#![cfg(lockdep_tasks)]

mod common;

use lockdep::tokio::capture_async;
use lockdep::ReportKind;

#[tokio::test(flavor = "current_thread")]
async fn capture_async_takes_the_reports_of_spawned_tasks_current_thread() {
    let ((), reports) = capture_async(common::abba_in_tasks("capture.ct.A", "capture.ct.B")).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    assert_eq!(reports[0].class_names(), ["capture.ct.A", "capture.ct.B"]);
    assert!(reports[0].task().is_some(), "found in a spawned task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_async_takes_the_reports_of_spawned_tasks_multi_thread() {
    let ((), reports) = capture_async(common::abba_in_tasks("capture.mt.A", "capture.mt.B")).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    assert_eq!(reports[0].class_names(), ["capture.mt.A", "capture.mt.B"]);
}

/// Many tests at once, each in its own runtime, each with its own inversion: every capture
/// sees exactly its own.
#[test]
fn parallel_runtimes_see_only_their_own_reports() {
    let names: Vec<(&'static str, &'static str)> = (0..4)
        .map(|i| {
            let a: &'static str = Box::leak(format!("capture.par{i}.A").into_boxed_str());
            let b: &'static str = Box::leak(format!("capture.par{i}.B").into_boxed_str());
            (a, b)
        })
        .collect();
    std::thread::scope(|s| {
        for (i, &(a, b)) in names.iter().enumerate() {
            s.spawn(move || {
                let rt = if i % 2 == 0 {
                    tokio::runtime::Builder::new_current_thread().build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .build()
                };
                let ((), reports) = rt
                    .unwrap()
                    .block_on(capture_async(common::abba_in_tasks(a, b)));
                let classes: Vec<_> = reports.iter().map(|r| r.class_names()).collect();
                assert_eq!(classes, [vec![a.to_string(), b.to_string()]]);
            });
        }
    });
}

/// The synchronous `capture` works inside a task (around code that does not await), and
/// nested captures keep their reports to themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_capture_inside_a_task_and_nesting() {
    let ((), outer) = capture_async(async {
        tokio::spawn(async {
            let a = lockdep::Mutex::named("capture.sync.A", ());
            let b = lockdep::Mutex::named("capture.sync.B", ());
            let ((), inner) = lockdep::capture(|| {
                {
                    let _a = a.lock();
                    let _b = b.lock();
                }
                let _b = b.lock();
                let _a = a.lock();
            });
            assert_eq!(inner.len(), 1);
            assert_eq!(inner[0].class_names(), ["capture.sync.A", "capture.sync.B"]);
            assert!(inner[0].task().is_some());
        })
        .await
        .unwrap();
    })
    .await;
    assert!(outer.is_empty(), "taken by the inner capture: {outer:?}");
}

/// Without a capture, a report found in a task goes where any report goes (kept for
/// `take_reports`, and printed in the default `Warn` mode — visible in a failing test's output).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncaptured_reports_from_tasks_reach_the_mode() {
    common::abba_in_tasks("capture.free.A", "capture.free.B").await;
    let mine: Vec<_> = lockdep::take_reports()
        .into_iter()
        .filter(|r| {
            r.class_names()
                .iter()
                .any(|c| c.starts_with("capture.free."))
        })
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].kind(), ReportKind::CircularDependency);
}
