//! With validation compiled out, every drop-in type is its parking_lot / std twin: same size.
//! Run by `cargo test -p lockdep --features disabled --test compiled_out_dropin` (the README's
//! test command does); with validation on this file is empty.
#![cfg(all(not(lockdep_enabled), not(loom)))]

use std::mem::size_of;

macro_rules! same_size {
    ($($ours:ty => $twin:ty),* $(,)?) => {
        $(assert_eq!(size_of::<$ours>(), size_of::<$twin>(), "{} vs {}", stringify!($ours), stringify!($twin));)*
    };
}

#[test]
fn parking_lot_twins_have_equal_size() {
    use std::sync::Arc;
    same_size! {
        lockdep::FairMutex<u64> => parking_lot::FairMutex<u64>,
        lockdep::FairMutexGuard<'static, u64> => parking_lot::FairMutexGuard<'static, u64>,
        lockdep::MappedMutexGuard<'static, u64> => parking_lot::MappedMutexGuard<'static, u64>,
        lockdep::MappedFairMutexGuard<'static, u64> => parking_lot::MappedFairMutexGuard<'static, u64>,
        lockdep::RwLockWriteGuard<'static, u64> => parking_lot::RwLockWriteGuard<'static, u64>,
        lockdep::RwLockUpgradableReadGuard<'static, u64> => parking_lot::RwLockUpgradableReadGuard<'static, u64>,
        lockdep::MappedRwLockReadGuard<'static, u64> => parking_lot::MappedRwLockReadGuard<'static, u64>,
        lockdep::MappedRwLockWriteGuard<'static, u64> => parking_lot::MappedRwLockWriteGuard<'static, u64>,
        lockdep::ReentrantMutex<u64> => parking_lot::ReentrantMutex<u64>,
        lockdep::ReentrantMutexGuard<'static, u64> => parking_lot::ReentrantMutexGuard<'static, u64>,
        lockdep::MappedReentrantMutexGuard<'static, u64> => parking_lot::MappedReentrantMutexGuard<'static, u64>,
        lockdep::Once => parking_lot::Once,
        lockdep::RawMutex => parking_lot::RawMutex,
        lockdep::RawFairMutex => parking_lot::RawFairMutex,
        lockdep::RawRwLock => parking_lot::RawRwLock,
        lockdep::lock_api::Mutex<lockdep::RawMutex, u64> => parking_lot::Mutex<u64>,
        lockdep::ArcMutexGuard<lockdep::RawMutex, u64> => Arc<parking_lot::Mutex<u64>>,
        lockdep::ArcRwLockReadGuard<lockdep::RawRwLock, u64> => Arc<parking_lot::RwLock<u64>>,
        lockdep::ArcRwLockUpgradableReadGuard<lockdep::RawRwLock, u64> => Arc<parking_lot::RwLock<u64>>,
        lockdep::ArcReentrantMutexGuard<lockdep::RawMutex, lockdep::RawThreadId, u64> => Arc<parking_lot::ReentrantMutex<u64>>,
        lockdep::ArcRwLockWriteGuard<lockdep::RawRwLock, u64> => Arc<parking_lot::RwLock<u64>>,
        lockdep::raw::Unchecked<parking_lot::RawMutex> => parking_lot::RawMutex,
        lockdep::raw::Unchecked<parking_lot::RawRwLock> => parking_lot::RawRwLock,
        lockdep::raw::UncheckedReentrant => parking_lot::RawMutex,
        lockdep::raw::Upgrader => (),
        lockdep::lock_api::RwLock<lockdep::RawRwLock, u64> => parking_lot::RwLock<u64>,
        lockdep::lock_api::ReentrantMutex<lockdep::RawMutex, lockdep::RawThreadId, u64> => parking_lot::ReentrantMutex<u64>,
    }
}

#[test]
fn std_twins_have_equal_size() {
    use lockdep::stdsync;
    same_size! {
        stdsync::Mutex<u64> => std::sync::Mutex<u64>,
        stdsync::MutexGuard<'static, u64> => std::sync::MutexGuard<'static, u64>,
        stdsync::RwLock<u64> => std::sync::RwLock<u64>,
        stdsync::RwLockReadGuard<'static, u64> => std::sync::RwLockReadGuard<'static, u64>,
        stdsync::RwLockWriteGuard<'static, u64> => std::sync::RwLockWriteGuard<'static, u64>,
        stdsync::Condvar => std::sync::Condvar,
        stdsync::Once => std::sync::Once,
        stdsync::OnceLock<u64> => std::sync::OnceLock<u64>,
        stdsync::LazyLock<u64> => std::sync::LazyLock<u64>,
        stdsync::LazyLock<[u8; 24], fn() -> [u8; 24]> => std::sync::LazyLock<[u8; 24]>,
    }
}

#[test]
fn new_api_works_compiled_out() {
    let rw = lockdep::RwLock::new(1);
    let u = rw.upgradable_read();
    let mut w = lockdep::RwLockUpgradableReadGuard::upgrade(u);
    *w += 1;
    drop(w);
    assert_eq!(
        *rw.try_read_for(std::time::Duration::from_millis(1))
            .unwrap(),
        2
    );
    let re = lockdep::ReentrantMutex::new(());
    let _a = re.lock();
    let _b = re.lock();
    let m = lockdep::stdsync::Mutex::new(3);
    assert_eq!(*m.lock().unwrap(), 3);
    let lazy: lockdep::stdsync::LazyLock<u32> = lockdep::stdsync::LazyLock::new(|| 9);
    assert_eq!(*lazy, 9);
}

/// Compiles only if `T` is *not* `Send`: for a `Send` type both impls apply and the call is
/// ambiguous.
trait AmbiguousIfSend<A> {
    fn not_send() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

fn assert_send<T: Send>() {}

/// Compiled out, the guards are `Send` exactly when parking_lot's are: this test binary is
/// built with parking_lot's `send_guard` on (see the dev-dependencies), which makes its guards
/// and its arc guards `Send`, but never a reentrant mutex's.
#[test]
fn guards_are_send_exactly_as_parking_lots() {
    assert_send::<parking_lot::MutexGuard<'static, u64>>(); // `send_guard` is on
    assert_send::<lockdep::MutexGuard<'static, u64>>();
    assert_send::<lockdep::ArcMutexGuard<lockdep::RawMutex, u64>>();
    assert_send::<lockdep::ArcRwLockReadGuard<lockdep::RawRwLock, u64>>();
    assert_send::<lockdep::ArcRwLockWriteGuard<lockdep::RawRwLock, u64>>();
    assert_send::<lockdep::ArcRwLockUpgradableReadGuard<lockdep::RawRwLock, u64>>();
    <lockdep::ArcReentrantMutexGuard<lockdep::RawMutex, lockdep::RawThreadId, u64> as AmbiguousIfSend<_>>::not_send();
}
