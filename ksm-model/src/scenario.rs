//! Scripted runs shared by the examples and the tests (not built under loom).
//!
//! Each function boots a fresh [`Kernel`], runs its actors on threads of their own, captures
//! every thread's lockdep reports (`lockdep::capture`), and returns them with the model's
//! violations in an [`Outcome`]. Every wait is bounded, so no script can hang: the bit waits of
//! [`Design::WaitUnderMutex`] are ended by a hung-task watchdog, and the three-actor deadlock
//! of [`Design::NoHotplugMutex`] is only approached (the script never queues the writer that
//! would close it). Those real deadlocks are for the loom suite; `notes` says so.

use crate::rt::{sleep, spawn, Arc, AtomicBool, Duration, Instant, JoinHandle, Ordering};
use crate::{Config, MemAction};
use crate::{Design, Errno, Kernel, Migration, NotifierBlock, Point, Violation, KSM_RUN_MERGE};
use lockdep::{Report, ReportKind};

/// How long a task may sleep on `KSM_RUN_OFFLINE` before the watchdog calls it hung.
pub const HUNG_TASK_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a script lets another actor run (or lets ksmd pause mid-batch) before it moves on.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a script waits for ksmd to scan again before it gives up.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What one scripted run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The design it ran.
    pub design: Design,
    /// The script's name.
    pub scenario: &'static str,
    /// Lockdep reports from every actor thread, the first of each distinct problem (kind and
    /// set of classes).
    pub reports: Vec<Report>,
    /// The model's violations, oldest first.
    pub violations: Vec<Violation>,
    /// Batches ksmd scanned during the run.
    pub ksmd_batches: usize,
    /// True if ksmd scanned again after every offline of the script.
    pub ksmd_progressed: bool,
    /// Waits the hung-task watchdog gave up.
    pub hung_waits: usize,
    /// The most offlines ever in their notification window at once.
    pub max_concurrent_offlines: usize,
    /// What the script did and saw, one line each.
    pub notes: Vec<String>,
}

/// Everything the run produced, for assertion messages: the reports verbatim, the
/// violations and the notes.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} under {:?}", self.scenario, self.design)?;
        writeln!(f, "reports:")?;
        for r in &self.reports {
            writeln!(f, "{r}")?;
        }
        writeln!(f, "violations: {:#?}", self.violations)?;
        write!(f, "notes: {:#?}", self.notes)
    }
}

impl Outcome {
    fn new(design: Design, scenario: &'static str) -> Outcome {
        Outcome {
            design,
            scenario,
            reports: Vec::new(),
            violations: Vec::new(),
            ksmd_batches: 0,
            ksmd_progressed: true,
            hung_waits: 0,
            max_concurrent_offlines: 0,
            notes: Vec::new(),
        }
    }

    /// The reports of one kind.
    pub fn reports_of(&self, kind: ReportKind) -> Vec<&Report> {
        self.reports.iter().filter(|r| r.kind() == kind).collect()
    }

    /// Keeps the first report of each problem: same kind, same set of classes. (Lockdep may
    /// report a cycle again within one capture, from its other end, when a lock class it
    /// counted as a single-instance gate gains an instance, e.g. a second block's
    /// `&mem->state_mutex`; the kernel would have turned itself off after the first.)
    fn add_reports(&mut self, reports: Vec<Report>) {
        let key = |report: &Report| {
            let mut classes = report.class_names();
            classes.sort();
            (report.kind(), classes)
        };
        for report in reports {
            if !self.reports.iter().any(|seen| key(seen) == key(&report)) {
                self.reports.push(report);
            }
        }
    }

    fn finish(mut self, kernel: &Kernel, watchdog: Watchdog) -> Outcome {
        let (hung, reports) = watchdog.finish();
        self.hung_waits = hung;
        self.add_reports(reports);
        self.violations = kernel.take_violations();
        self.ksmd_batches = kernel.ksmd_batches();
        self.max_concurrent_offlines = kernel.max_concurrent_offlines();
        self
    }

    fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }
}

/// Runs `f` on a thread of its own, capturing its reports.
fn actor<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<(R, Vec<Report>)> {
    spawn(move || lockdep::capture(f))
}

/// Polls `done` every millisecond until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(1));
    }
}

/// Joins `handle` if it finishes within `timeout`; otherwise leaves the thread behind.
fn join_within<R>(handle: JoinHandle<R>, timeout: Duration) -> Option<R> {
    if wait_until(timeout, || handle.is_finished()) {
        Some(handle.join().expect("actor thread panicked"))
    } else {
        None
    }
}

/// Waits until ksmd has scanned more than `since` batches.
fn ksmd_scans_after(kernel: &Kernel, since: usize) -> bool {
    wait_until(PROGRESS_TIMEOUT, || kernel.ksmd_batches() > since)
}

/// The model's hung-task detector: gives up any wait on `KSM_RUN_OFFLINE` that lasts longer
/// than [`HUNG_TASK_TIMEOUT`].
struct Watchdog {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(usize, Vec<Report>)>,
}

