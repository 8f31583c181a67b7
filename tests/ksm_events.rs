//! The `KSM_RUN_OFFLINE` bit as a lockdep event, and the naive pseudo-lock annotation.
//!
//! Every kernel with the bit annotates it as a `lockdep::Event`: the offliner arms it at
//! `MEM_GOING_OFFLINE`, signals it at `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE` right after the
//! clear, and `wait_on_bit()` waits for it just before sleeping. The fix's waiters hold nothing
//! the offliner needs, so lockdep stays silent; `WaitUnderMutex`'s ksmd holds
//! `ksm_thread_mutex`, which the offliner takes while armed: a circular wait. The naive
//! annotation, a pseudo-lock held by the offliner across the notifications, brings back the
//! original false positive on a workload where the event model is silent.
//!
//! Each test boots its own kernels. Lock classes are shared by all kernels of a design, and a
//! cycle may be found from either end depending on which run recorded which edge first: the
//! `NaivePseudoLock` runs are all in one test, and the `WaitUnderMutex` ones take [`serial`].
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario;
use ksm_model::{
    Actor, Config, Design, Errno, Kernel, KsmdStep, MemAction, Migration, NotifierBlock, Point,
    Violation, KSM_RUN_MERGE,
};
use lockdep::{Report, ReportKind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Serialises the tests that run `WaitUnderMutex`.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn show(reports: &[Report]) -> String {
    let reports: Vec<String> = reports.iter().map(Report::to_string).collect();
    reports.join("\n")
}

fn sorted_classes(report: &Report) -> Vec<String> {
    let mut classes = report.class_names();
    classes.sort();
    classes
}

fn edge(from: &str, to: &str, types: &str) -> (String, String, String) {
    (from.to_string(), to.to_string(), types.to_string())
}

/// Polls `done` every millisecond for at most two seconds.
fn within_2s(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

fn actor<R: Send + 'static>(
    kernel: &Arc<Kernel>,
    f: impl FnOnce(&Kernel) -> R + Send + 'static,
) -> JoinHandle<(R, Vec<Report>)> {
    let kernel = Arc::clone(kernel);
    thread::spawn(move || lockdep::capture(|| f(&kernel)))
}

/// Joins an actor that must end by itself; if it does not, releases it (gives up every bit
/// wait) so the test fails instead of hanging.
fn join_bounded<R>(kernel: &Kernel, handle: JoinHandle<(R, Vec<Report>)>) -> (R, Vec<Report>) {
    let ended = within_2s(|| handle.is_finished());
    if !ended {
        kernel.abort_bit_waits();
    }
    let ret = handle.join().expect("actor panicked");
    assert!(ended, "an actor stayed asleep on KSM_RUN_OFFLINE");
    ret
}

/// The fix, with both kinds of waiter asleep on the bit inside the window: ksmd (holding
/// nothing) and `echo 0 > run` (holding only its own sysfs locks). Nothing leads from the
/// event back to what they hold, so no report, and the offliner's clear wakes both.
fn run_offline_with_two_sleepers(migration: Migration) {
    let kernel = Arc::new(Kernel::new(Design::RunOffline, Config::default()));
    let ((), reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE).unwrap());
    assert!(reports.is_empty(), "{}", show(&reports));
    let mut sleepers = Vec::new();
    let mut armed_in_window = false;
    let (ret, mut reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, migration, &mut |point| {
            if point == (Point::OfflineCancelled { block: 1 }) {
                return;
            }
            assert_eq!(point, Point::OfflineMigrating { block: 1 });
            armed_in_window = kernel.run_offline_armed();
            sleepers.push(actor(&kernel, |k| {
                let step = k.ksmd_scan_step();
                (step, Ok(()))
            }));
            sleepers.push(actor(&kernel, |k| (KsmdStep::Idle, k.run_store(0))));
            assert!(
                within_2s(|| kernel.bit_waiters() == 2),
                "the waiters did not both go to sleep on the bit"
            );
        })
    });
    assert!(
        armed_in_window,
        "MEM_GOING_OFFLINE did not arm KSM_RUN_OFFLINE"
    );
    assert!(!kernel.run_offline_armed(), "the offliner did not signal");
    let results: Vec<(KsmdStep, Result<(), Errno>)> = sleepers
        .into_iter()
        .map(|handle| {
            let (ret, more) = join_bounded(&kernel, handle);
            reports.extend(more);
            ret
        })
        .collect();
    assert!(reports.is_empty(), "{}", show(&reports));
    // ksmd scans, or finds `run` already stopped if the store won the race after the wake-up;
    // either way it was woken, not given up.
    assert_ne!(results[0].0, KsmdStep::GaveUp);
    assert_eq!(results[1], (KsmdStep::Idle, Ok(())));
    assert_eq!(kernel.violations(), []);
    assert_eq!(kernel.bit_waiters(), 0);
    match migration {
        Migration::Succeed => assert_eq!(ret, Ok(())),
        Migration::Fail => assert_eq!(ret, Err(Errno::Busy)),
    }
}

#[test]
fn run_offline_waiters_hold_nothing_so_the_event_is_silent() {
    run_offline_with_two_sleepers(Migration::Succeed);
}

