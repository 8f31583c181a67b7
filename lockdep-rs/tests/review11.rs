#![cfg(all(lockdep_enabled, not(loom)))]
//! Review 11: the class machinery and the lenient class policy. Each test pins a defect found
//! by the review (it failed before its fix):
//!
//! - a lock of a lenient class (built by `Default`, or any site under the lenient policy)
//!   taken while holding a sibling of its class recorded no class edge at all, so a lock held
//!   between the two siblings (`a`, `X`, `b`) never got its `X -> class` edge: the deadlock
//!   with a thread taking `b` then `X` went unreported;
//! - an acquisition with an out-of-range subclass went untracked: re-locking that lock hung
//!   with no report, and the locks taken under it were not ordered after it;
//! - a raw lock's (`RawMutex::INIT`) class is `RawMutex#<instance>`, but reports that name a
//!   lock from its handle (bad unlock balance) said `RawMutex#?`;
//! - a `LOCKDEP_CLASSES` value that is neither `strict` nor `lenient` was silently taken for
//!   the default policy;
//! - every one-time cell's class was named after its kind alone (`OnceLock`), so a report
//!   between two cells' classes named both the same;
//! - a lock built through a constructor reified to a function pointer has a site inside
//!   lockdep's own source: all such locks of the program, of every type, were one strict
//!   class, nesting two of them reported as recursive locking;
//! - the exit event of every thread spawned from a `lockdep::thread` (depth 2 and more)
//!   leaked its class name once per spawn, not once per class.

use lockdep::stdsync::OnceLock;
use lockdep::{Mutex, ReportKind};

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "R11_CHILD";
use common::{expect_circular, in_child, kinds, watchdog};

/// A struct whose fields are built at the derive's one site: one lenient class per type.
#[derive(Default)]
struct Accounts {
    a: Mutex<u64>,
    b: Mutex<u64>,
}

/// A crate's own constructor wrapper: under the lenient policy its locks are one lenient
/// class (per data type).
fn new_shard() -> Mutex<Vec<u32>> {
    Mutex::new(Vec::new())
}

/// The class named by the first report that ends with `suffix` and starts with `prefix`.
fn class_name_of(reports: &[lockdep::Report], suffix: &str, prefix: &str) -> String {
    reports[0]
        .class_names()
        .into_iter()
        .find(|n| n.ends_with(suffix) && n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no class {prefix:?}..{suffix:?}: {reports:?}"))
}

/// Thread 1 takes `a`, then `log`, then `b`; thread 2 takes `b`, then `log`: thread 1 holds
/// `a` and `log` waiting for `b`, thread 2 holds `b` waiting for `log`. The siblings are one
/// class `L` (a derive's fields), so the order is `L -> log -> L`: a cycle, reported when
/// thread 1 takes `b` under `log`. (Before: `b` was exempt from the same-class check, and
/// its acquisition added no edge either, so `log -> L` was never recorded: no report, and
/// thread 2's `b`, `log` was a cached chain.)
#[test]
fn a_lock_between_two_default_built_siblings_closes_a_cycle() {
    let _dog = watchdog(
        "a_lock_between_two_default_built_siblings_closes_a_cycle",
        60,
    );
    let accounts = Accounts::default();
    let log = Mutex::named("r11.log", ());
    let (_, reports) = lockdep::capture(|| {
        let _a = accounts.a.lock();
        let _log = log.lock();
        let _b = accounts.b.lock();
    });
    assert!(!reports.is_empty(), "a, log, b: not reported");
    let l = class_name_of(
        &reports,
        "",
        "Mutex<u64>::default() at lockdep-rs/tests/review11.rs:",
    );
    expect_circular(
        "a, log, b",
        &reports,
        &l,
        "r11.log",
        &[l.clone(), "r11.log".to_string()],
    );
    // Thread 2's order alone is no new problem: the cycle was reported.
    let (_, reports) = lockdep::capture(|| {
        let _b = accounts.b.lock();
        let _log = log.lock();
    });
    assert!(
        kinds(&reports)
            .iter()
            .all(|k| *k == ReportKind::CircularDependency),
        "{reports:?}"
    );
}

/// The same under the lenient policy, for a crate's constructor wrapper: two shards with a
/// third lock between them.
#[test]
fn under_the_lenient_policy_a_lock_between_two_siblings_closes_a_cycle() {
    if !in_child(
        "under_the_lenient_policy_a_lock_between_two_siblings_closes_a_cycle",
        "lenient",
    ) {
        return;
    }
    let _dog = watchdog("lenient sibling cycle", 60);
    let (a, b) = (new_shard(), new_shard());
    let index = Mutex::named("r11.index", ());
    // Two shards nested directly stay silent (the policy's purpose) ...
    let (_, reports) = lockdep::capture(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    // ... but with `index` between them, `shard -> index -> shard` is a cycle.
    let (_, reports) = lockdep::capture(|| {
        let _a = a.lock();
        let _i = index.lock();
        let _b = b.lock();
    });
    assert!(!reports.is_empty(), "a, index, b: not reported");
    let shard = class_name_of(
        &reports,
        " (Mutex<Vec<u32>>)",
        "lockdep-rs/tests/review11.rs:",
    );
    expect_circular(
        "a, index, b",
        &reports,
        &shard,
        "r11.index",
        &[shard.clone(), "r11.index".to_string()],
    );
}

/// A lock taken with an out-of-range subclass is reported (`InvalidSubclass`) and still
/// recorded as held: re-locking it is the certain self-deadlock it is (reported, stopped
/// with a panic). Before, the acquisition went untracked and the re-lock hung (the watchdog
/// aborted the test binary).
#[test]
fn a_lock_held_with_an_invalid_subclass_relocked_is_a_certain_self_deadlock() {
    let _dog = watchdog(
        "a_lock_held_with_an_invalid_subclass_relocked_is_a_certain_self_deadlock",
        20,
    );
    let m = Mutex::named("r11.deep", 0u32);
    let (r, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.lock_nested(8);
            assert!(m.is_held(), "held, as far as lockdep can tell");
            let _again = m.lock(); // hangs if the first is unknown to lockdep
        }))
    });
    assert!(r.is_err(), "the re-lock was not stopped");
    assert_eq!(
        kinds(&reports),
        [ReportKind::InvalidSubclass, ReportKind::RecursiveLocking],
        "{reports:?}"
    );
    assert_eq!(reports[1].class_names(), ["r11.deep"]);
    assert!(!m.is_held());
    assert!(m.try_lock().is_some());
}

