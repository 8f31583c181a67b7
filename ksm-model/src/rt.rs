//! The runtime shim: the only place in ksm-model that names `std::thread`, std's atomics or
//! loom.
//!
//! Under `--cfg loom` every item here is loom's, so a loom test can build a fresh
//! [`Kernel`](crate::Kernel) per iteration and explore its interleavings. Otherwise it is std's.
//! [`PlainMutex`] is for the model's own bookkeeping (the memmap, the violation log): it is
//! invisible to lockdep on purpose, and is only ever held for short sections that take no other
//! lock. [`Condvar`] goes with it: the lock word of the model's kernel mutex
//! (`kernel_mutex.rs`) sleeps on one.

#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::{Arc, Condvar, Mutex as PlainMutex, MutexGuard as PlainMutexGuard};
#[cfg(not(loom))]
pub use std::thread::{sleep, spawn, yield_now, JoinHandle};
#[cfg(not(loom))]
pub use std::time::{Duration, Instant};

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Condvar, Mutex as PlainMutex, MutexGuard as PlainMutexGuard};
#[cfg(loom)]
pub use loom::thread::{spawn, yield_now, JoinHandle};

/// Spawns a thread named `name` (the kernel task's comm, shown in lockdep's reports as
/// `name/id`).
#[cfg(not(loom))]
pub fn spawn_named<F, T>(name: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawn a thread")
}

/// Locks a [`PlainMutex`], ignoring poisoning (a panicking actor must not hide the model's
/// state from the others).
pub fn lock_plain<T>(m: &PlainMutex<T>) -> PlainMutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