#[test]
fn run_offline_cancel_signals_and_stays_silent() {
    run_offline_with_two_sleepers(Migration::Fail);
}

/// ksmd waits for the bit holding `ksm_thread_mutex`; the offliner took that mutex after
/// arming the event (to set the bit at `MEM_GOING_OFFLINE`). Lockdep reports the circular
/// wait as ksmd is about to sleep, from the order alone: `ksm_thread_mutex` -> event ->
/// `ksm_thread_mutex`. When the offliner then reaches `MEM_OFFLINE` (after the watchdog gave
/// ksmd up), it may report the same deadlock once more from its side, through
/// `(memory_chain).rwsem` (armed, it takes the rwsem, then the mutex under it); nothing else.
#[test]
fn wait_under_mutex_is_a_circular_wait_through_the_event() {
    let _serial = serial();
    let out = scenario::window_scan(Design::WaitUnderMutex);
    assert_eq!(
        out.violations,
        [Violation::HungTask {
            actor: Actor::Ksmd,
            holding: Some("ksm_thread_mutex")
        }],
        "{}",
        out
    );
    assert_eq!(out.hung_waits, 1, "{}", out);
    assert!(
        out.reports
            .iter()
            .all(|r| r.kind() == ReportKind::CircularWait),
        "{}",
        out
    );
    let waiter: Vec<&Report> = out
        .reports
        .iter()
        .filter(|r| r.acquiring().as_deref() == Some("KSM_RUN_OFFLINE"))
        .collect();
    assert_eq!(waiter.len(), 1, "{}", out);
    let report = waiter[0];
    assert_eq!(report.holding().as_deref(), Some("ksm_thread_mutex"));
    assert_eq!(
        sorted_classes(report),
        ["KSM_RUN_OFFLINE", "ksm_thread_mutex"]
    );
    assert_eq!(
        report.cycle(),
        [
            edge("ksm_thread_mutex", "KSM_RUN_OFFLINE", "EN"),
            edge("KSM_RUN_OFFLINE", "ksm_thread_mutex", "SN"),
        ]
    );
    assert_eq!(report.held_locks(), ["ksm_thread_mutex"]);
    assert!(report.gates().is_empty(), "{:?}", report.gates());
    let text = report.to_string();
    assert!(
        text.contains("WARNING: possible deadlock: a waiter holds a lock its waker needs"),
        "{text}"
    );
    for other in out.reports.iter().filter(|r| !std::ptr::eq(*r, report)) {
        assert_eq!(other.acquiring().as_deref(), Some("(memory_chain).rwsem"));
        assert_eq!(other.holding().as_deref(), Some("KSM_RUN_OFFLINE"));
        assert_eq!(
            sorted_classes(other),
            [
                "(memory_chain).rwsem",
                "KSM_RUN_OFFLINE",
                "ksm_thread_mutex"
            ]
        );
        assert!(other.gates().is_empty(), "{:?}", other.gates());
    }
    assert!(out.reports.len() <= 2, "{}", out);
}

/// The naive annotation: a pseudo-lock held by the offliner from `MEM_GOING_OFFLINE` to
/// `MEM_OFFLINE` is the pre-fix mutex again, as far as lockdep can tell: the original false
/// positive through `(memory_chain).rwsem`, found at the second notification of the first
/// offline. The same run also arms, signals and waits for the `KSM_RUN_OFFLINE` event, which
/// reports nothing.
///
/// Every `NaivePseudoLock` run of this binary is in this one test, first run first: a run of
/// the design in another test could record the cycle's closing edge before this run's
/// `MEM_GOING_OFFLINE`, which would then find the cycle from its other end.
#[test]
fn naive_pseudo_lock_reproduces_the_original_false_positive() {
    let out = scenario::before_after(Design::NaivePseudoLock);
    assert_eq!(out.reports.len(), 1, "{}", out);
    assert!(out.reports_of(ReportKind::CircularWait).is_empty());
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::CircularDependency, "{report}");
    assert_eq!(report.acquiring().as_deref(), Some("(memory_chain).rwsem"));
    assert_eq!(report.holding().as_deref(), Some("ksm_offline_window"));
    assert_eq!(
        sorted_classes(report),
        ["(memory_chain).rwsem", "ksm_offline_window"]
    );
    assert_eq!(report.cycle(), naive_cycle());
    // The 2012 splat's held locks, with the pseudo-lock in the mutex's place (and the armed
    // event under it).
    assert_eq!(
        report.held_locks(),
        [
            "&buffer->mutex",
            "s_active#53",
            "&mem->state_mutex",
            "mem_hotplug_mutex",
            "pm_mutex",
            "KSM_RUN_OFFLINE",
            "ksm_offline_window",
        ]
    );
    // A false positive: nothing went wrong.
    assert!(out.violations.is_empty(), "{}", out);
    assert!(out.ksmd_progressed, "{}", out);
    assert_eq!(out.hung_waits, 0);

    // With ksmd asleep in the window: the waiter side of the annotation (`might_acquire`,
    // nothing held) adds nothing. Still only the false positive (from whichever end this
    // run's acquisitions found it), and no circular wait.
    let out = scenario::window_scan(Design::NaivePseudoLock);
    assert!(!out.reports.is_empty(), "{}", out);
    for report in &out.reports {
        assert_eq!(report.kind(), ReportKind::CircularDependency, "{report}");
        assert_eq!(
            sorted_classes(report),
            ["(memory_chain).rwsem", "ksm_offline_window"]
        );
    }
    assert!(out.violations.is_empty(), "{}", out);
    assert_eq!(out.hung_waits, 0);
    assert!(out.notes.iter().any(|n| n.contains("Scanned")), "{}", out);

    // Every way an offline ends releases the pseudo-lock, and only if it was taken.
    offliner_leaves_nothing_armed(Design::NaivePseudoLock);
}

