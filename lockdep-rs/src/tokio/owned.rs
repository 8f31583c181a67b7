//! With validation on, an owned guard is tokio's *borrowing* guard of the lock inside an `Arc`
//! of this crate's lock, kept alive by that `Arc` (tokio's own owned guards need an
//! `Arc<tokio::sync::Mutex<T>>`, which a wrapper cannot hand out). With validation compiled
//! out the owned guards are tokio's own (see `mutex.rs`).

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The real part of an owned guard: tokio's guard `G` of the lock in the `Arc<L>`; `S` only
/// adjusts the auto traits to tokio's owned guard's, where they differ from those of its parts
/// ([`OwnedMappedSync`]).
pub struct Owned<L: ?Sized, G, S = ()> {
    guard: ManuallyDrop<G>,
    lock: ManuallyDrop<Arc<L>>,
    marker: PhantomData<S>,
}

/// The auto-trait marker of tokio's `OwnedMappedMutexGuard<T, U>`, which is `Sync` only if
/// `T: Send + Sync` and `U: Send + Sync` (its parts here, an `Arc<Mutex<T>>` and a mapped guard
/// of `U`, would be `Sync` for `T: Send` and `U: Sync`): so code that shares one compiles with
/// validation on exactly when it does compiled out, where the guard is tokio's. `Send`,
/// `Unpin` and unwind safety always (a function pointer), `Sync` as below; no data.
pub struct OwnedMappedSync<T: ?Sized, U: ?Sized>(PhantomData<fn(&T, &U)>);

// SAFETY: a zero-sized marker with no data and no behaviour: `Sync` for it shares nothing; it
// only keeps the owned guard that holds it from being `Sync` unless tokio's would be.
#[allow(unsafe_code)]
unsafe impl<T: ?Sized + Sync, U: ?Sized + Send> Sync for OwnedMappedSync<T, U> {}

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
        Owned::with_marker(lock, guard)
    }
}

impl<L: ?Sized + 'static, G, S> Owned<L, G, S> {
    /// [`new`](Owned::new) with any marker `S`.
    fn with_marker(lock: Arc<L>, guard: G) -> Self {
        Owned {
            guard: ManuallyDrop::new(guard),
            lock: ManuallyDrop::new(lock),
            marker: PhantomData,
        }
    }

    /// The `Arc` of the lock this guard keeps (the owned guards' `mutex()` / `rwlock()`).
    pub(super) fn arc(&self) -> &Arc<L> {
        &self.lock
    }

    /// The same lock under another guard made from this one (`map`, `downgrade`).
    pub(super) fn map_guard<H, S2>(self, f: impl FnOnce(G) -> H) -> Owned<L, H, S2> {
        let (lock, guard) = self.into_parts();
        Owned::with_marker(lock, f(guard))
    }

    /// As [`map_guard`](Self::map_guard) when `f` may give the guard back.
    pub(super) fn try_map_guard<H, S2>(
        self,
        f: impl FnOnce(G) -> Result<H, G>,
    ) -> Result<Owned<L, H, S2>, Self> {
        let (lock, guard) = self.into_parts();
        match f(guard) {
            Ok(h) => Ok(Owned::with_marker(lock, h)),
            Err(g) => Err(Owned::with_marker(lock, g)),
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

impl<L: ?Sized, G, S> Drop for Owned<L, G, S> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: dropped once, here: the guard (which unlocks) before the `Arc` it borrows.
        unsafe {
            ManuallyDrop::drop(&mut self.guard);
            ManuallyDrop::drop(&mut self.lock);
        }
    }
}

impl<L: ?Sized, G: Deref, S> Deref for Owned<L, G, S> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<L: ?Sized, G: DerefMut, S> DerefMut for Owned<L, G, S> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}
