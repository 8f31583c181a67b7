//! What every acquisition of an async lock does around the real wait: it is validated before
//! it waits; awaited, it is recorded only once the lock is taken (other branches of its task
//! run while it waits, and must not find it holding the lock), so a cancelled wait (its
//! future dropped, e.g. by `select!` or `timeout`) leaves nothing behind; blocking
//! (`blocking_lock` & co.), it is recorded before it blocks and released again if the wait
//! unwinds. A holder that has to wait while it holds a blocking lock is reported
//! (`HeldAcrossAwait`).

use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::pin;
#[cfg(lockdep_enabled)]
use std::task::{Poll, Waker};
#[cfg(lockdep_enabled)]
use std::time::{Duration, Instant};

use crate::dep_map::{DepMap, Tracked};
use crate::guard::Sendable;
use crate::read::Read;
#[cfg(lockdep_tasks)]
use crate::validator::holder::Conflict;

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

/// An async acquisition of the lock `dep` in mode `read`, whole; returns its token and the real
/// guard. The uncontended case is tried first (`try_now`): it cannot be a lock this task holds,
/// so it is validated at once and nothing waits. Otherwise a lock this task holds is left to
/// another branch of the task, or to whoever has its owned guard now, for a while
/// ([`other_branch`]), and the acquisition is validated before it waits for the real lock
/// (`lock`, through [`wait_for`]) and recorded when the lock comes.
pub(super) async fn lock_async<'a, G, F: Future<Output = G>>(
    dep: &'a DepMap,
    (read, subclass, site): (Read, u8, &'static Location<'static>),
    try_now: impl FnOnce() -> Option<G>,
    lock: impl Fn() -> F,
) -> (Tracked<'a, Sendable>, G) {
    if let Some(guard) = try_now() {
        return (dep.acquire_async(read, subclass, site), guard);
    }
    let (released, _in_vain) = other_branch(dep, (read, site), &lock).await;
    let validate = || {
        #[cfg(lockdep_tasks)]
        {
            let _in_vain = _in_vain.then(crate::holder::waited_in_vain);
            crate::holder::awaiting(|| dep.acquire_async(read, subclass, site))
        }
        #[cfg(not(lockdep_tasks))]
        dep.acquire_async(read, subclass, site)
    };
    match released {
        // Another branch of this task released it: held now.
        Some(guard) => (validate(), guard),
        None => {
            // Moved out on this path too, so the (empty) `Option<G>` is not kept across the
            // wait: the future would be `Sync` only if `G` is, where tokio's is `Sync` for any
            // `Mutex<T>` that is (`T: Send`; `MutexGuard<T>` is `Sync` only if `T: Sync`).
            drop(released);
            // Validated before the wait (a possible deadlock is reported now, not once it
            // hangs), but not held while it waits: other branches of this task run meanwhile,
            // and a queued acquisition's entry would be taken for the lock held (their own
            // acquisition of it for a re-lock, what they take for ordered after it). Recorded
            // when the lock comes (the same chain: no second report).
            validate().release();
            let guard = wait_for(dep, (read, site), lock()).await;
            (dep.acquire_async(read, subclass, site), guard)
        }
    }
}

/// Awaits `wait` (the real lock's future, for an acquisition in mode `read` at `site`, after a
/// `try_*` failed: tokio's own acquisition tries the same first, so fairness is unchanged).
/// Every such wait, whatever it waits for (a holder on another task or thread, another branch
/// of its own holder, an owned guard handed elsewhere):
/// - is listed as queued while it waits (`queued`), under whoever polls it now: a blocking
///   acquisition of the lock by that holder meanwhile would wait behind it for ever;
/// - if it has to wait, first reports the blocking locks the holder keeps while it is
///   suspended (`HeldAcrossAwait`).
async fn wait_for<F: Future>(
    _dep: &DepMap,
    (_read, _site): (Read, &'static Location<'static>),
    wait: F,
) -> F::Output {
    #[cfg(lockdep_tasks)]
    let mut queued = super::queued::enter(_dep.instance(), _read, _site);
    let mut wait = pin!(wait);
    let mut first = true;
    poll_fn(move |cx| {
        #[cfg(lockdep_tasks)]
        queued.polled();
        let poll = wait.as_mut().poll(cx);
        if poll.is_pending() && std::mem::take(&mut first) {
            #[cfg(lockdep_tasks)]
            crate::validator::holder::suspending(_dep.name());
        }
        poll
    })
    .await
}

