//! Each kernel's verdict, from lockdep-rs's gates ([`lockdep::Report::gates`]): the
//! exclusive lock instances held across every edge of a cycle.
//!
//! - 2.6.33–2.6.36 with `CONFIG_HIBERNATION`: every edge of the `ksm_thread_mutex` /
//!   `(memory_chain).rwsem` cycle was recorded under `pm_mutex`: a false positive.
//! - The same without `CONFIG_HIBERNATION`: no gate; the deadlock is real (loom runs into it).
//! - 2.6.37 and 3.3: gated by `mem_hotplug_mutex` and `pm_mutex`, as the fix's commit message
//!   says ("mem_hotplug_mutex is held throughout the dance").
//! - 3.9: silent.
//!
//! The per-block `&mem->state_mutex` (and the per-file `&buffer->mutex`) are registered when
//! built, so they never pass for gates.
//!
//! Gates are lock *instances*, and every kernel of the model has its own: a second kernel
//! alive at the same time makes `mem_hotplug_mutex` a class of two instances, which can never
//! be a gate again in the process. So this binary holds one test, which runs one kernel at a
//! time.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario::{self, Verdict};
use ksm_model::{Design, Era};
use lockdep::{Report, ReportKind};

const EXPLANATION: &str = "but every edge of this cycle was recorded while holding (gates):";

fn cycle_report(era: Era, reports: &[Report]) -> Report {
    let cycles: Vec<&Report> = reports
        .iter()
        .filter(|r| r.kind() == ReportKind::CircularDependency)
        .collect();
    assert_eq!(cycles.len(), 1, "{era}: {reports:?}");
    cycles[0].clone()
}

fn gated(gates: &[&str]) -> Verdict {
    Verdict::FalsePositive {
        gates: gates.iter().map(|g| g.to_string()).collect(),
    }
}

#[test]
fn every_era_gets_its_verdict() {
    let expected = [
        (Era::ORIGINAL, gated(&["pm_mutex"])),
        (Era::ORIGINAL_WITHOUT_HIBERNATION, Verdict::Deadlock),
        (
            Era::NESTED_2_6_37,
            gated(&["mem_hotplug_mutex", "pm_mutex"]),
        ),
        (Era::NESTED_3_3, gated(&["mem_hotplug_mutex", "pm_mutex"])),
        (Era::FIX, Verdict::Silent),
    ];
    assert_eq!(expected.clone().map(|(era, _)| era), Era::HISTORY);
    for (era, verdict) in expected {
        let out = scenario::before_after(era);
        assert_eq!(out.verdict(), verdict, "{out}");
        if let Verdict::FalsePositive { gates } = &verdict {
            let report = cycle_report(era, &out.reports);
            let text = report.to_string();
            assert!(text.contains(EXPLANATION), "{text}");
            assert!(
                text.contains(&format!("  {}\n", gates.join(", "))),
                "{text}"
            );
            assert!(
                report
                    .dot()
                    .contains(&format!("label=\"every edge held: {}\"", gates.join(", "))),
                "{}",
                report.dot()
            );
        }
    }

    // No hotplug lock: no gate, also when two offliners really overlap.
    let out = scenario::overlapping_offlines(Era::ORIGINAL_WITHOUT_HIBERNATION);
    assert_eq!(out.max_concurrent_offlines, 2, "{out}");
    assert_eq!(out.verdict(), Verdict::Deadlock, "{out}");
    let report = cycle_report(out.era, &out.reports);
    assert!(!report.to_string().contains(EXPLANATION), "{report}");

    // The naive pseudo-lock's false positive is gated exactly like the original's.
    let out = scenario::before_after(Design::NaivePseudoLock);
    assert_eq!(
        out.verdict(),
        gated(&["mem_hotplug_mutex", "pm_mutex"]),
        "{out}"
    );

    // WaitUnderMutex's circular wait is real: ksmd's side holds nothing but the mutex. The
    // model sees ksmd hang (a violation), so the run is broken.
    let out = scenario::window_scan(Design::WaitUnderMutex);
    assert!(!out.reports.is_empty());
    for report in &out.reports {
        assert_eq!(report.kind(), ReportKind::CircularWait, "{report}");
        assert!(report.gates().is_empty(), "{report}");
    }
    assert_eq!(out.verdict(), Verdict::Broken, "{out}");
}