/// The naive annotation's cycle, closing edge first.
fn naive_cycle() -> [(String, String, String); 2] {
    [
        edge("ksm_offline_window", "(memory_chain).rwsem", "EN"),
        edge("(memory_chain).rwsem", "ksm_offline_window", "SN"),
    ]
}

/// The event model alone (the fix as shipped, annotated) on the same workload: silent.
#[test]
fn the_event_model_is_silent_on_the_same_workload() {
    let out = scenario::before_after(Design::RunOffline);
    assert!(out.reports.is_empty(), "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
    assert!(out.ksmd_progressed);
}

/// Whatever way an offline ends — success, failed migration, a veto before KSM's callback
/// (priority 200), a veto after it (priority 50) — the offliner leaves nothing armed or held:
/// every `MEM_GOING_OFFLINE` that armed the event is followed by a signal on the same thread
/// (a thread exiting armed would get a `LocksHeldAtExit` report), and a `MEM_CANCEL_OFFLINE`
/// that never armed signals nothing (and releases no pseudo-lock it never took). Inside the
/// window the event is armed (and the pseudo-lock held, for the naive annotation).
fn offliner_leaves_nothing_armed(design: Design) {
    for (case, vetoer) in [
        ("succeeds", None),
        ("migration fails", None),
        ("veto before KSM", Some(200)),
        ("veto after KSM", Some(50)),
    ] {
        let kernel = Kernel::new(design, Config::small());
        if let Some(priority) = vetoer {
            kernel.register_memory_notifier(NotifierBlock::error_inject(
                "inject",
                priority,
                &[MemAction::GoingOffline],
            ));
        }
        let migration = match case {
            "migration fails" => Migration::Fail,
            _ => Migration::Succeed,
        };
        let mut in_window = None;
        let (ret, reports) = lockdep::capture(|| {
            kernel.offline_pages_with(1, migration, &mut |point| {
                if let Point::OfflineMigrating { .. } = point {
                    in_window = Some((kernel.run_offline_armed(), kernel.offline_window_held()));
                }
            })
        });
        let what = format!("{design}, {case}");
        let expected = match case {
            "succeeds" => Ok(()),
            "migration fails" => Err(Errno::Busy),
            _ => Err(Errno::Perm),
        };
        assert_eq!(ret, expected, "{what}");
        if vetoer.is_none() {
            let naive = design == Design::NaivePseudoLock;
            assert_eq!(in_window, Some((true, naive)), "{what}");
        }
        assert!(!kernel.run_offline_armed(), "{what}: left armed");
        assert!(
            !kernel.offline_window_held(),
            "{what}: pseudo-lock left held"
        );
        // Only the designs' own cycles: the naive annotation's false positive, and
        // WaitUnderMutex's circular wait once another test has had ksmd wait under the mutex
        // (the graph is per process). Never an unbalanced release or a leak.
        for report in &reports {
            let expected = match design {
                Design::NaivePseudoLock => Some(ReportKind::CircularDependency),
                Design::WaitUnderMutex => Some(ReportKind::CircularWait),
                _ => None,
            };
            assert_eq!(Some(report.kind()), expected, "{what}:\n{report}");
        }
        assert_eq!(kernel.violations(), [], "{what}");
        assert_eq!(kernel.run_show(), 0, "{what}: KSM_RUN_OFFLINE left set");
    }
}

#[test]
fn the_offliner_always_signals() {
    let _serial = serial();
    for design in [
        Design::RunOffline,
        Design::WaitUnderMutex,
        Design::UnlockedFlag,
    ] {
        offliner_leaves_nothing_armed(design);
    }
}

/// An offliner on a thread of its own, whose offline is cancelled: it ends with nothing armed
/// (so its exit raises no `LocksHeldAtExit`) and no report under the fix.
#[test]
fn an_offliner_thread_exits_with_nothing_armed() {
    let kernel = Arc::new(Kernel::new(Design::RunOffline, Config::small()));
    let offliner = actor(&kernel, |k| {
        let ret = k.offline_pages(1, Migration::Fail);
        (ret, k.run_offline_armed())
    });
    let ((ret, armed), reports) = join_bounded(&kernel, offliner);
    assert_eq!(ret, Err(Errno::Busy));
    assert!(!armed);
    assert!(reports.is_empty(), "{}", show(&reports));
}
