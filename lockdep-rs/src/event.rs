//! `Event`: waits and wake-ups as dependencies (the kernel's out-of-tree DEPT idea, which
//! 2013 lockdep lacked).
//!
//! A lock only deadlocks through its holders; a *wait* deadlocks through whoever is meant to
//! wake it. An [`Event`] names something threads wait for (a bit, a completion, a state):
//! - [`wait`](Event::wait) — about to sleep until the event: every lock the waiter holds now
//!   "waits for" the event (edge `lock -> event`), checked like an acquisition;
//! - [`arm`](Event::arm) — this thread has made the event pending (set the bit, re-initialised
//!   the completion) and will signal it: until [`signal`](Event::signal), every lock it takes
//!   is something the event "waits for" (edge `event -> lock`).
//!
//! A cycle through an event is reported as [`ReportKind::CircularWait`](crate::ReportKind):
//! a waiter holds a lock that the signaller must take before it can wake it.

use std::panic::Location;

use crate::dep_map::DepMap;

/// A waitable event, for wait/wake dependency tracking.
///
/// ```
/// use lockdep::{Event, Mutex, ReportKind};
/// let state = Mutex::named("state_mutex", ());
/// let done = Event::new("WORK_DONE");
/// let (_, reports) = lockdep::capture(|| {
///     done.arm();                   // the worker will signal WORK_DONE ...
///     drop(state.lock());           // ... but first needs state_mutex
///     done.signal();
///     let _held = state.lock();
///     done.wait();                  // waiting for WORK_DONE while holding state_mutex
/// });
/// assert_eq!(reports[0].kind(), ReportKind::CircularWait);
/// ```
pub struct Event {
    dep: DepMap,
}

impl Event {
    /// An event named `name` (its class is the construction site, like a lock's).
    #[track_caller]
    pub const fn new(name: &'static str) -> Event {
        Event {
            dep: DepMap::event(Location::caller(), name, 0),
        }
    }

    /// This thread is about to wait for the event: records an edge from every lock it holds
    /// to the event, and checks them, before the caller sleeps.
    #[track_caller]
    pub fn wait(&self) {
        self.dep.wait_event(Location::caller());
    }

    /// This thread made the event pending and will signal it: until [`signal`](Event::signal)
    /// (on this thread), the locks it takes must be available for the event to happen.
    /// Arming an armed event does nothing.
    #[track_caller]
    pub fn arm(&self) {
        self.dep.arm_event(Location::caller());
    }

    /// The event happened (or was abandoned): ends this thread's armed span, if any.
    #[track_caller]
    pub fn signal(&self) {
        self.dep.signal_event(Location::caller());
    }

    /// Is the event armed by this thread?
    pub fn is_armed(&self) -> bool {
        self.dep.is_held()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Event { .. }")
    }
}
