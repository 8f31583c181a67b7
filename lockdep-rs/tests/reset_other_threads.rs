//! Issue 12, item 11: `reset()` while another thread holds locks. That thread's held stack
//! survives, but the edges between its held locks were cleared with the graph: taking `Z`
//! while holding `X, Y` recorded only `Y -> Z`, so another thread's `Z -> X` was never
//! reported. A thread whose held locks predate the reset records their edges again before
//! its next validation.
//!
//! This binary holds a single test: `reset()` clears the process-wide graph.
#![cfg(lockdep_enabled)]

use std::sync::mpsc;
use std::sync::Arc;

use lockdep::{Mode, Mutex, ReportKind};

#[test]
fn locks_held_across_reset_keep_their_order() {
    lockdep::set_mode(Mode::Collect);
    let locks = Arc::new((
        Mutex::named("rot.X", ()),
        Mutex::named("rot.Y", ()),
        Mutex::named("rot.Z", ()),
    ));
    let (holding_tx, holding_rx) = mpsc::channel();
    let (reset_tx, reset_rx) = mpsc::channel::<()>();
    let l = locks.clone();
    let holder = std::thread::spawn(move || {
        let _x = l.0.lock();
        let _y = l.1.lock();
        holding_tx.send(()).unwrap();
        reset_rx.recv().unwrap();
        let _z = l.2.lock(); // Y -> Z, and X -> Y again
    });
    holding_rx.recv().unwrap();
    lockdep::reset();
    reset_tx.send(()).unwrap();
    holder.join().unwrap();
    let (_, reports) = lockdep::capture(|| {
        let _z = locks.2.lock();
        let _x = locks.0.lock(); // Z -> X closes X -> Y -> Z -> X
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    assert_eq!(reports[0].class_names(), ["rot.X", "rot.Y", "rot.Z"]);
}
