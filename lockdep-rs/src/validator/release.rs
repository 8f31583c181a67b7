//! Releases: a guard dropped, a `force_unlock`, a lock freed while held, and a condvar wait
//! taking its mutex out of the held stack and putting it back exactly where it was.
//!
//! Releasing an entry from the middle of the stack puts the entries above it back without
//! validating them again: their edges were recorded when they were taken, and every edge the
//! kernel's re-validation would add on the shorter stack is implied by a path already in the
//! graph (held below -> released -> above). The exceptions are validated again: an entry
//! whose acquisition recorded no edges (it was reported as recursive locking, or exempt under
//! its nest lock), and an entry whose nest lock is the one released (its exemption is gone).

use std::panic::Location;

use super::{with_state, Outcome, Request};
use crate::fast_path::HolderTag;
use crate::held_locks::{HeldLock, Instance, Read};
use crate::report::build;
use crate::thread_state::ThreadState;

/// Records the release of a tracked `instance`: the topmost entry holding it that matches
/// `pred`. A guard whose own entry went with a `force_unlock` (which cannot know which of
/// several entries of one instance it meant) passes `any_entry` to release another entry of
/// the instance held the same way. Returns false, after a `BadUnlockBalance` report, if this
/// thread does not hold it — unless `unrecorded` (the lock was taken while the mode was
/// `Off`, or it is `Off` now): then the release may be that acquisition's, and it is let be.
#[track_caller]
pub(crate) fn release(
    instance: Instance,
    pred: &dyn Fn(&HeldLock) -> bool,
    any_entry: Option<Read>,
    unrecorded: bool,
    unlock_report: impl FnOnce() -> (String, &'static Location<'static>),
    site: Option<&'static Location<'static>>,
) -> bool {
    let result = with_state(|s| match release_here(s, instance, pred, any_entry) {
        Some(outcomes) => Ok(outcomes),
        None if unrecorded => Ok(Vec::new()),
        None => {
            let (name, class_site) = unlock_report();
            Err(build::bad_unlock(&s.held, name, instance, site, class_site))
        }
    });
    finish_release(result)
}

/// [`ThreadState::release`] on the calling holder's stack; with the `tokio` feature, in a
/// task whose stack has no such entry, also on the thread's own stack if a task may have
/// pushed it there (see `holder::release_unmarked`), or on the stack of a local task that
/// ended on this thread leaving its guard to a holder of the thread (`holder::release_ended`).
fn release_here(
    s: &mut ThreadState,
    instance: Instance,
    pred: &dyn Fn(&HeldLock) -> bool,
    any_entry: Option<Read>,
) -> Option<Vec<Outcome>> {
    let found = s.release(instance, pred, any_entry);
    #[cfg(lockdep_tasks)]
    let found = found
        .or_else(|| super::holder::release_unmarked(s, instance, pred))
        .or_else(|| super::holder::release_ended(s, instance, pred, any_entry));
    found
}

/// Is this release of the pseudo-lock or event `instance`, which this thread does not hold,
/// that of an entry `reset()` forgot (held across it)? Then it is taken off the list: the
/// caller records nothing and reports nothing (a guard's release of a forgotten entry is told
/// by its serial; a pseudo-lock's or an event's names none).
pub(crate) fn take_forgotten(instance: Instance) -> bool {
    with_state(|s| s.held.take_forgotten_annotation(instance)).unwrap_or(false)
}