impl Watchdog {
    fn start(kernel: &Arc<Kernel>) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (kernel, stop) = (Arc::clone(kernel), Arc::clone(&stop));
            actor(move || {
                let mut since: Option<Instant> = None;
                let mut aborted = 0;
                while !stop.load(Ordering::Acquire) {
                    if kernel.bit_waiters() == 0 {
                        since = None;
                    } else if since.get_or_insert_with(Instant::now).elapsed() > HUNG_TASK_TIMEOUT {
                        aborted += kernel.abort_bit_waits();
                        since = None;
                    }
                    sleep(Duration::from_millis(2));
                }
                aborted
            })
        };
        Watchdog { stop, handle }
    }

    fn finish(self) -> (usize, Vec<Report>) {
        self.stop.store(true, Ordering::Release);
        self.handle.join().expect("watchdog panicked")
    }
}

fn boot(design: Design) -> (Arc<Kernel>, Watchdog) {
    let kernel = Arc::new(Kernel::new(design, Config::default()));
    let watchdog = Watchdog::start(&kernel);
    (kernel, watchdog)
}

fn describe(ret: Result<(), Errno>) -> String {
    match ret {
        Ok(()) => "ok".to_string(),
        Err(err) => format!("-{err}"),
    }
}

/// The README's workload: ksmd running on its own thread, `echo 1 > /sys/kernel/mm/ksm/run`,
/// a successful offline of block 1, then an offline of block 2 whose migration fails and
/// cancels. Between steps the script waits for ksmd to scan again.
pub fn before_after(design: Design) -> Outcome {
    let mut out = Outcome::new(design, "before_after");
    let (kernel, watchdog) = boot(design);
    let stop = Arc::new(AtomicBool::new(false));
    let ksmd = {
        let (kernel, stop) = (Arc::clone(&kernel), Arc::clone(&stop));
        actor(move || kernel.ksmd(&stop, usize::MAX))
    };
    let (steps, reports) = lockdep::capture(|| {
        let mut steps = Vec::new();
        let mut progressed = true;
        let ret = kernel.run_store(KSM_RUN_MERGE);
        steps.push(format!(
            "echo 1 > /sys/kernel/mm/ksm/run: {}",
            describe(ret)
        ));
        progressed &= ksmd_scans_after(&kernel, 0);
        for (block, migration) in [(1, Migration::Succeed), (2, Migration::Fail)] {
            let before = kernel.ksmd_batches();
            let ret = kernel.offline_pages(block, migration);
            let what = match migration {
                Migration::Succeed => "migration succeeds",
                Migration::Fail => "migration fails, MEM_CANCEL_OFFLINE",
            };
            steps.push(format!("offline memory{block} ({what}): {}", describe(ret)));
            progressed &= ksmd_scans_after(&kernel, before);
        }
        (steps, progressed)
    });
    out.add_reports(reports);
    stop.store(true, Ordering::Release);
    match join_within(ksmd, PROGRESS_TIMEOUT) {
        Some((steps, reports)) => {
            out.add_reports(reports);
            out.note(format!("ksmd ran {steps} iterations"));
        }
        None => out.note("ksmd did not stop in time (left behind)"),
    }
    let (steps, progressed) = steps;
    out.notes.extend(steps);
    out.ksmd_progressed = progressed;
    out.finish(&kernel, watchdog)
}

/// The latent veto bug (§11.7): a notifier of priority 200 vetoes `MEM_GOING_OFFLINE`, so
/// KSM's callback never sees it, but `MEM_CANCEL_OFFLINE` still goes to every notifier.
pub fn veto(design: Design) -> Outcome {
    let mut out = Outcome::new(design, "veto");
    let (kernel, watchdog) = boot(design);
    let (notes, reports) = lockdep::capture(|| {
        let inject = NotifierBlock::error_inject(
            "memory_notifier_error_inject",
            200,
            &[MemAction::GoingOffline],
        );
        kernel.register_memory_notifier(inject);
        let ret = kernel.offline_pages(1, Migration::Succeed);
        kernel.unregister_memory_notifier(inject.name);
        let mut notes = vec![format!(
            "offline memory1 with a priority-200 notifier vetoing MEM_GOING_OFFLINE: {}",
            describe(ret)
        )];
        let run = kernel.run_store(KSM_RUN_MERGE);
        let step = kernel.ksmd_scan_step();
        notes.push(format!(
            "afterwards: echo 1 > run: {}, ksmd step: {step:?}",
            describe(run)
        ));
        notes
    });
    out.add_reports(reports);
    out.notes.extend(notes);
    out.finish(&kernel, watchdog)
}

