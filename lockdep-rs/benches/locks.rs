//! Fast-path benchmarks (issue 6): lockdep against parking_lot, std and the peers, in one run.
//!
//! Regenerate the table of `BENCHMARKS.md` with `lockdep-rs/benches/run.sh` (it runs this
//! benchmark three times: validation on; `LOCKDEP_BACKTRACE=0` for the slow-path cases; and
//! with validation compiled out, `--features disabled -- compiled_out`).
//!
//! Groups (criterion ids are `group/function`; every group holds its own parking_lot baseline,
//! so each ratio compares numbers from the same process):
//! - `single`, `nested2`, `nested4`, `rw_read`, `rw_read_recursive`, `rw_write`: warm,
//!   uncontended lock+unlock (the chain was validated before the measurement starts);
//! - `scaling`: a fixed amount of lock+unlock work on one thread, then split over two threads
//!   that use locks of disjoint classes;
//! - `new_edge`: the first acquisition of a pair of classes never nested before, in a
//!   dependency graph of 1k classes / 10k edges and of 10k classes / 100k edges;
//! - `compiled_out` (only without the `enabled` feature): lockdep's types with validation
//!   compiled out, against parking_lot.
//!
//! Outside criterion, `memory` prints the heap (and RSS) cost per class and per edge, and the
//! `size_of` lines compare lockdep's types with parking_lot's.
//!
//! Under `cargo test --benches` (no `--bench` argument) criterion runs every case once and the
//! graphs are tiny, so the benchmark builds and runs in the test suite without timing anything.

use std::hint::black_box;
#[cfg(lockdep_enabled)]
use std::sync::atomic::Ordering;
use std::time::Duration;

use criterion::Criterion;

// Heap accounting for the memory figures (shared with the other benchmark).
#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[cfg(lockdep_enabled)]
use counting_alloc::{COUNTING, LIVE_BYTES};

// ---------------------------------------------------------------------------------------------
// Run configuration.

/// `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion's test mode).
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn print_sizes() {
    use std::mem::size_of;
    println!(
        "SIZE enabled={} lockdep::Mutex<u64>={} parking_lot::Mutex<u64>={} \
         lockdep::RwLock<u64>={} parking_lot::RwLock<u64>={} \
         lockdep::MutexGuard<u64>={} parking_lot::MutexGuard<u64>={}",
        cfg!(lockdep_enabled),
        size_of::<lockdep::Mutex<u64>>(),
        size_of::<parking_lot::Mutex<u64>>(),
        size_of::<lockdep::RwLock<u64>>(),
        size_of::<parking_lot::RwLock<u64>>(),
        size_of::<lockdep::MutexGuard<'static, u64>>(),
        size_of::<parking_lot::MutexGuard<'static, u64>>(),
    );
}

// Compiled out, lockdep's types are parking_lot's twins: the same size, checked at build time
// (a property, not a timing).
#[cfg(not(lockdep_enabled))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<lockdep::Mutex<u64>>() == size_of::<parking_lot::Mutex<u64>>());
    assert!(size_of::<lockdep::RwLock<u64>>() == size_of::<parking_lot::RwLock<u64>>());
    assert!(
        size_of::<lockdep::MutexGuard<'static, u64>>()
            == size_of::<parking_lot::MutexGuard<'static, u64>>()
    );
    assert!(
        size_of::<lockdep::RwLockReadGuard<'static, u64>>()
            == size_of::<parking_lot::RwLockReadGuard<'static, u64>>()
    );
};

fn main() {
    print_sizes();
    let full = bench_mode();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
        .configure_from_args();

    #[cfg(lockdep_enabled)]
    {
        // Reports would be bugs of this benchmark (every graph is built in one order).
        lockdep::set_mode(lockdep::Mode::Collect);
        if enabled::selected("memory") {
            enabled::memory(full);
        }
        enabled::warm(&mut c);
        enabled::scaling(&mut c);
        enabled::new_edge(&mut c, full);
        let reports = lockdep::take_reports();
        assert!(
            reports.is_empty(),
            "the benchmark raised lockdep reports: {reports:?}"
        );
    }
    #[cfg(not(lockdep_enabled))]
    compiled_out::bench(&mut c);
    let _ = full;

    c.final_summary();
}

// ---------------------------------------------------------------------------------------------
// Validation compiled out: lockdep's wrappers against parking_lot, in the same process.

#[cfg(not(lockdep_enabled))]
mod compiled_out {
    use super::*;

