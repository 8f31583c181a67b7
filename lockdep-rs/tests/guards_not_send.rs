//! Issue 12, item 5: lockdep's guards were `!Send` only because parking_lot's are, so any crate
//! enabling parking_lot's `send_guard` feature made them `Send`; a guard dropped on another
//! thread then popped *that* thread's entry. They carry their own `!Send` marker now. This
//! test binary is built with `send_guard` on (see the dev-dependencies): it does not compile if
//! a validated guard is `Send`.
#![cfg(lockdep_enabled)]

/// Compiles only if `T` is *not* `Send`: for a `Send` type both impls apply and the call is
/// ambiguous.
trait AmbiguousIfSend<A> {
    fn not_send() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn validated_guards_are_not_send_even_with_parking_lots_send_guard() {
    // parking_lot's own guards are `Send` in this build: the feature is on.
    assert_send::<parking_lot::MutexGuard<'static, u8>>();
    assert_send::<parking_lot::RwLockReadGuard<'static, u8>>();
    // Lockdep's are not.
    <lockdep::MutexGuard<'static, u8> as AmbiguousIfSend<_>>::not_send();
    <lockdep::RwLockReadGuard<'static, u8> as AmbiguousIfSend<_>>::not_send();
    <lockdep::RwLockWriteGuard<'static, u8> as AmbiguousIfSend<_>>::not_send();
    <lockdep::ReentrantMutexGuard<'static, u8> as AmbiguousIfSend<_>>::not_send();
    <lockdep::MappedReentrantMutexGuard<'static, u8> as AmbiguousIfSend<_>>::not_send();
    // Nor its arc guards (`Send` compiled out, as parking_lot's: `compiled_out_dropin.rs`).
    <lockdep::ArcMutexGuard<lockdep::RawMutex, u8> as AmbiguousIfSend<_>>::not_send();
    <lockdep::ArcRwLockWriteGuard<lockdep::RawRwLock, u8> as AmbiguousIfSend<_>>::not_send();
    // Sharing a guard by reference across threads stays possible, as with parking_lot.
    assert_sync::<lockdep::MutexGuard<'static, u8>>();
    assert_sync::<lockdep::RwLockReadGuard<'static, u8>>();
    assert_sync::<lockdep::ReentrantMutexGuard<'static, u8>>();
}