/// ... and the locks taken under it are ordered after it, as under any held lock.
#[test]
fn locks_taken_under_an_invalid_subclass_are_ordered_after_it() {
    let outer = Mutex::named("r11.outer", ());
    let inner = Mutex::named("r11.inner", ());
    let (_, reports) = lockdep::capture(|| {
        let _o = outer.lock_nested(9);
        let _i = inner.lock();
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::InvalidSubclass],
        "{reports:?}"
    );
    let (_, reports) = lockdep::capture(|| {
        let _i = inner.lock();
        let _o = outer.lock();
    });
    expect_circular(
        "inner, outer",
        &reports,
        "r11.outer",
        "r11.inner",
        &["r11.outer".to_string(), "r11.inner".to_string()],
    );
}

/// A raw lock made by `INIT` is the class `RawMutex#<instance>`; a bad unlock of it names
/// that class, not `RawMutex#?`.
#[test]
fn a_raw_lock_is_named_by_its_instance_in_every_report() {
    use lockdep::lock_api::{self, RawMutex as _};
    type RawMade<T> = lock_api::Mutex<lockdep::RawMutex, T>;
    let m: RawMade<u32> = RawMade::new(1);
    let x = Mutex::named("r11.raw.x", ());
    let (_, reports) = lockdep::capture(|| {
        {
            let _m = m.lock();
            let _x = x.lock();
        }
        let _x = x.lock();
        let _m = m.lock();
    });
    let name = class_name_of(&reports, "", "RawMutex#");
    assert_ne!(name, "RawMutex#?");
    let (_, reports) = lockdep::capture(|| unsafe { m.force_unlock() });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlockBalance],
        "{reports:?}"
    );
    assert_eq!(reports[0].class_names(), std::slice::from_ref(&name));
    assert!(reports[0].to_string().contains(&format!("({name})")));
    // A raw lock never taken: named by the instance it gets now.
    let fresh = lockdep::RawMutex::INIT;
    let (_, reports) = lockdep::capture(|| unsafe { fresh.unlock() });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlockBalance],
        "{reports:?}"
    );
    let fresh_name = &reports[0].class_names()[0];
    assert!(
        fresh_name.starts_with("RawMutex#") && fresh_name != "RawMutex#?" && *fresh_name != name,
        "{reports:?}"
    );
}

/// `LOCKDEP_CLASSES` other than `strict` / `lenient` (here a typo) is printed and fails the
/// run, as an unknown `LOCKDEP` value does. Before, it silently meant the default policy.
#[test]
fn an_unknown_lockdep_classes_value_fails_the_run() {
    const NAME: &str = "an_unknown_lockdep_classes_value_fails_the_run";
    if common::in_self_child(CHILD, NAME) {
        let m = Mutex::new(());
        drop(m.lock());
        return;
    }
    let (stdout, stderr, code) =
        common::run_self_with(CHILD, NAME, &[("LOCKDEP_CLASSES", "lenent")]);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("LOCKDEP_CLASSES=\"lenent\""),
        "not reported:\n{stderr}"
    );
    assert_eq!(code, Some(101), "the run passed:\n{stderr}");
}

/// Two one-time cells' classes (their construction sites, here two constructor helpers).
fn settings_cell() -> OnceLock<u32> {
    OnceLock::new()
}
fn schema_cell() -> OnceLock<u32> {
    OnceLock::new()
}