/// A guard's release (its token: the entry's `serial`, how it was held, and which holder's
/// stack it is on), once the fast path could not pop it: from the stack loaded here, or with
/// the `tokio` feature from its holder's stack wherever that is (see `holder.rs`). Returns
/// false, after a `BadUnlockBalance` report, if that stack holds no such entry.
#[track_caller]
pub(crate) fn release_token(
    instance: Instance,
    serial: u64,
    read: Read,
    _holder: HolderTag,
    unrecorded: bool,
    unlock_report: impl FnOnce() -> (String, &'static Location<'static>),
) -> bool {
    #[cfg(lockdep_tasks)]
    {
        use super::holder::{elsewhere, Elsewhere};
        use crate::holder::loaded;
        use crate::holder::Posted;
        let mut unlock_report = Some(unlock_report);
        let away = with_state(|s| {
            if loaded(&s.held) == _holder {
                return None; // on the stack loaded here: the usual release below
            }
            let pred = |h: &HeldLock| h.serial() == serial;
            let posted = Posted::release(instance, serial);
            let done = elsewhere(s, _holder, posted, |s| {
                s.release(instance, &pred, Some(read))
            });
            Some(match done {
                Elsewhere::Done(Some(outcomes)) => Ok(outcomes),
                Elsewhere::Done(None) if !unrecorded => {
                    let (name, class_site) = unlock_report.take().expect("called once")();
                    Err(build::bad_unlock(&s.held, name, instance, None, class_site))
                }
                Elsewhere::Done(None) | Elsewhere::Posted | Elsewhere::Gone => Ok(Vec::new()),
            })
        });
        match away {
            Some(Some(result)) => return finish_release(Some(result)),
            Some(None) => {} // on the stack loaded here
            None => {
                // No thread state (gone, in a late thread-local destructor; or busy): the
                // entry is on its holder's stack all the same, which takes the release
                // without any state of this thread. (Not from inside lockdep's own locks.)
                if !crate::sync::internal::inside() {
                    super::holder::release_stateless(_holder, instance, serial);
                }
                return true;
            }
        }
        if let Some(unlock_report) = unlock_report {
            return release(
                instance,
                &|h| h.serial() == serial,
                Some(read),
                unrecorded,
                unlock_report,
                None,
            );
        }
        true
    }
    #[cfg(not(lockdep_tasks))]
    release(
        instance,
        &|h| h.serial() == serial,
        Some(read),
        unrecorded,
        unlock_report,
        None,
    )
}

/// Acts on a release's outcome (re-validations) or reports its bad unlock.
#[track_caller]
fn finish_release(result: Option<Result<Vec<Outcome>, (crate::report::Report, u64)>>) -> bool {
    match result {
        None => true, // thread state gone: nothing to check
        Some(Ok(outcomes)) => {
            defer(outcomes);
            true
        }
        Some(Err((report, key))) => {
            super::deliver_or_panic(report, key);
            false
        }
    }
}

/// The outcomes of entries put back by a release: recorded already (they were held); their
/// reports wait for this thread's next validation (see `ThreadState::deferred`).
fn defer(outcomes: Vec<Outcome>) {
    let reports: Vec<(crate::report::Report, u64)> =
        outcomes.into_iter().flat_map(|o| o.reports).collect();
    if !reports.is_empty() {
        with_state(|s| s.deferred.extend(reports));
    }
}

/// Is `instance` held by this thread?
pub(crate) fn is_held(instance: Instance) -> bool {
    with_state(|s| {
        let here = s.held.find(instance, |_| true).is_some();
        // (With the `tokio` feature, in a task: also through an entry a task may have pushed
        // on the thread's own stack, see `holder::release_unmarked`.)
        #[cfg(lockdep_tasks)]
        let here = here || super::holder::held_unmarked(s, instance);
        here
    })
    .unwrap_or(false)
}

/// How a lock being dropped may still be held by someone (see `DepMap`'s drop).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldSomewhere {
    /// Its real lock is still locked: a guard of it was forgotten or leaked.
    Locked,
    /// A pseudo-lock's or an event's count of holders is not 0.
    Counted,
}

