//! The fast path: an acquisition on a chain this thread validated recently, and the release
//! of the top entry, done on thread-local memory only: no lock, no atomic read-modify-write,
//! no shared write. Everything else goes to [`validator`](crate::validator).
//!
//! Its way in is `sync::internal::fast()`: the address of this thread's `STATE` from its
//! first slow-path use until it starts being destroyed, and not while the thread is inside
//! lockdep's own synchronisation or the slow path has the state borrowed (null otherwise).
//! One `%fs`-relative load with no lazy-initialisation check and no call, so the fast path
//! needs no saved registers, and no borrow flag to check: a non-null pointer means nobody
//! holds the state. The state is reached without marking its `RefCell` borrowed: the one
//! `unsafe` block of the validator, justified below.

use std::cell::RefCell;
use std::panic::Location;

use crate::class::ClassInfo;
use crate::held_locks::{Instance, Read};
use crate::thread_state::ThreadState;
#[cfg(loom)]
use crate::thread_state::STATE;

/// This thread's state for the fast paths, if the slow path has set it up, it is alive and
/// (`anywhere` false) the thread is not inside lockdep's own synchronisation.
#[inline(always)]
fn fast_state(anywhere: bool) -> Option<*const RefCell<ThreadState>> {
    #[cfg(not(loom))]
    {
        let p = if anywhere {
            crate::sync::internal::state_anywhere()
        } else {
            crate::sync::internal::fast()
        };
        (!p.is_null()).then_some(p as *const RefCell<ThreadState>)
    }
    // Loom's thread-locals are boxed per modelled thread: the address stays valid while the
    // thread runs, which covers the one call it is used for.
    #[cfg(loom)]
    {
        if !anywhere && crate::sync::internal::inside() {
            return None;
        }
        STATE.try_with(|s| s as *const _).ok()
    }
}

/// This thread's state, without marking it borrowed: the fast paths' access. `None` if the
/// state is not set up, gone, or borrowed (the slow path is running below us, e.g. a user
/// allocator took a lock while the slow path allocated), or if the thread is inside lockdep's
/// own synchronisation, unless `anywhere`.
///
/// # Safety
///
/// The caller uses the reference only until it returns, and meanwhile does not allocate,
/// free, print, or call anything else that could re-enter lockdep on this thread: nothing
/// marks the state busy. (A function returning the reference, not one taking a closure: the
/// closure's body could be left out of line, with its captures in memory.)
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn state_unguarded<'a>(anywhere: bool) -> Option<&'a mut ThreadState> {
    let state = fast_state(anywhere)?;
    // The pointer is this thread's live `STATE`: it is set from a live reference and cleared
    // as the destructor starts. It is also null while the state is borrowed: the only borrow
    // is `thread_state::with_state`'s, which clears the pointers for as long as it holds it
    // (loom's thread-locals give no such pointer: there the borrow flag is checked). So no
    // other reference to the state exists on this thread, and it is thread-local, so none
    // exists on another.
    // SAFETY: as above; and the caller re-enters nothing while it uses the reference (the
    // contract), so no other reference is created meanwhile.
    unsafe {
        #[cfg(loom)]
        (*state).try_borrow_unguarded().ok()?;
        Some(&mut *(*state).as_ptr())
    }
}

/// The holder a token names: the uid of the stack its entry is on (with the `tokio` feature;
/// nothing otherwise).
#[cfg(lockdep_tasks)]
pub(crate) type HolderTag = u64;
/// The holder a token names: the uid of the stack its entry is on (with the `tokio` feature;
/// nothing otherwise).
#[cfg(not(lockdep_tasks))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct HolderTag;

/// The tag of an untracked token (no stack: uids start at 1).
#[cfg(lockdep_tasks)]
pub(crate) const NO_HOLDER: HolderTag = 0;
/// The tag of an untracked token.
#[cfg(not(lockdep_tasks))]
pub(crate) const NO_HOLDER: HolderTag = HolderTag;

