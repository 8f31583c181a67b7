//! Adoption trial 4 (serial_test, prometheus, flume, crossbeam-utils; see the README's "Real
//! crates, switched"). serial_test, prometheus and flume were silent, and rightly; their idioms
//! are kept here as regression tests that they stay silent. Two defects of lockdep were found,
//! reduced below with the right behaviour asserted (both fixed since): a report found in a
//! thread-local destructor escapes `capture` (crossbeam-utils), and `graph_dot` draws two
//! classes of one name as one node (flume's probe). crossbeam-utils' scoped threads' joins are
//! the documented join limit, pinned as a `limit_` test.
#![cfg(lockdep_enabled)]

use lockdep::stdsync::{Arc, Condvar, Mutex, RwLock};
use lockdep::ReportKind;

mod common;
use common::{describe, run_child};

/// The child process's cases (`TRIAL4_CASE`): a case that leaves a report outside any
/// `capture` fails the whole binary at exit, so it runs alone.
#[test]
fn child() {
    match std::env::var("TRIAL4_CASE").as_deref() {
        Ok("tls_destructor_report") => tls_destructor_report(),
        Ok("report_after_the_capture") => report_after_the_capture(),
        Ok(other) => panic!("unknown case {other}"),
        Err(_) => {} // not a child: nothing to do
    }
}

// ---------------------------------------------------------------------------------------
// crossbeam-utils 0.8.23: a lock taken in a thread-local destructor
// ---------------------------------------------------------------------------------------

static TLS_A: Mutex<u32> = Mutex::new(0);
static TLS_B: Mutex<u32> = Mutex::new(0);

/// crossbeam-utils' `ShardedLock` registers each reading thread in a global map under a
/// `Mutex` (`thread_indices()`), from a thread-local's initialiser, and unregisters it from the
/// thread-local's destructor, at thread exit. Here that destructor takes two locks, A then B.
struct Registration;
impl Drop for Registration {
    fn drop(&mut self) {
        let _a = TLS_A.lock().unwrap();
        *TLS_B.lock().unwrap() += 1; // A -> B, at thread exit
    }
}
thread_local! {
    static REGISTRATION: Registration = const { Registration };
}

/// The child: B -> A first; then, inside `capture`, a `lockdep::thread` worker whose
/// thread-local destructor takes A -> B, so the cycle is found in the destructor. Prints the
/// kinds `capture` took.
fn tls_destructor_report() {
    {
        let _b = TLS_B.lock().unwrap();
        *TLS_A.lock().unwrap() += 1; // B -> A
    }
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::spawn(|| REGISTRATION.with(|_| ()))
            .join()
            .unwrap();
    });
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    println!("captured: {kinds:?}");
}

/// A report found in a thread-local destructor of a thread started through `lockdep::thread`
/// inside `capture` belongs to that capture: the destructor runs on that thread, before its
/// join returns, and lockdep validates the locks it takes (its exit event stays armed for
/// them). Found switching crossbeam-utils 0.8.23 (`ShardedLock`'s thread registration, a
/// `Mutex` taken in a thread-local destructor; the crate's own order there is fine).
///
/// **Failed before the fix** (a lockdep defect): the thread left the capture when its body
/// returned (`thread::Child::run` dropped its capture guard before the thread-locals were
/// destroyed), so the report was not captured (`captured: []`); it was printed as found by
/// `…>worker` and failed the whole test binary at exit (status 101) instead of the test that
/// captured. Now the thread stays joined to the capture for the rest of its life.
#[test]
fn a_report_found_in_a_thread_local_destructor_is_captured() {
    let (stdout, stderr, finished) = run_child("TRIAL4_CASE", "tls_destructor_report", &[]);
    assert!(finished, "the child hung\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("captured: [CircularDependency]"),
        "the capture did not take the destructor's report\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("so it fails (exit status 101)"),
        "the report escaped the capture and failed the run\n{stderr}"
    );
}