/// The lock `instance` (of class `class`) is being dropped: report and forget it if this
/// thread holds it. An event this thread armed and never signalled is forgotten unreported:
/// its armed span ends with it (nobody can wait on a dropped event, so nothing can deadlock
/// on it; a thread's exit leaves armed events unreported too).
///
/// `held`: someone may hold it (see [`HeldSomewhere`]). Then every other holder's record of it
/// must go too: it is noted in the freed registry (`freed.rs`), which each stack checks at its
/// next slow-path visit. If this thread does not hold it, another thread or task does (or did,
/// and leaked it): reported here, as held by another thread or task, under the same policy as
/// a lock freed by its holder (Panic mode panics here, where it can); that holder forgets its
/// entry silently. Not for an event (as on its own thread).
pub(crate) fn lock_freed(
    class: &'static crate::class::ClassInfo,
    instance: Instance,
    held: Option<HeldSomewhere>,
) {
    let found = with_state(|s| {
        let idx = s.held.find(instance, |_| true)?;
        let entry = &s.held.stack[idx];
        let report = (!entry.class.event).then(|| build::freed(&s.held, entry));
        let whole = !entry.is_merged();
        let outcomes = s.take_out(idx, instance);
        if whole {
            // (A report hook may free it while a wait's or an upgrade's entry is out of the
            // stack: that entry goes back one lower if it was above it.)
            s.forgot_at(idx);
        }
        Some((report, outcomes))
    })
    .flatten();
    let here = found.is_some();
    if let Some((report, outcomes)) = found {
        defer(outcomes);
        if let Some((report, key)) = report {
            super::deliver_or_panic(report, key);
        }
    }
    if held.is_none() {
        return;
    }
    super::freed::note(instance);
    if here || class.event || crate::mode::mode() == crate::mode::Mode::Off {
        return;
    }
    if super::freed::take_left_at_exit(instance) {
        return; // its holder exited holding it: reported there
    }
    let report = with_state(|s| build::freed_elsewhere(&s.held, class, instance));
    if let Some((report, key)) = report {
        super::deliver_or_panic(report, key);
    }
}

/// Was the entry with this serial, on the stack of `holder`, forgotten by `reset()` (its guard
/// outlived it)? (Another holder's stack is checked when the release gets there.)
pub(crate) fn forgotten(serial: u64, _holder: HolderTag) -> bool {
    with_state(|s| {
        #[cfg(lockdep_tasks)]
        if crate::holder::loaded(&s.held) != _holder {
            return false;
        }
        serial <= s.held.forgotten_up_to
    })
    .unwrap_or(false)
}

/// A condvar's mutex while the thread waits: its entry, where it was, whether it was merged
/// into another entry under a nest lock, and whether the lock stays really locked until the
/// wait's validation is over (see [`wait_begin`]).
pub(crate) struct WaitingEntry {
    entry: HeldLock,
    index: usize,
    merged: bool,
    locked: bool,
    /// Validation was on when the wait began (not `Off`).
    validating: bool,
    /// How many dead entries the stack had forgotten when the entry was taken out: `index`
    /// moves down for those forgotten below it since (see `ThreadState::position_now`).
    purge_mark: usize,
}

impl WaitingEntry {
    /// How the mutex was held.
    pub(crate) fn read(&self) -> Read {
        self.entry.read()
    }

    /// Was validation on when the wait began? Then the lock is taken back as it was held
    /// ([`wait_end`]), even if the mode changed to `Off` meanwhile (a report hook, another
    /// thread): the lock stays held across the wait, and `Off` keeps the held state. A wait
    /// begun in `Off` leaves the guard untracked, as any acquisition in `Off` is.
    pub(crate) fn validating(&self) -> bool {
        self.validating
    }
}

