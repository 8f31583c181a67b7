//! What goes wrong in the KSM hot-remove lockout, kernel by kernel, and what catches each: the
//! era's own lockdep (its kernel log, printed as it printed it), lockdep-rs's additions
//! (marked `[lockdep-rs]`), a violation the model records (`[model]`), or — for the real
//! deadlocks — the loom suite.
//!
//! In order:
//! - 2.6.33–2.6.36: without `CONFIG_HIBERNATION` two offliners overlap (KOSAKI's real
//!   deadlock, one notifier registration away); and the veto bug: a `MEM_CANCEL_OFFLINE`
//!   after a veto unlocks `ksm_thread_mutex` under ksmd, and a second task gets in beside it.
//! - 3.3: the same veto bug.
//! - 3.9: the fix's broken variants (waiting under the mutex, no lockout, an unlocked flag, a
//!   lost wake-up), each against the fix through the same script; the veto made harmless;
//!   and two ways of telling lockdep about the `KSM_RUN_OFFLINE` bit (lockdep-rs's
//!   `Event`, and a naive pseudo-lock that brings the original false positive back).
//!
//! Every run is bounded. `WaitUnderMutex` really deadlocks here; the model's hung-task
//! watchdog gives up ksmd's wait after a moment so the run can finish. The three-actor
//! deadlock needs a notifier registration queued between the two offliners; the script
//! stops one step short of it. `LostWakeup`'s race is practically never hit by a script.
//! The loom tests (tests/loom_ksm.rs) find all three.
//!
//! Run with `cargo run --example ksm_variants`.

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Design, Era, Violation};
use lockdep::ReportKind;

fn main() {
    println!("What goes wrong in the KSM hot-remove lockout, kernel by kernel.");
    println!(
        "Kernel logs are printed as each era's lockdep printed them; [lockdep-rs] marks this \
         validator's additions, [model] what the model itself observed."
    );
    let mut rows: Vec<Outcome> = Vec::new();

    section("2.6.33-2.6.36: the original design");
    for out in [
        scenario::overlapping_offlines(Era::ORIGINAL_WITHOUT_HIBERNATION),
        scenario::overlapping_offlines(Era::ORIGINAL),
        scenario::veto(Era::ORIGINAL),
    ] {
        show(&out);
        rows.push(out);
    }

    section("3.3: mem_hotplug_mutex and the mutex_lock_nested annotation");
    let out = scenario::veto(Era::NESTED_3_3);
    show(&out);
    rows.push(out);

    section("3.9: the fix, and what breaks it");
    for design in Design::BROKEN {
        let broken = scenario::exposing(design);
        show(&broken);
        let compared = rows
            .iter()
            .any(|row| row.design == Design::RunOffline && row.scenario == broken.scenario);
        rows.push(broken);
        if !compared {
            let fixed = rerun(rows.last().unwrap(), Era::FIX);
            show(&fixed);
            rows.push(fixed);
        }
    }
    let out = scenario::veto(Era::FIX);
    show(&out);
    rows.push(out);

    section("3.9: annotating KSM_RUN_OFFLINE for lockdep (lockdep-rs only)");
    println!(
        "[lockdep-rs] The fix's bit is annotated as a lockdep::Event in every 3.9 run above: \
         the fix's waiters hold nothing while they wait, so nothing leads back to the event; \
         WaitUnderMutex's ksmd waits holding ksm_thread_mutex, which the offliner takes while \
         the event is armed: a CircularWait. 2013's lockdep had no such annotation."
    );
    for design in [Design::NaivePseudoLock, Design::RunOffline] {
        let out = scenario::before_after(design);
        show(&out);
        println!("annotation: {}", annotation_verdict(&out));
        rows.push(out);
    }

    println!();
    println!("=== Summary");
    println!(
        "{:<14} {:<19} {:<21} {:<21} {:<34} caught by",
        "kernel", "design", "scenario", "2013 lockdep printed", "lockdep-rs"
    );
    for out in &rows {
        println!(
            "{:<14} {:<19} {:<21} {:<21} {:<34} {}",
            out.era.release.span(),
            format!(
                "{}{}",
                out.design.name(),
                if out.era.hibernation {
                    ""
                } else {
                    " (no hib.)"
                }
            ),
            out.scenario,
            kernel_column(out),
            lockdep_rs_column(out),
            caught_by(out)
        );
    }
}

