//! [`capture_async`]: `capture` for async code and tests.
//!
//! While its future runs, the reports raised by the future itself go to it (a `capture` around
//! each of its polls, on whatever thread polls it), and so do the reports raised by any other
//! task or blocking thread of the same tokio runtime that no `capture` of its own takes: a
//! runtime-wide capture, keyed by the runtime's id. A `#[tokio::test]` has a runtime of its own,
//! so parallel tests never see each other's reports.

use std::future::{poll_fn, Future};
use std::pin::pin;

use crate::report::Report;

/// Runs `future` and returns its output with the reports raised meanwhile by it and by every
/// other task of its tokio runtime (they are not printed, panicked on, passed to the hook or
/// kept for [`take_reports`](crate::take_reports)); each distinct problem appears once.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// use lockdep::{tokio::Mutex, ReportKind};
/// let m = std::sync::Arc::new(Mutex::named("m", ()));
/// let (_, reports) = lockdep::tokio::capture_async(async {
///     let m = m.clone();
///     tokio::spawn(async move {
///         let _g = m.lock().await;
///         let g2 = m.try_lock(); // fails: no trace, no report
///         assert!(g2.is_err());
///     })
///     .await
///     .unwrap();
/// })
/// .await;
/// assert!(reports.is_empty());
/// # }
/// ```
pub async fn capture_async<F: Future>(future: F) -> (F::Output, Vec<Report>) {
    #[cfg(lockdep_tasks)]
    {
        let scope = enabled::Scope::enter();
        let mut future = pin!(future);
        let out = poll_fn(|cx| {
            let (poll, reports) = crate::capture(|| future.as_mut().poll(cx));
            scope.add(reports);
            poll
        })
        .await;
        (out, scope.finish())
    }
    #[cfg(not(lockdep_tasks))]
    {
        let mut future = pin!(future);
        let out = poll_fn(|cx| {
            let (poll, reports) = crate::capture(|| future.as_mut().poll(cx));
            drop(reports); // nothing without the holder machinery (validation compiled out)
            poll
        })
        .await;
        (out, Vec::new())
    }
}

#[cfg(lockdep_tasks)]
pub(crate) use enabled::{capturing, deliver};

#[cfg(lockdep_tasks)]
mod enabled {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    use ::tokio::runtime::{Handle, Id};

    use crate::report::sink::Delivery;
    use crate::report::Report;
    use crate::sync::internal::Mutex;

    #[derive(Default)]
    struct Buffer {
        seen: HashSet<u64>,
        reports: Vec<Report>,
    }

    type Shared = Arc<Mutex<Buffer>>;

    /// The runtime-wide captures in force, oldest first.
    static SCOPES: Mutex<Vec<(Id, u64, Shared)>> = Mutex::new();
    /// How many: reports look at `SCOPES` only when there are some.
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);
    static NEXT: AtomicUsize = AtomicUsize::new(1);

    /// One `capture_async` in force.
    pub(super) struct Scope {
        buffer: Shared,
        /// Its registration (runtime id, number), if it runs in a runtime.
        registered: Option<u64>,
    }

    impl Scope {
        pub(super) fn enter() -> Scope {
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
        pub(super) fn add(&self, reports: Vec<Report>) {
            let mut b = self.buffer.lock();
            for r in reports {
                if b.seen.insert(r.0.key) {
                    b.reports.push(r);
                }
            }
        }

        pub(super) fn finish(self) -> Vec<Report> {
            std::mem::take(&mut self.buffer.lock().reports)
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            if let Some(n) = self.registered {
                SCOPES.lock().retain(|(_, m, _)| *m != n);
                ACTIVE.fetch_sub(1, Relaxed);
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
        if !b.seen.insert(key) {
            return Some(Delivery::Duplicate);
        }
        b.reports.push(report.clone());
        Some(Delivery::Delivered)
    }
}
