//! Review of 69e64b0..fd59f50 (nest-lock holds and the upgradable bit, re-entrant
//! initialization, tokio movable entries, `lockdep::thread` as a drop-in). Tests marked
//! `limit_*` pin today's behaviour where it is a documented limit (saying what would be
//! right); the others pin what held up or what was fixed.
//!
//! `cargo test -p lockdep --features enabled,tokio --test session_review -- --include-ignored`
#![cfg(all(lockdep_enabled, not(loom)))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use lockdep::{Mode, Mutex, ReportKind, RwLock};

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(lockdep::Report::kind).collect()
}

/// Two children of one class (named `name`), for a test's own nest lock.
fn children(name: &'static str) -> Vec<Mutex<()>> {
    (0..2).map(|_| Mutex::named(name, ())).collect()
}

/// Takes both children under the nest lock held by `nest`, `kids[first]` first.
fn take_both<G: lockdep::Held>(nest: &G, kids: &[Mutex<()>], first: usize) {
    let _x = kids[first].lock_nest_lock(nest);
    let _y = kids[1 - first].lock_nest_lock(nest);
}

// ---------------------------------------------------------------------------------------------
// 1. Nest-lock holds, the upgradable bit
// ---------------------------------------------------------------------------------------------

/// The ways the borrowed upgradable guard runs a closure upgraded, the closure panicking
/// (the panic caught: the guard lives on).
type Upgraded = fn(&mut lockdep::RwLockUpgradableReadGuard<'_, ()>);
fn panicking_upgrades() -> Vec<(&'static str, Upgraded)> {
    vec![
        ("with_upgraded", |up| {
            let r = catch_unwind(AssertUnwindSafe(|| up.with_upgraded(|_| panic!("boom"))));
            assert!(r.is_err());
        }),
        ("try_with_upgraded_for", |up| {
            let r = catch_unwind(AssertUnwindSafe(|| {
                up.try_with_upgraded_for(Duration::from_secs(1), |_| panic!("boom"))
            }));
            assert!(r.is_err());
        }),
        ("try_with_upgraded_until", |up| {
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            let r = catch_unwind(AssertUnwindSafe(|| {
                up.try_with_upgraded_until(deadline, |_| panic!("boom"))
            }));
            assert!(r.is_err());
        }),
        ("try_with_upgraded", |up| {
            let r = catch_unwind(AssertUnwindSafe(|| {
                up.try_with_upgraded(|_| panic!("boom"))
            }));
            assert!(r.is_err());
        }),
    ]
}

/// A closure run upgraded by `with_upgraded` (or `try_with_upgraded_for` / `_until`) panics:
/// lock_api downgrades the real lock back to an upgradable read on the unwind (its `defer!`),
/// and a caught panic leaves the guard alive. Its held entry stayed a *writer's* (the borrowed
/// guard changed it back only on return; the arc guard's and `try_with_upgraded` use a
/// `Defer`), and its token lost the upgradable mark. So a recursive reader beside the
/// upgradable reader — fine for real, and for lockdep without the panic — was taken for a
/// certain self-deadlock: a false panic. (Fixed: the entry is changed back by a `Defer`.)
#[test]
fn a_panic_in_with_upgraded_leaves_the_entry_a_readers() {
    setup();
    for (way, upgraded) in panicking_upgrades() {
        let n = RwLock::named("sr.upgraded_panic", ());
        let (outcome, reports) = lockdep::capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut up = n.upgradable_read();
                upgraded(&mut up);
                let _r = n.read_recursive(); // beside the upgradable reader: no recursion
            }))
        });
        assert!(outcome.is_ok(), "{way}: a false panic");
        assert!(reports.is_empty(), "{way}: {reports:?}");
    }
}

/// The same seen through a nest lock: children under the upgradable guard after the caught
/// panic count as taken under the *write* lock (entry a writer's), so the real inversion
/// against the order under a read lock (`orders_under_an_upgradable_read_and_a_read_lock_are_
/// reported` in nest_modes.rs) went unreported: a missed deadlock. (Fixed with the above.)
#[test]
fn a_panic_in_with_upgraded_keeps_the_nest_lock_an_upgradable_readers() {
    setup();
    for (way, upgraded) in panicking_upgrades() {
        let n = RwLock::named("sr.upgraded_panic_nest", ());
        let kids = children("sr.upgraded_panic_kid");
        let (_, reports) = lockdep::capture(|| {
            {
                let mut up = n.upgradable_read();
                upgraded(&mut up);
                take_both(&up, &kids, 0);
            }
            take_both(&n.read(), &kids, 1);
        });
        assert_eq!(kinds(&reports), [ReportKind::InstanceInversion], "{way}");
    }
}

