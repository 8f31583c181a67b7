//! API parity of `lockdep::tokio` with `tokio::sync` (tokio 1.x), checked the way an adopter
//! switches over: every public item of tokio's `Mutex`, `RwLock`, their guards and
//! `TryLockError` — constructors, methods (with tokio's generic parameters, in tokio's order,
//! pinned by turbofish), trait impls, `Send` / `Sync` / `Unpin` / unwind-safety exactly as
//! tokio's (compared type by type against tokio's own) — written as tokio code writes them,
//! through `use lockdep::tokio as sync;`, and their behaviour compared with tokio's (values,
//! errors, `Debug` / `Display` text, the panic of `blocking_*` inside a runtime). With
//! validation on, a lock is held (`lockdep::is_held`) while its guard lives and released after.
//!
//! `cargo test -p lockdep --features enabled,tokio --test tokio_api_parity` (and with
//! `--features disabled,tokio`: the compiled-out types must be tokio's API too).
#![cfg(feature = "tokio")]

use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use lockdep::tokio as sync;
use tokio::sync as tk;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts that the caller holds `lock` (per the validator; `is_held` is `true` when it cannot
/// tell, i.e. compiled out).
#[track_caller]
fn assert_held<L: lockdep::TrackedLock + ?Sized>(lock: &L) {
    assert!(lockdep::is_held(lock), "the lock should be held");
}

/// Asserts that the caller does not hold `lock` (checked with validation on; compiled out the
/// validator cannot tell: `None`).
#[track_caller]
fn assert_free<L: lockdep::TrackedLock + ?Sized>(lock: &L) {
    let expected = if cfg!(lockdep_enabled) {
        Some(false)
    } else {
        None
    };
    assert_eq!(
        lockdep::held_state(lock),
        expected,
        "the lock should be free"
    );
}

/// The text of a panic payload.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-text panic>".into()
    }
}

/// Runs `f` (in an async test: inside the runtime) and returns its panic message.
#[track_caller]
fn panic_of<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_text(payload),
    }
}

/// A data type that is `Sync` but not `Send`.
type SyncOnly = std::sync::MutexGuard<'static, u32>;

/// Auto-trait probes (autoref specialisation on a concrete type): `[Send, Sync, Unpin,
/// UnwindSafe, RefUnwindSafe]`.
struct Probe<T: ?Sized>(PhantomData<T>);

macro_rules! probe_traits {
    ($($yes:ident $no:ident $method:ident $bound:path;)*) => {$(
        trait $yes {
            fn $method(&self) -> bool {
                true
            }
        }
        impl<T: ?Sized + $bound> $yes for Probe<T> {}
        trait $no {
            fn $method(&self) -> bool {
                false
            }
        }
        impl<T: ?Sized> $no for &Probe<T> {}
    )*};
}
probe_traits! {
    IsSend NotSend is_send Send;
    IsSync NotSync is_sync Sync;
    IsUnpin NotUnpin is_unpin Unpin;
    IsUnwindSafe NotUnwindSafe is_unwind_safe UnwindSafe;
    IsRefUnwindSafe NotRefUnwindSafe is_ref_unwind_safe RefUnwindSafe;
}

/// The auto traits of the type of `$probe` (a `Probe<T>`).
macro_rules! traits_of_probe {
    ($probe:expr) => {{
        let p = $probe;
        [
            (&p).is_send(),
            (&p).is_sync(),
            (&p).is_unpin(),
            (&p).is_unwind_safe(),
            (&p).is_ref_unwind_safe(),
        ]
    }};
}

/// `lockdep::tokio::$name<$args>` has the auto traits of `tokio::sync::$name<$args>`.
macro_rules! same_traits {
    ($name:ident; $($args:tt)*) => {
        assert_eq!(
            traits_of_probe!(Probe::<sync::$name<$($args)*>>(PhantomData)),
            traits_of_probe!(Probe::<tk::$name<$($args)*>>(PhantomData)),
            "auto traits [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe] of {}",
            stringify!($name<$($args)*>),
        );
    };
}

/// Requires `Send + Sync + 'static` (as `tokio::spawn` needs for what it moves).
fn assert_send_sync_static<T: Send + Sync + 'static>(_: &T) {}

/// A trait object behind the locks (`Arc<Mutex<dyn Trait>>`, as tokio allows).
trait Counter: Send + Sync {
    fn get(&self) -> u32;
    fn bump(&mut self);
}

