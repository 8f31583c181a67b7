//! The broken variants of §11, each through the script that exposes it, and the fix through
//! the same scripts.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::scenario::{self, Outcome};
use ksm_model::{Actor, Design, Era, FrameState, Violation};
use lockdep::ReportKind;

fn assert_clean(out: &Outcome) {
    assert!(out.reports.is_empty(), "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
    assert_eq!(out.hung_waits, 0, "{}", out);
}

/// Every violation is ksmd's `get_ksm_page()` on a frame of the offlining block.
fn assert_use_after_free_by_ksmd(out: &Outcome) {
    assert!(!out.violations.is_empty(), "{}", out);
    for violation in &out.violations {
        assert!(
            matches!(
                violation,
                Violation::UseAfterFree {
                    actor: Actor::Ksmd,
                    state: FrameState::Offlining,
                    pfn: 8..=15,
                    ..
                }
            ),
            "{violation:?}"
        );
    }
}

#[test]
fn no_lockout_lets_ksmd_touch_pages_that_may_vanish() {
    let out = scenario::window_scan(Design::NoLockout);
    assert!(out.reports.is_empty(), "{}", out);
    assert_use_after_free_by_ksmd(&out);
}

#[test]
fn unlocked_flag_does_not_wait_for_a_batch_in_progress() {
    let out = scenario::mid_batch(Design::UnlockedFlag);
    assert!(out.reports.is_empty(), "{}", out);
    assert_use_after_free_by_ksmd(&out);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("did not wait for ksmd's batch")),
        "{}",
        out
    );
}

// WaitUnderMutex (the real deadlock: ksmd sleeps on the bit holding the mutex the offliner
// needs; the watchdog ends it and lockdep's event tracking reports the circular wait) is
// asserted in tests/ksm_events.rs, `wait_under_mutex_is_a_circular_wait_through_the_event`.

/// 2.6.33–2.6.36 without `CONFIG_HIBERNATION` (§11.4, §10.1): nothing serialises two
/// offliners, the second gets into its window while the first holds `ksm_thread_mutex`, and
/// lockdep reports the cycle holding no hotplug lock. (The deadlock itself needs a notifier
/// registration queued between them: `tests/loom_ksm.rs`.)
#[test]
fn original_without_hibernation_lets_offlines_overlap() {
    let out = scenario::overlapping_offlines(Era::ORIGINAL_WITHOUT_HIBERNATION);
    assert_eq!(out.max_concurrent_offlines, 2, "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
    assert_eq!(out.reports.len(), 1, "{}", out);
    let report = &out.reports[0];
    assert_eq!(report.kind(), ReportKind::CircularDependency);
    assert_eq!(report.acquiring().as_deref(), Some("(memory_chain).rwsem"));
    assert_eq!(report.holding().as_deref(), Some("ksm_thread_mutex"));
    assert_eq!(
        report.held_locks(),
        [
            "&buffer->mutex",
            "s_active#110",
            "&mem->state_mutex",
            "ksm_thread_mutex"
        ]
    );
}

/// With `CONFIG_HIBERNATION`, `pm_mutex` already kept 2.6.33–2.6.36's offliners apart.
#[test]
fn pm_mutex_serialises_offlines_on_2_6_36() {
    let out = scenario::overlapping_offlines(Era::ORIGINAL);
    assert_eq!(out.max_concurrent_offlines, 1, "{}", out);
    assert!(out.violations.is_empty(), "{}", out);
}

#[test]
fn mem_hotplug_mutex_serialises_offlines() {
    let out = scenario::overlapping_offlines(Design::RunOffline);
    assert_eq!(out.max_concurrent_offlines, 1, "{}", out);
    assert_clean(&out);
}

#[test]
fn run_offline_keeps_ksmd_out_of_the_window() {
    let out = scenario::window_scan(Design::RunOffline);
    assert_clean(&out);
    assert!(out.notes.iter().any(|n| n.contains("Scanned")), "{}", out);
}

#[test]
fn run_offline_waits_for_the_batch_in_progress() {
    let out = scenario::mid_batch(Design::RunOffline);
    assert_clean(&out);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("waited for ksmd's batch")),
        "{}",
        out
    );
}
