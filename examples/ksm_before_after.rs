//! The KSM memory hot-remove lockdep episode, kernel by kernel: 2.6.33 to 3.9.
//!
//! One workload — ksmd running, `echo 1 > /sys/kernel/mm/ksm/run`, a successful offline of a
//! memory block, then an offline whose migration fails and cancels — on every kernel of the
//! episode, in order ([`Era::HISTORY`]): the original design of 2.6.33–2.6.36 with and without
//! `CONFIG_HIBERNATION`, 2.6.37 (`mem_hotplug_mutex` and the `mutex_lock_nested` annotation),
//! 3.3 (the kernel of the 2012 report) and 3.9 (the fix).
//!
//! For each, the kernel log as that era's lockdep printed it (one report, then silence), what
//! lockdep-rs adds (each line marked `[lockdep-rs]`: gates, the cycle's edge types, reports
//! after the first), and a verdict. The original design without `CONFIG_HIBERNATION` also
//! runs two overlapping offliners, to show that nothing keeps them apart. The summary then
//! tells the story: where the report was a real deadlock, where a lock made it a false
//! positive, and what the fix changed.
//!
//! `cargo run --example ksm_before_after` prints that; add `-- --lockdep-rs-reports` to also
//! print lockdep-rs's own reports in full. The 3.3 cycle is also written as a picture: DOT in
//! `target/ksm-3.3-cycle.dot`, rendered to SVG when Graphviz's `dot` program is installed.

use ksm_model::scenario::{self, Outcome, Verdict};
use ksm_model::{Era, Release};
use lockdep::Report;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let full_reports = std::env::args().any(|arg| arg == "--lockdep-rs-reports");
    println!("The KSM memory hot-remove lockdep episode, kernel by kernel (2.6.33 to 3.9).");
    println!(
        "Workload: ksmd running; echo 1 > /sys/kernel/mm/ksm/run; offline memory1 \
         (migration succeeds); offline memory2 (migration fails: MEM_CANCEL_OFFLINE)."
    );
    println!(
        "Kernel logs are printed as each era's lockdep printed them; lines marked \
         [lockdep-rs] are this validator's additions, which 2013's lockdep did not have."
    );
    let mut rows = Vec::new();
    for era in Era::HISTORY {
        let out = scenario::before_after(era);
        print_era(&out, full_reports);
        let overlap = (!era.takes_mem_hotplug_mutex() && !era.takes_pm_mutex()).then(|| {
            let overlap = scenario::overlapping_offlines(era);
            println!(
                "[model] two offliners: the second entered its notification window while \
                 the first was in its own ({} at once): nothing serialises them",
                overlap.max_concurrent_offlines
            );
            overlap.max_concurrent_offlines
        });
        println!("verdict: {}", explain(&out, overlap));
        rows.push(out);
    }
    print_summary(&rows);
    if let Some(report) = rows
        .iter()
        .find(|out| out.era == Era::NESTED_3_3)
        .and_then(|out| out.reports.first())
    {
        println!();
        write_picture(report, "ksm-3.3-cycle");
    }
    let stats = lockdep::stats();
    println!(
        "[lockdep-rs] {} classes, {} dependencies, {} chains, chain cache hit rate {:.0}%",
        stats.classes,
        stats.edges,
        stats.chains,
        stats.hit_rate() * 100.0
    );
}

fn print_era(out: &Outcome, full_reports: bool) {
    let era = out.era;
    println!();
    println!("=== {}", era.name());
    println!("    {}", era.design.summary());
    println!(
        "    hotplug locks around the notifications: {}",
        hotplug_locks(era)
    );
    for note in &out.notes {
        println!("    {note}");
    }
    let log = out.kernel_log();
    if log.text().is_empty() {
        println!(
            "--- kernel log ({}): nothing from lockdep ---",
            era.release.version()
        );
    } else {
        println!(
            "--- kernel log, as {}'s lockdep printed it ---",
            era.release.version()
        );
        print!("{log}");
        println!("--- end of kernel log ---");
    }
    if let Some(report) = log.printed() {
        print_extensions(report);
    }
    for report in log.unseen() {
        println!(
            "[lockdep-rs] also reported ({}'s lockdep was off by then): {:?} {}",
            era.release.version(),
            report.kind(),
            report.class_names().join(", ")
        );
    }
    if full_reports {
        for report in &out.reports {
            println!("[lockdep-rs] its own report:");
            for line in report.to_string().lines() {
                println!("[lockdep-rs] | {line}");
            }
        }
    }
    for violation in &out.violations {
        println!("[model] violation: {violation}");
    }
}

/// What lockdep-rs says about the report beyond the kernel's text.
fn print_extensions(report: &Report) {
    let cycle: Vec<String> = report
        .cycle()
        .iter()
        .map(|(from, to, types)| format!("{from} -{types}-> {to}"))
        .collect();
    if !cycle.is_empty() {
        println!(
            "[lockdep-rs] cycle (closing edge first): {}",
            cycle.join(", ")
        );
    }
    match report.gates().as_slice() {
        [] if !cycle.is_empty() => {
            println!("[lockdep-rs] no gate: no lock was held across every edge of the cycle")
        }
        [] => {}
        gates => println!(
            "[lockdep-rs] gates: every edge of the cycle was recorded while holding {}; the two \
             sides cannot run at once (LOCKDEP_GATED=ignore would hide this report)",
            gates.join(" and ")
        ),
    }
}