impl Counter for u32 {
    fn get(&self) -> u32 {
        *self
    }
    fn bump(&mut self) {
        *self += 1;
    }
}

// Functions that take the guard types by name, as tokio code passes guards around.
fn mutex_guard_value(g: sync::MutexGuard<'_, u32>) -> u32 {
    *g
}
fn show_guard<T: ?Sized + Display>(g: &sync::MutexGuard<'_, T>) -> String {
    g.to_string()
}
fn bump_owned(mut g: sync::OwnedMutexGuard<dyn Counter>) -> u32 {
    g.bump();
    g.get()
}
fn mapped_value(g: sync::MappedMutexGuard<'_, u8>) -> u8 {
    *g
}
fn owned_mapped_slice(g: sync::OwnedMappedMutexGuard<Vec<u8>, [u8]>) -> usize {
    g.len()
}
fn read_len(g: sync::RwLockReadGuard<'_, [u8]>) -> usize {
    g.len()
}
fn write_push(mut g: sync::RwLockWriteGuard<'_, Vec<u8>>, v: u8) {
    g.push(v);
}
fn mapped_write_set(mut g: sync::RwLockMappedWriteGuard<'_, u8>, v: u8) {
    *g = v;
}
fn owned_read_len(g: sync::OwnedRwLockReadGuard<Vec<u8>, [u8]>) -> usize {
    g.len()
}
fn owned_write_push(mut g: sync::OwnedRwLockWriteGuard<Vec<u8>>, v: u8) {
    g.push(v);
}
fn owned_mapped_write_set(mut g: sync::OwnedRwLockMappedWriteGuard<Vec<u8>, u8>, v: u8) {
    *g = v;
}
fn try_lock_result(m: &sync::Mutex<u32>) -> Result<u32, sync::TryLockError> {
    Ok(*m.try_lock()?)
}
fn boxed_error(m: &sync::RwLock<u32>) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(*m.try_write()?)
}

static STATIC_MUTEX: sync::Mutex<u32> = sync::Mutex::const_new(7);
static STATIC_RW: sync::RwLock<u32> = sync::RwLock::const_new(8);
static STATIC_RW_MAX: sync::RwLock<u32> = sync::RwLock::const_with_max_readers(9, 2);

// ---------------------------------------------------------------------------------------------
// Types: auto traits and futures
// ---------------------------------------------------------------------------------------------

