//! Threads whose `join` is a validated wait: joining a thread while holding a lock that the
//! thread needs before it can finish is a deadlock, reported as
//! [`ReportKind::CircularWait`](crate::ReportKind::CircularWait) from whichever side is seen
//! second. A join whose wait was reported that then really waits `LOCKDEP_DEADLOCK_TIMEOUT`
//! seconds (10) gives up with a panic, as an acquisition in a reported order does: the
//! predicted deadlock is happening, and the test fails instead of hanging the run.
//!
//! A drop-in for `std::thread`: the same items (`spawn`, `scope`, `Builder`, and std's own
//! `sleep`, `current`, `park`, …), so `use lockdep::thread` in place of `use std::thread`
//! changes nothing but the joins.
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

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::dep_map::DepMap;
use crate::sync;

mod builder;

pub use builder::Builder;
/// The rest of `std::thread`, as std's: `use lockdep::thread` in place of `use std::thread`
/// changes nothing but the joins, which become validated waits.
pub use std::thread::{
    available_parallelism, current, panicking, park, park_timeout, sleep, yield_now, AccessError,
    LocalKey, Result, Thread, ThreadId,
};
/// std's deprecated `sleep_ms` and `park_timeout_ms`, still stable: code that calls them
/// switches over too (and keeps std's deprecation warning).
#[allow(deprecated)]
pub use std::thread::{park_timeout_ms, sleep_ms};

/// Handle of a thread spawned with [`spawn`]; joining it is a validated wait.
///
/// Like std's, not `#[must_use]`: dropping it detaches the thread, an idiom of std code
/// (`thread::spawn(..);`, `builder.spawn(..).unwrap();`) that must build as before, warning-free.
pub struct JoinHandle<T> {
    inner: sync::thread::JoinHandle<T>,
    exit: Arc<DepMap>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// What a thread started through this module takes from its parent: its exit event (one
/// level deeper), and the parent's `capture`, which the child's reports join.
struct Child {
    site: &'static Location<'static>,
    depth: u32,
    exit: Arc<DepMap>,
    /// The parent's captures not over yet, outermost first.
    #[cfg(lockdep_enabled)]
    captures: Vec<Arc<crate::report::capture::CaptureSink>>,
    /// The starting thread's name, which an unnamed child is shown by.
    #[cfg(lockdep_enabled)]
    starter: String,
}

impl Child {
    #[track_caller]
    fn new() -> Child {
        let site = Location::caller();
        let depth = nesting::current() + 1;
        Child {
            site,
            depth,
            exit: Arc::new(DepMap::event(site, crate::report::THREAD_EXIT, depth)),
            #[cfg(lockdep_enabled)]
            captures: crate::report::capture::open_stack(),
            #[cfg(lockdep_enabled)]
            starter: crate::report::thread_name(),
        }
    }

