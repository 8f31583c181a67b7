//! [`capture_async`]: `capture` for async code and tests.
//!
//! While its future runs, the reports raised by the future itself go to it (one capture,
//! joined around each of its polls, on whatever thread polls it; the `lockdep::thread`s it
//! starts join it too), and so do the reports raised by any other task or blocking thread of
//! the same tokio runtime that no `capture` of its own takes: a runtime-wide capture, keyed
//! by the runtime's id. Dropped before it completes, it delivers what it took as if nothing
//! had captured it (printed and kept, failing the run): nothing is lost. A `#[tokio::test]` has a runtime of its own,
//! so parallel tests never see each other's reports.
//!
//! Each time the future returns `Pending` its holder (the `block_on` thread, or the task
//! polling it) is taken to be suspended: a blocking lock it holds then is reported held
//! across an `.await` at once. So a `capture_async` is meant to be the whole future of its
//! `block_on` or task, as a test's body is; polled as one branch of a `select!` beside a
//! branch that completes in the same poll, it would report a lock released before the holder
//! really suspends.

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
        use crate::report::capture::Spanning;
        // What this thread found before is not this capture's: delivered before it starts.
        crate::validator::deliver_deferred();
        let scope = crate::report::runtime_capture::Scope::enter();
        // One capture for the whole future, joined around each poll: a `lockdep::thread`
        // started in a poll reports into it for as long as the future runs.
        let capture = Spanning::new();
        let mut future = pin!(future);
        let out = poll_fn(|cx| {
            // Problems found while this thread released locks belong here too.
            // Pending: the body is suspended (the whole future of a `block_on` or of a task,
            // as a test's is), and a blocking lock it holds is reported held across the
            // `.await` now, not only when its thread next switches holders (which a `block_on`
            // on a multi-thread runtime never does).
            let (poll, reports) = capture.run(
                || {
                    let poll = future.as_mut().poll(cx);
                    if poll.is_pending() {
                        crate::validator::holder::suspended();
                    }
                    poll
                },
                crate::validator::deliver_deferred,
            );
            scope.add(reports.into_iter().map(|(r, _)| r).collect());
            poll
        })
        .await;
        scope.add(capture.finish().into_iter().map(|(r, _)| r).collect());
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
