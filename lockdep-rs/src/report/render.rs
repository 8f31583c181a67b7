//! The kernel-style text of a report ("splat"), laid out like lockdep's: banner, the thread
//! and locks involved, the dependency chain with where each edge was first recorded, the
//! unsafe locking scenario, the held locks and the current stack.

use std::fmt::{self, Write};

use super::{Link, LockLine, ReportData, ReportKind};

/// A chain longer than twice this shows its first and last this many links.
const SHOWN_LINKS: usize = 16;

pub(super) fn render(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let title = r.kind.title();
    let rule = |c: char| c.to_string().repeat(title.len());
    writeln!(f)?;
    writeln!(f, "{}", rule('='))?;
    writeln!(f, "{title}")?;
    writeln!(f, "lockdep-rs {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(f, "{}", rule('-'))?;
    match r.kind {
        ReportKind::CircularDependency | ReportKind::CircularWait => circular(r, f)?,
        ReportKind::InstanceInversion => instances(r, f)?,
        ReportKind::RecursiveLocking => recursive(r, f)?,
        ReportKind::BadUnlockBalance => bad_unlock(r, f)?,
        ReportKind::HeldLockFreed => freed(r, f)?,
        ReportKind::NestLockNotHeld => nest(r, f)?,
        ReportKind::LocksHeldAtExit => {
            writeln!(f, "{} is exiting with locks still held!", r.thread)?;
            held_list(r, f)?;
        }
        ReportKind::HeldAcrossAwait => {
            writeln!(
                f,
                "{} is suspended at an .await while holding the blocking lock:",
                r.thread
            )?;
            lock_line(r.acquiring.as_ref(), f)?;
            writeln!(f)?;
            notes(r, f)?;
            writeln!(f)?;
            held_list(r, f)?;
        }
        ReportKind::InvalidSubclass => {
            writeln!(f, "{} is trying to acquire lock:", r.thread)?;
            lock_line(r.acquiring.as_ref(), f)?;
            notes(r, f)?;
            held_list(r, f)?;
        }
    }
    writeln!(f)?;
    writeln!(f, "stack backtrace:")?;
    trace_lines(r.stack.frames(), 1, f)
}

fn lock_line(l: Option<&LockLine>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match l {
        Some(l) => writeln!(f, "{}", fmt_lock(l)),
        None => Ok(()),
    }
}

/// `lock#9 (A) [read], at: src/x.rs:17:5`: the lock instance (`lock#`: which lock of its
/// class, numbered in the order locks are first used), its class, how it is held (nothing:
/// exclusively), and where it was taken.
fn fmt_lock(l: &LockLine) -> String {
    let mode = match l.read {
        0 => "",
        1 => " [read]",
        _ => " [recursive read]",
    };
    let at = if l.instance == 0 {
        String::new()
    } else {
        format!("lock#{} ", l.instance)
    };
    format!(
        "{at}({}){mode}, at: {}:{}:{}",
        l.class,
        l.site.file(),
        l.site.line(),
        l.site.column()
    )
}

fn trace_lines(frames: &[String], indent: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for fr in frames {
        writeln!(f, "{:indent$}{fr}", "")?;
    }
    Ok(())
}

fn held_list(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match r.held.len() {
        0 => writeln!(f, "no locks held by {}.", r.thread)?,
        1 => writeln!(f, "1 lock held by {}:", r.thread)?,
        n => writeln!(f, "{n} locks held by {}:", r.thread)?,
    }
    for (i, l) in r.held.iter().enumerate() {
        writeln!(f, " #{i}: {}", fmt_lock(l))?;
    }
    Ok(())
}

fn notes(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for n in &r.notes {
        writeln!(f, "{n}")?;
    }
    Ok(())
}

fn name_of(l: Option<&LockLine>) -> &str {
    l.map(|l| l.class.as_str()).unwrap_or("?")
}

fn verb(l: Option<&LockLine>) -> &'static str {
    match l.map(|l| l.read) {
        Some(0) | None => "lock",
        _ => "rlock",
    }
}

