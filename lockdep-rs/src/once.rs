//! `Once`: parking_lot's one-time initialisation, where waiting for another thread's
//! initializer is a validated wait on an event (not under loom).
//!
//! A thread that calls [`Once::call_once`] before the `Once` is done may wait for another
//! thread's initializer: that is a wait on the `Once`'s event (edges from every lock it holds),
//! and the initializer's run is the event's armed span (edges to every lock it takes). An
//! initializer that needs a lock some caller holds is a
//! [`CircularWait`](crate::ReportKind::CircularWait), reported whichever side is seen second.
//! An initializer that calls its own `Once` again waits for itself (parking_lot hangs): a
//! certain self-deadlock, reported and stopped with a panic. A caller whose wait was reported
//! waits at most `LOCKDEP_DEADLOCK_TIMEOUT` for a running initializer, then panics, as an
//! acquisition in a reported order does (the predicted deadlock may be happening).
//! Once done, `call_once` is one atomic load, as in parking_lot.

use std::panic::Location;

use crate::dep_map::DepMap;
pub use crate::sync::real::OnceState;

/// Validates a wait for the initializer of a one-time cell (`kind`: `Once`, `OnceLock`,
/// `LazyLock`) whose event is `event`, made by a caller that found it not `complete`. If the
/// wait's order has known problems (a `CircularWait` was reported for it, now or before: an
/// initializer needs a lock the caller holds), it waits at most the deadlock timeout for a
/// running initializer to finish before letting the caller wait for it, and then panics
/// ([`give_up_unless`](crate::guard::give_up_unless)), as an acquisition in a reported order
/// does: the deadlock predicted may be happening, and a test fails instead of hanging. With
/// no initializer running the caller goes on at once (it may run its own).
#[track_caller]
pub(crate) fn wait_for_initializer(
    event: &DepMap,
    kind: &str,
    site: &'static Location<'static>,
    complete: impl Fn() -> bool,
) {
    #[cfg(not(lockdep_enabled))]
    let _ = (event, kind, site, complete);
    #[cfg(lockdep_enabled)]
    if event.wait_event_watched(site) {
        let what = format!(
            "for another thread's initializer of a `{kind}` ({})",
            event.name()
        );
        crate::guard::give_up_unless(&what, || complete() || event.held_anywhere() != Some(true));
    }
}

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
        wait_for_initializer(&self.event, "Once", site, || self.inner.state().done());
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
        wait_for_initializer(&self.event, "Once", site, || self.inner.state().done());
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
