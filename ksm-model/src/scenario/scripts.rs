//! The scripts: each one workload, run on any [`Era`] (a [`Design`] means the design in the
//! release it shipped in).

use super::{
    actor, boot, describe, join_within, ksmd_scans_after, wait_until, Outcome, PROGRESS_TIMEOUT,
    SETTLE,
};
use crate::rt::{Arc, AtomicBool, Ordering};
use crate::{
    Actor, Design, Era, Kernel, MemAction, Migration, NotifierBlock, Point, KSM_RUN_MERGE,
    KSM_RUN_UNMERGE,
};

/// The README's workload: ksmd running on its own thread, `echo 1 > /sys/kernel/mm/ksm/run`,
/// a successful offline of block 1, then an offline of block 2 whose migration fails and
/// cancels. Between steps the script waits for ksmd to scan again.
pub fn before_after(era: impl Into<Era>) -> Outcome {
    let (kernel, watchdog, mut out) = boot(era.into(), "before_after");
    let stop = Arc::new(AtomicBool::new(false));
    let ksmd = {
        let (kernel, stop) = (Arc::clone(&kernel), Arc::clone(&stop));
        actor("ksmd", move || kernel.ksmd(&stop, usize::MAX))
    };
    let (steps, reports) = lockdep::capture(|| {
        let mut steps = Vec::new();
        let mut progressed = true;
        let ret = kernel.run_store(KSM_RUN_MERGE);
        steps.push(format!(
            "echo 1 > /sys/kernel/mm/ksm/run: {}",
            describe(ret)
        ));
        progressed &= ksmd_scans_after(&kernel, 0);
        for (block, migration) in [(1, Migration::Succeed), (2, Migration::Fail)] {
            let before = kernel.ksmd_batches();
            let ret = kernel.offline_pages(block, migration);
            let what = match migration {
                Migration::Succeed => "migration succeeds",
                Migration::Fail => "migration fails, MEM_CANCEL_OFFLINE",
            };
            steps.push(format!("offline memory{block} ({what}): {}", describe(ret)));
            progressed &= ksmd_scans_after(&kernel, before);
        }
        (steps, progressed)
    });
    out.add_reports(reports);
    stop.store(true, Ordering::Release);
    match join_within(ksmd, PROGRESS_TIMEOUT) {
        Some((steps, reports)) => {
            out.add_reports(reports);
            out.note(format!("ksmd ran {steps} iterations"));
        }
        None => out.note("ksmd did not stop in time (left behind)"),
    }
    let (steps, progressed) = steps;
    out.notes.extend(steps);
    out.ksmd_progressed = progressed;
    out.finish(&kernel, watchdog)
}

