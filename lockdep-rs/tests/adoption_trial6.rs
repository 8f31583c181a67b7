//! Adoption trial 6 (std users of the smol ecosystem: async-executor, blocking; see the
//! README's "Real crates, switched"). No false report was found: both suites were silent, and
//! rightly; their idioms are kept here as regression tests that they stay silent. The one
//! report, in trial 6's probe, is true: `Executor::spawn_many` runs the caller's iterator under
//! the executor's task lock, so an iterator that takes a lock which another thread holds while
//! it spawns deadlocks (async-executor's docs warn that the iterator must not block; the
//! published crate hangs so), reduced with the report asserted. Two limits, pinned as `limit_`
//! tests: a thread that blocks (`future::block_on`, a park) on a task that needs a lock it
//! holds is not seen (the park-based wait of trial 5), and a pool whose workers spawn their
//! successors (blocking's `grow_pool`) gets a new thread-exit class per generation.
#![cfg(lockdep_enabled)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lockdep::stdsync::{Arc, Condvar, Mutex, RwLock};

mod common;
use common::{describe, expect_circular};

// ---------------------------------------------------------------------------------------
// async-executor 1.14.1: the executor's state
// ---------------------------------------------------------------------------------------

/// async-executor 1.14.1's `State` (`src/lib.rs`), reduced: `active`, the slab of the live
/// tasks' wakers (`Mutex<Slab<Waker>>`); `sleepers`, the sleeping tickers' wakers
/// (`Mutex<Sleepers>`); `local_queues`, the runners' queues (`RwLock<Vec<..>>`). Every
/// executor's are built in `State::new` (a `const fn`): one class each.
struct State {
    active: Mutex<Vec<u32>>,
    sleepers: Mutex<Vec<u32>>,
    local_queues: RwLock<Vec<u32>>,
}

impl State {
    fn new() -> State {
        State {
            active: Mutex::named("trial6.executor.active", Vec::new()),
            sleepers: Mutex::named("trial6.executor.sleepers", Vec::new()),
            local_queues: RwLock::named("trial6.executor.local_queues", Vec::new()),
        }
    }

    /// `State::notify`: the sleepers' lock, taken alone; the waker it returns is woken after.
    fn notify(&self) {
        let waker = self.sleepers.lock().unwrap().pop();
        let _ = waker; // (`w.wake()`)
    }

    /// `Executor::spawn_inner`, under `active`: the task registered, then scheduled
    /// (`runnable.schedule()`: the queue pushed and a sleeper notified).
    fn spawn_inner(&self, active: &mut Vec<u32>, task: u32) {
        active.push(task);
        self.notify();
    }

    /// `Executor::spawn`.
    fn spawn(&self, task: u32) {
        let mut active = self.active.lock().unwrap();
        self.spawn_inner(&mut active, task);
    }

    /// `Executor::spawn_many`: the caller's iterator is run under `active` (the lock is let go
    /// and taken again every 500 tasks).
    fn spawn_many(&self, futures: impl IntoIterator<Item = u32>) {
        let mut active = self.active.lock().unwrap();
        for (i, task) in futures.into_iter().enumerate() {
            self.spawn_inner(&mut active, task);
            if i.wrapping_sub(1) % 500 == 0 {
                drop(active);
                active = self.active.lock().unwrap();
            }
        }
    }

    /// A task's end (`AsyncCallOnDrop`'s cleanup): its slot removed under `active`.
    fn finish(&self, task: u32) {
        self.active.lock().unwrap().retain(|t| *t != task);
    }

    /// `Ticker::sleep` / `wake`: the sleepers' lock alone.
    fn sleep(&self, id: u32) {
        self.sleepers.lock().unwrap().push(id);
    }

    /// `Runner::new` / `Drop`: the local queues written; `Runner::runnable` steals under a
    /// `try_read` (a failed try leaves no trace).
    fn runner(&self, id: u32) {
        self.local_queues.write().unwrap().push(id);
        if let Ok(q) = self.local_queues.try_read() {
            let _ = q.len();
        }
        self.local_queues.write().unwrap().retain(|q| *q != id);
    }

    /// `Executor::drop`: every live task's waker woken under `active` (each wake schedules
    /// the task: a sleeper notified), then the queue drained.
    fn drop_executor(&self) {
        let mut active = self.active.lock().unwrap();
        for _ in active.drain(..) {
            self.notify();
        }
    }
}

