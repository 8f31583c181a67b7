//! `Condvar`: parking_lot's condition variable, keeping the held-lock record right across
//! the wait (the mutex is released while waiting and re-acquired, and validated, after), and
//! treating the wait as a wait on an event (see [`Event`](crate::Event)).

use std::panic::Location;
#[cfg(not(loom))]
use std::time::{Duration, Instant};

#[cfg(not(loom))]
pub use crate::sync::real::WaitTimeoutResult;

#[cfg(not(loom))]
use std::mem::{align_of, size_of, ManuallyDrop};

use crate::dep_map::{DepMap, Tracked};
use crate::mutex::MutexGuard;
use crate::sync;
#[cfg(not(loom))]
use crate::sync::real;

/// A condition variable for [`Mutex`](crate::Mutex) guards.
///
/// Each wait is also a wait on the condvar's *event*: the locks the waiter still holds while
/// it sleeps (all but the guard's mutex) must not be needed by the thread that will notify
/// it. That thread can say so with [`arm`](Condvar::arm) when it makes the condition pending;
/// from then until its next `notify_*`, the locks it takes are checked against the waiters'.
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
    event: DepMap,
    inner: sync::Condvar,
}

impl Condvar {
    /// A new condition variable; its event's class is the construction site (named `condvar at
    /// file:line:col` in reports).
    #[cfg(not(loom))]
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar {
            event: DepMap::condvar(Location::caller()),
            inner: sync::Condvar::new(),
        }
    }

    /// A new condition variable (loom build: not `const`).
    #[cfg(loom)]
    #[track_caller]
    pub fn new() -> Condvar {
        Condvar {
            event: DepMap::condvar(Location::caller()),
            inner: sync::Condvar::new(),
        }
    }

    /// Blocks until notified, releasing the guard's mutex meanwhile.
    ///
    /// The validator records the release and the wait on the condvar's event, then
    /// re-validates the re-acquisition *before* sleeping (the locks this thread holds cannot
    /// change while it sleeps), so a problem is reported before any hang.
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.before_sleep(guard, Location::caller());
        self.on_real(guard, |cv, g| cv.wait(g));
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
            self.before_sleep(guard, site);
            self.on_real(guard, |cv, g| cv.wait(g));
        }
    }

    /// Blocks until notified or until `timeout`, releasing the guard's mutex meanwhile;
    /// validated before sleeping like [`wait`](Self::wait) (a timeout turns a lost wake-up
    /// into a stall, so a waker that needs a lock the waiter holds is still reported).
    #[cfg(not(loom))]
    #[track_caller]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Instant,
    ) -> WaitTimeoutResult {
        // A deadline already passed never sleeps: no wait to validate.
        if Instant::now() < timeout {
            self.before_sleep(guard, Location::caller());
        }
        self.on_real(guard, |cv, g| cv.wait_until(g, timeout))
    }

    /// Blocks until notified or for at most `timeout` (see [`wait_until`](Self::wait_until)).
    #[cfg(not(loom))]
    #[track_caller]
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        // A zero timeout never sleeps: no wait to validate.
        if !timeout.is_zero() {
            self.before_sleep(guard, Location::caller());
        }
        self.on_real(guard, |cv, g| cv.wait_for(g, timeout))
    }

    /// Blocks while `condition` returns true, until `timeout`.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn wait_while_until<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        timeout: Instant,
    ) -> WaitTimeoutResult {
        let site = Location::caller();
        // A result that has not timed out (the condition is not called, nothing waits).
        let mut result = self.on_real(guard, |cv, g| cv.wait_while_until(g, |_| false, timeout));
        while !result.timed_out() && condition(&mut *guard) {
            // A deadline already passed never sleeps: no wait to validate.
            if Instant::now() < timeout {
                self.before_sleep(guard, site);
            }
            result = self.on_real(guard, |cv, g| cv.wait_until(g, timeout));
        }
        result
    }

    /// Blocks while `condition` returns true, for at most `timeout`.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn wait_while_for<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let deadline = Instant::now().checked_add(timeout);
        match deadline {
            Some(deadline) => self.wait_while_until(guard, condition, deadline),
            // Too far in the future to represent: wait without a timeout.
            None => {
                self.wait_while(guard, condition);
                self.on_real(guard, |cv, g| {
                    cv.wait_while_until(g, |_| false, Instant::now())
                })
            }
        }
    }

    /// Runs `f` on the real condvar and a real guard of the guard's mutex. parking_lot's
    /// condvar only takes parking_lot's own guards (`lock_api::MutexGuard<RawMutex, _>`) and
    /// only uses their raw mutex: it gets a guard of a `Mutex<RawMutex, ()>` that *is* the
    /// real raw mutex inside the guard's lock (same layout, checked at compile time), which
    /// it unlocks and relocks while waiting, and which is never dropped.
    #[cfg(not(loom))]
    #[allow(unsafe_code)]
    fn on_real<T: ?Sized, R>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        f: impl FnOnce(&sync::Condvar, &mut real::lock_api::MutexGuard<'_, real::RawMutex, ()>) -> R,
    ) -> R {
        const _: () = assert!(
            size_of::<real::lock_api::Mutex<real::RawMutex, ()>>() == size_of::<real::RawMutex>()
                && align_of::<real::lock_api::Mutex<real::RawMutex, ()>>()
                    == align_of::<real::RawMutex>()
        );
        // SAFETY: only the raw lock's address is used.
        let raw: &real::RawMutex =
            unsafe { real::lock_api::MutexGuard::mutex(&guard.inner).raw() }.real();
        // SAFETY: a `Mutex<RawMutex, ()>` is its raw mutex and nothing else (equal size and
        // alignment, so the raw mutex is at offset 0 and the `()` data takes no byte): the
        // reference points to a valid one for as long as `guard` borrows the lock.
        let mutex = unsafe {
            &*(raw as *const real::RawMutex).cast::<real::lock_api::Mutex<real::RawMutex, ()>>()
        };
        // SAFETY: the guard holds the lock; the real guard is never dropped (the lock stays
        // owned by `guard`), and the condvar leaves it locked when it returns.
        let mut real_guard = ManuallyDrop::new(unsafe { mutex.make_guard_unchecked() });
        f(&self.inner, &mut real_guard)
    }

    /// Runs `f` on the real condvar and the guard's real guard (loom's).
    #[cfg(loom)]
    fn on_real<T: ?Sized, R>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        f: impl FnOnce(&sync::Condvar, &mut crate::raw::locks::MutexGuard<'_, crate::RawMutex, T>) -> R,
    ) -> R {
        f(&self.inner, &mut guard.inner)
    }

    #[track_caller]
    fn before_sleep<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        site: &'static Location<'static>,
    ) {
        if let Some((map, waiting)) = guard.tracked.suspend(true) {
            self.event.wait_event(site);
            guard.tracked = Tracked::resume(map, waiting, site);
        }
    }

    /// This thread made the condition pending and will notify: until its next `notify_*`,
    /// the locks it takes are checked against those the waiters hold while they sleep.
    #[track_caller]
    pub fn arm(&self) {
        self.event.arm_event(Location::caller());
    }

    /// Wakes one waiter; returns whether one was woken. Ends this thread's armed span.
    #[track_caller]
    pub fn notify_one(&self) -> bool {
        self.event.signal_event(Location::caller());
        self.inner.notify_one()
    }

    /// Wakes every waiter; returns how many were woken. Ends this thread's armed span.
    #[track_caller]
    pub fn notify_all(&self) -> usize {
        self.event.signal_event(Location::caller());
        self.inner.notify_all()
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
