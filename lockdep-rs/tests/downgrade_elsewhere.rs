//! A write guard downgraded by another holder than the one whose stack has its entry (feature
//! `tokio`): the entry becomes a reader's where it is — on a task's parked stack (a local
//! task's blocking guard in another local task's hands), or on the stack of a task running
//! on another thread right now (an async owned guard sent to another task), where the change
//! is posted and applied at that thread's next call on the stack. Both failed before: the
//! downgrade looked only at the stack loaded here, so the entry stayed a writer's (found by
//! `tokio_holder_generated`'s `Downgrade` step).
//!
//! `cargo test -p lockdep --features enabled,tokio --test downgrade_elsewhere`
#![cfg(lockdep_tasks)]

mod common;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Barrier};

use common::{in_local_task, kinds_and_classes};
use lockdep::ReportKind;

/// Local task 1 takes a write lock, leaves the guard where other tasks reach it and
/// suspends; local task 2 downgrades the guard and keeps the read guard; a third local task
/// then reads the lock recursively beside it. A reader beside a reader blocks nobody: no
/// certain self-deadlock (the panic this was before: task 1's parked stack still said
/// writer); the entry suspended on task 1's stack across its `.await` is reported as such.
#[test]
fn a_write_guard_downgraded_by_another_local_task_is_a_readers() {
    std::thread::spawn(|| {
        let rw: &'static lockdep::RwLock<()> =
            Box::leak(Box::new(lockdep::RwLock::named("down.local", ())));
        let reports = in_local_task(async move {
            let slot: Rc<RefCell<Option<lockdep::RwLockWriteGuard<'static, ()>>>> = Rc::default();
            let read: Rc<RefCell<Option<lockdep::RwLockReadGuard<'static, ()>>>> = Rc::default();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            let task1 = {
                let slot = slot.clone();
                tokio::task::spawn_local(async move {
                    *slot.borrow_mut() = Some(rw.write());
                    go_rx.await.unwrap(); // suspended: its stack parked, holding the entry
                })
            };
            tokio::task::yield_now().await; // task 1 runs up to its await
            {
                let (slot, read) = (slot.clone(), read.clone());
                tokio::task::spawn_local(async move {
                    let w = slot.borrow_mut().take().expect("task 1 upgraded");
                    *read.borrow_mut() = Some(lockdep::RwLockWriteGuard::downgrade(w));
                })
                .await
                .unwrap();
            }
            drop(rw.read_recursive()); // beside task 2's reader
            assert!(!lockdep::is_held(rw), "the entry is task 1's");
            drop(read.borrow_mut().take());
            go_tx.send(()).unwrap();
            task1.await.unwrap();
        });
        assert_eq!(
            kinds_and_classes(&reports),
            [(ReportKind::HeldAcrossAwait, vec!["down.local".to_string()])],
            "{reports:?}"
        );
        assert!(!lockdep::is_held(rw));
        drop(rw.write()); // free, and no stale entry: no self-deadlock
    })
    .join()
    .unwrap();
}

/// What an async owned write guard's holder (task A) holds after its guard, sent to task B,
/// was downgraded there — `elsewhere`: B downgrades while A runs on the other worker (A's
/// stack loaded there: the change is posted to it); else A downgrades before sending. A then
/// takes two mutexes in the order opposite to one seen before: the report lists the locks A
/// holds, the reader-writer lock among them. Returns the report.
fn held_after_downgrade(elsewhere: bool, name: &'static str) -> lockdep::Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lock = Arc::new(lockdep::tokio::RwLock::named(name, ()));
    let named =
        |what: &str| -> &'static str { Box::leak(format!("{name}.{what}").into_boxed_str()) };
    let p: &'static lockdep::Mutex<()> = Box::leak(Box::new(lockdep::Mutex::named(named("p"), ())));
    let q: &'static lockdep::Mutex<()> = Box::leak(Box::new(lockdep::Mutex::named(named("q"), ())));
    {
        let q = q.lock();
        drop(p.lock());
        drop(q);
    }
    let ((), reports) = rt.block_on(lockdep::tokio::capture_async(async move {
        // B waits for the guard blocking its worker (std channels), so A runs on the other
        // one; both workers are blocked at once (the barrier) while B downgrades.
        let both = Arc::new(Barrier::new(2));
        let (guard_tx, guard_rx) = std::sync::mpsc::channel();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let b = {
            let both = both.clone();
            tokio::spawn(async move {
                started_tx.send(()).unwrap();
                let read = match guard_rx.recv().unwrap() {
                    Ok(w) => lockdep::tokio::OwnedRwLockWriteGuard::downgrade(w),
                    Err(r) => r,
                };
                both.wait();
                done_rx.await.unwrap();
                drop(read);
            })
        };
        started_rx.recv().unwrap(); // B blocks its worker: A goes to the other
        let a = tokio::spawn(async move {
            let w = lock.clone().write_owned().await;
            if elsewhere {
                guard_tx.send(Ok(w)).ok().unwrap();
            } else {
                let r = lockdep::tokio::OwnedRwLockWriteGuard::downgrade(w);
                guard_tx.send(Err(r)).ok().unwrap();
            }
            both.wait(); // B has downgraded (posted to this stack, loaded here)
                         // Q then P was seen before: P then Q here is reported, with what A holds.
            let p = p.lock();
            drop(q.lock());
            drop(p);
            done_tx.send(()).unwrap();
        });
        a.await.unwrap();
        b.await.unwrap();
    }));
    let [r] = &reports[..] else {
        panic!("{reports:?}")
    };
    r.clone()
}

#[test]
fn an_owned_write_guard_downgraded_while_its_task_runs_elsewhere_is_a_readers() {
    for (elsewhere, name) in [
        (false, "down.posted.reference"),
        (true, "down.posted.elsewhere"),
    ] {
        let r = held_after_downgrade(elsewhere, name);
        assert_eq!(r.kind(), ReportKind::CircularDependency, "{r}");
        let text = r.to_string();
        let listed: Vec<_> = text.lines().filter(|l| l.contains(name)).collect();
        assert!(
            listed
                .iter()
                .any(|l| l.contains(&format!("({name}) [read]")))
                && !listed.iter().any(|l| l.contains(&format!("({name}),"))),
            "elsewhere: {elsewhere}: the task holds the lock as a reader:\n{r}"
        );
    }
}
