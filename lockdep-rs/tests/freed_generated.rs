#![cfg(all(lockdep_enabled, not(loom)))]
//! Generated programs for locks freed on another thread than their holder's
//! (`freed_elsewhere.rs` pins the cases found by hand). Thread T takes up to five locks of
//! every kind — a mutex, an `RwLock` read or written, a `LockMap`, an armed `Event` — one
//! under the other, then lets some go (in a generated order) and *forgets* the others (a
//! guard `mem::forget`ten, a map never released, an event never signalled); thread U drops the
//! last `Arc` of every lock (in another generated order), then T takes two more locks and
//! exits. Before T's turn, U took a witness lock `X` and then each of T's locks (`X -> lock`
//! for each), so an entry T kept of a dead lock would make T's `X` a false cycle.
//!
//! What must hold: U reports each forgotten lock once (`HeldLockFreed` of its class; an event
//! is not a lock: nothing), and nothing else is reported — no cycle through a dead entry, no
//! `LocksHeldAtExit` for one at T's exit, no bad unlock. `PROPTEST_CASES` sets the number of
//! programs (default 300; each runs two threads).

use std::sync::mpsc;
use std::sync::Arc;

use lockdep::{Event, LockClass, LockMap, Mutex, ReportKind, RwLock};
use proptest::prelude::*;

mod common;

/// A lock of the program, shared by T and U.
#[derive(Clone)]
enum Lock {
    Mutex(Arc<Mutex<()>>),
    Read(Arc<RwLock<()>>),
    Write(Arc<RwLock<()>>),
    Map(Arc<LockMap>),
    Event(Arc<Event>),
}