/// The fast path: records a plain acquisition (no nest lock, subclass resolved, not a
/// trylock) whose chain this thread validated recently, and returns its serial; `None` sends
/// the caller to [`acquire`](crate::validator::acquire). Touches only this thread's state:
/// one key mix, one probe of the recent-chain slots, one push; it calls nothing, so it
/// inlines into `DepMap::record` (with the `tokio` feature, where the thread may be polling a
/// task, it asks tokio which task runs, and a task's push is one call away: `task_push`).
/// `sendable`: an async lock's acquisition (its guard is `Send`).
#[inline(always)]
pub(crate) fn acquire_fast(
    class: &'static ClassInfo,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
    sendable: bool,
) -> Option<(u64, HolderTag)> {
    // Not inside lockdep's own synchronisation (re-entered by an allocator taking lockdep
    // locks): the slow path leaves such an acquisition untracked.
    // SAFETY: `push_on` and `task_push` call nothing (stores and compares on the state); with
    // the `tokio` feature tokio's task id is asked (a thread-local read in tokio).
    #[allow(unsafe_code)]
    let s = unsafe { state_unguarded(false) }?;
    // No `reset()` and no mode change since this thread's slow path last ran, and not `Off`
    // (one compare for all three: see `crate::stamp`).
    if !s.chains.fresh() {
        return None;
    }
    // With the `tokio` feature: outside tasks, the push goes on the thread's own stack
    // (inline in the state, no pointer to follow; only this thread touches it) if it is the
    // one loaded; in a task, `task_push`. A blocking lock on a thread never seen where it
    // could poll a task (`HeldRef::tasks_possible`) asks tokio nothing: it is outside tasks,
    // and the own stack is the loaded one (a build without the feature, plus a flag test).
    #[cfg(lockdep_tasks)]
    let (serial, tag) = {
        let task = if !sendable && !s.held.tasks_possible() {
            None
        } else {
            crate::holder::current_task()
        };
        if task.is_none() {
            let (held, tag) = s.held.own_loaded_mut()?;
            (
                push_on(held, &mut s.chains, class, instance, read, site, sendable)?,
                tag,
            )
        } else {
            match task_push(s, task, class, instance, read, site, sendable) {
                (0, _) => return None,
                words => words,
            }
        }
    };
    #[cfg(not(lockdep_tasks))]
    let (serial, tag) = (
        push_on(
            &mut s.held,
            &mut s.chains,
            class,
            instance,
            read,
            site,
            sendable,
        )?,
        HolderTag,
    );
    Some((serial, tag))
}

/// The fast path's push with the `tokio` feature in the task `task` (not `None`): on the
/// task's stack if it is loaded and still this thread's, and the thread's own stack is empty
/// (not empty: its code outside tasks, suspended while it polls this task, holds locks; the
/// slow path checks this acquisition against them). Otherwise the slow path switches stacks.
/// Returns the serial and the holder tag, serial 0 for the slow path (two registers: an
/// `Option` of them comes back through memory, and the caller's paths merging would then keep
/// every token there).
///
/// Out of line: inlined, its second copy of the push kept more of the caller's values in
/// memory, and every acquisition outside tasks paid for that.
#[cfg(lockdep_tasks)]
#[inline(never)]
fn task_push(
    s: &mut ThreadState,
    task: crate::holder::Task,
    class: &'static ClassInfo,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
    sendable: bool,
) -> (u64, HolderTag) {
    if !crate::holder::settled_for(&s.held, &s.holding, task) || !s.held.own().stack.is_empty() {
        return (0, NO_HOLDER);
    }
    let tag = crate::holder::loaded(&s.held);
    let held = s.held.task_loaded_mut();
    match push_on(held, &mut s.chains, class, instance, read, site, sendable) {
        Some(serial) => (serial, tag),
        None => (0, NO_HOLDER),
    }
}

/// The fast path's push: records the acquisition on `held` if its chain is one `chains` knows
/// (or nothing is held), and returns its serial. Calls nothing, so it inlines (as a closure
/// the compiler may leave it out of line, with its arguments in memory).
#[inline(always)]
fn push_on(
    held: &mut crate::held_locks::HeldLocks,
    chains: &mut crate::chain_cache::LocalChains,
    class: &'static ClassInfo,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
    sendable: bool,
) -> Option<u64> {
    if !held.stack.has_spare_slot() {
        return None; // the push would allocate
    }
    let key = match held.stack.top() {
        // Nothing held: nothing to validate (no edge, no class held twice); the key of
        // this one-lock chain was computed with the class. (The stack's graph epoch is
        // current: the graph's epoch changes only with a `reset()`, which changes the stamp.)
        None => class.solo_keys[read as usize],
        Some(top) => {
            let id = crate::held_locks::chain_id(class, read, false);
            let key = crate::held_locks::mix_chain_key(top.key, id);
            if !chains.recent_hit(key) {
                return None;
            }
            key
        }
    };
    Some(held.push_hot(class, instance, read, sendable, site, key))
}

/// A guard's release, fast path: pops its entry when it is on top (no re-acquisition, no
/// merged references) of the stack its token names. Returns false when the general release
/// must run.
#[inline(always)]
pub(crate) fn release_serial(serial: u64, holder: HolderTag) -> bool {
    // Also inside lockdep's own synchronisation: popping takes no internal lock.
    // SAFETY: `pop_fast` calls nothing (compares and one store on the state).
    #[allow(unsafe_code)]
    let state = unsafe { state_unguarded(true) };
    state.is_some_and(|s| pop_fast(s, serial, holder))
}

