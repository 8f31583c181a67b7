//! Conformance tests with real threads: dependencies recorded on one thread close cycles on
//! another, a consistent order stays silent under contention, `capture` is per thread, and an
//! unlock of a lock this thread does not hold is refused.
//!
//! Every test uses classes of its own (the graph is global and the tests run in parallel);
//! reports are taken with `lockdep::capture` on the thread that raises them, and the
//! assertions run on that thread (its panic is re-raised on the test thread).
#![cfg(lockdep_enabled)]

mod common;

use std::panic::resume_unwind;
use std::sync::Barrier;
use std::thread;

use common::{expect_circular, expect_kind, expect_none, watchdog, Scope};
use lockdep::{capture, Mutex, ReportKind, RwLock};

/// Joins a scoped thread, re-raising its panic (with its message) on this thread.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| resume_unwind(p))
}

/// T1 takes A then B and finishes; only then T2 takes B then A. The two threads never
/// overlap, so there is no real deadlock, but the order is inverted: T2's acquisition of A
/// while holding B is the one circular-dependency report, naming both classes.
#[test]
fn abba_across_two_sequenced_threads() {
    let s = Scope::new("threads_abba");
    let a = s.mutex("A");
    let b = s.mutex("B");
    let (na, nb) = (s.name("A"), s.name("B"));
    thread::scope(|sc| {
        join(sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _ga = a.lock();
                let _gb = b.lock();
            });
            expect_none("T1: A then B", &reports);
        }));
        join(sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _gb = b.lock();
                let _ga = a.lock();
            });
            expect_circular(
                "T2: B then A",
                &reports,
                &na,
                &nb,
                &[na.clone(), nb.clone()],
            );
        }));
    });
}

/// The same with recursive readers in both threads: two recursive readers never block each
/// other, so no report.
#[test]
fn recursive_read_abba_across_threads_is_silent() {
    let s = Scope::new("threads_rr_abba");
    let a = s.rwlock("A");
    let b = s.rwlock("B");
    thread::scope(|sc| {
        join(sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _ga = a.read_recursive();
                let _gb = b.read_recursive();
            });
            expect_none("T1", &reports);
        }));
        join(sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _gb = b.read_recursive();
                let _ga = a.read_recursive();
            });
            expect_none("T2", &reports);
        }));
    });
}

/// A three-thread cycle: T1 A->B, T2 B->C, T3 C->A (sequenced): the report is on T3.
#[test]
fn three_thread_cycle() {
    let s = Scope::new("threads_abc");
    let a = s.mutex("A");
    let b = s.mutex("B");
    let c = s.mutex("C");
    let names = s.names(&["A", "B", "C"]);
    thread::scope(|sc| {
        for (x, y) in [(&a, &b), (&b, &c)] {
            join(sc.spawn(move || {
                let (_, reports) = capture(|| {
                    let _gx = x.lock();
                    let _gy = y.lock();
                });
                expect_none("first two threads", &reports);
            }));
        }
        join(sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _gc = c.lock();
                let _ga = a.lock();
            });
            expect_circular("T3: C then A", &reports, &names[0], &names[2], &names);
        }));
    });
}

/// 8 threads, many iterations each, real contention, one consistent order A < B < C (with
/// readers and writers of B, try-locks of C and threads that skip A or B): no report, and the
/// protected counters add up.
#[test]
fn many_threads_consistent_order_is_silent() {
    let _w = watchdog("many_threads_consistent_order_is_silent", 120);
    const THREADS: usize = 8;
    const ITERS: u64 = 2_000;
    let s = Scope::new("threads_many");
    let a = Mutex::with_class(s.class("A"), 0u64);
    let b = RwLock::with_class(s.class("B"), 0u64);
    let c = Mutex::with_class(s.class("C"), 0u64);
    let start = Barrier::new(THREADS);
    thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (a, b, c, start) = (&a, &b, &c, &start);
                sc.spawn(move || {
                    let (_, reports) = capture(|| {
                        start.wait();
                        for i in 0..ITERS {
                            match (i + t as u64) % 5 {
                                0 => {
                                    let mut ga = a.lock();
                                    let mut gb = b.write();
                                    let mut gc = c.lock();
                                    *ga += 1;
                                    *gb += 1;
                                    *gc += 1;
                                }
                                1 => {
                                    let _gb = b.read();
                                    let mut gc = c.lock();
                                    *gc += 1;
                                }
                                2 => {
                                    let mut ga = a.lock();
                                    let _gb = b.read_recursive();
                                    if let Some(mut gc) = c.try_lock() {
                                        *gc += 1;
                                    } else {
                                        *c.lock() += 1;
                                    }
                                    *ga += 1;
                                }
                                3 => {
                                    let mut ga = a.lock();
                                    let mut gc = c.lock();
                                    *ga += 1;
                                    *gc += 1;
                                }
                                _ => {
                                    *c.lock() += 1;
                                }
                            }
                        }
                    });
                    expect_none(&format!("thread {t}"), &reports);
                })
            })
            .collect();
        for h in handles {
            join(h);
        }
    });
    let per_cycle_c = 5u64; // every branch adds one to C
    assert_eq!(*c.lock(), THREADS as u64 * ITERS / 5 * per_cycle_c);
    assert_eq!(*a.lock(), THREADS as u64 * ITERS / 5 * 3);
    assert_eq!(*b.read(), THREADS as u64 * ITERS / 5);
}

