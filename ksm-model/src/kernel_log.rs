//! A run's lockdep reports as the kernel of its era printed them, so that the model's output
//! can be put beside the mails.
//!
//! 2013's lockdep printed one report per boot: the first problem it found switched it off
//! (`debug_locks_off()`), and every later attempt to show a task's held locks printed "INFO:
//! lockdep is turned off." instead. On s390 that line follows the report itself, because the
//! architecture's stack dump ends by showing the task's held locks (hence Gerald Schaefer's
//! 3.3 report ends with it, and KOSAKI's x86 one does not); on every architecture it replaces
//! the held-lock list of a later hung-task warning. lockdep-rs keeps validating and reports
//! every distinct problem; [`KernelLog::unseen`] lists what the era's kernel would not have
//! printed (later reports, and kinds it did not have, such as lockdep-rs's
//! [`CircularWait`](ReportKind::CircularWait)).
//!
//! The layout is the era's: the `[ INFO: ... ]` title between rules, the version line (3.x),
//! the locks with their usage and acquire site, the dependency chain, the unsafe locking
//! scenario (2.6.39 on), the held locks. What the model cannot know is elided: addresses
//! print as `[<...>]` and each stack trace as one `[...]` line. Usage strings are the ones
//! the reports show for these classes (`{+.+.+.}` for a lock taken exclusively,
//! `{.+.+.+}` for an rwsem only read); the acquire sites are the functions where the offlining
//! task takes each lock in the model's kernels.

use crate::frames::{Actor, Violation};
use crate::Release;
use lockdep::{Report, ReportKind};
use std::fmt::{self, Write};

/// The kernel log of one run.
#[derive(Clone, Debug)]
pub struct KernelLog {
    text: String,
    printed: Option<Report>,
    unseen: Vec<Report>,
}

/// True for the kinds of report 2013's lockdep had.
fn known_in_2013(kind: ReportKind) -> bool {
    matches!(
        kind,
        ReportKind::CircularDependency
            | ReportKind::RecursiveLocking
            | ReportKind::BadUnlockBalance
            | ReportKind::HeldLockFreed
            | ReportKind::NestLockNotHeld
            | ReportKind::InvalidSubclass
            | ReportKind::LocksHeldAtExit
    )
}

/// The title the era's lockdep gave a kind of report.
fn title(kind: ReportKind) -> String {
    match kind {
        ReportKind::CircularDependency => {
            "[ INFO: possible circular locking dependency detected ]".into()
        }
        ReportKind::RecursiveLocking => "[ INFO: possible recursive locking detected ]".into(),
        ReportKind::BadUnlockBalance => "[ BUG: bad unlock balance detected! ]".into(),
        ReportKind::HeldLockFreed => "[ BUG: held lock freed! ]".into(),
        other => format!("[ BUG: {} ]", other.title().trim_start_matches("WARNING: ")),
    }
}

/// The usage string of a class as the reports print it.
fn usage(class: &str) -> &'static str {
    if class == "(memory_chain).rwsem" || class.starts_with("s_active") {
        "{.+.+.+}"
    } else {
        "{+.+.+.}"
    }
}

/// The function in which the offlining task takes `class`.
fn acquired_in(class: &str, release: Release) -> &'static str {
    match class {
        "&buffer->mutex" => "sysfs_write_file",
        c if c.starts_with("s_active") => "sysfs_write_file",
        "&mem->state_mutex" => "memory_block_change_state",
        "mem_hotplug_mutex" => "lock_memory_hotplug",
        "pm_mutex" if release == Release::V2_6_36 => "remove_memory",
        "pm_mutex" => "lock_memory_hotplug",
        "ksm_thread_mutex" | "ksm_thread_mutex/1" => "ksm_memory_callback",
        "(memory_chain).rwsem" => "__blocking_notifier_call_chain",
        _ => "?",
    }
}

/// ` (class){usage}, at: [<...>] function`.
fn lock_line(class: &str, release: Release) -> String {
    format!(
        " ({class}){}, at: [<...>] {}",
        usage(class),
        acquired_in(class, release)
    )
}

impl KernelLog {
    /// The log of a run of `release` (on s390 if `s390`) that raised `reports` and
    /// `violations`, in that order.
    pub fn new(
        release: Release,
        s390: bool,
        reports: &[Report],
        violations: &[Violation],
    ) -> KernelLog {
        let printed_at = reports.iter().position(|r| known_in_2013(r.kind()));
        let printed = printed_at.map(|at| reports[at].clone());
        let unseen = reports
            .iter()
            .enumerate()
            .filter(|(at, _)| Some(*at) != printed_at)
            .map(|(_, r)| r.clone())
            .collect();
        let mut text = String::new();
        if let Some(report) = &printed {
            let _ = render_report(&mut text, report, release);
            text.push_str("stack backtrace:\n       [...]\n");
            if s390 {
                text.push_str("INFO: lockdep is turned off.\n");
            }
        }
        for violation in violations {
            if let Violation::HungTask { actor, holding } = violation {
                let _ = render_hung_task(&mut text, *actor, *holding, printed.is_some());
            }
        }
        KernelLog {
            text,
            printed,
            unseen,
        }
    }

    /// The text, as the era's kernel would have logged it (empty if it logged nothing).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The report the era's lockdep printed: the run's first of a kind it had.
    pub fn printed(&self) -> Option<&Report> {
        self.printed.as_ref()
    }

