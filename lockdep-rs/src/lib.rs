//! A lock-order validator in the spirit of the Linux kernel's lockdep.
//!
//! `lockdep`'s [`Mutex`], [`RwLock`] and [`Condvar`] are parking_lot's, plus a validator that
//! groups locks into *classes*, keeps each thread's held-lock stack, records the class
//! dependency graph as the program runs, and reports a possible deadlock the first time an
//! *order* is seen — long before the deadlock itself happens.
//!
//! ```
//! use lockdep::{Mutex, ReportKind};
//!
//! let a = Mutex::named("A", ());
//! let b = Mutex::named("B", ());
//! let (_, reports) = lockdep::capture(|| {
//!     {
//!         let _a = a.lock();
//!         let _b = b.lock(); // records A -> B
//!     }
//!     let _b = b.lock();
//!     let _a = a.lock(); // B -> A closes a cycle: reported before it could ever hang
//! });
//! assert_eq!(reports.len(), 1);
//! assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
//! assert_eq!(reports[0].class_names(), ["A", "B"]);
//! println!("{}", reports[0]); // the kernel-style report
//! ```
//!
//! # Drop-in for parking_lot and std::sync
//!
//! Every public lock item of parking_lot 0.12 exists here at the same path with the same
//! signature, so renaming the dependency (`parking_lot = { package = "lockdep", .. }`) switches
//! a crate without editing it; [`stdsync`] does the same for `std::sync`. All guards are one
//! type, [`guard::Guard`], over the real guard; the semantics of each operation are on its
//! module and method docs. For example, an upgrade is validated as a write acquisition:
//!
//! ```
//! use lockdep::{Mutex, ReportKind, RwLock, RwLockUpgradableReadGuard};
//! let table = RwLock::named("table", 0);
//! let stats = Mutex::named("stats", ());
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         let _r = table.read();
//!         let _s = stats.lock(); // a reader of `table` waits for `stats`
//!     });
//! });
//! let (_, reports) = lockdep::capture(|| {
//!     let up = table.upgradable_read();
//!     let _s = stats.lock();
//!     let mut w = RwLockUpgradableReadGuard::upgrade(up); // waits for readers while holding `stats`
//!     *w += 1;
//! });
//! assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
//! ```
//!
//! Timed acquisitions are validated before they block (a timeout turns a deadlock into a
//! stall); mapped and arc guards release once; a [`ReentrantMutex`]'s holder re-locking it is
//! not recursion:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use lockdep::{Mutex, MutexGuard, ReentrantMutex};
//! let m = Arc::new(Mutex::named("pair", (1, 2)));
//! let first = MutexGuard::map(m.lock(), |p| &mut p.0);
//! assert_eq!(*first, 1);
//! drop(first);
//! let g = m.try_lock_for(Duration::from_millis(10)).unwrap();
//! drop(g);
//! let owned = m.lock_arc(); // an ArcMutexGuard: no lifetime
//! drop(owned);
//! let console = ReentrantMutex::named("console", ());
//! let (_, reports) = lockdep::capture(|| {
//!     let _outer = console.lock();
//!     let _inner = console.lock();
//! });
//! assert!(reports.is_empty());
//! ```
//!
//! A [`ReentrantMutex`] counts as held until its last level goes, whichever guard that is.
//!
//! Code generic over `lock_api` is validated with this crate's raw locks (see [`raw`] for
//! their classes). A safe lock's own raw lock (`raw()`, lock_api's escape hatch) is the same
//! lock, validated as it: a forgotten guard's lock released through it, or a lock taken
//! through it and handed to `make_guard_unchecked`, keeps the held state right:
//!
//! ```
//! use lockdep::lock_api::{self, RawMutex as _};
//! type MyMutex<T> = lock_api::Mutex<lockdep::RawMutex, T>;
//! let m: MyMutex<u32> = MyMutex::new(1);
//! assert_eq!(*m.lock(), 1);
//!
//! let table = lockdep::Mutex::named("table", 0);
//! unsafe { table.raw() }.lock(); // validated and recorded as `table`
//! assert!(table.is_held());
//! let mut guard = unsafe { table.make_guard_unchecked() }; // takes the record over
//! *guard += 1;
//! drop(guard);
//! assert!(!table.is_held() && !table.is_locked());
//! ```
//!
//! parking_lot's features are accepted under the same names: `arc_lock` and `send_guard`
//! (the arc guards are always there; lockdep's guards stay `!Send`, see [`guard::Guard`]), `serde`
//! (`Serialize` / `Deserialize` for the locks), `deadlock_detection` (parking_lot's
//! [`deadlock`](https://docs.rs/parking_lot/0.12/parking_lot/deadlock/) module, re-exported:
//! it sees this crate's locks), and `nightly`, `hardware-lock-elision`, `owning_ref`, which
//! change nothing here.
//! # Async (feature `tokio`)
//!
//! `lockdep::tokio::{Mutex, RwLock}` are tokio's async locks, validated before they wait, and
//! inside a tokio task the holder of every lock — async or blocking — is the task, not the
//! thread: its locks follow it across `.await` and worker threads. A blocking lock held while
//! its task is suspended is reported (`ReportKind::HeldAcrossAwait`);
//! `lockdep::tokio::capture_async` is [`capture`] for async tests. Code written against tokio
//! switches by one path: `tokio::sync` becomes `lockdep::tokio::sync` (all of tokio's `sync`,
//! with the locks replaced). See the module's docs.
//!
//! # Adopting it
//!
//! Depend on `lockdep` and use its locks where you used parking_lot's (or replace the path
//! `std::sync` by [`stdsync`]). Validation is compiled in when the build has debug assertions
//! (`cargo test`, `cargo run`) and out of release builds; the `enabled` feature forces it on,
//! `disabled` off. In `cargo test`, a report is printed at once on the real stderr, the
//! acquisition goes on, and the test binary fails at its exit with a summary naming each
//! problem and the test that found it: lockdep never unwinds out of an acquisition (possibly
//! inside a library's critical section) to fail a test, except for a certain self-deadlock and
//! for an acquisition in a reported order (or a [`thread`] join in a reported wait) that really
//! blocks for `LOCKDEP_DEADLOCK_TIMEOUT` seconds (10). For one test at a time, [`capture`] returns the reports raised while a closure
//! runs, on its thread and on the threads it starts through [`thread::spawn`] / [`thread::scope`].
//!
//! # Settings
//!
//! | variable | values | meaning |
//! |---|---|---|
//! | `LOCKDEP` | `warn` (default), `panic`, `collect`, `off` | the initial [`Mode`]; anything else is printed and fails the run |
//! | `LOCKDEP_DEADLOCK_TIMEOUT` | seconds (10), `0` (for ever) | how long an acquisition in a reported order (or a [`thread`] join, or a wait for another thread's initializer of a one-time cell, in a reported wait) waits before it panics |
//! | `LOCKDEP_CLASSES` | `strict` (default), `lenient` | may two locks of one construction site nest (their order checked per instance, the site's class split by data type)? The `drop-in` feature makes `lenient` the default |
//! | `LOCKDEP_GATED` | `ignore` | do not report cycles whose every edge was taken under one gate lock ([`Report::gates`]) |
//! | `LOCKDEP_BACKTRACE` | `0`, `1` (default) | capture no stack traces for new edges |
//!
//! A value of any of them not in its row is printed, naming the variable, and fails the run
//! (the default applies meanwhile), as an unknown `LOCKDEP` does.
//!
//! # Reading a report
//!
//! A report ([`Report`]'s `Display`) is laid out like the kernel's. `lock#N (A), at: f.rs:3:9`
//! is a lock: `lock#N` its instance (numbered in the order locks are first used, so two locks
//! of one class can be told apart), `(A)` its class (`A/1`: subclass 1), then where it is
//! taken; `[read]` / `[recursive read]` say how it is held (nothing: exclusively). The
//! dependency chain lists the cycle's edges as `-> #k (B):` links, the acquisition being
//! validated last (`#0`); each says where the edge was first seen, by which thread, how the
//! earlier lock was held ("A held exclusively"), and the stack there. The "unsafe locking
//! scenario" shows two threads (`CPU0`, `CPU1`) that deadlock on it (`rlock` for a reader).
//! ` #k:` numbers the thread's held locks, bottom first. [`Report::cycle`] gives the edges with
//! the kernel's type tags (`E`/`S`: how the holder held it, `N`/`R`: how the taker took it).
//! A cycle taken entirely under single-instance locks ("gates") says so and is likely a false
//! positive; a recursive-locking report of two locks from one `new` call names the helper that
//! builds them and the fix (`#[track_caller]`).
#![warn(missing_docs)]
#![deny(unsafe_code)]