/// Several threads produce reports at the same time, each inside its own capture; each sees
/// exactly its own report, a clean thread sees none, and the capture of the thread that
/// spawned them all sees none.
#[test]
fn capture_is_per_thread() {
    let _w = watchdog("capture_is_per_thread", 60);
    const N: usize = 6;
    let scopes: Vec<Scope> = (0..N)
        .map(|i| Scope::new(format!("threads_iso{i}")))
        .collect();
    let pairs: Vec<(Mutex<()>, Mutex<()>)> = scopes
        .iter()
        .map(|s| (s.mutex("A"), s.mutex("B")))
        .collect();
    let names: Vec<(String, String)> = scopes.iter().map(|s| (s.name("A"), s.name("B"))).collect();
    let clean_scope = Scope::new("threads_iso_clean");
    let clean = (clean_scope.mutex("A"), clean_scope.mutex("B"));
    let all_names: Vec<String> = names
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let barrier = Barrier::new(N + 1);
    let ((), outer) = capture(|| {
        thread::scope(|sc| {
            let mut handles = Vec::new();
            for i in 0..N {
                let (pair, name, barrier, all) = (&pairs[i], &names[i], &barrier, &all_names);
                handles.push(sc.spawn(move || {
                    let (_, reports) = capture(|| {
                        barrier.wait();
                        {
                            let _ga = pair.0.lock();
                            let _gb = pair.1.lock();
                        }
                        {
                            let _gb = pair.1.lock();
                            let _ga = pair.0.lock();
                        }
                        // keep this capture open until every thread has raised its report
                        barrier.wait();
                    });
                    expect_circular(
                        &format!("thread {i}"),
                        &reports,
                        &name.0,
                        &name.1,
                        &[name.0.clone(), name.1.clone()],
                    );
                    let got = reports[0].class_names();
                    for other in all {
                        if other != &name.0 && other != &name.1 {
                            assert!(
                                !got.contains(other),
                                "thread {i} saw another thread's class {other}: {got:?}"
                            );
                        }
                    }
                }));
            }
            let (clean, barrier) = (&clean, &barrier);
            handles.push(sc.spawn(move || {
                let (_, reports) = capture(|| {
                    barrier.wait();
                    for _ in 0..2 {
                        let _ga = clean.0.lock();
                        let _gb = clean.1.lock();
                    }
                    barrier.wait();
                });
                expect_none("clean thread", &reports);
            }));
            for h in handles {
                join(h);
            }
        });
    });
    expect_none("the spawning thread's capture", &outer);
}

// =======================================================================================
// force_unlock of a lock this thread does not hold: BadUnlockBalance, lock untouched.
// =======================================================================================

#[test]
fn force_unlock_of_free_mutex_is_refused() {
    let _w = watchdog("force_unlock_of_free_mutex_is_refused", 60);
    let s = Scope::new("force_free_mutex");
    let m = s.mutex("M");
    let (_, reports) = capture(|| {
        // SAFETY: validation is on: the unheld unlock is refused and reported.
        unsafe { m.force_unlock() };
    });
    expect_kind(
        "force_unlock of a free mutex",
        &reports,
        ReportKind::BadUnlockBalance,
        &s.names(&["M"]),
    );
    // Still unlocked, and works normally.
    assert!(m.try_lock().is_some(), "mutex must still be free");
    let (_, reports) = capture(|| drop(m.lock()));
    expect_none("lock after the refused unlock", &reports);
}

