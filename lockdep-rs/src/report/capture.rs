//! `capture`: the reports raised while a closure runs — on the calling thread, and on the
//! threads it starts through `lockdep::thread::{spawn, scope}`, which inherit the capture.
//!
//! A capture isolates *reports*, not lock orders: the dependency graph is the whole
//! program's, so a capture sees a problem its own acquisitions close, even when the other
//! half of the cycle was recorded elsewhere (by another test: a real finding, not cross-talk).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Report;
use crate::sync::internal::Mutex;
use crate::sync::thread_local;

/// One capture's reports, shared by the threads that report into it.
#[derive(Default)]
pub(crate) struct CaptureSink {
    state: Mutex<CaptureState>,
    /// The capture is over (its closure returned or unwound): a thread still joined to it (a
    /// thread started inside it, running on, or its thread-local destructors) reports as if
    /// not capturing, so nothing is lost, and is not taken for capturing (a known problem is
    /// not delivered again). Set under `state`'s lock; read without it where a stale answer
    /// only sends a report to [`offer`], which looks again under the lock.
    closed: AtomicBool,
}

#[derive(Default)]
struct CaptureState {
    seen: HashSet<u64>,
    reports: Vec<(Report, u64)>,
    /// The problem whose report the panic unwinding the capture carries as its message (see
    /// [`panic_carries`]): kept back when the capture passes its reports on.
    carried: Option<u64>,
}

impl CaptureSink {
    fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// Ends the capture: returns its reports; later ones go elsewhere.
    fn close(&self) -> Vec<(Report, u64)> {
        let mut state = self.state.lock();
        self.closed.store(true, Ordering::Relaxed);
        std::mem::take(&mut state.reports)
    }
}

thread_local! {
    /// The captures this thread reports into, innermost last.
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static CAPTURES: RefCell<Vec<Arc<CaptureSink>>> = RefCell::new(Vec::new());

    /// The problem whose report lockdep's own panic (a certain self-deadlock) carries as its
    /// message, and a hash of that message: a capture that a panic unwinds keeps the report
    /// back only if the panic's payload is that message (the panic may have been caught
    /// inside the capture, and another panic be unwinding it now).
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static CARRIED: Cell<Option<(u64, u64)>> = Cell::new(None);
}

/// A hash of a panic's message.
fn message_hash(message: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    message.hash(&mut h);
    h.finish()
}

/// Lockdep is about to panic with `message`, the report of problem `key`: a capture that this
/// panic unwinds keeps that report (the panic carries it to whoever catches it: the test fails
/// with it, or a `#[should_panic]` test passes) instead of passing it on.
pub(crate) fn panic_carries(key: u64, message: &str) {
    let _ = CARRIED.try_with(|c| c.set(Some((key, message_hash(message)))));
}

/// Forgets the problem a panic of this thread carried (the panic was caught, or never came).
fn forget_carried() {
    let _ = CARRIED.try_with(Cell::take);
}

/// The problem whose report the panic `payload` carries as its message, if it is lockdep's
/// self-deadlock panic of this thread (see [`panic_carries`]); the mark is forgotten.
fn carried_by(payload: &(dyn std::any::Any + Send)) -> Option<u64> {
    let (key, hash) = CARRIED.try_with(Cell::take).ok().flatten()?;
    let message = payload.downcast_ref::<String>()?;
    (message_hash(message) == hash).then_some(key)
}

/// Runs `f`; if it panics, notes in `sink` the report the panic carries (see
/// [`carried_by`]) before the unwind goes on.
fn run_noting_carried<R>(sink: &CaptureSink, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            sink.state.lock().carried = carried_by(&*payload);
            std::panic::resume_unwind(payload)
        }
    }
}

/// Is this thread inside a capture that is not over?
pub(crate) fn capturing() -> bool {
    CAPTURES
        .try_with(|c| c.try_borrow().is_ok_and(|c| c.iter().any(|s| s.is_open())))
        .unwrap_or(false)
}

/// The innermost capture of this thread that is not over (for a thread it starts, and for
/// its reports).
pub(crate) fn current() -> Option<Arc<CaptureSink>> {
    CAPTURES
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|c| c.iter().rev().find(|s| s.is_open()).cloned())
        })
        .ok()
        .flatten()
}