#[cfg(all(loom, not(feature = "loom")))]
compile_error!(
    "lockdep under `--cfg loom` needs its `loom` feature: add `--features lockdep/loom` \
     (or `features = [\"loom\"]` on the lockdep dependency used by your loom tests)"
);

mod class;
mod condvar;
mod dep_map;
mod event;
pub mod guard;
mod held;
mod lock_map;
mod mode;
mod mutex;
#[cfg(not(loom))]
mod mutex_guard;
#[cfg(not(loom))]
mod once;
pub mod raw;
mod read;
#[cfg(not(loom))]
mod reentrant;
mod report;
mod rwlock;
#[cfg(not(loom))]
mod rwlock_guard;
mod sealed;
#[cfg(all(feature = "serde", not(loom)))]
mod serde_impls;
#[cfg(not(loom))]
pub mod stdsync;
mod sync;
pub mod thread;
#[cfg(all(feature = "tokio", not(loom)))]
pub mod tokio;
mod trace;

#[cfg(lockdep_enabled)]
mod chain_cache;
#[cfg(lockdep_enabled)]
mod chain_key;
#[cfg(lockdep_enabled)]
mod dependency_graph;
#[cfg(lockdep_enabled)]
mod fast_path;
#[cfg(lockdep_enabled)]
mod held_lock;
#[cfg(lockdep_enabled)]
mod held_locks;
#[cfg(lockdep_enabled)]
mod held_stack;
#[cfg(lockdep_tasks)]
mod holder;
#[cfg(lockdep_enabled)]
mod instance_order;
#[cfg(lockdep_enabled)]
mod stamp;
#[cfg(lockdep_enabled)]
mod thread_state;
#[cfg(lockdep_enabled)]
mod validator;

