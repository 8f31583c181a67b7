//! Where reports go: a `capture` of the current thread (see `capture.rs`), else the report
//! hook and the mode's action (print to the process's real stderr and fail the run at exit;
//! panic; keep). Each distinct problem is delivered once per process, or once per `capture`
//! for captured reports (so parallel tests each see their own).

use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::{capture, exit_status, Report};
use crate::mode::{mode, Mode};
use crate::sync::internal::{Mutex, RwLock};
use crate::sync::thread_local;

#[cfg(not(lockdep_tasks))]
pub(crate) use capture::capturing;

/// Is this thread inside a capture (or, with the `tokio` feature, in a runtime whose reports a
/// `capture_async` takes)?
#[cfg(lockdep_tasks)]
pub(crate) fn capturing() -> bool {
    capture::capturing() || super::runtime_capture::capturing()
}

/// Reports kept for `take_reports` (bounded; the oldest are dropped past this).
const MAX_KEPT: usize = 10_000;

type Hook = Arc<dyn Fn(&Report) + Send + Sync>;

#[derive(Default)]
struct Global {
    seen: HashSet<u64>,
    /// Reports kept for `take_reports`, with their problem keys and whether each is counted
    /// against the run (taking it forgives that count, and only that one).
    kept: Vec<Kept>,
    /// Problems pushed out of `kept` (past [`MAX_KEPT`]) and whether each is counted: the
    /// program cannot take them any more, but a delivery still under way (its hook ran
    /// meanwhile) must still count or forgive them as if they were kept.
    evicted: std::collections::HashMap<u64, bool>,
    dropped: usize,
}

static GLOBAL: Mutex<Global> = Mutex::new();
static HOOK: RwLock<Option<Hook>> = RwLock::new();

thread_local! {
    /// This thread is running the report hook (a report the hook raises does not re-enter it).
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static IN_HOOK: Cell<bool> = Cell::new(false);
}

/// How a delivered report should affect the caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Delivery {
    /// Not new (already reported to this sink).
    Duplicate,
    /// Captured or kept, not printed; the caller carries on.
    Delivered,
    /// Printed (Warn mode); the caller carries on, the run fails at exit.
    Printed,
    /// The mode is `Panic` and nothing captured it: the caller must panic with it.
    MustPanic,
}

/// Delivers a report whose problem is identified by `key`. Never panics itself and never
/// holds an internal lock while user code (the hook) runs.
pub(crate) fn deliver(report: Report, key: u64) -> Delivery {
    // 1. A capture of this thread takes it.
    match capture::offer(&report, key) {
        Some(true) => return Delivery::Delivered,
        Some(false) => return Delivery::Duplicate,
        None => {}
    }
    // 1b. With the `tokio` feature: a `capture_async` of this thread's runtime takes it.
    #[cfg(lockdep_tasks)]
    if let Some(d) = super::runtime_capture::deliver(&report, key) {
        return d;
    }
    // 2. Process-wide dedupe and keeping.
    let prints = action() == Delivery::Printed;
    {
        let mut g = GLOBAL.lock();
        if !g.seen.insert(key) {
            // One problem, one report per process, in every mode.
            return Delivery::Duplicate;
        }
        if g.kept.len() >= MAX_KEPT {
            let old = g.kept.remove(0);
            g.evicted.insert(old.key, old.counted);
            g.dropped += 1;
        }
        g.kept.push(Kept {
            report: report.clone(),
            key,
            counted: false,
        });
        // Counted against the run as it is kept, not when printed: a `take_reports` (in the
        // hook, or on another thread) forgives only a report it takes, so it must find the
        // count there already, or the run would fail for a report the program took.
        if prints {
            count(&report, key);
            g.kept.last_mut().expect("just pushed").counted = true;
        }
    }
    // 3. The hook (user code: no internal lock held; a panic in it is contained).
    call_hook(&report);
    // 4. The mode's action, as the mode is now (the hook may have changed it).
    let action = action();
    match action {
        Delivery::Printed if !prints => print(&report, key),
        Delivery::Printed => super::write_stderr(&format!("{report}\n")),
        // It panics, or is kept, instead: its count goes, unless the program took the report
        // meanwhile (which forgave it then).
        _ if prints => forgive_if_kept(key),
        _ => {}
    }
    action
}

/// Forgives the count of a report still kept (see [`deliver`]).
fn forgive_if_kept(key: u64) {
    let mut g = GLOBAL.lock();
    if let Some(counted) = g.counted_mut(key) {
        if std::mem::replace(counted, false) {
            exit_status::forgive(&[key]);
        }
    }
}

impl Global {
    /// Whether problem `key`'s report is counted, if the program has not taken it: kept, or
    /// pushed out of the kept list (see `evicted`).
    fn counted_mut(&mut self, key: u64) -> Option<&mut bool> {
        match self.kept.iter().rposition(|k| k.key == key) {
            Some(i) => Some(&mut self.kept[i].counted),
            None => self.evicted.get_mut(&key),
        }
    }
}

