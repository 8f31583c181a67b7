//! Adoption trial, tokio users (see the README's "Real crates, switched", kind `tokio`):
//! dataloader 0.18.0 (feature `runtime-tokio`) switched by the path `tokio::sync` ->
//! `lockdep::tokio::sync` fails 2 of its tests (`cached::test_load`, `non_cached::test_load`)
//! with a false `RecursiveLocking` and lockdep's self-deadlock panic; both pass unswitched.
//!
//! Reduced here. One holder (a thread polling a future with a plain `block_on`, or a tokio
//! task) runs three branches of one future over one `lockdep::tokio::sync::Mutex`:
//! - `a` holds the lock across an await;
//! - `b` asks for it meanwhile: its holder holds it (branch `a`), so lockdep gives `b` its
//!   grace (it awaits the real lock, queued, before validating);
//! - `a` releases the lock (tokio hands it to `b`, first in line) and, in the same round of
//!   polls, before `b` is polled again, `c` asks for it: the holder holds nothing of it now,
//!   so `c`'s acquisition is validated and recorded at once, and `c` queues behind `b`.
//!
//! `b`'s grace ends with the real lock, and its validation finds `c`'s entry on the holder's
//! stack: an acquisition that only *waits* (queued behind `b`), taken for a holding one.
//! lockdep reports `RecursiveLocking` ("already holding lock ... at" `c`'s line) and panics
//! ("no other branch of it released it within 1 s", after ~100 ms). tokio's own Mutex runs the
//! same code to the end (each branch adds 1: 3). The right behaviour, asserted here: no report,
//! no panic, 3. These tests FAIL with lockdep as of this trial (the defect is lockdep's).
//!
//! In dataloader, `try_load_many` (`src/cached.rs:197`, first acquisition of the state lock) of
//! one `load_many` branch of a `join3` was `b`, another branch's second acquisition
//! (`src/cached.rs:224`, after its yields) was `c`, and another thread held the lock meanwhile.
#![cfg(all(feature = "tokio", lockdep_enabled))]

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use lockdep::tokio::sync::{Mutex, Notify};
use lockdep::ReportKind;

/// Polls `a`, then `c`, then `b`, each time, until all three are done (as `futures::join!(a, c,
/// b)` does; tokio's `join!` rotates the first branch it polls).
async fn join_in_order(
    a: impl Future<Output = ()>,
    c: impl Future<Output = ()>,
    b: impl Future<Output = ()>,
) {
    let (mut a, mut c, mut b) = (pin!(a), pin!(c), pin!(b));
    let mut done = [false; 3];
    poll_fn(|cx| {
        for (i, f) in [
            a.as_mut() as std::pin::Pin<&mut dyn Future<Output = ()>>,
            c.as_mut(),
            b.as_mut(),
        ]
        .into_iter()
        .enumerate()
        {
            if !done[i] && f.poll(cx).is_ready() {
                done[i] = true;
            }
        }
        if done.iter().all(|d| *d) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

async fn three_branches(m: &Mutex<u32>, go: &Notify) {
    let a = async {
        let mut g = m.lock().await;
        go.notified().await; // woken together with c
        *g += 1;
    };
    let c = async {
        go.notified().await;
        *m.lock().await += 1; // after a's release, before b is polled again
    };
    let b = async { *m.lock().await += 1 }; // while a holds it: the grace
    join_in_order(a, c, b).await;
}

/// Wakes `a` and `c` in one go, 100 ms from now, from another thread.
fn notify_later(go: Arc<Notify>) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        go.notify_waiters();
    });
}

/// A plain `block_on` (as `futures::executor::block_on`): the thread is the holder.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// The holder is a thread (dataloader's tests: `futures::executor::block_on` on spawned
/// threads). Today: `RecursiveLocking`, and the thread panics (lockdep's self-deadlock stop).
#[test]
fn a_branch_queued_behind_the_grace_is_not_a_holder_thread() {
    let (m, go) = (Mutex::new(0u32), Arc::new(Notify::new()));
    notify_later(go.clone());
    let run = std::thread::scope(|s| {
        s.spawn(|| lockdep::capture(|| block_on(three_branches(&m, &go))))
            .join()
    });
    let ((), reports) = run.expect("the thread panicked (lockdep's self-deadlock stop)");
    assert_eq!(kinds(&reports), []);
    assert_eq!(*m.try_lock().unwrap(), 3);
}

/// The holder is a tokio task. Today: `RecursiveLocking`, and the task panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_queued_behind_the_grace_is_not_a_holder_task() {
    let (m, go) = (Arc::new(Mutex::new(0u32)), Arc::new(Notify::new()));
    notify_later(go.clone());
    let (m2, go2) = (m.clone(), go.clone());
    let (run, reports) = lockdep::tokio::capture_async(async move {
        tokio::spawn(async move { three_branches(&m2, &go2).await }).await
    })
    .await;
    assert_eq!(kinds(&reports), []);
    run.expect("the task panicked (lockdep's self-deadlock stop)");
    assert_eq!(*m.lock().await, 3);
}
