//! `Condvar`: parking_lot's condition variable, keeping the held-lock record right across
//! the wait (the mutex is released while waiting and re-acquired, and validated, after).

use std::panic::Location;

use crate::dep_map::Tracked;
use crate::mutex::MutexGuard;
use crate::sync;

/// A condition variable for [`Mutex`](crate::Mutex) guards.
///
/// ```
/// use lockdep::{Condvar, Mutex};
/// let ready = Mutex::named("ready", true);
/// let cv = Condvar::new();
/// let mut g = ready.lock();
/// cv.wait_while(&mut g, |ready| !*ready); // returns at once: already ready
/// cv.notify_all();
/// ```
pub struct Condvar {
    inner: sync::Condvar,
}

impl Condvar {
    /// A new condition variable.
    #[cfg(not(loom))]
    pub const fn new() -> Condvar {
        Condvar {
            inner: sync::Condvar::new(),
        }
    }

    /// A new condition variable (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Condvar {
        Condvar {
            inner: sync::Condvar::new(),
        }
    }

    /// Blocks until notified, releasing the guard's mutex meanwhile.
    ///
    /// The validator records the release, then re-validates the re-acquisition *before*
    /// sleeping (the locks this thread holds cannot change while it sleeps), so a lock-order
    /// problem of the re-acquisition is reported before any hang.
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        let site = Location::caller();
        if let Some(map) = guard.tracked.map() {
            guard.tracked.release();
            guard.tracked = Tracked::reacquire(map, site);
        }
        self.inner.wait(&mut guard.inner);
    }

    /// Blocks while `condition` returns true, re-checking it after every wake-up.
    #[track_caller]
    pub fn wait_while<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
    ) {
        let site = Location::caller();
        while condition(&mut *guard) {
            if let Some(map) = guard.tracked.map() {
                guard.tracked.release();
                guard.tracked = Tracked::reacquire(map, site);
            }
            self.inner.wait(&mut guard.inner);
        }
    }

    /// Wakes one waiter; returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        self.inner.notify_one()
    }

    /// Wakes every waiter; returns how many were woken.
    pub fn notify_all(&self) -> usize {
        self.inner.notify_all()
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condvar { .. }")
    }
}