/// How long an async acquisition of a lock its own task holds waits for another branch of the
/// task to release it before it is reported as the task re-locking it.
#[cfg(lockdep_enabled)]
const OTHER_BRANCH_GRACE: Duration = Duration::from_secs(1);

/// An async acquisition of a lock the calling task already holds in a conflicting mode: in
/// sequential code a certain self-deadlock, but branches of one task (`join!`, `select!`,
/// `FuturesUnordered`) may just be waiting for each other. So the real lock is awaited first,
/// for at most [`OTHER_BRANCH_GRACE`]: `Some(guard)` if another branch released it meanwhile
/// (the caller then validates the acquisition as a plain one); `None` at once if the task does
/// not hold the lock, or after the grace (the caller's validation then reports the re-lock
/// and panics).
///
/// If the task holds it only through owned guards (`lock_owned` & co.), a guard may have been
/// handed to another task or thread, which releases it when done (the entry stays on this
/// task's stack until then): no self-deadlock at all. The real lock is then awaited for up to
/// the deadlock timeout (`LOCKDEP_DEADLOCK_TIMEOUT`; for ever if 0), reporting nothing if it
/// comes; the second value says it did not (waited in vain: the caller's validation then
/// reports the re-lock and panics).
async fn other_branch<F: Future>(
    dep: &DepMap,
    (read, site): (Read, &'static Location<'static>),
    lock: impl FnOnce() -> F,
) -> (Option<F::Output>, bool) {
    #[cfg(lockdep_tasks)]
    match dep.held_conflicting(read) {
        Conflict::None => {}
        Conflict::Held => {
            // Queued for the lock as any wait (another branch of the holder releases it to
            // this one), and blocking locks held now are held across it.
            let wait = wait_for(dep, (read, site), lock());
            return (within(OTHER_BRANCH_GRACE, wait).await, false);
        }
        Conflict::Movable => {
            // Waiting for another holder: blocking locks held now are held across it.
            let wait = wait_for(dep, (read, site), lock());
            return match crate::mode::deadlock_timeout() {
                Some(limit) => {
                    let got = within(limit, wait).await;
                    let in_vain = got.is_none();
                    (got, in_vain)
                }
                None => (Some(wait.await), false),
            };
        }
    }
    #[cfg(not(lockdep_tasks))]
    let _ = (dep, read, site, lock);
    (None, false)
}

/// A blocking acquisition (`blocking_lock` & co.) of the lock `dep` in mode `read`, whole:
/// validated, then the real lock taken (`lock`); returns its token and the real guard. If the
/// calling holder holds the lock only through owned guards, which may be with another task or
/// thread that will release them (see [`other_branch`]), the real lock is waited for first
/// (`try_now`, polled for up to the deadlock timeout; for ever if 0) and the acquisition
/// validated once it comes, or after the timeout as a self-deadlock (it panics).
#[track_caller]
pub(super) fn lock_blocking<'a, G>(
    dep: &'a DepMap,
    (read, subclass, site): (Read, u8, &'static Location<'static>),
    #[cfg_attr(not(lockdep_tasks), allow(unused_mut))] mut try_now: impl FnMut() -> Option<G>,
    lock: impl FnOnce() -> G,
) -> (Tracked<'a, Sendable>, G) {
    #[cfg(lockdep_tasks)]
    let conflict = dep.held_conflicting(read);
    // A branch of this holder queued for the lock gets it first (also when the lock is held
    // now through an owned guard that another holder will release). Unless the branch is
    // polled elsewhere after all (a future moved to another thread, not polled there yet):
    // the lock is tried for a grace first, and what still waits behind it is stopped.
    #[cfg(lockdep_tasks)]
    if conflict != Conflict::Held && super::queued::ahead(dep.instance(), read).is_some() {
        if let Some(guard) = crate::guard::poll_for(OTHER_BRANCH_GRACE, &mut try_now) {
            return (dep.acquire_async(read, subclass, site), guard);
        }
        if let Some(ahead) = super::queued::ahead(dep.instance(), read) {
            blocked_behind_a_queued_branch(dep, ahead, (read, subclass, site));
        }
    }
    #[cfg(lockdep_tasks)]
    if conflict == Conflict::Movable {
        let Some(limit) = crate::mode::deadlock_timeout() else {
            let guard = lock();
            return (dep.acquire_async(read, subclass, site), guard);
        };
        if let Some(guard) = crate::guard::poll_for(limit, try_now) {
            return (dep.acquire_async(read, subclass, site), guard);
        }
        let in_vain = crate::holder::waited_in_vain();
        let waiting = Waiting::new(dep.acquire_async(read, subclass, site));
        drop(in_vain);
        let guard = lock();
        return (waiting.acquired(), guard);
    }
    #[cfg(not(lockdep_tasks))]
    let _ = try_now;
    let waiting = Waiting::new(dep.acquire_async(read, subclass, site));
    let guard = lock();
    (waiting.acquired(), guard)
}

