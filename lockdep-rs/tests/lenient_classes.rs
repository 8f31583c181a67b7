//! The lenient class policy (`LOCKDEP_CLASSES=lenient`, or the `drop-in` feature): for code
//! switched over from parking_lot or std unchanged, whose constructor wrapper (quick_cache's
//! `RwLock::new`, tracing-subscriber's `sync::RwLock::new`) makes every lock of the crate one
//! class. Two distinct locks of such a site may nest; their order is checked per instance, so
//! a real inversion between them is still found. The policy is read once per process: the
//! test runs itself in a child process with the variable set.
#![cfg(lockdep_enabled)]

use lockdep::{ReportKind, RwLock};

mod common;
use common::in_child;

/// A crate's own constructor wrapper: every lock it builds comes from this one site.
struct Shard(RwLock<Vec<u32>>);

impl Shard {
    fn new() -> Shard {
        Shard(RwLock::new(Vec::new()))
    }
}

#[test]
fn constructor_wrappers_under_the_lenient_policy() {
    if !in_child("constructor_wrappers_under_the_lenient_policy", "lenient") {
        return;
    }
    let shards: Vec<Shard> = (0..3).map(|_| Shard::new()).collect();
    // Two shards nested (quick_cache's `test_entry_actions`): no recursive locking.
    let (_, reports) = lockdep::capture(|| {
        let _a = shards[0].0.write();
        let _b = shards[1].0.write();
        let _c = shards[2].0.read();
    });
    assert!(reports.is_empty(), "{reports:?}");
    // The same two shards the other way round: an inversion between instances, found.
    let (_, reports) = lockdep::capture(|| {
        let _b = shards[1].0.write();
        let _a = shards[0].0.write();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
    // The very same lock twice is still a certain self-deadlock.
    let (r, reports) = lockdep::capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _a = shards[0].0.write();
            let _again = shards[0].0.write();
        }))
    });
    assert!(r.is_err());
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    // A constructor helper generic over the data type: its one site builds locks of several
    // types, which are classes of their own under the policy (named after the type), so
    // `config -> log` and `log -> sessions` is no cycle.
    let (config, sessions) = (new_lock(Config), new_lock(Sessions));
    let log = lockdep::Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _c = config.lock();
            let _l = log.lock();
        }
        let _l = log.lock();
        let _s = sessions.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    // ... and an inversion between them is found as between any two classes.
    let (_, reports) = lockdep::capture(|| {
        let _s = sessions.lock();
        let _c = config.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let names = reports[0].class_names();
    assert!(
        names.iter().any(|n| n.ends_with("(Mutex<Config>)")),
        "{names:?}"
    );
    // A safe lock built on a raw lock made by `INIT` (`const_new`) is named after its own
    // kind, not the raw lock's: two of one type through a third lock are one class, the
    // documented limit, so this is a report whose names say `Mutex<u32>`.
    let (p, q) = (raw_made(1u32), raw_made(2u32));
    let audit = lockdep::Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _p = p.lock();
            let _a = audit.lock();
        }
        let _a = audit.lock();
        let _q = q.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let names = reports[0].class_names();
    assert!(
        names.iter().any(|n| n.ends_with("(Mutex<u32>)")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("RawMutex<")), "{names:?}");
}

struct Config;
struct Sessions;

/// A crate's helper building lock_api-style locks on a raw lock made by `INIT`.
fn raw_made<T>(value: T) -> lockdep::Mutex<T> {
    lockdep::Mutex::const_new(
        <lockdep::RawMutex as lockdep::lock_api::RawMutex>::INIT,
        value,
    )
}

/// A crate's generic constructor helper (the site of every lock it builds).
fn new_lock<T>(value: T) -> lockdep::Mutex<T> {
    lockdep::Mutex::new(value)
}
