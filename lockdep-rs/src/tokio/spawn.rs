//! tokio's `spawn`, `spawn_local` and `spawn_blocking`, plus what lockdep learns from them:
//! where each task was spawned (shown in the reports that name it), and when it ends, so that
//! blocking locks it still holds then — leaked guards — are reported (`LocksHeldAtExit`; a
//! local task's when its thread exits: see [`spawn_local`]).
//! Tasks spawned with tokio's own functions are validated the same way; only these two extras
//! need the wrapper.

use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::pin;

use ::tokio::task::JoinHandle;

/// Lives as long as the task's future (or blocking closure) runs: created at its first poll,
/// dropped when it completes or is aborted (tokio drops a task's future inside the task).
struct TaskLife {
    /// A local task's: its blocking guards may have left it (see [`spawn_local`]).
    #[cfg_attr(not(lockdep_tasks), allow(dead_code))]
    local: bool,
}

impl TaskLife {
    fn begin(_site: &'static Location<'static>, local: bool) -> TaskLife {
        #[cfg(lockdep_tasks)]
        if let Some(id) = crate::holder::current_task() {
            crate::holder::spawned(id, _site);
        }
        TaskLife { local }
    }
}

impl Drop for TaskLife {
    fn drop(&mut self) {
        #[cfg(lockdep_tasks)]
        crate::validator::holder::task_ended(self.local);
    }
}

/// Runs the whole future of a task (or of a `capture_async`): each time it returns `Pending`
/// its holder is suspended, and a blocking lock it holds then is reported held across an
/// `.await` at once (`validator::holder::suspended`).
async fn suspensions_watched<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        #[cfg(lockdep_tasks)]
        if poll.is_pending() {
            crate::validator::holder::suspended();
        }
        poll
    })
    .await
}

/// `tokio::spawn`, recording where the task was spawned, reporting a blocking lock it holds
/// when it suspends (a leaked guard's: a blocking guard is not `Send`), and checking, when it
/// ends, that it holds no blocking lock.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = Location::caller();
    ::tokio::spawn(async move {
        let _life = TaskLife::begin(site, false);
        suspensions_watched(future).await
    })
}

/// `tokio::task::spawn_local` (inside a `LocalSet`), as [`spawn`] (a local task may hold a
/// blocking guard across an `.await`: reported as it suspends). A local task's blocking
/// guards may outlive it without being leaked: its output need not be `Send`, so it may be
/// (or hold) a blocking guard the task took, and the task may have handed one to another
/// holder of its thread (another local task, through a channel). So blocking locks a local
/// task holds when it ends stay held, released where their guards are dropped (a blocking
/// re-lock of one on the thread meanwhile is still stopped as a certain self-deadlock); those
/// still held when the thread exits were leaked: `LocksHeldAtExit` then, naming the task.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let site = Location::caller();
    ::tokio::task::spawn_local(async move {
        let _life = TaskLife::begin(site, true);
        suspensions_watched(future).await
    })
}

/// `tokio::task::spawn_blocking`, as [`spawn`]: the closure runs as a task of the blocking
/// pool, which holds what it locks.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let site = Location::caller();
    ::tokio::task::spawn_blocking(move || {
        let _life = TaskLife::begin(site, false);
        f()
    })
}
