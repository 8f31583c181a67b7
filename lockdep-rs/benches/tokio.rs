//! Async benchmarks (issue 14, feature `tokio`): `lockdep::tokio`'s locks against tokio's own,
//! and lockdep's blocking locks in a build with the `tokio` feature (whose fast path also
//! checks which task is running) against parking_lot, each pair in one run.
//!
//! `cargo bench -p lockdep --features tokio,enabled --bench tokio` (`benches/run.sh` runs it
//! and prints its table). Groups (criterion ids `group/function`):
//! - `async_lock`: uncontended `lock().await` + drop of one mutex (its chain validated before
//!   timing starts), in a task of a current-thread runtime: `tokio` (tokio's `Mutex`), `lockdep`;
//!   and the same for `RwLock::write` (`tokio_rw_write`, `lockdep_rw_write`);
//! - `sync_outside_tasks`: lock + unlock of lockdep's blocking `Mutex` on a plain thread (run
//!   first: the thread has run no task and entered no runtime), single and nested A→B, against
//!   parking_lot: the fast path outside tasks;
//! - `sync_block_on_thread`: the same on that thread after it ran tasks (a current-thread
//!   runtime's `block_on`): outside tasks, on a thread where tasks may run;
//! - `sync_in_task`: the same inside a tokio task.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Times `iters` runs of `body` inside one task of a current-thread runtime.
fn in_task<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, body: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            body().await; // warm: the chain is validated before timing
            let start = Instant::now();
            for _ in 0..iters {
                body().await;
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

type Pair<'a, T> = (&'a T, &'a T);

/// Lock + unlock of one blocking `Mutex`, and nested A→B, lockdep against parking_lot, as
/// criterion group `name`.
fn sync_group(
    c: &mut Criterion,
    name: &str,
    (pl, ld): (&parking_lot::Mutex<u64>, &lockdep::Mutex<u64>),
    (pa, pb): Pair<'_, parking_lot::Mutex<u64>>,
    (la, lb): Pair<'_, lockdep::Mutex<u64>>,
) {
    let mut g = c.benchmark_group(name);
    g.bench_function("parking_lot_single", |b| {
        b.iter(|| *black_box(pl).lock() += 1)
    });
    g.bench_function("lockdep_single", |b| b.iter(|| *black_box(ld).lock() += 1));
    g.bench_function("parking_lot_nested2", |b| {
        b.iter(|| {
            let mut a = black_box(pa).lock();
            *black_box(pb).lock() += 1;
            *a += 1;
        })
    });
    g.bench_function("lockdep_nested2", |b| {
        b.iter(|| {
            let mut a = black_box(la).lock();
            *black_box(lb).lock() += 1;
            *a += 1;
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
        .configure_from_args();
    lockdep::set_mode(lockdep::Mode::Collect);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    // The blocking locks first, on this thread before it runs any task or enters a runtime:
    // a plain thread, whose acquisitions ask tokio nothing.
    let pl = parking_lot::Mutex::new(0u64);
    let ld = lockdep::Mutex::named("bench.sync", 0u64);
    let (pa, pb) = (parking_lot::Mutex::new(0u64), parking_lot::Mutex::new(0u64));
    let (la, lb) = (
        lockdep::Mutex::named("bench.sync.A", 0u64),
        lockdep::Mutex::named("bench.sync.B", 0u64),
    );
    sync_group(
        &mut c,
        "sync_outside_tasks",
        (&pl, &ld),
        (&pa, &pb),
        (&la, &lb),
    );

    {
        let mut g = c.benchmark_group("async_lock");
        let tk: &'static _ = Box::leak(Box::new(tokio::sync::Mutex::new(0u64)));
        let ld: &'static _ = Box::leak(Box::new(lockdep::tokio::Mutex::named("bench.async", 0u64)));
        g.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || async move {
                    *black_box(tk).lock().await += 1
                })
            })
        });
        g.bench_function("lockdep", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || async move {
                    *black_box(ld).lock().await += 1
                })
            })
        });
        let tkr: &'static _ = Box::leak(Box::new(tokio::sync::RwLock::new(0u64)));
        let ldr: &'static _ = Box::leak(Box::new(lockdep::tokio::RwLock::named(
            "bench.async_rw",
            0u64,
        )));
        g.bench_function("tokio_rw_write", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || async move {
                    *black_box(tkr).write().await += 1
                })
            })
        });
        g.bench_function("lockdep_rw_write", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || async move {
                    *black_box(ldr).write().await += 1
                })
            })
        });
        g.finish();
    }

    // The same on this thread now that it has run tasks (`block_on` of a current-thread
    // runtime): outside tasks still, but a thread where tasks may run asks tokio which one runs.
    sync_group(
        &mut c,
        "sync_block_on_thread",
        (&pl, &ld),
        (&pa, &pb),
        (&la, &lb),
    );

    {
        let ld: &'static _ = Box::leak(Box::new(ld));
        let pl: &'static _ = Box::leak(Box::new(pl));
        let mut g = c.benchmark_group("sync_in_task");
        g.bench_function("parking_lot_single", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || {
                    *black_box(pl).lock() += 1;
                    std::future::ready(())
                })
            })
        });
        g.bench_function("lockdep_single", |b| {
            b.iter_custom(|iters| {
                in_task(&rt, iters, move || {
                    *black_box(ld).lock() += 1;
                    std::future::ready(())
                })
            })
        });
        g.finish();
    }
    let reports = lockdep::take_reports();
    assert!(
        reports.is_empty(),
        "the benchmark raised reports: {reports:?}"
    );
    c.final_summary();
}
