//! Threads whose `join` is a validated wait: joining a thread while holding a lock that the
//! thread needs before it can finish is a deadlock, reported as
//! [`ReportKind::CircularWait`](crate::ReportKind::CircularWait) from whichever side is seen
//! second.
//!
//! ```
//! use std::sync::Arc;
//! use lockdep::{Mutex, ReportKind};
//! let state = Arc::new(Mutex::named("state", 0));
//! let (_, reports) = lockdep::capture(|| {
//!     for hold in [false, true] {
//!         let s = state.clone();
//!         // Workers of this spawn site take `state` (the first one does, here).
//!         let worker = lockdep::thread::spawn(move || if !hold { *s.lock() += 1 });
//!         let _g = hold.then(|| state.lock());
//!         worker.join().unwrap(); // the second time: joining while holding `state`
//!     }
//! });
//! assert_eq!(reports.len(), 1);
//! assert_eq!(reports[0].kind(), ReportKind::CircularWait);
//! ```

use std::panic::Location;
use std::sync::Arc;

use crate::dep_map::DepMap;
use crate::sync;

/// Handle of a thread spawned with [`spawn`]; joining it is a validated wait.
#[must_use = "dropping a JoinHandle detaches the thread"]
pub struct JoinHandle<T> {
    inner: sync::thread::JoinHandle<T>,
    exit: Arc<DepMap>,
}

/// Spawns a thread (std's, or loom's under `cfg(loom)`) whose whole life is the *armed span*
/// of its exit event: the locks it takes — in `f`, and in its thread-local destructors, which
/// run before the thread is joinable — are what a joiner must not hold.
///
/// A thread spawned from a `lockdep::thread` is one level deeper, and its exit event is a class
/// of its own per depth: a parent that joins its child waits for an event nested inside its
/// own, so recursive fork-join from one spawn site is not a cycle.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = Location::caller();
    let depth = nesting::current() + 1;
    let exit = Arc::new(DepMap::event(site, "(thread exit)", depth));
    let armed = exit.clone();
    let inner = sync::thread::spawn(move || {
        nesting::set(depth);
        // Arming first makes lockdep's thread state this thread's first thread-local, so it
        // is destroyed last: the exit stays armed while the others' destructors run, and
        // the locks they take are validated against joiners.
        armed.arm_event(site);
        let result = f();
        // The thread's own work is done: problems found from here on (thread-local
        // destructors) are reported but never panic, which would abort the process.
        nesting::exiting();
        result
    });
    JoinHandle { inner, exit }
}

/// How deep the current thread is in a tree of `lockdep::thread`s (0: not one of them).
mod nesting {
    #[cfg(lockdep_enabled)]
    crate::sync::thread_local! {
        // Not `const`: loom's `thread_local!` does not take a const initialiser.
        #[allow(clippy::missing_const_for_thread_local)]
        static DEPTH: std::cell::Cell<u32> = std::cell::Cell::new(0);
    }

    pub(super) fn current() -> u32 {
        #[cfg(lockdep_enabled)]
        return DEPTH.try_with(|d| d.get()).unwrap_or(0);
        #[cfg(not(lockdep_enabled))]
        0
    }

    pub(super) fn set(_depth: u32) {
        #[cfg(lockdep_enabled)]
        let _ = DEPTH.try_with(|d| d.set(_depth));
    }

    pub(super) fn exiting() {
        #[cfg(lockdep_enabled)]
        crate::validator::set_exiting();
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish, after validating the wait: the locks held now must
    /// not be ones the thread takes.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.exit.wait_event(Location::caller());
        self.inner.join()
    }
}