    /// Runs the thread's body `f` on the new thread.
    fn run<T>(self, f: impl FnOnce() -> T) -> T {
        nesting::set(self.depth);
        // The exit event stays armed until the thread's thread-locals are gone, so it must
        // outlive them: a thread-local made before lockdep's own state keeps it.
        nesting::keep_exit(self.exit.clone());
        #[cfg(lockdep_enabled)]
        {
            crate::report::set_started_by(self.starter);
            // Joined for the rest of the thread's life: its thread-local destructors run
            // after `f` (and before a `join` of the thread returns), and what they report
            // belongs to the capture too (if it has not returned by then: see `capture`).
            // Every enclosing capture is joined, innermost last: when the inner one returns,
            // the next one out takes what the thread finds. Joined before lockdep's state is
            // made, so the captures outlive the state.
            for sink in self.captures {
                std::mem::forget(crate::report::capture::join(sink));
            }
        }
        // Arming first makes lockdep's thread state this thread's first thread-local, so it
        // is destroyed last: the exit stays armed while the others' destructors run, and
        // the locks they take are validated against joiners.
        self.exit.arm_event(self.site);
        // The thread's own work is done when `f` returns or unwinds: problems found from
        // there on (thread-local destructors) are reported but never panic, which would abort
        // the process. (A drop guard: a body that panics is done too.)
        struct Done;
        impl Drop for Done {
            fn drop(&mut self) {
                nesting::exiting();
            }
        }
        let _done = Done;
        f()
    }
}

/// Spawns a thread (std's, or loom's under `cfg(loom)`) whose whole life is the *armed span*
/// of its exit event: the locks it takes — in `f`, and in its thread-local destructors, which
/// run before the thread is joinable — are what a joiner must not hold.
///
/// A thread spawned from a `lockdep::thread` is one level deeper, and its exit event is a class
/// of its own per depth: a parent that joins its child waits for an event nested inside its
/// own, so recursive fork-join from one spawn site is not a cycle. A thread spawned inside a
/// [`capture`](crate::capture) reports into it.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish, after validating the wait: the locks held now must
    /// not be ones the thread takes.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        #[cfg(not(loom))]
        if self.exit.wait_event_watched(Location::caller()) {
            give_up_unless_finished(|| self.inner.is_finished());
        }
        #[cfg(loom)]
        self.exit.wait_event(Location::caller());
        self.inner.join()
    }

    /// The underlying thread (std's, or loom's under `cfg(loom)`).
    pub fn thread(&self) -> &sync::thread::Thread {
        self.inner.thread()
    }

    /// Has the thread finished?
    #[cfg(not(loom))]
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// std's `JoinHandleExt` (the pthread of the thread), as std's `JoinHandle` has it.
#[cfg(all(unix, not(loom)))]
impl<T> std::os::unix::thread::JoinHandleExt for JoinHandle<T> {
    fn as_pthread_t(&self) -> std::os::unix::thread::RawPthread {
        self.inner.as_pthread_t()
    }

    /// Consumes the handle, as std's does: the thread is detached (its join, now the
    /// caller's `pthread_join`, is not validated).
    fn into_pthread_t(self) -> std::os::unix::thread::RawPthread {
        self.inner.into_pthread_t()
    }
}

/// A join whose wait has known problems (a `CircularWait` was reported for it, now or
/// before): waits at most the deadlock timeout for the thread to finish, then panics (see
/// [`give_up_unless`](crate::guard::give_up_unless)).
#[cfg(not(loom))]
#[track_caller]
fn give_up_unless_finished(finished: impl Fn() -> bool) {
    crate::guard::give_up_unless("to join a thread", finished);
}

#[cfg(not(loom))]
pub use scoped::{scope, Scope, ScopedJoinHandle};

/// `std::thread::scope` with lockdep's threads: each scoped thread's join is a validated wait,
/// and it reports into the `capture` its scope runs in.
#[cfg(not(loom))]
mod scoped {
    use std::fmt;
    use std::panic::Location;
    use std::sync::Arc;

    use super::Child;
    use crate::dep_map::DepMap;

