//! `Once`: parking_lot's one-time initialisation, where waiting for another thread's
//! initializer is a validated wait on an event (not under loom).
//!
//! A thread that calls [`Once::call_once`] before the `Once` is done may wait for another
//! thread's initializer: that is a wait on the `Once`'s event (edges from every lock it holds),
//! and the initializer's run is the event's armed span (edges to every lock it takes). An
//! initializer that needs a lock some caller holds is a
//! [`CircularWait`](crate::ReportKind::CircularWait), reported whichever side is seen second.
//! An initializer that calls its own `Once` again waits for itself (parking_lot hangs): a
//! certain self-deadlock, reported and stopped with a panic.
//! Once done, `call_once` is one atomic load, as in parking_lot.

use std::panic::Location;

use crate::dep_map::DepMap;
pub use crate::sync::real::OnceState;

/// A synchronisation primitive that runs a one-time initializer (parking_lot's `Once`).
///
/// ```
/// static INIT: lockdep::Once = lockdep::Once::new();
/// let mut ran = 0;
/// INIT.call_once(|| ran += 1);
/// INIT.call_once(|| ran += 1);
/// assert_eq!(ran, 1);
/// assert!(INIT.state().done());
/// ```
pub struct Once {
    event: DepMap,
    inner: crate::sync::real::Once,
}

/// Ends the armed span of an initializer however it ends (returns or unwinds).
struct Armed<'a>(&'a DepMap, &'static Location<'static>);
impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.signal_event(self.1);
    }
}

impl Once {
    /// A new `Once`; its event's class is the construction site.
    #[track_caller]
    pub const fn new() -> Once {
        Once {
            event: DepMap::cell(Location::caller(), "Once"),
            inner: crate::sync::real::Once::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> OnceState {
        self.inner.state()
    }

    /// Runs `f` if no initializer has completed; else waits for the running one (a validated
    /// wait, see the module docs). Panics if an initializer panicked (the `Once` is poisoned).
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.inner.state().done() {
            return;
        }
        let site = Location::caller();
        self.event.wait_event(site);
        self.inner.call_once(|| {
            self.event.arm_event(site);
            let _armed = Armed(&self.event, site);
            f()
        });
    }

    /// As [`call_once`](Self::call_once), but runs even if a previous initializer panicked;
    /// `f` is told the state.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        if self.inner.state().done() {
            return;
        }
        let site = Location::caller();
        self.event.wait_event(site);
        self.inner.call_once_force(|state| {
            self.event.arm_event(site);
            let _armed = Armed(&self.event, site);
            f(state)
        });
    }
}

impl Default for Once {
    #[track_caller]
    fn default() -> Once {
        Once::new()
    }
}

impl std::fmt::Debug for Once {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Once")
            .field("state", &self.state())
            .finish()
    }
}