/// Held up: a three-order cycle under recursive-read / read / upgradable holds of one nest
/// lock (all three threads can hold it at once) is reported; with two upgradable holds in it
/// (which exclude each other), not.
#[test]
fn three_orders_under_one_nest_lock_are_reported_only_if_their_holds_fit_together() {
    setup();
    let n = RwLock::named("sr.three_nest", ());
    let kids: Vec<Mutex<()>> = (0..3).map(|_| Mutex::named("sr.three_kid", ())).collect();
    let order = |g: &dyn LockedNest, i: usize, j: usize| g.take(&kids[i], &kids[j]);
    let (_, reports) = lockdep::capture(|| {
        order(&n.read_recursive(), 0, 1);
        order(&n.read(), 1, 2);
        order(&n.upgradable_read(), 2, 0);
    });
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);

    let n = RwLock::named("sr.three_nest_upg", ());
    let kids2: Vec<Mutex<()>> = (0..3)
        .map(|_| Mutex::named("sr.three_kid_upg", ()))
        .collect();
    let order = |g: &dyn LockedNest, i: usize, j: usize| g.take(&kids2[i], &kids2[j]);
    let (_, reports) = lockdep::capture(|| {
        order(&n.upgradable_read(), 0, 1);
        order(&n.read(), 1, 2);
        order(&n.upgradable_read(), 2, 0);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// A guard of a nest lock that takes two children under it, `first` then `second`.
trait LockedNest {
    fn take(&self, first: &Mutex<()>, second: &Mutex<()>);
}
impl<G: lockdep::Held> LockedNest for G {
    fn take(&self, first: &Mutex<()>, second: &Mutex<()>) {
        let _x = first.lock_nest_lock(self);
        let _y = second.lock_nest_lock(self);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Re-entrant initialization: no false panic
// ---------------------------------------------------------------------------------------------

/// Held up: cells of one construction site (one class) nested, `set` of another cell of the
/// class inside an initializer, `call_once_force` after a panicked initializer: none is a
/// re-entry, none panics, and nothing is reported (cells of one site may nest: their order is
/// per instance).
#[test]
fn nested_cells_of_one_class_are_no_reentry() {
    use lockdep::stdsync::{LazyLock, Once, OnceLock};
    setup();
    const fn lazy(f: fn() -> u32) -> LazyLock<u32> {
        LazyLock::new(f) // one site: one class for both
    }
    static INNER: LazyLock<u32> = lazy(|| 1);
    static OUTER: LazyLock<u32> = lazy(|| *INNER + 1);
    const fn cell() -> OnceLock<u32> {
        OnceLock::new()
    }
    static SET_BY_OTHER: OnceLock<u32> = cell();
    static SETTER: OnceLock<u32> = cell();
    static ONCE: Once = Once::new();
    let (_, reports) = lockdep::capture(|| {
        assert_eq!(*OUTER, 2);
        assert_eq!(
            *SETTER.get_or_init(|| {
                SET_BY_OTHER.set(7).unwrap();
                8
            }),
            8
        );
        assert_eq!(SET_BY_OTHER.get(), Some(&7));
        let r = catch_unwind(|| ONCE.call_once(|| panic!("first initializer")));
        assert!(r.is_err());
        let mut ran = false;
        ONCE.call_once_force(|state| {
            assert!(state.is_poisoned());
            ran = true;
        });
        assert!(ran);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. tokio movable entries
// ---------------------------------------------------------------------------------------------

/// A task holds a lock by two read guards, a borrowed one below an owned one, and releases the
/// borrowed one first. Of a run of identical adjacent entries the release takes out the
/// *topmost* and gives the one that stays the removed one's serial (`ThreadState::release`'s
/// `same`), which does not compare the movable flag: the entry left for the owned guard is the
/// borrowed one's, not movable. The owned guard is handed to a worker that keeps it 1.5 s; the
/// task's `write().await` then counts as a re-lock of a lock held through a borrowed guard:
/// after the 1 s grace, RecursiveLocking and a panic — the false report the movable mark was
/// made to prevent (review defect A). (Fixed: `same` compares the movable mark too.)
#[cfg(lockdep_tasks)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_borrowed_read_guard_first_keeps_the_owned_guards_entry_movable() {
    borrowed_read_released_then_write_while_owned_read_is_away("sr.movable_same", false).await;
}

/// Held up: the same with the owned guard taken first (it is below; the borrowed one on top
/// is released by the fast path): the owned entry stays movable.
#[cfg(lockdep_tasks)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_the_top_borrowed_read_guard_keeps_the_owned_guards_entry_movable() {
    borrowed_read_released_then_write_while_owned_read_is_away("sr.movable_top", true).await;
}

/// In a task: a borrowed and an owned read guard of a fresh lock `name` (the owned one taken
/// first if `owned_first`); the borrowed one is dropped, the owned one handed to a worker
/// that keeps it 1.5 s, and the task's `write().await` must wait for it: no report, no panic.
#[cfg(lockdep_tasks)]
async fn borrowed_read_released_then_write_while_owned_read_is_away(
    name: &'static str,
    owned_first: bool,
) {
    use std::sync::Arc;
    let l = Arc::new(lockdep::tokio::RwLock::named(name, 0u32));
    let (joined, reports) = lockdep::tokio::capture_async(async {
        let l1 = l.clone();
        tokio::spawn(async move {
            // Trylocks: a second non-recursive read awaited would be reported (rightly).
            let (r1, r2) = if owned_first {
                let r2 = l1.clone().try_read_owned().unwrap(); // owned: movable, below
                (l1.try_read().unwrap(), r2) // borrowed, on top: the fast release
            } else {
                let r1 = l1.try_read().unwrap(); // borrowed, below: the slow release
                (r1, l1.clone().try_read_owned().unwrap()) // owned: movable
            };
            drop(r1);
            let worker = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1500)).await; // long work
                drop(r2);
            });
            let w = l1.write().await; // waits for the worker: no self-deadlock
            drop(w);
            worker.await.unwrap();
        })
        .await
    })
    .await;
    assert!(joined.is_ok(), "the task panicked: {joined:?}");
    assert!(reports.is_empty(), "{reports:?}");
}

/// A task hands an owned *read* guard to a worker (which keeps it 300 ms) and reads the lock
/// again meanwhile. The task holds nothing; README / `lockdep::tokio`'s limits say a re-lock
/// through an owned guard handed elsewhere "waits for the guard's release there, reporting
/// nothing". A read does not conflict with the (movable) read entry, so nothing waits: it is
/// validated at once, and the same-class check takes the movable entry for the task's own —
/// `RecursiveLocking` (a panic in Panic mode). The same after the worker downgrades an owned
/// write guard (the entry, on the task's stack, even stays a writer's: `change_read` looks
/// only at the stack loaded where the guard is). Waiting cannot tell "handed off" from
/// "kept" here (the read comes at once either way). Limit (README, Async): today one
/// `RecursiveLocking`; right: no report.
#[cfg(lockdep_tasks)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_reading_again_after_handing_an_owned_read_guard_elsewhere_is_reported() {
    use std::sync::Arc;
    let l = Arc::new(lockdep::tokio::RwLock::named("sr.handed_read", 0u32));
    let (joined, reports) = lockdep::tokio::capture_async(async {
        let l1 = l.clone();
        tokio::spawn(async move {
            let r = l1.clone().read_owned().await;
            let worker = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                drop(r);
            });
            let again = l1.read().await; // the task holds nothing: no re-lock
            drop(again);
            worker.await.unwrap();
        })
        .await
    })
    .await;
    assert!(joined.is_ok(), "the task panicked: {joined:?}");
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

