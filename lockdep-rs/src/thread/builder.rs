//! `lockdep::thread::Builder`: std's thread builder, whose threads are lockdep's (their joins
//! validated waits), so code written against `std::thread` switches over with its path.

use std::io;

use super::{Child, JoinHandle};
#[cfg(not(loom))]
use super::{Scope, ScopedJoinHandle};
use crate::sync;

/// Thread factory, as [`std::thread::Builder`]: sets the new thread's name and stack size;
/// the thread it spawns is one of this module's (its join is a validated wait, and it
/// reports into the [`capture`](crate::capture) it is spawned in).
///
/// ```
/// let worker = lockdep::thread::Builder::new()
///     .name("worker".into())
///     .spawn(|| 6 * 7)
///     .unwrap();
/// assert_eq!(worker.thread().name(), Some("worker"));
/// assert_eq!(worker.join().unwrap(), 42);
/// ```
#[derive(Debug)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder {
    inner: sync::thread::Builder,
}

impl Builder {
    /// The base configuration: inherits the defaults (std's).
    #[allow(clippy::new_without_default)] // as std's
    pub fn new() -> Builder {
        Builder {
            inner: sync::thread::Builder::new(),
        }
    }

    /// Names the thread (shown in panic messages and in lockdep's reports).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name),
        }
    }

    /// Sets the size of the new thread's stack, in bytes.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
        }
    }

    /// Spawns the thread, as [`spawn`](super::spawn) does; fails as std's does (the OS
    /// refused to create it).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let child = Child::new();
        let exit = child.exit.clone();
        let inner = self.inner.spawn(move || child.run(f))?;
        Ok(JoinHandle { inner, exit })
    }

    /// Spawns a thread whose closure and result need not be `'static`, as std's
    /// [`spawn_unchecked`](std::thread::Builder::spawn_unchecked) does (its join validated
    /// like any of this module's).
    ///
    /// # Safety
    ///
    /// std's contract: the caller must make sure that the spawned thread does not outlive
    /// any reference in `f` or in its result (e.g. by joining it before they go).
    #[cfg(not(loom))]
    #[track_caller]
    #[allow(unsafe_code)]
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let child = Child::new();
        let exit = child.exit.clone();
        // SAFETY: the caller's contract, which is std's (the thread does not outlive what
        // `f` borrows); `child` is `'static`.
        let inner = unsafe { self.inner.spawn_unchecked(move || child.run(f)) }?;
        Ok(JoinHandle { inner, exit })
    }

    /// Spawns a scoped thread in `scope`, as [`Scope::spawn`] does.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with(self.inner, f)
    }
}