/// Every capture of this thread that is not over, outermost first: what a thread it starts
/// joins, so that when the inner ones end its reports go to the enclosing one.
pub(crate) fn open_stack() -> Vec<Arc<CaptureSink>> {
    CAPTURES
        .try_with(|c| {
            c.try_borrow()
                .map(|c| c.iter().filter(|s| s.is_open()).cloned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// If this thread is capturing, takes `report` (problem `key`): `Some(true)` if it is new to
/// the capture, `Some(false)` if the capture had it already; `None` if not capturing.
pub(crate) fn offer(report: &Report, key: u64) -> Option<bool> {
    loop {
        let sink = current()?;
        let mut state = sink.state.lock();
        if !sink.is_open() {
            continue; // it ended meanwhile: the next one out takes it, if any
        }
        if !state.seen.insert(key) {
            return Some(false);
        }
        state.reports.push((report.clone(), key));
        return Some(true);
    }
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
/// If `f` unwinds, the capture ends too, and the reports it holds are delivered as if not
/// captured (to an enclosing capture, or printed and kept): nobody else would see them; but
/// not the one a self-deadlock panic of lockdep's carries as its message, which is whoever
/// catches the panic's to see (a `#[should_panic]` test expecting it passes, and does not
/// fail the run at exit).
/// Where this thread's capture state is gone (a thread-local destructor running late), `f`
/// just runs and no reports are returned.
/// `flush` delivers the problems this thread found but has not delivered yet (found while
/// it released locks): called before the capture starts (those are not the capture's) and
/// before it ends, however `f` ends.
pub(crate) fn capture<R>(f: impl FnOnce() -> R, flush: fn()) -> (R, Vec<Report>) {
    // What was found before the capture is not the capture's: delivered first, outside it.
    flush();
    forget_carried();
    let sink = Arc::new(CaptureSink::default());
    let joined = join(sink.clone());
    if !joined.0 {
        let r = f();
        flush();
        return (r, Vec::new());
    }
    let mut unwinding = Unwinding(Some((sink.clone(), flush)));
    let r = run_noting_carried(&sink, f);
    flush();
    unwinding.0 = None; // returned: not unwinding
    forget_carried(); // a panic of lockdep's caught inside `f`: its report is returned
    drop(joined);
    let reports = sink.close().into_iter().map(|(r, _)| r).collect();
    (r, reports)
}

/// Ends a capture whose closure unwinds, passing its reports on (the problems found and not
/// yet delivered first taken in).
struct Unwinding(Option<(Arc<CaptureSink>, fn())>);

impl Drop for Unwinding {
    fn drop(&mut self) {
        if let Some((sink, flush)) = self.0.take() {
            // Still joined (the `Joined` below this value is dropped after it): `flush`
            // offers to this capture, then `pass_on` closes it.
            flush();
            pass_on(&sink);
        }
    }
}

/// Ends a capture nobody will read (its closure unwound, its future was dropped): its
/// reports are delivered as if not captured, to an enclosing capture or printed and kept;
/// except the one carried by the panic of lockdep's that unwinds it, if that is why it ends.
fn pass_on(sink: &CaptureSink) {
    let carried = sink.state.lock().carried;
    for (report, key) in sink.close() {
        if Some(key) == carried {
            continue; // the unwinding panic's message is this report
        }
        // A drop cannot panic: in Panic mode printed (and counted) instead.
        super::sink::deliver_no_panic(report, key);
    }
}

/// One capture joined in turns: `capture_async`'s, joined by the thread that polls its
/// future for each poll. A `lockdep::thread` started in a poll joins it (not a capture of
/// that poll alone, which would be over when the poll returns), so what it finds while the
/// future runs is this capture's. Dropped unfinished (the future cancelled, or a poll
/// panicked), it passes its reports on.
#[cfg(lockdep_tasks)]
pub(crate) struct Spanning(Option<Arc<CaptureSink>>);

#[cfg(lockdep_tasks)]
impl Spanning {
    pub(crate) fn new() -> Spanning {
        Spanning(Some(Arc::new(CaptureSink::default())))
    }

    /// Runs `f` in the capture (this thread joined to it meanwhile), then `flush` (see
    /// [`capture`]; also if `f` unwinds); returns the reports taken so far, by `f` and by the
    /// threads it started.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R, flush: fn()) -> (R, Vec<(Report, u64)>) {
        let Some(sink) = &self.0 else {
            return (f(), Vec::new());
        };
        flush(); // what this thread found before the poll is not the capture's
        let joined = join(sink.clone());
        /// Flushes into the capture while a panicking `f` unwinds (still joined).
        struct Flush(Option<fn()>);
        impl Drop for Flush {
            fn drop(&mut self) {
                if let Some(flush) = self.0.take() {
                    flush();
                }
            }
        }
        let mut unwinding = Flush(Some(flush));
        let r = run_noting_carried(sink, f);
        flush();
        unwinding.0 = None;
        drop(joined);
        let reports = std::mem::take(&mut sink.state.lock().reports);
        (r, reports)
    }

    /// Ends the capture: the reports taken since the last [`run`](Self::run).
    pub(crate) fn finish(mut self) -> Vec<(Report, u64)> {
        self.0.take().map(|sink| sink.close()).unwrap_or_default()
    }
}

#[cfg(lockdep_tasks)]
impl Drop for Spanning {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            pass_on(&sink);
        }
    }
}
