//! The fast path: an acquisition on a chain this thread validated recently, and the release
//! of the top entry, done on thread-local memory only: no lock, no atomic read-modify-write,
//! no shared write. Everything else goes to [`validator`](crate::validator).
//!
//! Its way in is `sync::internal::fast()`: the address of this thread's `STATE` from its
//! first slow-path use until it starts being destroyed, and not while the thread is inside
//! lockdep's own synchronisation (null otherwise). One `%fs`-relative load with no
//! lazy-initialisation check and no call, so the fast path needs no saved registers.
//! The state is reached without marking its `RefCell` borrowed (a load checks that nobody
//! holds it): the one `unsafe` block of the validator, justified below.

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

/// Runs `f` on this thread's state without marking it borrowed: the fast paths' access.
/// `None` if the state is not set up, gone, or borrowed (the slow path is running below us,
/// e.g. a user allocator took a lock while the slow path allocated), or if the thread is
/// inside lockdep's own synchronisation, unless `anywhere`.
///
/// `f` must not allocate, free, print, or call anything else that could re-enter lockdep on
/// this thread: nothing marks the state busy while it runs.
#[inline(always)]
#[allow(unsafe_code)]
fn with_state_unguarded<R>(anywhere: bool, f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    let state = fast_state(anywhere)?;
    // The pointer is this thread's live `STATE`: `FAST` is set from a live reference and
    // cleared as the destructor starts. `try_borrow_unguarded` succeeding means no `RefMut` is
    // live (the state is only ever borrowed mutably), so no other reference to it exists on
    // this thread, and it is thread-local, so none exists on another.
    // SAFETY: as above; and `f` re-enters nothing (its contract), so no other reference is
    // created while `f`'s lives.
    unsafe {
        (*state).try_borrow_unguarded().ok()?;
        Some(f(&mut *(*state).as_ptr()))
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

#[inline(always)]
fn tag_of(_s: &ThreadState) -> HolderTag {
    #[cfg(lockdep_tasks)]
    return crate::holder::loaded(&_s.held);
    #[cfg(not(lockdep_tasks))]
    HolderTag
}

/// The fast path: records a plain acquisition (no nest lock, subclass resolved, not a
/// trylock) whose chain this thread validated recently, and returns its serial; `None` sends
/// the caller to [`acquire`](crate::validator::acquire). Touches only this thread's state:
/// one key mix, one probe of the recent-chain slots, one push; it calls nothing, so it
/// inlines into `record_on`. `sendable`: an async lock's acquisition (its guard is `Send`).
#[inline(always)]
pub(crate) fn acquire_fast(
    class: &'static ClassInfo,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
    sendable: bool,
) -> Option<(u64, HolderTag)> {
    // With the `tokio` feature: the running task, asked first (a call into tokio, made while
    // few values are live).
    #[cfg(lockdep_tasks)]
    let task = crate::holder::current_task();
    // Not inside lockdep's own synchronisation (re-entered by an allocator taking lockdep
    // locks): the slow path leaves such an acquisition untracked.
    with_state_unguarded(false, |s| {
        push_fast(
            s,
            class,
            instance,
            read,
            site,
            sendable,
            #[cfg(lockdep_tasks)]
            task,
        )
    })
    .flatten()
}

/// The body of [`acquire_fast`] on this thread's state (a function of its own, forced inline:
/// as a closure the compiler may leave it out of line, with its arguments in memory).
#[inline(always)]
fn push_fast(
    s: &mut ThreadState,
    class: &'static ClassInfo,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
    sendable: bool,
    #[cfg(lockdep_tasks)] task: crate::holder::Task,
) -> Option<(u64, HolderTag)> {
    // With the `tokio` feature: only if the loaded stack is the calling context's holder's
    // (the same task, or no task) and still this thread's; else the slow path switches.
    #[cfg(lockdep_tasks)]
    if !crate::holder::settled_for(&s.held, &s.holding, task) {
        return None;
    }
    if !s.held.stack.has_spare_slot() {
        return None; // the push would allocate
    }
    let key = match s.held.stack.top() {
        // Nothing held: nothing to validate (no edge, no class held twice); the key of
        // this one-lock chain was computed with the class.
        None => {
            // Nothing is held across any reset so far: nothing to replay later. (Written only
            // when it changed: a store before the lock's locked instruction costs.)
            let epoch = crate::dependency_graph::current_epoch();
            if s.held.graph_epoch != epoch {
                s.held.graph_epoch = epoch;
            }
            class.solo_keys[read as usize]
        }
        Some(top) => {
            let id = crate::held_locks::chain_id(class, read, false);
            let key = crate::held_locks::mix_chain_key(top.key, id);
            if !s.chains.recent_hit(key) {
                return None;
            }
            key
        }
    };
    let serial = s.held.push_hot(class, instance, read, sendable, site, key);
    Some((serial, tag_of(s)))
}

/// A guard's release, fast path: pops its entry when it is on top (no re-acquisition, no
/// merged references) of the stack its token names. Returns false when the general release
/// must run.
#[inline(always)]
pub(crate) fn release_serial(serial: u64, holder: HolderTag) -> bool {
    // Also inside lockdep's own synchronisation: popping takes no internal lock.
    with_state_unguarded(true, |s| pop_fast(s, serial, holder)).unwrap_or(false)
}

/// The body of [`release_serial`] (forced inline, like [`push_fast`]).
#[inline(always)]
fn pop_fast(s: &mut ThreadState, serial: u64, _holder: HolderTag) -> bool {
    // With the `tokio` feature: only an entry of the stack loaded here, and only while this
    // thread may touch that stack (its own, or the running task's).
    #[cfg(lockdep_tasks)]
    if !crate::holder::may_pop(&s.held, &s.holding, _holder) {
        return false;
    }
    let held = &mut s.held;
    match held.stack.top() {
        // Serials are unique per stack: the top entry is this guard's.
        Some(top) if top.is_whole_entry_of(serial) => {
            held.stack.pop_in_place();
            true
        }
        _ => false,
    }
}
