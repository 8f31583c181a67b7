//! `stdsync::{Once, OnceLock, LazyLock}`: std's one-time initialisation, where waiting for
//! another thread's initializer is a validated wait on the cell's event and the initializer's
//! run is the event's armed span. Once complete, each is std's single atomic load.
#![allow(unsafe_code)] // LazyLock keeps std's layout: a `Once` and a union of `F` and `T`

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::Location;

use super::OnceState;
use crate::dep_map::DepMap;
use crate::once::wait_for_initializer;

/// Ends an initializer's armed span however it ends (returns or unwinds).
struct Armed<'a>(&'a DepMap, &'static Location<'static>);
impl<'a> Armed<'a> {
    fn new(event: &'a DepMap, site: &'static Location<'static>) -> Self {
        event.arm_event(site);
        Armed(event, site)
    }
}
impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.signal_event(self.1);
    }
}

/// std's `Once`, validated: see the [module docs](crate::stdsync).
pub struct Once {
    event: DepMap,
    inner: std::sync::Once,
}

impl Once {
    /// A new `Once`; its event's class is the construction site.
    #[track_caller]
    #[allow(clippy::new_without_default)] // as std's
    pub const fn new() -> Once {
        Once {
            event: DepMap::cell(Location::caller(), "Once"),
            inner: std::sync::Once::new(),
        }
    }

    /// Runs `f` unless an initializer completed; else may wait for the running one.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let site = Location::caller();
        wait_for_initializer(&self.event, "Once", site, || self.inner.is_completed());
        self.inner.call_once(|| {
            let _armed = Armed::new(&self.event, site);
            f()
        });
    }

    /// As [`call_once`](Self::call_once), also after a panicked initializer.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let site = Location::caller();
        wait_for_initializer(&self.event, "Once", site, || self.inner.is_completed());
        self.inner.call_once_force(|state| {
            let _armed = Armed::new(&self.event, site);
            f(state)
        });
    }

    /// Has an initializer completed?
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }

    /// Blocks until an initializer completed (std's `Once::wait`): a validated wait on the
    /// event, as `call_once`'s (an initializer that needs a lock the waiter holds is a
    /// `CircularWait`). Panics, as std's, if the initializer panicked.
    #[track_caller]
    pub fn wait(&self) {
        self.wait_with(std::sync::Once::wait);
    }

    /// As [`wait`](Self::wait), also after a panicked initializer (std's `Once::wait_force`).
    #[track_caller]
    pub fn wait_force(&self) {
        self.wait_with(std::sync::Once::wait_force);
    }

    /// A wait on the initializer (`wait` / `wait_force` of std's `Once`), validated first
    /// unless it is complete.
    #[track_caller]
    fn wait_with(&self, wait: fn(&std::sync::Once)) {
        if !self.inner.is_completed() {
            wait_for_initializer(&self.event, "Once", Location::caller(), || {
                self.inner.is_completed()
            });
            wait(&self.inner);
        }
    }
}

// As std's: a `Once` (poisoned by a panicking initializer) and the locks below are unwind-safe.
impl std::panic::UnwindSafe for Once {}
impl std::panic::RefUnwindSafe for Once {}
impl<T: std::panic::UnwindSafe> std::panic::UnwindSafe for OnceLock<T> {}
impl<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe> std::panic::RefUnwindSafe
    for OnceLock<T>
{
}
impl<T: std::panic::UnwindSafe, F: std::panic::UnwindSafe> std::panic::UnwindSafe
    for LazyLock<T, F>
{
}
impl<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe, F: std::panic::UnwindSafe>
    std::panic::RefUnwindSafe for LazyLock<T, F>
{
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

/// std's `OnceLock`, validated: `get_or_init` and `set` before the cell is complete may wait
/// for another thread's initializer.
pub struct OnceLock<T> {
    event: DepMap,
    inner: std::sync::OnceLock<T>,
}

impl<T> OnceLock<T> {
    /// An empty cell; its event's class is the construction site.
    #[track_caller]
    #[allow(clippy::new_without_default)]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            event: DepMap::cell(Location::caller(), "OnceLock"),
            inner: std::sync::OnceLock::new(),
        }
    }

    /// The value, if initialized (never blocks).
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// Mutable access to the value, if initialized.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Sets the value if the cell is empty (may wait for a running initializer).
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        if self.inner.get().is_some() {
            return Err(value);
        }
        wait_for_initializer(&self.event, "OnceLock", Location::caller(), || {
            self.inner.get().is_some()
        });
        self.inner.set(value)
    }

    /// Blocks until the cell is initialized and returns the value (std's `OnceLock::wait`): a
    /// validated wait on the cell's event, as `get_or_init`'s.
    #[track_caller]
    pub fn wait(&self) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        wait_for_initializer(&self.event, "OnceLock", Location::caller(), || {
            self.inner.get().is_some()
        });
        self.inner.wait()
    }

    /// The value, running `f` to initialize it if the cell is empty (see the module docs).
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        let site = Location::caller();
        wait_for_initializer(&self.event, "OnceLock", site, || self.inner.get().is_some());
        self.inner.get_or_init(|| {
            let _armed = Armed::new(&self.event, site);
            f()
        })
    }

    /// The value, if initialized, consuming the cell.
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

