//! The runs' reports as each era's kernel printed them (`ksm_model::kernel_log`), line by
//! line where the model knows the line: the title, the version line (3.x), the locks, the
//! unsafe locking scenario (3.x), the held locks, and after the first report only "INFO:
//! lockdep is turned off.".
//!
//! Each test runs kernels no other test of this binary runs, so that each finds its own
//! report (lockdep-rs reports each distinct problem once per process).
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::kernel_log::KernelLog;
use ksm_model::scenario;
use ksm_model::{
    Actor, Config, Design, Era, Kernel, MemAction, Migration, NotifierBlock, Violation,
};
use lockdep::ReportKind;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Gerald Schaefer's 3.3 report, as the model's s390 kernel prints it: his lines, with the
/// addresses and stack frames elided and the model's task name.
#[test]
fn the_3_3_report_reads_like_the_2012_mail() {
    let out = scenario::before_after(Era::NESTED_3_3);
    assert!(out.config.s390);
    let log = out.kernel_log();
    let task = out.reports[0].thread().to_string();
    let expected = format!(
        "
=======================================================
[ INFO: possible circular locking dependency detected ]
3.3.0 #1 Not tainted
-------------------------------------------------------
{task} is trying to acquire lock:
 ((memory_chain).rwsem){{.+.+.+}}, at: [<...>] __blocking_notifier_call_chain

but task is already holding lock:
 (ksm_thread_mutex/1){{+.+.+.}}, at: [<...>] ksm_memory_callback

which lock already depends on the new lock.


the existing dependency chain (in reverse order) is:

-> #1 (ksm_thread_mutex/1){{+.+.+.}}:
       [...]

-> #0 ((memory_chain).rwsem){{.+.+.+}}:
       [...]

other info that might help us debug this:

 Possible unsafe locking scenario:

       CPU0                    CPU1
       ----                    ----
  lock(ksm_thread_mutex/1);
                               lock((memory_chain).rwsem);
                               lock(ksm_thread_mutex/1);
  lock((memory_chain).rwsem);

 *** DEADLOCK ***

6 locks held by {task}:
 #0:  (&buffer->mutex){{+.+.+.}}, at: [<...>] sysfs_write_file
 #1:  (s_active#53){{.+.+.+}}, at: [<...>] sysfs_write_file
 #2:  (&mem->state_mutex){{+.+.+.}}, at: [<...>] memory_block_change_state
 #3:  (mem_hotplug_mutex){{+.+.+.}}, at: [<...>] lock_memory_hotplug
 #4:  (pm_mutex){{+.+.+.}}, at: [<...>] lock_memory_hotplug
 #5:  (ksm_thread_mutex/1){{+.+.+.}}, at: [<...>] ksm_memory_callback

stack backtrace:
       [...]
INFO: lockdep is turned off.
"
    );
    assert_eq!(lines(log.text()), lines(&expected), "{log}");
    assert!(log.unseen().is_empty());
}

/// KOSAKI's 2.6.36 report (x86): no version line, no scenario (that came with 2.6.39), five
/// locks held, and no "lockdep is turned off" after it.
#[test]
fn the_2_6_36_report_has_its_eras_layout() {
    let out = scenario::before_after(Era::ORIGINAL);
    assert!(!out.config.s390);
    let log = out.kernel_log();
    let text = log.text();
    let all = lines(text);
    assert_eq!(
        all[1..4],
        [
            "=======================================================",
            "[ INFO: possible circular locking dependency detected ]",
            "-------------------------------------------------------",
        ],
        "{text}"
    );
    assert!(!text.contains("Possible unsafe locking scenario"), "{text}");
    assert!(!text.contains("*** DEADLOCK ***"), "{text}");
    let held_at = all
        .iter()
        .position(|l| l.starts_with("5 locks held by "))
        .expect("five locks held");
    assert_eq!(
        all[held_at + 1..held_at + 6],
        [
            " #0:  (&buffer->mutex){+.+.+.}, at: [<...>] sysfs_write_file",
            " #1:  (s_active#110){.+.+.+}, at: [<...>] sysfs_write_file",
            " #2:  (&mem->state_mutex){+.+.+.}, at: [<...>] memory_block_change_state",
            " #3:  (pm_mutex){+.+.+.}, at: [<...>] remove_memory",
            " #4:  (ksm_thread_mutex){+.+.+.}, at: [<...>] ksm_memory_callback",
        ],
        "{text}"
    );
    assert_eq!(all.last(), Some(&"       [...]"), "{text}");
}

