#![cfg(all(lockdep_enabled, not(loom)))]
//! Review 13: a hostile review of the day's changes (upgrade in place, the upgradable
//! reader's flag on held entries, waits begun with validation on, locks freed on another
//! thread than their holder's, `reset()` replaying instance orders). Each test pins a defect
//! found by the review (it failed before its fix):
//!
//! - in `Off` mode an upgrade (`upgrade`, `with_upgraded`, timed) of a guard taken earlier
//!   was validated all the same by the new in-place path: edges recorded and reports raised
//!   (kept, shown to the hook) while validation was off; so was a lock taken back after
//!   `unlocked` once the closure had turned validation `Off`;
//! - an upgrade in place put the written entry back at the position it had before its
//!   validation, not counting the entries below it forgotten meanwhile (a lock freed by
//!   another thread, purged while the report of the upgrade was delivered): the entry landed
//!   above its own children, which then looked taken outside their nest lock, and the next
//!   child was a false `RecursiveLocking`;
//! - a child taken under an upgradable guard marked every shared entry of its nest lock as
//!   the upgradable reader's, a recursive reader's beside it too: once the upgradable guard
//!   was gone, children taken under the recursive read guard passed for serialised by the
//!   upgradable reader, and a real `InstanceInversion` went unreported;
//! - a pseudo-lock (`LockMap`) acquired before `reset()` and dropped after it was reported
//!   as freed while "held by another thread or task": `reset()` forgot this thread's entry,
//!   but the map's count of holders still said held.

use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{Mode, Mutex, MutexGuard, ReportKind, RwLock, RwLockUpgradableReadGuard};

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "R13_CHILD";
use common::watchdog;

/// The kinds and classes of the reports kept so far (taken: they no longer fail the run),
/// sorted, for tests whose reports come from two threads.
fn kept_sorted() -> Vec<(ReportKind, Vec<String>)> {
    let mut v: Vec<(ReportKind, Vec<String>)> = lockdep::take_reports()
        .iter()
        .map(|r| (r.kind(), r.class_names()))
        .collect();
    v.sort_by_key(|(k, c)| (format!("{k:?}"), c.clone()));
    v
}

/// An upgradable reader `n` with `m` taken under it (`n -> m`), then validation turned `Off`
/// and the guard upgraded: nothing may be validated or recorded in `Off` (the write
/// acquisition on top of `m` would be `m -> n`, a cycle). Before the fix the upgrade ran
/// the slow path in `Off` mode: the `CircularDependency` was raised (kept), and the edge
/// recorded. The guard's entry stays held, now a writer's, as `Off` keeps the held state.
/// Run in a child process: the mode is process-wide.
#[test]
fn an_upgrade_in_off_mode_validates_nothing() {
    const NAME: &str = "an_upgrade_in_off_mode_validates_nothing";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    lockdep::set_mode(Mode::Collect);
    let n = RwLock::named("r13.off.n", ());
    let m = Mutex::named("r13.off.m", ());
    let x = Mutex::named("r13.off.x", ());
    let up = n.upgradable_read();
    let g = m.lock(); // n -> m
    lockdep::set_mode(Mode::Off);
    let w = RwLockUpgradableReadGuard::upgrade(up);
    let mut up = lockdep::RwLockWriteGuard::downgrade_to_upgradable(w);
    up.with_upgraded(|_| ());
    let w = RwLockUpgradableReadGuard::try_upgrade_for(up, std::time::Duration::from_secs(1))
        .map_err(|_| "no reader holds it")
        .unwrap();
    lockdep::set_mode(Mode::Collect);
    assert_eq!(lockdep::held_state(&n), Some(true), "still held");
    assert_eq!(lockdep::held_state(&m), Some(true), "still held");
    drop(g);
    drop(w);
    assert_eq!(lockdep::held_state(&n), Some(false));
    assert_eq!(lockdep::held_state(&m), Some(false));
    assert_eq!(kept_sorted(), vec![], "nothing validated in Off mode");
    // Nor was `m -> n` recorded: `x -> m -> n` closed by `n -> x` is no cycle.
    {
        let _x = x.lock();
        let _m = m.lock();
    }
    {
        let _n = n.write();
        let _x = x.lock();
    }
    assert_eq!(kept_sorted(), vec![], "no edge recorded in Off mode");
}

/// `m` then `x` (`m -> x`); `unlocked` on `m`'s guard, whose closure turns validation `Off`:
/// `m` is taken back on top of `x` with validation off, so the `x -> m` it makes is neither
/// reported nor recorded. Before the fix the retake (the wait began with validation on) was
/// validated in `Off` mode: a `CircularDependency` kept, the edge recorded. `m` is held
/// again, as `Off` keeps the held state. Run in a child process: the mode is process-wide.
#[test]
fn a_retake_after_unlocked_turned_off_validates_nothing() {
    const NAME: &str = "a_retake_after_unlocked_turned_off_validates_nothing";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    lockdep::set_mode(Mode::Collect);
    let m = Mutex::named("r13.unlocked_off.m", ());
    let x = Mutex::named("r13.unlocked_off.x", ());
    let mut gm = m.lock();
    let gx = x.lock(); // m -> x
    MutexGuard::unlocked(&mut gm, || lockdep::set_mode(Mode::Off));
    lockdep::set_mode(Mode::Collect);
    assert_eq!(lockdep::held_state(&m), Some(true), "held again");
    drop(gx);
    drop(gm);
    assert_eq!(lockdep::held_state(&m), Some(false));
    assert_eq!(kept_sorted(), vec![], "nothing validated in Off mode");
}

/// Where the report hook finds the lock to free.
static TO_FREE: StdMutex<Option<Arc<Mutex<()>>>> = StdMutex::new(None);