static LATE_A: Mutex<u32> = Mutex::new(0);
static LATE_B: Mutex<u32> = Mutex::new(0);

/// The child (`LOCKDEP=collect`): B -> A; a `lockdep::thread` started inside `capture` takes
/// A -> B only after the capture returned (detached, then joined outside it). Prints what the
/// capture took and what `take_reports` kept.
fn report_after_the_capture() {
    {
        let _b = LATE_B.lock().unwrap();
        *LATE_A.lock().unwrap() += 1; // B -> A
    }
    let go = Arc::new((Mutex::new(false), Condvar::new()));
    let go2 = go.clone();
    let (worker, captured) = lockdep::capture(|| {
        lockdep::thread::spawn(move || {
            let (m, c) = &*go2;
            drop(c.wait_while(m.lock().unwrap(), |go| !*go).unwrap());
            let _a = LATE_A.lock().unwrap();
            *LATE_B.lock().unwrap() += 1; // A -> B, after the capture returned
        })
    });
    *go.0.lock().unwrap() = true;
    go.1.notify_all();
    worker.join().unwrap();
    let kinds = |r: &[lockdep::Report]| r.iter().map(|r| r.kind()).collect::<Vec<_>>();
    println!(
        "captured: {:?}; kept: {:?}",
        kinds(&captured),
        kinds(&lockdep::take_reports())
    );
}

