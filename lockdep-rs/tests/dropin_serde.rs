//! The `serde` feature (parking_lot's): a lock serializes as its data, taken under the lock,
//! and deserializes from it; each deserialized lock is its own class (`Mutex#id`, ...).
//! Runs when the feature is on (`cargo test -p lockdep --features enabled,serde`; the
//! workspace's tests turn it on through the parking_lot fixture).
#![cfg(all(lockdep_enabled, feature = "serde", not(loom)))]

use lockdep::{capture, FairMutex, Mutex, ReentrantMutex, ReportKind, RwLock};

#[test]
fn locks_round_trip_through_serde() {
    let m = Mutex::named("serde.M", vec![1, 2]);
    let f = FairMutex::named("serde.F", 3u8);
    let rw = RwLock::named("serde.RW", "x".to_string());
    let re = ReentrantMutex::named("serde.RE", (4, 5));
    let (text, r) = capture(|| {
        let _outer = re.lock(); // the holder of a reentrant mutex may serialize it
        serde_json::to_string(&(&m, &f, &rw, &re)).unwrap()
    });
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(text, r#"[[1,2],3,"x",[4,5]]"#);
    type All = (
        Mutex<Vec<i32>>,
        FairMutex<u8>,
        RwLock<String>,
        ReentrantMutex<(i32, i32)>,
    );
    let (m2, f2, rw2, re2): All = serde_json::from_str(&text).unwrap();
    assert_eq!(*m2.lock(), [1, 2]);
    assert_eq!(*f2.lock(), 3);
    assert_eq!(*rw2.read(), "x");
    assert_eq!(*re2.lock(), (4, 5));
}

/// Serializing takes the lock like any acquisition: validated, so an inversion through it
/// is reported.
#[test]
fn serializing_is_a_validated_acquisition() {
    let a = Mutex::named("serde.A", 1);
    let b = RwLock::named("serde.B", 2);
    let (_, r) = capture(|| {
        {
            let _a = a.lock();
            serde_json::to_string(&b).unwrap(); // A -> B
        }
        let _b = b.write();
        serde_json::to_string(&a).unwrap(); // B -> A
    });
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [ReportKind::CircularDependency]
    );
    let mut names = r[0].class_names();
    names.sort();
    assert_eq!(names, ["serde.A", "serde.B"]);
}

/// Deserialized locks have no construction site: each is its own class, so two of them
/// nested are no recursive locking, and their inversion is reported by instance.
#[test]
fn each_deserialized_lock_is_its_own_class() {
    let (x, y): (Mutex<u8>, Mutex<u8>) = serde_json::from_str("[1,2]").unwrap();
    let (_, r) = capture(|| {
        {
            let _x = x.lock();
            let _y = y.lock(); // two locks of one type, nested: no report
        }
        let _y = y.lock();
        let _x = x.lock(); // Y -> X closes the cycle
    });
    assert_eq!(
        r.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        [ReportKind::CircularDependency]
    );
    let names = r[0].class_names();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with("Mutex#")), "{names:?}");
    let rw: RwLock<u8> = serde_json::from_str("7").unwrap();
    let re: ReentrantMutex<u8> = serde_json::from_str("8").unwrap();
    let (_, r) = capture(|| {
        let _w = rw.write();
        let _r = re.lock();
        let _x = x.lock();
    });
    assert!(r.is_empty(), "{r:?}");
}
