//! Gate locks in the KSM reports: which exclusive lock instances every edge of a cycle was
//! recorded under ([`lockdep::Report::gates`]).
//!
//! For the original design (and the `mutex_lock_nested` attempt) every edge of the
//! `ksm_thread_mutex` / `(memory_chain).rwsem` cycle was recorded under `mem_hotplug_mutex`
//! and `pm_mutex`, so the two sides cannot run at once: likely a false positive, which is what
//! the fix's commit message says. The per-block `&mem->state_mutex` (and the per-file
//! `&buffer->mutex`) are registered when the blocks are built, so they never pass for gates.
//! Without `mem_hotplug_mutex` there is no gate: the overlap is real.
//!
//! Gates are lock *instances*, and every kernel of the model has its own: a second kernel
//! alive at the same time makes `mem_hotplug_mutex` a class of two instances, which can never
//! be a gate again in the process, and a cycle edge first recorded under an earlier kernel's
//! (dropped) instance no longer shares a gate with a new kernel's occurrence. So this binary
//! holds one test, which runs each design's first run of its script, one kernel at a time.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario;
use ksm_model::Design;
use lockdep::{Report, ReportKind};

const EXPLANATION: &str = "but every edge of this cycle was recorded while holding (gates):";

fn cycle_report(design: Design, reports: &[Report]) -> Report {
    let cycles: Vec<&Report> = reports
        .iter()
        .filter(|r| r.kind() == ReportKind::CircularDependency)
        .collect();
    assert_eq!(cycles.len(), 1, "{design}: {reports:?}");
    cycles[0].clone()
}

#[test]
fn gates_of_the_ksm_cycles() {
    for design in [Design::Original, Design::NestedAnnotation] {
        let out = scenario::before_after(design);
        let report = cycle_report(design, &out.reports);
        assert_eq!(
            report.gates(),
            ["mem_hotplug_mutex", "pm_mutex"],
            "{report}"
        );
        let text = report.to_string();
        assert!(text.contains(EXPLANATION), "{text}");
        assert!(text.contains("  mem_hotplug_mutex, pm_mutex\n"), "{text}");
        assert!(
            report
                .dot()
                .contains("label=\"every edge held: mem_hotplug_mutex, pm_mutex\""),
            "{}",
            report.dot()
        );
    }

    // No mem_hotplug_mutex: no gate, whether or not two offliners really overlap.
    for out in [
        scenario::before_after(Design::NoHotplugMutex),
        scenario::overlapping_offlines(Design::NoHotplugMutex),
    ] {
        let report = cycle_report(out.design, &out.reports);
        assert!(report.gates().is_empty(), "{}: {report}", out.scenario);
        assert!(!report.to_string().contains(EXPLANATION), "{report}");
    }

    // The naive pseudo-lock's false positive is gated exactly like the original's.
    let out = scenario::before_after(Design::NaivePseudoLock);
    let report = cycle_report(out.design, &out.reports);
    assert_eq!(
        report.gates(),
        ["mem_hotplug_mutex", "pm_mutex"],
        "{report}"
    );

    // WaitUnderMutex's circular wait is real: ksmd's side holds nothing but the mutex.
    let out = scenario::window_scan(Design::WaitUnderMutex);
    assert!(!out.reports.is_empty());
    for report in &out.reports {
        assert_eq!(report.kind(), ReportKind::CircularWait, "{report}");
        assert!(report.gates().is_empty(), "{report}");
    }
}