/// A thread started inside a capture that reports after the capture returned (a detached
/// worker, or a thread-local destructor of a scoped thread, which std's `scope` does not wait
/// for) reports as if not capturing — printed, kept, failing the run — rather than into the
/// returned capture, where it would be lost. (Before the fix of the capture above, such a
/// report went into the finished capture: nobody saw it.)
#[test]
fn a_report_after_its_capture_returned_is_not_lost() {
    let (stdout, stderr, finished) = run_child(
        "TRIAL4_CASE",
        "report_after_the_capture",
        &[("LOCKDEP", "collect")],
    );
    assert!(finished, "the child hung\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("captured: []; kept: [CircularDependency]"),
        "the late report was lost\n{stdout}\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// crossbeam-utils 0.8.23, `std::thread` switched too: scoped threads joined under a lock
// ---------------------------------------------------------------------------------------

/// crossbeam-utils' `WaitGroup`, reduced: a count under a mutex, waited on with a condvar.
#[derive(Clone)]
struct WaitGroup(Arc<(Mutex<usize>, Condvar)>);
impl WaitGroup {
    fn new() -> WaitGroup {
        WaitGroup(Arc::new((Mutex::named("trial4.wg", 1), Condvar::new())))
    }
    fn add(&self) -> WaitGroup {
        *self.0 .0.lock().unwrap() += 1;
        self.clone()
    }
    fn done(&self) {
        let mut n = self.0 .0.lock().unwrap();
        *n -= 1;
        if *n == 0 {
            self.0 .1.notify_all();
        }
    }
    fn wait(&self) {
        let n = self.0 .0.lock().unwrap();
        drop(self.0 .1.wait_while(n, |n| *n > 0).unwrap());
    }
}

/// crossbeam-utils 0.8.23 `thread::scope` with `std::thread` switched (`tests/thread.rs`'s
/// `nesting`, `join_nested`, `counter`; the `thread` module's doc example), reduced: a scoped
/// thread registers the threads it spawns in the scope's shared handle list (`handles`, one
/// `Mutex`), then signals the scope's `WaitGroup`; the scope waits for the group, and only then
/// drains `handles` and joins every thread *while holding it*. The thread's last use of
/// `handles` came before its `done()`, which the scope waited for: no schedule deadlocks.
/// lockdep's join check covers the thread's whole life, so the join under `handles` is reported
/// (one `CircularWait` per spawn depth in crossbeam's suite: 8 reports, and one in a doc test).
/// Limit (README, std users; rayon-core's is the same): today one `CircularWait`; right: none.
#[test]
fn limit_scope_joins_under_the_handle_list_after_a_wait_group() {
    let handles: Arc<Mutex<Vec<lockdep::thread::JoinHandle<()>>>> =
        Arc::new(Mutex::named("trial4.handles", Vec::new()));
    let ((), reports) = lockdep::capture(|| {
        let wg = WaitGroup::new();
        let (h2, wg2) = (handles.clone(), wg.add());
        let outer = lockdep::thread::spawn(move || {
            let inner = lockdep::thread::spawn(|| {});
            h2.lock().unwrap().push(inner); // a nested spawn registers its handle
            wg2.done();
        });
        handles.lock().unwrap().push(outer);
        wg.done();
        wg.wait(); // every scoped thread is done with `handles`
        let mut list = handles.lock().unwrap();
        for h in list.drain(..) {
            h.join().unwrap(); // under `handles`
        }
    });
    assert_eq!(
        reports.iter().map(|r| r.kind()).collect::<Vec<_>>(),
        vec![ReportKind::CircularWait],
        "{}",
        describe(&reports)
    );
}

// ---------------------------------------------------------------------------------------
// The silent idioms: serial_test, prometheus, flume
// ---------------------------------------------------------------------------------------

/// serial_test 3.5.0 (`rwlock.rs`, parking_lot renamed): each key has a state `Mutex`, a
/// `Condvar` and a `ReentrantMutex`; `serial()` takes the state mutex, *tries* the reentrant
/// lock, and returns holding only the reentrant lock (the state guard released first, out of
/// order), waiting on the condvar (`wait_for`) while it cannot. A test with keys `a, b` holds
/// `a`'s reentrant lock while it takes `b`'s state mutex and tries `b`'s reentrant lock; a
/// nested `#[serial(a)]` function re-enters `a`. Every key's locks are built in one
/// constructor: one class each. Silent, and rightly (the keys are sorted, the reentrant lock
/// only ever tried).
#[test]
fn serial_test_keys_are_silent() {
    use lockdep::{Condvar, Mutex, ReentrantMutex, ReentrantMutexGuard};
    use std::time::Duration;
    struct Locks {
        state: Mutex<u32>,
        serial: ReentrantMutex<()>,
        cv: Condvar,
    }
    fn locks() -> Arc<Locks> {
        Arc::new(Locks {
            state: Mutex::new(0),
            serial: ReentrantMutex::new(()),
            cv: Condvar::new(),
        })
    }
    fn serial(l: &Locks) -> ReentrantMutexGuard<'_, ()> {
        let mut state = l.state.lock();
        loop {
            if *state == 0 {
                if let Some(g) = l.serial.try_lock() {
                    return g;
                }
            }
            l.cv.wait_for(&mut state, Duration::from_millis(10));
        }
    }
    let (a, b) = (locks(), locks());
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let ga = serial(&a);
                        let gb = serial(&b);
                        let again = serial(&a); // a nested #[serial(a)] function
                        drop(again);
                        drop(ga); // released in the order taken, as serial_test's Vec of guards
                        a.cv.notify_one();
                        drop(gb);
                        b.cv.notify_one();
                    }
                });
            }
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// prometheus 0.14.0 (parking_lot renamed and `std::sync` switched): `Registry::gather` holds
/// the registry's `RwLock` (built by `Arc::default()`) for read while each collector collects:
/// a metric vector reads its children map, a histogram takes its `collect_lock`, a custom
/// collector its own lock; registering takes the registry for write alone. Silent (acyclic).
#[test]
fn prometheus_gather_is_silent() {
    struct Registry(Arc<lockdep::RwLock<Vec<usize>>>);
    let registry = Registry(Arc::default());
    let children = lockdep::RwLock::new(vec![0u64; 4]);
    let collect_lock = Mutex::new(0u64);
    let custom = Mutex::new(0u32);
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..100 {
                    registry.0.write().push(i); // register
                    children.write()[i % 4] += 1; // with_label_values, new child
                }
            });
            s.spawn(|| {
                for _ in 0..100 {
                    let r = registry.0.read(); // gather, each collector under it
                    let total: u64 = children.read().iter().sum();
                    *collect_lock.lock().unwrap() = total;
                    *custom.lock().unwrap() += 1;
                    drop(r);
                }
            });
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// flume 0.11.1 (`std::sync` and `std::thread` switched): a channel's queue under a `Mutex`;
/// a blocked receiver's or sender's hook holds its slot in a `Mutex` of its own, filled and
/// emptied under the channel's lock (`fire_send`, `pull_pending`) and alone by the waiter after
/// `thread::park` wakes it. Silent (channel -> slot only).
#[test]
fn flume_hooks_are_silent() {
    struct Hook(Mutex<Option<u32>>, std::thread::Thread);
    let chan: Mutex<Vec<Arc<Hook>>> = Mutex::new(Vec::new());
    let queue = RwLock::new(0u32);
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..20 {
                    let hook = Arc::new(Hook(Mutex::new(None), lockdep::thread::current()));
                    chan.lock().unwrap().push(hook.clone());
                    loop {
                        if let Some(_m) = hook.0.lock().unwrap().take() {
                            break;
                        }
                        lockdep::thread::park_timeout(std::time::Duration::from_millis(1));
                    }
                }
            });
            s.spawn(|| {
                let mut sent = 0;
                while sent < 20 {
                    let mut c = chan.lock().unwrap();
                    if let Some(h) = c.pop() {
                        *h.0.lock().unwrap() = Some(sent); // fire_send under the channel lock
                        h.1.unpark();
                        sent += 1;
                    }
                    drop(c);
                    *queue.write().unwrap() += 1;
                    lockdep::thread::yield_now();
                }
            });
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

