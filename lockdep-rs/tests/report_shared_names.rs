//! Two locks `named` alike at two sites are two classes shown alike: a cycle between them
//! read `lock(state) … lock(state)` with nothing to tell which was which. The report now
//! says that the name stands for two classes, and where each was built.
#![cfg(lockdep_enabled)]

mod common;

use lockdep::ReportKind;

#[test]
fn a_cycle_between_two_classes_of_one_name_says_where_each_was_built() {
    let (line_a, a) = (line!(), lockdep::Mutex::named("shared-names.state", ()));
    let (line_b, b) = (line!(), lockdep::Mutex::named("shared-names.state", ()));
    let ((), reports) = lockdep::capture(|| {
        drop((a.lock(), b.lock()));
        let _b = b.lock();
        let _a = a.lock();
    });
    common::expect_kind(
        "B then A",
        &reports,
        ReportKind::CircularDependency,
        &common::names(&["shared-names.state", "shared-names.state"]),
    );
    let text = reports[0].to_string();
    let file = file!();
    let expected = format!(
        "shared-names.state names 2 different classes in this cycle (give them different \
         names to tell them apart):\n  - one built at {file}:{line_a}:"
    );
    assert!(text.contains(&expected), "{text}");
    assert!(
        text.contains(&format!("\n  - one built at {file}:{line_b}:")),
        "{text}"
    );
}

#[test]
fn a_cycle_between_classes_of_distinct_names_has_no_such_note() {
    let a = lockdep::Mutex::named("shared-names.A", ());
    let b = lockdep::Mutex::named("shared-names.B", ());
    let ((), reports) = lockdep::capture(|| {
        drop((a.lock(), b.lock()));
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1);
    assert!(
        !reports[0].to_string().contains("different classes"),
        "{}",
        reports[0]
    );
}

/// The note stays linear in the cycle's length when its classes all share one name (static
/// keys of one name, made in a loop): a cycle through 100,000 of them was reported in about
/// 30 s (a debug build), the note's grouping scanning each name's list for every class; the
/// same cycle of distinct names took under a second.
#[test]
fn a_long_cycle_of_one_name_is_reported_in_linear_time() {
    const N: usize = 100_000;
    let locks: Vec<lockdep::Mutex<()>> = (0..N)
        .map(|_| {
            let class: &'static lockdep::LockClass =
                Box::leak(Box::new(lockdep::LockClass::new("shared-names.many")));
            lockdep::Mutex::with_class(class, ())
        })
        .collect();
    let ((), reports) = lockdep::capture(|| {
        for w in locks.windows(2) {
            let _a = w[0].lock();
            let _b = w[1].lock();
        }
    });
    assert!(reports.is_empty(), "{reports:?}");
    let start = std::time::Instant::now();
    let ((), reports) = lockdep::capture(|| {
        let _z = locks[N - 1].lock();
        let _a = locks[0].lock();
    });
    let took = start.elapsed();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].class_names().len(), N);
    assert!(
        reports[0]
            .to_string()
            .contains("shared-names.many names 100000 different classes in this cycle"),
        "the note"
    );
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

/// A `Mutex` and an `RwLock` built by one `#[track_caller]` helper share its caller's site,
/// and so the name shown (the site), but are two classes: the note said "one built at" that
/// site twice, telling nothing apart; it now says which is which by the lock's kind.
#[test]
fn two_kinds_of_lock_built_at_one_site_are_told_apart() {
    #[track_caller]
    fn pair() -> (lockdep::Mutex<()>, lockdep::RwLock<()>) {
        (lockdep::Mutex::new(()), lockdep::RwLock::new(()))
    }
    let (line, (m, r)) = (line!(), pair());
    let ((), reports) = lockdep::capture(|| {
        drop((m.lock(), r.write()));
        let _r = r.write();
        let _m = m.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = reports[0].to_string();
    let file = file!();
    let site = format!("{file}:{line}:");
    assert!(text.contains("names 2 different classes"), "{text}");
    for kind in ["Mutex", "RwLock"] {
        let one = text
            .lines()
            .find(|l| l.starts_with("  - one built at ") && l.ends_with(&format!("(a `{kind}`)")));
        assert!(
            one.is_some_and(|l| l.contains(&site)),
            "the {kind} told apart: {text}"
        );
    }
}

/// `named("state")` at two sites, one taken as subclass 1: the cycle read `state` and
/// `state/1`, the kernel's way of showing one class and its subclass, with no note; they are
/// two classes. The note now compares names without their subclass, and says which is shown
/// how.
#[test]
fn a_subclass_of_a_class_of_the_same_name_is_told_apart() {
    let (line_a, a) = (line!(), lockdep::Mutex::named("shared-names.sub", ()));
    let (line_b, b) = (line!(), lockdep::Mutex::named("shared-names.sub", ()));
    let ((), reports) = lockdep::capture(|| {
        drop((a.lock(), b.lock_nested(1)));
        let _b = b.lock_nested(1);
        let _a = a.lock();
    });
    common::expect_kind(
        "B/1 then A",
        &reports,
        ReportKind::CircularDependency,
        &common::names(&["shared-names.sub", "shared-names.sub/1"]),
    );
    let text = reports[0].to_string();
    let file = file!();
    assert!(
        text.contains(
            "shared-names.sub names 2 different classes in this cycle (give them different \
             names to tell them apart):"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n  - one built at {file}:{line_a}:")),
        "{text}"
    );
    let b_line = text
        .lines()
        .find(|l| l.starts_with(&format!("  - one built at {file}:{line_b}:")));
    assert!(
        b_line.is_some_and(|l| l.ends_with(", shown `shared-names.sub/1`")),
        "{text}"
    );
}