    pub(crate) fn bench(c: &mut Criterion) {
        let mut g = c.benchmark_group("compiled_out");
        let pl = parking_lot::Mutex::new(0u64);
        let ld = lockdep::Mutex::new(0u64);
        g.bench_function("parking_lot_single", |b| {
            b.iter(|| *black_box(&pl).lock() += 1)
        });
        g.bench_function("lockdep_single", |b| b.iter(|| *black_box(&ld).lock() += 1));

        let (pa, pb) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
        let (la, lb) = (
            lockdep::Mutex::named("A", 0u64),
            lockdep::Mutex::named("B", 0u64),
        );
        g.bench_function("parking_lot_nested2", |b| {
            b.iter(|| {
                let mut a = black_box(&pa).lock();
                *black_box(&pb).lock() += 1;
                *a += 1;
            })
        });
        g.bench_function("lockdep_nested2", |b| {
            b.iter(|| {
                let mut a = black_box(&la).lock();
                *black_box(&lb).lock() += 1;
                *a += 1;
            })
        });

        let prw = parking_lot::RwLock::new(0u64);
        let lrw = lockdep::RwLock::new(0u64);
        g.bench_function("parking_lot_rw_read", |b| {
            b.iter(|| *black_box(&prw).read())
        });
        g.bench_function("lockdep_rw_read", |b| b.iter(|| *black_box(&lrw).read()));
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// Validation enabled.

#[cfg(lockdep_enabled)]
mod enabled {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Barrier;
    use std::time::Instant;

    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, SamplingMode};
    use lockdep::{LockClass, Mode};

    /// The positional filter criterion got, if any (e.g. `compiled_out` or `new_edge|memory`).
    fn filter() -> Option<String> {
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            if a.starts_with("--") {
                // Options that take a value (criterion's CLI); skip the value.
                if matches!(
                    a.as_str(),
                    "--save-baseline"
                        | "--baseline"
                        | "--baseline-lenient"
                        | "--load-baseline"
                        | "--color"
                        | "--sample-size"
                        | "--warm-up-time"
                        | "--measurement-time"
                        | "--nresamples"
                        | "--noise-threshold"
                        | "--confidence-level"
                        | "--significance-level"
                        | "--profile-time"
                        | "--plotting-backend"
                        | "--output-format"
                        | "--format"
                ) {
                    args.next();
                }
                continue;
            }
            if a.starts_with('-') {
                continue;
            }
            return Some(a);
        }
        None
    }

    /// True if the filter selects `name` (an alternative of the filter is a substring of it).
    pub(crate) fn selected(name: &str) -> bool {
        filter().is_none_or(|f| {
            f.split('|')
                .any(|alt| name.contains(alt) || alt.contains(name))
        })
    }