/// The veto bug (§11.7) and its consequence. ksmd is in the middle of a batch, holding
/// `ksm_thread_mutex`. A notifier of priority 200 vetoes `MEM_GOING_OFFLINE` of block 1, so
/// KSM's callback never sees it, but `MEM_CANCEL_OFFLINE` still goes to every notifier: the
/// pre-fix callback unlocks the mutex it never locked, under ksmd. Then `echo 2 >
/// /sys/kernel/mm/ksm/run` (unmerge everything) comes in while ksmd is still mid-batch: with
/// the mutex released under ksmd it gets in beside it; otherwise it waits for ksmd's batch.
///
/// Notes: the vetoed offline, whether the store got in during ksmd's batch, and ksmd's step.
pub fn veto(era: impl Into<Era>) -> Outcome {
    let (kernel, watchdog, mut out) = boot(era.into(), "veto");
    let (ret, reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE));
    out.add_reports(reports);
    ret.expect("run_store");
    let paused = Arc::new(AtomicBool::new(false));
    let resume = Arc::new(AtomicBool::new(false));
    let ksmd = {
        let (kernel, paused, resume) = (
            Arc::clone(&kernel),
            Arc::clone(&paused),
            Arc::clone(&resume),
        );
        actor("ksmd", move || {
            kernel.ksmd_scan_step_with(&mut |point| {
                if point == Point::KsmdMidBatch && !paused.swap(true, Ordering::AcqRel) {
                    wait_until(PROGRESS_TIMEOUT, || resume.load(Ordering::Acquire));
                }
            })
        })
    };
    wait_until(PROGRESS_TIMEOUT, || paused.load(Ordering::Acquire));
    let offliner = {
        let kernel = Arc::clone(&kernel);
        actor("sh", move || {
            let inject = NotifierBlock::error_inject(
                "memory_notifier_error_inject",
                200,
                &[MemAction::GoingOffline],
            );
            kernel.register_memory_notifier(inject);
            let ret = kernel.offline_pages(1, Migration::Succeed);
            kernel.unregister_memory_notifier(inject.name);
            ret
        })
    };
    // Pre-fix, the offline is over at once; the fix's MEM_CANCEL_OFFLINE takes the mutex to
    // clear the bit, so it waits for ksmd's batch.
    let waits_for = |kernel: &Kernel, actor| kernel.ksm_thread_mutex_waiters().contains(&actor);
    wait_until(PROGRESS_TIMEOUT, || {
        offliner.is_finished() || waits_for(&kernel, Actor::MemoryCallback)
    });
    let store = {
        let kernel = Arc::clone(&kernel);
        actor("sh", move || kernel.run_store(KSM_RUN_UNMERGE))
    };
    // ksmd stays paused until `resume`: a store that finishes now got in beside it; one that
    // sleeps on the mutex waits for ksmd's batch.
    wait_until(PROGRESS_TIMEOUT, || {
        store.is_finished() || waits_for(&kernel, Actor::RunStore)
    });
    let got_in = store.is_finished();
    resume.store(true, Ordering::Release);
    match join_within(offliner, PROGRESS_TIMEOUT) {
        Some((ret, reports)) => {
            out.add_reports(reports);
            out.note(format!(
                "offline memory1 with a priority-200 notifier vetoing MEM_GOING_OFFLINE, \
                 while ksmd is mid-batch: {}",
                describe(ret)
            ));
        }
        None => out.note("the offline did not finish (left behind)"),
    }
    out.note(if got_in {
        "echo 2 > run got into ksm_thread_mutex while ksmd was still mid-batch"
    } else {
        "echo 2 > run waited for ksmd's batch"
    });
    match join_within(store, PROGRESS_TIMEOUT) {
        Some((ret, reports)) => {
            out.add_reports(reports);
            out.note(format!("echo 2 > run: {}", describe(ret)));
        }
        None => out.note("echo 2 > run did not finish (left behind)"),
    }
    match join_within(ksmd, PROGRESS_TIMEOUT) {
        Some((step, reports)) => {
            out.add_reports(reports);
            out.note(format!("ksmd's step: {step:?}"));
        }
        None => out.note("ksmd's step did not end (left behind)"),
    }
    out.finish(&kernel, watchdog)
}

/// ksmd tries a scan step while block 1 is between `MEM_GOING_OFFLINE` and migration: the
/// script starts it from [`Point::OfflineMigrating`] and lets it run for a moment (or until it
/// sleeps on the bit) before the offline goes on.
pub fn window_scan(era: impl Into<Era>) -> Outcome {
    let (kernel, watchdog, mut out) = boot(era.into(), "window_scan");
    let (ret, reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE));
    out.add_reports(reports);
    ret.expect("run_store");
    let mut ksmd = None;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                let k = Arc::clone(&kernel);
                let handle = actor("ksmd", move || k.ksmd_scan_step());
                wait_until(SETTLE, || handle.is_finished() || kernel.bit_waiters() > 0);
                ksmd = Some(handle);
            }
        })
    });
    out.add_reports(reports);
    out.note(format!(
        "offline memory1, ksmd started in the window: {}",
        describe(ret)
    ));
    if let Some(handle) = ksmd {
        match join_within(handle, PROGRESS_TIMEOUT) {
            Some((step, reports)) => {
                out.add_reports(reports);
                out.note(format!("ksmd's step: {step:?}"));
            }
            None => out.note("ksmd's step did not end (left behind)"),
        }
    }
    out.finish(&kernel, watchdog)
}