/// A condvar wait is about to release the mutex `instance` (its guard's entry `serial`):
/// takes its entry out of the held stack.
///
/// `locked`: the lock stays really locked until [`wait_end`] (a condvar wait, validated before
/// the thread sleeps; a `bump`), so a report hook run meanwhile is shown it held (see
/// `validator::deliver`). False for `unlocked*`, which let the lock really go while user code
/// runs and take it back only after `wait_end`: the hook then sees it free, as it is, and the
/// re-acquisition is recorded only once its reports are delivered.
pub(crate) fn wait_begin(instance: Instance, serial: u64, locked: bool) -> Option<WaitingEntry> {
    let (waiting, outcomes) = with_state(|s| {
        let idx = s.held.find(instance, |h| h.serial() == serial)?;
        let mut entry = s.held.stack[idx].clone();
        entry.instance = instance;
        entry.set_merged(None);
        let merged = s.held.stack[idx].merged_count() > 0;
        let outcomes = s.take_out(idx, instance);
        Some((
            WaitingEntry {
                entry,
                index: idx,
                merged,
                locked,
                validating: crate::mode::mode() != crate::mode::Mode::Off,
                purge_mark: s.purged.len(),
            },
            outcomes,
        ))
    })
    .flatten()?;
    if locked {
        with_state(|s| {
            let index = s.position_now(waiting.purge_mark, waiting.index);
            s.suspended = Some((waiting.entry.clone(), index));
        });
    }
    defer(outcomes);
    Some(waiting)
}

impl Drop for WaitingEntry {
    /// The wait's validation is over (re-acquired, or a panic unwinds out of it): the mutex
    /// is no longer held out of the stack.
    fn drop(&mut self) {
        if self.locked {
            with_state(|s| s.suspended = None);
        }
    }
}

/// The wait is over (validated before the thread sleeps: the locks it holds cannot change
/// meanwhile): re-acquires the mutex exactly as it was held — class and subclass, read kind,
/// nest lock — validated as an acquisition on top of the locks now held, then put back at its
/// old position. Returns the entry's serial (unchanged), if tracked. The mutex is really still
/// locked while this runs, so the entry is recorded before any report is delivered (a hook
/// that takes the mutex is then caught as a certain self-deadlock), and a report here never
/// panics (it is printed instead, in `Panic` mode). After `unlocked*` the lock is free while
/// this runs: the entry is then recorded once the reports are delivered (see [`wait_begin`]).
///
/// A `reset()` while the entry was out of the stack (in an `unlocked` closure) forgot every
/// serial issued until then, this entry's too, so that guards outliving it release nothing:
/// the entry gets a new serial, since its lock is taken back after the reset and its guard
/// must release it.
#[track_caller]
pub(crate) fn wait_end(w: WaitingEntry, site: &'static Location<'static>) -> Option<u64> {
    if w.locked {
        with_state(|s| s.suspended = None);
    }
    let e = &w.entry;
    let forgotten = with_state(|s| e.serial() <= s.held.forgotten_up_to).unwrap_or(false);
    let reserial = if forgotten { 0 } else { e.serial() };
    if w.merged {
        let merged = with_state(|s| {
            let top = s
                .held
                .stack
                .iter_mut()
                .rfind(|h| h.serial() == e.serial())?;
            top.merge(e.instance);
            Some(top.serial())
        })
        .flatten();
        if merged.is_some() {
            return merged;
        }
    }
    let req = Request {
        read: e.read(),
        trylock: false,
        nest: e.nest().map(|n| n.get()),
        // (Held as its entry says: the guard is not at hand.)
        nest_upgradable: false,
        nest_name: None,
        reserial,
        site,
        fresh: false,
        no_merge: true,
        retake: true,
        unlocked: !w.locked,
        sendable: e.sendable(),
        timed: false,
    };
    let serial = super::acquire(e.class, e.instance, req)?.serial;
    with_state(|s| {
        if let Some(entry) = s.move_back(serial, w.purge_mark, w.index) {
            entry.site = e.site;
        }
    });
    Some(serial)
}

