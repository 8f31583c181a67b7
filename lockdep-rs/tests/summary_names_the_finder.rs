//! The end-of-run summary names the test that found each problem: a test's thread is named
//! after the test, and so is a `lockdep::thread` worker. A thread started with plain
//! `std::thread::spawn` (unnamed) and a task on a multi-thread tokio runtime's worker thread
//! (named `tokio-rt-worker`) are not: for them the summary says where the problem was found
//! (the acquisition's site, in the test's file when the test took the lock), and for the
//! task that `capture_async` takes such reports. Before, it named only
//! `task 6 on tokio-rt-worker` (a worker of the runtime), no test, no hint, and the unnamed thread had no site either.
//! Each case runs as a child process whose run fails (status 101), the summary checked.
#![cfg(not(loom))]
#![cfg(lockdep_enabled)]

mod common;

use std::sync::Arc;

use lockdep::Mutex;

const CHILD: &str = "LOCKDEP_SUMMARY_FINDER_CHILD";

/// Takes A then B, and B then A on another thread of `spawn`'s.
fn abba(a: &'static str, b: &'static str, spawn: impl Fn(Box<dyn FnOnce() + Send>)) {
    let a = Arc::new(Mutex::named(a, ()));
    let b = Arc::new(Mutex::named(b, ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    spawn(Box::new(move || {
        let _b = b.lock();
        let _a = a.lock();
    }));
}

#[test]
fn child_std_thread() {
    if !common::in_self_child(CHILD, "child_std_thread") {
        return;
    }
    abba("sum.std.A", "sum.std.B", |f| {
        std::thread::spawn(f).join().unwrap()
    });
}

#[test]
fn a_std_threads_problem_says_where_it_was_found() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let stderr = common::expect_self_fails(CHILD, "child_std_thread");
    assert!(
        stderr.contains(&format!(
            "- WARNING: possible circular locking dependency detected: sum.std.A, sum.std.B \
             (found by an unnamed thread: name it, or start it with `lockdep::thread::spawn`, \
             which names it after its test; found at {}:",
            file!()
        )),
        "{stderr}"
    );
}

#[test]
fn child_std_thread_leaks() {
    if !common::in_self_child(CHILD, "child_std_thread_leaks") {
        return;
    }
    std::thread::spawn(|| {
        let m: &'static Mutex<()> = Box::leak(Box::new(Mutex::named("sum.leaked", ())));
        std::mem::forget(m.lock());
    })
    .join()
    .unwrap();
}

#[test]
fn a_lock_left_held_by_a_std_thread_says_where_it_was_taken() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let stderr = common::expect_self_fails(CHILD, "child_std_thread_leaks");
    assert!(
        stderr.contains(&format!(
            "- WARNING: thread still has locks held at exit!: sum.leaked (found by an unnamed \
             thread: name it, or start it with `lockdep::thread::spawn`, which names it after \
             its test; found at {}:",
            file!()
        )),
        "{stderr}"
    );
}

#[test]
fn a_named_test_threads_line_is_unchanged() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let stderr = common::expect_self_fails(CHILD, "child_test_thread");
    assert!(
        stderr.contains(
            "- WARNING: possible circular locking dependency detected: sum.test.A, sum.test.B \
             (found by thread `child_test_thread`)\n"
        ),
        "{stderr}"
    );
}

#[test]
fn child_test_thread() {
    if !common::in_self_child(CHILD, "child_test_thread") {
        return;
    }
    abba("sum.test.A", "sum.test.B", |f| f());
}

#[cfg(lockdep_tasks)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_multi_thread_task() {
    if !common::in_self_child(CHILD, "child_multi_thread_task") {
        return;
    }
    // Not `common::abba_in_tasks`: the summary's site must be in this file (asserted below).
    let a = Arc::new(lockdep::tokio::Mutex::named("sum.task.A", ()));
    let b = Arc::new(lockdep::tokio::Mutex::named("sum.task.B", ()));
    let (a1, b1) = (a.clone(), b.clone());
    tokio::spawn(async move {
        let _a = a1.lock().await;
        let _b = b1.lock().await;
    })
    .await
    .unwrap();
    tokio::spawn(async move {
        let _b = b.lock().await;
        let _a = a.lock().await;
    })
    .await
    .unwrap();
}

#[cfg(lockdep_tasks)]
#[test]
fn a_multi_thread_runtimes_task_says_where_and_how_to_capture() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let stderr = common::expect_self_fails(CHILD, "child_multi_thread_task");
    let line = stderr
        .lines()
        .find(|l| l.contains("sum.task.A, sum.task.B ("))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    assert!(line.contains("(found by `task "), "{line}");
    assert!(line.contains(" on tokio-"), "{line}");
    assert!(
        line.contains(&format!(
            "-worker`, a task of a multi-thread runtime, which lockdep cannot \
             trace to its test: `lockdep::tokio::capture_async` in the test takes its reports; \
             found at {}:",
            file!()
        )),
        "{line}"
    );
}
