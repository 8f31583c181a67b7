//! Children taken under a nest lock (`lock_nest_lock`) in any order, by how the nest lock is
//! held: taken by a trylock, re-taken by one (`try_upgrade`), held as the upgradable reader,
//! written then downgraded. An order of two children can only be part of a deadlock while the
//! thread taking the second one waits for it, holding the nest lock as it holds it *then*: two
//! such waits exclude each other unless the nest lock lets both threads in at once (two
//! readers, or a reader and the upgradable reader: an upgradable read keeps out a writer and
//! another upgradable reader, not a reader), and only cycles whose waits can all happen at
//! once are reported.
#![cfg(lockdep_enabled)]

use lockdep::{Mode, Mutex, RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

/// Two children of one class (named `name`), for a test's own nest lock.
fn children(name: &'static str) -> Vec<Mutex<()>> {
    (0..2).map(|_| Mutex::named(name, ())).collect()
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
