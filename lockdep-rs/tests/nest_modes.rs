//! Children taken under a nest lock (`lock_nest_lock`) in any order, by how the nest lock is
//! held: taken by a trylock, re-taken by one (`try_upgrade`), held as the upgradable reader,
//! written then downgraded. An order of two children can only be part of a deadlock while the
//! thread taking the second one waits for it, holding the nest lock as it holds it *then*: two
//! such waits exclude each other unless the nest lock lets both threads in at once (two
//! readers, or a reader and the upgradable reader: an upgradable read keeps out a writer and
//! another upgradable reader, not a reader), and only cycles whose waits can all happen at
//! once are reported.
#![cfg(lockdep_enabled)]

use lockdep::{Mode, Mutex, ReportKind, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

/// Two children of one class (named `name`), for a test's own nest lock.
fn children(name: &'static str) -> Vec<Mutex<()>> {
    (0..2).map(|_| Mutex::named(name, ())).collect()
}

/// Takes both children under the nest lock held by `nest`, `kids[first]` first.
fn take_both<G: lockdep::Held>(nest: &G, kids: &[Mutex<()>], first: usize) {
    let _x = kids[first].lock_nest_lock(nest);
    let _y = kids[1 - first].lock_nest_lock(nest);
}

/// Each report's kind and class names, to assert them all at once.
fn kinds_and_classes(reports: &[lockdep::Report]) -> Vec<(ReportKind, Vec<String>)> {
    reports
        .iter()
        .map(|r| (r.kind(), r.class_names()))
        .collect()
}

/// The kinds of `reports`, to assert them all at once.
fn kinds(reports: &[lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(lockdep::Report::kind).collect()
}

/// Case (a) of the review: a nest mutex taken by `try_lock` holds its entry exclusively like
/// one taken by `lock`, and its children keep it as their nest lock whatever is released
/// first. Both orders under it, in this thread and another, by `try_lock` and by `lock`: no
/// report (none was made before either; this pins it).
#[test]
fn children_under_a_nest_mutex_taken_by_try_lock_may_come_in_any_order() {
    setup();
    let n = Mutex::named("nm.try_nest", ());
    let kids = children("nm.try_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let g = n.try_lock().expect("free");
            let a = kids[0].lock_nest_lock(&g);
            let b = kids[1].lock_nest_lock(&g);
            drop(g); // the nest lock first: its children are put back without it
            drop(a);
            drop(b);
        }
        {
            let g = n.try_lock().expect("free");
            let _b = kids[1].lock_nest_lock(&g);
            let _a = kids[0].lock_nest_lock(&g);
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                let g = n.lock();
                let _b = kids[1].lock_nest_lock(&g);
                let _a = kids[0].lock_nest_lock(&g);
            });
        });
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// As above with a nest `RwLock` taken by `try_write`, and then by `write`.
#[test]
fn children_under_a_nest_rwlock_taken_by_try_write_may_come_in_any_order() {
    setup();
    let n = RwLock::named("nm.try_write_nest", ());
    let kids = children("nm.try_write_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let g = n.try_write().expect("free");
            let _a = kids[0].lock_nest_lock(&g);
            let _b = kids[1].lock_nest_lock(&g);
        }
        let g = n.write();
        let _b = kids[1].lock_nest_lock(&g);
        let _a = kids[0].lock_nest_lock(&g);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// A nest lock re-taken by a trylock while its children are held: `try_upgrade` never
/// releases the lock, so the children taken under the upgradable read stay under it. Its
/// entry was recorded as released and taken again on top (a trylock): the child below lost
/// its nest lock, and the next child under the upgraded lock was reported as recursive
/// locking. Now the entry becomes a writer's in place, and the children's orders, taken
/// under the write lock, are serialised by it.
#[test]
fn try_upgrade_keeps_the_children_under_their_nest_lock() {
    setup();
    let n = RwLock::named("nm.try_upgrade_nest", ());
    let kids = children("nm.try_upgrade_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let up = n.upgradable_read();
            let _a = kids[0].lock_nest_lock(&up);
            let w = RwLockUpgradableReadGuard::try_upgrade(up).expect("no reader");
            let _b = kids[1].lock_nest_lock(&w); // a -> b under the write lock
        }
        let w = n.write();
        let _b = kids[1].lock_nest_lock(&w);
        let _a = kids[0].lock_nest_lock(&w); // b -> a under the write lock
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// The same through a write guard downgraded to an upgradable one and upgraded back by a
/// trylock, and through the arc guards.
#[test]
fn try_upgrade_keeps_the_children_under_their_nest_lock_after_a_downgrade() {
    setup();
    let n = std::sync::Arc::new(RwLock::named("nm.try_upgrade_arc_nest", ()));
    let kids = children("nm.try_upgrade_arc_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let w = n.write();
            let _a = kids[0].lock_nest_lock(&w);
            let up = RwLockWriteGuard::downgrade_to_upgradable(w);
            let w = RwLockUpgradableReadGuard::try_upgrade(up).expect("no reader");
            let _b = kids[1].lock_nest_lock(&w);
        }
        let up = n.upgradable_read_arc();
        let _b = kids[1].lock_nest_lock(&up);
        let w = lockdep::ArcRwLockUpgradableReadGuard::try_upgrade(up).expect("no reader");
        let _a = kids[0].lock_nest_lock(&w);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// Case (c): children taken under a write guard, which is then downgraded while a child is
/// held. A child taken *after* the downgrade is taken under a read lock, which other readers
/// may share: that order is not serialised. Against the other order taken under the write
/// lock it still cannot deadlock — the thread waiting for `a` holds the write lock, the one
/// waiting for `b` a read lock of it, never both at once — and is no longer reported (it was:
/// an order not taken under the nest lock held exclusively counted as taken without it).
#[test]
fn a_child_taken_after_a_downgrade_against_the_order_under_the_write_lock_is_silent() {
    setup();
    let n = RwLock::named("nm.downgrade_nest", ());
    let kids = children("nm.downgrade_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let w = n.write();
            let _a = kids[0].lock_nest_lock(&w);
            let r = RwLockWriteGuard::downgrade(w);
            let _b = kids[1].lock_nest_lock(&r); // a -> b under a read lock
        }
        let w = n.write();
        let _b = kids[1].lock_nest_lock(&w);
        let _a = kids[0].lock_nest_lock(&w); // b -> a under the write lock
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// Case (c), the real deadlock: the other order taken under a read lock of the nest lock.
/// After the downgrade another reader gets in:
///
/// ```text
///   T1: n.write(); a.lock(); downgrade       T2:
///                                            n.read()    (T1 only reads now)
///                                            b.lock()
///                                            a.lock()    blocks: T1 holds a
///   T1: b.lock()  blocks: T2 holds b         -- deadlock
/// ```
///
/// Reported, whichever order comes first; also when T2 holds the nest lock as the
/// upgradable reader (which a reader does not keep out).
#[test]
fn a_child_taken_after_a_downgrade_against_the_order_under_a_read_lock_is_reported() {
    setup();
    let n = RwLock::named("nm.downgrade_read_nest", ());
    let kids = children("nm.downgrade_read_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let w = n.write();
            let _a = kids[0].lock_nest_lock(&w);
            let r = RwLockWriteGuard::downgrade(w);
            let _b = kids[1].lock_nest_lock(&r); // a -> b under a read lock
        }
        let r = n.read();
        let _b = kids[1].lock_nest_lock(&r);
        let _a = kids[0].lock_nest_lock(&r); // b -> a under a read lock
    });
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);
    assert_eq!(reports[0].class_names(), ["nm.downgrade_read_kid"]);

    let n = RwLock::named("nm.downgrade_up_nest", ());
    let kids = children("nm.downgrade_up_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let up = n.upgradable_read();
            let _b = kids[1].lock_nest_lock(&up);
            let _a = kids[0].lock_nest_lock(&up); // b -> a under the upgradable read
        }
        let w = n.write();
        let _a = kids[0].lock_nest_lock(&w);
        let r = RwLockWriteGuard::downgrade(w);
        let _b = kids[1].lock_nest_lock(&r); // a -> b under a read lock: closes the cycle
    });
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);
}

