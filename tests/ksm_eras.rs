//! Every kernel of the episode under the README workload (ksmd running, a write to `run`, a
//! successful offline, an offline that fails and cancels): each era's own report, with the
//! held locks its kernel printed (five for 2.6.36, six for 3.3), and the veto bug's
//! consequence before and after the fix.
//!
//! The verdicts (gated or not) are asserted in `tests/ksm_verdicts.rs`: gates are lock
//! instances, and the parallel tests here have several kernels alive at once.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Actor, Era, MemAction, Violation};
use lockdep::ReportKind;

fn names(held: &[&str]) -> Vec<String> {
    held.iter().map(|s| s.to_string()).collect()
}

/// The held locks of KOSAKI's 2.6.36 report (with `CONFIG_HIBERNATION`).
const HELD_2_6_36: [&str; 5] = [
    "&buffer->mutex",
    "s_active#110",
    "&mem->state_mutex",
    "pm_mutex",
    "ksm_thread_mutex",
];

/// The held locks of Gerald Schaefer's 3.3 report.
const HELD_3_3: [&str; 6] = [
    "&buffer->mutex",
    "s_active#53",
    "&mem->state_mutex",
    "mem_hotplug_mutex",
    "pm_mutex",
    "ksm_thread_mutex/1",
];

/// Exactly one report: the circular dependency of §9, found at the second notification of
/// the first offline (acquiring the rwsem while holding the mutex), with `held` locks held.
fn assert_the_cycle(out: &Outcome, ksm: &str, held: &[&str]) {
    assert_eq!(out.reports.len(), 1, "{out}");
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::CircularDependency, "{report}");
    assert_eq!(report.acquiring().as_deref(), Some("(memory_chain).rwsem"));
    assert_eq!(report.holding().as_deref(), Some(ksm));
    let mut classes = report.class_names();
    classes.sort();
    assert_eq!(classes, ["(memory_chain).rwsem", ksm]);
    assert_eq!(report.held_locks(), names(held), "{report}");
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
    assert!(
        dot.contains(&format!(
            "\"{ksm}\" -> \"(memory_chain).rwsem\" [label=\"EN\", color=red"
        )),
        "{dot}"
    );
    // Nothing really went wrong in this run, and ksmd went on scanning.
    assert!(out.violations.is_empty(), "{out}");
    assert!(out.ksmd_progressed, "{out}");
}

#[test]
fn original_2_6_36_reports_the_cycle_holding_five_locks() {
    let out = scenario::before_after(Era::ORIGINAL);
    assert_the_cycle(&out, "ksm_thread_mutex", &HELD_2_6_36);
}

/// Without `CONFIG_HIBERNATION`, `lock_system_sleep()` takes nothing: four locks held, the
/// same cycle (a real one: see `tests/loom_ksm.rs`).
#[test]
fn original_2_6_36_without_hibernation_holds_no_hotplug_lock() {
    let out = scenario::before_after(Era::ORIGINAL_WITHOUT_HIBERNATION);
    assert_the_cycle(
        &out,
        "ksm_thread_mutex",
        &[
            "&buffer->mutex",
            "s_active#110",
            "&mem->state_mutex",
            "ksm_thread_mutex",
        ],
    );
}

/// 2.6.37: `mem_hotplug_mutex` arrives with the annotation, and the cycle goes through
/// `ksm_thread_mutex/1`.
#[test]
fn nested_2_6_37_reports_the_cycle_through_subclass_1() {
    let out = scenario::before_after(Era::NESTED_2_6_37);
    assert_the_cycle(&out, "ksm_thread_mutex/1", &HELD_3_3);
}

#[test]
fn nested_3_3_reports_the_cycle_holding_six_locks() {
    let out = scenario::before_after(Era::NESTED_3_3);
    assert_the_cycle(&out, "ksm_thread_mutex/1", &HELD_3_3);
}

#[test]
fn the_fix_is_silent_and_ksmd_keeps_scanning() {
    let out = scenario::before_after(Era::FIX);
    assert!(out.reports.is_empty(), "{out}");
    assert!(out.violations.is_empty(), "{out}");
    assert!(out.ksmd_progressed, "{out}");
    assert_eq!(out.max_concurrent_offlines, 1);
    assert_eq!(out.hung_waits, 0);
}

/// Before the fix, `MEM_CANCEL_OFFLINE` after a veto really unlocks `ksm_thread_mutex`,
/// which ksmd holds mid-batch: lockdep reports the bad unlock (and, in the kernel, turns
/// itself off), and `echo 2 > run` gets into the critical section beside ksmd.
fn assert_the_veto_breaks_mutual_exclusion(era: Era, held: &[&str]) {
    let out = scenario::veto(era);
    assert!(out.notes[0].ends_with("-EPERM"), "{out}");
    assert_eq!(out.reports.len(), 1, "{out}");
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::BadUnlockBalance, "{report}");
    assert_eq!(report.class_names(), ["ksm_thread_mutex"]);
    assert_eq!(report.held_locks(), names(held), "{report}");
    assert_eq!(
        out.violations,
        [
            Violation::UnbalancedUnlock {
                action: MemAction::CancelOffline
            },
            Violation::MutualExclusion {
                holder: Actor::Ksmd,
                intruder: Actor::RunStore,
            },
        ],
        "{out}"
    );
    assert_eq!(
        out.notes[1..],
        [
            "echo 2 > run got into ksm_thread_mutex while ksmd was still mid-batch",
            "echo 2 > run: ok",
            "ksmd's step: Scanned",
        ],
        "{out}"
    );
}

#[test]
fn veto_lets_a_second_task_into_ksmds_critical_section_on_2_6_36() {
    assert_the_veto_breaks_mutual_exclusion(
        Era::ORIGINAL,
        &[
            "&buffer->mutex",
            "s_active#110",
            "&mem->state_mutex",
            "pm_mutex",
            "(memory_chain).rwsem",
        ],
    );
}

#[test]
fn veto_lets_a_second_task_into_ksmds_critical_section_on_3_3() {
    assert_the_veto_breaks_mutual_exclusion(
        Era::NESTED_3_3,
        &[
            "&buffer->mutex",
            "s_active#53",
            "&mem->state_mutex",
            "mem_hotplug_mutex",
            "pm_mutex",
            "(memory_chain).rwsem",
        ],
    );
}

/// After the fix, `MEM_CANCEL_OFFLINE` clears a bit that was never set: the store waits for
/// ksmd's batch.
#[test]
fn veto_is_harmless_after_the_fix() {
    let out = scenario::veto(Era::FIX);
    assert!(out.notes[0].ends_with("-EPERM"), "{out}");
    assert!(out.reports.is_empty(), "{out}");
    assert!(out.violations.is_empty(), "{out}");
    assert_eq!(
        out.notes[1..],
        [
            "echo 2 > run waited for ksmd's batch",
            "echo 2 > run: ok",
            "ksmd's step: Scanned",
        ],
        "{out}"
    );
}
