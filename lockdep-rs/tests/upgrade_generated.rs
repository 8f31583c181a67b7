//! Generated programs for the upgradable read as a nest lock: an `RwLock` `P` held as the
//! upgradable reader, writer or reader, changed by every upgrade and downgrade of the drop-in
//! API (`upgrade`, `try_upgrade`, `try_upgrade_for`, `with_upgraded`, `try_with_upgraded`,
//! `try_with_upgraded_for`, `downgrade`, `downgrade_to_upgradable`), with children of one
//! class `K` taken under it (`lock_nest_lock`), `unlocked` and `bump` on them, and a plain
//! mutex `M` taken in any order. The oracle of `oracle.rs` models no upgradable read, so it
//! could not find that a blocking upgrade with a child held left the children stripped of
//! their nest lock (the next child was a false recursive locking: `nest_modes.rs`).
//!
//! Some changes run with validation `Off` (switched back on after them).
//!
//! What must hold, whatever the program: the children are always taken under a held nest
//! lock (the program drops `P` only when no child is held), so no `RecursiveLocking`; the
//! only reports are cycles between `P`, `K` and `M` (upgrading `P` with a child held is a
//! real one: the upgrade waits for the readers holding the child); two children in both
//! orders (`InstanceInversion`) only if one of the orders was taken while `P` was held as a
//! plain reader (a child taken back by `unlocked` or `bump` after a downgrade): readers share
//! the nest lock, while the upgradable reader and the writer exclude each other, so orders
//! taken under those cannot deadlock; a change made in `Off` mode reports nothing; and after
//! every step lockdep's held state is the guards' (no stale entry, nothing missing), and the
//! real locks too. `PROPTEST_CASES` sets
//! the number of programs (default 1500).
#![cfg(lockdep_enabled)]

mod common;

use std::time::Duration;

