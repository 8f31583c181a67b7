//! One thread's validator state (its held locks and the chains it knows) and the two ways to
//! reach it: guarded, for the validator's slow paths ([`with_state`]), and the fast path's own
//! unguarded access (in `fast_path.rs`).

use std::cell::RefCell;

use crate::chain_cache::LocalChains;
use crate::held_locks::HeldLocks;
use crate::report::build;
use crate::report::sink::{self, Delivery};
use crate::sync::thread_local;

/// One thread's validator state.
pub(crate) struct ThreadState {
    pub(crate) held: HeldLocks,
    pub(crate) chains: LocalChains,
    /// The dependency graph's epoch the held stack's edges were recorded in: after a
    /// `reset()` (a new epoch) they are recorded again before the next validation.
    pub(crate) graph_epoch: u64,
    /// The thread's own work is over (a `lockdep::thread` returned): what its thread-local
    /// destructors do is still validated, but never panics (that would abort the process).
    pub(crate) exiting: bool,
    /// Problems found while releasing (entries put back and validated again), delivered at
    /// this thread's next validation, capture end or exit: not from inside the release,
    /// where the lock being released is still really locked (a hook that takes it would
    /// block for real).
    pub(crate) deferred: Vec<(crate::report::Report, u64)>,
}

impl Default for ThreadState {
    fn default() -> Self {
        ThreadState {
            held: HeldLocks::default(),
            chains: LocalChains::default(),
            graph_epoch: crate::dependency_graph::current_epoch(),
            exiting: false,
            deferred: Vec::new(),
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
        self.chains.flush_hits(self.held.fast_pushes());
        for (report, key) in std::mem::take(&mut self.deferred) {
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                sink::print(&report, key);
            }
        }
        // An armed event (a `lockdep::thread`'s exit) is not a lock left held.
        let leaked = self.held.stack.iter().any(|h| !h.class.event);
        if leaked && crate::mode::mode() != crate::mode::Mode::Off {
            let (report, key) = build::held_at_exit(&self.held);
            if sink::deliver(report.clone(), key) == Delivery::MustPanic {
                // Never panic in a thread-local destructor: that aborts the process.
                sink::print(&report, key);
            }
        }
    }
}

/// Runs `f` on this thread's state; `None` if it is gone (thread exiting) or busy, or if
/// this thread is inside the validator's own synchronisation (re-entered by an allocator that
/// takes lockdep locks): such acquisitions and releases are left untracked.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
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