/// A blocking acquisition by a holder with an awaited acquisition of the same lock queued
/// (another branch of its future, `ahead`: its mode and site) in a conflicting mode: tokio
/// hands the lock to that branch when it is released, and the branch cannot run while this
/// thread blocks — a certain deadlock. Validated with the queued branch's acquisition
/// recorded as if it held the lock: the re-lock is reported (with what really happens) and
/// stopped, as any certain self-deadlock. (If the validation cannot panic — a thread-local
/// destructor, `Off` mode — the branch's record is taken off again and the caller blocks.)
#[cfg(lockdep_tasks)]
#[cold]
#[inline(never)]
fn blocked_behind_a_queued_branch(
    dep: &DepMap,
    ahead: (Read, &'static Location<'static>),
    (read, subclass, site): (Read, u8, &'static Location<'static>),
) {
    // The branch's stand-in, recorded unvalidated (as a trylock: it reports nothing itself,
    // also beside an owned guard's entry of the lock).
    let _ahead = Waiting::new(dep.acquired_try_async(ahead.0, ahead.1));
    let _queued = crate::holder::queued_ahead();
    drop(Waiting::new(dep.acquire_async(read, subclass, site)));
}

/// `fut`'s output if it completes within `grace` (it is dropped, cancelled, otherwise).
#[cfg(lockdep_enabled)]
async fn within<F: Future>(grace: Duration, fut: F) -> Option<F::Output> {
    let deadline = Instant::now() + grace;
    let mut fut = pin!(fut);
    let mut armed = false;
    poll_fn(move |cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if Instant::now() >= deadline {
            return Poll::Ready(None);
        }
        if !std::mem::replace(&mut armed, true) {
            alarm::set(deadline, cx.waker().clone());
        }
        Poll::Pending
    })
    .await
}

/// Wakes a task at a deadline without a runtime timer (the runtime may have none): one thread,
/// started on first use, wakes each registered waker when its time comes.
#[cfg(lockdep_enabled)]
mod alarm {
    use super::{Instant, Waker};
    use crate::sync::internal::Mutex;

    static ALARMS: Mutex<Vec<(Instant, Waker)>> = Mutex::new();
    static THREAD: once_cell::sync::OnceCell<std::thread::Thread> =
        once_cell::sync::OnceCell::new();

    /// Wakes `waker` at `at`.
    pub(super) fn set(at: Instant, waker: Waker) {
        ALARMS.lock().push((at, waker));
        let thread = THREAD.get_or_init(|| {
            std::thread::Builder::new()
                .name("lockdep-alarm".into())
                .spawn(run)
                .expect("lockdep: cannot start its alarm thread")
                .thread()
                .clone()
        });
        thread.unpark();
    }

    fn run() {
        loop {
            let now = Instant::now();
            let (due, next) = {
                let mut alarms = ALARMS.lock();
                let (due, rest): (Vec<_>, Vec<_>) = alarms.drain(..).partition(|(t, _)| *t <= now);
                *alarms = rest;
                (due, alarms.iter().map(|(t, _)| *t).min())
            };
            // Woken outside the lock: waking runs the runtime's code.
            for (_, waker) in due {
                waker.wake();
            }
            match next {
                Some(t) => std::thread::park_timeout(t.saturating_duration_since(now)),
                None => std::thread::park(),
            }
        }
    }
}