/// This thread holds `r13.freed.L` (its guard forgotten), then `n` as the upgradable reader
/// and a child `a` under it, and upgrades `n`: the upgrade's correct cycle report (`n`,
/// `kid`) runs the hook, which frees `L` (on another thread if `elsewhere`, else on this
/// one). `L`'s entry, below `n`, goes while the write acquisition is validated; the written
/// entry must go back where `n` is now (one lower), below its child. Before the fix it went
/// back at its old position, above `a`, which then looked taken outside its nest lock: the
/// next child `b` under the upgraded guard was a false `RecursiveLocking`.
fn upgrade_with_a_lock_freed_meanwhile(elsewhere: bool) {
    lockdep::set_mode(Mode::Collect);
    let l = Arc::new(Mutex::named("r13.freed.L", ()));
    std::mem::forget(l.lock());
    *TO_FREE.lock().unwrap() = Some(l);
    let n = RwLock::named("r13.freed.n", ());
    let kids: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("r13.freed.kid", ())).collect();
    lockdep::set_report_hook(Some(Box::new(move |_| {
        let l = TO_FREE.lock().unwrap().take();
        match l {
            Some(l) if elsewhere => std::thread::spawn(move || drop(l)).join().unwrap(),
            l => drop(l),
        }
    })));
    let up = n.upgradable_read();
    let a = kids[0].lock_nest_lock(&up);
    let w = RwLockUpgradableReadGuard::upgrade(up); // the cycle n -> kid -> n: the hook runs
    assert!(TO_FREE.lock().unwrap().is_none(), "the hook freed L");
    let b = kids[1].lock_nest_lock(&w); // under its nest lock: exempt
    drop(b);
    drop(a);
    drop(w);
    lockdep::set_report_hook(None);
    assert_eq!(lockdep::held_state(&n), Some(false));
    assert_eq!(lockdep::held_state(&kids[0]), Some(false));
    assert_eq!(
        kept_sorted(),
        vec![
            (
                ReportKind::CircularDependency,
                vec!["r13.freed.n".to_string(), "r13.freed.kid".to_string()]
            ),
            (ReportKind::HeldLockFreed, vec!["r13.freed.L".to_string()]),
        ]
    );
}

/// [`upgrade_with_a_lock_freed_meanwhile`], `L` freed by another thread (this thread's
/// dead entry is purged at its next look at its stack). Run in a child process: the hook is
/// process-wide.
#[test]
fn an_upgrade_in_place_counts_the_entries_freed_elsewhere_meanwhile() {
    const NAME: &str = "an_upgrade_in_place_counts_the_entries_freed_elsewhere_meanwhile";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    upgrade_with_a_lock_freed_meanwhile(true);
}

/// [`upgrade_with_a_lock_freed_meanwhile`], `L` freed by the hook on this thread, its holder
/// (reported as freed by its holder, and its entry taken off at once). Run in a child
/// process: the hook is process-wide.
#[test]
fn an_upgrade_in_place_counts_the_entries_freed_here_meanwhile() {
    const NAME: &str = "an_upgrade_in_place_counts_the_entries_freed_here_meanwhile";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    upgrade_with_a_lock_freed_meanwhile(false);
}

/// Takes `kids[first]` then the other under the nest lock held by `nest`.
fn take_both<G: lockdep::Held>(nest: &G, kids: &[Mutex<()>], first: usize) {
    let _x = kids[first].lock_nest_lock(nest);
    let _y = kids[1 - first].lock_nest_lock(nest);
}

/// An upgradable reader `up` of `n`, and a recursive read guard `r` of it on the same thread
/// (a recursive reader is let in beside the upgradable one). Children taken under `up` (in
/// one order) mark `up`'s entry as the upgradable reader's; `up` goes, and the children
/// taken under `r` in the other order are taken under a plain reader: with the first order,
/// a real inversion (a thread holding a plain read lock and one holding the upgradable read
/// each hold one child and wait for the other). Before the fix the mark went on every
/// shared entry of `n`, `r`'s too, which then passed for the upgradable reader's after `up`
/// was gone: the inversion was not reported.
#[test]
fn a_recursive_reader_beside_the_upgradable_one_is_not_marked_upgradable() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
    let n = RwLock::named("r13.flag.nest", ());
    let kids: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("r13.flag.kid", ())).collect();
    let (_, reports) = lockdep::capture(|| {
        let up = n.upgradable_read();
        let r = n.read_recursive(); // beside the upgradable read
        take_both(&up, &kids, 0); // a -> b under the upgradable read
        drop(up);
        take_both(&r, &kids, 1); // b -> a under a plain (recursive) read
    });
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.kind(), r.class_names()))
            .collect::<Vec<_>>(),
        vec![(
            ReportKind::InstanceInversion,
            vec!["r13.flag.kid".to_string()]
        )],
        "{reports:?}"
    );
}

/// A pseudo-lock acquired, then `reset()` (which forgets this thread's held locks), then
/// dropped: nobody holds it as far as lockdep knows, so nothing is reported. Before the fix
/// its count of holders still said held, and its drop reported a `HeldLockFreed` "held by
/// another thread or task" (no other thread or task ever took it). Run in a child process:
/// `reset()` clears the whole process's state.
#[test]
fn a_pseudo_lock_held_across_reset_is_freed_silently() {
    const NAME: &str = "a_pseudo_lock_held_across_reset_is_freed_silently";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    lockdep::set_mode(Mode::Collect);
    let map = lockdep::LockMap::new("r13.reset.map");
    map.acquire();
    lockdep::reset();
    assert!(!map.is_held(), "forgotten by reset()");
    drop(map);
    assert_eq!(kept_sorted(), vec![], "nobody held it");
}