/// One thread's `settings` initializer forces `schema`, another's `schema` initializer
/// forces `settings`: each waits for the other's cell, a `CircularWait` between two classes,
/// whose names must tell them apart. (Before, both were named `OnceLock`: "the event OnceLock
/// while holding OnceLock".)
#[test]
fn two_cells_in_one_report_have_two_names() {
    let (settings, schema) = (settings_cell(), schema_cell());
    let (settings2, schema2) = (settings_cell(), schema_cell());
    let (_, reports) = lockdep::capture(|| {
        settings.get_or_init(|| *schema.get_or_init(|| 1));
        schema2.get_or_init(|| *settings2.get_or_init(|| 1));
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularWait], "{reports:?}");
    let names = reports[0].class_names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_ne!(names[0], names[1], "{names:?}");
    for n in &names {
        assert!(
            n.starts_with("OnceLock at lockdep-rs/tests/review11.rs:"),
            "{names:?}"
        );
    }
    let text = reports[0].to_string();
    assert!(text.contains(&format!("({})", names[0])), "{text}");
    assert!(text.contains(&format!("({})", names[1])), "{text}");
}

/// A constructor reified to a function pointer (a table of constructors, a struct's
/// `make: fn(T) -> Mutex<T>` field) loses its caller: `#[track_caller]` then gives a site
/// inside lockdep's own source. Every such lock of the program, whatever its type, was one
/// strict class named after that source line (`lockdep-rs/src/mutex.rs:..`), so two of them
/// nested, even of two types, were reported as recursive locking. Such a site cannot tell
/// its locks apart, as a site in std cannot (`.map(Mutex::new)`): one class per data type,
/// whose distinct locks may nest, their order checked per instance.
#[test]
fn locks_built_through_a_function_pointer_are_classes_per_type() {
    let make_count: fn(u32) -> Mutex<u32> = Mutex::new;
    let make_text: fn(String) -> Mutex<String> = Mutex::new;
    let (a, b) = (make_count(1), make_count(2));
    let text = make_text(String::new());
    let (_, reports) = lockdep::capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock(); // two locks of one type: per instance
        }
        let _a = a.lock();
        let _t = text.lock(); // two types: two classes
    });
    assert!(reports.is_empty(), "{reports:?}");
    let (_, reports) = lockdep::capture(|| {
        let _b = b.lock();
        let _a = a.lock(); // the reverse of `a`, `b`
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::InstanceInversion],
        "{reports:?}"
    );
    let names = reports[0].class_names();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(" (Mutex<u32>)"), "{names:?}");
}

/// Counts the bytes in use (for the leak test below, which runs alone in a child process).
struct Counting;

static IN_USE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        IN_USE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A worker thread that starts and joins short-lived threads (a pool whose workers spawn
/// helpers): each helper's exit event is of one class per spawn site and depth, so spawning
/// more of them keeps nothing. Before, each spawn at depth 2 or more leaked its class's name
/// (`(thread exit), depth 2`) again: 2,000 spawns kept about 44 KB. (Run alone in a child
/// process: the allocator counts the whole process.)
#[test]
fn spawning_threads_from_a_thread_keeps_no_memory_per_spawn() {
    const NAME: &str = "spawning_threads_from_a_thread_keeps_no_memory_per_spawn";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    use std::sync::atomic::Ordering::Relaxed;
    let spawn_helpers = |n: usize| {
        for _ in 0..n {
            lockdep::thread::spawn(|| {}).join().unwrap();
        }
    };
    let used = lockdep::thread::spawn(move || {
        spawn_helpers(200); // the class, its chains, std's per-thread caches
        let before = IN_USE.load(Relaxed);
        spawn_helpers(2_000);
        IN_USE.load(Relaxed) - before
    })
    .join()
    .unwrap();
    println!("2,000 spawns at depth 2 kept {used} bytes");
    assert!(used < 8_000, "2,000 spawns at depth 2 kept {used} bytes");
}

/// Review 11 left this open: every condvar's class was named `condvar` whatever its site, so
/// a report naming two condvars (or one among several in a program) did not say which. Each
/// is now named after its construction site, as one-time cells are (`condvar at
/// file:line:col`). Two condvars, each waited for under the lock its waker needs: two
/// `CircularWait`s, each naming its own condvar.
#[test]
fn two_condvars_in_reports_have_two_names() {
    let n = Mutex::named("review11.condvars.N", ());
    let m = Mutex::named("review11.condvars.M", ()); // the waits' mutex
    let (cv1, name1) = common::condvar();
    let (cv2, name2) = common::condvar();
    assert_ne!(name1, name2);
    let (_, reports) = lockdep::capture(|| {
        for cv in [&cv1, &cv2] {
            cv.arm();
            drop(n.lock()); // the waker needs N
            cv.notify_all();
        }
        for cv in [&cv1, &cv2] {
            let _held = n.lock();
            let mut g = m.lock();
            let _ = cv.wait_for(&mut g, std::time::Duration::from_millis(1)); // holding N
        }
    });
    assert_eq!(
        common::kinds_and_classes(&reports),
        [
            (
                lockdep::ReportKind::CircularWait,
                common::names(&[&name1, "review11.condvars.N"])
            ),
            (
                lockdep::ReportKind::CircularWait,
                common::names(&[&name2, "review11.condvars.N"])
            ),
        ],
        "{}",
        common::describe(&reports)
    );
}
