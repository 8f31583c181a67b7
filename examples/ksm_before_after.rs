//! The 2013 KSM memory hot-remove lockdep episode (ef4d43a8), before and after the fix.
//!
//! One workload — ksmd running, `echo 1 > /sys/kernel/mm/ksm/run`, a successful offline of a
//! memory block, then an offline whose migration fails and cancels — under the original
//! design (2.6.33), the `mutex_lock_nested` annotation (2.6.37) and Hugh Dickins' fix (3.9).
//! Every lockdep report is printed verbatim (with lockdep's gate explanation: every edge of
//! the original cycle was recorded under `mem_hotplug_mutex` and `pm_mutex`), then a verdict
//! per design and a summary table. The original cycle is also written as a picture: DOT in
//! `target/ksm-original-cycle.dot`, rendered to `target/ksm-original-cycle.svg` when
//! Graphviz's `dot` program is installed.
//!
//! Run with `cargo run --example ksm_before_after`.

use ksm_model::scenario::{self, Outcome};
use ksm_model::Design;
use lockdep::{Report, ReportKind};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("The KSM memory hot-remove lockdep episode (ef4d43a8, Linux 3.9-rc1), replayed.");
    println!(
        "Workload: ksmd running; echo 1 > /sys/kernel/mm/ksm/run; offline memory1 \
         (migration succeeds); offline memory2 (migration fails: MEM_CANCEL_OFFLINE)."
    );
    let outcomes: Vec<Outcome> = Design::SHIPPED
        .iter()
        .map(|&design| {
            let out = scenario::before_after(design);
            print_outcome(&out);
            out
        })
        .collect();
    print_summary(&outcomes);
    if let Some(report) = outcomes
        .iter()
        .find(|out| out.design == Design::Original)
        .and_then(|out| out.reports.first())
    {
        println!();
        println!("=== Picture");
        write_picture(report, "ksm-original-cycle");
    }
    let stats = lockdep::stats();
    println!(
        "lockdep: {} classes, {} dependencies, {} chains, chain cache hit rate {:.0}%",
        stats.classes,
        stats.edges,
        stats.chains,
        stats.hit_rate() * 100.0
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
        println!("could not write {}: {err}", dot_path.display());
        return;
    }
    println!("wrote the cycle as DOT: {}", dot_path.display());
    let svg_path = dir.join(format!("{stem}.svg"));
    match Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(&svg_path)
        .arg(&dot_path)
        .status()
    {
        Ok(status) if status.success() => {
            println!("rendered it with Graphviz: {}", svg_path.display())
        }
        Ok(status) => println!("`dot -Tsvg` failed ({status}); the DOT file is still there"),
        Err(_) => println!(
            "Graphviz's `dot` is not installed; render it with `dot -Tsvg -o {} {}`",
            svg_path.display(),
            dot_path.display()
        ),
    }
}

fn print_outcome(out: &Outcome) {
    println!();
    println!("=== {}: {}", out.design, out.design.summary());
    for note in &out.notes {
        println!("    {note}");
    }
    for (i, report) in out.reports.iter().enumerate() {
        println!("--- lockdep report {} of {} ---", i + 1, out.reports.len());
        println!("{report}");
    }
    for violation in &out.violations {
        println!("violation: {violation}");
    }
    println!("verdict: {}", verdict(out));
}

/// One line: what was reported and what it means for this design.
fn verdict(out: &Outcome) -> String {
    let progress = if out.ksmd_progressed {
        format!("ksmd kept scanning ({} batches)", out.ksmd_batches)
    } else {
        "ksmd STOPPED scanning".to_string()
    };
    if !out.violations.is_empty() {
        return format!("{} violation(s): broken; {progress}", out.violations.len());
    }
    match out.reports.as_slice() {
        [] => format!("silent: no lockdep report, no violation; {progress}"),
        [report]
            if report.kind() == ReportKind::CircularDependency && !report.gates().is_empty() =>
        {
            format!(
                "{}; a false positive, as lockdep's gates say: every edge of the cycle was \
                 recorded under {}, so the two sides cannot run at once (every memory_notify() \
                 caller holds mem_hotplug_mutex, exactly what the fix's commit message says); \
                 {progress}",
                describe(report),
                report.gates().join(" and ")
            )
        }
        [report] if report.kind() == ReportKind::CircularDependency => format!(
            "{}; a false positive: every memory_notify() caller holds mem_hotplug_mutex, so \
             no second offliner can take the rwsem in between; {progress}",
            describe(report)
        ),
        reports => format!("{} lockdep reports; {progress}", reports.len()),
    }
}

fn describe(report: &Report) -> String {
    match (report.kind(), report.acquiring(), report.holding()) {
        (ReportKind::CircularDependency, Some(new), Some(held)) => {
            format!("circular dependency: acquiring {new} while holding {held}")
        }
        (kind, _, _) => format!("{kind:?} ({})", report.class_names().join(", ")),
    }
}

fn print_summary(outcomes: &[Outcome]) {
    println!();
    println!("=== Summary");
    println!(
        "{:<18} {:<8} {:<11} {:<13} lockdep",
        "design", "reports", "violations", "ksmd batches"
    );
    for out in outcomes {
        let what: Vec<String> = out
            .reports
            .iter()
            .map(|report| match report.gates() {
                gates if gates.is_empty() => describe(report),
                gates => format!("{} (gates: {})", describe(report), gates.join(", ")),
            })
            .collect();
        println!(
            "{:<18} {:<8} {:<11} {:<13} {}",
            out.design.name(),
            out.reports.len(),
            out.violations.len(),
            out.ksmd_batches,
            if what.is_empty() {
                "-".to_string()
            } else {
                what.join("; ")
            }
        );
    }
}
