//! Locks freed while another holder holds them: the registry of freed instances, and each
//! holder's stack forgetting its dead entries.
//!
//! A lock (or a `LockMap`, an armed event) that thread T holds may be dropped on thread U: T
//! forgot its guard and the last `Arc` of the lock went on U. U cannot reach T's stack (it is
//! T's alone, and the fast path reads and writes it with no synchronisation), so U notes the
//! lock's instance here, and every holder's stack checks this registry at its next slow-path
//! visit (`validator::with_state`) and at its thread's exit, before any edge is recorded
//! from the dead entry or the entry is reported as held at exit (an ended local task's stack,
//! which no holder visits, as its thread checks it: `forget_dead`). The fast path records no
//! edges, so a dead entry it finds below a cached chain does no harm meanwhile; instance ids
//! are never reused, so a dead entry is never taken for a new lock's.
//!
//! Only instances that someone may hold are noted (the real lock was still locked as it was
//! dropped, or a pseudo-lock's or an event's count of holders said so: see
//! `DepMap::count_hold`), so an ordinary drop never comes here. The check is one atomic load
//! of the registry's generation per slow-path visit; only a stack that holds something and
//! has not seen the latest generation takes the registry's lock (a leaf: nothing is taken
//! under it). Noted instances are kept for the process (8 bytes each, one per lock freed
//! while held: a leak, or a report).
//!
//! A lock left held by a thread that exited (or a task that ended) was reported there
//! (`LocksHeldAtExit`); the exiting holder notes it, so that freeing it later is not reported
//! again as held by another thread.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Outcome;
use crate::held_locks::{HeldLocks, Instance};
use crate::sync::internal::Mutex;
use crate::thread_state::ThreadState;

/// The instances freed while someone may have held them.
static FREED: Mutex<HashSet<Instance>> = Mutex::new();
/// Bumped after each instance noted: a stack that has seen the latest generation has nothing
/// new to look for.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The instances left held by threads that exited (reported as `LocksHeldAtExit` there), or
/// held by a thread whose held locks `reset()` forgot: freeing one later is that leak again,
/// or a lock nobody holds as far as lockdep knows, not reported as held by another thread.
static LEFT_AT_EXIT: Mutex<HashSet<Instance>> = Mutex::new();

/// Was `instance` (being dropped) left held by a thread that exited? Forgets it.
pub(crate) fn take_left_at_exit(instance: Instance) -> bool {
    LEFT_AT_EXIT.lock().remove(&instance)
}

/// The lock `instance` was dropped while some holder (another thread's, another task's, or
/// an entry of this stack besides the one taken out) may hold it: every stack forgets it at
/// its next slow-path visit.
pub(crate) fn note(instance: Instance) {
    FREED.lock().insert(instance);
    GENERATION.fetch_add(1, Ordering::Release);
}

/// The blocking locks and pseudo-locks of `held` are left held (see
/// [`ThreadState::note_left_at_exit`]).
pub(crate) fn note_left(held: &HeldLocks) {
    note_left_where(held, &|h| !h.class.event && !h.sendable());
}

/// Those of the entries of `held` that match `left` are left held (see [`note_left`]).
pub(crate) fn note_left_where(
    held: &HeldLocks,
    left: &dyn Fn(&crate::held_locks::HeldLock) -> bool,
) {
    let left = held
        .stack
        .iter()
        .filter(|h| left(h))
        .flat_map(|h| std::iter::once(h.instance).chain(h.merged_instances().iter().copied()));
    LEFT_AT_EXIT.lock().extend(left);
}

/// Forgets the entries of `held` whose locks were freed (reported where they were freed), on
/// a stack no holder will visit again to do it (the stack of a local task that ended with
/// blocking locks held: `Stack::ended_on`). Unvalidated, as `holder::release_unvalidated`.
#[cfg(lockdep_tasks)]
pub(crate) fn forget_dead(held: &mut HeldLocks) {
    let dead = dead_in(held);
    let entries: Vec<(Instance, u64)> = held
        .stack
        .iter()
        .flat_map(|h| {
            dead.iter()
                .filter(|&&i| h.holds(i))
                .map(move |&i| (i, h.serial()))
        })
        .collect();
    for (instance, serial) in entries {
        crate::holder::release_unvalidated(held, instance, serial);
    }
}

/// The instances of `held`'s entries (merged ones too) that were freed, if the registry has
/// changed since the stack last looked (then it is marked as having seen it).
fn dead_in(held: &mut HeldLocks) -> Vec<Instance> {
    let generation = GENERATION.load(Ordering::Acquire);
    if generation == held.freed_seen {
        return Vec::new();
    }
    held.freed_seen = generation;
    if held.stack.is_empty() {
        return Vec::new();
    }
    let freed = FREED.lock();
    let mut dead = Vec::new();
    for h in held.stack.iter() {
        let mut check = |i: Instance| {
            if freed.contains(&i) && !dead.contains(&i) {
                dead.push(i);
            }
        };
        check(h.instance);
        for &m in h.merged_instances() {
            check(m);
        }
    }
    dead
}

impl ThreadState {
    /// Takes this holder's entries of freed locks off its stack (the entries above them are
    /// put back as after any release: those that recorded no edges validated again, their
    /// reports deferred). Not reported here: the thread that freed the lock reported it.
    pub(crate) fn forget_freed(&mut self) {
        let dead = dead_in(&mut self.held);
        if dead.is_empty() {
            return;
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        for instance in dead {
            while let Some(idx) = self.held.find(instance, |_| true) {
                let whole = !self.held.stack[idx].is_merged();
                outcomes.extend(self.take_out(idx, instance));
                if whole {
                    self.forgot_at(idx);
                }
            }
        }
        self.deferred
            .extend(outcomes.into_iter().flat_map(|o| o.reports));
    }

    /// The thread (or, with the `tokio` feature, the task) ends holding the blocking locks and
    /// pseudo-locks of its stack (reported as `LocksHeldAtExit`), or `reset()` forgets them:
    /// noted, so that freeing one later is not reported (again).
    pub(crate) fn note_left_at_exit(&self) {
        note_left(&self.held);
    }

    /// The entry at `idx` was taken off the stack (a dead one, or one freed by this thread):
    /// a condvar wait's mutex out of the stack meanwhile goes back where it was, one lower if
    /// it was above it.
    pub(super) fn forgot_at(&mut self, idx: usize) {
        self.purged.push(idx);
        if let Some((_, index)) = self.suspended.as_mut() {
            if idx < *index {
                *index -= 1;
            }
        }
    }

    /// Where a stack position taken at `mark` (`purged.len()` then) is now, after the dead
    /// entries forgotten since.
    pub(crate) fn position_now(&self, mark: usize, mut index: usize) -> usize {
        for &p in &self.purged[mark.min(self.purged.len())..] {
            if p < index {
                index -= 1;
            }
        }
        index
    }
}
