//! The three designs that shipped in Linux, under the README workload (ksmd running, a write
//! to `run`, a successful offline, an offline that fails and cancels), and the latent veto bug
//! of the original design.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Design, MemAction, Violation};
use lockdep::ReportKind;

/// The held-lock list of the 2012 splat, from `&mem->state_mutex` on (the sysfs locks come
/// before it).
fn splat_held(ksm: &str) -> Vec<String> {
    ["&mem->state_mutex", "mem_hotplug_mutex", "pm_mutex", ksm]
        .map(String::from)
        .to_vec()
}

/// Exactly one report: the circular dependency of §9, found at the second notification.
fn assert_the_cycle(out: &Outcome, ksm: &str) {
    assert_eq!(out.reports.len(), 1, "{}", out);
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::CircularDependency, "{report}");
    assert_eq!(report.acquiring().as_deref(), Some("(memory_chain).rwsem"));
    assert_eq!(report.holding().as_deref(), Some(ksm));
    let mut classes = report.class_names();
    classes.sort();
    assert_eq!(classes, ["(memory_chain).rwsem", ksm]);
    // The held-lock list: the sysfs write's two locks, then the splat's four, in order.
    let held = report.held_locks();
    assert_eq!(held.len(), 6, "{held:?}");
    assert_eq!(held[0], "&buffer->mutex");
    assert!(held[1].starts_with("s_active"), "{held:?}");
    assert_eq!(held[2..], splat_held(ksm)[..], "{held:?}");
    // The cycle, closing edge first, and its picture.
    let edge =
        |from: &str, to: &str, types: &str| (from.to_string(), to.to_string(), types.to_string());
    assert_eq!(
        report.cycle(),
        [
            edge(ksm, "(memory_chain).rwsem", "EN"),
            edge("(memory_chain).rwsem", ksm, "SN"),
        ]
    );
    let dot = report.dot();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(
        dot.contains(&format!(
            "\"{ksm}\" -> \"(memory_chain).rwsem\" [label=\"EN\", color=red"
        )),
        "{dot}"
    );
    assert!(
        dot.contains(&format!(
            "\"(memory_chain).rwsem\" -> \"{ksm}\" [label=\"SN\", color=red"
        )),
        "{dot}"
    );
    // Gates (mem_hotplug_mutex, pm_mutex) are asserted in tests/ksm_gates.rs: they are about
    // lock instances, and the parallel tests here have several kernels alive at once.
    let text = report.to_string();
    assert!(text.contains("possible circular locking dependency detected"));
    assert!(text.contains(&format!("({ksm})")), "{text}");
    // A false positive: nothing really went wrong, and ksmd went on scanning.
    assert!(out.violations.is_empty(), "{}", out);
    assert!(out.ksmd_progressed, "{}", out);
}

#[test]
fn original_reports_memory_chain_rwsem_while_holding_ksm_thread_mutex() {
    assert_the_cycle(
        &scenario::before_after(Design::Original),
        "ksm_thread_mutex",
    );
}

#[test]
fn nested_annotation_reports_the_same_cycle_through_subclass_1() {
    assert_the_cycle(
        &scenario::before_after(Design::NestedAnnotation),
        "ksm_thread_mutex/1",
    );
}

#[test]
fn run_offline_is_silent_and_ksmd_keeps_scanning() {
    let out = scenario::before_after(Design::RunOffline);
    assert!(out.reports.is_empty(), "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
    assert!(out.ksmd_progressed, "{}", out);
    assert_eq!(out.max_concurrent_offlines, 1);
    assert_eq!(out.hung_waits, 0);
}

#[test]
fn veto_makes_the_original_unlock_a_mutex_it_never_took() {
    let out = scenario::veto(Design::Original);
    assert!(out.notes[0].ends_with("-EPERM"), "{}", out);
    assert_eq!(out.reports.len(), 1, "{}", out);
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::BadUnlockBalance, "{report}");
    assert_eq!(report.class_names(), ["ksm_thread_mutex"]);
    assert_eq!(report.acquiring().as_deref(), Some("ksm_thread_mutex"));
    assert!(!report
        .held_locks()
        .iter()
        .any(|c| c.starts_with("ksm_thread_mutex")));
    assert_eq!(
        out.violations,
        [Violation::UnbalancedUnlock {
            action: MemAction::CancelOffline
        }]
    );
    // lockdep refused the bogus unlock, so the mutex still works.
    assert!(out.notes[1].contains("Scanned"), "{}", out);
}

#[test]
fn veto_is_harmless_after_the_fix() {
    let out = scenario::veto(Design::RunOffline);
    assert!(out.notes[0].ends_with("-EPERM"), "{}", out);
    assert!(out.reports.is_empty(), "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
    assert!(out.notes[1].contains("Scanned"), "{}", out);
}
