//! Generated programs for where a report goes when it is found on a thread started through
//! `lockdep::thread` inside a `capture` (validation on, `Mode::Collect`): in its body or in a
//! thread-local destructor, joined inside the capture or only after it returned, spawned
//! directly or in a `scope`, under one or two nested captures.
//!
//! The rule: a report found while the capture the thread was started in is still running
//! belongs to that capture (the innermost one); a report found after it returned is reported
//! as if not capturing (here: kept for `take_reports`). Never lost, never both. Where the
//! timing is fixed by the program (a thread joined inside the capture; a detached thread
//! released only after it returned) the place is exact; a scoped thread's thread-local
//! destructor may run after `scope` returns (std's `scope` waits for the threads' bodies, not
//! their destructors), so there either place is right, but exactly one.
//!
//! The family of trial 4's defects (a destructor's report escaping the capture; a late
//! report lost in a finished capture). `PROPTEST_CASES` sets the number of programs (default
//! 300).
#![cfg(lockdep_enabled)]

mod common;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use lockdep::{Mode, ReportKind};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Spawn {
    /// `lockdep::thread::spawn`, joined inside the capture.
    Joined,
    /// `lockdep::thread::spawn`, released and joined only after the capture returned.
    Detached,
    /// In a `lockdep::thread::scope` inside the capture, left to the scope's implicit join.
    Scoped,
    /// In a `lockdep::thread::scope`, joined through its handle (which waits for the thread's
    /// end, destructors included).
    ScopedJoined,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    spawn: Spawn,
    /// The report is found in a thread-local destructor (else in the body).
    in_destructor: bool,
    /// Under two nested captures (the inner one takes it), or one.
    nested: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            Just(Spawn::Joined),
            Just(Spawn::Detached),
            Just(Spawn::Scoped),
            Just(Spawn::ScopedJoined)
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(spawn, in_destructor, nested)| Case {
            spawn,
            in_destructor,
            nested,
        })
}

type Pair = (&'static lockdep::Mutex<()>, &'static lockdep::Mutex<()>);

/// A fresh pair of locks already taken B -> A (taking A -> B is a new `CircularDependency`),
/// and A's name.
fn fresh_pair() -> (Pair, &'static str) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = |s: &str| &*Box::leak(format!("gen.capture.{n}.{s}").into_boxed_str());
    let a = &*Box::leak(Box::new(lockdep::Mutex::named(name("A"), ())));
    let b = &*Box::leak(Box::new(lockdep::Mutex::named(name("B"), ())));
    let ((), _) = lockdep::capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    });
    ((a, b), name("A"))
}

/// Takes A -> B when dropped (at thread exit, as a thread-local).
struct AtExit(RefCell<Option<Pair>>);
impl Drop for AtExit {
    fn drop(&mut self) {
        if let Some((a, b)) = self.0.borrow_mut().take() {
            let _a = a.lock();
            let _b = b.lock();
        }
    }
}
thread_local! {
    static AT_EXIT: AtExit = const { AtExit(RefCell::new(None)) };
}

/// The worker: A -> B in its body, or arms its destructor to do it.
fn work(c: Case, pair: Pair) {
    if c.in_destructor {
        AT_EXIT.with(|x| *x.0.borrow_mut() = Some(pair));
    } else {
        let _a = pair.0.lock();
        let _b = pair.1.lock();
    }
}

/// Runs one case; returns how many `CircularDependency` reports of its pair the capture took
/// and how many were kept for `take_reports`.
fn run(c: Case) -> (usize, usize) {
    let (pair, a_name) = fresh_pair();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let mut go_tx = Some(go_tx);
    let mut detached = None;
    let mut go_rx = Some(go_rx);
    let mut body = || match c.spawn {
        Spawn::Joined => lockdep::thread::spawn(move || work(c, pair))
            .join()
            .unwrap(),
        Spawn::Detached => {
            let rx = go_rx.take().unwrap();
            detached = Some(lockdep::thread::spawn(move || {
                rx.recv().unwrap();
                work(c, pair)
            }));
        }
        Spawn::Scoped => lockdep::thread::scope(|s| {
            s.spawn(move || work(c, pair));
        }),
        Spawn::ScopedJoined => lockdep::thread::scope(|s| {
            s.spawn(move || work(c, pair)).join().unwrap();
        }),
    };
    let ((), captured) = if c.nested {
        let (((), inner), outer) = lockdep::capture(|| lockdep::capture(&mut body));
        assert!(outer.is_empty(), "the outer capture took {outer:?}");
        ((), inner)
    } else {
        lockdep::capture(&mut body)
    };
    if let Some(h) = detached {
        // The worker goes on only now: the capture has returned.
        go_tx.take().unwrap().send(()).unwrap();
        h.join().unwrap();
    }
    let mine = |r: &lockdep::Report| {
        r.kind() == ReportKind::CircularDependency && r.class_names().iter().any(|n| n == a_name)
    };
    let captured = captured.iter().filter(|r| mine(r)).count();
    // A scoped thread's destructor may still be running: wait (a while) for its report.
    let mut kept = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        kept += lockdep::take_reports().iter().filter(|r| mine(r)).count();
        if captured + kept > 0 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    (captured, kept)
}

#[test]
fn reports_of_threads_started_in_a_capture_go_to_it_or_stay_global_never_lost() {
    let _dog = common::watchdog(
        "reports_of_threads_started_in_a_capture_go_to_it_or_stay_global_never_lost",
        120,
    );
    lockdep::set_mode(Mode::Collect);
    let mut runner = common::generator(300);
    let result = runner.run(&case(), |c| {
        let (captured, kept) = run(c);
        let expected = match c.spawn {
            Spawn::Joined | Spawn::ScopedJoined => Some((1, 0)),
            Spawn::Detached => Some((0, 1)),
            // The body runs before `scope` returns; a destructor may run after.
            Spawn::Scoped if !c.in_destructor => Some((1, 0)),
            Spawn::Scoped => None,
        };
        match expected {
            Some(e) => prop_assert_eq!((captured, kept), e, "{:?}", c),
            None => prop_assert_eq!(captured + kept, 1, "{:?}: lost or doubled", c),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
