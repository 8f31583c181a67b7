//! A blocking lock held while its holder suspends is reported as the holder suspends, when
//! lockdep runs the holder's whole future: a `capture_async` body, a task spawned with
//! `lockdep::tokio::spawn` or `spawn_local`. Before, it was found only when the thread's next
//! lockdep call was another holder's (a switch of stacks), which never came in each case
//! below: nothing else on the thread uses lockdep while the holder sleeps, so nothing was
//! reported at all (each test failed before).
//!
//! `cargo test -p lockdep --features enabled,tokio --test held_across_await_at_suspension`
#![cfg(lockdep_tasks)]

mod common;
use std::time::Duration;

use common::kinds_and_classes;
use lockdep::ReportKind;

fn held_across(name: &str) -> Vec<(ReportKind, Vec<String>)> {
    vec![(ReportKind::HeldAcrossAwait, vec![name.to_string()])]
}

fn sleep() -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(5))
}

/// A `capture_async` body (the `block_on` future of a multi-thread runtime, whose thread runs
/// no task) holds a blocking mutex across a sleep: one report, naming the lock, where it was
/// taken and the thread; a lock released before the `.await` is not reported, and the same
/// lock held across three awaits is one problem, reported once.
#[test]
fn a_capture_async_body_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let held = lockdep::Mutex::named("suspend.body.held", ());
    let released = lockdep::Mutex::named("suspend.body.released", ());
    let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async {
        drop(released.lock());
        sleep().await;
        let g = held.lock();
        for _ in 0..3 {
            sleep().await;
        }
        drop(g);
    }));
    assert_eq!(
        kinds_and_classes(&reports),
        held_across("suspend.body.held"),
        "{reports:?}"
    );
    let text = reports[0].to_string();
    assert!(
        text.contains("is suspended at an .await while holding the blocking lock:")
            && text.contains(
                "(suspend.body.held), at: lockdep-rs/tests/held_across_await_at_suspension.rs:"
            ),
        "{text}"
    );
    assert_eq!(reports[0].task(), None, "the body is the thread: {text}");
}

/// The same on a current-thread runtime (no task at all: the thread never switches).
#[test]
fn a_capture_async_body_on_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = lockdep::Mutex::named("suspend.current.held", ());
    let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async {
        let g = held.lock();
        sleep().await;
        drop(g);
    }));
    assert_eq!(
        kinds_and_classes(&reports),
        held_across("suspend.current.held"),
        "{reports:?}"
    );
}

/// A local task spawned with `lockdep::tokio::spawn_local`, the only one of its `LocalSet`,
/// holds a blocking mutex across a sleep while the body awaits it: reported, naming the task.
#[test]
fn a_local_task_spawned_with_lockdeps_spawn_local() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let held: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("suspend.local.held", ())));
    let ((), reports) = lockdep::capture(|| {
        local.block_on(&rt, async {
            lockdep::tokio::spawn_local(async move {
                let g = held.lock();
                sleep().await;
                drop(g);
            })
            .await
            .unwrap();
        })
    });
    assert_eq!(
        kinds_and_classes(&reports),
        held_across("suspend.local.held"),
        "{reports:?}"
    );
    let task = reports[0].task().expect("names the task");
    assert!(
        task.contains("spawned at lockdep-rs/tests/held_across_await_at_suspension.rs:"),
        "{task}"
    );
}

/// A task spawned with `lockdep::tokio::spawn` on a multi-thread runtime holds a blocking lock
/// through a leaked guard (a blocking guard is not `Send`) across a yield: reported as it
/// suspends; the lock let go afterwards (`force_unlock`) leaves nothing held.
#[test]
fn a_task_spawned_with_lockdeps_spawn_holding_a_leaked_guard() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let held: &'static lockdep::Mutex<()> =
        Box::leak(Box::new(lockdep::Mutex::named("suspend.task.held", ())));
    let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async move {
        lockdep::tokio::spawn(async move {
            lockdep::MutexGuard::leak(held.lock());
            sleep().await;
            // SAFETY: locked above by this task, its guard leaked: nothing else unlocks it.
            #[allow(unsafe_code)]
            unsafe {
                held.force_unlock()
            };
        })
        .await
        .unwrap();
    }));
    assert_eq!(
        kinds_and_classes(&reports),
        held_across("suspend.task.held"),
        "{reports:?}"
    );
    assert!(reports[0].task().is_some(), "{}", reports[0]);
    assert!(!lockdep::is_held(held));
}

/// The body's stack has a release posted to it (an owned async guard of the body dropped by a
/// task on a worker) when the body suspends holding a blocking lock taken by the fast path (a
/// warm chain: no call that applies the posted release): reported all the same.
#[test]
fn a_body_with_a_release_posted_to_its_stack() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let held = lockdep::Mutex::named("suspend.posted.held", ());
    let owned = std::sync::Arc::new(lockdep::tokio::Mutex::named("suspend.posted.owned", ()));
    let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async {
        // Warm: `held` under `owned` is a chain this thread knows (the fast path's).
        let g = owned.clone().lock_owned().await;
        drop(held.lock());
        drop(g);
        let g = owned.clone().lock_owned().await;
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
        tokio::spawn(async move {
            drop(g); // the body's entry: posted to the body's stack
            dropped_tx.send(()).unwrap();
        });
        dropped_rx.recv().unwrap(); // the release is posted, not applied
        let h = held.lock();
        sleep().await;
        drop(h);
    }));
    assert_eq!(
        kinds_and_classes(&reports),
        held_across("suspend.posted.held"),
        "{reports:?}"
    );
    assert!(!owned.is_held());
}