// ---------------------------------------------------------------------------------------------
// 4. lockdep::thread as a drop-in for std::thread
// ---------------------------------------------------------------------------------------------

/// std's `Builder::spawn_unchecked` (stable since 1.82; the crate's rust-version is 1.86) was
/// missing: code calling it did not build after `use lockdep::thread`. (Fixed: it is there,
/// with std's signature, and its join is validated like the others'.)
#[test]
fn builder_spawn_unchecked_is_there_with_std_s_signature() {
    let data = [1, 2, 3];
    let sum = || data.iter().sum::<i32>(); // borrows `data`: not 'static
                                           // SAFETY: joined below, before `data` goes.
    let h = unsafe { lockdep::thread::Builder::new().spawn_unchecked(sum) }.unwrap();
    assert_eq!(h.join().unwrap(), 6);
    // The same signature as std's (a method of one type can stand for the other's).
    type Std<'a> = unsafe fn(
        std::thread::Builder,
        &'a (dyn Fn() -> i32 + Sync),
    ) -> std::io::Result<std::thread::JoinHandle<i32>>;
    type Ours<'a> = unsafe fn(
        lockdep::thread::Builder,
        &'a (dyn Fn() -> i32 + Sync),
    ) -> std::io::Result<lockdep::thread::JoinHandle<i32>>;
    let _: Std<'_> = std::thread::Builder::spawn_unchecked;
    let _: Ours<'_> = lockdep::thread::Builder::spawn_unchecked;
}

/// Held up: the other signatures are std's (checked as function pointers), and the handles
/// are `Send + Sync` where std's are.
#[test]
fn thread_signatures_are_std_s() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<lockdep::thread::JoinHandle<std::rc::Rc<()>>>();
    send_sync::<std::thread::JoinHandle<std::rc::Rc<()>>>();
    send_sync::<lockdep::thread::ScopedJoinHandle<'static, std::cell::Cell<u8>>>();
    send_sync::<std::thread::ScopedJoinHandle<'static, std::cell::Cell<u8>>>();
    send_sync::<lockdep::thread::Builder>();
    let _: fn(fn() -> u8) -> lockdep::thread::JoinHandle<u8> = lockdep::thread::spawn;
    let _: fn(lockdep::thread::JoinHandle<u8>) -> lockdep::thread::Result<u8> =
        lockdep::thread::JoinHandle::join;
    let v = [1u8];
    lockdep::thread::scope(|s| {
        let h = lockdep::thread::Builder::new()
            .name("sr.scoped".into())
            .spawn_scoped(s, || v[0])
            .unwrap();
        assert_eq!(h.thread().name(), Some("sr.scoped"));
        assert!(format!("{s:?}").starts_with("Scope"));
        assert_eq!(h.join().unwrap(), 1);
    });
    #[cfg(unix)]
    {
        use std::os::unix::thread::JoinHandleExt;
        let h = lockdep::thread::spawn(|| ());
        let _ = h.as_pthread_t();
        h.join().unwrap();
    }
}