impl<T> Default for OnceLock<T> {
    #[track_caller]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    #[track_caller]
    fn clone(&self) -> OnceLock<T> {
        let cell = OnceLock::new();
        if let Some(v) = self.get() {
            let _ = cell.inner.set(v.clone());
        }
        cell
    }
}

impl<T> From<T> for OnceLock<T> {
    #[track_caller]
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.inner.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

/// The initializer, then the value (std's layout).
union Data<T, F> {
    value: ManuallyDrop<T>,
    f: ManuallyDrop<F>,
}

/// std's `LazyLock`, validated: forcing it before it is complete may wait for another
/// thread's initializer. Same layout as std's (a `Once` and a union of `F` and `T`).
pub struct LazyLock<T, F = fn() -> T> {
    event: DepMap,
    once: std::sync::Once,
    data: UnsafeCell<Data<T, F>>,
}

// SAFETY: as std's: the value is shared (`T: Sync`), and created by whichever thread forces
// it first (`T: Send`, `F: Send`).
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value that `f` will initialize; its event's class is the construction site.
    #[track_caller]
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            event: DepMap::cell(Location::caller(), "LazyLock"),
            once: std::sync::Once::new(),
            data: UnsafeCell::new(Data {
                f: ManuallyDrop::new(f),
            }),
        }
    }

    /// Forces the evaluation and returns the value (a validated wait if another thread is
    /// initializing it). Panics if the initializer panicked before.
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        if !this.once.is_completed() {
            let site = Location::caller();
            wait_for_initializer(&this.event, "LazyLock", site, || this.once.is_completed());
            // As std's: `call_once_force`, so that a poisoned cell panics with std's message.
            this.once.call_once_force(|state| {
                if state.is_poisoned() {
                    panic!("LazyLock instance has previously been poisoned");
                }
                let _armed = Armed::new(&this.event, site);
                // SAFETY: inside `call_once` only this thread touches `data`, which still
                // holds the initializer (it is taken exactly once, here).
                let data = unsafe { &mut *this.data.get() };
                let f = unsafe { ManuallyDrop::take(&mut data.f) };
                let value = f();
                data.value = ManuallyDrop::new(value);
            });
        }
        // SAFETY: the `Once` completed, so `data` holds the value, never written again.
        unsafe { &(*this.data.get()).value }
    }
}

/// std's `LazyLock::get`, `get_mut` and `force_mut` (Rust 1.94), where the compiler's std has
/// them. None waits: nothing to validate.
#[cfg(lockdep_std_lazy_get)]
impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// The value if it was initialized (without forcing it).
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        // SAFETY: complete: `data` holds the value, never written again.
        this.once
            .is_completed()
            .then(|| unsafe { &*(*this.data.get()).value })
    }

    /// The value, mutably, if it was initialized (without forcing it).
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        let done = this.once.is_completed();
        // SAFETY: complete: `data` holds the value; `this` is borrowed exclusively.
        done.then(|| unsafe { &mut *this.data.get_mut().value })
    }

    /// Forces the evaluation (on this thread: `this` is borrowed exclusively, so no other
    /// thread can wait for it) and returns the value mutably. Panics if the initializer
    /// panicked before.
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        if !this.once.is_completed() {
            let data = this.data.get_mut();
            this.once.call_once_force(|state| {
                if state.is_poisoned() {
                    panic!("LazyLock instance has previously been poisoned");
                }
                // SAFETY: not complete and not poisoned: `data` holds the initializer, taken
                // exactly once, here.
                let f = unsafe { ManuallyDrop::take(&mut data.f) };
                data.value = ManuallyDrop::new(f());
            });
        }
        // SAFETY: the `Once` completed, so `data` holds the value.
        unsafe { &mut this.data.get_mut().value }
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F> Drop for LazyLock<T, F> {
    fn drop(&mut self) {
        let data = self.data.get_mut();
        if self.once.is_completed() {
            // SAFETY: complete: `data` holds the value.
            unsafe { ManuallyDrop::drop(&mut data.value) }
        } else {
            // Not complete: the initializer is still there unless one panicked (poisoned).
            self.once.call_once_force(|state| {
                if !state.is_poisoned() {
                    // SAFETY: never started: `data` holds the initializer.
                    unsafe { ManuallyDrop::drop(&mut data.f) }
                }
            });
        }
    }
}

impl<T: Default> Default for LazyLock<T> {
    #[track_caller]
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        if self.once.is_completed() {
            // SAFETY: complete: `data` holds the value.
            d.field(unsafe { &*(*self.data.get()).value });
        } else {
            d.field(&format_args!("<uninit>"));
        }
        d.finish()
    }
}
