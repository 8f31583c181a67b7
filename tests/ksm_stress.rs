//! The fix under load: offline / online / cancel / veto rounds while ksmd, `run_store`,
//! `merge_across_nodes_store` and a notifier registrant run on threads of their own. Every
//! thread captures its own lockdep reports.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::{Design, Errno, Kernel, MemAction, Migration, NotifierBlock, KSM_RUN_MERGE};
use lockdep::Report;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const ROUNDS: usize = 4;
/// Caps each background actor's loop even if the test forgets to stop it.
const MAX_ITERATIONS: usize = 100_000;

fn spawn_actor<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> JoinHandle<(R, Vec<Report>)> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || lockdep::capture(f))
        .unwrap()
}

fn ksmd_scans_after(kernel: &Kernel, since: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if kernel.ksmd_batches() > since {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// A background loop: `step` until `stop`, yielding in between.
fn looping(
    stop: &Arc<AtomicBool>,
    mut step: impl FnMut(usize) + Send + 'static,
) -> impl FnOnce() -> usize + Send + 'static {
    let stop = Arc::clone(stop);
    move || {
        let mut done = 0;
        while done < MAX_ITERATIONS && !stop.load(Ordering::Acquire) {
            step(done);
            done += 1;
            thread::yield_now();
        }
        done
    }
}

#[test]
fn run_offline_survives_concurrent_rounds_silently() {
    let kernel = Arc::new(Kernel::new(Design::RunOffline, Default::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut actors = Vec::new();
    {
        let k = Arc::clone(&kernel);
        let stop = Arc::clone(&stop);
        actors.push(spawn_actor("ksmd", move || k.ksmd(&stop, MAX_ITERATIONS)));
    }
    {
        let k = Arc::clone(&kernel);
        actors.push(spawn_actor(
            "run_store",
            looping(&stop, move |_| {
                assert_eq!(k.run_store(KSM_RUN_MERGE), Ok(()));
            }),
        ));
    }
    {
        let k = Arc::clone(&kernel);
        actors.push(spawn_actor(
            "merge_across_nodes_store",
            looping(&stop, move |i| {
                let ret = k.merge_across_nodes_store(i % 2);
                assert!(matches!(ret, Ok(()) | Err(Errno::Busy)), "{ret:?}");
            }),
        ));
    }
    {
        let k = Arc::clone(&kernel);
        actors.push(spawn_actor(
            "notifier registrant",
            looping(&stop, move |_| {
                k.register_memory_notifier(NotifierBlock::passive("module", 0));
                assert!(k.unregister_memory_notifier("module"));
            }),
        ));
    }

    let (progress, reports) = lockdep::capture(|| {
        let mut progress = Vec::new();
        kernel.run_store(KSM_RUN_MERGE).unwrap();
        let inject = NotifierBlock::error_inject("inject", 200, &[MemAction::GoingOffline]);
        for round in 0..ROUNDS {
            let block = 1 + round % (kernel.blocks() - 1);
            let other = 1 + (round + 1) % (kernel.blocks() - 1);

            let before = kernel.ksmd_batches();
            assert_eq!(kernel.offline_pages(block, Migration::Succeed), Ok(()));
            assert!(kernel.dangling_stable_nodes().is_empty());
            progress.push(("offline", round, ksmd_scans_after(&kernel, before)));

            let before = kernel.ksmd_batches();
            assert_eq!(
                kernel.offline_pages(other, Migration::Fail),
                Err(Errno::Busy)
            );
            progress.push((
                "cancelled offline",
                round,
                ksmd_scans_after(&kernel, before),
            ));

            kernel.register_memory_notifier(inject);
            let before = kernel.ksmd_batches();
            assert_eq!(
                kernel.offline_pages(other, Migration::Succeed),
                Err(Errno::Perm)
            );
            assert!(kernel.unregister_memory_notifier(inject.name));
            progress.push(("vetoed offline", round, ksmd_scans_after(&kernel, before)));

            assert_eq!(kernel.online_pages(block), Ok(()));
        }
        progress
    });

    stop.store(true, Ordering::Release);
    let mut all_reports = reports;
    for actor in actors {
        let (_, reports) = actor.join().expect("actor panicked");
        all_reports.extend(reports);
    }
    let shown: Vec<String> = all_reports.iter().map(Report::to_string).collect();
    assert!(all_reports.is_empty(), "{}", shown.join("\n"));
    assert_eq!(kernel.violations(), []);
    for (what, round, progressed) in progress {
        assert!(
            progressed,
            "ksmd made no progress after the {what} of round {round}"
        );
    }
    assert_eq!(kernel.max_concurrent_offlines(), 1);
    assert_eq!(kernel.bit_waiters(), 0);
}
