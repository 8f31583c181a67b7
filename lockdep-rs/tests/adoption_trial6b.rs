//! Adoption trial 6, parking_lot and std users (log4rs, tracing-appender; see the README's
//! "Real crates, switched"). No false report was found: both suites were silent, and so were
//! probes of each crate's own locks. log4rs runs its users' code under an appender's writer
//! lock (a record's arguments are formatted into the file under it), and a probe of that gave
//! two true reports, reduced here with the report asserted: a `Display` that takes a lock the
//! caller holds while logging (`CircularDependency`; the published crate hangs), and a
//! `Display` that logs (`RecursiveLocking`, lockdep's self-deadlock panic instead of the hang;
//! log4rs issue #443). log4rs's own nesting (the writer, then its policy's locks, a condvar
//! waited on under the writer) and tracing-appender's shared appenders are kept as regression
//! tests that they stay silent; a non-blocking writer's full channel, a blocking send under a
//! lock its worker needs, goes unseen: a `limit_` test.
#![cfg(lockdep_enabled)]

use std::fmt;
use std::time::Duration;

use lockdep::stdsync;
use lockdep::{Condvar, Mutex, ReportKind};

mod common;
use common::{describe, expect_circular, expect_one};

// ---------------------------------------------------------------------------------------
// log4rs 1.4.0: the writer lock held while a record is formatted
// ---------------------------------------------------------------------------------------

/// log4rs's `RollingFileAppender::append` (and `FileAppender::append`), reduced: the
/// appender's writer (a parking_lot `Mutex`) is taken, then the record is encoded into it, which
/// formats the record's arguments: the caller's `Display` impls run under the writer lock.
fn append(writer: &Mutex<Vec<String>>, args: fmt::Arguments<'_>) {
    let mut w = writer.lock(); // `self.writer.lock()`
    w.push(args.to_string()); // `self.encoder.encode(log_writer, record)`
}

/// A value whose `Display` takes a lock of its owner's.
struct Shown<'a>(&'a Mutex<u64>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = *self.0.lock();
        write!(f, "shown {v}")
    }
}

/// log4rs 1.4.0 (kinds `parking_lot` and `parking_lot+std`, feature `background_rotation`):
/// a thread that holds its lock `U` while it logs takes `U`, then each appender's writer; a
/// thread logging a value whose `Display` takes `U` (`info!("{}", shown)`) takes the writer,
/// then `U`. With both at once, each waits for the other's lock: the published crate hangs so
/// (trial 6's probe, one thread of each kind on a rolling, a time-rolled and a plain file
/// appender: hung in 3 runs of 3, under gdb one thread in `Shown::fmt` waiting for `U` under
/// `rolling_file/mod.rs:167`'s writer, the other holding `U`, waiting for that writer). A true
/// report (the switched probe got it for both writer classes, the rolling and the plain
/// appender's, and then hung as well). Here the two orders one after the other: no hang.
#[test]
fn log4rs_a_display_taking_a_lock_held_while_logging_is_reported() {
    let writer = Mutex::named("trial6b.log4rs.writer", Vec::new());
    let user = Mutex::named("trial6b.log4rs.user", 0u64);
    let ((), reports) = lockdep::capture(|| {
        {
            // `let g = u.lock(); info!("holding the user's lock")`
            let mut g = user.lock();
            *g += 1;
            append(&writer, format_args!("holding the user's lock"));
        }
        // `info!("{}", Shown(&u))`
        append(&writer, format_args!("{}", Shown(&user)));
    });
    expect_circular(
        "log4rs Display under the writer",
        &reports,
        "trial6b.log4rs.user",
        "trial6b.log4rs.writer",
        &[
            "trial6b.log4rs.user".to_owned(),
            "trial6b.log4rs.writer".to_owned(),
        ],
    );
}

/// log4rs 1.4.0: a value whose `Display` logs (estk/log4rs#443, open: "use parking_lot::
/// ReentrantMutex instead of parking_lot::Mutex to avoid deadlock"): formatting it under the
/// writer lock logs, and the same appender takes its writer again. The published crate hangs
/// at once (trial 6's probe, 3 runs of 3); switched, lockdep reports `RecursiveLocking` and
/// panics instead (the thread holds that very lock: a certain self-deadlock).
#[test]
fn log4rs_a_display_that_logs_is_recursive_locking() {
    let _watchdog = common::watchdog("log4rs_a_display_that_logs", 60);
    let writer = Mutex::named("trial6b.log4rs.reentrant.writer", Vec::new());
    struct Noisy<'a>(&'a Mutex<Vec<String>>);
    impl fmt::Display for Noisy<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            append(self.0, format_args!("logged while formatting")); // `info!(..)`
            write!(f, "noisy")
        }
    }
    let (result, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            append(&writer, format_args!("value: {}", Noisy(&writer)));
        }))
    });
    let panic = result.expect_err("the second acquisition should have been stopped");
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(text.contains("certain self-deadlock"), "{text}");
    expect_one(
        "log4rs Display that logs",
        &reports,
        ReportKind::RecursiveLocking,
        &["trial6b.log4rs.reentrant.writer".to_owned()],
    );
}

