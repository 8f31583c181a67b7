//! With validation on, a borrowed guard that can give back its lock (`MutexGuard::mutex`) is
//! tokio's guard *and* a reference to this crate's lock around the tokio lock it holds: tokio's
//! guard knows only its own lock, a field of ours, and a reference to a field gives no access
//! to the struct around it. With validation compiled out the guards are tokio's own (see
//! `mutex.rs`).

use std::ops::{Deref, DerefMut};

/// The real part of a borrowed guard: tokio's guard `G` of the tokio lock inside `lock`.
pub struct Borrowed<'a, L: ?Sized, G> {
    guard: G,
    lock: &'a L,
}

impl<'a, L: ?Sized, G> Borrowed<'a, L, G> {
    /// `guard` must hold the tokio lock inside `lock`.
    #[inline]
    pub(super) fn new(lock: &'a L, guard: G) -> Self {
        Borrowed { guard, lock }
    }

    /// The lock this guard holds (the borrowed guards' `mutex()`).
    #[inline]
    pub(super) fn lock(&self) -> &'a L {
        self.lock
    }

    /// tokio's guard alone (`map`: tokio's mapped guards do not give their lock back).
    #[inline]
    pub(super) fn into_guard(self) -> G {
        self.guard
    }

    /// tokio's guard made into another by `f`, which may give the guard back (`try_map`): then
    /// this guard again.
    #[inline]
    pub(super) fn try_map_guard<H>(self, f: impl FnOnce(G) -> Result<H, G>) -> Result<H, Self> {
        let Borrowed { guard, lock } = self;
        f(guard).map_err(|guard| Borrowed { guard, lock })
    }
}

impl<L: ?Sized, G: Deref> Deref for Borrowed<'_, L, G> {
    type Target = G::Target;
    #[inline]
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<L: ?Sized, G: DerefMut> DerefMut for Borrowed<'_, L, G> {
    #[inline]
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}
