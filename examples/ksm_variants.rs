//! The broken variants of the KSM hot-remove lockout (§11 of the case note), and what catches
//! each: a lockdep report, a violation the model records, or — for the real deadlocks — the
//! loom suite. Then two ways of telling lockdep about the `KSM_RUN_OFFLINE` bit: the model's
//! `lockdep::Event` (armed by the offliner at `MEM_GOING_OFFLINE`, signalled at `MEM_OFFLINE`,
//! waited for by `wait_on_bit()`), and the naive pseudo-lock held from `MEM_GOING_OFFLINE` to
//! `MEM_OFFLINE`, which brings the original false positive back.
//!
//! Every run is bounded. `WaitUnderMutex` really deadlocks here; the model's hung-task
//! watchdog gives up ksmd's wait after a moment so the run can finish. Lockdep's event tracking
//! reports it from the order of events alone, as ksmd is about to sleep. `NoHotplugMutex`'s
//! real deadlock needs a notifier registration queued between two overlapping offliners; the
//! script stops one step short of it. Both deadlocks are model-checked by the loom tests.
//! `LostWakeup`'s lost wake-up needs ksmd to be preempted between its test of the bit and its
//! enqueue, which the script practically never hits (should it, the watchdog ends the wait);
//! the loom test `lost_wakeup_leaves_ksmd_asleep_forever` (tests/loom_ksm.rs) finds it.
//!
//! Run with `cargo run --example ksm_variants`.

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Design, Violation};
use lockdep::ReportKind;

/// What this example can show for a design, beyond the run itself.
fn beyond_this_run(design: Design) -> &'static str {
    match design {
        Design::WaitUnderMutex => {
            "real deadlock (ksmd sleeps on the bit holding the mutex the offliner needs to \
             clear it). 2013's lockdep could not see bit waits; lockdep's event tracking \
             reports ksm_thread_mutex -> KSM_RUN_OFFLINE event -> ksm_thread_mutex as a \
             CircularWait from the order alone, before anything hangs; the loom suite \
             model-checks the hang itself"
        }
        Design::NoHotplugMutex => {
            "real deadlock with a register_memory_notifier() queued between the two \
             offliners (KOSAKI's three actors); model-checked by the loom suite"
        }
        Design::UnlockedFlag => {
            "also: run_store's plain store can erase KSM_RUN_OFFLINE (a race for the loom suite)"
        }
        Design::LostWakeup => {
            "lost wakeup (ksmd tests the bit outside the wait-queue lock; the offliner clears \
             it and wakes an empty queue before ksmd enqueues; ksmd then sleeps forever). A \
             narrow race this run practically never hits, invisible to lockdep; the loom test \
             lost_wakeup_leaves_ksmd_asleep_forever finds the waiter that never wakes"
        }
        _ => "",
    }
}

fn main() {
    println!("Broken variants of the KSM hot-remove lockout, and what catches each.");
    let mut rows: Vec<Outcome> = Vec::new();
    for design in Design::BROKEN {
        let broken = scenario::exposing(design);
        print_outcome(&broken);
        let extra = beyond_this_run(design);
        if !extra.is_empty() {
            println!("beyond this run: {extra}");
        }
        let compared = rows
            .iter()
            .any(|row| row.design == Design::RunOffline && row.scenario == broken.scenario);
        rows.push(broken);
        if !compared {
            // The fix, through the same script.
            let fixed = rerun(rows.last().unwrap(), Design::RunOffline);
            print_outcome(&fixed);
            rows.push(fixed);
        }
    }
    for design in [Design::Original, Design::RunOffline] {
        let out = scenario::veto(design);
        print_outcome(&out);
        rows.push(out);
    }
    println!();
    println!("=== Annotating KSM_RUN_OFFLINE for lockdep: an event, or a naive pseudo-lock");
    println!(
        "The fix's bit is annotated as a lockdep::Event in every run above: RunOffline's \
         waiters hold nothing while they wait, so nothing leads back to the event and lockdep \
         stays silent; WaitUnderMutex's ksmd waits holding ksm_thread_mutex, which the \
         offliner takes while the event is armed: a CircularWait."
    );
    for design in [Design::NaivePseudoLock, Design::RunOffline] {
        let out = scenario::before_after(design);
        print_outcome(&out);
        println!("annotation: {}", annotation_verdict(&out));
        rows.push(out);
    }
    println!();
    println!("=== Summary");
    println!(
        "{:<16} {:<22} {:<20} {:<11} caught by",
        "design", "scenario", "lockdep", "violations"
    );
    for out in &rows {
        println!(
            "{:<16} {:<22} {:<20} {:<11} {}",
            out.design.name(),
            out.scenario,
            lockdep_column(out),
            out.violations.len(),
            caught_by(out)
        );
    }
}

