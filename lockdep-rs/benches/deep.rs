//! Deep stacks (issue 12, item 13): what holding many locks at once costs, and releasing them
//! in any order. Memory used to grow quadratically with the held depth (every validated
//! prefix stored its full id list) and an out-of-order release re-validated every entry above
//! it; a chain is now its parent's key plus its last entry, and entries above a released one
//! are put back without validation.
//!
//! - `deep/hold_10000`: take 10,000 locks of 10,000 classes, then release them last first (the
//!   chains are known after the first iteration: the cost of holding that deep, warm);
//! - `deep/release_1000_front_to_back` / `back_to_front` / `shuffled`: 1,000 held guards
//!   dropped in that order.
//!
//! Outside criterion it prints `DEEP` lines with the heap lockdep keeps for 10,000 locks held
//! at once the first time (new chains, edges, classes) and for the releases, from a counting
//! allocator; `benches/run.sh` puts them in BENCHMARKS.md.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};

// Heap accounting for the memory figures (shared with the other benchmark).
#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{COUNTING, LIVE_BYTES};

/// `n` mutexes of `n` distinct classes.
fn locks(prefix: &str, n: usize) -> Vec<lockdep::Mutex<()>> {
    (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("{prefix}.{i}").into_boxed_str());
            lockdep::Mutex::with_class(Box::leak(Box::new(lockdep::LockClass::new(name))), ())
        })
        .collect()
}

/// A fixed shuffle of `0..n` (xorshift), so every run releases in the same order.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// The heap kept by lockdep while `f` runs for the first time, and the time it took.
fn measured(f: impl FnOnce()) -> (isize, Duration) {
    LIVE_BYTES.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let start = Instant::now();
    f();
    let took = start.elapsed();
    COUNTING.store(false, Ordering::Relaxed);
    (LIVE_BYTES.load(Ordering::Relaxed), took)
}

fn first_runs() {
    let deep = locks("deep.first", 10_000);
    let (bytes, took) = measured(|| {
        let mut guards: Vec<_> = deep.iter().map(|m| m.lock()).collect();
        while guards.pop().is_some() {}
    });
    println!(
        "DEEP hold_10000_first: heap_kept={bytes} bytes ({:.1} MiB), time={:.1} ms",
        bytes as f64 / (1 << 20) as f64,
        took.as_secs_f64() * 1e3
    );
    for (name, order) in [
        ("front_to_back", (0..1000).collect::<Vec<_>>()),
        ("shuffled", shuffled(1000)),
    ] {
        let held = locks(&format!("deep.first.{name}"), 1000);
        let mut guards: Vec<Option<_>> = held.iter().map(|m| Some(m.lock())).collect();
        let (bytes, took) = measured(|| {
            for &i in &order {
                drop(guards[i].take());
            }
        });
        println!(
            "DEEP release_1000_{name}_first: heap_kept={bytes} bytes, time={:.2} ms",
            took.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    lockdep::set_mode(lockdep::Mode::Collect);
    let full = std::env::args().any(|a| a == "--bench");
    if full {
        first_runs();
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    let mut g = c.benchmark_group("deep");
    let n = if full { 10_000 } else { 100 };
    let deep = locks("deep.hold", n);
    g.bench_function(format!("hold_{n}"), |b| {
        b.iter(|| {
            let mut guards: Vec<_> = deep.iter().map(|m| m.lock()).collect();
            while guards.pop().is_some() {}
        })
    });
    let m = if full { 1000 } else { 50 };
    let held = locks("deep.release", m);
    for (name, order) in [
        ("front_to_back", (0..m).collect::<Vec<_>>()),
        ("back_to_front", (0..m).rev().collect::<Vec<_>>()),
        ("shuffled", shuffled(m)),
    ] {
        g.bench_function(format!("release_{m}_{name}"), |b| {
            b.iter_batched(
                || held.iter().map(|l| Some(l.lock())).collect::<Vec<_>>(),
                |mut guards| {
                    for &i in &order {
                        drop(guards[i].take());
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    c.final_summary();
    assert!(
        lockdep::take_reports().is_empty(),
        "deep stacks report nothing"
    );
}
