//! tokio's async locks, validated, with the **task** as the holder (feature `tokio`).
//!
//! [`Mutex`] and [`RwLock`] are `tokio::sync`'s, with the names and signatures of tokio's
//! (`lock().await`, `try_lock`, `lock_owned`, `blocking_lock`, `read().await`,
//! `write().await`, owned and mapped guards) and the class rules of lockdep's blocking locks
//! (`new` by construction site, `named`, `with_class`, `lock_nested`). Each acquisition is
//! validated when its future is first polled, before it waits, so a possible deadlock is
//! reported — and in `Panic` mode, or for a certain self-deadlock, panics — instead of hanging.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use lockdep::tokio::Mutex;
//! use lockdep::ReportKind;
//!
//! let a = Arc::new(Mutex::named("A", 0));
//! let b = Arc::new(Mutex::named("B", 0));
//! let ((), reports) = lockdep::tokio::capture_async(async {
//!     let (a1, b1) = (a.clone(), b.clone());
//!     tokio::spawn(async move {
//!         let _a = a1.lock().await;
//!         let _b = b1.lock().await; // A -> B
//!     })
//!     .await
//!     .unwrap();
//!     let _b = b.lock().await;
//!     let _a = a.lock().await; // B -> A: reported here, before it could ever hang
//! })
//! .await;
//! assert_eq!(reports.len(), 1);
//! assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
//! assert_eq!(reports[0].class_names(), ["A", "B"]);
//! # }
//! ```
//!
//! # The holder is the task
//!
//! Inside a tokio task every lock it takes — async *and* blocking (lockdep's `Mutex`,
//! `RwLock`, …) — is held by the task: it stays with the task across `.await` and across
//! worker threads, and another task polled on the same thread never inherits it. Outside a
//! task (a plain thread, a `block_on` future such as a `#[tokio::test]` body) the holder is
//! the thread, as without this feature. Reports name the task (`task 12 on
//! tokio-runtime-worker/3`, with `spawned at <site>` for tasks started by [`spawn`],
//! [`spawn_local`] or [`spawn_blocking`]); see [`Report::task`](crate::Report::task).
//!
//! How: each holder has its own held-lock stack. At every lockdep call the thread compares
//! the task tokio says it is polling (`tokio::task::try_id()`, one thread-local read) with the
//! holder of the stack it has loaded; when they differ it parks the outgoing stack and loads
//! the task's from a process-wide registry (a task moving to another worker is taken over
//! there). The thread's own stack never moves: it stays inline in the thread's state, so
//! outside tasks the check is all the feature adds (and a thread never seen inside a task or a
//! runtime's context skips it on its blocking locks' fast path: see the README's Async section
//! for what that leaves unseen). Guards are `Send`, like tokio's: a guard dropped in another task, on another
//! thread, or after its task ended releases the entry from its holder's stack (posted to the
//! thread that has it loaded, if any). A task's stack is dropped once it is empty.
//!
//! # What is reported
//!
//! - two tasks taking async locks in opposite orders: `CircularDependency`, naming the tasks
//!   (this acquisition's and, per edge, the one that recorded it); also for mixed orders, an
//!   async lock under a blocking one and the reverse elsewhere;
//! - branches of one task (`join!`, `select!`) taking A then B and B then A: one holder, one
//!   cycle;
//! - a task re-locking an async mutex it holds: `RecursiveLocking`, then a panic rather than
//!   waiting for itself forever (held through an owned guard, which may have been handed
//!   elsewhere: only after waiting `LOCKDEP_DEADLOCK_TIMEOUT` for its release);
//! - a blocking lock held while its holder is suspended at an `.await`: `HeldAcrossAwait`,
//!   naming the lock and where it was taken — found as the holder suspends if lockdep runs
//!   its whole future (a [`capture_async`] body, a task of [`spawn`] or [`spawn_local`]); else
//!   when the thread goes on to another holder with the lock still held (a `LocalSet` or
//!   current-thread runtime, a `block_on` future), or when an async acquisition of the holder
//!   has to wait (a task of tokio's own `spawn_local`, or a `block_on` body without
//!   `capture_async`, that holds one across a timer while nothing else on its thread calls
//!   lockdep is not seen);
//! - a *blocking* acquisition of a lock that another holder of the same thread holds while
//!   it is suspended — the thread's own code outside tasks (a current-thread
//!   `#[tokio::test]` body or the code around a `LocalSet`, suspended at an `.await` while
//!   the thread polls the acquiring task), or a local task suspended at an `.await` with a
//!   blocking guard (not `Send`: only this thread can run it on): the thread blocks, so the
//!   holder can never run on to release it — a certain self-deadlock, reported
//!   (`RecursiveLocking`) and stopped with a panic instead of a hang;
//! - a task spawned with [`spawn`] (or `spawn_local`, `spawn_blocking`) that ends with
//!   blocking locks still held (leaked guards): `LocksHeldAtExit` (a local task's guards may
//!   outlive it, in its output or handed to another holder of its thread: released where they
//!   are dropped, they are leaked only if still held when the thread exits, reported then —
//!   a pseudo-lock, which has no guard, is leaked at the task's end all the same; with
//!   tokio's own `spawn_local` such a task is taken for one suspended holding them,
//!   `HeldAcrossAwait`).
//!
//! # Tests
//!
//! [`capture_async`] is [`capture`](crate::capture) for async code: it returns the reports
//! raised while its future runs, by the future itself and by every other task (and blocking
//! thread) of the same runtime — in a `#[tokio::test]`, the test's own runtime, of either
//! flavour, so parallel tests never see each other's reports.
//!
//! With validation compiled out every type here is tokio's own lock or guard with a
//! zero-sized validator handle beside it: the same size (tested), nothing validated.
//!
//! # Limits
//!
//! - One holder per task: branches of one task (`join!`, `select!`, `FuturesUnordered`) that
//!   contend for one async lock — one branch waiting for a guard another branch of the same
//!   task holds — cannot be told from the task re-locking it. Such a wait is given a grace
//!   period (one second): if the lock comes, nothing is reported; if not, it is reported as
//!   the task re-locking it (`RecursiveLocking`) and the task panics. So a real re-lock panics
//!   a second late, and a branch that keeps a lock its sibling awaits for over a second is
//!   reported: put such branches in tasks of their own. For the same reason, a lock one
//!   branch holds counts as held by the whole task: another branch that takes a second lock
//!   meanwhile records an order between the two (a `join!` of independent branches, one
//!   holding A across an `.await` while the other takes B, is the order A → B, and B → A
//!   elsewhere is reported as a cycle, though these branches never wait for each other).
//! - Tasks of other executors (async-std, smol, `futures`' `LocalPool` / `block_on`) have no
//!   tokio task id: all the tasks one thread runs are that thread, one holder, with the
//!   limits of branches above (`tests/adoption_tokio2.rs` pins both false reports).
//! - A branch *queued* for an async lock holds nothing: its acquisition is validated before it
//!   waits and recorded when the lock comes, so its siblings contending for the lock are not
//!   taken for re-locking it. A sibling that takes that lock *blocking* meanwhile
//!   (`blocking_lock` in a future polled by a plain `block_on`) would wait behind it for ever
//!   (tokio hands the lock to the queued branch, which cannot run while the thread blocks):
//!   that is reported (`RecursiveLocking`, naming the queued acquisition) and stopped — whatever
//!   the branch waits for (another holder, a sibling branch in its grace, an owned guard
//!   handed elsewhere). A queued acquisition belongs to whoever polled it last; the blocking
//!   acquisition first tries the lock for a second (the queued future may be polled on
//!   another thread now, having moved), and is stopped only if it still waits behind it.
//! - A `RwLock` built with `with_max_readers(_, 1)` is a mutex: its reads are validated as
//!   exclusive acquisitions, so a holder reading it twice is stopped as a re-lock. (A write
//!   guard downgraded to a read counts as a shared reader, as for any `RwLock`.)
//! - A guard handed to another task (an owned guard moved into a spawned task) stays the
//!   acquiring task's until it is dropped, wherever that is: until then the acquiring task
//!   counts as holding it, and the locks it takes meanwhile are ordered after it. Taking the
//!   lock again meanwhile is no self-deadlock for an *owned* guard (`lock_owned`,
//!   `read_owned`, `write_owned`, `blocking_lock_owned`, the `try_*_owned`): the acquisition
//!   waits for the guard's release elsewhere, reporting nothing if the lock comes, for up to
//!   `LOCKDEP_DEADLOCK_TIMEOUT` (10 s; for ever if 0), and only then is reported as a re-lock
//!   (`RecursiveLocking`) and panics — so a task that kept its owned guard and re-locks in
//!   sequence panics after that timeout rather than after one second. A *borrowed* guard
//!   (`lock()`, of a `'static` lock) handed to another task is still taken for a re-lock
//!   after the one-second grace: hand locks over with owned guards. A *read* beside an owned
//!   read guard handed elsewhere is still reported as recursive reading: a read is granted at
//!   once whether the guard was handed over or kept (when a queued writer would deadlock it),
//!   so nothing tells the two apart.
//! - Drops that tokio runs *inline under another task's id* are taken for that task's: the
//!   output of a finished task dropped with its `JoinHandle` (never awaited), and the futures
//!   of pending tasks dropped with their runtime or `LocalSet`, are dropped by the calling
//!   thread with `tokio::task::try_id()` returning the dropped task's id. A lockdep call
//!   there (a guard released, a lock taken in a `Drop`) looks like a switch to that task: the
//!   caller looks suspended, so a blocking lock it holds is reported as held across an
//!   `.await` (`HeldAcrossAwait`, false), and a lock taken there is recorded as the dropped
//!   task's, not ordered after the caller's locks (a missed order). tokio offers no way to tell
//!   such a drop from a poll of the task. Drop finished tasks' handles and runtimes while
//!   holding no blocking lock, and await an output whose drop takes locks.
//! - Owned guards need `T: 'static` (with validation on they keep tokio's borrowing guard of
//!   the lock in their `Arc`).
//! - A task spawned with tokio's own `spawn` that ends while it still holds a blocking lock
//!   (a leaked guard) is not seen ending: use [`spawn`] for that check and for spawn sites.
//! - A blocking guard moved from a thread into one of its local tasks (`spawn_local`), or
//!   from one local task to another that stays alive, stays its acquirer's until the holder
//!   that has it drops it, calls `unlocked` on it or upgrades it (then it is that holder's):
//!   meanwhile the acquirer counts as holding it, so while it is suspended it is reported
//!   holding it across an `.await` (`HeldAcrossAwait`, as a `capture_async` body or a task of
//!   [`spawn_local`] suspends, or when another holder makes a lockdep call first), and the
//!   locks the holder that has the guard takes are not ordered after it, since the validator
//!   cannot see a guard move. (A guard a local task leaves behind as it ends, in its output or
//!   handed on, is not reported held across an `.await`: the ended task's stack keeps it.)
//! - With the feature on, every guard carries one more word (the stack its entry is on), and
//!   a blocking acquisition on a thread that may poll tasks (seen inside a task or a
//!   runtime's context: see the README's Async section) also asks tokio which task is running
//!   (a call and a thread-local read): a warm blocking lock + unlock costs about 1.05×
//!   parking_lot's time on a plain thread (a nested pair 1.45×), 1.2× / 1.6× outside tasks on
//!   a thread that ran tasks (a `block_on`), inside a task about 2.7×, against 1.05× / 1.3×
//!   without the feature (BENCHMARKS.md); and a thread that goes on to another task after a lockdep call pays a
//!   switch (a process-wide registry lock) at its next lockdep call.

#[cfg(lockdep_enabled)]
mod borrowed;
mod capture;
mod mutex;
#[cfg(lockdep_enabled)]
mod owned;
#[cfg(lockdep_tasks)]
mod queued;
mod rwlock;
mod spawn;
pub mod sync;
mod watch;

pub use ::tokio::sync::TryLockError;
pub use capture::capture_async;
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMappedMutexGuard, OwnedMutexGuard};
pub use rwlock::{
    OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock,
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard,
};
pub use spawn::{spawn, spawn_blocking, spawn_local};
