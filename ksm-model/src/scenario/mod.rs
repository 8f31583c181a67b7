//! Scripted runs shared by the examples and the tests (not built under loom).
//!
//! Each script (see the functions below) boots a fresh [`Kernel`] of an [`Era`] on the machine of the
//! era's report ([`Era::config`]), runs its actors on threads of their own, captures every
//! thread's lockdep reports (`lockdep::capture`), and returns them with the model's violations
//! in an [`Outcome`]. Every wait is bounded, so no script can hang: the bit waits of
//! [`Design::WaitUnderMutex`] are ended by a hung-task
//! watchdog, and the three-actor deadlock of 2.6.33–2.6.36 without `CONFIG_HIBERNATION` is only
//! approached (the script never queues the writer that would close it). Those real deadlocks
//! are for the loom suite; `notes` says so.

mod scripts;
mod verdict;

pub use scripts::{before_after, exposing, mid_batch, overlapping_offlines, veto, window_scan};
pub use verdict::Verdict;

use crate::kernel_log::KernelLog;
use crate::rt::{sleep, spawn_named, Arc, AtomicBool, Duration, Instant, JoinHandle, Ordering};
use crate::{Config, Design, Era, Errno, Kernel, Violation};
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
    /// The kernel it ran.
    pub era: Era,
    /// The KSM design it ran (`era.design`).
    pub design: Design,
    /// The machine it ran on.
    pub config: Config,
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
        writeln!(f, "{} under {}", self.scenario, self.era)?;
        writeln!(f, "reports:")?;
        for r in &self.reports {
            writeln!(f, "{r}")?;
        }
        writeln!(f, "violations: {:#?}", self.violations)?;
        write!(f, "notes: {:#?}", self.notes)
    }
}

impl Outcome {
    fn new(era: Era, config: Config, scenario: &'static str) -> Outcome {
        Outcome {
            era,
            design: era.design,
            config,
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

    /// The run's kernel log as the era's lockdep printed it: the first report in full, then
    /// silence (see [`KernelLog`]).
    pub fn kernel_log(&self) -> KernelLog {
        KernelLog::new(
            self.era.release,
            self.config.s390,
            &self.reports,
            &self.violations,
        )
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

/// Runs `f` on a thread of its own named `task` (the kernel task it plays: `ksmd`, `sh` for a
/// shell writing to sysfs, `khungtaskd`), capturing its reports.
fn actor<R: Send + 'static>(
    task: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<(R, Vec<Report>)> {
    spawn_named(task, move || lockdep::capture(f))
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
            actor("khungtaskd", move || {
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

/// Boots `era` on the machine of its report, with the watchdog running.
fn boot(era: Era, scenario: &'static str) -> (Arc<Kernel>, Watchdog, Outcome) {
    let config = era.config();
    let kernel = Arc::new(Kernel::boot(era, config));
    let watchdog = Watchdog::start(&kernel);
    (kernel, watchdog, Outcome::new(era, config, scenario))
}

fn describe(ret: Result<(), Errno>) -> String {
    match ret {
        Ok(()) => "ok".to_string(),
        Err(err) => format!("-{err}"),
    }
}
