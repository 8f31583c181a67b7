//! The report text, on its stable parts: banner, thread and locks, the dependency chain, the
//! "Chain exists of" line for longer cycles, the scenario table (with `rlock` for readers),
//! "*** DEADLOCK ***" and the held-lock list.
#![cfg(lockdep_enabled)]

use lockdep::{LockClass, Mutex, Report, ReportKind, RwLock};

fn class(name: &'static str) -> &'static LockClass {
    Box::leak(Box::new(LockClass::new(name)))
}

fn lines(r: &Report) -> Vec<String> {
    r.to_string().lines().map(str::to_string).collect()
}

fn index_of(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not found in:\n{}", lines.join("\n")))
}

#[test]
fn two_lock_cycle_is_laid_out_like_the_kernel() {
    let (a, b) = (
        Mutex::with_class(class("txt_A"), ()),
        Mutex::with_class(class("txt_B"), ()),
    );
    let (_, reports) = lockdep::capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1);
    let l = lines(&reports[0]);
    let title = "WARNING: possible circular locking dependency detected";
    let t = index_of(&l, title);
    assert_eq!(l[t - 1], "=".repeat(title.len()));
    assert_eq!(l[t + 2], "-".repeat(title.len()));
    let acq = index_of(&l, "is trying to acquire lock:");
    assert!(
        l[acq].starts_with("two_lock_cycle_is_laid_out_like_the_kernel/"),
        "{}",
        l[acq]
    );
    assert!(
        l[acq + 1].contains("(txt_A), at: lockdep-rs/tests/report_text.rs:35:"),
        "{}",
        l[acq + 1]
    );
    let hold = index_of(&l, "but thread is already holding lock:");
    assert!(l[hold + 1].contains("(txt_B)"), "{}", l[hold + 1]);
    let dep = index_of(&l, "which lock already depends on the new lock.");
    let chain = index_of(&l, "the existing dependency chain (in reverse order) is:");
    let one = index_of(&l, "-> #1 (txt_B):");
    let zero = index_of(&l, "-> #0 (txt_A):");
    assert!(acq < hold && hold < dep && dep < chain && chain < one && one < zero);
    assert!(
        l[one + 1].contains("txt_B taken at lockdep-rs/tests/report_text.rs:"),
        "{}",
        l[one + 1]
    );
    // The dependency's type in words (Report::cycle() keeps the kernel's tags).
    assert!(
        l[one + 1].ends_with("; txt_A held exclusively"),
        "{}",
        l[one + 1]
    );
    assert_eq!(reports[0].cycle()[1].2, "EN");
    // No kernel IRQ-usage bits: they carry nothing in user space.
    assert!(!l.iter().any(|x| x.contains("{+.+.}")));
    assert!(
        !l.iter().any(|x| x.contains("Chain exists of:")),
        "two-lock cycles have no chain line"
    );
    let s = index_of(&l, " Possible unsafe locking scenario:");
    assert_eq!(l[s + 2], "       CPU0                    CPU1");
    assert_eq!(l[s + 3], "       ----                    ----");
    assert_eq!(l[s + 4], "  lock(txt_B);");
    assert_eq!(l[s + 5], "                               lock(txt_A);");
    assert_eq!(l[s + 6], "                               lock(txt_B);");
    assert_eq!(l[s + 7], "  lock(txt_A);");
    assert_eq!(l[s + 9], " *** DEADLOCK ***");
    let held = index_of(
        &l,
        "1 lock held by two_lock_cycle_is_laid_out_like_the_kernel/",
    );
    assert!(
        l[held + 1].starts_with(" #0: lock#") && l[held + 1].contains("(txt_B)"),
        "{}",
        l[held + 1]
    );
    index_of(&l, "stack backtrace:");
}

#[test]
fn longer_cycles_print_the_chain_and_readers_print_rlock() {
    let (a, b, c) = (
        RwLock::with_class(class("txt3_A"), ()),
        RwLock::with_class(class("txt3_B"), ()),
        RwLock::with_class(class("txt3_C"), ()),
    );
    let (_, reports) = lockdep::capture(|| {
        {
            let _a = a.write();
            let _b = b.write();
        }
        {
            let _b = b.write();
            let _c = c.write();
        }
        let _c = c.read();
        let _a = a.read(); // C(r) -> A(r) closes A -> B -> C -> A
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    assert_eq!(r.class_names(), ["txt3_A", "txt3_B", "txt3_C"]);
    let l = lines(r);
    let ce = index_of(&l, "Chain exists of:");
    assert_eq!(l[ce + 1], "  txt3_A --> txt3_B --> txt3_C");
    index_of(&l, "-> #2 (txt3_C)");
    index_of(&l, "-> #1 (txt3_B)");
    index_of(&l, "-> #0 (txt3_A)");
    let s = index_of(&l, " Possible unsafe locking scenario:");
    assert_eq!(l[s + 4], "  rlock(txt3_C);");
    assert_eq!(l[s + 5], "                               lock(txt3_B);");
    assert_eq!(l[s + 6], "                               lock(txt3_C);");
    assert_eq!(l[s + 7], "  rlock(txt3_A);");
}

#[test]
fn each_kind_has_its_own_header() {
    assert!(lockdep::is_validating());
    let k = class("txt_same");
    let (x1, x2) = (Mutex::with_class(k, ()), Mutex::with_class(k, ()));
    let (_, r) = lockdep::capture(|| {
        let _a = x1.lock();
        let _b = x2.lock();
    });
    let l = lines(&r[0]);
    index_of(&l, "WARNING: possible recursive locking detected");
    index_of(&l, " May be due to missing lock nesting notation");
    let m = Mutex::with_class(class("txt_unheld"), ());
    // SAFETY: validation is on, so an unheld force_unlock is only reported.
    let (_, r) = lockdep::capture(|| unsafe { m.force_unlock() });
    let l = lines(&r[0]);
    index_of(&l, "WARNING: bad unlock balance detected!");
    index_of(&l, "is trying to release lock (txt_unheld) at:");
    index_of(&l, "but there are no more locks to release!");
    let (_, r) = lockdep::capture(|| {
        let f = Mutex::with_class(class("txt_freed"), ());
        std::mem::forget(f.lock());
        drop(f);
    });
    assert_eq!(r[0].kind(), ReportKind::HeldLockFreed);
    index_of(&lines(&r[0]), "WARNING: held lock freed!");
}
