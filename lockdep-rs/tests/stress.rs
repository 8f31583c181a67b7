//! Stress: 8 threads × 1,000,000 acquisitions over 1,000 classes, all in one consistent order,
//! must give zero reports with bounded memory; the same run with one deliberate inversion,
//! committed over and over by every thread, must give exactly one report.
//!
//! Each iteration takes 1 to 3 locks of increasing class index (steps of 1 to 3, so about
//! 13,000 distinct chains and 3,000 edges in all) and releases them. Reports are delivered
//! outside any capture (the mode is `Collect`), so the two tests run one at a time.
//! `LOCKDEP_STRESS_ACQUISITIONS` overrides the per-thread count (default 1,000,000).
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

use std::sync::Mutex as StdMutex;
use std::time::Instant;

use lockdep::{LockClass, Mode, Mutex, Report, ReportKind};

const THREADS: usize = 8;
const CLASSES: usize = 1_000;
/// The inverted pair: LOW is normally taken before HIGH.
const LOW: usize = 500;
const HIGH: usize = 501;

static SERIAL: StdMutex<()> = StdMutex::new(());

fn acquisitions_per_thread() -> u64 {
    std::env::var("LOCKDEP_STRESS_ACQUISITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct Outcome {
    reports: Vec<Report>,
    acquisitions: u64,
    rss_growth: u64,
}

/// Runs the workload on fresh classes named `<prefix>.NNNN`; with `invert`, every thread also
/// takes HIGH then LOW (on instances of its own, so nothing really deadlocks) every 50,000
/// iterations.
fn run(prefix: &str, invert: bool) -> Outcome {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    lockdep::set_mode(Mode::Collect);
    let classes: Vec<&'static LockClass> = (0..CLASSES)
        .map(|i| {
            let name: &'static str = Box::leak(format!("{prefix}.{i:04}").into_boxed_str());
            &*Box::leak(Box::new(LockClass::new(name)))
        })
        .collect();
    let locks: Vec<Mutex<()>> = classes.iter().map(|c| Mutex::with_class(c, ())).collect();
    let inverted: Vec<(Mutex<()>, Mutex<()>)> = (0..THREADS)
        .map(|_| {
            let pair = (
                Mutex::with_class(classes[HIGH], ()),
                Mutex::with_class(classes[LOW], ()),
            );
            // Bring every instance to life before any validation (see the lead's gate rule:
            // a class with two live instances never serves as a gate).
            drop(pair.0.try_lock());
            drop(pair.1.try_lock());
            pair
        })
        .collect();
    for l in &locks {
        drop(l.try_lock());
    }
    // The order LOW -> HIGH exists before anyone inverts it.
    {
        let _l = locks[LOW].lock();
        let _h = locks[HIGH].lock();
    }
    let per_thread = acquisitions_per_thread();
    let rss_before = rss();
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (locks, inverted) = (&locks, &inverted);
                s.spawn(move || {
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                    let mut next = move || {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng
                    };
                    let mut guards = Vec::with_capacity(3);
                    let mut done = 0u64;
                    let mut iteration = 0u64;
                    while done < per_thread {
                        let r = next();
                        let depth = 1 + (r % 3) as usize;
                        let mut k = ((r >> 8) % (CLASSES as u64 - 9)) as usize;
                        for d in 0..depth {
                            guards.push(locks[k].lock());
                            if d + 1 < depth {
                                k += 1 + ((r >> (20 + 2 * d)) % 3) as usize;
                            }
                        }
                        done += depth as u64;
                        while let Some(g) = guards.pop() {
                            drop(g);
                        }
                        iteration += 1;
                        if invert && iteration % 50_000 == 0 {
                            let _h = inverted[t].0.lock();
                            let _l = inverted[t].1.lock();
                            done += 2;
                        }
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let took = start.elapsed();
    let rss_growth = rss().saturating_sub(rss_before);
    let stats = lockdep::stats();
    println!(
        "{THREADS} threads × {per_thread} acquisitions over {CLASSES} classes{}: {total} \
         acquisitions in {took:.1?} ({:.0} ns each); RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB); \
         validator totals: {} classes, {} edges, {} chains, cache hit rate {:.4}",
        if invert { ", with an inversion" } else { "" },
        took.as_nanos() as f64 / total as f64,
        mib(rss_before),
        mib(rss_before + rss_growth),
        mib(rss_growth),
        stats.classes,
        stats.edges,
        stats.chains,
        stats.hit_rate(),
    );
    let reports = lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with(prefix)))
        .collect();
    Outcome {
        reports,
        acquisitions: total,
        rss_growth,
    }
}

/// Memory may grow with the number of distinct chains and edges (a few thousand here), never
/// with the number of acquisitions.
const MAX_RSS_GROWTH: u64 = 64 << 20;

#[test]
fn consistent_order_gives_no_report_and_bounded_memory() {
    let out = run("stress.ok", false);
    assert!(out.acquisitions >= THREADS as u64 * acquisitions_per_thread());
    assert!(out.reports.is_empty(), "{:?}", out.reports);
    assert!(
        out.rss_growth < MAX_RSS_GROWTH,
        "RSS grew by {:.1} MiB",
        mib(out.rss_growth)
    );
}

#[test]
fn one_inversion_is_reported_exactly_once() {
    let out = run("stress.inv", true);
    let kinds: Vec<ReportKind> = out.reports.iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{:?}", out.reports);
    let mut names = out.reports[0].class_names();
    names.sort();
    assert_eq!(names, ["stress.inv.0500", "stress.inv.0501"]);
    assert!(
        out.rss_growth < MAX_RSS_GROWTH,
        "RSS grew by {:.1} MiB",
        mib(out.rss_growth)
    );
}
