//! The broken variants of the KSM hot-remove lockout (§11 of the case note), and what catches
//! each: a lockdep report, a violation the model records, or — for the real deadlocks — the
//! loom suite.
//!
//! Every run is bounded. `WaitUnderMutex` really deadlocks here; the model's hung-task
//! watchdog gives up ksmd's wait after a moment so the run can finish. `NoHotplugMutex`'s
//! real deadlock needs a notifier registration queued between two overlapping offliners; the
//! script stops one step short of it. Both deadlocks are left to the loom tests.
//!
//! Run with `cargo run --example ksm_variants`.

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Design, Violation};

/// What this example can show for a design, beyond the run itself.
fn beyond_this_run(design: Design) -> &'static str {
    match design {
        Design::WaitUnderMutex => {
            "real deadlock (ksmd sleeps on the bit holding the mutex the offliner needs to \
             clear it); lockdep cannot see bit waits; model-checked by the loom suite"
        }
        Design::NoHotplugMutex => {
            "real deadlock with a register_memory_notifier() queued between the two \
             offliners (KOSAKI's three actors); model-checked by the loom suite"
        }
        Design::UnlockedFlag => {
            "also: run_store's plain store can erase KSM_RUN_OFFLINE (a race for the loom suite)"
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
    let kinds: Vec<String> = out
        .reports
        .iter()
        .map(|r| format!("{:?}", r.kind()))
        .collect();
    kinds.join(", ")
}

fn caught_by(out: &Outcome) -> String {
    let mut by = Vec::new();
    if !out.reports.is_empty() {
        by.push(format!("lockdep ({})", lockdep_column(out)));
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
    if by.is_empty() {
        "nothing to catch".to_string()
    } else {
        by.join(" + ")
    }
}
