//! `stdsync::Condvar`: std's condition variable; each wait releases and re-acquires the
//! mutex (the re-acquisition validated before sleeping) and is a wait on the condvar's event.

use std::panic::Location;
use std::time::Duration;

use super::{map_result, LockResult, MutexGuard, PoisonError, WaitTimeoutResult};
use crate::dep_map::{DepMap, Tracked};
use crate::guard::Guard;

/// std's `Condvar`, validated. Same API as `std::sync::Condvar`; see also [`arm`](Condvar::arm).
pub struct Condvar {
    event: DepMap,
    inner: std::sync::Condvar,
}

impl Condvar {
    /// A new condition variable; its event's class is the construction site.
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar {
            event: DepMap::condvar(Location::caller()),
            inner: std::sync::Condvar::new(),
        }
    }

    /// The validator's side of going to sleep: the mutex is released, the wait on the event
    /// checked, and the re-acquisition validated, before the thread sleeps.
    #[track_caller]
    fn before_sleep<'a>(
        &self,
        mut tracked: Tracked<'a>,
        site: &'static Location<'static>,
    ) -> Tracked<'a> {
        match tracked.suspend(true) {
            Some((map, waiting)) => {
                self.event.wait_event(site);
                Tracked::resume(map, waiting, site)
            }
            None => tracked,
        }
    }

    /// Blocks until notified; takes and returns the guard, as std's.
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (tracked, inner) = guard.into_parts();
        let tracked = self.before_sleep(tracked, Location::caller());
        map_result(self.inner.wait(inner), |g| Guard::new(tracked, g))
    }

    /// Blocks while `condition` returns true.
    #[track_caller]
    pub fn wait_while<'a, T, F: FnMut(&mut T) -> bool>(
        &self,
        guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>> {
        let site = Location::caller();
        let (tracked, inner) = guard.into_parts();
        let mut tracked = ReleaseOnUnwind(tracked);
        let r = self.inner.wait_while(inner, |v| {
            let sleep = condition(v);
            if sleep {
                tracked.0 = self.before_sleep(tracked.take(), site);
            }
            sleep
        });
        map_result(r, |g| Guard::new(tracked.take(), g))
    }

    /// Blocks until notified or until `dur` has passed.
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (tracked, inner) = guard.into_parts();
        // A zero timeout never sleeps: no wait to validate.
        let tracked = if dur.is_zero() {
            tracked
        } else {
            self.before_sleep(tracked, Location::caller())
        };
        timeout_result(self.inner.wait_timeout(inner, dur), tracked)
    }

    /// Blocks while `condition` returns true, for at most `dur`.
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F: FnMut(&mut T) -> bool>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let site = Location::caller();
        let (tracked, inner) = guard.into_parts();
        let mut tracked = ReleaseOnUnwind(tracked);
        // std returns without sleeping once `dur` has passed (its clock starts just after
        // this one: at worst it sleeps a few nanoseconds unvalidated, which cannot deadlock).
        let start = std::time::Instant::now();
        let r = self.inner.wait_timeout_while(inner, dur, |v| {
            let sleep = condition(v);
            if sleep && start.elapsed() < dur {
                tracked.0 = self.before_sleep(tracked.take(), site);
            }
            sleep
        });
        timeout_result(r, tracked.take())
    }

    /// This thread made the condition pending and will notify (see [`crate::Condvar::arm`]).
    #[track_caller]
    pub fn arm(&self) {
        self.event.arm_event(Location::caller());
    }

    /// Wakes one waiter. Ends this thread's armed span.
    #[track_caller]
    pub fn notify_one(&self) {
        self.event.signal_event(Location::caller());
        self.inner.notify_one();
    }

    /// Wakes every waiter. Ends this thread's armed span.
    #[track_caller]
    pub fn notify_all(&self) {
        self.event.signal_event(Location::caller());
        self.inner.notify_all();
    }
}

/// The token of a guard taken apart for std's `wait_while` / `wait_timeout_while`, which own
/// the real guard meanwhile: if the condition panics, std drops (unlocks and poisons) the real
/// guard as the panic unwinds, and this releases the acquisition with it, as the guard's drop
/// would have.
struct ReleaseOnUnwind<'a>(Tracked<'a>);

impl<'a> ReleaseOnUnwind<'a> {
    /// The token, leaving nothing to release.
    fn take(&mut self) -> Tracked<'a> {
        std::mem::replace(&mut self.0, Tracked::untracked())
    }
}

impl Drop for ReleaseOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[allow(clippy::type_complexity)]
fn timeout_result<'a, T>(
    r: LockResult<(std::sync::MutexGuard<'a, T>, WaitTimeoutResult)>,
    tracked: Tracked<'a>,
) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
    match r {
        Ok((g, t)) => Ok((Guard::new(tracked, g), t)),
        Err(p) => {
            let (g, t) = p.into_inner();
            Err(PoisonError::new((Guard::new(tracked, g), t)))
        }
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condvar { .. }")
    }
}

// As std's.
impl std::panic::UnwindSafe for Condvar {}
impl std::panic::RefUnwindSafe for Condvar {}