/// log4rs 1.4.0's own nesting, silent: a `RollingFileAppender`'s `append` holds the writer
/// while its `CompoundPolicy` asks the trigger (a `TimeTrigger`'s `Once` runs `refresh_time`,
/// which writes its `std::sync::RwLock`; each check reads it, then writes it when due) and
/// rolls: `FixedWindowRoller::roll` with `background_rotation` takes its `Mutex<bool>` under the
/// writer, waits on its `Condvar` while a previous rotation runs, sets it false and starts a
/// rotation thread, which takes the `Mutex<bool>` alone, rotates, sets it true and notifies.
/// No lock is taken in the opposite order and the waker needs nothing the waiter holds: the
/// suite and a probe (8 threads logging to a size-rolled, a time-rolled and a plain file
/// appender for 4 s while the configuration was replaced every 250 ms) recorded writer ->
/// `Once` -> `RwLock`, writer -> `RwLock`, writer -> `Mutex<bool>`, writer -> the condvar:
/// silent, and rightly. Here: 3 threads, each appending 30 times to one appender.
#[test]
fn log4rs_rolling_appender_policy_under_the_writer_is_silent() {
    let _watchdog = common::watchdog("log4rs_rolling_appender_policy", 120);
    struct Appender {
        writer: Mutex<u64>,
        initial: stdsync::Once,
        next_roll: stdsync::RwLock<u64>,
        cond: std::sync::Arc<(Mutex<bool>, Condvar)>,
        rotations: Mutex<Vec<lockdep::thread::JoinHandle<()>>>,
    }
    let app = Appender {
        writer: Mutex::named("trial6b.log4rs.policy.writer", 0),
        initial: stdsync::Once::new(),
        next_roll: stdsync::RwLock::new(0),
        cond: std::sync::Arc::new((
            Mutex::named("trial6b.log4rs.policy.ready", true),
            Condvar::new(),
        )),
        rotations: Mutex::named("trial6b.log4rs.policy.rotations", Vec::new()),
    };
    let append = |app: &Appender| {
        let mut w = app.writer.lock();
        *w += 1;
        // `TimeTrigger::trigger`
        app.initial
            .call_once(|| *app.next_roll.write().unwrap() = 3);
        let due = *w >= *app.next_roll.read().unwrap();
        if due {
            *app.next_roll.write().unwrap() = *w + 3; // `refresh_time`
                                                      // `FixedWindowRoller::roll` (`background_rotation`)
            let (lock, cvar) = &*app.cond;
            let mut ready = lock.lock();
            if !*ready {
                cvar.wait(&mut ready);
            }
            *ready = false;
            drop(ready);
            let cond = app.cond.clone();
            let h = lockdep::thread::spawn(move || {
                let (lock, cvar) = &*cond;
                let mut ready = lock.lock();
                std::thread::sleep(Duration::from_micros(200)); // `rotate(..)`
                *ready = true;
                cvar.notify_one();
            });
            app.rotations.lock().push(h);
        }
    };
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..30 {
                        append(&app);
                    }
                });
            }
        });
        let handles = std::mem::take(&mut *app.rotations.lock());
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

// ---------------------------------------------------------------------------------------
// tracing-appender 0.2.5: shared rolling appenders, silent; a full channel, unseen
// ---------------------------------------------------------------------------------------

/// tracing-appender's `sync::RwLock::new` wrapper (the crate's own, over std's): every
/// appender's file lock is built there, so all are one class.
fn file_lock(name: &str) -> stdsync::RwLock<String> {
    stdsync::RwLock::new(name.to_owned())
}

/// tracing-appender 0.2.5 (kinds `std` and `std+thread`): `RollingFileAppender::make_writer`
/// writes its file lock when the period rolls over (a new file), then returns a
/// `RollingWriter` holding it for read while the line is written. A fmt layer whose writer is
/// `a.and(b)` (tracing-subscriber's `Tee`) holds `a`'s guard while it makes `b`'s writer: `a`
/// read, then `b` written on `b`'s rollover and read; one class (the wrapper), so their order
/// is checked per instance under the `drop-in` policy. The suites and a probe (8 threads
/// through a layer on `a`, a layer on `a.and(b)` and a layer on two non-blocking writers over
/// two more appenders, across a minute's rollover of all four, each thread also starting and
/// dropping a non-blocking writer of its own every 50 events) recorded 2 classes, no edge and
/// that one instance order: silent, and rightly. Here: three threads through `a.and(b)` and
/// `a`, rolling `b` over under `a`'s guard, under the lenient policy (in a child process, as
/// `adoption_trial3.rs` does). Under the strict policy the two appenders nested are one class
/// taken twice: `RecursiveLocking`, the wrapper idiom the policy exists for (quick_cache's).
fn tee_of_two_appenders() -> Vec<lockdep::Report> {
    let a = file_lock("a");
    let b = file_lock("b");
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            for t in 0..3 {
                let (a, b) = (&a, &b);
                s.spawn(move || {
                    for i in 0..50 {
                        // `Tee::make_writer`: `a`'s writer, then `b`'s (rolled over first)
                        let ga = a.read().unwrap();
                        if (i + t) % 10 == 0 {
                            b.write().unwrap().push('.'); // `refresh_writer`
                        }
                        let gb = b.read().unwrap();
                        assert!(!ga.is_empty() && !gb.is_empty());
                        drop((gb, ga));
                        // the layer on `a` alone, rolling it over
                        if i % 10 == 0 {
                            a.write().unwrap().push('.');
                        }
                        let _ga = a.read().unwrap();
                    }
                });
            }
        });
    });
    reports
}