fn link(i: usize, l: &Link, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "-> #{i} ({}):", l.class)?;
    writeln!(f, "       {}", l.what)?;
    trace_lines(l.trace.frames(), 7, f)?;
    writeln!(f)
}

/// The holder, as the report's sentences name it: the task (a tokio task's locks are its own,
/// not its thread's) or the thread.
fn holder(r: &ReportData) -> &'static str {
    if r.task.is_some() {
        "task"
    } else {
        "thread"
    }
}

/// "<thread> is trying to acquire lock: ... but thread is already holding lock: ..." (the
/// kernel's "but task is ...": task when the holder is a tokio task).
fn trying_while_holding(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{} is trying to acquire lock:", r.thread)?;
    lock_line(r.acquiring.as_ref(), f)?;
    writeln!(f)?;
    let holding = r.held_by.as_deref().unwrap_or(holder(r));
    writeln!(f, "but {holding} is already holding lock:")?;
    lock_line(r.holding.as_ref(), f)?;
    writeln!(f)
}

fn circular(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (next, prev) = (r.acquiring.as_ref(), r.holding.as_ref());
    trying_while_holding(r, f)?;
    writeln!(f, "which lock already depends on the new lock.")?;
    writeln!(f)?;
    writeln!(f)?;
    writeln!(f, "the existing dependency chain (in reverse order) is:")?;
    writeln!(f)?;
    let n = r.chain.len();
    for (k, l) in r.chain.iter().enumerate() {
        if n > 2 * SHOWN_LINKS && k == SHOWN_LINKS {
            let left_out = n - 2 * SHOWN_LINKS;
            writeln!(
                f,
                "-> ... {left_out} more links of the chain left out (Report::cycle() has them all) ...\n"
            )?;
        }
        if n > 2 * SHOWN_LINKS && (SHOWN_LINKS..n - SHOWN_LINKS).contains(&k) {
            continue;
        }
        link(n - 1 - k, l, f)?;
    }
    writeln!(f, "other info that might help us debug this:")?;
    writeln!(f)?;
    let (nn, pn) = (name_of(next), name_of(prev));
    let mid = r.middle.as_deref().unwrap_or(nn);
    if mid != nn {
        writeln!(f, "Chain exists of:")?;
        writeln!(f, "  {nn} --> {mid} --> {pn}")?;
        writeln!(f)?;
    }
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    writeln!(f, "       CPU0                    CPU1")?;
    writeln!(f, "       ----                    ----")?;
    writeln!(f, "  {}({pn});", verb(prev))?;
    writeln!(f, "                               lock({mid});")?;
    writeln!(f, "                               lock({pn});")?;
    writeln!(f, "  {}({nn});", verb(next))?;
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)?;
    if !r.gates.is_empty() {
        gates(r, f)?;
    }
    notes(r, f)?;
    held_list(r, f)
}

fn gates(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut list = String::new();
    for (i, g) in r.gates.iter().enumerate() {
        let _ = write!(list, "{}{g}", if i > 0 { ", " } else { "" });
    }
    let gates = if r.gates.len() == 1 {
        "this gate"
    } else {
        "these gates"
    };
    writeln!(
        f,
        "but every edge of this cycle was recorded while holding (gates):"
    )?;
    writeln!(f, "  {list}")?;
    writeln!(
        f,
        "each a lock with a single instance, so the two sides of the scenario above"
    )?;
    writeln!(
        f,
        "cannot run at the same time: {gates} serialise them, and the report is"
    )?;
    writeln!(
        f,
        "likely a false positive. If the gate is meant to protect this order,"
    )?;
    writeln!(
        f,
        "document it; if not, fix the order. To stop reporting cycles that every"
    )?;
    writeln!(
        f,
        "occurrence took under one gate: LOCKDEP_GATED=ignore (or lockdep::set_ignore_gated)."
    )?;
    writeln!(f)
}

