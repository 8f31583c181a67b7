//! What every async acquisition does around the real wait: the entry is recorded (validated)
//! first and released again if the acquisition is cancelled (its future dropped while it
//! waits, e.g. by `select!` or `timeout`); and a holder that has to wait while it holds a
//! blocking lock is reported (`HeldAcrossAwait`).

use std::future::{poll_fn, Future};
use std::pin::pin;

use crate::dep_map::{DepMap, Tracked};
use crate::guard::Sendable;

/// An async acquisition's token while it waits for the real lock: released on drop (the wait
/// was cancelled), handed to the guard by [`acquired`](Self::acquired).
pub(super) struct Waiting<'a>(Option<Tracked<'a, Sendable>>);

impl<'a> Waiting<'a> {
    pub(super) fn new(tracked: Tracked<'a, Sendable>) -> Self {
        Waiting(Some(tracked))
    }

    /// The lock is taken: the token goes to its guard.
    pub(super) fn acquired(mut self) -> Tracked<'a, Sendable> {
        self.0.take().unwrap_or_else(Tracked::untracked)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut tracked) = self.0.take() {
            tracked.release();
        }
    }
}

/// Awaits `wait` (the real lock's future, after a `try_*` failed: tokio's own acquisition tries
/// the same first, so fairness is unchanged); if it has to wait, first reports the blocking
/// locks the holder keeps while it is suspended.
pub(super) async fn wait_for<F: Future>(_dep: &DepMap, wait: F) -> F::Output {
    let mut wait = pin!(wait);
    let mut first = true;
    poll_fn(move |cx| {
        let poll = wait.as_mut().poll(cx);
        if poll.is_pending() && std::mem::take(&mut first) {
            #[cfg(lockdep_tasks)]
            crate::validator::holder::suspending(_dep.name());
        }
        poll
    })
    .await
}
