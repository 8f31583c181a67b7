//! `upgrade`'s slow path: the write acquisition of a lock this thread holds as its upgradable
//! reader, validated on top of every lock the thread holds — those taken under the upgradable
//! read too: they stay held while the upgrade waits for the readers — and then recorded *in
//! place*. The lock is never released, so the entries above it stay above it, still under it
//! as their nest lock (recorded as a release and a fresh acquisition on top, the entry would
//! leave them below it, stripped of their nest lock, and the next child taken under the
//! upgraded guard would be a false recursive locking).
//!
//! While the write acquisition is validated the entry is out of the stack (it would conflict
//! with itself), but a report hook run meanwhile is shown it held, as it really is (see
//! `validator::deliver`). If the validation panics (Panic mode, a certain self-deadlock) the
//! entry is put back as it was: the guard still holds the upgradable read as it unwinds.

use std::panic::Location;

use super::{acquire, with_state, Acquired, Request};
use crate::held_locks::{HeldLock, Instance, Read};

/// The entry of an upgrade, out of the stack while the write acquisition is validated; put
/// back as it was when dropped armed (the validation panicked, or recorded nothing).
#[cfg_attr(loom, allow(dead_code))]
struct OutOfStack {
    entry: HeldLock,
    index: usize,
    /// How many dead entries the stack had forgotten when the entry was taken out: `index`
    /// moves down for those forgotten below it since (a lock freed by another thread while
    /// the write acquisition is validated, e.g. by a report hook; see
    /// `ThreadState::position_now`).
    purge_mark: usize,
    armed: bool,
    /// The entry a condvar wait had out of the stack when this upgrade began (a report hook
    /// run during that wait's validation upgrading a lock): shown held again afterwards.
    outer: Option<(HeldLock, usize)>,
}

impl Drop for OutOfStack {
    fn drop(&mut self) {
        let (entry, armed) = (&self.entry, self.armed);
        let outer = self.outer.take();
        with_state(|s| {
            s.suspended = outer;
            if armed {
                let index = s.position_now(self.purge_mark, self.index);
                s.held.insert(index, entry.clone());
            }
        });
    }
}

/// Validates the upgrade of the entry of `instance` — the one with serial `serial`, or for a
/// raw lock (no guard, no serial) the topmost shared entry of it — to a write acquisition at
/// `site` (`timed`: a timed upgrade, see [`Request::timed`]) and records it in place.
///
/// `None`: there is no such entry to change in place (not held, or merged with other guards'
/// locks under a nest lock); the caller records the upgrade as a release and an acquisition.
/// `Some(None)`: validated but not recorded (a timed upgrade waiting for a reader of this
/// thread, or validation is off now); the entry is back as it was. `Some(Some(a))`: the entry
/// is a writer's now, where it was, with the same serial.
#[track_caller]
#[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
pub(crate) fn upgrade(
    instance: Instance,
    serial: Option<u64>,
    site: &'static Location<'static>,
    timed: bool,
) -> Option<Option<Acquired>> {
    let out = with_state(|s| {
        let index = s.held.find(instance, |h| {
            serial.map_or(h.read().is_shared(), |serial| h.serial() == serial)
        })?;
        let entry = s.held.stack[index].clone();
        if entry.merged_count() > 0 || entry.instance != instance {
            return None;
        }
        s.held.withdraw(entry.serial(), instance);
        let outer = s.suspended.replace((entry.clone(), index));
        Some(OutOfStack {
            entry,
            index,
            purge_mark: s.purged.len(),
            armed: true,
            outer,
        })
    })
    .flatten()?;
    let e = &out.entry;
    let acquired = acquire(
        e.class,
        instance,
        Request {
            read: Read::Exclusive,
            trylock: false,
            nest: e.nest().map(|n| n.get()),
            // (Held as its entry says: the guard is not at hand.)
            nest_upgradable: false,
            nest_name: None,
            reserial: e.serial(),
            site,
            fresh: true,
            no_merge: true,
            retake: false,
            unlocked: false,
            timed,
            sendable: e.sendable(),
        },
    );
    let Some(a) = acquired else {
        return Some(None); // `out` puts the entry back as it was
    };
    let mut out = out;
    out.armed = false;
    let (index, mark, movable) = (out.index, out.purge_mark, out.entry.movable());
    drop(out);
    // The validated entry is on top: it goes where the upgradable entry was.
    with_state(|s| {
        if let Some(entry) = s.move_back(a.serial, mark, index) {
            entry.set_movable(movable);
        }
    });
    Some(Some(a))
}
