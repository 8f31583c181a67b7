//! One thread's validator state (the held locks of its current holder and the chains it knows)
//! and the two ways to reach it: guarded, for the validator's slow paths ([`with_state`]), and
//! the fast path's own unguarded access (in `fast_path.rs`).
//!
//! With the `tokio` feature (`cfg(lockdep_tasks)`) the held stack is not the thread's: it is
//! the stack of the *holder* running on the thread — the thread itself, or the tokio task it
//! is polling — and [`with_state`] first makes it the calling context's (`src/holder.rs`).

use std::cell::RefCell;

use crate::chain_cache::LocalChains;
use crate::report::build;
use crate::report::sink::{self, Delivery};
use crate::sync::thread_local;

/// The held stack as the thread state keeps it: inline, or with the `tokio` feature a handle
/// on the current holder's stack (which moves between threads with its task).
#[cfg(not(lockdep_tasks))]
pub(crate) type HeldSlot = crate::held_locks::HeldLocks;
#[cfg(lockdep_tasks)]
pub(crate) type HeldSlot = crate::holder::HeldRef;

/// One thread's validator state.
pub(crate) struct ThreadState {
    pub(crate) held: HeldSlot,
    pub(crate) chains: LocalChains,
    /// The thread's own work is over (a `lockdep::thread` returned): what its thread-local
    /// destructors do is still validated, but never panics (that would abort the process).
    pub(crate) exiting: bool,
    /// Which holder's stack `held` is, and the thread's own stack.
    #[cfg(lockdep_tasks)]
    pub(crate) holding: crate::holder::Holding,
}

impl Default for ThreadState {
    fn default() -> Self {
        #[cfg(lockdep_tasks)]
        let (held, holding) = crate::holder::new_thread();
        #[cfg(not(lockdep_tasks))]
        let held = HeldSlot::default();
        ThreadState {
            held,
            chains: LocalChains::default(),
            exiting: false,
            #[cfg(lockdep_tasks)]
            holding,
        }
    }
}

thread_local! {
    pub(crate) static STATE: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // From here on the fast paths must not find this state (it is being destroyed).
        #[cfg(not(loom))]
        crate::sync::internal::set_fast(std::ptr::null());
        // The thread's own stack, with the releases other threads posted to it applied.
        #[cfg(lockdep_tasks)]
        crate::holder::thread_exit(self);
        self.chains.flush_hits(self.held.fast_pushes());
        // An armed event (a `lockdep::thread`'s exit) is not a lock left held, nor is an async
        // lock's guard, which may be alive on another thread (it releases there).
        let leaked = self
            .held
            .stack
            .iter()
            .any(|h| !h.class.event && !h.sendable);
        if leaked && crate::mode::mode() != crate::mode::Mode::Off {
            let (report, key) = build::held_at_exit(&self.held);
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                // Never panic in a thread-local destructor: that aborts the process.
                sink::print(&report);
            }
        }
        #[cfg(lockdep_tasks)]
        crate::holder::thread_exited(self);
    }
}

/// Runs `f` on this thread's state; `None` if it is gone (thread exiting) or busy, or if
/// this thread is inside the validator's own synchronisation (re-entered by an allocator that
/// takes lockdep locks): such acquisitions and releases are left untracked. With the `tokio`
/// feature the state's held stack is first made the calling context's holder's.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    #[cfg(lockdep_tasks)]
    crate::holder::settle_here(false);
    with_state_raw(f)
}

/// [`with_state`] without settling the holder.
pub(crate) fn with_state_raw<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    if crate::sync::internal::inside() {
        return None;
    }
    STATE
        .try_with(|s| {
            #[cfg(not(loom))]
            crate::sync::internal::set_fast(s as *const RefCell<ThreadState> as *const ());
            s.try_borrow_mut().ok().map(|mut s| f(&mut s))
        })
        .ok()
        .flatten()
}