#[test]
fn tracing_appender_tee_of_two_appenders_is_silent() {
    if !common::in_child("tracing_appender_tee_of_two_appenders_is_silent", "lenient") {
        return;
    }
    let reports = tee_of_two_appenders();
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// The same under the strict policy: `RecursiveLocking` on the wrapper's class (`a` read, then
/// `b` read or written, one class).
#[test]
fn tracing_appender_tee_is_recursive_locking_under_the_strict_policy() {
    if !common::in_child(
        "tracing_appender_tee_is_recursive_locking_under_the_strict_policy",
        "strict",
    ) {
        return;
    }
    let reports = tee_of_two_appenders();
    assert!(
        !reports.is_empty()
            && reports
                .iter()
                .all(|r| r.kind() == ReportKind::RecursiveLocking
                    && r.class_names()
                        .iter()
                        .all(|c| c.contains("adoption_trial6b.rs:"))),
        "{}",
        describe(&reports)
    );
}

/// tracing-appender 0.2.5's non-blocking writer in its blocking mode (`lossy(false)`): each
/// line is sent into a bounded channel (`buffered_lines_limit`) that a worker thread drains into
/// the inner writer. With a writer that takes a lock `L` of its user's, and the user holding `L`
/// while it logs, the send blocks on a full channel while the worker waits for `L`: a real
/// deadlock (trial 6's probe, a buffer of 1 line: the published crate hung in 3 runs of 3, and
/// the switched crate hung too, with no report). The send blocks in the channel, not on a lock:
/// lockdep sees the worker take `L` with nothing held and the user hold `L`, no wait between.
/// The receive side of this limit is trial 5's
/// `limit_a_channel_receive_under_a_lock_its_sender_needs_is_not_seen`. Here the channel is
/// std's `sync_channel(1)`; the worker releases the receiver between receives, so that a third
/// thread can drop it after 200 ms, which ends the blocked send (an error) and the deadlock.
/// Limit: today no report; right: a `CircularWait` (the sender waits for the receiver while
/// holding `L`, which the receiver takes before it receives again), as for a `Condvar` wait; it
/// would need the channel to arm and signal a `lockdep::Event` around its park.
#[test]
fn limit_a_blocking_send_under_a_lock_its_worker_needs_is_not_seen() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{sync_channel, RecvTimeoutError};
    let _watchdog = common::watchdog("limit_a_blocking_send_under_a_lock", 60);
    let l = Mutex::named("trial6b.appender.user_writer", Vec::<u32>::new());
    let (tx, rx) = sync_channel::<u32>(1);
    // a std Mutex (not validated): only the test's way to end the deadlock
    let slot = std::sync::Mutex::new(Some(rx));
    let worker_waits = AtomicBool::new(false);
    let (blocked_send_failed, reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| loop {
                // `Worker::work`: receive a line, write it to the user's writer
                let line = {
                    let slot = slot.lock().unwrap();
                    let Some(rx) = slot.as_ref() else { return };
                    match rx.recv_timeout(Duration::from_millis(10)) {
                        Ok(line) => line,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                };
                worker_waits.store(true, Ordering::SeqCst);
                l.lock().push(line); // `UserWriter::write`: blocks while the user holds `L`
            });
            let g = l.lock(); // the user holds `L` while it logs
            tx.send(1).unwrap(); // the worker takes it, then waits for `L`
            while !worker_waits.load(Ordering::SeqCst) {
                lockdep::thread::yield_now();
            }
            tx.send(2).unwrap(); // fills the channel
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                slot.lock().unwrap().take(); // the receiver dropped: the send below fails
            });
            let failed = tx.send(3).is_err(); // blocks on the full channel, under `L`
            drop(g);
            failed
        })
    });
    assert!(
        blocked_send_failed,
        "the send under `L` was expected to block until the receiver was dropped"
    );
    assert!(reports.is_empty(), "{}", describe(&reports));
}