/// Children taken before the downgrade were taken under the write lock: their order stays
/// serialised by it (a thread waits for a lock only while taking it).
#[test]
fn children_taken_before_a_downgrade_stay_serialised() {
    setup();
    let n = RwLock::named("nm.before_downgrade_nest", ());
    let kids = children("nm.before_downgrade_kid");
    let (_, reports) = lockdep::capture(|| {
        {
            let w = n.write();
            let _a = kids[0].lock_nest_lock(&w);
            let _b = kids[1].lock_nest_lock(&w);
            let _r = RwLockWriteGuard::downgrade(w); // while both are held
        }
        let w = n.write();
        let _b = kids[1].lock_nest_lock(&w);
        let _a = kids[0].lock_nest_lock(&w);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// The rule behind case (c), without a downgrade: one order under the write lock, the other
/// under a read lock of the same nest lock, cannot wait at once: no report, in either order
/// of discovery. (Both under read locks: `classes.rs`,
/// `children_under_a_shared_nest_lock_in_both_orders_are_reported`.)
#[test]
fn orders_under_a_write_and_a_read_lock_of_one_nest_lock_are_silent() {
    setup();
    for (name, kid, write_first) in [
        ("nm.write_read_nest", "nm.write_read_kid", true),
        ("nm.read_write_nest", "nm.read_write_kid", false),
    ] {
        let n = RwLock::named(name, ());
        let kids = children(kid);
        let (_, reports) = lockdep::capture(|| {
            for (first, write) in [(0, write_first), (1, !write_first)] {
                if write {
                    take_both(&n.write(), &kids, first);
                } else {
                    take_both(&n.read(), &kids, first);
                }
            }
        });
        assert!(reports.is_empty(), "{name}: {reports:?}");
    }
}

/// Case (b): an upgradable read keeps writers and the other upgradable readers out, so
/// children taken under one in both orders cannot deadlock against each other (it was
/// recorded as a plain reader, and the two orders were an instance inversion); nor against
/// an order taken under the write lock.
#[test]
fn children_under_upgradable_reads_may_come_in_any_order() {
    setup();
    let n = RwLock::named("nm.upgradable_nest", ());
    let kids = children("nm.upgradable_kid");
    let (_, reports) = lockdep::capture(|| {
        take_both(&n.upgradable_read(), &kids, 0);
        take_both(&n.upgradable_read(), &kids, 1);
        take_both(&n.write(), &kids, 0);
        std::thread::scope(|s| {
            s.spawn(|| take_both(&n.upgradable_read(), &kids, 1));
        });
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// Case (b), the real deadlock: a reader is let in beside the upgradable reader, so one order
/// under an upgradable read and the other under a read lock can deadlock:
///
/// ```text
///   T1: n.upgradable_read(); a.lock()        T2:
///                                            n.read()    (beside the upgradable reader)
///                                            b.lock()
///                                            a.lock()    blocks: T1 holds a
///   T1: b.lock()  blocks: T2 holds b         -- deadlock
/// ```
///
/// Reported; also when the read guard is an upgradable one downgraded (no longer the
/// upgradable reader: another thread may take the upgradable read meanwhile).
#[test]
fn orders_under_an_upgradable_read_and_a_read_lock_are_reported() {
    setup();
    let n = RwLock::named("nm.upgradable_read_nest", ());
    let kids = children("nm.upgradable_read_kid");
    let (_, reports) = lockdep::capture(|| {
        take_both(&n.upgradable_read(), &kids, 0);
        take_both(&n.read(), &kids, 1);
    });
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);

    let n = RwLock::named("nm.upgradable_downgraded_nest", ());
    let kids = children("nm.upgradable_downgraded_kid");
    let (_, reports) = lockdep::capture(|| {
        take_both(&n.upgradable_read(), &kids, 0);
        let up = n.upgradable_read();
        take_both(&RwLockUpgradableReadGuard::downgrade(up), &kids, 1);
    });
    assert_eq!(kinds(&reports), [ReportKind::InstanceInversion]);
}

/// Every way to an upgradable guard holds the nest lock as the upgradable reader: a try or a
/// timed one, an arc guard, a writer downgraded to it, one back from `with_upgraded` (or a
/// failed upgrade), one relocked by `unlocked` or `bump`. Children taken under each in the
/// order opposite to one under `upgradable_read`: no report.
#[test]
fn every_upgradable_guard_serialises_its_children() {
    setup();
    type Up<'a> = lockdep::RwLockUpgradableReadGuard<'a, ()>;
    /// Takes the children, `kids[1]` first, under an upgradable guard of the nest lock.
    type Way = fn(&RwLock<()>, &[Mutex<()>]);
    let ways: Vec<(&'static str, Way)> = vec![
        ("try", |n, k| {
            take_both(&n.try_upgradable_read().expect("free"), k, 1)
        }),
        ("timed", |n, k| {
            let up = n.try_upgradable_read_for(std::time::Duration::from_secs(1));
            take_both(&up.expect("free"), k, 1)
        }),
        ("downgraded writer", |n, k| {
            take_both(&RwLockWriteGuard::downgrade_to_upgradable(n.write()), k, 1)
        }),
        ("with_upgraded", |n, k| {
            let mut up = n.upgradable_read();
            up.with_upgraded(|_| ());
            take_both(&up, k, 1)
        }),
        ("try_with_upgraded", |n, k| {
            let mut up = n.upgradable_read();
            up.try_with_upgraded(|_| ()).expect("no reader");
            take_both(&up, k, 1)
        }),
        ("failed try_upgrade", |n, k| {
            let up = n.upgradable_read();
            let r = n.read_recursive(); // (a recursive reader beside it is no recursion)
            let up = Up::try_upgrade(up).expect_err("a reader is in");
            drop(r);
            take_both(&up, k, 1)
        }),
        ("unlocked", |n, k| {
            let mut up = n.upgradable_read();
            Up::unlocked(&mut up, || ());
            take_both(&up, k, 1)
        }),
        ("bump", |n, k| {
            let mut up = n.upgradable_read();
            Up::bump(&mut up);
            take_both(&up, k, 1)
        }),
    ];
    for (way, under) in ways {
        let n = RwLock::named("nm.every_upgradable_nest", ());
        let kids = children("nm.every_upgradable_kid");
        let (_, reports) = lockdep::capture(|| {
            take_both(&n.upgradable_read(), &kids, 0);
            under(&n, &kids);
        });
        assert!(reports.is_empty(), "{way}: {reports:?}");
    }
    let n = std::sync::Arc::new(RwLock::named("nm.arc_upgradable_nest", ()));
    let kids = children("nm.arc_upgradable_kid");
    let (_, reports) = lockdep::capture(|| {
        take_both(&n.upgradable_read(), &kids, 0);
        take_both(&n.upgradable_read_arc(), &kids, 1);
        let mut up = n.upgradable_read_arc();
        up.with_upgraded(|_| ());
        take_both(&up, &kids, 1);
        drop(up);
        let w = lockdep::ArcRwLockWriteGuard::downgrade_to_upgradable(n.write_arc());
        take_both(&w, &kids, 1);
    });
    assert!(reports.is_empty(), "arc: {reports:?}");
}

/// `upgrade` (blocking) with a child held under the upgradable read: the write acquisition
/// waits for the readers while the child is held, so `child -> nest` is a real order against
/// `nest -> child` (one `CircularDependency`, naming both). The lock is never released, so the
/// child stays under it as its nest lock: a second child taken under the write guard is merged
/// with it, no report. Its entry was recorded as released and taken again on top: the child
/// below lost its nest lock, and the second child was a false `RecursiveLocking`.
#[test]
fn upgrade_keeps_the_children_under_their_nest_lock() {
    setup();
    let n = RwLock::named("nm.upgrade_nest", ());
    let kids = children("nm.upgrade_kid");
    let (_, reports) = lockdep::capture(|| {
        let up = n.upgradable_read();
        let a = kids[0].lock_nest_lock(&up);
        let w = RwLockUpgradableReadGuard::upgrade(up);
        let b = kids[1].lock_nest_lock(&w);
        assert!(lockdep::is_held(&kids[0]) && lockdep::is_held(&kids[1]));
        drop(w); // the nest lock first: its children are put back without it
        drop(b);
        drop(a);
        assert_eq!(lockdep::held_state(&kids[0]), Some(false));
        assert_eq!(lockdep::held_state(&n), Some(false));
    });
    assert_eq!(
        kinds_and_classes(&reports),
        vec![(
            ReportKind::CircularDependency,
            vec!["nm.upgrade_nest".to_string(), "nm.upgrade_kid".to_string()]
        )],
        "{reports:?}"
    );
}

/// The same through `with_upgraded` and a timed upgrade (`try_upgrade_for`): after the one
/// cycle report, the children stay under their nest lock (no false `RecursiveLocking`), and
/// every entry comes off.
#[test]
fn with_upgraded_and_timed_upgrades_keep_the_children_under_their_nest_lock() {
    setup();
    let n = RwLock::named("nm.with_upgraded_nest", ());
    let kids: Vec<Mutex<()>> = (0..3)
        .map(|_| Mutex::named("nm.with_upgraded_kid", ()))
        .collect();
    let (_, reports) = lockdep::capture(|| {
        let mut up = n.upgradable_read();
        let a = kids[0].lock_nest_lock(&up);
        up.with_upgraded(|_| ());
        let b = kids[1].lock_nest_lock(&up);
        let w = RwLockUpgradableReadGuard::try_upgrade_for(up, std::time::Duration::from_secs(1))
            .map_err(|_| "no reader holds it")
            .unwrap();
        let c = kids[2].lock_nest_lock(&w);
        drop((c, b, a, w));
        assert_eq!(lockdep::held_state(&kids[0]), Some(false));
        assert_eq!(lockdep::held_state(&n), Some(false));
    });
    assert_eq!(
        kinds(&reports),
        vec![ReportKind::CircularDependency],
        "{reports:?}"
    );
}

/// A child taken back by `unlocked` or `bump` under a nest lock held as the upgradable reader,
/// with its sibling held (a plain mutex between them keeps them apart: not merged). Both
/// orders of the two children are then taken under the upgradable read, which excludes
/// another upgradable reader: no deadlock, nothing to report. The retake has no nest guard
/// at hand to ask, and the nest lock's entry said reader: the orders were taken as shared by
/// readers, and a false `InstanceInversion` was reported. The entry now knows it is the
/// upgradable reader's (and forgets it when downgraded to a plain read).
#[test]
fn a_child_taken_back_under_an_upgradable_nest_lock_is_serialised_by_it() {
    setup();
    let n = RwLock::named("nm.retake_upg_nest", ());
    let kids = children("nm.retake_upg_kid");
    let between = Mutex::named("nm.retake_upg_between", ());
    let (_, reports) = lockdep::capture(|| {
        let up = n.upgradable_read();
        let mut a = kids[0].lock_nest_lock(&up);
        let _m = between.try_lock().expect("free"); // a trylock: no edge to order
        let _b = kids[1].lock_nest_lock(&up); // a -> b
        lockdep::MutexGuard::unlocked(&mut a, || {}); // a back on top: b -> a
        lockdep::MutexGuard::bump(&mut a);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // Downgraded to a plain read, the nest lock no longer serialises the retake: taking the
    // other order under it (while an upgradable reader took the first) is a real inversion.
    let n = RwLock::named("nm.retake_down_nest", ());
    let kids = children("nm.retake_down_kid");
    let (_, reports) = lockdep::capture(|| {
        let up = n.upgradable_read();
        let a = kids[0].lock_nest_lock(&up); // a -> b, under the upgradable read
        let m = between.try_lock().expect("free");
        let mut b = kids[1].lock_nest_lock(&up);
        let r = RwLockUpgradableReadGuard::downgrade(up);
        lockdep::MutexGuard::unlocked(&mut b, || {}); // b back on top: a -> b again
        drop((b, m, a, r)); // the nest lock last
        let up = n.upgradable_read();
        let b = kids[1].lock_nest_lock(&up);
        let m = between.try_lock().expect("free");
        let a = kids[0].lock_nest_lock(&up); // b -> a under the upgradable read
        drop((a, m, b, up));
    });
    assert_eq!(
        kinds_and_classes(&reports),
        vec![(
            ReportKind::InstanceInversion,
            vec!["nm.retake_down_kid".to_string()]
        )],
        "{reports:?}"
    );
}