/// An offline of block 1 starts while ksmd is in the middle of a batch (paused at
/// [`Point::KsmdMidBatch`], holding `ksm_thread_mutex`). ksmd resumes when the offline reaches
/// migration, or after a second if the offline can't get there.
pub fn mid_batch(era: impl Into<Era>) -> Outcome {
    // How long ksmd stays paused mid-batch unless the offline reaches migration first: a
    // design that waits for the batch waits this long (the offline cannot get there), one
    // that does not must get there within it, also on a loaded machine.
    const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);
    let (kernel, watchdog, mut out) = boot(era.into(), "mid_batch");
    let (ret, reports) = lockdep::capture(|| kernel.run_store(KSM_RUN_MERGE));
    out.add_reports(reports);
    ret.expect("run_store");
    let paused = Arc::new(AtomicBool::new(false));
    let resume = Arc::new(AtomicBool::new(false));
    // Set while ksmd is paused in its batch (cleared as it goes on, before it can release
    // anything): what the offline sees when it reaches migration, whatever the scheduler did.
    let in_batch = Arc::new(AtomicBool::new(false));
    let ksmd = {
        let (kernel, paused, resume, in_batch) = (
            Arc::clone(&kernel),
            Arc::clone(&paused),
            Arc::clone(&resume),
            Arc::clone(&in_batch),
        );
        actor("ksmd", move || {
            kernel.ksmd_scan_step_with(&mut |point| {
                if point == Point::KsmdMidBatch && !paused.load(Ordering::Acquire) {
                    in_batch.store(true, Ordering::Release);
                    paused.store(true, Ordering::Release);
                    wait_until(BATCH_PAUSE, || resume.load(Ordering::Acquire));
                    in_batch.store(false, Ordering::Release);
                }
            })
        })
    };
    wait_until(PROGRESS_TIMEOUT, || paused.load(Ordering::Acquire));
    let mut resumed_in_window = false;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                resumed_in_window |= in_batch.load(Ordering::Acquire);
                resume.store(true, Ordering::Release);
                wait_until(SETTLE, || ksmd.is_finished());
            }
        })
    });
    out.add_reports(reports);
    out.note(format!(
        "offline memory1 while ksmd was mid-batch: {}",
        describe(ret)
    ));
    out.note(if resumed_in_window {
        "MEM_GOING_OFFLINE did not wait for ksmd's batch: ksmd finished it inside the window"
    } else {
        "MEM_GOING_OFFLINE waited for ksmd's batch to end"
    });
    match join_within(ksmd, PROGRESS_TIMEOUT) {
        Some((step, reports)) => {
            out.add_reports(reports);
            out.note(format!("ksmd's step: {step:?}"));
        }
        None => out.note("ksmd's step did not end (left behind)"),
    }
    out.finish(&kernel, watchdog)
}

/// A second offliner (block 2) starts while the first (block 1) is in its window. With a
/// hotplug lock (`mem_hotplug_mutex`, or `pm_mutex` in 2.6.33–2.6.36 with
/// `CONFIG_HIBERNATION`) it waits outside; without one, it enters `MEM_GOING_OFFLINE`, takes
/// `(memory_chain).rwsem` for read and, pre-fix, waits for `ksm_thread_mutex`. The script
/// queues no notifier registration there, which would make it KOSAKI's three-actor deadlock.
pub fn overlapping_offlines(era: impl Into<Era>) -> Outcome {
    let (kernel, watchdog, mut out) = boot(era.into(), "overlapping_offlines");
    let mut second = None;
    let (ret, reports) = lockdep::capture(|| {
        kernel.offline_pages_with(1, Migration::Succeed, &mut |point| {
            if let Point::OfflineMigrating { .. } = point {
                let k = Arc::clone(&kernel);
                let handle = actor("sh", move || k.offline_pages(2, Migration::Succeed));
                wait_until(SETTLE, || handle.is_finished());
                second = Some(handle);
            }
        })
    });
    out.add_reports(reports);
    out.note(format!("offliner A, memory1: {}", describe(ret)));
    if let Some(handle) = second {
        match join_within(handle, PROGRESS_TIMEOUT) {
            Some((ret, reports)) => {
                out.add_reports(reports);
                out.note(format!("offliner B, memory2: {}", describe(ret)));
            }
            None => out.note("offliner B did not finish (left behind)"),
        }
    }
    out.finish(&kernel, watchdog)
}

/// The script that exposes `era`'s problem: [`window_scan`] for `WaitUnderMutex`, `NoLockout`
/// and `LostWakeup` (whose lost wake-up the script practically never hits: ksmd is asleep on
/// the bit before the offline goes on; should the race happen, the watchdog ends the wait),
/// [`mid_batch`] for `UnlockedFlag`, [`overlapping_offlines`] for a pre-fix kernel without a
/// hotplug lock (2.6.33–2.6.36 without `CONFIG_HIBERNATION`), and [`before_after`] for the
/// shipped kernels and the [`Design::NaivePseudoLock`] annotation.
pub fn exposing(era: impl Into<Era>) -> Outcome {
    let era = era.into();
    let serialised = era.takes_mem_hotplug_mutex() || era.takes_pm_mutex();
    match era.design {
        Design::WaitUnderMutex | Design::NoLockout | Design::LostWakeup => window_scan(era),
        Design::UnlockedFlag => mid_batch(era),
        Design::Original | Design::NestedAnnotation if !serialised => overlapping_offlines(era),
        Design::Original
        | Design::NestedAnnotation
        | Design::RunOffline
        | Design::NaivePseudoLock => before_after(era),
    }
}
