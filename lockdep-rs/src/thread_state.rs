//! One thread's validator state (the held locks of its current holder and the chains it knows)
//! and the two ways to reach it: guarded, for the validator's slow paths ([`with_state`]), and
//! the fast path's own unguarded access (in `fast_path.rs`).
//!
//! With the `tokio` feature (`cfg(lockdep_tasks)`) the held stack is not the thread's: it is
//! the stack of the *holder* running on the thread — the thread itself, or the tokio task it
//! is polling (`src/holder.rs`); the validator makes it the calling context's first.

use std::cell::RefCell;

use crate::chain_cache::LocalChains;
use crate::report::build;
use crate::report::sink;
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
    /// Problems found while releasing (entries put back and validated again), delivered at
    /// this thread's next validation, capture end or exit: not from inside the release,
    /// where the lock being released is still really locked (a hook that takes it would
    /// block for real).
    pub(crate) deferred: Vec<(crate::report::Report, u64)>,
    /// A condvar's mutex while its wait is validated: out of the stack (the validations of
    /// the wait do not see it) but still really locked, and where it was. A report hook run
    /// meanwhile sees it held again (see `validator::deliver`).
    pub(crate) suspended: Option<(crate::held_locks::HeldLock, usize)>,
    /// The stack positions of the dead entries taken off so far (locks freed by another
    /// thread: `validator/freed.rs`), in order: a condvar wait's mutex, out of the stack
    /// meanwhile, goes back where it was (`ThreadState::position_now`).
    pub(crate) purged: Vec<usize>,
}

impl Default for ThreadState {
    fn default() -> Self {
        #[cfg(lockdep_tasks)]
        let (held, holding) = crate::holder::new_thread();
        #[cfg(not(lockdep_tasks))]
        let held = HeldSlot::default();
        let mut state = ThreadState {
            held,
            chains: LocalChains::default(),
            exiting: false,
            deferred: Vec::new(),
            suspended: None,
            purged: Vec::new(),
            #[cfg(lockdep_tasks)]
            holding,
        };
        // A new thread starts in the graph's current epoch: nothing it holds needs replaying.
        state.held.graph_epoch = crate::dependency_graph::current_epoch();
        state
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
        // The thread's own stack, with the releases other threads posted to it taken off (the
        // fast-path hit count follows, unless another thread took over the loaded stack).
        #[cfg(lockdep_tasks)]
        {
            // (The count of the stack loaded is read under the registry's lock: a task's
            // stack may be taken over by another worker meanwhile.)
            let before = crate::holder::thread_exit(&mut self.held, &mut self.holding);
            self.chains.switch_stack(before, self.held.fast_pushes());
        }
        self.chains.flush_hits(self.held.fast_pushes());
        // Locks freed by another thread while this one held them: reported there, not held
        // here any more (not left held at exit).
        if !crate::sync::internal::inside() {
            self.forget_freed();
        }
        for (report, key) in std::mem::take(&mut self.deferred) {
            sink::deliver_no_panic(report, key);
        }
        // An armed event (a `lockdep::thread`'s exit) is not a lock left held, nor is an async
        // lock's guard, which may be alive on another thread (it releases there).
        let leaked = self
            .held
            .stack
            .iter()
            .any(|h| !h.class.event && !h.sendable());
        if leaked && crate::mode::mode() != crate::mode::Mode::Off {
            // Reported here: not again by the thread that frees such a lock later.
            if !crate::sync::internal::inside() {
                self.note_left_at_exit();
            }
            let (report, key) = build::held_at_exit(&self.held);
            // Never panic in a thread-local destructor: that aborts the process.
            sink::deliver_no_panic(report, key);
        }
        #[cfg(lockdep_tasks)]
        for (report, key) in self.leaked_by_ended_tasks() {
            sink::deliver_no_panic(report, key);
        }
        #[cfg(lockdep_tasks)]
        crate::holder::thread_exited(&mut self.held, &mut self.holding);
    }
}

/// Runs `f` on this thread's state; `None` if it is gone (thread exiting) or busy, or if
/// this thread is inside the validator's own synchronisation (re-entered by an allocator that
/// takes lockdep locks): such acquisitions and releases are left untracked. (With the `tokio`
/// feature the validator first makes the loaded stack the calling context's holder's: its own
/// `with_state`.)
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    if crate::sync::internal::inside() {
        return None;
    }
    STATE
        .try_with(|s| {
            let mut state = s.try_borrow_mut().ok()?;
            // While it is borrowed here the fast paths must not find it (they check no
            // borrow flag); afterwards they may. (A panic in `f` leaves them closed until
            // this thread's next slow-path call.)
            #[cfg(not(loom))]
            crate::sync::internal::set_fast(std::ptr::null());
            let r = f(&mut state);
            drop(state);
            #[cfg(not(loom))]
            crate::sync::internal::set_fast(s as *const RefCell<ThreadState> as *const ());
            Some(r)
        })
        .ok()
        .flatten()
}