/// The veto on 3.3: the bad unlock is the boot's first report, printed as such.
#[test]
fn the_veto_prints_a_bad_unlock_balance() {
    let out = scenario::veto(Era::NESTED_3_3);
    let text = out.kernel_log().text().to_string();
    let task = out.reports[0].thread().to_string();
    let all = lines(&text);
    assert_eq!(
        all[1..9],
        [
            "=====================================",
            "[ BUG: bad unlock balance detected! ]",
            "3.3.0 #1 Not tainted",
            "-------------------------------------",
            &format!("{task} is trying to release lock (ksm_thread_mutex) at:"),
            "[<...>] ksm_memory_callback",
            "but there are no more locks to release!",
            "",
        ],
        "{text}"
    );
    assert!(
        text.contains(&format!("6 locks held by {task}:\n")),
        "{text}"
    );
    assert!(
        text.contains(
            " #5:  ((memory_chain).rwsem){.+.+.+}, at: [<...>] __blocking_notifier_call_chain\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("INFO: lockdep is turned off.\n"), "{text}");
}

/// After the first report 2013's lockdep is off: a later report is lockdep-rs's alone, and a
/// later hung task's held locks print as "INFO: lockdep is turned off.".
#[test]
fn after_the_first_report_lockdep_is_turned_off() {
    let kernel = Kernel::boot(Era::ORIGINAL_WITHOUT_HIBERNATION, Config::default());
    let ((), reports) = lockdep::capture(|| {
        assert_eq!(kernel.offline_pages(1, Migration::Succeed), Ok(()));
        kernel.register_memory_notifier(NotifierBlock::error_inject(
            "inject",
            200,
            &[MemAction::GoingOffline],
        ));
        assert!(kernel.offline_pages(2, Migration::Succeed).is_err());
    });
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds,
        [ReportKind::CircularDependency, ReportKind::BadUnlockBalance]
    );
    let hung = Violation::HungTask {
        actor: Actor::Ksmd,
        holding: Some("ksm_thread_mutex"),
    };
    let log = KernelLog::new(
        kernel.release(),
        false,
        &reports,
        std::slice::from_ref(&hung),
    );
    assert_eq!(
        log.printed().map(|r| r.kind()),
        Some(ReportKind::CircularDependency)
    );
    assert_eq!(log.unseen().len(), 1);
    assert_eq!(log.unseen()[0].kind(), ReportKind::BadUnlockBalance);
    let text = log.text();
    assert!(!text.contains("bad unlock balance"), "{text}");
    assert!(
        text.ends_with(
            "INFO: task ksmd blocked for more than 120 seconds.\n\
             \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.\n\
             Call Trace:\n [...]\n\
             INFO: lockdep is turned off.\n"
        ),
        "{text}"
    );

    // With lockdep still on, the hung task's held locks are listed.
    let log = KernelLog::new(kernel.release(), false, &[], &[hung]);
    assert!(
        log.text().ends_with(
            "1 lock held by ksmd:\n #0:  (ksm_thread_mutex){+.+.+.}, at: [<...>] ksm_scan_thread\n"
        ),
        "{}",
        log.text()
    );
}

/// A report of a kind 2013's lockdep did not have (lockdep-rs's event tracking) is never in
/// the kernel's log: WaitUnderMutex's kernel only shows the hung task.
#[test]
fn event_reports_are_lockdep_rs_only() {
    let out = scenario::window_scan(Design::WaitUnderMutex);
    let log = out.kernel_log();
    assert!(log.printed().is_none(), "{log}");
    assert!(!log.unseen().is_empty());
    assert!(log
        .unseen()
        .iter()
        .all(|r| r.kind() == ReportKind::CircularWait));
    assert!(
        log.text()
            .starts_with("INFO: task ksmd blocked for more than 120 seconds.\n"),
        "{log}"
    );
    assert!(log.text().contains("1 lock held by ksmd:\n"), "{log}");
}