fn section(title: &str) {
    println!();
    println!("##### {title}");
}

/// The same script, on another kernel.
fn rerun(like: &Outcome, era: Era) -> Outcome {
    match like.scenario {
        "window_scan" => scenario::window_scan(era),
        "mid_batch" => scenario::mid_batch(era),
        "overlapping_offlines" => scenario::overlapping_offlines(era),
        "veto" => scenario::veto(era),
        _ => scenario::before_after(era),
    }
}

fn show(out: &Outcome) {
    println!();
    println!("=== {} / {}", out.era.name(), out.scenario);
    println!("    {}", out.design.summary());
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
            "[model] {} offlines were inside their notification window at once",
            out.max_concurrent_offlines
        );
    } else if out.scenario == "overlapping_offlines" {
        println!("[model] the second offliner waited outside: one offline in its window at a time");
    }
    let log = out.kernel_log();
    if log.text().is_empty() {
        println!(
            "--- kernel log ({}): nothing ---",
            out.era.release.version()
        );
    } else {
        println!(
            "--- kernel log, as {} printed it ---",
            out.era.release.version()
        );
        print!("{log}");
        println!("--- end of kernel log ---");
    }
    for report in log.unseen() {
        let why = if report.kind() == ReportKind::CircularWait {
            "a wait on an event, which 2013's lockdep could not see"
        } else {
            "after the first report, when 2013's lockdep was off"
        };
        println!(
            "[lockdep-rs] {:?}: {} ({why})",
            report.kind(),
            report.class_names().join(", ")
        );
    }
    const SHOWN: usize = 3;
    for violation in out.violations.iter().take(SHOWN) {
        println!("[model] violation: {violation}");
    }
    if out.violations.len() > SHOWN {
        println!("[model] ... and {} more", out.violations.len() - SHOWN);
    }
    println!("verdict: {}; caught by: {}", out.verdict(), caught_by(out));
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
            "false positive reproduced: {} (gates: {}); {event}",
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

fn kernel_column(out: &Outcome) -> String {
    match out.kernel_log().printed() {
        None => "nothing".to_string(),
        Some(report) => match report.kind() {
            ReportKind::CircularDependency => "circular dependency".to_string(),
            ReportKind::BadUnlockBalance => "bad unlock balance".to_string(),
            kind => format!("{kind:?}"),
        },
    }
}

fn lockdep_rs_column(out: &Outcome) -> String {
    let unseen = out.kernel_log().unseen().len();
    let gates = out
        .reports
        .first()
        .map(|r| r.gates())
        .filter(|g| !g.is_empty());
    match (unseen, gates) {
        (0, None) => "-".to_string(),
        (0, Some(gates)) => format!("gated: {}", gates.join("+")),
        (n, _) => format!("+{n} report(s)"),
    }
}

fn caught_by(out: &Outcome) -> String {
    let mut by = Vec::new();
    if out.kernel_log().printed().is_some() {
        by.push("lockdep".to_string());
    }
    if !out.reports_of(ReportKind::CircularWait).is_empty() {
        by.push("lockdep-rs's event tracking".to_string());
    }
    let count = |pred: fn(&Violation) -> bool| out.violations.iter().filter(|v| pred(v)).count();
    for (what, n) in [
        (
            "use-after-free",
            count(|v| matches!(v, Violation::UseAfterFree { .. })),
        ),
        (
            "hung task",
            count(|v| matches!(v, Violation::HungTask { .. })),
        ),
        (
            "unbalanced unlock",
            count(|v| matches!(v, Violation::UnbalancedUnlock { .. })),
        ),
        (
            "two holders",
            count(|v| matches!(v, Violation::MutualExclusion { .. })),
        ),
    ] {
        if n > 0 {
            by.push(format!("model: {n} {what}"));
        }
    }
    if out.design == Design::WaitUnderMutex
        || (out.era == Era::ORIGINAL_WITHOUT_HIBERNATION && out.scenario == "overlapping_offlines")
    {
        by.push("loom (the real deadlock)".to_string());
    }
    if out.design == Design::LostWakeup {
        by.push("loom: lost_wakeup_leaves_ksmd_asleep_forever".to_string());
    }
    if by.is_empty() {
        "nothing to catch".to_string()
    } else {
        by.join(" + ")
    }
}
