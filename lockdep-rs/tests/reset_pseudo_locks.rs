//! A `LockMap` held across `reset()`, which forgets the calling thread's held locks, and then
//! released: the release found no entry and was reported as `BadUnlockBalance` (a guard's
//! release of a forgotten entry is told apart by its serial; a pseudo-lock's `release()` names
//! none). Now each forgotten entry takes one release silently; a release beyond them is still
//! reported.
//!
//! This binary holds a single test: `reset()` clears the process-wide state.
#![cfg(lockdep_enabled)]

use lockdep::{LockMap, Mode, ReportKind};

#[test]
fn a_pseudo_lock_released_after_reset_is_not_an_unbalanced_unlock() {
    lockdep::set_mode(Mode::Collect);
    let map = LockMap::new("reset-pseudo.map");
    map.acquire();
    map.acquire_read();
    lockdep::reset();
    lockdep::reset(); // forgets nothing more: the first one's entries stay forgotten
    map.release();
    map.release();
    assert!(
        lockdep::take_reports().is_empty(),
        "the two entries reset() forgot take their releases"
    );
    map.release(); // one more than was ever held
    let reports = lockdep::take_reports();
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.kind(), r.class_names()))
            .collect::<Vec<_>>(),
        [(
            ReportKind::BadUnlockBalance,
            vec![String::from("reset-pseudo.map")]
        )],
    );
    // And after the reset the map is balanced as before.
    map.acquire();
    assert!(map.is_held());
    map.release();
    assert!(!map.is_held());
    assert!(lockdep::take_reports().is_empty());
}
