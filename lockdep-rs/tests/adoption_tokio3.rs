//! Adoption trial 5, tokio users (see the README's "Real crates, switched"): deadpool 0.12.3
//! (its slots a `std::sync::Mutex` taken inside tokio tasks, switched to `lockdep::stdsync` with
//! the `tokio` feature; and with its tests' `tokio::sync::Mutex` switched too) and tower 0.5.3
//! (`tokio::sync` switched, which names no lock of tower's; and its `std::sync::Mutex`es: the
//! Buffer worker's error slot, hedge's histogram, peak-EWMA's estimate, the retry budget) pass
//! their suites with no report, as they do unswitched. No defect of lockdep was found.
//!
//! Probes beyond the suites (a deadpool pool of 2 used by 8 tasks with objects held across
//! `.await`s, wait / create / recycle timeouts, abandoned `get`s, `take`, `retain`, `resize`; the
//! unmanaged pool; objects got on a `spawn_blocking` thread, dropped on a plain thread, with an
//! unawaited `JoinHandle`, with a runtime; tower's Buffer + ConcurrencyLimit from 8 tasks, a
//! service whose `poll_ready` fails and an aborted worker behind a Buffer, Hedge, PeakEwma, a
//! retry budget) were silent, on a 2-worker and a current-thread runtime, under the lenient and
//! the strict class policy. They reported the real problem: a `retain` predicate taking a lock
//! that a task holds while it returns an object (`retain` runs the predicate under the pool's
//! slots lock; dropping an object takes it): the first test below.
//!
//! And they met one documented limit ("a task waiting on a channel, a `Notify` or a semaphore
//! is not seen as a wait", `lockdep::tokio::sync`): a pool's exhaustion deadlock, where the task
//! holding the last object awaits a lock whose holder awaits an object, goes unreported; deadpool
//! counts its objects with a tokio `Semaphore`. Pinned by the `limit_` test below.
#![cfg(all(feature = "tokio", lockdep_enabled))]

use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::sync::{oneshot, Mutex, Semaphore};
use lockdep::ReportKind;

/// deadpool 0.12.3's `Pool::retain` calls its predicate holding the pool's slots lock (a
/// `std::sync::Mutex`, `src/managed/pool.rs:310`), and dropping an `Object` takes the same lock
/// (`return_object`). A task that drops an object while it holds a lock U of its own (U ->
/// slots), and a `retain` whose predicate takes U (slots -> U), deadlock when they meet: the
/// task holds U and waits for slots, `retain` holds slots and waits for U (deadpool's docs warn
/// that the predicate "should not block"). A probe against the switched crate reported it
/// (`CircularDependency`, naming `Mutex<Slots<ObjectInner<Manager>>>` and U); reduced here to
/// the two locks, one order taken in a task and the other by the test's body. Real: reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_retain_predicate_taking_a_lock_held_while_returning_an_object_is_reported() {
    let slots = Arc::new(lockdep::stdsync::Mutex::named(
        "tokio3.pool.slots",
        Vec::<u32>::new(),
    ));
    let u = Arc::new(lockdep::stdsync::Mutex::named("tokio3.pool.U", 0u32));
    let ((), reports) = lockdep::tokio::capture_async(async {
        let (s, u1) = (slots.clone(), u.clone());
        tokio::spawn(async move {
            let _u = u1.lock().unwrap();
            s.lock().unwrap().push(1); // the object returned, U held
        })
        .await
        .unwrap();
        // retain: the predicate, under the slots lock, takes U
        let mut slots = slots.lock().unwrap();
        slots.retain(|_| {
            *u.lock().unwrap() += 1;
            true
        });
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let mut names = reports[0].class_names();
    names.sort();
    assert_eq!(names, ["tokio3.pool.U", "tokio3.pool.slots"]);
}

/// A pool's exhaustion deadlock, as deadpool's pool (0.12.3: `get` awaits a permit of the
/// pool's tokio `Semaphore`, one per object) gives it: a pool of one object; task A holds the
/// object and awaits a tokio Mutex M; task B holds M and awaits an object. Neither can go on:
/// a real deadlock (cut here by B's timeout, as a deadpool `wait` timeout cuts it). A probe
/// against the switched deadpool (`Pool::get` and `lockdep::tokio::sync::Mutex`) got the same:
/// the wait timed out, nothing reported.
///
/// lockdep sees M only: a task waiting for a permit is not seen as a wait, and a permit held
/// is not a lock held (documented: `lockdep::tokio::sync`, "Only the locks are validated").
/// Wanted: the wait reported before it hangs (a `CircularWait`: B waits for a permit while
/// holding M, which the permit's holder awaits), at least for a semaphore used as a pool of
/// exclusive objects. Pinned: today's silence, with the deadlock real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_a_task_waiting_for_a_semaphore_permit_is_not_a_wait() {
    let pool = Arc::new(Semaphore::new(1));
    let m = Arc::new(Mutex::named("tokio3.exhaustion.M", ()));
    let (deadlocked, reports) = lockdep::tokio::capture_async(async {
        let object = pool.clone().acquire_owned().await.unwrap(); // A's object
        let (p, m1) = (pool.clone(), m.clone());
        let (has_m, b_has_m) = oneshot::channel();
        let b = tokio::spawn(async move {
            let _m = m1.lock().await;
            has_m.send(()).unwrap();
            // B awaits an object while it holds M
            tokio::time::timeout(Duration::from_millis(300), p.acquire())
                .await
                .is_err()
        });
        b_has_m.await.unwrap();
        let m2 = m.clone();
        let a = tokio::spawn(async move {
            let _object = object;
            let _m = m2.lock().await; // A awaits M while it holds the object
        });
        let deadlocked = b.await.unwrap();
        a.await.unwrap();
        deadlocked
    })
    .await;
    assert!(deadlocked, "B's wait for an object timed out: the deadlock");
    assert!(reports.is_empty(), "{reports:#?}");
}
