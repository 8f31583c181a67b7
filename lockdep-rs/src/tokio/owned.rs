//! With validation on, an owned guard is tokio's *borrowing* guard of the lock inside an `Arc`
//! of this crate's lock, kept alive by that `Arc` (tokio's own owned guards need an
//! `Arc<tokio::sync::Mutex<T>>`, which a wrapper cannot hand out). With validation compiled
//! out the owned guards are tokio's own (see `mutex.rs`).

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The real part of an owned guard: tokio's guard `G` of the lock in the `Arc<L>`.
pub struct Owned<L: ?Sized, G> {
    guard: ManuallyDrop<G>,
    lock: ManuallyDrop<Arc<L>>,
}

impl<L: ?Sized + 'static, G> Owned<L, G> {
    /// The lock in `lock`, borrowed for as long as an owned guard keeps the `Arc`.
    #[allow(unsafe_code)]
    pub(super) fn borrow(lock: &Arc<L>) -> &'static L {
        // The `Arc`'s allocation does not move and is kept alive by the owned guard being
        // built (`Owned::new` takes the `Arc`), which drops every borrower — the real guard,
        // the validator's token — before the `Arc` (`Guard::drop` releases the token first,
        // then `Owned::drop` drops the guard, then the `Arc`). Before the guard exists, the
        // caller keeps the `Arc` in a local declared before every borrower, so it is dropped
        // after them.
        // SAFETY: as above.
        unsafe { &*Arc::as_ptr(lock) }
    }

    /// `guard` must borrow the lock in `lock` (from [`borrow`](Self::borrow)).
    pub(super) fn new(lock: Arc<L>, guard: G) -> Self {
        Owned {
            guard: ManuallyDrop::new(guard),
            lock: ManuallyDrop::new(lock),
        }
    }

    /// The `Arc` of the lock this guard keeps (the owned guards' `mutex()` / `rwlock()`).
    pub(super) fn arc(&self) -> &Arc<L> {
        &self.lock
    }

    /// The same lock under another guard made from this one (`map`, `downgrade`).
    pub(super) fn map_guard<H>(self, f: impl FnOnce(G) -> H) -> Owned<L, H> {
        let (lock, guard) = self.into_parts();
        Owned::new(lock, f(guard))
    }

    /// As [`map_guard`](Self::map_guard) when `f` may give the guard back.
    pub(super) fn try_map_guard<H>(
        self,
        f: impl FnOnce(G) -> Result<H, G>,
    ) -> Result<Owned<L, H>, Self> {
        let (lock, guard) = self.into_parts();
        match f(guard) {
            Ok(h) => Ok(Owned::new(lock, h)),
            Err(g) => Err(Owned::new(lock, g)),
        }
    }

    #[allow(unsafe_code)]
    fn into_parts(self) -> (Arc<L>, G) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so each field is moved out exactly once.
        unsafe {
            (
                ManuallyDrop::take(&mut this.lock),
                ManuallyDrop::take(&mut this.guard),
            )
        }
    }
}

impl<L: ?Sized, G> Drop for Owned<L, G> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: dropped once, here: the guard (which unlocks) before the `Arc` it borrows.
        unsafe {
            ManuallyDrop::drop(&mut self.guard);
            ManuallyDrop::drop(&mut self.lock);
        }
    }
}

impl<L: ?Sized, G: Deref> Deref for Owned<L, G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<L: ?Sized, G: DerefMut> DerefMut for Owned<L, G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}