/// The body of [`release_serial`] (forced inline, like [`push_on`]).
#[inline(always)]
fn pop_fast(s: &mut ThreadState, serial: u64, _holder: HolderTag) -> bool {
    // With the `tokio` feature a task's entry is left to `release_task_entry`, which the
    // release's slow path tries first (a second call here would keep the guards'
    // drops out of line).
    own_stack(s, _holder).is_some_and(|(held, _)| pop_top(held, serial))
}

/// The thread's own stack and chain cache, for an entry of the stack `holder`: with the
/// `tokio` feature only if `holder` is the thread's own stack and it is the one loaded (only
/// this thread ever touches it; a task's stack is handled out of line).
#[inline(always)]
fn own_stack(
    s: &mut ThreadState,
    _holder: HolderTag,
) -> Option<(
    &mut crate::held_locks::HeldLocks,
    &mut crate::chain_cache::LocalChains,
)> {
    #[cfg(lockdep_tasks)]
    {
        Some((s.held.own_if_tagged(_holder)?, &mut s.chains))
    }
    #[cfg(not(lockdep_tasks))]
    Some((&mut s.held, &mut s.chains))
}

/// Pops the top entry of `held` if it is the one with `serial` (serials are unique per stack).
#[inline(always)]
fn pop_top(held: &mut crate::held_locks::HeldLocks, serial: u64) -> bool {
    match held.stack.top() {
        Some(top) if top.is_whole_entry_of(serial) => {
            held.stack.pop_in_place();
            true
        }
        _ => false,
    }
}

/// The release of a task's entry (with the `tokio` feature), tried when [`release_serial`]
/// did not apply: pops it if it is on top of that task's stack, the stack is loaded here and
/// this thread runs the task now (asks tokio).
#[cfg(lockdep_tasks)]
#[inline(always)]
pub(crate) fn release_task_entry(serial: u64, holder: HolderTag) -> bool {
    // SAFETY: nothing below re-enters lockdep (tokio's task id is a thread-local read).
    #[allow(unsafe_code)]
    let Some(s) = (unsafe { state_unguarded(true) }) else {
        return false;
    };
    crate::holder::may_pop_task(&s.held, &s.holding, holder) && pop_top(&mut s.held, serial)
}

/// `upgrade`'s fast path: the entry of `serial` on top of this thread's own stack is now held
/// in mode `read`, taken at `site`, changed in place, if it is a plain entry (pushed by the
/// fast path) and the chain with its lock in mode `read` on top of the entries below it was
/// validated recently (exactly what releasing the entry and acquiring the lock again at
/// `site` would record: that chain is known, and a chain holding one class twice never is).
/// False: nothing changed.
#[inline(always)]
pub(crate) fn rekind_top(
    serial: u64,
    _holder: HolderTag,
    read: Read,
    site: &'static Location<'static>,
) -> bool {
    // SAFETY: nothing below calls out (loads, compares and three stores on the state), but
    // tokio's task id with the `tokio` feature (a thread-local read).
    #[allow(unsafe_code)]
    let Some(s) = (unsafe { state_unguarded(false) }) else {
        return false;
    };
    // With the `tokio` feature: outside tasks only. In a task the upgrade is that task's
    // acquisition (the slow way moves the entry to its stack), though the thread's own stack
    // may still be the one loaded (the task made no lockdep call yet). A thread never seen
    // where it could poll a task asks tokio nothing (as `acquire_fast`).
    #[cfg(lockdep_tasks)]
    if s.held.tasks_possible() && crate::holder::current_task().is_some() {
        return false;
    }
    if !s.chains.fresh() {
        return false;
    }
    // With the `tokio` feature: the thread's own stack only (a blocking guard's entry
    // usually is; any other goes the slow way).
    let Some((held, chains)) = own_stack(s, _holder) else {
        return false;
    };
    let Some((top, below)) = held.stack.top_mut_with_key_below() else {
        return false;
    };
    if !top.is_plain_entry_of(serial) {
        return false;
    }
    let key = match below {
        None => top.class.solo_keys[read as usize],
        Some(below) => {
            let key = crate::held_locks::mix_chain_key(
                below,
                crate::held_locks::chain_id(top.class, read, false),
            );
            if !chains.recent_hit(key) {
                return false;
            }
            key
        }
    };
    top.rekind(read, key, site);
    true
}