    /// A scope to spawn threads in: std's, seen through lockdep (see [`scope`]).
    #[repr(transparent)]
    pub struct Scope<'scope, 'env: 'scope> {
        inner: std::thread::Scope<'scope, 'env>,
    }

    /// Handle of a scoped thread; joining it is a validated wait (like std's, it may be
    /// dropped: the thread is joined at the end of its scope anyway).
    pub struct ScopedJoinHandle<'scope, T> {
        inner: std::thread::ScopedJoinHandle<'scope, T>,
        exit: Arc<DepMap>,
    }

    /// Like [`std::thread::scope`]: runs `f` with a scope whose threads all end before this
    /// returns. Threads spawned in it report into the [`capture`](crate::capture) the scope
    /// runs in, and [`ScopedJoinHandle::join`] is a validated wait. (The implicit joins at the
    /// end of the scope are not validated: join explicitly where locks are held.)
    ///
    /// ```
    /// use lockdep::{Mutex, ReportKind};
    /// let (a, b) = (Mutex::named("scope.A", ()), Mutex::named("scope.B", ()));
    /// let (_, reports) = lockdep::capture(|| {
    ///     lockdep::thread::scope(|s| {
    ///         s.spawn(|| drop((a.lock(), b.lock()))).join().unwrap();
    ///         s.spawn(|| drop((b.lock(), a.lock()))).join().unwrap();
    ///     })
    /// });
    /// assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    /// ```
    #[track_caller]
    pub fn scope<'env, F, T>(f: F) -> T
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
    {
        std::thread::scope(|s| f(Scope::wrap(s)))
    }

    impl<'scope, 'env> Scope<'scope, 'env> {
        #[allow(unsafe_code)]
        fn wrap<'a>(s: &'a std::thread::Scope<'scope, 'env>) -> &'a Scope<'scope, 'env> {
            // SAFETY: `Scope` is `repr(transparent)` over `std::thread::Scope`: same layout,
            // and the reference keeps the lifetime and mutability it had.
            unsafe {
                &*(s as *const std::thread::Scope<'scope, 'env> as *const Scope<'scope, 'env>)
            }
        }

        /// Spawns a scoped thread (see [`std::thread::Scope::spawn`]).
        #[track_caller]
        pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
        where
            F: FnOnce() -> T + Send + 'scope,
            T: Send + 'scope,
        {
            self.spawn_with(std::thread::Builder::new(), f)
                .expect("failed to spawn thread")
        }

        /// [`Builder::spawn_scoped`](super::Builder::spawn_scoped)'s spawn.
        #[track_caller]
        pub(super) fn spawn_with<F, T>(
            &'scope self,
            builder: std::thread::Builder,
            f: F,
        ) -> std::io::Result<ScopedJoinHandle<'scope, T>>
        where
            F: FnOnce() -> T + Send + 'scope,
            T: Send + 'scope,
        {
            let child = Child::new();
            let exit = child.exit.clone();
            let inner = builder.spawn_scoped(&self.inner, move || child.run(f))?;
            Ok(ScopedJoinHandle { inner, exit })
        }
    }

    impl fmt::Debug for Scope<'_, '_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }

    impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
        }
    }

    impl<T> ScopedJoinHandle<'_, T> {
        /// Waits for the thread to finish, after validating the wait.
        #[track_caller]
        pub fn join(self) -> std::thread::Result<T> {
            if self.exit.wait_event_watched(Location::caller()) {
                super::give_up_unless_finished(|| self.inner.is_finished());
            }
            self.inner.join()
        }

        /// The underlying thread.
        pub fn thread(&self) -> &std::thread::Thread {
            self.inner.thread()
        }

        /// Has the thread finished?
        pub fn is_finished(&self) -> bool {
            self.inner.is_finished()
        }
    }
}

/// How deep the current thread is in a tree of `lockdep::thread`s (0: not one of them).
mod nesting {
    #[cfg(lockdep_enabled)]
    crate::sync::thread_local! {
        // Not `const`: loom's `thread_local!` does not take a const initialiser.
        #[allow(clippy::missing_const_for_thread_local)]
        static DEPTH: std::cell::Cell<u32> = std::cell::Cell::new(0);
        /// This thread's exit event, kept until the thread's thread-locals are destroyed (it
        /// is made first, so it is destroyed last).
        #[allow(clippy::missing_const_for_thread_local)]
        static EXIT: std::cell::RefCell<Option<KeptExit>> = std::cell::RefCell::new(None);
    }

    /// The exit event as the thread keeps it: armed until the thread's validator state goes
    /// (before this), which takes the armed entry with it; then it is no longer held by
    /// anyone (its count of holders says so: see `DepMap::count_hold`), so the joiner that
    /// drops it last need not look for a holder.
    #[cfg(lockdep_enabled)]
    struct KeptExit(std::sync::Arc<crate::dep_map::DepMap>);

    #[cfg(lockdep_enabled)]
    impl Drop for KeptExit {
        fn drop(&mut self) {
            self.0.disarmed_at_exit();
        }
    }

    pub(super) fn keep_exit(_exit: std::sync::Arc<crate::dep_map::DepMap>) {
        #[cfg(lockdep_enabled)]
        let _ = EXIT.try_with(|e| *e.borrow_mut() = Some(KeptExit(_exit)));
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