use lockdep::{
    LockClass, Mode, Mutex, MutexGuard, ReportKind, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use proptest::prelude::*;

/// How `P` is taken or changed.
#[derive(Clone, Copy, Debug)]
enum Change {
    Upgrade,
    TryUpgrade,
    TryUpgradeFor,
    WithUpgraded,
    TryWithUpgraded,
    TryWithUpgradedFor,
    /// Write to read, or upgradable to read.
    Downgrade,
    DowngradeToUpgradable,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Take `P`: 0 upgradable, 1 write, 2 read.
    TakeP(u8),
    Change(Change),
    /// The same with validation `Off` (switched back on after it): nothing is validated or
    /// reported, and the held state is kept (the entry changes in place, unvalidated).
    ChangeOff(Change),
    /// Drop `P` (only when no child is held).
    DropP,
    /// Take child `k` under `P` (held as the upgradable reader or the writer).
    Child(usize),
    DropChild(usize),
    UnlockedChild(usize),
    BumpChild(usize),
    LockM,
    DropM,
}

fn op() -> impl Strategy<Value = Op> {
    let change = prop_oneof![
        Just(Change::Upgrade),
        Just(Change::TryUpgrade),
        Just(Change::TryUpgradeFor),
        Just(Change::WithUpgraded),
        Just(Change::TryWithUpgraded),
        Just(Change::TryWithUpgradedFor),
        Just(Change::Downgrade),
        Just(Change::DowngradeToUpgradable),
    ];
    prop_oneof![
        3 => (0..3u8).prop_map(Op::TakeP),
        4 => change.clone().prop_map(Op::Change),
        1 => change.prop_map(Op::ChangeOff),
        1 => Just(Op::DropP),
        4 => (0..3usize).prop_map(Op::Child),
        2 => (0..3usize).prop_map(Op::DropChild),
        1 => (0..3usize).prop_map(Op::UnlockedChild),
        1 => (0..3usize).prop_map(Op::BumpChild),
        2 => Just(Op::LockM),
        2 => Just(Op::DropM),
    ]
}

/// How this thread holds `P`.
enum PGuard<'a> {
    Upg(RwLockUpgradableReadGuard<'a, ()>),
    Write(RwLockWriteGuard<'a, ()>),
    Read(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
}

/// A fresh class `gen.up.<n>.<what>`.
fn class(n: usize, what: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("gen.up.{n}.{what}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

const SHORT: Duration = Duration::from_millis(1);

/// Runs one program on locks of fresh classes `n`; returns its reports, and whether a child
/// was taken (back) while `P` was held as a plain reader.
fn run_program(n: usize, ops: &[Op]) -> (Vec<lockdep::Report>, bool) {
    let p = RwLock::with_class(class(n, "P"), ());
    let kid_class = class(n, "K");
    let kids: Vec<Mutex<()>> = (0..3).map(|_| Mutex::with_class(kid_class, ())).collect();
    let m = Mutex::with_class(class(n, "M"), ());
    let mut pg: Option<PGuard<'_>> = None;
    let mut children: Vec<(usize, MutexGuard<'_, ()>)> = Vec::new();
    let mut mg: Option<MutexGuard<'_, ()>> = None;
    let mut under_reader = false;
    let check = |pg: &Option<PGuard<'_>>,
                 children: &Vec<(usize, MutexGuard<'_, ()>)>,
                 mg: &Option<MutexGuard<'_, ()>>,
                 step: usize,
                 op: &Op| {
        let at = format!("step {step} ({op:?})");
        assert_eq!(lockdep::held_state(&p), Some(pg.is_some()), "{at}: P");
        assert_eq!(p.is_locked(), pg.is_some(), "{at}: P really");
        let writing = matches!(pg, Some(PGuard::Write(_)));
        assert_eq!(p.is_locked_exclusive(), writing, "{at}: P written");
        for (k, kid) in kids.iter().enumerate() {
            let held = children.iter().any(|(j, _)| *j == k);
            assert_eq!(lockdep::held_state(kid), Some(held), "{at}: K{k}");
            assert_eq!(kid.is_locked(), held, "{at}: K{k} really");
        }
        assert_eq!(lockdep::held_state(&m), Some(mg.is_some()), "{at}: M");
    };
    for (step, op) in ops.iter().enumerate() {
        if matches!(op, Op::UnlockedChild(_) | Op::BumpChild(_))
            && !children.is_empty()
            && matches!(pg, Some(PGuard::Read(_)))
        {
            under_reader = true;
        }
        match *op {
            Op::TakeP(how) if pg.is_none() => {
                pg = Some(match how {
                    0 => PGuard::Upg(p.upgradable_read()),
                    1 => PGuard::Write(p.write()),
                    _ => PGuard::Read(p.read()),
                })
            }
            Op::Change(c) => pg = pg.take().map(|g| change(g, c)),
            Op::ChangeOff(c) => {
                lockdep::set_mode(Mode::Off);
                let (changed, reports) = lockdep::capture(|| pg.take().map(|g| change(g, c)));
                lockdep::set_mode(Mode::Collect);
                pg = changed;
                assert!(
                    reports.is_empty(),
                    "step {step} ({op:?}): validated in Off mode: {reports:?}"
                );
            }
            Op::DropP if children.is_empty() => pg = None,
            Op::Child(k) if !children.iter().any(|(j, _)| *j == k) => match &pg {
                Some(PGuard::Upg(g)) => children.push((k, kids[k].lock_nest_lock(g))),
                Some(PGuard::Write(g)) => children.push((k, kids[k].lock_nest_lock(g))),
                _ => {}
            },
            Op::DropChild(i) if !children.is_empty() => {
                let i = i % children.len();
                drop(children.remove(i));
            }
            Op::UnlockedChild(i) if !children.is_empty() => {
                let i = i % children.len();
                MutexGuard::unlocked(&mut children[i].1, || {});
            }
            Op::BumpChild(i) if !children.is_empty() => {
                let i = i % children.len();
                MutexGuard::bump(&mut children[i].1);
            }
            Op::LockM if mg.is_none() => mg = Some(m.lock()),
            Op::DropM => mg = None,
            _ => {}
        }
        check(&pg, &children, &mg, step, op);
    }
    drop(children);
    drop(pg);
    drop(mg);
    assert_eq!(lockdep::held_state(&p), Some(false), "P at the end");
    (lockdep::take_reports(), under_reader)
}

/// Applies `c` to the guard of `P` (a change that does not apply gives it back as it was).
fn change(g: PGuard<'_>, c: Change) -> PGuard<'_> {
    use RwLockUpgradableReadGuard as Upg;
    match (g, c) {
        (PGuard::Upg(u), Change::Upgrade) => PGuard::Write(Upg::upgrade(u)),
        (PGuard::Upg(u), Change::TryUpgrade) => match Upg::try_upgrade(u) {
            Ok(w) => PGuard::Write(w),
            Err(u) => PGuard::Upg(u),
        },
        (PGuard::Upg(u), Change::TryUpgradeFor) => match Upg::try_upgrade_for(u, SHORT) {
            Ok(w) => PGuard::Write(w),
            Err(u) => PGuard::Upg(u),
        },
        (PGuard::Upg(mut u), Change::WithUpgraded) => {
            u.with_upgraded(|_| ());
            PGuard::Upg(u)
        }
        (PGuard::Upg(mut u), Change::TryWithUpgraded) => {
            assert!(u.try_with_upgraded(|_| ()).is_some(), "no reader holds P");
            PGuard::Upg(u)
        }
        (PGuard::Upg(mut u), Change::TryWithUpgradedFor) => {
            assert!(
                u.try_with_upgraded_for(SHORT, |_| ()).is_some(),
                "no reader"
            );
            PGuard::Upg(u)
        }
        (PGuard::Upg(u), Change::Downgrade) => PGuard::Read(Upg::downgrade(u)),
        (PGuard::Write(w), Change::Downgrade) => PGuard::Read(RwLockWriteGuard::downgrade(w)),
        (PGuard::Write(w), Change::DowngradeToUpgradable) => {
            PGuard::Upg(RwLockWriteGuard::downgrade_to_upgradable(w))
        }
        (g, _) => g,
    }
}

#[test]
fn generated_upgrades_keep_the_children_under_their_nest_lock() {
    lockdep::set_mode(Mode::Collect);
    let mut runner = common::generator(1500);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reports, under_reader) = run_program(n, &ops);
        let allowed = [
            format!("gen.up.{n}.P"),
            format!("gen.up.{n}.K"),
            format!("gen.up.{n}.M"),
        ];
        for r in &reports {
            let inversion = r.kind() == ReportKind::InstanceInversion && under_reader;
            prop_assert!(
                r.kind() == ReportKind::CircularDependency || inversion,
                "{:?}",
                reports
            );
            prop_assert!(
                r.class_names().iter().all(|c| allowed.contains(c)),
                "{:?}",
                reports
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
