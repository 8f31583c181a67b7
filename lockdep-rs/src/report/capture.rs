//! `capture`: the reports raised while a closure runs — on the calling thread, and on the
//! threads it starts through `lockdep::thread::{spawn, scope}`, which inherit the capture.
//!
//! A capture isolates *reports*, not lock orders: the dependency graph is the whole
//! program's, so a capture sees a problem its own acquisitions close, even when the other
//! half of the cycle was recorded elsewhere (by another test: a real finding, not cross-talk).

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use super::Report;
use crate::sync::internal::Mutex;
use crate::sync::thread_local;

/// One capture's reports, shared by the threads that report into it.
#[derive(Default)]
pub(crate) struct CaptureSink {
    state: Mutex<CaptureState>,
}

#[derive(Default)]
struct CaptureState {
    seen: HashSet<u64>,
    reports: Vec<Report>,
    /// The capture has returned its reports: a thread still joined to it (a thread-local
    /// destructor running late) reports as if not capturing, so nothing is lost.
    closed: bool,
}

thread_local! {
    /// The captures this thread reports into, innermost last.
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static CAPTURES: RefCell<Vec<Arc<CaptureSink>>> = RefCell::new(Vec::new());
}

/// Is this thread inside a capture?
pub(crate) fn capturing() -> bool {
    CAPTURES
        .try_with(|c| c.try_borrow().is_ok_and(|c| !c.is_empty()))
        .unwrap_or(false)
}

/// The innermost capture of this thread, for a thread it starts.
pub(crate) fn current() -> Option<Arc<CaptureSink>> {
    CAPTURES
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.last().cloned()))
        .ok()
        .flatten()
}

/// If this thread is capturing, takes `report` (problem `key`): `Some(true)` if it is new to
/// the capture, `Some(false)` if the capture had it already; `None` if not capturing.
pub(crate) fn offer(report: &Report, key: u64) -> Option<bool> {
    let sink = current()?;
    let mut state = sink.state.lock();
    if state.closed {
        return None;
    }
    if !state.seen.insert(key) {
        return Some(false);
    }
    state.reports.push(report.clone());
    Some(true)
}

/// Makes this thread report into `sink` until the returned value is dropped (a thread
/// started inside a capture: it keeps the value for good, so that its thread-local
/// destructors report into the capture too, as long as the capture has not returned).
pub(crate) fn join(sink: Arc<CaptureSink>) -> Joined {
    let pushed = CAPTURES
        .try_with(|c| c.try_borrow_mut().map(|mut c| c.push(sink)).is_ok())
        .unwrap_or(false);
    Joined(pushed)
}

/// This thread reports into a capture until dropped.
pub(crate) struct Joined(bool);

impl Drop for Joined {
    fn drop(&mut self) {
        if self.0 {
            let _ = CAPTURES.try_with(|c| c.try_borrow_mut().map(|mut c| c.pop()));
        }
    }
}

/// Runs `f`, returning the reports raised meanwhile on this thread and on the threads it
/// started through `lockdep::thread`, their thread-local destructors included (a thread still
/// running when `f` returns reports what it finds later as if not capturing: printed, kept,
/// failing the run; not into this finished capture, where nobody would see it).
/// Where this thread's capture state is gone (a thread-local destructor running late), `f`
/// just runs and no reports are returned.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    let sink = Arc::new(CaptureSink::default());
    let joined = join(sink.clone());
    if !joined.0 {
        return (f(), Vec::new());
    }
    let r = f();
    drop(joined);
    let mut state = sink.state.lock();
    state.closed = true;
    let reports = std::mem::take(&mut state.reports);
    (r, reports)
}