// ---------------------------------------------------------------------------------------
// The graph, drawn: flume's probe (producers and consumers spawned from two sites)
// ---------------------------------------------------------------------------------------

/// `lockdep::graph_dot()` draws each class as its own node. Found drawing the graph of a flume
/// 0.11.1 probe (producer and consumer threads spawned through `lockdep::thread::scope` from
/// two sites, each taking the channel's lock): each spawn site's thread-exit event is a class
/// of its own, but both are named `(thread exit)`, and the DOT text uses the name as the node's
/// identifier, so Graphviz draws one node with both classes' edges (and an edge of each,
/// doubled). Classes named alike at two sites (`Mutex::named("x", ..)` twice) would merge too.
///
/// **Failed before the fix** (a lockdep defect, in the picture only: the graph itself kept the
/// classes apart): the DOT text declared the node `"(thread exit)"` twice. Now the second is
/// `"(thread exit) #2"`, labelled `(thread exit)`.
#[test]
fn graph_dot_draws_two_classes_of_one_name_as_two_nodes() {
    let chan = Mutex::named("trial4.dot.chan", 0i32);
    lockdep::thread::scope(|s| {
        s.spawn(|| *chan.lock().unwrap() += 1); // producers' site
        s.spawn(|| *chan.lock().unwrap() -= 1); // consumers' site
    });
    let dot = lockdep::graph_dot();
    // Node declarations: `"<id>" [label="<name>"...];` (edges have `->`).
    let nodes: Vec<(&str, &str)> = dot
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| l.trim().split_once(" [label="))
        .collect();
    let mut ids = std::collections::HashSet::new();
    let declared_twice: Vec<&str> = nodes
        .iter()
        .map(|n| n.0)
        .filter(|id| !ids.insert(*id))
        .collect();
    assert!(
        declared_twice.is_empty(),
        "nodes declared twice: {declared_twice:?}\n{dot}"
    );
    // Both spawn sites' exit events are there, each a node of its own.
    let exits = nodes
        .iter()
        .filter(|n| n.1.starts_with("\"(thread exit)\""))
        .count();
    assert!(
        exits >= 2,
        "two classes named (thread exit) drawn as {exits} node(s)\n{dot}"
    );
}
