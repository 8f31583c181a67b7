//! `reset()` forgets the calling thread's held locks. A guard that outlives it releases
//! quietly: no `BadUnlockBalance`, and it never takes away an entry pushed after the reset.
//!
//! This binary holds a single test: `reset()` clears the process-wide graph.
#![cfg(lockdep_enabled)]

use lockdep::{Mode, Mutex, RwLock};

#[test]
fn guards_that_outlive_reset_release_quietly() {
    // Panic mode: a false report would fail the test by panicking.
    lockdep::set_mode(Mode::Panic);
    let m = Mutex::named("reset.m", ());
    let rw = RwLock::named("reset.rw", ());

    let g = m.lock();
    lockdep::reset();
    assert!(!lockdep::is_held(&m), "reset forgets held locks");
    drop(g);

    // The old read guard must not release the new read guard's entry.
    let g1 = rw.read();
    lockdep::reset();
    let g2 = rw.read();
    drop(g1);
    assert!(
        lockdep::is_held(&rw),
        "the read guard taken after the reset is still held"
    );
    drop(g2);
    assert!(!lockdep::is_held(&rw));

    // Validation goes on as usual after a reset.
    {
        let _m = m.lock();
        let _r = rw.write();
    }
    lockdep::set_mode(Mode::Collect);
    let _ = lockdep::take_reports();
    let (_, reports) = lockdep::capture(|| {
        let _r = rw.write();
        let _m = m.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), lockdep::ReportKind::CircularDependency);
    assert!(lockdep::take_reports().is_empty());
}
