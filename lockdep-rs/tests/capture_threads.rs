//! `capture` sees the reports of the threads it starts through `lockdep::thread` (issue 13:
//! a cycle found on worker threads used to return no reports, and the test passed).
#![cfg(lockdep_enabled)]

use std::sync::Arc;

use lockdep::{Mutex, ReportKind};

#[test]
fn a_cycle_found_on_spawned_workers_belongs_to_the_capture() {
    let locks = Arc::new((Mutex::named("cap.A", ()), Mutex::named("cap.B", ())));
    let (_, reports) = lockdep::capture(|| {
        let l = locks.clone();
        lockdep::thread::spawn(move || drop((l.0.lock(), l.1.lock())))
            .join()
            .unwrap();
        let l = locks.clone();
        lockdep::thread::spawn(move || {
            let _b = l.1.lock();
            let _a = l.0.lock();
        })
        .join()
        .unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    assert_eq!(reports[0].class_names(), ["cap.A", "cap.B"]);
    // Shown by the test that started the worker.
    assert!(
        reports[0]
            .thread()
            .starts_with("a_cycle_found_on_spawned_workers_belongs_to_the_capture>worker/"),
        "{}",
        reports[0].thread()
    );
}

#[test]
fn a_cycle_found_on_scoped_workers_belongs_to_the_capture() {
    let (a, b) = (Mutex::named("scap.A", ()), Mutex::named("scap.B", ()));
    let (_, reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| drop((a.lock(), b.lock()))).join().unwrap();
            // A worker of a worker reports into the same capture.
            s.spawn(|| {
                lockdep::thread::scope(|s2| {
                    s2.spawn(|| {
                        let _b = b.lock();
                        let _a = a.lock();
                    });
                })
            });
        })
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].class_names(), ["scap.A", "scap.B"]);
}

#[test]
fn nested_captures_take_their_own_workers_reports() {
    let (a, b) = (Mutex::named("ncap.A", ()), Mutex::named("ncap.B", ()));
    let (inner, outer) = lockdep::capture(|| {
        drop((a.lock(), b.lock()));
        let (_, inner) = lockdep::capture(|| {
            lockdep::thread::scope(|s| {
                s.spawn(|| {
                    let _b = b.lock();
                    let _a = a.lock();
                });
            })
        });
        inner
    });
    assert_eq!(inner.len(), 1, "{inner:?}");
    assert!(outer.is_empty(), "{outer:?}");
}
