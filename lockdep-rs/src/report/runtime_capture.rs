//! `capture_async`'s runtime-wide capture (feature `tokio`): while a `capture_async` runs,
//! reports that no capture of their thread takes, raised on a thread of the same tokio runtime
//! (its workers, its blocking threads, a current-thread runtime's own thread), go to it. A
//! `#[tokio::test]` has a runtime of its own, so parallel tests never see each other's.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use ::tokio::runtime::{Handle, Id};

use super::sink::Delivery;
use super::Report;
use crate::sync::internal::Mutex;

#[derive(Default)]
struct Buffer {
    seen: HashSet<u64>,
    reports: Vec<Report>,
    /// Its capture has ended (finished, or dropped): a report that found the buffer before
    /// the scope was unregistered goes elsewhere, not into a buffer nobody reads.
    closed: bool,
}

type Shared = Arc<Mutex<Buffer>>;

/// The runtime-wide captures in force, oldest first.
static SCOPES: Mutex<Vec<(Id, u64, Shared)>> = Mutex::new();
/// How many: reports look at `SCOPES` only when there are some.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// One `capture_async` in force.
pub(crate) struct Scope {
    buffer: Shared,
    /// Its registration (runtime id, number), if it runs in a runtime.
    registered: Option<u64>,
}

impl Scope {
    pub(crate) fn enter() -> Scope {
        let buffer = Shared::default();
        let registered = Handle::try_current().ok().map(|h| {
            let n = NEXT.fetch_add(1, Relaxed) as u64;
            SCOPES.lock().push((h.id(), n, buffer.clone()));
            ACTIVE.fetch_add(1, Relaxed);
            n
        });
        Scope { buffer, registered }
    }

    /// Adds what a poll's own capture took.
    pub(crate) fn add(&self, reports: Vec<Report>) {
        let mut b = self.buffer.lock();
        for r in reports {
            if b.seen.insert(r.0.key) {
                b.reports.push(r);
            }
        }
    }

    pub(crate) fn finish(self) -> Vec<Report> {
        let mut b = self.buffer.lock();
        b.closed = true;
        std::mem::take(&mut b.reports)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(n) = self.registered {
            SCOPES.lock().retain(|(_, m, _)| *m != n);
            ACTIVE.fetch_sub(1, Relaxed);
        }
        // Dropped unfinished (its `capture_async` cancelled, or a poll panicked): nobody
        // will read what it took, so it is delivered as if not captured.
        let left = {
            let mut b = self.buffer.lock();
            b.closed = true;
            std::mem::take(&mut b.reports)
        };
        for report in left {
            let key = report.0.key;
            super::sink::deliver_no_panic(report, key);
        }
    }
}

/// The newest capture of the calling thread's runtime, if any.
fn scope_here() -> Option<Shared> {
    if ACTIVE.load(Relaxed) == 0 {
        return None;
    }
    let id = Handle::try_current().ok()?.id();
    let scopes = SCOPES.lock();
    scopes
        .iter()
        .rev()
        .find(|(rt, _, _)| *rt == id)
        .map(|(_, _, b)| b.clone())
}

/// Is a runtime-wide capture taking this thread's reports?
pub(crate) fn capturing() -> bool {
    scope_here().is_some()
}

/// Delivers a report no `capture` of this thread took to its runtime's capture, if any.
pub(crate) fn deliver(report: &Report, key: u64) -> Option<Delivery> {
    let buffer = scope_here()?;
    let mut b = buffer.lock();
    if b.closed {
        return None; // it ended meanwhile: delivered as if not captured
    }
    if !b.seen.insert(key) {
        return Some(Delivery::Duplicate);
    }
    b.reports.push(report.clone());
    Some(Delivery::Delivered)
}