fn recursive(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (next, prev) = (r.acquiring.as_ref(), r.holding.as_ref());
    trying_while_holding(r, f)?;
    writeln!(f, "other info that might help us debug this:")?;
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    writeln!(f, "       CPU0")?;
    writeln!(f, "       ----")?;
    writeln!(f, "  lock({});", name_of(prev))?;
    writeln!(f, "  lock({});", name_of(next))?;
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)?;
    if !r.same_instance {
        writeln!(f, " May be due to missing lock nesting notation")?;
        writeln!(f)?;
    }
    notes(r, f)?;
    held_list(r, f)
}

fn bad_unlock(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let at =
        r.at.map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "a guard's drop (see the stack backtrace below)".to_string());
    writeln!(
        f,
        "{} is trying to release lock ({}) at:",
        r.thread,
        name_of(r.acquiring.as_ref())
    )?;
    writeln!(f, "{at}")?;
    writeln!(f, "but there are no more locks to release!")?;
    notes(r, f)?;
    writeln!(f)?;
    writeln!(f, "other info that might help us debug this:")?;
    held_list(r, f)
}

fn freed(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match (&r.held_by, &r.acquiring) {
        // Held by another holder: where it took the lock is not known here.
        (Some(holder), Some(l)) => {
            writeln!(f, "{} is freeing a lock held by {holder}!", r.thread)?;
            writeln!(f, "lock#{} ({})", l.instance, l.class)?;
        }
        _ => {
            writeln!(f, "{} is freeing a lock that it still holds!", r.thread)?;
            lock_line(r.acquiring.as_ref(), f)?;
        }
    }
    notes(r, f)?;
    held_list(r, f)
}

fn nest(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{} is trying to lock:", r.thread)?;
    lock_line(r.acquiring.as_ref(), f)?;
    writeln!(f, "but this {} is not holding:", holder(r))?;
    writeln!(f, "{}", name_of(r.holding.as_ref()))?;
    writeln!(f)?;
    writeln!(f, "other info that might help us debug this:")?;
    notes(r, f)?;
    held_list(r, f)
}

#[cfg(all(test, lockdep_enabled))]
mod tests {
    /// A bad unlock found at a guard's drop (no call site) printed "release lock (M) at:"
    /// followed by an empty line.
    #[test]
    fn a_bad_unlock_without_a_call_site_says_where_to_look() {
        let held = crate::held_locks::HeldLocks::default();
        let site = std::panic::Location::caller();
        let (report, _) = crate::report::build::bad_unlock(&held, "M".into(), 1, None, site);
        let text = report.to_string();
        let line = text
            .lines()
            .skip_while(|l| !l.contains("is trying to release lock"))
            .nth(1)
            .unwrap();
        assert!(line.contains("a guard's drop"), "{text}");
    }
}

fn instances(r: &ReportData, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    trying_while_holding(r, f)?;
    writeln!(
        f,
        "which reverses an order these locks of one class were taken in before:"
    )?;
    writeln!(f)?;
    for l in &r.chain {
        writeln!(f, "  {}", l.what)?;
    }
    writeln!(f)?;
    let (next, prev) = (r.acquiring.as_ref(), r.holding.as_ref());
    let inst = |l: Option<&LockLine>| {
        l.map(|l| format!("lock#{}", l.instance))
            .unwrap_or_default()
    };
    writeln!(f, " Possible unsafe locking scenario:")?;
    writeln!(f)?;
    writeln!(f, "       CPU0                    CPU1")?;
    writeln!(f, "       ----                    ----")?;
    writeln!(f, "  lock({});", inst(prev))?;
    writeln!(f, "                               lock({});", inst(next))?;
    writeln!(f, "                               lock({});", inst(prev))?;
    writeln!(f, "  lock({});", inst(next))?;
    writeln!(f)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)?;
    if !r.gates.is_empty() {
        gates(r, f)?;
    }
    notes(r, f)?;
    held_list(r, f)
}