fn hotplug_locks(era: Era) -> String {
    let mut locks = Vec::new();
    if era.takes_mem_hotplug_mutex() {
        locks.push("mem_hotplug_mutex (lock_memory_hotplug)");
    }
    if era.takes_pm_mutex() {
        locks.push("pm_mutex (lock_system_sleep)");
    }
    if locks.is_empty() {
        format!(
            "none (lock_system_sleep() is empty without {})",
            era.release.sleep_lock_option()
        )
    } else {
        locks.join(", ")
    }
}

/// The verdict, with what makes it so.
fn explain(out: &Outcome, overlapping: Option<usize>) -> String {
    match out.verdict() {
        Verdict::Silent => format!(
            "silent, and ksmd kept scanning ({} batches): no lock is held across the \
             notifications any more; KSM_RUN_OFFLINE keeps ksmd out of the window",
            out.ksmd_batches
        ),
        Verdict::FalsePositive { gates } if out.era.release == Release::V2_6_36 => format!(
            "a false positive, but only because of {}: CONFIG_HIBERNATION's \
             lock_system_sleep() serialises offliners, so no second offliner can hold the \
             rwsem while waiting for ksm_thread_mutex",
            gates.join(" and ")
        ),
        Verdict::FalsePositive { gates } => format!(
            "a false positive: every memory_notify() caller holds {} throughout the dance \
             (the fix's commit message), so the two sides of the cycle never run at once; the \
             mutex_lock_nested annotation changed the class, not the order",
            gates.join(" and ")
        ),
        Verdict::Deadlock => format!(
            "a REAL deadlock: nothing serialises offliners{}; with a notifier registration \
             queued between two of them (KOSAKI's three actors) the rwsem reader waits for the \
             mutex, the writer for the reader, and the mutex holder's MEM_OFFLINE read for the \
             writer. The loom suite runs into it: tests/loom_ksm.rs, \
             original_without_hibernation_three_actors_deadlock",
            match overlapping {
                Some(n) if n > 1 => " (two offliners just overlapped above)",
                _ => "",
            }
        ),
        Verdict::Broken => format!("broken: {} violation(s)", out.violations.len()),
    }
}

fn print_summary(rows: &[Outcome]) {
    println!();
    println!("=== Summary");
    println!(
        "{:<37} {:<17} {:<5} {:<51} verdict",
        "kernel", "design", "held", "2013 lockdep printed"
    );
    for out in rows {
        let log = out.kernel_log();
        let (held, said) = match log.printed() {
            Some(report) => (
                report.held_locks().len().to_string(),
                format!("circular: {}", report.class_names().join(" / ")),
            ),
            None => ("-".to_string(), "nothing".to_string()),
        };
        println!(
            "{:<37} {:<17} {:<5} {:<51} {}",
            format!(
                "{} ({}={})",
                out.era.release.span(),
                out.era.release.sleep_lock_option(),
                if out.era.hibernation { "y" } else { "n" }
            ),
            out.design.name(),
            held,
            said,
            out.verdict()
        );
    }
    println!();
    println!(
        "The story: on 2.6.33-2.6.36 the report was a real deadlock unless CONFIG_HIBERNATION \
         happened to serialise offliners through pm_mutex. 2.6.37 added mem_hotplug_mutex \
         around every online and offline, which made it a false positive on every build, \
         together with a mutex_lock_nested annotation that did not silence it (3.3 still \
         printed it). 3.9's fix stopped holding ksm_thread_mutex across the notifications: \
         lockdep has nothing to report, and ksmd is still kept out of the window."
    );
}

/// The workspace's `target/` directory (where `cargo run` builds by default).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// Writes `report`'s cycle to `target/<stem>.dot` and, if Graphviz's `dot` is installed,
/// renders `target/<stem>.svg`; says where it wrote what.
fn write_picture(report: &Report, stem: &str) {
    let dir = target_dir();
    let dot_path = dir.join(format!("{stem}.dot"));
    if let Err(err) =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&dot_path, report.dot()))
    {
        println!("[lockdep-rs] could not write {}: {err}", dot_path.display());
        return;
    }
    println!(
        "[lockdep-rs] wrote the 3.3 cycle as DOT: {}",
        dot_path.display()
    );
    let svg_path = dir.join(format!("{stem}.svg"));
    match Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(&svg_path)
        .arg(&dot_path)
        .status()
    {
        Ok(status) if status.success() => {
            println!(
                "[lockdep-rs] rendered it with Graphviz: {}",
                svg_path.display()
            )
        }
        Ok(status) => println!("`dot -Tsvg` failed ({status}); the DOT file is still there"),
        Err(_) => println!(
            "Graphviz's `dot` is not installed; render it with `dot -Tsvg -o {} {}`",
            svg_path.display(),
            dot_path.display()
        ),
    }
}