#[test]
fn force_unlock_of_mutex_held_by_another_thread_is_refused() {
    let _w = watchdog(
        "force_unlock_of_mutex_held_by_another_thread_is_refused",
        60,
    );
    let s = Scope::new("force_other_mutex");
    let m = s.mutex("M");
    let names = s.names(&["M"]);
    let sync = Barrier::new(2);
    thread::scope(|sc| {
        let holder = sc.spawn(|| {
            let (_, reports) = capture(|| {
                let _g = m.lock();
                sync.wait(); // locked
                sync.wait(); // the other thread is done
            });
            expect_none("holder", &reports);
        });
        sync.wait();
        let (_, reports) = capture(|| {
            // SAFETY: validation is on: the unheld unlock is refused and reported.
            unsafe { m.force_unlock() };
        });
        let still_locked = m.try_lock().is_none();
        sync.wait();
        join(holder);
        expect_kind(
            "force_unlock of another thread's mutex",
            &reports,
            ReportKind::BadUnlockBalance,
            &names,
        );
        assert!(still_locked, "the holder's lock must stay locked");
    });
    assert!(m.try_lock().is_some(), "released by its holder");
}

#[test]
fn force_unlock_of_rwlock_held_by_another_thread_is_refused() {
    let _w = watchdog(
        "force_unlock_of_rwlock_held_by_another_thread_is_refused",
        60,
    );
    let s = Scope::new("force_other_rwlock");
    let l = s.rwlock("L");
    let names = s.names(&["L"]);
    // The other thread holds a write lock; we try force_unlock_write and force_unlock_read.
    // Then it holds a read lock; we try force_unlock_read.
    let sync = Barrier::new(2);
    thread::scope(|sc| {
        let holder = sc.spawn(|| {
            let (_, reports) = capture(|| {
                {
                    let _g = l.write();
                    sync.wait();
                    sync.wait();
                }
                {
                    let _g = l.read();
                    sync.wait();
                    sync.wait();
                }
            });
            expect_none("holder", &reports);
        });
        sync.wait();
        let (_, w_reports) = capture(|| {
            // SAFETY: validation is on: the unheld unlock is refused and reported.
            unsafe { l.force_unlock_write() };
        });
        let (_, r_reports) = capture(|| {
            // SAFETY: as above.
            unsafe { l.force_unlock_read() };
        });
        let write_still_held = l.try_read().is_none();
        sync.wait();
        sync.wait();
        let (_, r2_reports) = capture(|| {
            // SAFETY: as above.
            unsafe { l.force_unlock_read() };
        });
        let read_still_held = l.try_write().is_none();
        sync.wait();
        join(holder);
        expect_kind(
            "force_unlock_write of another thread's write lock",
            &w_reports,
            ReportKind::BadUnlockBalance,
            &names,
        );
        expect_kind(
            "force_unlock_read of another thread's write lock",
            &r_reports,
            ReportKind::BadUnlockBalance,
            &names,
        );
        expect_kind(
            "force_unlock_read of another thread's read lock",
            &r2_reports,
            ReportKind::BadUnlockBalance,
            &names,
        );
        assert!(write_still_held, "the write lock must stay held");
        assert!(read_still_held, "the read lock must stay held");
    });
    assert!(l.try_write().is_some(), "released by its holder");
}

/// force_unlock of a lock this thread holds (its guard leaked) releases both the lock and the
/// validator's record: no report, and taking the lock again is no recursion.
#[test]
fn force_unlock_of_held_lock_releases_it() {
    let _w = watchdog("force_unlock_of_held_lock_releases_it", 60);
    let s = Scope::new("force_held");
    let m = s.mutex("M");
    let l = s.rwlock("L");
    let (_, reports) = capture(|| {
        std::mem::forget(m.lock());
        // SAFETY: this thread holds m and its guard is gone.
        unsafe { m.force_unlock() };
        std::mem::forget(l.read());
        // SAFETY: this thread holds a read lock of l and its guard is gone.
        unsafe { l.force_unlock_read() };
        std::mem::forget(l.write());
        // SAFETY: this thread holds l for writing and its guard is gone.
        unsafe { l.force_unlock_write() };
        drop(m.lock());
        drop(l.write());
    });
    expect_none("force_unlock of held locks", &reports);
    thread::scope(|sc| {
        assert!(join(sc.spawn(|| m.try_lock().is_some())), "m is free");
        assert!(join(sc.spawn(|| l.try_write().is_some())), "l is free");
    });
}