/// A report kept for `take_reports`.
struct Kept {
    report: Report,
    key: u64,
    /// Counted against the run (printed in Warn mode, or instead of a panic).
    counted: bool,
}

/// Delivers a report that its caller cannot panic with, whatever the mode says (a drop, a
/// thread-local destructor, a release): printed instead of a panic.
pub(crate) fn deliver_no_panic(report: Report, key: u64) {
    if deliver(report.clone(), key) == Delivery::MustPanic {
        print(&report, key);
    }
}

/// What the mode does with a new report that nothing captured.
fn action() -> Delivery {
    match mode() {
        Mode::Panic if !crate::sync::panicking() => Delivery::MustPanic,
        Mode::Collect | Mode::Off => Delivery::Delivered,
        _ => Delivery::Printed,
    }
}

/// Would a report raised now on this thread panic (Panic mode, not captured, not unwinding)?
pub(crate) fn would_panic() -> bool {
    mode() == Mode::Panic && !capturing() && !crate::sync::panicking()
}

/// The one line a known problem panics with in Panic mode (see `validator::act`).
pub(crate) fn same_problem(report: &Report) -> String {
    let thread = report.thread();
    let name = thread.rsplit_once('/').map_or(thread, |(name, _)| name);
    format!(
        "lockdep: {}: {} — the same problem reported before by thread `{name}` (Panic mode \
         stops every thread that reaches it)",
        report.kind().title(),
        report.class_names().join(", ")
    )
}

/// Prints a report to the process's real stderr (not through `eprintln!`, which `cargo test`
/// captures and shows only for failing tests), and counts it against the run.
pub(crate) fn print(report: &Report, key: u64) {
    super::write_stderr(&format!("{report}\n"));
    // (Its callers print a report `deliver` kept for a panic that cannot happen: counted
    // unless the program took it meanwhile, in the hook or on another thread, since a report
    // taken no longer fails the run. Under the lock `take` holds, so they cannot cross.)
    let mut g = GLOBAL.lock();
    if let Some(counted) = g.counted_mut(key) {
        if !std::mem::replace(counted, true) {
            count(report, key);
        }
    }
}

/// Counts a report against the run (see `exit_status`).
fn count(report: &Report, key: u64) {
    let (title, classes) = (report.kind().title(), report.class_names());
    let d = &report.0;
    let site = d
        .acquiring
        .as_ref()
        .map(|l| l.site)
        .or(d.at)
        .or(d.holding.as_ref().map(|l| l.site))
        .or(d.held.last().map(|l| l.site));
    exit_status::record(
        key,
        title,
        &classes,
        report.thread(),
        report.task().is_some(),
        site,
    );
}

/// Reports a configuration error (an unknown `LOCKDEP` value): printed at once, and it fails
/// the run.
pub(crate) fn config_error(message: &str) {
    super::write_stderr(&format!("{message}\n"));
    exit_status::record_config_error(message);
}

fn call_hook(report: &Report) {
    let hook = HOOK.read().clone();
    let Some(hook) = hook else { return };
    let entered = IN_HOOK.try_with(|h| !h.replace(true)).unwrap_or(false);
    if !entered {
        return; // a report raised by the hook itself: don't re-enter it
    }
    if panic::catch_unwind(AssertUnwindSafe(|| hook(report))).is_err() {
        super::write_stderr("lockdep: the report hook panicked; the report was still recorded\n");
    }
    let _ = IN_HOOK.try_with(|h| h.set(false));
}

/// Sets (or removes) the hook called for each new report that is not captured.
#[allow(clippy::type_complexity)] // the exact signature of the API contract
pub(crate) fn set_hook(hook: Option<Box<dyn Fn(&Report) + Send + Sync>>) {
    let old = std::mem::replace(&mut *HOOK.write(), hook.map(Arc::from));
    // The hook replaced is user code with captured state: dropped after the hook lock is
    // released (its `Drop` may take lockdep locks, or set the hook again).
    drop(old);
}

/// Drains the reports kept so far.
pub(crate) fn take() -> Vec<Report> {
    let mut g = GLOBAL.lock();
    let dropped = std::mem::take(&mut g.dropped);
    let kept = std::mem::take(&mut g.kept);
    drop(g);
    // Printed with no internal lock held: a thread holding stderr's lock may be reporting.
    if dropped > 0 {
        super::write_stderr(&format!(
            "lockdep: {dropped} older reports were dropped (more than {MAX_KEPT} kept)\n"
        ));
    }
    // Only the counted ones were counted: taking another forgives nothing.
    let keys: Vec<u64> = kept.iter().filter(|k| k.counted).map(|k| k.key).collect();
    exit_status::forgive(&keys);
    kept.into_iter().map(|k| k.report).collect()
}

/// Forgets kept reports and which problems were already reported.
pub(crate) fn clear() {
    let mut g = GLOBAL.lock();
    g.seen.clear();
    g.kept.clear();
    g.evicted.clear();
    g.dropped = 0;
}