    /// lockdep-rs's other reports of the run: the era's lockdep was off by then, or had no
    /// such kind of report.
    pub fn unseen(&self) -> &[Report] {
        &self.unseen
    }
}

impl fmt::Display for KernelLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn render_report(out: &mut String, report: &Report, release: Release) -> fmt::Result {
    let title = title(report.kind());
    let rule = |c: char| c.to_string().repeat(title.len());
    writeln!(out)?;
    writeln!(out, "{}", rule('='))?;
    writeln!(out, "{title}")?;
    if release.lockdep_prints_version() {
        writeln!(out, "{} #1 Not tainted", release.version())?;
    }
    writeln!(out, "{}", rule('-'))?;
    let thread = report.thread();
    match report.kind() {
        ReportKind::CircularDependency => render_cycle(out, report, release)?,
        ReportKind::BadUnlockBalance => {
            let class = report.acquiring().unwrap_or_default();
            writeln!(out, "{thread} is trying to release lock ({class}) at:")?;
            writeln!(out, "[<...>] {}", acquired_in(&class, release))?;
            writeln!(out, "but there are no more locks to release!")?;
            writeln!(out)?;
            writeln!(out, "other info that might help us debug this:")?;
        }
        _ => {
            writeln!(out, "{thread} is trying to acquire lock:")?;
            writeln!(
                out,
                "{}",
                lock_line(&report.acquiring().unwrap_or_default(), release)
            )?;
            writeln!(out)?;
            writeln!(out, "other info that might help us debug this:")?;
        }
    }
    render_held_locks(out, thread, &report.held_locks(), release)?;
    writeln!(out)
}

fn render_cycle(out: &mut String, report: &Report, release: Release) -> fmt::Result {
    let acquiring = report.acquiring().unwrap_or_default();
    let holding = report.holding().unwrap_or_default();
    writeln!(out, "{} is trying to acquire lock:", report.thread())?;
    writeln!(out, "{}", lock_line(&acquiring, release))?;
    writeln!(out)?;
    writeln!(out, "but task is already holding lock:")?;
    writeln!(out, "{}", lock_line(&holding, release))?;
    writeln!(out)?;
    writeln!(out, "which lock already depends on the new lock.")?;
    writeln!(out)?;
    writeln!(out)?;
    writeln!(out, "the existing dependency chain (in reverse order) is:")?;
    // The cycle's edges after the closing one run from the lock being acquired back to the
    // held one; the kernel prints that path from its far end.
    let mut path: Vec<String> = report
        .cycle()
        .iter()
        .skip(1)
        .map(|(from, _, _)| from.clone())
        .collect();
    path.push(holding.clone());
    for (depth, class) in path.iter().enumerate().rev() {
        writeln!(out)?;
        writeln!(out, "-> #{depth} ({class}){}:", usage(class))?;
        writeln!(out, "       [...]")?;
    }
    writeln!(out)?;
    writeln!(out, "other info that might help us debug this:")?;
    writeln!(out)?;
    if release.lockdep_prints_scenario() {
        let parent = path
            .len()
            .checked_sub(2)
            .map_or(acquiring.as_str(), |at| path[at].as_str());
        if parent != acquiring {
            writeln!(out, "Chain exists of:")?;
            writeln!(out, "  {acquiring} --> {parent} --> {holding}")?;
            writeln!(out)?;
        }
        writeln!(out, " Possible unsafe locking scenario:")?;
        writeln!(out)?;
        writeln!(out, "       CPU0                    CPU1")?;
        writeln!(out, "       ----                    ----")?;
        writeln!(out, "  lock({holding});")?;
        writeln!(out, "                               lock({parent});")?;
        writeln!(out, "                               lock({holding});")?;
        writeln!(out, "  lock({acquiring});")?;
        writeln!(out)?;
        writeln!(out, " *** DEADLOCK ***")?;
        writeln!(out)?;
    }
    Ok(())
}

fn render_held_locks(
    out: &mut String,
    thread: &str,
    held: &[String],
    release: Release,
) -> fmt::Result {
    match held.len() {
        0 => writeln!(out, "no locks held by {thread}.")?,
        1 => writeln!(out, "1 lock held by {thread}:")?,
        n => writeln!(out, "{n} locks held by {thread}:")?,
    }
    for (i, class) in held.iter().enumerate() {
        writeln!(out, " #{i}: {}", lock_line(class, release))?;
    }
    Ok(())
}

/// The hung-task detector's warning for a task asleep on `KSM_RUN_OFFLINE` (pids are not
/// modelled), with its held locks, or the line that replaces them once lockdep is off.
fn render_hung_task(
    out: &mut String,
    actor: Actor,
    holding: Option<&'static str>,
    lockdep_off: bool,
) -> fmt::Result {
    let task = actor.name();
    writeln!(out, "INFO: task {task} blocked for more than 120 seconds.")?;
    writeln!(
        out,
        "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message."
    )?;
    writeln!(out, "Call Trace:")?;
    writeln!(out, " [...]")?;
    if lockdep_off {
        return writeln!(out, "INFO: lockdep is turned off.");
    }
    match holding {
        None => writeln!(out, "no locks held by {task}."),
        Some(class) => {
            writeln!(out, "1 lock held by {task}:")?;
            let site = if actor == Actor::Ksmd {
                "ksm_scan_thread"
            } else {
                actor.name()
            };
            writeln!(out, " #0:  ({class}){}, at: [<...>] {site}", usage(class))
        }
    }
}
