//! The run's verdict: a report printed in `Warn` mode (and an unknown `LOCKDEP` value) makes
//! the process exit with a failure status, after a summary naming each problem and the thread
//! — for `cargo test`, the test — that found it.
//!
//! This is how a report fails `cargo test` without unwinding through anyone's code: the
//! acquisition that found the problem goes on (a panic there could leave a library's state
//! half-updated and hang its other threads), and the process fails when it exits. Checked at
//! the C runtime's exit (after `main` returned or `process::exit` ran, libtest's included),
//! which then ends with status 101 instead of the one it had.

use std::panic::Location;

use crate::sync::internal::Mutex;

static FAILURES: Mutex<Failures> = Mutex::new();

/// Summary lines kept (a run with more problems says how many it left out).
const MAX_LINES: usize = 100;

#[derive(Default)]
struct Failures {
    /// Each problem counted against the run (its dedupe key) and its summary line.
    problems: Vec<(Option<u64>, String)>,
    registered: bool,
}

/// Counts the problem `key` (printed in `Warn` mode, found by the thread `thread`, a tokio
/// task if `task`, at `site`) against the run, unless taken later with `take_reports`.
pub(crate) fn record(
    key: u64,
    title: &str,
    classes: &[String],
    thread: &str,
    task: bool,
    site: Option<&Location<'static>>,
) {
    let line = format!(
        "  - {title}: {} ({})",
        classes.join(", "),
        finder(thread, task, site)
    );
    push(Some(key), line);
}

/// Who found a problem, as the summary says it. A test's thread is named after the test; a
/// thread or task that is not gets where it found the problem too, the one clue to its test.
fn finder(thread: &str, task: bool, site: Option<&Location<'static>>) -> String {
    let name = thread.rsplit_once('/').map_or(thread, |(name, _)| name);
    let at = site.map(|s| format!("; found at {s}")).unwrap_or_default();
    if name == "<unnamed>" {
        // A thread started with std: it cannot be traced to its test.
        return format!(
            "found by an unnamed thread: name it, or start it with `lockdep::thread::spawn`, \
             which names it after its test{at}"
        );
    }
    let worker = name
        .rsplit_once(" on ")
        .is_some_and(|(_, os)| os == "tokio-rt-worker" || os == "tokio-runtime-worker");
    if task && worker {
        // A task of a multi-thread runtime: its worker thread is the runtime's, not a test's.
        return format!(
            "found by `{name}`, a task of a multi-thread runtime, which lockdep cannot trace to \
             its test: `lockdep::tokio::capture_async` in the test takes its reports{at}"
        );
    }
    if task {
        return format!("found by thread `{name}`{at}");
    }
    format!("found by thread `{name}`")
}

/// Counts a configuration error against the run.
pub(crate) fn record_config_error(message: &str) {
    push(None, format!("  - {message}"));
}

/// The problems `keys` were taken by the program (`take_reports`): they are its to handle,
/// and no longer fail the run.
pub(crate) fn forgive(keys: &[u64]) {
    // One count per report taken (the newest of its key): after a `reset()` one problem can
    // be printed, and counted, twice; taking the second report forgives the second only.
    let mut f = FAILURES.lock();
    for key in keys {
        if let Some(i) = f.problems.iter().rposition(|(k, _)| *k == Some(*key)) {
            f.problems.remove(i);
        }
    }
}

/// How many problems are counted against the run now.
pub(crate) fn failing() -> usize {
    FAILURES.lock().problems.len()
}

fn push(key: Option<u64>, line: String) {
    let register = {
        let mut f = FAILURES.lock();
        f.problems.push((key, line));
        !std::mem::replace(&mut f.registered, true)
    };
    if register {
        at_exit::register(report_and_fail);
    }
}

/// Run at the process's exit: the summary, then the failure status.
extern "C" fn report_and_fail() {
    let problems = std::mem::take(&mut FAILURES.lock().problems);
    if problems.is_empty() {
        return;
    }
    let settings = problems.iter().filter(|(key, _)| key.is_none()).count();
    let mut lines: Vec<String> = problems.into_iter().map(|(_, l)| l).collect();
    let total = lines.len();
    if total > MAX_LINES {
        lines.truncate(MAX_LINES);
        lines.push(format!("  ... and {} more", total - MAX_LINES));
    }
    let mut text = format!(
        "\nlockdep: {} problem{} reported in this run (printed above when found), so it \
         fails (exit status 101):\n",
        total,
        if total == 1 { " was" } else { "s were" }
    );
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str(if settings == total {
        "lockdep: fix the setting named above.\n"
    } else if settings > 0 {
        "lockdep: fix the setting named above, and the order (see each report), or run with \
         LOCKDEP=collect to handle reports yourself; `lockdep::capture` checks one test at a \
         time.\n"
    } else {
        "lockdep: fix the order (see each report), or run with LOCKDEP=collect to handle \
         reports yourself; `lockdep::capture` checks one test at a time.\n"
    });
    super::write_stderr(&text);
    at_exit::fail(101);
}

/// The C runtime's exit hooks (std has none). Under loom (many modelled runs in one test
/// process) a report never fails the process; the model's own assertions do.
#[allow(unsafe_code)]
#[cfg_attr(loom, allow(dead_code))]
mod at_exit {
    use std::os::raw::c_int;

    extern "C" {
        fn atexit(callback: extern "C" fn()) -> c_int;
        fn _exit(status: c_int) -> !;
    }

    /// Runs `callback` when the process exits normally.
    pub(super) fn register(callback: extern "C" fn()) {
        #[cfg(not(loom))]
        // SAFETY: `atexit` only stores the pointer; `callback` is a plain `extern "C" fn`
        // that lives for the whole program.
        unsafe {
            atexit(callback);
        }
        #[cfg(loom)]
        let _ = callback;
    }

    /// Ends the process now with `status` (from an exit hook, where `exit` may not be
    /// called again; Rust's own output was flushed before the hooks ran).
    pub(super) fn fail(status: i32) -> ! {
        // SAFETY: `_exit` takes any status and never returns.
        unsafe { _exit(status as c_int) }
    }
}
