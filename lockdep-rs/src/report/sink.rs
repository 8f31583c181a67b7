//! Where reports go: a `capture` buffer of the current thread, else the report hook and the
//! mode's action (print, panic, keep). Each distinct problem is delivered once per process,
//! or once per `capture` for captured reports (so parallel tests each see their own).

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::Report;
use crate::mode::{mode, Mode};
use crate::sync::internal::{Mutex, RwLock};
use crate::sync::thread_local;

/// Reports kept for `take_reports` (bounded; the oldest are dropped past this).
const MAX_KEPT: usize = 10_000;

type Hook = Arc<dyn Fn(&Report) + Send + Sync>;

#[derive(Default)]
struct Global {
    seen: HashSet<u64>,
    kept: Vec<Report>,
    dropped: usize,
}

static GLOBAL: Mutex<Global> = Mutex::new();
static HOOK: RwLock<Option<Hook>> = RwLock::new();

#[derive(Default)]
struct Capture {
    seen: HashSet<u64>,
    reports: Vec<Report>,
}

#[derive(Default)]
struct Local {
    captures: Vec<Capture>,
    in_hook: bool,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// How a delivered report should affect the caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Delivery {
    /// Not new (already reported to this sink).
    Duplicate,
    /// Captured or kept, not printed; the caller carries on.
    Delivered,
    /// Printed (Warn mode); the caller carries on.
    Printed,
    /// The mode is `Panic` and nothing captured it: the caller must panic with it.
    MustPanic,
}

/// Is this thread inside a [`capture`] (or, with the `tokio` feature, in a runtime whose
/// reports a `capture_async` takes)?
pub(crate) fn capturing() -> bool {
    let local = LOCAL
        .try_with(|l| l.try_borrow().is_ok_and(|l| !l.captures.is_empty()))
        .unwrap_or(false);
    #[cfg(lockdep_tasks)]
    return local || crate::tokio::capturing();
    #[cfg(not(lockdep_tasks))]
    local
}

/// Delivers a report whose problem is identified by `key`. Never panics itself and never
/// holds an internal lock while user code (the hook) runs.
pub(crate) fn deliver(report: Report, key: u64) -> Delivery {
    // 1. A capture on this thread takes it.
    let captured = LOCAL.try_with(|l| {
        let Ok(mut l) = l.try_borrow_mut() else {
            return None;
        };
        let cap = l.captures.last_mut()?;
        if !cap.seen.insert(key) {
            return Some(Delivery::Duplicate);
        }
        cap.reports.push(report.clone());
        Some(Delivery::Delivered)
    });
    if let Ok(Some(d)) = captured {
        return d;
    }
    // 1b. With the `tokio` feature: a `capture_async` of this thread's runtime takes it.
    #[cfg(lockdep_tasks)]
    if let Some(d) = crate::tokio::deliver(&report, key) {
        return d;
    }
    // 2. Process-wide dedupe and keeping.
    {
        let mut g = GLOBAL.lock();
        if !g.seen.insert(key) {
            // One problem, one report per process, in every mode.
            return Delivery::Duplicate;
        }
        if g.kept.len() >= MAX_KEPT {
            g.kept.remove(0);
            g.dropped += 1;
        }
        g.kept.push(report.clone());
    }
    // 3. The hook (user code: no internal lock held; a panic in it is contained).
    call_hook(&report);
    // 4. The mode's action.
    match mode() {
        Mode::Panic if !crate::sync::panicking() => Delivery::MustPanic,
        Mode::Collect | Mode::Off => Delivery::Delivered,
        _ => {
            print(&report);
            Delivery::Printed
        }
    }
}

/// Prints a report (Warn mode's action, or a report that could not panic).
pub(crate) fn print(report: &Report) {
    crate::report::print_err!("{report}");
}

/// Prints a configuration error (an unknown `LOCKDEP` value).
pub(crate) fn config_error(message: &str) {
    crate::report::print_err!("{message}");
}

fn call_hook(report: &Report) {
    let hook = HOOK.read().clone();
    let Some(hook) = hook else { return };
    let entered = LOCAL
        .try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return false;
            };
            !std::mem::replace(&mut l.in_hook, true)
        })
        .unwrap_or(false);
    if !entered {
        return; // a report raised by the hook itself: don't re-enter it
    }
    if panic::catch_unwind(AssertUnwindSafe(|| hook(report))).is_err() {
        crate::report::print_err!(
            "lockdep: the report hook panicked; the report was still recorded"
        );
    }
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.in_hook = false;
        }
    });
}

/// Sets (or removes) the hook called for each new report that is not captured.
#[allow(clippy::type_complexity)] // the exact signature of the API contract
pub(crate) fn set_hook(hook: Option<Box<dyn Fn(&Report) + Send + Sync>>) {
    *HOOK.write() = hook.map(Arc::from);
}

/// Runs `f`, returning the reports raised on this thread meanwhile. Where this thread's
/// capture state is gone (a thread-local destructor running late), `f` just runs and no
/// reports are returned.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    let pushed = LOCAL
        .try_with(|l| {
            l.try_borrow_mut()
                .map(|mut l| l.captures.push(Capture::default()))
                .is_ok()
        })
        .unwrap_or(false);
    if !pushed {
        return (f(), Vec::new());
    }
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            // Only reached on unwind (forgotten otherwise): discard this capture level so
            // the stack stays balanced.
            let _ = LOCAL.try_with(|l| l.try_borrow_mut().map(|mut l| l.captures.pop()));
        }
    }
    let guard = Pop;
    let r = f();
    std::mem::forget(guard);
    let reports = LOCAL
        .try_with(|l| l.try_borrow_mut().ok().and_then(|mut l| l.captures.pop()))
        .ok()
        .flatten()
        .map(|c| c.reports)
        .unwrap_or_default();
    (r, reports)
}

/// Drains the reports kept so far.
pub(crate) fn take() -> Vec<Report> {
    let mut g = GLOBAL.lock();
    if g.dropped > 0 {
        crate::report::print_err!(
            "lockdep: {} older reports were dropped (more than {MAX_KEPT} kept)",
            g.dropped
        );
        g.dropped = 0;
    }
    std::mem::take(&mut g.kept)
}

/// Forgets kept reports and which problems were already reported.
pub(crate) fn clear() {
    let mut g = GLOBAL.lock();
    g.seen.clear();
    g.kept.clear();
    g.dropped = 0;
}