/// Every lock and guard type has tokio's `Send`, `Sync`, `Unpin` and unwind-safety, for data
/// of every combination of `Send` / `Sync`.
#[test]
fn auto_traits_are_tokios() {
    macro_rules! each_data {
        ($d:ty) => {
            same_traits!(Mutex; $d);
            same_traits!(MutexGuard; 'static, $d);
            same_traits!(OwnedMutexGuard; $d);
            same_traits!(MappedMutexGuard; 'static, $d);
            same_traits!(RwLock; $d);
            same_traits!(RwLockReadGuard; 'static, $d);
            same_traits!(RwLockWriteGuard; 'static, $d);
            same_traits!(RwLockMappedWriteGuard; 'static, $d);
            same_traits!(OwnedRwLockWriteGuard; $d);
            each_pair!($d, u32);
            each_pair!($d, Cell<u32>);
            each_pair!($d, SyncOnly);
            each_pair!($d, Rc<u32>);
        };
    }
    macro_rules! each_pair {
        ($t:ty, $u:ty) => {
            same_traits!(OwnedMappedMutexGuard; $t, $u);
            same_traits!(OwnedRwLockReadGuard; $t, $u);
            same_traits!(OwnedRwLockMappedWriteGuard; $t, $u);
        };
    }
    each_data!(u32);
    each_data!(Cell<u32>);
    each_data!(SyncOnly);
    each_data!(Rc<u32>);
    // Unsized data, and the default second parameter.
    same_traits!(Mutex; dyn Counter);
    same_traits!(MutexGuard; 'static, [u8]);
    same_traits!(OwnedMappedMutexGuard; Vec<u8>);
    same_traits!(OwnedRwLockReadGuard; Vec<u8>);
    same_traits!(OwnedRwLockMappedWriteGuard; Vec<u8>);
    same_traits!(RwLock; [u8]);
    assert_eq!(
        traits_of_probe!(Probe::<sync::TryLockError>(PhantomData)),
        traits_of_probe!(Probe::<tk::TryLockError>(PhantomData)),
    );
}

/// The acquisition futures are `Send` and `Sync` wherever tokio's are (tokio code spawns them,
/// holds them across `.await`s, keeps them in `Sync` structs), the owned ones `'static`.
/// (Checked as bounds: an auto-trait probe cannot see through these opaque types reliably.)
#[test]
fn futures_are_send_and_sync_as_tokios() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    macro_rules! each_data {
        ($d:ty, $v:expr) => {{
            // tokio's futures first: the same bound holds for them.
            let (lm, tm) = (sync::Mutex::<$d>::new($v), tk::Mutex::<$d>::new($v));
            send_sync(&tm.lock());
            send_sync(&lm.lock());
            let (lm, tm) = (
                Arc::new(sync::Mutex::<$d>::new($v)),
                Arc::new(tk::Mutex::<$d>::new($v)),
            );
            assert_send_sync_static(&tm.lock_owned());
            assert_send_sync_static(&lm.lock_owned());
        }};
    }
    each_data!(u32, 1);
    each_data!(Cell<u32>, Cell::new(1)); // a `Mutex` of `Send` data is `Sync`
    let (lr, tr) = (sync::RwLock::new(1u32), tk::RwLock::new(1u32));
    send_sync(&tr.read());
    send_sync(&lr.read());
    send_sync(&tr.write());
    send_sync(&lr.write());
    let (lr, tr) = (
        Arc::new(sync::RwLock::new(1u32)),
        Arc::new(tk::RwLock::new(1u32)),
    );
    assert_send_sync_static(&tr.clone().read_owned());
    assert_send_sync_static(&lr.clone().read_owned());
    assert_send_sync_static(&tr.write_owned());
    assert_send_sync_static(&lr.write_owned());
}

// ---------------------------------------------------------------------------------------------
// Mutex
// ---------------------------------------------------------------------------------------------

/// `new`, `const_new` (in a `static`), `Default`, `From` / `into`, `Debug`, `into_inner`,
/// `get_mut`.
#[tokio::test]
async fn mutex_constructors_and_plain_methods() {
    let m = sync::Mutex::new(1u32);
    let d: sync::Mutex<u32> = Default::default();
    let f = sync::Mutex::from(3u32);
    let i: sync::Mutex<u32> = 4u32.into();
    assert_eq!((*m.lock().await, *d.lock().await), (1, 0));
    assert_eq!((*f.lock().await, *i.lock().await), (3, 4));
    assert_eq!(*STATIC_MUTEX.lock().await, 7);

    // `Debug` as tokio's: the data, or `<locked>` while it is locked.
    let t = tk::Mutex::new(1u32);
    assert_eq!(format!("{m:?}"), format!("{t:?}"));
    assert_eq!(format!("{m:?}"), "Mutex { data: 1 }");
    {
        let (_g, _h) = (m.lock().await, t.lock().await);
        assert_eq!(format!("{m:?}"), format!("{t:?}"));
        assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
    }

    let mut m = m;
    *m.get_mut() += 10;
    assert_eq!(m.into_inner(), 11);
    assert_eq!(f.into_inner(), 3);
}

/// `lock`, `try_lock` (both results), `TryLockError` (`Display`, `Debug`, `Error`, `?`), the
/// guard's `Deref` / `DerefMut` / `Debug` / `Display`, `MutexGuard::map` / `try_map` /
/// `mutex`, `MappedMutexGuard::map` / `try_map`.
#[tokio::test]
async fn mutex_lock_try_lock_and_guards() {
    let m = sync::Mutex::named("parity mutex", 5u32);
    let t = tk::Mutex::new(5u32);
    {
        let mut g = m.lock().await;
        assert_held(&m);
        *g += 1;
        assert_eq!(*g, 6);
        assert_eq!(format!("{g:?}|{g}"), "6|6");
        assert_eq!(show_guard(&g), "6");
        assert!(std::ptr::eq(sync::MutexGuard::mutex(&g), &m));

        // `try_lock` fails like tokio's, with tokio's error.
        let err = m.try_lock().unwrap_err();
        let _h = t.lock().await;
        let tk_err = t.try_lock().unwrap_err();
        assert_eq!(err.to_string(), tk_err.to_string());
        assert_eq!(err.to_string(), "operation would block");
        assert_eq!(format!("{err:?}"), format!("{tk_err:?}"));
        assert_eq!(format!("{err:?}"), "TryLockError(())");
        let as_error: &dyn std::error::Error = &err;
        assert!(as_error.source().is_none());
        assert!(try_lock_result(&m).is_err());
        assert_held(&m);
    }
    assert_free(&m);

    let g = m.try_lock().unwrap();
    assert_held(&m);
    assert_eq!(mutex_guard_value(g), 6);
    assert_free(&m);
    assert_eq!(try_lock_result(&m).unwrap(), 6);

    // map / try_map, with tokio's generic parameters `<U, F>`.
    let v = sync::Mutex::named("parity mutex vec", vec![1u8, 2, 3]);
    let g = v.lock().await;
    let g = match sync::MutexGuard::try_map::<u8, _>(g, |v| v.get_mut(10)) {
        Ok(_) => panic!("no element 10"),
        Err(g) => g, // the guard given back, still holding the lock
    };
    assert_held(&v);
    assert!(v.try_lock().is_err());
    let mut s: sync::MappedMutexGuard<'_, [u8]> =
        sync::MutexGuard::map::<[u8], _>(g, |v| &mut v[..]);
    s[0] = 10;
    assert_eq!(format!("{s:?}"), "[10, 2, 3]");
    let s = sync::MappedMutexGuard::try_map::<u8, _>(s, |s| s.get_mut(9)).unwrap_err();
    let mut one = sync::MappedMutexGuard::map::<u8, _>(s, |s| &mut s[1]);
    *one += 20;
    assert_eq!(format!("{one:?}|{one}"), "22|22");
    assert_held(&v);
    let one = sync::MappedMutexGuard::try_map::<u8, _>(one, |x| Some(x)).unwrap();
    assert_eq!(mapped_value(one), 22);
    assert_free(&v);
    let g = sync::MutexGuard::try_map::<u8, _>(v.lock().await, |v| v.get_mut(2)).unwrap();
    assert_eq!(*g, 3);
    drop(g);
    assert_free(&v);
    assert_eq!(v.into_inner(), [10, 22, 3]);
}

/// `lock_owned`, `try_lock_owned`, `OwnedMutexGuard::map` / `try_map` / `mutex`,
/// `OwnedMappedMutexGuard::map` / `try_map`; an owned guard moved into another task and
/// released there.
#[tokio::test]
async fn mutex_owned_guards() {
    let m = Arc::new(sync::Mutex::named("parity owned mutex", vec![1u8, 2, 3]));
    let g: sync::OwnedMutexGuard<Vec<u8>> = m.clone().lock_owned().await;
    assert_held(&*m);
    assert!(Arc::ptr_eq(sync::OwnedMutexGuard::mutex(&g), &m));
    assert!(m.clone().try_lock_owned().is_err());
    assert_eq!(
        m.clone().try_lock_owned().unwrap_err().to_string(),
        "operation would block"
    );
    assert_eq!(format!("{g:?}"), "[1, 2, 3]");
    let g = sync::OwnedMutexGuard::try_map::<u8, _>(g, |v| v.get_mut(5)).unwrap_err();
    let s: sync::OwnedMappedMutexGuard<Vec<u8>, [u8]> =
        sync::OwnedMutexGuard::map::<[u8], _>(g, |v| &mut v[..]);
    assert_eq!(owned_mapped_slice(s), 3);
    assert_free(&*m);

    let g = m.clone().try_lock_owned().unwrap();
    assert_held(&*m);
    let s = sync::OwnedMutexGuard::try_map::<[u8], _>(g, |v| Some(&mut v[1..])).unwrap();
    let s = sync::OwnedMappedMutexGuard::try_map::<u8, _>(s, |s| s.get_mut(7)).unwrap_err();
    let mut e: sync::OwnedMappedMutexGuard<Vec<u8>, u8> =
        sync::OwnedMappedMutexGuard::map::<u8, _>(s, |s| &mut s[0]);
    *e = 20;
    assert_eq!(format!("{e:?}|{e}"), "20|20");
    let e = sync::OwnedMappedMutexGuard::try_map::<u8, _>(e, |x| Some(x)).unwrap();
    assert_held(&*m);
    // Handed to another task, as owned guards are meant to be.
    tokio::spawn(async move {
        assert_eq!(*e, 20);
        drop(e);
    })
    .await
    .unwrap();
    assert_free(&*m);
    assert_eq!(*m.lock().await, [1, 20, 3]);
}

/// Unsized data: `Arc<Mutex<dyn Trait>>` (an unsizing coercion), `Box<Mutex<[u8]>>`, guards of
/// unsized data passed to functions.
#[tokio::test]
async fn mutex_of_unsized_data() {
    let m: Arc<sync::Mutex<dyn Counter>> = Arc::new(sync::Mutex::new(5u32));
    m.lock().await.bump();
    assert_eq!(m.lock().await.get(), 6);
    assert_eq!(m.try_lock().unwrap().get(), 6);
    assert_eq!(bump_owned(m.clone().lock_owned().await), 7);
    assert_eq!(bump_owned(m.clone().try_lock_owned().unwrap()), 8);
    assert_free(&*m);
    let g = m.clone().lock_owned().await;
    assert!(Arc::ptr_eq(sync::OwnedMutexGuard::mutex(&g), &m));
    drop(g);

    let mut b: Box<sync::Mutex<[u8]>> = Box::new(sync::Mutex::new([1u8, 2, 3]));
    b.get_mut()[0] = 9;
    {
        let g = b.lock().await;
        assert_eq!(g.len(), 3);
        let mut first = sync::MutexGuard::map::<u8, _>(g, |s| &mut s[0]);
        *first += 1;
    }
    assert_eq!(&*b.lock().await, [10, 2, 3]);
    let d: &sync::Mutex<dyn Debug + Send> = &sync::Mutex::new(1u8);
    assert_eq!(format!("{d:?}"), "Mutex { data: 1 }");
}

/// `blocking_lock` / `blocking_lock_owned` from blocking code (a plain thread, and
/// `spawn_blocking`).
#[test]
fn mutex_blocking_outside_a_runtime() {
    let m = Arc::new(sync::Mutex::named("parity blocking mutex", 1u32));
    {
        let mut g = m.blocking_lock();
        assert_held(&*m);
        *g += 1;
    }
    assert_free(&*m);
    let g = m.clone().blocking_lock_owned();
    assert_held(&*m);
    // The owned guard may leave the thread.
    std::thread::spawn(move || assert_eq!(*g, 2))
        .join()
        .unwrap();
    assert_free(&*m);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let m2 = m.clone();
    rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            *m2.blocking_lock() += 1;
            let g = m2.clone().blocking_lock_owned();
            assert_eq!(*g, 3);
        })
        .await
        .unwrap();
    });
    assert_eq!(*m.blocking_lock(), 3);
}

/// `blocking_lock` / `blocking_lock_owned` inside a runtime panic as tokio's do — also when the
/// mutex is free — and leave the lock free and not held.
#[tokio::test]
async fn mutex_blocking_inside_a_runtime_panics_like_tokio() {
    let t = Arc::new(tk::Mutex::new(0u32));
    let tokio_message = panic_of(|| drop(t.blocking_lock()));
    assert!(tokio_message.contains("Cannot block the current thread from within a runtime"));
    let m = Arc::new(sync::Mutex::named("parity blocking mutex in runtime", 0u32));
    assert_eq!(panic_of(|| drop(m.blocking_lock())), tokio_message);
    assert_free(&*m);
    assert_eq!(
        panic_of(|| drop(m.clone().blocking_lock_owned())),
        tokio_message
    );
    assert_free(&*m);
    assert!(m.try_lock().is_ok());
}

// ---------------------------------------------------------------------------------------------
// RwLock
// ---------------------------------------------------------------------------------------------

/// `new`, `const_new` and `const_with_max_readers` (in `static`s), `with_max_readers`,
/// `Default`, `From` / `into`, `Debug`, `get_mut`, `into_inner`; the reader limit, and the
/// panics of a bad limit, as tokio's.
#[tokio::test]
async fn rwlock_constructors_and_plain_methods() {
    let rw = sync::RwLock::new(1u32);
    let d: sync::RwLock<u32> = Default::default();
    let f = sync::RwLock::from(3u32);
    let i: sync::RwLock<u32> = 4u32.into();
    assert_eq!((*rw.read().await, *d.read().await), (1, 0));
    assert_eq!((*f.read().await, *i.write().await), (3, 4));
    assert_eq!(*STATIC_RW.read().await, 8);
    assert_eq!(*STATIC_RW_MAX.read().await, 9);

    let max = sync::RwLock::with_max_readers(5u32, 2);
    let (r1, r2) = (max.try_read().unwrap(), max.try_read().unwrap());
    assert_eq!(*r1 + *r2, 10);
    assert_eq!(
        max.try_read().unwrap_err().to_string(),
        "operation would block"
    );
    drop((r1, r2));
    assert_free(&max);
    let (r1, r2) = (
        STATIC_RW_MAX.try_read().unwrap(),
        STATIC_RW_MAX.try_read().unwrap(),
    );
    assert!(STATIC_RW_MAX.try_read().is_err());
    drop((r1, r2));

    // A bad reader limit panics as tokio's does.
    for n in [0, u32::MAX] {
        assert_eq!(
            panic_of(|| sync::RwLock::with_max_readers((), n)),
            panic_of(|| tk::RwLock::with_max_readers((), n)),
        );
        assert_eq!(
            panic_of(|| sync::RwLock::const_with_max_readers((), n)),
            panic_of(|| tk::RwLock::const_with_max_readers((), n)),
        );
    }

    let t = tk::RwLock::new(1u32);
    assert_eq!(format!("{rw:?}"), format!("{t:?}"));
    assert_eq!(format!("{rw:?}"), "RwLock { data: 1 }");
    {
        let (_g, _h) = (rw.write().await, t.write().await);
        assert_eq!(format!("{rw:?}"), format!("{t:?}"));
        assert_eq!(format!("{rw:?}"), "RwLock { data: <locked> }");
    }
    let mut rw = rw;
    *rw.get_mut() += 10;
    assert_eq!(rw.into_inner(), 11);
}

/// `read`, `write`, `try_read`, `try_write` (both results), and every method of the borrowed
/// guards: `RwLockReadGuard::map` / `try_map`, `RwLockWriteGuard::map` / `try_map` /
/// `downgrade_map` / `try_downgrade_map` / `into_mapped` / `downgrade`,
/// `RwLockMappedWriteGuard::map` / `try_map` — generic parameters in tokio's order `<F, U>`.
#[tokio::test]
async fn rwlock_borrowed_guards() {
    let rw = sync::RwLock::named("parity rwlock", vec![1u8, 2, 3]);
    {
        let r = rw.read().await;
        assert_held(&rw);
        let r2 = rw.try_read().unwrap();
        assert_eq!(format!("{r:?}|{r2:?}"), "[1, 2, 3]|[1, 2, 3]");
        assert!(rw.try_write().is_err());
        let r = sync::RwLockReadGuard::try_map::<_, u8>(r, |v| v.get(9)).unwrap_err();
        let s: sync::RwLockReadGuard<'_, [u8]> =
            sync::RwLockReadGuard::map::<_, [u8]>(r, |v| &v[..]);
        let e = sync::RwLockReadGuard::try_map::<_, u8>(s, |s| s.first()).unwrap();
        assert_eq!(format!("{e:?}|{e}"), "1|1");
        drop(r2);
        assert_held(&rw);
    }
    assert_free(&rw);
    assert_eq!(
        read_len(sync::RwLockReadGuard::map(rw.read().await, |v| &v[..])),
        3
    );

    // write, mapped writes
    {
        let mut w = rw.write().await;
        assert_held(&rw);
        w.push(4);
        assert!(rw.try_read().is_err());
        let w = sync::RwLockWriteGuard::try_map::<_, u8>(w, |v| v.get_mut(9)).unwrap_err();
        let mut m = sync::RwLockWriteGuard::map::<_, [u8]>(w, |v| &mut v[..]);
        m[0] = 10;
        let m = sync::RwLockMappedWriteGuard::try_map::<_, u8>(m, |s| s.get_mut(9)).unwrap_err();
        let m = sync::RwLockMappedWriteGuard::try_map::<_, [u8]>(m, |s| Some(&mut s[1..])).unwrap();
        let e = sync::RwLockMappedWriteGuard::map::<_, u8>(m, |s| &mut s[0]);
        assert_eq!(format!("{e:?}|{e}"), "2|2");
        assert!(rw.try_read().is_err());
        mapped_write_set(e, 20);
        assert_free(&rw);
    }
    write_push(rw.try_write().unwrap(), 5);
    assert_eq!(*rw.read().await, [10, 20, 3, 4, 5]);
    let w = sync::RwLockWriteGuard::try_map::<_, u8>(rw.write().await, |v| v.get_mut(4)).unwrap();
    assert_eq!(*w, 5);
    drop(w);

    // into_mapped: the same exclusive guard, mapped.
    let m: sync::RwLockMappedWriteGuard<'_, Vec<u8>> =
        sync::RwLockWriteGuard::into_mapped(rw.write().await);
    assert_held(&rw);
    assert!(rw.try_read().is_err());
    let mut m = sync::RwLockMappedWriteGuard::map::<_, Vec<u8>>(m, |v| v);
    m.truncate(3);
    drop(m);
    assert_free(&rw);

    // downgrade: a reader now, other readers let in, writers not.
    let w = rw.write().await;
    let r: sync::RwLockReadGuard<'_, Vec<u8>> = w.downgrade();
    assert_held(&rw);
    assert_eq!(*rw.try_read().unwrap(), [10, 20, 3]);
    assert!(rw.try_write().is_err());
    drop(r);
    assert_free(&rw);

    // downgrade_map / try_downgrade_map (`None`: still the write guard).
    let w = rw.write().await;
    let w = sync::RwLockWriteGuard::try_downgrade_map::<_, u8>(w, |v| v.get(9)).unwrap_err();
    assert!(rw.try_read().is_err(), "still held for writing");
    let r = sync::RwLockWriteGuard::try_downgrade_map::<_, [u8]>(w, |v| Some(&v[1..])).unwrap();
    assert_eq!(*r, [20, 3]);
    assert!(rw.try_read().is_ok());
    assert!(rw.try_write().is_err());
    drop(r);
    let r = sync::RwLockWriteGuard::downgrade_map::<_, u8>(rw.write().await, |v| &v[0]);
    assert_eq!(*r, 10);
    assert!(rw.try_read().is_ok());
    assert_held(&rw);
    drop(r);
    assert_free(&rw);
    assert!(matches!(boxed_error(&sync::RwLock::new(1)), Ok(1)));
}

/// `read_owned`, `write_owned`, `try_read_owned`, `try_write_owned`, and every method of the
/// owned guards (`map`, `try_map`, `downgrade`, `downgrade_map`, `try_downgrade_map`,
/// `into_mapped`, `rwlock`); owned guards moved into other tasks.
#[tokio::test]
async fn rwlock_owned_guards() {
    let rw = Arc::new(sync::RwLock::named("parity owned rwlock", vec![1u8, 2, 3]));

    let r: sync::OwnedRwLockReadGuard<Vec<u8>> = rw.clone().read_owned().await;
    assert_held(&*rw);
    assert!(Arc::ptr_eq(sync::OwnedRwLockReadGuard::rwlock(&r), &rw));
    assert!(rw.clone().try_write_owned().is_err());
    let r2 = rw.clone().try_read_owned().unwrap();
    let r = sync::OwnedRwLockReadGuard::try_map::<_, u8>(r, |v| v.get(9)).unwrap_err();
    let s = sync::OwnedRwLockReadGuard::map::<_, [u8]>(r, |v| &v[..]);
    assert!(Arc::ptr_eq(sync::OwnedRwLockReadGuard::rwlock(&s), &rw));
    let s = sync::OwnedRwLockReadGuard::try_map::<_, [u8]>(s, |s| Some(&s[1..])).unwrap();
    assert_eq!(format!("{s:?}"), "[2, 3]");
    assert_eq!(owned_read_len(s), 2);
    tokio::spawn(async move { assert_eq!(r2.len(), 3) })
        .await
        .unwrap();
    assert_free(&*rw);

    let w: sync::OwnedRwLockWriteGuard<Vec<u8>> = rw.clone().write_owned().await;
    assert_held(&*rw);
    assert!(Arc::ptr_eq(sync::OwnedRwLockWriteGuard::rwlock(&w), &rw));
    assert!(rw.clone().try_read_owned().is_err());
    assert_eq!(format!("{w:?}"), "[1, 2, 3]");
    owned_write_push(w, 4);
    assert_free(&*rw);

    let w = rw.clone().try_write_owned().unwrap();
    let w = sync::OwnedRwLockWriteGuard::try_map::<_, u8>(w, |v| v.get_mut(9)).unwrap_err();
    let m = sync::OwnedRwLockWriteGuard::map::<_, [u8]>(w, |v| &mut v[..]);
    assert!(Arc::ptr_eq(
        sync::OwnedRwLockMappedWriteGuard::rwlock(&m),
        &rw
    ));
    let m = sync::OwnedRwLockMappedWriteGuard::try_map::<_, u8>(m, |s| s.get_mut(9)).unwrap_err();
    let m =
        sync::OwnedRwLockMappedWriteGuard::try_map::<_, [u8]>(m, |s| Some(&mut s[1..])).unwrap();
    let e: sync::OwnedRwLockMappedWriteGuard<Vec<u8>, u8> =
        sync::OwnedRwLockMappedWriteGuard::map::<_, u8>(m, |s| &mut s[0]);
    assert_eq!(format!("{e:?}|{e}"), "2|2");
    assert_held(&*rw);
    tokio::spawn(async move { owned_mapped_write_set(e, 20) })
        .await
        .unwrap();
    assert_free(&*rw);

    let m: sync::OwnedRwLockMappedWriteGuard<Vec<u8>> =
        sync::OwnedRwLockWriteGuard::into_mapped(rw.clone().write_owned().await);
    assert!(rw.try_read().is_err());
    drop(m);

    let w = rw.clone().write_owned().await;
    let r: sync::OwnedRwLockReadGuard<Vec<u8>> = w.downgrade();
    assert_held(&*rw);
    assert!(rw.try_read().is_ok());
    assert!(rw.try_write().is_err());
    drop(r);

    let w = rw.clone().write_owned().await;
    let w = sync::OwnedRwLockWriteGuard::try_downgrade_map::<_, u8>(w, |v| v.get(9)).unwrap_err();
    assert!(rw.try_read().is_err(), "still held for writing");
    let r = sync::OwnedRwLockWriteGuard::try_downgrade_map::<_, u8>(w, |v| v.get(1)).unwrap();
    assert_eq!(*r, 20);
    assert!(rw.try_read().is_ok());
    assert!(rw.try_write().is_err());
    drop(r);
    let r: sync::OwnedRwLockReadGuard<Vec<u8>, [u8]> =
        sync::OwnedRwLockWriteGuard::downgrade_map::<_, [u8]>(
            rw.clone().write_owned().await,
            |v| &v[2..],
        );
    assert_eq!(*r, [3, 4]);
    assert!(rw.try_read().is_ok());
    assert_held(&*rw);
    drop(r);
    assert_free(&*rw);
    assert_eq!(*rw.read().await, [1, 20, 3, 4]);
}

/// Unsized data behind an `RwLock`: `Arc<RwLock<dyn Trait>>`, `Box<RwLock<[u8]>>`.
#[tokio::test]
async fn rwlock_of_unsized_data() {
    let rw: Arc<sync::RwLock<dyn Counter>> = Arc::new(sync::RwLock::new(1u32));
    rw.write().await.bump();
    assert_eq!(rw.read().await.get(), 2);
    rw.clone().write_owned().await.bump();
    assert_eq!(rw.clone().read_owned().await.get(), 3);
    assert_eq!(rw.clone().try_read_owned().unwrap().get(), 3);
    rw.clone().try_write_owned().unwrap().bump();
    rw.try_write().unwrap().bump();
    assert_eq!(rw.try_read().unwrap().get(), 5);
    let w = rw.clone().write_owned().await;
    assert!(Arc::ptr_eq(sync::OwnedRwLockWriteGuard::rwlock(&w), &rw));
    let r = w.downgrade();
    assert_eq!(r.get(), 5);
    drop(r);
    assert_free(&*rw);

    let mut b: Box<sync::RwLock<[u8]>> = Box::new(sync::RwLock::new([1u8, 2]));
    b.get_mut()[1] = 3;
    assert_eq!(read_len(b.read().await), 2);
    assert_eq!(&*b.write().await, [1, 3]);
}

/// `blocking_read` / `blocking_write` from blocking code, and inside a runtime, where they
/// panic as tokio's do (the lock left free and not held).
#[test]
fn rwlock_blocking() {
    let rw = sync::RwLock::named("parity blocking rwlock", 1u32);
    {
        let r = rw.blocking_read();
        assert_held(&rw);
        assert_eq!(*r, 1);
    }
    assert_free(&rw);
    *rw.blocking_write() += 1;
    assert_free(&rw);
    assert_eq!(*rw.blocking_read(), 2);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t = tk::RwLock::new(0u32);
    rt.block_on(async {
        let tokio_message = panic_of(|| drop(t.blocking_read()));
        assert!(tokio_message.contains("Cannot block the current thread from within a runtime"));
        assert_eq!(panic_of(|| drop(rw.blocking_read())), tokio_message);
        assert_free(&rw);
        assert_eq!(panic_of(|| drop(t.blocking_write())), tokio_message);
        assert_eq!(panic_of(|| drop(rw.blocking_write())), tokio_message);
        assert_free(&rw);
        assert!(rw.try_write().is_ok());
    });
}
