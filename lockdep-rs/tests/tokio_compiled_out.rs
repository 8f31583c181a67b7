//! With validation compiled out (feature `disabled`, or a release build) every type of
//! `lockdep::tokio` is tokio's own lock or guard beside a zero-sized handle: the same size, no
//! validation, no reports. Run by
//! `cargo test -p lockdep --features tokio,disabled --test tokio_compiled_out` (the README's
//! test command does); with validation on this file is empty.
#![cfg(all(feature = "tokio", not(lockdep_enabled)))]

use std::mem::size_of;
use std::sync::Arc;

use lockdep::tokio as ld;
use tokio::sync as tk;

#[test]
fn same_size_as_tokio() {
    assert_eq!(size_of::<ld::Mutex<u64>>(), size_of::<tk::Mutex<u64>>());
    assert_eq!(
        size_of::<ld::Mutex<[u8; 3]>>(),
        size_of::<tk::Mutex<[u8; 3]>>()
    );
    assert_eq!(size_of::<ld::RwLock<u64>>(), size_of::<tk::RwLock<u64>>());
    assert_eq!(
        size_of::<ld::MutexGuard<'static, u64>>(),
        size_of::<tk::MutexGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<ld::MappedMutexGuard<'static, u64>>(),
        size_of::<tk::MappedMutexGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<ld::OwnedMutexGuard<u64>>(),
        size_of::<tk::OwnedMutexGuard<u64>>()
    );
    assert_eq!(
        size_of::<ld::OwnedMappedMutexGuard<u64, u8>>(),
        size_of::<tk::OwnedMappedMutexGuard<u64, u8>>()
    );
    assert_eq!(
        size_of::<ld::RwLockReadGuard<'static, u64>>(),
        size_of::<tk::RwLockReadGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<ld::RwLockWriteGuard<'static, u64>>(),
        size_of::<tk::RwLockWriteGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<ld::RwLockMappedWriteGuard<'static, u64>>(),
        size_of::<tk::RwLockMappedWriteGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<ld::OwnedRwLockReadGuard<u64>>(),
        size_of::<tk::OwnedRwLockReadGuard<u64>>()
    );
    assert_eq!(
        size_of::<ld::OwnedRwLockWriteGuard<u64>>(),
        size_of::<tk::OwnedRwLockWriteGuard<u64>>()
    );
    assert_eq!(
        size_of::<ld::OwnedRwLockMappedWriteGuard<u64, u8>>(),
        size_of::<tk::OwnedRwLockMappedWriteGuard<u64, u8>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_work_and_nothing_is_validated() {
    let a = Arc::new(ld::Mutex::named("A", (1u64, 2u8)));
    let b = Arc::new(ld::RwLock::named("B", 10u64));
    let (sum, reports) = ld::capture_async(async {
        let x = {
            let ga = a.lock().await;
            let gb = b.read().await;
            ga.0 + *gb
        };
        let gb = b.write().await;
        let ga = a.lock().await; // an inversion: not validated when compiled out
        let y = *gb + ga.0;
        drop((ga, gb));
        let owned = a.clone().lock_owned().await;
        let part = ld::OwnedMutexGuard::map(owned, |p| &mut p.1);
        let z = u64::from(*part);
        drop(part);
        let w = b.clone().write_owned().await.downgrade();
        x + y + z + *w
    })
    .await;
    assert_eq!(sum, 11 + 11 + 2 + 10);
    assert!(reports.is_empty());
    assert!(!a.is_held());
    assert!(a.try_lock().is_ok() && b.try_write().is_ok());
    assert_eq!(Arc::try_unwrap(a).unwrap().into_inner(), (1, 2));
}

/// Data aligned beyond a pointer (the compiled-out mutex is tokio's, at offset 0 all the same).
#[repr(align(64))]
struct Aligned64(u8);

/// Compiled out, the guards' `mutex()` / `rwlock()` give this crate's lock — the very lock,
/// or the very `Arc` — from tokio's (unsized data too); `into_mapped` is tokio's.
#[tokio::test(flavor = "current_thread")]
async fn guard_accessors_give_this_crates_lock() {
    use ld::{
        MutexGuard, OwnedMutexGuard, OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard,
        OwnedRwLockWriteGuard,
    };

    let m = ld::Mutex::named("M", Aligned64(1));
    let g = m.lock().await;
    assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
    assert_eq!(g.0, 1);
    drop(g);
    let g = MutexGuard::try_map(m.lock().await, |_| None::<&mut u8>).unwrap_err();
    assert!(
        std::ptr::eq(MutexGuard::mutex(&g), &m),
        "given back by try_map"
    );
    drop(g);
    let slice: Box<ld::Mutex<[u8]>> = Box::new(ld::Mutex::new([1u8, 2, 3]));
    let g = slice.lock().await;
    assert!(std::ptr::eq(MutexGuard::mutex(&g), &*slice));
    drop(g);
    let am = Arc::new(ld::Mutex::named("OM", 0u32));
    let g = am.clone().lock_owned().await;
    assert!(Arc::ptr_eq(OwnedMutexGuard::mutex(&g), &am));
    assert!(
        OwnedMutexGuard::mutex(&g).try_lock().is_err(),
        "the locked one"
    );
    drop(g);

    let rw = Arc::new(ld::RwLock::named("RW", (1u32, 2u32)));
    let r = rw.clone().read_owned().await;
    assert!(Arc::ptr_eq(OwnedRwLockReadGuard::rwlock(&r), &rw));
    drop(r);
    let w = rw.clone().write_owned().await;
    assert!(Arc::ptr_eq(OwnedRwLockWriteGuard::rwlock(&w), &rw));
    let part = OwnedRwLockWriteGuard::map(w, |p| &mut p.0);
    assert!(Arc::ptr_eq(OwnedRwLockMappedWriteGuard::rwlock(&part), &rw));
    drop(part);
    let all = OwnedRwLockWriteGuard::into_mapped(rw.clone().write_owned().await);
    assert!(Arc::ptr_eq(OwnedRwLockMappedWriteGuard::rwlock(&all), &rw));
    assert!(rw.try_read().is_err());
    drop(all);
    let all = ld::RwLockWriteGuard::into_mapped(rw.write().await);
    assert_eq!(all.1, 2);
    assert!(rw.try_read().is_err());
    drop(all);
    assert!(rw.try_write().is_ok());
}

/// Compiled out, `downgrade_map` / `try_downgrade_map` are tokio's: a reader of the part, or
/// (`None`) the writer back.
#[tokio::test(flavor = "current_thread")]
async fn downgrade_map_is_tokios() {
    use ld::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLockWriteGuard};

    let rw = Arc::new(ld::RwLock::named("RW", (1u32, 2u32)));
    let part = RwLockWriteGuard::downgrade_map(rw.write().await, |p| &p.1);
    assert_eq!(*part, 2);
    assert!(rw.try_read().is_ok() && rw.try_write().is_err());
    drop(part);
    let Err(mut w) = RwLockWriteGuard::try_downgrade_map(rw.write().await, |_| None::<&u32>) else {
        panic!("None: the writer back");
    };
    w.0 += 10;
    assert!(rw.try_read().is_err());
    let part = RwLockWriteGuard::try_downgrade_map(w, |p| Some(&p.0))
        .ok()
        .unwrap();
    assert_eq!(*part, 11);
    drop(part);

    let part = OwnedRwLockWriteGuard::downgrade_map(rw.clone().write_owned().await, |p| &p.1);
    assert_eq!(*part, 2);
    assert!(rw.try_read().is_ok() && rw.try_write().is_err());
    drop(part);
    let w = rw.clone().write_owned().await;
    let Err(w) = OwnedRwLockWriteGuard::try_downgrade_map(w, |_| None::<&u32>) else {
        panic!("None: the writer back");
    };
    assert!(rw.try_read().is_err());
    let part = OwnedRwLockWriteGuard::try_downgrade_map(w, |p| Some(&p.0))
        .ok()
        .unwrap();
    assert_eq!(*part, 11);
    assert!(Arc::ptr_eq(OwnedRwLockReadGuard::rwlock(&part), &rw));
    drop(part);
    assert!(rw.try_write().is_ok());
}
