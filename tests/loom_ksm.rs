//! loom model-checks the KSM designs of `ksm-model` (build with `RUSTFLAGS="--cfg loom"`; the
//! README's test command does, with `LOOM_MAX_PREEMPTIONS=2`).
//!
//! Under `cfg(loom)` lockdep's locks are loom-modelled (its `RwLock::read` waits behind a
//! waiting writer, like an rwsem) and ksm-model's threads and atomics are loom's, so loom
//! explores the interleavings of the actors while lockdep validates every acquisition. Each
//! model iteration boots a fresh [`Kernel`] and starts with `lockdep::reset()`: the dependency
//! graph is process-wide and must not carry edges from one explored interleaving into the
//! next. The tests take `SERIAL` because the graph and the mode are global.
//!
//! The fix ([`Design::RunOffline`]) and the pre-fix designs (with `mem_hotplug_mutex`) must
//! survive every interleaving; the broken variants must fail in some interleaving, and the
//! tests assert that loom finds it: a real deadlock (loom's "deadlock" panic, which has to be
//! observed from a child process, see [`explore_expecting_deadlock`]) or a recorded violation.
//!
//! Not here: [`Design::UnlockedFlag`]. With a `run_store` writer next to ksmd and the offliner,
//! loom 0.7.3 reports a lost wakeup on `KSM_RUN_OFFLINE` in an execution that the C++ memory
//! model forbids (ksmd re-reads the bit after its `fence(SeqCst)` although the offliner's
//! fence, which saw no waiter, precedes it), and a three-thread program of two plain loom
//! atomics and a loom mutex reproduces it without lockdep or ksm-model; so loom's verdict on
//! that design can't be trusted either way.
#![cfg(loom)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

use ksm_model::{
    Actor, BlockState, Config, Design, Era, Errno, FrameState, Kernel, KsmdStep, Migration,
    NotifierBlock, Point, Violation, KSM_RUN_MERGE, KSM_RUN_OFFLINE, KSM_RUN_STOP,
};
use lockdep::{Mode, Report, ReportKind};
use loom::sync::Arc;
use loom::thread::{self, JoinHandle};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Set in the child process that runs a model expected to deadlock.
const CHILD_ENV: &str = "LOOM_KSM_DEADLOCK_CHILD";

/// The start of loom's panic message when every thread is blocked.
const LOOM_DEADLOCK: &str = "deadlock; threads = [";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // A deadlock in a model aborts the process (see `explore_expecting_deadlock`), and
        // libtest's captured output dies with it: write loom's message straight to stderr.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if msg.starts_with(LOOM_DEADLOCK) {
                let _ = writeln!(std::io::stderr(), "loom: {msg}");
            } else {
                default(info);
            }
        }));
    });
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Explores every interleaving of `f` (at most two preemptions unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise); returns how many iterations that took.
fn explore(f: impl Fn() + Sync + Send + 'static) -> usize {
    static ITERATIONS: StdAtomicUsize = StdAtomicUsize::new(0);
    ITERATIONS.store(0, Relaxed);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        ITERATIONS.fetch_add(1, Relaxed);
        f();
    });
    let iterations = ITERATIONS.load(Relaxed);
    eprintln!("loom: {iterations} interleavings");
    iterations
}

/// Explores `f`, which must deadlock in some interleaving, with every thread of the model
/// blocked (`blocked` of them); returns loom's panic message.
///
/// loom reports a deadlock by panicking on the blocked thread, and that panic cannot be caught
/// here: unwinding drops the lockdep guards on that thread's stack, and under loom their
/// release (`lockdep::validator::release`'s loom thread-local, `loom_locks`' loom mutex) panics
/// again once loom has no active thread, which aborts the process. So the model runs in a child
/// process (this test binary, this test only, with [`CHILD_ENV`] set), and the parent asserts
/// that the child failed with loom's deadlock message.
fn explore_expecting_deadlock(
    test: &str,
    blocked: usize,
    f: impl Fn() + Sync + Send + 'static,
) -> String {
    if std::env::var_os(CHILD_ENV).is_some() {
        let iterations = explore(f);
        eprintln!("loom explored {iterations} interleavings and found no deadlock");
        return String::new();
    }
    let out = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the child test process");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the model did not fail:\n{stderr}");
    let at = stderr
        .find(LOOM_DEADLOCK)
        .unwrap_or_else(|| panic!("the model failed, but not with a deadlock:\n{stderr}"));
    let msg = stderr[at..].lines().next().unwrap_or_default().to_string();
    assert_eq!(
        msg.matches("Blocked").count(),
        blocked,
        "not every thread of the model is blocked: {msg}"
    );
    assert!(!msg.contains("Runnable"), "{msg}");
    msg
}