    /// `bt` normally, `nobt` when `LOCKDEP_BACKTRACE=0` turns edge backtraces off (read once per
    /// process by lockdep, so that figure needs its own invocation; the ids differ so both stay).
    fn bt_suffix() -> &'static str {
        if std::env::var("LOCKDEP_BACKTRACE").is_ok_and(|v| v == "0") {
            "nobt"
        } else {
            "bt"
        }
    }

    /// A value on its own cache lines (no false sharing between the two scaling threads).
    #[repr(align(128))]
    struct Padded<T>(T);

    /// Small deterministic generator for the graphs (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn rss_bytes() -> usize {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<usize>().ok())
            })
            .map_or(0, |pages| pages * 4096)
    }

    /// Runs `f` with lockdep switched off at run time, then restores the mode.
    fn off<R>(f: impl FnOnce() -> R) -> R {
        let before = lockdep::mode();
        lockdep::set_mode(Mode::Off);
        let r = f();
        lockdep::set_mode(before);
        r
    }

    type Group<'a> = BenchmarkGroup<'a, WallTime>;

    // ---- warm, uncontended ------------------------------------------------------------------

    pub(crate) fn warm(c: &mut Criterion) {
        single(&mut c.benchmark_group("single"));
        nested2(&mut c.benchmark_group("nested2"));
        nested4(&mut c.benchmark_group("nested4"));
        rw(c);
        dropin(&mut c.benchmark_group("dropin"));
    }

    /// The drop-in paths (issue 16), each against its twin: upgradable read + upgrade, a timed
    /// lock, a reentrant mutex taken twice, and `stdsync::Mutex` against `std::sync::Mutex`.
    fn dropin(g: &mut Group) {
        use std::time::Duration;
        let (pl, ld) = (
            parking_lot::RwLock::new(0u64),
            lockdep::RwLock::named("bench up", 0u64),
        );
        g.bench_function("upgrade_twin", |b| {
            b.iter(|| {
                *parking_lot::RwLockUpgradableReadGuard::upgrade(
                    black_box(&pl).upgradable_read(),
                ) += 1
            })
        });
        g.bench_function("upgrade_lockdep", |b| {
            b.iter(|| {
                *lockdep::RwLockUpgradableReadGuard::upgrade(black_box(&ld).upgradable_read()) += 1
            })
        });
        let (pl, ld) = (
            parking_lot::Mutex::new(0u64),
            lockdep::Mutex::named("bench timed", 0u64),
        );
        let t = Duration::from_secs(1);
        g.bench_function("timed_twin", |b| {
            b.iter(|| *black_box(&pl).try_lock_for(t).unwrap() += 1)
        });
        g.bench_function("timed_lockdep", |b| {
            b.iter(|| *black_box(&ld).try_lock_for(t).unwrap() += 1)
        });
        let (pl, ld) = (
            parking_lot::ReentrantMutex::new(0u64),
            lockdep::ReentrantMutex::named("bench re", 0u64),
        );
        // Each iteration returns one value (the two levels' data summed): a tuple passed to
        // `black_box` goes through memory as two 8-byte stores read back as one 16-byte load,
        // a store-forwarding stall (~9 ns here) in both columns that hid most of the
        // difference between them.
        g.bench_function("reentrant_twin", |b| {
            b.iter(|| {
                let outer = black_box(&pl).lock();
                let inner = black_box(&pl).lock();
                *outer + *inner
            })
        });
        g.bench_function("reentrant_lockdep", |b| {
            b.iter(|| {
                let outer = black_box(&ld).lock();
                let inner = black_box(&ld).lock();
                *outer + *inner
            })
        });
        let (st, ld) = (
            std::sync::Mutex::new(0u64),
            lockdep::stdsync::Mutex::named("bench std", 0u64),
        );
        g.bench_function("stdsync_twin", |b| {
            b.iter(|| *black_box(&st).lock().unwrap() += 1)
        });
        g.bench_function("stdsync_lockdep", |b| {
            b.iter(|| *black_box(&ld).lock().unwrap() += 1)
        });
    }

    fn single(g: &mut Group) {
        let pl = parking_lot::Mutex::new(0u64);
        let st = std::sync::Mutex::new(0u64);
        let ld = lockdep::Mutex::new(0u64);
        let tm = tracing_mutex::parkinglot::tracing::Mutex::new(0u64);
        let nd = no_deadlocks::Mutex::new(0u64);
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).lock() += 1));
        g.bench_function("std", |b| b.iter(|| *black_box(&st).lock().unwrap() += 1));
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).lock() += 1));
        g.bench_function("lockdep_off", |b| {
            off(|| b.iter(|| *black_box(&ld).lock() += 1))
        });
        g.bench_function("tracing_mutex", |b| b.iter(|| *black_box(&tm).lock() += 1));
        g.bench_function("no_deadlocks", |b| {
            b.iter(|| *black_box(&nd).lock().unwrap() += 1)
        });
    }

    /// `lock A; lock B; unlock B; unlock A` (and its four-deep twin): the same code for every
    /// implementation, with its own way to lock.
    macro_rules! nested {
        ($g:expr, $name:expr, [$($l:ident),+], |$m:ident| $call:expr) => {{
            $g.bench_function($name, |b| {
                b.iter(|| {
                    $( let $l = { let $m = black_box(&$l); $call }; )+
                    black_box(($(&$l),+));
                })
            });
        }};
    }

    fn nested2(g: &mut Group) {
        {
            let (a, b_) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
            nested!(g, "parking_lot", [a, b_], |m| m.lock());
        }
        {
            let (a, b_) = (std::sync::Mutex::new(0u64), std::sync::Mutex::new(0u64));
            nested!(g, "std", [a, b_], |m| m.lock().unwrap());
        }
        {
            let a = lockdep::Mutex::named("bench A", 0u64);
            let b_ = lockdep::Mutex::named("bench B", 0u64);
            nested!(g, "lockdep", [a, b_], |m| m.lock());
            off(|| nested!(g, "lockdep_off", [a, b_], |m| m.lock()));
        }
        {
            use tracing_mutex::parkinglot::tracing::Mutex;
            let (a, b_) = (Mutex::new(0u64), Mutex::new(0u64));
            nested!(g, "tracing_mutex", [a, b_], |m| m.lock());
        }
        {
            let (a, b_) = (
                no_deadlocks::Mutex::new(0u64),
                no_deadlocks::Mutex::new(0u64),
            );
            nested!(g, "no_deadlocks", [a, b_], |m| m.lock().unwrap());
        }
    }

    fn nested4(g: &mut Group) {
        {
            let [a, b_, c, d] = std::array::from_fn(|_| parking_lot::Mutex::new(0u64));
            nested!(g, "parking_lot", [a, b_, c, d], |m| m.lock());
        }
        {
            let [a, b_, c, d] = std::array::from_fn(|_| std::sync::Mutex::new(0u64));
            nested!(g, "std", [a, b_, c, d], |m| m.lock().unwrap());
        }
        {
            let a = lockdep::Mutex::named("bench 4A", 0u64);
            let b_ = lockdep::Mutex::named("bench 4B", 0u64);
            let c = lockdep::Mutex::named("bench 4C", 0u64);
            let d = lockdep::Mutex::named("bench 4D", 0u64);
            nested!(g, "lockdep", [a, b_, c, d], |m| m.lock());
            off(|| nested!(g, "lockdep_off", [a, b_, c, d], |m| m.lock()));
        }
        {
            use tracing_mutex::parkinglot::tracing::Mutex;
            let [a, b_, c, d] = std::array::from_fn(|_| Mutex::new(0u64));
            nested!(g, "tracing_mutex", [a, b_, c, d], |m| m.lock());
        }
        {
            let [a, b_, c, d] = std::array::from_fn(|_| no_deadlocks::Mutex::new(0u64));
            nested!(g, "no_deadlocks", [a, b_, c, d], |m| m.lock().unwrap());
        }
    }

    fn rw(c: &mut Criterion) {
        let pl = parking_lot::RwLock::new(0u64);
        let st = std::sync::RwLock::new(0u64);
        let ld = lockdep::RwLock::new(0u64);
        let tm = tracing_mutex::parkinglot::tracing::RwLock::new(0u64);
        let nd = no_deadlocks::RwLock::new(0u64);

        let mut g = c.benchmark_group("rw_read");
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).read()));
        g.bench_function("std", |b| b.iter(|| *black_box(&st).read().unwrap()));
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).read()));
        g.bench_function("lockdep_off", |b| off(|| b.iter(|| *black_box(&ld).read())));
        g.bench_function("tracing_mutex", |b| b.iter(|| *black_box(&tm).read()));
        g.bench_function("no_deadlocks", |b| {
            b.iter(|| *black_box(&nd).read().unwrap())
        });
        g.finish();

        // std and no_deadlocks have no separate recursive reader.
        let mut g = c.benchmark_group("rw_read_recursive");
        g.bench_function("parking_lot", |b| {
            b.iter(|| *black_box(&pl).read_recursive())
        });
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).read_recursive()));
        g.bench_function("lockdep_off", |b| {
            off(|| b.iter(|| *black_box(&ld).read_recursive()))
        });
        g.bench_function("tracing_mutex", |b| {
            b.iter(|| *black_box(&tm).read_recursive())
        });
        g.finish();

        let mut g = c.benchmark_group("rw_write");
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).write() += 1));
        g.bench_function("std", |b| b.iter(|| *black_box(&st).write().unwrap() += 1));
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).write() += 1));
        g.bench_function("lockdep_off", |b| {
            off(|| b.iter(|| *black_box(&ld).write() += 1))
        });
        g.bench_function("tracing_mutex", |b| b.iter(|| *black_box(&tm).write() += 1));
        g.bench_function("no_deadlocks", |b| {
            b.iter(|| *black_box(&nd).write().unwrap() += 1)
        });
        g.finish();
    }

    // ---- scaling: one thread vs two threads on disjoint classes -----------------------------

    /// Time for `2 * iters` lock+unlock operations: all on one thread (`threads == 1`, on
    /// `locks[0]`), or split over two threads, each on its own lock (wall time, from the first
    /// thread's start to the last one's end).
    fn split_work<L: Sync>(
        locks: &[Padded<L>; 2],
        threads: usize,
        iters: u64,
        op: impl Fn(&L) + Sync,
    ) -> Duration {
        if threads == 1 {
            op(&locks[0].0);
            let start = Instant::now();
            for _ in 0..2 * iters {
                op(black_box(&locks[0].0));
            }
            return start.elapsed();
        }
        let barrier = Barrier::new(2);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = locks
                .iter()
                .map(|l| {
                    let (barrier, op) = (&barrier, &op);
                    s.spawn(move || {
                        op(&l.0); // warms this thread's chain cache
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..iters {
                            op(black_box(&l.0));
                        }
                        (start, Instant::now())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("scaling thread"))
                .collect()
        });
        let start = spans.iter().map(|s| s.0).min().expect("two spans");
        let end = spans.iter().map(|s| s.1).max().expect("two spans");
        end - start
    }

    pub(crate) fn scaling(c: &mut Criterion) {
        let mut g = c.benchmark_group("scaling");
        g.sample_size(20);
        let pl = [
            Padded(parking_lot::Mutex::new(0u64)),
            Padded(parking_lot::Mutex::new(0u64)),
        ];
        let ld = [
            Padded(lockdep::Mutex::named("scaling A", 0u64)),
            Padded(lockdep::Mutex::named("scaling B", 0u64)),
        ];
        let pl_op = |m: &parking_lot::Mutex<u64>| *m.lock() += 1;
        let ld_op = |m: &lockdep::Mutex<u64>| *m.lock() += 1;
        g.bench_function("parking_lot_1thread", |b| {
            b.iter_custom(|n| split_work(&pl, 1, n, pl_op))
        });
        g.bench_function("parking_lot_2threads", |b| {
            b.iter_custom(|n| split_work(&pl, 2, n, pl_op))
        });
        g.bench_function("lockdep_1thread", |b| {
            b.iter_custom(|n| split_work(&ld, 1, n, ld_op))
        });
        g.bench_function("lockdep_2threads", |b| {
            b.iter_custom(|n| split_work(&ld, 2, n, ld_op))
        });
        g.finish();
    }

    // ---- slow path: first-seen edges in a big graph -----------------------------------------

    /// `n` locks, each of its own class (a leaked `LockClass`, as a `static` would be).
    fn class_locks(tag: &str, n: usize) -> Vec<lockdep::Mutex<()>> {
        (0..n)
            .map(|i| {
                let name: &'static str = Box::leak(format!("{tag}{i}").into_boxed_str());
                let class: &'static LockClass = Box::leak(Box::new(LockClass::new(name)));
                lockdep::Mutex::with_class(class, ())
            })
            .collect()
    }

    /// A random DAG over classes `0..n` with `per_class` out-edges per class, every edge
    /// `i -> j` with `i < j` (one global order, so no report can fire), sorted by source.
    fn dag_edges(n: usize, per_class: usize, rng: &mut Rng) -> Vec<(u32, u32)> {
        let mut edges = Vec::with_capacity(n * per_class);
        for i in 0..n {
            let later = n - i - 1;
            let mut picked = HashSet::new();
            while picked.len() < per_class.min(later) {
                picked.insert(i + 1 + rng.below(later));
            }
            let mut picked: Vec<usize> = picked.into_iter().collect();
            picked.sort_unstable();
            edges.extend(picked.into_iter().map(|j| (i as u32, j as u32)));
        }
        edges
    }

    /// Records every edge: hold `from`, take `to`. Sorted by source, each new edge's target
    /// has no out-edges yet, so building stays cheap; the measured edges come later, against
    /// the whole graph.
    fn record_edges(locks: &[lockdep::Mutex<()>], edges: &[(u32, u32)]) {
        for &(i, j) in edges {
            let _a = locks[i as usize].lock();
            let _b = locks[j as usize].lock();
        }
    }

    struct BigGraph {
        locks: Vec<lockdep::Mutex<()>>,
        edges: HashSet<(u32, u32)>,
        built: usize,
        rng: Rng,
    }

    impl BigGraph {
        fn build(tag: &str, n: usize, per_class: usize) -> BigGraph {
            // Only this graph: forget the edges and chains of everything measured before.
            lockdep::reset();
            let locks = class_locks(tag, n);
            let mut rng = Rng(0x5EED_0000 ^ n as u64);
            let list = dag_edges(n, per_class, &mut rng);
            let start = Instant::now();
            record_edges(&locks, &list);
            let s = lockdep::stats();
            println!(
                "GRAPH {tag}: {} classes, {} edges recorded in {:.2?} (lockdep now: {} classes, {} edges, {} chains)",
                n,
                list.len(),
                start.elapsed(),
                s.classes,
                s.edges,
                s.chains
            );
            let mut graph = BigGraph {
                locks,
                built: list.len(),
                edges: list.into_iter().collect(),
                rng,
            };
            // Warm-up: a few first-seen edges, untimed.
            for _ in 0..(graph.built / 1000).max(1) {
                let (i, j) = graph.fresh_pair();
                let _a = graph.locks[i].lock();
                let _b = graph.locks[j].lock();
            }
            graph
        }

        /// A pair of classes `i < j` never nested before (so `i -> j` keeps the order).
        fn fresh_pair(&mut self) -> (usize, usize) {
            let n = self.locks.len();
            loop {
                let (a, b) = (self.rng.below(n), self.rng.below(n));
                let (i, j) = (a.min(b), a.max(b));
                if i != j && self.edges.insert((i as u32, j as u32)) {
                    return (i, j);
                }
            }
        }
    }

    pub(crate) fn new_edge(c: &mut Criterion, full: bool) {
        let bt = bt_suffix();
        let mut g = c.benchmark_group("new_edge");
        // Every iteration adds one edge: keep the count small next to the graph's size. Each
        // sample times at most `cap` fresh edges (below), so criterion's own warm-up, which
        // doubles the iterations until the wall time grows, is replaced by ours in `build`.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_nanos(1))
            .measurement_time(Duration::from_millis(600));
        let sizes: &[(&str, usize, usize)] = if full {
            &[("1k", 1_000, 10), ("10k", 10_000, 10)]
        } else {
            &[("1k", 40, 4), ("10k", 100, 5)]
        };
        for &(label, n, per_class) in sizes {
            let mut graph: Option<BigGraph> = None;
            g.bench_function(format!("lockdep_{bt}_{label}"), |b| {
                let graph = graph
                    .get_or_insert_with(|| BigGraph::build(&format!("g{label}_"), n, per_class));
                // Criterion asks for as many iterations as fit its time budget, and each one
                // adds an edge: time at most `cap` of them per sample (the per-iteration
                // estimate is the same) so the graph grows by a few percent at most.
                let cap = (graph.built / 400).max(1) as u64;
                b.iter_custom(|iters| {
                    let timed = iters.min(cap);
                    let pairs: Vec<(usize, usize)> =
                        (0..timed).map(|_| graph.fresh_pair()).collect();
                    let start = Instant::now();
                    for &(i, j) in &pairs {
                        let _a = graph.locks[i].lock();
                        let _b = graph.locks[j].lock();
                    }
                    start.elapsed().mul_f64(iters as f64 / timed as f64)
                })
            });
            if let Some(graph) = &graph {
                let s = lockdep::stats();
                println!(
                    "GRAPH {label} after the measurement: {} edges among these classes ({} first seen while measuring), lockdep: {} edges, {} chains",
                    graph.edges.len(),
                    graph.edges.len() - graph.built,
                    s.edges,
                    s.chains
                );
            }
        }
        g.finish();
    }

    // ---- memory per class and per edge ------------------------------------------------------

    pub(crate) fn memory(full: bool) {
        let (n, per_class) = if full { (10_000, 10) } else { (100, 4) };
        let bt = bt_suffix();
        lockdep::reset();
        // The user's side (class keys, lock instances) exists before the measurement starts.
        let locks = class_locks("mem", n);
        let list = dag_edges(n, per_class, &mut Rng(0xA110C));

        COUNTING.store(true, Ordering::SeqCst);
        let heap0 = LIVE_BYTES.load(Ordering::SeqCst);
        let rss0 = rss_bytes();
        for l in &locks {
            drop(l.lock()); // registers the class (and its one-lock chain)
        }
        let heap1 = LIVE_BYTES.load(Ordering::SeqCst);
        let rss1 = rss_bytes();
        record_edges(&locks, &list);
        let heap2 = LIVE_BYTES.load(Ordering::SeqCst);
        let rss2 = rss_bytes();
        COUNTING.store(false, Ordering::SeqCst);

        let per = |a: isize, b: isize, k: usize| (b - a) as f64 / k as f64;
        println!(
            "MEMORY {bt}: classes={n} edges={} heap_per_class={:.0} heap_per_edge={:.0} rss_per_class={:.0} rss_per_edge={:.0}",
            list.len(),
            per(heap0, heap1, n),
            per(heap1, heap2, list.len()),
            per(rss0 as isize, rss1 as isize, n),
            per(rss1 as isize, rss2 as isize, list.len()),
        );
        drop(locks);
        lockdep::reset();
    }
}