/// async-executor 1.14.1, `std::sync` switched (and `std::thread`, the `+ thread` row):
/// `spawn` takes `active`, and schedules the new task under it (`sleepers` taken inside:
/// `active -> sleepers`); a task's end takes `active` alone; a ticker going to sleep or waking
/// takes `sleepers` alone; a runner registers in `local_queues`; `Executor::drop` wakes the
/// live tasks under `active`. The user's side: a task spawned under a user lock (`user ->
/// active`), a waker kept in a user `Mutex` and woken under it (`wakers -> sleepers`), and a
/// `LocalExecutor` task holding a std lock across an `.await` (its thread holds it while the
/// executor runs its other tasks and registers its runner: `local -> active`, `-> sleepers`,
/// `-> local_queues`). The suite (44 tests) and trial 6's probe (4 runner threads, 60 task
/// trees three deep spawning, cancelling, detaching and awaiting children, `spawn_many`, an
/// executor run inside another's task, `blocking::unblock` calls, a `LocalExecutor` dropped
/// with a task holding a lock, the executor dropped with 20 tasks pending) recorded just these
/// edges, acyclic: silent, and rightly. Here on 4 threads, lenient policy or not.
#[test]
fn async_executor_state_is_silent() {
    let ex = State::new();
    let user = Mutex::named("trial6.executor.user", 0u64);
    let wakers = Mutex::named("trial6.executor.wakers", Vec::<u32>::new());
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            for t in 0..4u32 {
                let (ex, user, wakers) = (&ex, &user, &wakers);
                s.spawn(move || {
                    ex.runner(t);
                    for i in 0..200u32 {
                        let task = t * 1000 + i;
                        match i % 4 {
                            0 => {
                                let _g = user.lock().unwrap();
                                ex.spawn(task);
                            }
                            1 => ex.spawn_many([task, task + 1]),
                            2 => {
                                // a waker kept in the user's Mutex, woken under it
                                let mut w = wakers.lock().unwrap();
                                w.push(task);
                                if w.len() > 3 {
                                    w.clear();
                                    ex.notify();
                                }
                            }
                            _ => ex.sleep(t),
                        }
                        ex.finish(task);
                    }
                });
            }
        });
        // a `LocalExecutor` on this thread: a task holds `local` across an `.await` while
        // the executor runs, spawns and registers its runner
        let local = Mutex::named("trial6.executor.local", 0u32);
        let held = local.lock().unwrap();
        ex.runner(99);
        ex.spawn(99);
        ex.sleep(99);
        ex.finish(99);
        drop(held);
        ex.drop_executor();
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// async-executor 1.14.1: `Executor::spawn_many(futures, handles)` takes `active` once and
/// builds the tasks from the caller's iterator under it ("It is assumed that the iterator
/// provided does not block; blocking iterators can lock up the internal mutex and therefore
/// the entire executor", its docs). An iterator that takes a user lock U, while another thread
/// holds U and calls `spawn` (which waits for `active`), deadlocks: trial 6's probe reported it
/// (`CircularDependency`, U and `Mutex<Slab<Waker>>`), and the published crate hangs on it (an
/// unswitched probe: the spawner holding U, the other thread in `spawn_many` taking U on its
/// first item; hung in 3 runs of 3). A true report, of a misuse the crate warns about. Here the
/// two sides run one after the other, so nothing hangs.
#[test]
fn async_executor_spawn_many_iterator_taking_a_lock_held_across_spawn_is_reported() {
    let ex = State::new();
    let user = Mutex::named("trial6.spawn_many.user", 0u64);
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| {
                // another thread: spawn while holding U
                let _g = user.lock().unwrap();
                ex.spawn(1);
            });
        });
        // `ex.spawn_many((0..4).map(|_| { *user.lock().unwrap() += 1; async {} }), &mut v)`
        ex.spawn_many((2..6).inspect(|_| *user.lock().unwrap() += 1));
    });
    expect_circular(
        "spawn_many's iterator",
        &reports,
        "trial6.spawn_many.user",
        "trial6.executor.active",
        &[
            "trial6.spawn_many.user".to_owned(),
            "trial6.executor.active".to_owned(),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// blocking 1.7.0: the pool
// ---------------------------------------------------------------------------------------

type Job = Box<dyn FnOnce() + Send>;

/// blocking 1.7.0's `Executor` (`src/lib.rs`), reduced: one `Mutex<Inner>` (the queue, the
/// idle and total thread counts) and a `Condvar`.
struct Pool {
    inner: Mutex<Inner>,
    cvar: Condvar,
    stopping: AtomicBool,
}

struct Inner {
    idle: usize,
    threads: usize,
    queue: VecDeque<Job>,
}

impl Pool {
    /// `Executor::schedule`: the job queued under the lock, a sleeper notified, the pool grown.
    fn schedule(self: &Arc<Self>, job: Job) {
        let mut inner = self.inner.lock().unwrap();
        inner.queue.push_back(job);
        self.cvar.notify_one();
        self.grow_pool(inner);
    }

    /// `Executor::grow_pool`: takes the guard by value; while the queue outnumbers the idle
    /// threads five to one (here: up to 4 threads), spawns a worker *under the lock*.
    fn grow_pool(self: &Arc<Self>, mut inner: lockdep::stdsync::MutexGuard<'_, Inner>) {
        while inner.queue.len() > inner.idle * 5 && inner.threads < 4 {
            inner.idle += 1;
            inner.threads += 1;
            self.cvar.notify_all();
            let pool = self.clone();
            lockdep::thread::Builder::new()
                .name("trial6-blocking".into())
                .spawn(move || pool.main_loop())
                .unwrap();
        }
    }

    /// `Executor::main_loop`: run the queued jobs (the lock let go by `grow_pool` first), then
    /// sleep on the condvar with a timeout; never joined.
    fn main_loop(self: &Arc<Self>) {
        let mut inner = self.inner.lock().unwrap();
        loop {
            inner.idle -= 1;
            while let Some(job) = inner.queue.pop_front() {
                self.grow_pool(inner);
                job();
                inner = self.inner.lock().unwrap();
            }
            inner.idle += 1;
            let (lock, res) = self
                .cvar
                .wait_timeout(inner, Duration::from_millis(20))
                .unwrap();
            inner = lock;
            if res.timed_out() && inner.queue.is_empty() && self.stopping.load(Ordering::SeqCst) {
                inner.idle -= 1;
                inner.threads -= 1;
                break;
            }
        }
    }
}

/// blocking 1.7.0, `std::sync` and `std::thread` switched: `schedule` queues a job under the
/// pool's `Mutex<Inner>`, notifies the `Condvar` and grows the pool, spawning workers under
/// the lock; a worker lets the lock go before it runs a job, and sleeps on the condvar with a
/// 500 ms timeout (here 20 ms); workers are never joined. No user code runs under the lock:
/// only a caller's locks can come before it. The suite (21 tests, 12 of its 13 doc tests
/// compile-only) and trial 6's probe (78 to 125 `unblock` closures run from executor tasks,
/// 40 more dropped or detached, `Unblock` I/O, the thread limit lowered from 8 to 2, workers
/// retiring) were silent, and rightly: no edge to or from the pool's lock but the workers'
/// exit events'. Here: 200 jobs on up to 4 workers, each taking a user lock, half of them
/// scheduling another job under it (`user -> inner`, as `unblock` called under a lock).
#[test]
fn blocking_pool_is_silent() {
    let pool = Arc::new(Pool {
        inner: Mutex::named(
            "trial6.blocking.inner",
            Inner {
                idle: 0,
                threads: 0,
                queue: VecDeque::new(),
            },
        ),
        cvar: Condvar::new(),
        stopping: AtomicBool::new(false),
    });
    let user = Arc::new(Mutex::named("trial6.blocking.user", 0u64));
    let done = Arc::new(AtomicUsize::new(0));
    let ((), reports) = lockdep::capture(|| {
        for i in 0..200u32 {
            let (p, user, done) = (pool.clone(), user.clone(), done.clone());
            pool.schedule(Box::new(move || {
                let g = user.lock().unwrap();
                if i % 2 == 0 {
                    let done = done.clone();
                    p.schedule(Box::new(move || {
                        done.fetch_add(1, Ordering::SeqCst);
                    }));
                } else {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                drop(g);
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while done.load(Ordering::SeqCst) < 400 {
            assert!(Instant::now() < deadline, "the pool's jobs did not finish");
            lockdep::thread::sleep(Duration::from_millis(1));
        }
        // the workers retire (as blocking's do when over the limit) before the capture ends
        pool.stopping.store(true, Ordering::SeqCst);
        pool.cvar.notify_all();
        while pool.inner.lock().unwrap().threads > 0 {
            assert!(
                Instant::now() < deadline,
                "the pool's workers did not retire"
            );
            lockdep::thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

/// blocking 1.7.0 / async-executor 1.14.1: `future::block_on(task)` parks the thread until
/// the task's waker unparks it, a wait lockdep does not know. A thread that holds M and blocks
/// on a task that takes M (an `unblock(|| m.lock())` closure on a pool thread, or an executor
/// task run by another runner) deadlocks, and lockdep sees only the task's acquisition, with
/// nothing held: no report (trial 6's probe: both, each given up after 100 ms, silent). The
/// park-based wait of trial 5 (`limit_a_channel_receive_under_a_lock_its_sender_needs_is_not_seen`),
/// through a task's completion instead of a channel. Here: the task runs on a worker thread
/// and completes a shared slot; the blocked side polls it with a 100 ms deadline, holding M.
/// Limit: today no report; right: a `CircularWait` (the blocked thread waits for the task
/// holding M, which the task takes first), as for a join; it would need the task's
/// completion to be an event (`lockdep::Event`) that `block_on` waits on.
#[test]
fn limit_block_on_a_task_that_needs_a_lock_held_is_not_seen() {
    use std::task::{Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    // the task's output slot (async-task keeps it in the task's header, no lock lockdep sees)
    struct Slot {
        done: AtomicBool,
        waker: std::sync::Mutex<Option<Waker>>,
    }
    let m = Mutex::named("trial6.block_on.m", 0u32);
    let slot = Arc::new(Slot {
        done: AtomicBool::new(false),
        waker: std::sync::Mutex::new(None),
    });
    let (timed_out, reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            let held = m.lock().unwrap();
            let task_slot = slot.clone();
            let m = &m;
            s.spawn(move || {
                // the task: `unblock(|| *m.lock().unwrap() += 1)`
                *m.lock().unwrap() += 1;
                task_slot.done.store(true, Ordering::SeqCst);
                if let Some(w) = task_slot.waker.lock().unwrap().take() {
                    w.wake();
                }
            });
            // `future::block_on(task)` under `m`, given up after 100 ms
            // (each poll of the task stores the waker, then looks at the slot)
            let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
            let deadline = Instant::now() + Duration::from_millis(100);
            let mut timed_out = true;
            while Instant::now() < deadline {
                *slot.waker.lock().unwrap() = Some(waker.clone());
                if slot.done.load(Ordering::SeqCst) {
                    timed_out = false;
                    break;
                }
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            drop(held);
            timed_out
        })
    });
    assert!(timed_out, "the task was expected to wait for `m`");
    assert!(slot.done.load(Ordering::SeqCst));
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// blocking 1.7.0, `std::thread` switched: workers grow the pool from their own loop
/// (`main_loop` -> `grow_pool` -> `thread::Builder::spawn`), so a worker is spawned by a
/// worker, and a thread spawned from a `lockdep::thread` is one level deeper, its exit event a
/// class of its own per depth (so that recursive fork-join from one site is no cycle). Workers
/// retire and are replaced by deeper ones, so a long-running pool makes a new exit class (and
/// its edges: here to the pool's lock) per generation, and classes are never freed: in trial 6's
/// probe, 20 rounds of 512 jobs on up to 32 threads, the limit lowered to 1 between rounds,
/// reached depth 8 (classes 5 -> 10 in steps, edges 6 -> 16), and nothing bounds it. Here a chain
/// of 24 generations, each worker spawning its successor and retiring (never joined).
/// Limit: today an exit class per generation, `(thread exit), depth 24` included; right: a
/// bounded number of exit classes per spawn site (e.g. depths capped as `lock_nested`'s
/// subclasses are, or the exit events of one site one class whose distinct instances may
/// nest, checked per instance as `Once` cells are), so a pool's cost stays bounded.
#[test]
fn limit_workers_spawning_their_successors_make_an_exit_class_per_generation() {
    const GENERATIONS: u32 = 24;
    static INNER: Mutex<u32> = Mutex::named("trial6.generations.inner", 0);
    fn worker(generation: u32, done: std::sync::mpsc::Sender<()>) {
        *INNER.lock().unwrap() += 1;
        if generation < GENERATIONS {
            // spawned under the lock, as `grow_pool` does
            let g = INNER.lock().unwrap();
            lockdep::thread::Builder::new()
                .name(format!("trial6-gen-{}", generation + 1))
                .spawn(move || worker(generation + 1, done))
                .unwrap();
            drop(g);
        } else {
            done.send(()).unwrap();
        }
    }
    let before = lockdep::stats().classes;
    let (tx, rx) = std::sync::mpsc::channel();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::spawn(move || worker(1, tx));
        rx.recv_timeout(Duration::from_secs(30)).unwrap();
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
    assert_eq!(*INNER.lock().unwrap(), GENERATIONS);
    let after = lockdep::stats().classes;
    assert!(
        after - before >= GENERATIONS as usize,
        "{GENERATIONS} generations made {} classes",
        after - before
    );
    let dot = lockdep::graph_dot();
    let deepest = format!("\"(thread exit), depth {GENERATIONS}\" -> \"trial6.generations.inner\"");
    assert!(dot.contains(&deepest), "{deepest} missing from\n{dot}");
}