/// What an annotation run shows: the naive pseudo-lock's false positive, and the event's
/// silence on the same run.
fn annotation_verdict(out: &Outcome) -> String {
    let waits = out.reports_of(ReportKind::CircularWait).len();
    let event = if waits == 0 {
        "the KSM_RUN_OFFLINE event model is silent on this run".to_string()
    } else {
        format!("the KSM_RUN_OFFLINE event model reported {waits} circular wait(s)")
    };
    match out.reports_of(ReportKind::CircularDependency).first() {
        Some(report) => format!(
            "false positive reproduced: {:?} between {} (gates: {}); {event}",
            report.kind(),
            report.class_names().join(" and "),
            if report.gates().is_empty() {
                "none".to_string()
            } else {
                report.gates().join(", ")
            }
        ),
        None => format!("no circular dependency; {event}"),
    }
}

/// The same script, under another design.
fn rerun(like: &Outcome, design: Design) -> Outcome {
    match like.scenario {
        "window_scan" => scenario::window_scan(design),
        "mid_batch" => scenario::mid_batch(design),
        "overlapping_offlines" => scenario::overlapping_offlines(design),
        "veto" => scenario::veto(design),
        _ => scenario::before_after(design),
    }
}

fn print_outcome(out: &Outcome) {
    println!();
    println!(
        "=== {} / {}: {}",
        out.design,
        out.scenario,
        out.design.summary()
    );
    for note in &out.notes {
        println!("    {note}");
    }
    if out.hung_waits > 0 {
        println!(
            "    hung-task watchdog gave up {} wait(s) on KSM_RUN_OFFLINE after {:?}",
            out.hung_waits,
            scenario::HUNG_TASK_TIMEOUT
        );
    }
    if out.max_concurrent_offlines > 1 {
        println!(
            "    {} offlines were inside their notification window at once",
            out.max_concurrent_offlines
        );
    }
    for report in &out.reports {
        println!("--- lockdep report ---");
        println!("{report}");
    }
    const SHOWN: usize = 3;
    for violation in out.violations.iter().take(SHOWN) {
        println!("violation: {violation}");
    }
    if out.violations.len() > SHOWN {
        println!("... and {} more", out.violations.len() - SHOWN);
    }
    println!("caught by: {}", caught_by(out));
}

fn lockdep_column(out: &Outcome) -> String {
    if out.reports.is_empty() {
        return "silent".to_string();
    }
    let mut kinds: Vec<(ReportKind, usize)> = Vec::new();
    for report in &out.reports {
        match kinds.iter_mut().find(|(kind, _)| *kind == report.kind()) {
            Some((_, n)) => *n += 1,
            None => kinds.push((report.kind(), 1)),
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(kind, n)| match n {
            1 => format!("{kind:?}"),
            n => format!("{kind:?} x{n}"),
        })
        .collect();
    kinds.join(", ")
}

fn caught_by(out: &Outcome) -> String {
    let mut by = Vec::new();
    if !out.reports.is_empty() {
        let who = if out.reports_of(ReportKind::CircularWait).is_empty() {
            "lockdep"
        } else {
            "lockdep's event tracking"
        };
        let naive = if out.design == Design::NaivePseudoLock {
            ": a false positive of the naive annotation"
        } else {
            ""
        };
        by.push(format!("{who} ({}{naive})", lockdep_column(out)));
    }
    let count = |pred: fn(&Violation) -> bool| out.violations.iter().filter(|v| pred(v)).count();
    let uaf = count(|v| matches!(v, Violation::UseAfterFree { .. }));
    let hung = count(|v| matches!(v, Violation::HungTask { .. }));
    let unbalanced = count(|v| matches!(v, Violation::UnbalancedUnlock { .. }));
    if uaf > 0 {
        by.push(format!("model: {uaf} use-after-free"));
    }
    if hung > 0 {
        by.push(format!("watchdog: {hung} hung task(s)"));
    }
    if unbalanced > 0 {
        by.push(format!("model: {unbalanced} unbalanced unlock"));
    }
    if matches!(out.design, Design::WaitUnderMutex | Design::NoHotplugMutex) {
        by.push("loom suite (the real deadlock)".to_string());
    }
    if out.design == Design::LostWakeup {
        by.push("loom: lost_wakeup_leaves_ksmd_asleep_forever (the lost wakeup)".to_string());
    }
    if by.is_empty() {
        "nothing to catch".to_string()
    } else {
        by.join(" + ")
    }
}
