//! The lock's handle and the guard's token with validation compiled out: zero-sized, every
//! operation empty and inlined.

use std::panic::Location;

use super::Read;
#[cfg(all(feature = "tokio", not(loom)))]
use super::Sendable;
use super::{Level, Local};
use crate::class::LockClass;
use crate::class::Maker;

/// Zero-sized: validation is compiled out.
pub(crate) struct DepMap;

#[allow(clippy::unused_self)]
impl DepMap {
    #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
    pub(crate) const fn site<T: ?Sized>(_: &'static Location<'static>, _: &'static str) -> DepMap {
        DepMap
    }
    pub(crate) const fn named(
        _: &'static Location<'static>,
        _: &'static str,
        _: &'static str,
    ) -> DepMap {
        DepMap
    }
    #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
    pub(crate) const fn made<T: ?Sized>(
        _: &'static Location<'static>,
        _: &'static str,
        _: Maker,
    ) -> DepMap {
        DepMap
    }
    pub(crate) const fn class(_: &'static LockClass) -> DepMap {
        DepMap
    }
    pub(crate) const fn pseudo(_: &'static Location<'static>, _: &'static str) -> DepMap {
        DepMap
    }
    pub(crate) const fn event(_: &'static Location<'static>, _: &'static str, _: u32) -> DepMap {
        DepMap
    }
    pub(crate) const fn condvar(_: &'static Location<'static>) -> DepMap {
        DepMap
    }
    pub(crate) const fn cell(_: &'static Location<'static>, _: &'static str) -> DepMap {
        DepMap
    }
    pub(crate) const fn per_instance(_: &'static str) -> DepMap {
        DepMap
    }
    #[allow(clippy::extra_unused_type_parameters)] // the enabled build's signature
    pub(crate) const fn or_site<T: ?Sized>(
        self,
        _: &'static Location<'static>,
        _: &'static str,
    ) -> DepMap {
        self
    }
    #[inline(always)]
    pub(crate) fn adopt(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn acquire(
        &self,
        _: Read,
        _: u8,
        _: Option<super::Nest<'_>>,
        _: &'static Location<'static>,
    ) -> Tracked<'_> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn acquired_try(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
        Tracked(std::marker::PhantomData)
    }
    #[cfg(all(feature = "tokio", not(loom)))]
    #[inline(always)]
    pub(crate) fn acquire_async(
        &self,
        _: Read,
        _: u8,
        _: &'static Location<'static>,
    ) -> Tracked<'_, Sendable> {
        Tracked(std::marker::PhantomData)
    }
    #[cfg(all(feature = "tokio", not(loom)))]
    #[inline(always)]
    pub(crate) fn acquired_try_async(
        &self,
        _: Read,
        _: &'static Location<'static>,
    ) -> Tracked<'_, Sendable> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn acquire_timed(&self, _: Read, _: &'static Location<'static>) -> Tracked<'_> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn force_release(&self, _: Option<bool>, _: &'static Location<'static>) -> bool {
        true
    }
    #[inline(always)]
    pub(crate) fn is_held(&self) -> bool {
        false
    }
    #[inline(always)]
    pub(crate) fn guard_held(&self) -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn held_state(&self) -> Option<bool> {
        None
    }
    #[inline(always)]
    pub(crate) fn register(&self) {}
    #[inline(always)]
    pub(crate) fn wait_event(&self, _: &'static Location<'static>) {}
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn wait_event_watched(&self, _: &'static Location<'static>) -> bool {
        false
    }
    #[inline(always)]
    pub(crate) fn arm_event(&self, _: &'static Location<'static>) {}
    #[inline(always)]
    pub(crate) fn signal_event(&self, _: &'static Location<'static>) {}
    #[inline(always)]
    pub(crate) fn acquire_pseudo(&self, _: Read, _: &'static Location<'static>) {}
    #[inline(always)]
    pub(crate) fn release_pseudo(&self, _: &'static Location<'static>) {}
}

/// Zero-sized: nothing to report on release (and `Send` whatever `M` says: the real
/// guard alone decides).
pub(crate) struct Tracked<'a, M = Local>(Marker<'a, M>);

/// A lifetime and a kind, and nothing else.
type Marker<'a, M> = std::marker::PhantomData<(&'a (), fn() -> M)>;

/// A token's holder, as a scalar (nothing, compiled out).
pub(crate) type TokenHolder = ();
/// The token as scalars (nothing in them, compiled out).
pub(crate) type TokenScalars<'a> = (Option<&'a DepMap>, u64, TokenHolder);

impl<'a, M> Tracked<'a, M> {
    #[inline(always)]
    pub(crate) fn to_scalars(&self) -> TokenScalars<'a> {
        (None, 0, ())
    }
    #[inline(always)]
    pub(crate) fn from_scalars(_: TokenScalars<'a>) -> Tracked<'a, M> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn release(&mut self) {}
    #[inline(always)]
    pub(crate) fn release_fast(&self) -> bool {
        true
    }
    #[inline(always)]
    pub(crate) fn release_slow_path(&self) {}
    #[inline(always)]
    pub(crate) fn map(&self) -> Option<&'a DepMap> {
        None
    }
    #[inline(always)]
    pub(crate) fn untracked() -> Tracked<'a, M> {
        Tracked(std::marker::PhantomData)
    }
    #[inline(always)]
    pub(crate) fn change_read(&mut self, _: Read) {}
    #[inline(always)]
    pub(crate) fn change_entry(&mut self, _: Read, _: bool) {}
    #[inline(always)]
    pub(crate) fn mark_upgradable(&mut self) {}
    #[inline(always)]
    pub(crate) fn upgradable(&self) -> bool {
        false
    }
    #[inline(always)]
    pub(crate) fn upgrade_in_place(&mut self, _: &'static Location<'static>, _: bool) -> bool {
        true
    }
    #[inline(always)]
    pub(crate) fn rekind_fast(&mut self, _: Read, _: &'static Location<'static>) -> bool {
        true
    }
}

/// Nothing is ever taken out of a held state that is not kept.
pub(crate) type Suspended = std::convert::Infallible;

impl<'a> Tracked<'a> {
    #[inline(always)]
    pub(crate) fn suspend(&mut self, _stays_locked: bool) -> Option<(&'a DepMap, Suspended)> {
        None
    }
    #[inline(always)]
    pub(crate) fn resume(
        _: &'a DepMap,
        waiting: Suspended,
        _: &'static Location<'static>,
    ) -> Tracked<'a> {
        match waiting {}
    }
    #[inline(always)]
    pub(crate) fn borrowed(_: &'a DepMap) -> Tracked<'a, Level> {
        Tracked(std::marker::PhantomData)
    }
}