/// What holding a lock takes: a guard (dropped to let go), or nothing (a map released, an
/// event signalled).
#[allow(dead_code)] // the guards are held, not read
enum Hold<'a> {
    Mutex(lockdep::MutexGuard<'a, ()>),
    Read(lockdep::RwLockReadGuard<'a, ()>),
    Write(lockdep::RwLockWriteGuard<'a, ()>),
    Nothing,
}

impl Lock {
    /// `kind`: 0 mutex, 1 read, 2 write, 3 map, 4 event (one map and one event at most: their
    /// class is their construction site).
    fn new(kind: u8, class: &'static LockClass) -> Lock {
        match kind {
            0 => Lock::Mutex(Arc::new(Mutex::with_class(class, ()))),
            1 => Lock::Read(Arc::new(RwLock::with_class(class, ()))),
            2 => Lock::Write(Arc::new(RwLock::with_class(class, ()))),
            3 => Lock::Map(Arc::new(LockMap::new("gen.freed.map"))),
            _ => Lock::Event(Arc::new(Event::new("gen.freed.event"))),
        }
    }

    fn take(&self) -> Hold<'_> {
        match self {
            Lock::Mutex(m) => Hold::Mutex(m.lock()),
            Lock::Read(l) => Hold::Read(l.read()),
            Lock::Write(l) => Hold::Write(l.write()),
            Lock::Map(m) => {
                m.acquire();
                Hold::Nothing
            }
            Lock::Event(e) => {
                e.arm();
                Hold::Nothing
            }
        }
    }

    fn let_go(&self, hold: Hold<'_>) {
        match self {
            Lock::Map(m) => m.release(),
            Lock::Event(e) => e.signal(),
            _ => drop(hold),
        }
    }

    /// U's order `x -> self`, taken and let go at once (an event is waited for: it does not
    /// block, nobody having armed it yet).
    fn after(&self, x: &Mutex<()>) {
        let _x = x.lock();
        match self {
            Lock::Event(e) => e.wait(),
            _ => {
                let hold = self.take();
                self.let_go(hold);
            }
        }
    }
}

/// One program: the kinds of T's locks with whether T forgets each, T's order of letting go,
/// U's order of freeing.
#[derive(Debug, Clone)]
struct Program {
    locks: Vec<(u8, bool)>,
    let_go: Vec<usize>,
    free: Vec<usize>,
}

fn program() -> impl Strategy<Value = Program> {
    prop::collection::vec((0..5u8, any::<bool>()), 1..=5)
        .prop_map(|mut locks| {
            // One map and one event at most (the others become mutexes).
            for kind in [3, 4] {
                let mut seen = false;
                for (k, _) in locks.iter_mut().filter(|(k, _)| *k == kind) {
                    if seen {
                        *k = 0;
                    }
                    seen = true;
                }
            }
            locks
        })
        .prop_flat_map(|locks| {
            let n = locks.len();
            let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
            (Just(locks), order.clone(), order)
        })
        .prop_map(|(locks, let_go, free)| Program {
            locks,
            let_go,
            free,
        })
}

/// The class name the reports of lock `i` of program `n`, of kind `kind`, show.
fn class_name(kind: u8, n: usize, i: usize) -> String {
    match kind {
        3 => "gen.freed.map".to_string(),
        4 => "gen.freed.event".to_string(),
        _ => format!("gen.freed.{n}.L{i}"),
    }
}

/// A fresh class `gen.freed.<n>.<what>`.
fn class(n: usize, what: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("gen.freed.{n}.{what}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

/// Runs program `n`; returns its reports.
fn run(n: usize, p: &Program) -> Vec<lockdep::Report> {
    let x = Mutex::with_class(class(n, "X"), ());
    let y = Mutex::with_class(class(n, "Y"), ());
    let names: Vec<&'static LockClass> = (0..p.locks.len())
        .map(|i| class(n, &format!("L{i}")))
        .collect();
    let locks: Vec<Lock> = p
        .locks
        .iter()
        .zip(&names)
        .map(|(&(kind, _), &c)| Lock::new(kind, c))
        .collect();
    let (held_tx, held_rx) = mpsc::channel();
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let ((), reports) = lockdep::capture(|| {
        for l in &locks {
            l.after(&x);
        }
        let mine = locks.clone();
        let mut locks: Vec<Option<Lock>> = locks.into_iter().map(Some).collect();
        lockdep::thread::scope(|s| {
            let (x, y) = (&x, &y);
            s.spawn(move || {
                {
                    let mut holds: Vec<Option<Hold<'_>>> =
                        mine.iter().map(|l| Some(l.take())).collect();
                    for &i in &p.let_go {
                        let hold = holds[i].take().expect("taken once");
                        if p.locks[i].1 {
                            std::mem::forget(hold); // held for ever, as far as T knows
                        } else {
                            mine[i].let_go(hold);
                        }
                    }
                }
                drop(mine);
                held_tx.send(()).unwrap();
                freed_rx.recv().unwrap();
                // The forgotten locks are gone: nothing T takes now is ordered after them.
                let _x = x.lock();
                let _y = y.lock();
            });
            held_rx.recv().unwrap();
            for &i in &p.free {
                // The last `Arc`: freed here, on U.
                drop(locks[i].take());
            }
            freed_tx.send(()).unwrap();
        });
    });
    reports
}

#[test]
fn locks_freed_on_another_thread_are_reported_once_and_forgotten_by_their_holder() {
    let _watchdog = common::watchdog("freed_generated", 300);
    let mut runner = common::generator(300);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&program(), |p| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reports = run(n, &p);
        let mut expected: Vec<(ReportKind, Vec<String>)> = p
            .free
            .iter()
            .filter(|&&i| p.locks[i].1 && p.locks[i].0 != 4)
            .map(|&i| {
                let name = class_name(p.locks[i].0, n, i);
                (ReportKind::HeldLockFreed, vec![name])
            })
            .collect();
        let mut got = common::kinds_and_classes(&reports);
        expected.sort_by_key(|(k, c)| (format!("{k:?}"), c.clone()));
        got.sort_by_key(|(k, c)| (format!("{k:?}"), c.clone()));
        prop_assert_eq!(got, expected, "{}", common::describe(&reports));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
