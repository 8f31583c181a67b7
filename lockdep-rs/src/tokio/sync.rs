//! `tokio::sync` with its locks validated: the one-line switch for code written against tokio.
//!
//! Everything `tokio::sync` exports is here under the same name — the channels (`mpsc`,
//! `oneshot`, `broadcast`, `watch`), `Notify`, `Semaphore`, `Barrier`, `OnceCell`, `SetOnce`,
//! the error types, the `futures` module — with [`Mutex`], [`RwLock`] and their guards
//! replaced by lockdep's (those of [`lockdep::tokio`](crate::tokio)). Code written against
//! tokio switches by replacing the path `tokio::sync` with `lockdep::tokio::sync`, nothing else:
//!
//! ```
//! // was: use tokio::sync::{mpsc, Mutex};
//! use lockdep::tokio::sync::{mpsc, Mutex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let state = Mutex::new(Vec::new());
//! let (tx, mut rx) = mpsc::channel(1);
//! tx.send(7).await.unwrap();
//! state.lock().await.push(rx.recv().await.unwrap()); // a validated acquisition
//! assert_eq!(*state.lock().await, [7]);
//! # }
//! ```
//!
//! Only the locks are validated: a task waiting on a channel, a `Notify` or a semaphore is
//! not seen as a wait. Compiled out (validation off), every item is tokio's own.

// The glob brings every public item of `tokio::sync`, present and future; the named imports
// below shadow its locks and guards (a named import always wins over a glob).
pub use ::tokio::sync::*;

pub use super::{
    MappedMutexGuard, Mutex, MutexGuard, OwnedMappedMutexGuard, OwnedMutexGuard,
    OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock,
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};