mod api;
#[cfg(not(lockdep_enabled))]
mod compiled_out;

pub use api::*;
pub use class::LockClass;
pub use condvar::Condvar;
pub use event::Event;
pub use held::{
    assert_held, assert_not_held, held_state, is_held, Held, LockHandle, Sealed, TrackedLock,
};
pub use lock_map::LockMap;
pub use mode::{mode, set_mode, Mode, ParseModeError};
pub use mutex::{
    const_fair_mutex, const_mutex, FairMutex, FairMutexGuard, GenericMutex, Mutex, MutexGuard,
};
pub use raw::{RawFairMutex, RawMutex, RawRwLock};
pub use report::{Report, ReportKind};
pub use rwlock::{const_rwlock, GenericRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

// parking_lot's API beyond the basic locks (not under loom: see each module).
#[cfg(not(loom))]
pub use condvar::WaitTimeoutResult;
#[cfg(not(loom))]
pub use mutex::ArcMutexGuard;
#[cfg(not(loom))]
pub use mutex_guard::{MappedFairMutexGuard, MappedMutexGuard};
#[cfg(not(loom))]
pub use once::{Once, OnceState};
/// parking_lot's deadlock detector (feature `deadlock_detection`, as parking_lot's): this
/// crate's locks are parking_lot's raw locks underneath, so `check_deadlock` sees threads
/// deadlocked on them (lockdep reports the possibility long before; this finds the hang).
#[cfg(all(feature = "deadlock_detection", not(loom)))]
pub use parking_lot::deadlock;
#[cfg(not(loom))]
pub use raw::RawThreadId;
#[cfg(not(loom))]
pub use reentrant::{
    const_reentrant_mutex, ArcReentrantMutexGuard, GenericReentrantMutex,
    MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard,
};
#[cfg(not(loom))]
pub use rwlock::{
    ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard,
    RwLockUpgradableReadGuard,
};
#[cfg(not(loom))]
pub use rwlock_guard::{MappedRwLockReadGuard, MappedRwLockWriteGuard};
/// The `lock_api` crate parking_lot builds on (as `parking_lot::lock_api`): with
/// [`RawMutex`], [`RawRwLock`] and [`RawFairMutex`], code generic over lock_api is validated.
#[cfg(not(loom))]
pub use sync::real::lock_api;