/// ksmd tries a scan step while block 1 is between `MEM_GOING_OFFLINE` and migration: the
/// script starts it from [`Point::OfflineMigrating`] and lets it run for a moment (or until it
/// sleeps on the bit) before the offline goes on.
pub fn window_scan(design: Design) -> Outcome {
    let mut out = Outcome::new(design, "window_scan");
    let (kernel, watchdog) = boot(design);
    let (ret, reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE));
    out.add_reports(reports);
    ret.expect("run_store");
    let mut ksmd = None;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                let k = Arc::clone(&kernel);
                let handle = actor(move || k.ksmd_scan_step());
                wait_until(SETTLE, || handle.is_finished() || kernel.bit_waiters() > 0);
                ksmd = Some(handle);
            }
        })
    });
    out.add_reports(reports);
    out.note(format!(
        "offline memory1, ksmd started in the window: {}",
        describe(ret)
    ));
    if let Some(handle) = ksmd {
        match join_within(handle, PROGRESS_TIMEOUT) {
            Some((step, reports)) => {
                out.add_reports(reports);
                out.note(format!("ksmd's step: {step:?}"));
            }
            None => out.note("ksmd's step did not end (left behind)"),
        }
    }
    out.finish(&kernel, watchdog)
}

/// An offline of block 1 starts while ksmd is in the middle of a batch (paused at
/// [`Point::KsmdMidBatch`], holding `ksm_thread_mutex`). ksmd resumes when the offline reaches
/// migration, or after a moment if the offline can't get there.
pub fn mid_batch(design: Design) -> Outcome {
    let mut out = Outcome::new(design, "mid_batch");
    let (kernel, watchdog) = boot(design);
    let (ret, reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE));
    out.add_reports(reports);
    ret.expect("run_store");
    let paused = Arc::new(AtomicBool::new(false));
    let resume = Arc::new(AtomicBool::new(false));
    let ksmd = {
        let (kernel, paused, resume) = (
            Arc::clone(&kernel),
            Arc::clone(&paused),
            Arc::clone(&resume),
        );
        actor(move || {
            kernel.ksmd_scan_step_with(&mut |point| {
                if point == Point::KsmdMidBatch && !paused.swap(true, Ordering::AcqRel) {
                    wait_until(SETTLE, || resume.load(Ordering::Acquire));
                }
            })
        })
    };
    wait_until(PROGRESS_TIMEOUT, || paused.load(Ordering::Acquire));
    let mut resumed_in_window = false;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                resumed_in_window = !resume.swap(true, Ordering::AcqRel) && !ksmd.is_finished();
                wait_until(SETTLE, || ksmd.is_finished());
            }
        })
    });
    out.add_reports(reports);
    out.note(format!(
        "offline memory1 while ksmd was mid-batch: {}",
        describe(ret)
    ));
    out.note(if resumed_in_window {
        "MEM_GOING_OFFLINE did not wait for ksmd's batch: ksmd finished it inside the window"
    } else {
        "MEM_GOING_OFFLINE waited for ksmd's batch to end"
    });
    match join_within(ksmd, PROGRESS_TIMEOUT) {
        Some((step, reports)) => {
            out.add_reports(reports);
            out.note(format!("ksmd's step: {step:?}"));
        }
        None => out.note("ksmd's step did not end (left behind)"),
    }
    out.finish(&kernel, watchdog)
}

/// A second offliner (block 2) starts while the first (block 1) is in its window. With
/// `mem_hotplug_mutex` it waits outside; without it, it enters `MEM_GOING_OFFLINE`, takes
/// `(memory_chain).rwsem` for read and waits for `ksm_thread_mutex`. The script queues no
/// notifier registration there, which would make it KOSAKI's three-actor deadlock.
pub fn overlapping_offlines(design: Design) -> Outcome {
    let mut out = Outcome::new(design, "overlapping_offlines");
    let (kernel, watchdog) = boot(design);
    let mut second = None;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                let k = Arc::clone(&kernel);
                let handle = actor(move || k.offline_pages(2, Migration::Succeed));
                wait_until(SETTLE, || handle.is_finished());
                second = Some(handle);
            }
        })
    });
    out.add_reports(reports);
    out.note(format!("offliner A, memory1: {}", describe(ret)));
    if let Some(handle) = second {
        match join_within(handle, PROGRESS_TIMEOUT) {
            Some((ret, reports)) => {
                out.add_reports(reports);
                out.note(format!("offliner B, memory2: {}", describe(ret)));
            }
            None => out.note("offliner B did not finish (left behind)"),
        }
    }
    out.finish(&kernel, watchdog)
}

/// The script that exposes `design`: [`window_scan`] for `WaitUnderMutex`, `NoLockout` and
/// `LostWakeup` (whose lost wake-up the script practically never hits: ksmd is asleep on the
/// bit before the offline goes on; should the race happen, the watchdog ends the wait),
/// [`mid_batch`] for `UnlockedFlag`, [`overlapping_offlines`] for `NoHotplugMutex`, and
/// [`before_after`] for the shipped designs and the [`Design::NaivePseudoLock`] annotation.
pub fn exposing(design: Design) -> Outcome {
    match design {
        Design::WaitUnderMutex | Design::NoLockout | Design::LostWakeup => window_scan(design),
        Design::UnlockedFlag => mid_batch(design),
        Design::NoHotplugMutex => overlapping_offlines(design),
        Design::Original
        | Design::NestedAnnotation
        | Design::RunOffline
        | Design::NaivePseudoLock => before_after(design),
    }
}
