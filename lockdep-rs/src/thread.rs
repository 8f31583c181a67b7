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

/// Spawns a thread (std's, or loom's under `cfg(loom)`) whose whole run is the *armed span*
/// of its exit event: the locks it takes are what a joiner must not hold.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = Location::caller();
    let exit = Arc::new(DepMap::event(site, "(thread exit)"));
    let armed = exit.clone();
    let inner = sync::thread::spawn(move || {
        armed.arm_event(site);
        /// Signals the exit event however the thread ends (returns or unwinds).
        struct Exit(Arc<DepMap>, &'static Location<'static>);
        impl Drop for Exit {
            fn drop(&mut self) {
                self.0.signal_event(self.1);
            }
        }
        let _exit = Exit(armed, site);
        f()
    });
    JoinHandle { inner, exit }
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
