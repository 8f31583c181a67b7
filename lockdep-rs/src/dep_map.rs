//! The per-lock validator handle (kernel `struct lockdep_map`) and the token a guard keeps.
//!
//! Every lock wrapper embeds a [`DepMap`]: where its class comes from, plus the class resolved
//! on first use (then a single atomic load). Its address is the lock's *instance* identity.
//! With the `enabled` feature off, `DepMap` and [`Tracked`] are zero-sized and every call is an
//! empty inline function, so the wrappers compile to their parking_lot twins.

pub(crate) use crate::read::Read;

/// Makes a guard `!Send` (and leaves it `Sync`), whatever features parking_lot was built
/// with (its `send_guard` included): a validated guard's acquisition is an entry of its
/// holder's held-lock stack and must be released there. Named for the compiler's error when
/// a guard is moved to another thread ("required because it appears within the type
/// `ValidatedGuardStaysOnItsThread`").
/// (Over std's mutex guard, which is exactly `!Send` and `Sync`: no `unsafe` needed.)
#[cfg(lockdep_enabled)]
pub(crate) struct ValidatedGuardStaysOnItsThread(
    std::marker::PhantomData<std::sync::MutexGuard<'static, ()>>,
);

#[cfg(lockdep_enabled)]
pub(crate) type NotSend = ValidatedGuardStaysOnItsThread;

/// The kind of a blocking lock's guard ([`Guard`](crate::guard::Guard)'s default): `!Send` while validation is on,
/// since the acquisition is recorded on its holder — the thread, or the tokio task, that took
/// it — and must be released there.
pub struct Local {
    #[cfg(lockdep_enabled)]
    _not_send: std::marker::PhantomData<NotSend>,
}

/// The kind of an async lock's guard (`lockdep::tokio`): `Send`, like tokio's; its release finds
/// the record on its holder (the task that took it) from any thread or task, even after that
/// task ended.
pub struct Sendable(());

/// The kind of a [`ReentrantMutex`](crate::ReentrantMutex)'s guard: `!Send` like [`Local`],
/// but its token owns no entry. The lock keeps the record of its first level and releases it
/// with its last, whichever guard that is; so the guard's drop has nothing to release (known
/// from the type, not looked up at run time).
pub struct Level {
    #[cfg(lockdep_enabled)]
    _not_send: std::marker::PhantomData<NotSend>,
}

/// What a guard's kind says about its token (sealed): [`Local`], [`Sendable`], [`Level`].
pub trait GuardKind: crate::sealed::Sealed {
    /// Does the token own a held entry that the guard's drop releases? (Only [`Level`]'s
    /// does not.)
    #[doc(hidden)]
    const OWNS_ENTRY: bool = true;
}

impl crate::sealed::Sealed for Local {}
impl crate::sealed::Sealed for Sendable {}
impl crate::sealed::Sealed for Level {}
impl GuardKind for Local {}
impl GuardKind for Sendable {}
impl GuardKind for Level {
    const OWNS_ENTRY: bool = false;
}

#[cfg(not(lockdep_enabled))]
mod compiled_out;
#[cfg(lockdep_enabled)]
mod enabled;
#[cfg(not(lockdep_enabled))]
pub(crate) use compiled_out::*;
#[cfg(lockdep_enabled)]
pub(crate) use enabled::*;

impl<M> Tracked<'_, M> {
    /// The guard holds its lock as the upgradable reader again (after an upgrade, or a
    /// downgrade from a writer): its entry becomes a reader's in place, and the token is
    /// marked (see `mark_upgradable`).
    #[cfg_attr(loom, allow(dead_code))] // used by the drop-in API, which loom builds leave out
    pub(crate) fn change_to_upgradable(&mut self) {
        self.change_entry(Read::Shared, true);
        self.mark_upgradable();
    }
}

/// A nest lock as `lock_nest_lock` passes it: its handle, and whether the guard passed holds
/// it as the lock's upgradable reader. Recorded as a reader, such a lock still keeps writers
/// and the other upgradable readers out, so it serialises what is taken under it against
/// them (see `instance_order::Hold`).
#[derive(Clone, Copy)]
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) struct Nest<'a> {
    pub(crate) map: &'a DepMap,
    pub(crate) upgradable: bool,
}