/// Runs `f` on a modelled thread of its own, capturing its lockdep reports.
fn actor<R: Send + 'static>(
    kernel: &Arc<Kernel>,
    f: impl FnOnce(&Kernel) -> R + Send + 'static,
) -> JoinHandle<(R, Vec<Report>)> {
    let kernel = Arc::clone(kernel);
    thread::spawn(move || lockdep::capture(|| f(&kernel)))
}

fn join<R>(handle: JoinHandle<(R, Vec<Report>)>, reports: &mut Vec<Report>) -> R {
    let (ret, more) = handle.join().expect("actor panicked");
    reports.extend(more);
    ret
}

fn show(reports: &[Report]) -> String {
    reports
        .iter()
        .map(Report::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Boots a kernel of `era` (a design: in the release it shipped in) with KSM merging (`echo 1
/// > run`, before any other thread exists).
fn boot(era: impl Into<Era>, config: Config) -> Arc<Kernel> {
    lockdep::reset();
    let kernel = Arc::new(Kernel::boot(era.into(), config));
    let ((), reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE).unwrap());
    assert!(reports.is_empty(), "{}", show(&reports));
    kernel
}

// ---------------------------------------------------------------------------------------
// The fix: ef4d43a8's KSM_RUN_OFFLINE.

/// One offline of block 1 (`migration`) on the main thread against ksmd (two scan steps) and
/// `echo 0 > run` on threads of their own, under the fix. In every interleaving: no deadlock
/// (so every task that slept on `KSM_RUN_OFFLINE` was woken: an unwoken one would leave its
/// thread blocked and loom would report it), no lockdep report, no violation, the bit set
/// throughout the window and clear at the end, the writer's value kept. Returns (iterations,
/// iterations in which some task was asleep on the bit at migration time).
fn run_offline_against_ksmd_and_writer(migration: Migration) -> (usize, usize) {
    static SLEPT: StdAtomicUsize = StdAtomicUsize::new(0);
    SLEPT.store(0, Relaxed);
    let iterations = explore(move || {
        let kernel = boot(Design::RunOffline, Config::small());
        let ksmd = actor(&kernel, |k| [k.ksmd_scan_step(), k.ksmd_scan_step()]);
        let writer = actor(&kernel, |k| k.run_store(KSM_RUN_STOP));
        let (ret, mut reports) = lockdep::capture(|| {
            kernel.offline_pages_with(1, migration, &mut |point| {
                if point == (Point::OfflineCancelled { block: 1 }) {
                    return; // after MEM_CANCEL_OFFLINE: the window is over
                }
                assert_eq!(point, Point::OfflineMigrating { block: 1 });
                assert_ne!(
                    kernel.run_show() & KSM_RUN_OFFLINE,
                    0,
                    "KSM_RUN_OFFLINE clear inside the window"
                );
                if kernel.bit_waiters() > 0 {
                    SLEPT.fetch_add(1, Relaxed);
                }
            })
        });
        let steps = join(ksmd, &mut reports);
        let written = join(writer, &mut reports);
        assert!(reports.is_empty(), "{}", show(&reports));
        assert_eq!(kernel.violations(), []);
        assert_eq!(written, Ok(()));
        assert!(!steps.contains(&KsmdStep::GaveUp), "{steps:?}");
        assert_eq!(
            kernel.run_show(),
            KSM_RUN_STOP,
            "the bit or the store was lost"
        );
        assert_eq!(kernel.bit_waiters(), 0);
        match migration {
            Migration::Succeed => {
                assert_eq!(ret, Ok(()));
                assert_eq!(kernel.block_state(1), BlockState::Offline);
            }
            Migration::Fail => {
                assert_eq!(ret, Err(Errno::Busy));
                assert_eq!(kernel.block_state(1), BlockState::Online);
            }
        }
        assert_eq!(kernel.dangling_stable_nodes(), []);
    });
    (iterations, SLEPT.load(Relaxed))
}

#[test]
fn run_offline_offline_against_ksmd_and_run_store() {
    let _s = serial();
    let (iterations, slept) = run_offline_against_ksmd_and_writer(Migration::Succeed);
    assert!(iterations > 1, "{iterations}");
    assert!(slept > 0, "no interleaving had a task asleep on the bit");
}

#[test]
fn run_offline_cancelled_offline_against_ksmd_and_run_store() {
    let _s = serial();
    let (iterations, slept) = run_offline_against_ksmd_and_writer(Migration::Fail);
    assert!(iterations > 1, "{iterations}");
    assert!(slept > 0, "no interleaving had a task asleep on the bit");
}

/// Three tasks that can sleep on `KSM_RUN_OFFLINE` at once (ksmd, `echo 0 > run`, `echo 0 >
/// merge_across_nodes`) against one offline of block 1: every one of them is woken and
/// finishes, with no report and no violation.
#[test]
fn run_offline_wakes_every_waiter() {
    let _s = serial();
    static SLEPT: StdAtomicUsize = StdAtomicUsize::new(0);
    SLEPT.store(0, Relaxed);
    let iterations = explore(|| {
        let kernel = boot(Design::RunOffline, Config::small());
        let ksmd = actor(&kernel, |k| k.ksmd_scan_step());
        let run = actor(&kernel, |k| k.run_store(KSM_RUN_STOP));
        let merge = actor(&kernel, |k| k.merge_across_nodes_store(0));
        let (ret, mut reports) = lockdep::capture(|| {
            kernel.offline_pages_with(1, Migration::Succeed, &mut |_| {
                SLEPT.fetch_max(kernel.bit_waiters(), Relaxed);
            })
        });
        let step = join(ksmd, &mut reports);
        let run = join(run, &mut reports);
        let merge = join(merge, &mut reports);
        assert!(reports.is_empty(), "{}", show(&reports));
        assert_eq!(kernel.violations(), []);
        assert_eq!(ret, Ok(()));
        assert_ne!(step, KsmdStep::GaveUp);
        assert_eq!(run, Ok(()));
        assert!(matches!(merge, Ok(()) | Err(Errno::Busy)), "{merge:?}");
        assert_eq!(kernel.run_show(), KSM_RUN_STOP);
        assert_eq!(kernel.bit_waiters(), 0);
    });
    assert!(iterations > 1, "{iterations}");
    assert!(
        SLEPT.load(Relaxed) >= 2,
        "never more than one task asleep on the bit"
    );
}

// ---------------------------------------------------------------------------------------
// KOSAKI's three actors: two offliners and a notifier registration.

/// Four blocks, so that a second offliner can get past the last-memory check while the first
/// one's block is going offline, and both offlines find room to migrate to.
fn four_blocks() -> Config {
    Config {
        blocks: 4,
        ..Config::small()
    }
}

/// Offliner A (block 1) on the main thread, offliner B (block 2) and a notifier registration
/// on threads of their own. Returns every thread's lockdep reports.
fn two_offliners_and_a_registration(era: Era) -> (Arc<Kernel>, Vec<Report>) {
    let kernel = boot(era, four_blocks());
    let b = actor(&kernel, |k| k.offline_pages(2, Migration::Succeed));
    let c = actor(&kernel, |k| {
        k.register_memory_notifier(NotifierBlock::passive("late_registrant", 0))
    });
    let (a, mut reports) = lockdep::capture(|| kernel.offline_pages(1, Migration::Succeed));
    let b = join(b, &mut reports);
    join(c, &mut reports);
    assert_eq!(a, Ok(()));
    assert_eq!(b, Ok(()));
    assert!(kernel.memory_notifiers().contains(&("late_registrant", 0)));
    assert_eq!(kernel.violations(), []);
    (kernel, reports)
}

/// With a hotplug lock the second offliner waits outside the window, so the registration can
/// always get its write lock and no interleaving deadlocks. Lockdep still reports the
/// circular dependency between `ksm_thread_mutex` and `(memory_chain).rwsem` in every
/// interleaving: the false positive. Returns the iterations.
fn three_actors_never_deadlock_but_lockdep_reports(era: Era) -> usize {
    lockdep::set_mode(Mode::Collect);
    let iterations = explore(move || {
        let (kernel, reports) = two_offliners_and_a_registration(era);
        assert_eq!(kernel.max_concurrent_offlines(), 1);
        assert!(
            reports.iter().any(|r| {
                let classes = r.class_names();
                r.kind() == ReportKind::CircularDependency
                    && classes.iter().any(|c| c.contains("ksm_thread_mutex"))
                    && classes.iter().any(|c| c.contains("(memory_chain).rwsem"))
            }),
            "no ksm_thread_mutex / (memory_chain).rwsem cycle reported:\n{}",
            show(&reports)
        );
    });
    lockdep::take_reports();
    lockdep::set_mode(Mode::Warn);
    iterations
}

/// 62b61f611e "ksm: memory hotremove migration only" on 2.6.33–2.6.36 with
/// `CONFIG_HIBERNATION`: `lock_system_sleep()`'s `pm_mutex` serialises the offliners. The
/// false positive, and no deadlock.
#[test]
fn original_with_hibernation_three_actors_never_deadlock_but_lockdep_reports() {
    let _s = serial();
    let iterations = three_actors_never_deadlock_but_lockdep_reports(Era::ORIGINAL);
    assert!(iterations > 1, "{iterations}");
}

/// a0b0f58 "ksm: annotate ksm_thread_mutex is no deadlock source" with 20d6c96b5f's
/// `mem_hotplug_mutex` (2.6.37), and as the 2012 report ran it (3.3): no deadlock, and
/// `mutex_lock_nested` silences nothing.
#[test]
fn nested_annotation_three_actors_never_deadlock_but_lockdep_reports() {
    let _s = serial();
    for era in [Era::NESTED_2_6_37, Era::NESTED_3_3] {
        let iterations = three_actors_never_deadlock_but_lockdep_reports(era);
        assert!(iterations > 1, "{era}: {iterations}");
    }
}

/// The original design on 2.6.33–2.6.36 without `CONFIG_HIBERNATION`, where
/// `lock_system_sleep()` takes nothing: loom finds the real deadlock. A holds
/// `ksm_thread_mutex` across its window, B holds `(memory_chain).rwsem` for read and waits for
/// `ksm_thread_mutex`, the registration waits for the write lock, and A's `MEM_OFFLINE` read
/// waits behind the writer (KOSAKI's three actors).
#[test]
fn original_without_hibernation_three_actors_deadlock() {
    let _s = serial();
    lockdep::set_mode(Mode::Collect);
    explore_expecting_deadlock(
        "original_without_hibernation_three_actors_deadlock",
        3,
        || {
            two_offliners_and_a_registration(Era::ORIGINAL_WITHOUT_HIBERNATION);
        },
    );
    lockdep::take_reports();
    lockdep::set_mode(Mode::Warn);
}

// ---------------------------------------------------------------------------------------
// The broken variants of the fix.

/// ksmd (one scan step) against one offline of block 1.
fn ksmd_against_one_offline(design: Design) -> (Arc<Kernel>, Vec<Report>) {
    let kernel = boot(design, Config::small());
    let ksmd = actor(&kernel, |k| k.ksmd_scan_step());
    let (ret, mut reports) = lockdep::capture(|| kernel.offline_pages(1, Migration::Succeed));
    let step = join(ksmd, &mut reports);
    assert_eq!(ret, Ok(()));
    assert_ne!(step, KsmdStep::GaveUp);
    (kernel, reports)
}

/// ksmd waits for `KSM_RUN_OFFLINE` still holding `ksm_thread_mutex`, which the offliner needs
/// at `MEM_OFFLINE` to clear the bit: loom finds the deadlock, with both threads blocked.
/// Lockdep reports it too, as a `CircularWait` through the `KSM_RUN_OFFLINE` event annotation
/// (see `tests/ksm_events.rs`); only the hang itself is asserted here.
#[test]
fn wait_under_mutex_deadlocks() {
    let _s = serial();
    explore_expecting_deadlock("wait_under_mutex_deadlocks", 2, || {
        let (kernel, _reports) = ksmd_against_one_offline(Design::WaitUnderMutex);
        assert_eq!(kernel.violations(), []);
    });
}

/// Without the lockout ksmd scans inside the window: in some interleaving its
/// `get_ksm_page()` looks at a frame of the block going offline. Every violation found is
/// that one; lockdep sees nothing and nothing deadlocks.
#[test]
fn no_lockout_lets_ksmd_into_the_window() {
    let _s = serial();
    static VIOLATING: StdAtomicUsize = StdAtomicUsize::new(0);
    VIOLATING.store(0, Relaxed);
    let iterations = explore(|| {
        let (kernel, reports) = ksmd_against_one_offline(Design::NoLockout);
        assert!(reports.is_empty(), "{}", show(&reports));
        let violations = kernel.violations();
        let block1 = kernel.block_pfns(1);
        for violation in &violations {
            match violation {
                Violation::UseAfterFree {
                    actor: Actor::Ksmd,
                    pfn,
                    state: FrameState::Offlining | FrameState::Absent,
                    ..
                } if block1.contains(pfn) => {}
                other => panic!("unexpected violation {other:?}"),
            }
        }
        if !violations.is_empty() {
            VIOLATING.fetch_add(1, Relaxed);
        }
    });
    let violating = VIOLATING.load(Relaxed);
    eprintln!("no_lockout: {violating} of {iterations} interleavings violated");
    assert!(
        violating > 0,
        "no interleaving out of {iterations} violated"
    );
    assert!(violating < iterations, "every interleaving violated");
}

/// The offliner (`MEM_GOING_OFFLINE`, migration, `MEM_OFFLINE`) and ksmd (one scan step, which
/// may wait on `KSM_RUN_OFFLINE`) on threads of their own; the main thread joins the offliner,
/// then ksmd. In every interleaving that ends: no lockdep report, no violation, the offline
/// succeeded, ksmd's step did not give up, and nobody is left asleep on the bit. Returns
/// whether ksmd was asleep on the bit when the offline reached migration.
fn offliner_and_ksmd(design: Design) -> bool {
    let kernel = boot(design, Config::small());
    let ksmd = actor(&kernel, |k| k.ksmd_scan_step());
    let offliner = actor(&kernel, |k| {
        let mut slept = false;
        let ret = k.offline_pages_with(1, Migration::Succeed, &mut |_| {
            slept |= k.bit_waiters() > 0;
        });
        (ret, slept)
    });
    let mut reports = Vec::new();
    let (ret, slept) = join(offliner, &mut reports);
    assert_eq!(ret, Ok(()));
    assert_eq!(
        kernel.run_show() & KSM_RUN_OFFLINE,
        0,
        "KSM_RUN_OFFLINE left set"
    );
    let step = join(ksmd, &mut reports);
    assert_ne!(step, KsmdStep::GaveUp);
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(kernel.violations(), []);
    assert_eq!(kernel.bit_waiters(), 0);
    slept
}

/// A lost wakeup ([`Design::LostWakeup`]): ksmd tests `KSM_RUN_OFFLINE` outside the wait-queue
/// lock, finds it set, and before it is on the queue the offliner clears the bit and calls
/// `wake_up_bit()`, which sees no waiter. ksmd then sleeps on a clear bit forever. loom finds
/// that interleaving: the offliner's thread (loom's `Id(2)`, spawned second) has terminated
/// (the offline finished), ksmd (`Id(1)`) is blocked, and the main thread is blocked joining
/// it. The interleaving needs no weak-memory reordering, so the verdict does not rest on
/// loom's fences. Lockdep stays silent in every interleaving that completes (checked by
/// `offliner_and_ksmd`): no lock order changes, and ksmd sleeps holding nothing.
///
/// The same actors under the fix never lose the wakeup:
/// [`run_offline_never_loses_the_wakeup`] below, and, with more actors,
/// `run_offline_offline_against_ksmd_and_run_store`, `run_offline_wakes_every_waiter` and
/// ksm-model's `loom_smoke::run_offline_ksmd_against_one_offline`.
#[test]
fn lost_wakeup_leaves_ksmd_asleep_forever() {
    let _s = serial();
    let msg = explore_expecting_deadlock("lost_wakeup_leaves_ksmd_asleep_forever", 2, || {
        offliner_and_ksmd(Design::LostWakeup);
    });
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // the child only explores; the parent judges its output
    }
    assert!(
        msg.contains("(Id(1), Blocked(") && msg.contains("(Id(2), Terminated)"),
        "not ksmd blocked after the offliner finished: {msg}"
    );
}

/// The control: the same two actors under the fix ([`Design::RunOffline`]) end in every
/// interleaving, and in some of them ksmd did sleep on the bit and was woken.
#[test]
fn run_offline_never_loses_the_wakeup() {
    let _s = serial();
    static SLEPT: StdAtomicUsize = StdAtomicUsize::new(0);
    SLEPT.store(0, Relaxed);
    let iterations = explore(|| {
        if offliner_and_ksmd(Design::RunOffline) {
            SLEPT.fetch_add(1, Relaxed);
        }
    });
    assert!(iterations > 1, "{iterations}");
    assert!(
        SLEPT.load(Relaxed) > 0,
        "no interleaving had ksmd asleep on the bit"
    );
}