impl ThreadState {
    /// An entry taken out of the stack (a condvar wait's mutex, an upgrade's lock) was
    /// validated again and recorded on top with `serial`: moves it back to `index`, where it
    /// was (less the dead entries forgotten below it since `mark`: see `position_now`), and
    /// returns it. `None` if the top entry is not that one.
    pub(crate) fn move_back(
        &mut self,
        serial: u64,
        mark: usize,
        index: usize,
    ) -> Option<&mut HeldLock> {
        if self.held.stack.last().is_none_or(|h| h.serial() != serial) {
            return None;
        }
        let index = self
            .position_now(mark, index)
            .min(self.held.stack.len() - 1);
        let entry = self.held.stack.pop().expect("non-empty");
        self.held.insert(index, entry);
        Some(&mut self.held.stack[index])
    }

    /// Removes the entry of `instance` (matching `pred`); puts back the entries above it.
    pub(crate) fn release(
        &mut self,
        instance: Instance,
        pred: &dyn Fn(&HeldLock) -> bool,
        any_entry: Option<Read>,
    ) -> Option<Vec<Outcome>> {
        let idx = self.held.find(instance, pred).or_else(|| {
            let read = any_entry?;
            self.held
                .find(instance, |h| h.read().is_shared() == read.is_shared())
                .or_else(|| self.held.find(instance, |_| true))
        })?;
        // Of a run of identical adjacent entries (same instance, class and mode), release the
        // topmost, like the kernel: the resulting stack is the same and fewer are put back.
        // (Identical includes the movable mark: the entry that stays goes on as the released
        // one's, so an owned guard's entry must not become a borrowed one's, nor the reverse.)
        let same = |a: &HeldLock, b: &HeldLock| {
            a.instance == b.instance
                && std::ptr::eq(a.class, b.class)
                && a.read() == b.read()
                && a.trylock() == b.trylock()
                && a.movable() == b.movable()
                && !a.is_merged()
                && !b.is_merged()
        };
        let own = idx;
        let mut idx = idx;
        while idx + 1 < self.held.stack.len()
            && same(&self.held.stack[idx], &self.held.stack[idx + 1])
        {
            idx += 1;
        }
        if idx != own {
            // The entry that stays takes over the removed one's serial, so the guard that
            // owned the removed entry still finds "its" entry later.
            let serial = self.held.stack[idx].serial();
            self.held.stack[own].set_serial(serial);
        }
        Some(self.take_out(idx, instance))
    }

    /// Takes `instance` out of entry `idx`: out of its merged instances if it has others,
    /// else the entry goes and the entries above it are put back.
    pub(super) fn take_out(&mut self, idx: usize, instance: Instance) -> Vec<Outcome> {
        if self.held.stack[idx].unmerge(instance) {
            return Vec::new();
        }
        let (removed, above) = self.held.remove(idx);
        let mut outcomes = Vec::new();
        for e in above {
            let nest_gone = e.nest().is_some_and(|n| removed.holds(n.get()));
            let validating = crate::mode::mode() != crate::mode::Mode::Off;
            if validating && (nest_gone || (e.edgeless() && !e.trylock())) {
                // Its acquisition recorded no edges (recursive locking, or exempt under a
                // nest lock), or its nest lock is gone with the exemption: validate it again
                // on the stack as it is now.
                let merged = e.merged_clone();
                let req = Request {
                    read: e.read(),
                    trylock: e.trylock(),
                    nest: if nest_gone {
                        None
                    } else {
                        e.nest().map(|n| n.get())
                    },
                    nest_upgradable: false,
                    nest_name: None,
                    reserial: e.serial(),
                    site: e.site,
                    fresh: false,
                    no_merge: true,
                    retake: false,
                    unlocked: false,
                    sendable: e.sendable(),
                    timed: false,
                };
                outcomes.push(self.acquire(e.class, e.instance, &req));
                if let Some(top) = self.held.stack.last_mut() {
                    if top.serial() == e.serial() {
                        top.set_merged(merged);
                        top.set_movable(e.movable());
                    }
                }
            } else {
                let mut e = e;
                if nest_gone {
                    e.nesting_mut().nest = None;
                }
                self.held.push(e);
            }
        }
        outcomes
    }
}
