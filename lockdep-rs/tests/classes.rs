//! Classes that fit how Rust is written (issue 13, §3 and §4): `derive(Default)` structs,
//! constructor helpers, two locks built on one line, a `Mutex` and an `RwLock` from one site;
//! and the instance order of locks of one class held together (`lock_nested`, nest locks,
//! `Default`-built locks), which the class graph cannot see.
#![cfg(lockdep_enabled)]

use std::sync::Arc;

use lockdep::{Mode, Mutex, ReportKind, RwLock};

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

#[derive(Default)]
struct Stats {
    hits: Mutex<u64>,
    misses: Mutex<u64>,
}

#[derive(Default)]
struct Pair(Mutex<u32>, Mutex<u32>);

#[derive(Default)]
struct Shard<T> {
    items: Mutex<Vec<T>>,
}

#[derive(Default)]
struct Mixed {
    m: Mutex<()>,
    rw: RwLock<()>,
}

/// Every field of a `derive(Default)` struct is built at the derive's one site, so the site
/// cannot tell them apart: taking two of them, in one order, is no recursive locking.
#[test]
fn derive_default_fields_nest_without_a_report() {
    setup();
    let stats = Stats::default();
    let pair = Pair::default();
    let (a, b) = (Shard::<u32>::default(), Shard::<String>::default());
    let (_, reports) = lockdep::capture(|| {
        for _ in 0..2 {
            let _h = stats.hits.lock();
            let _m = stats.misses.lock();
        }
        let _x = pair.0.lock();
        let _y = pair.1.lock();
        let _a = a.items.lock();
        let _b = b.items.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    let names: Vec<String> = {
        let (_, r) = lockdep::capture(|| {
            // Reversing the order of the same two fields is a real inversion (per instance).
            let _m = stats.misses.lock();
            let _h = stats.hits.lock();
        });
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].kind(), ReportKind::InstanceInversion);
        r[0].class_names()
    };
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("Mutex<u64>::default() at lockdep-rs/tests/classes.rs:"),
        "{names:?}"
    );
}

/// A `Mutex` and an `RwLock` built at one site (one derive) are two classes, with two names.
#[test]
fn a_mutex_and_an_rwlock_from_one_site_are_two_classes() {
    setup();
    let mixed = Mixed::default();
    let (_, reports) = lockdep::capture(|| {
        let _m = mixed.m.lock();
        let _r = mixed.rw.write();
        drop(_r);
        drop(_m);
        let _r = mixed.rw.write();
        let _m = mixed.m.lock(); // RwLock -> Mutex reverses Mutex -> RwLock: two classes
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let names = reports[0].class_names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names
        .iter()
        .any(|n| n.starts_with("Mutex<()>::default() at")));
    assert!(names
        .iter()
        .any(|n| n.starts_with("RwLock<()>::default() at")));
}

#[derive(Default)]
struct State;
#[derive(Default)]
struct Counters;

#[derive(Default)]
struct Service {
    state: Mutex<State>,
    stats: Mutex<Counters>,
}

/// A `derive(Default)` struct's fields of different types are different classes (the site
/// cannot tell them apart, their types can): `state -> log` and `log -> stats` is no cycle.
/// (Before, the derive's one site made them one class: a false circular dependency.)
#[test]
fn derive_default_fields_of_different_types_are_different_classes() {
    setup();
    let service = Service::default();
    let log = Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _s = service.state.lock();
            let _l = log.lock();
        }
        let _l = log.lock();
        let _c = service.stats.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    // Their classes still stand for every instance: one service taking state then stats and
    // another stats then state is a real inversion, found between the two classes.
    let (one, other) = (Service::default(), Service::default());
    let (_, reports) = lockdep::capture(|| {
        {
            let _s = one.state.lock();
            let _c = one.stats.lock();
        }
        let _c = other.stats.lock();
        let _s = other.state.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let mut names = reports[0].class_names();
    names.sort();
    assert!(names[0].starts_with("Mutex<Counters>::default() at lockdep-rs/tests/classes.rs:"));
    assert!(names[1].starts_with("Mutex<State>::default() at lockdep-rs/tests/classes.rs:"));
}

struct User;
struct Group;
impl Default for User {
    fn default() -> User {
        User
    }
}
impl Default for Group {
    fn default() -> Group {
        Group
    }
}

/// Locks built by `Default` inside std (`Arc::<Mutex<T>>::default()`, `entry().or_default()`)
/// all have a site in std's source: their data types keep unrelated maps' locks apart.
#[test]
fn locks_built_by_default_inside_std_are_classes_per_type() {
    setup();
    let mut users: std::collections::HashMap<u32, Arc<Mutex<User>>> = Default::default();
    let mut groups: std::collections::HashMap<u32, Arc<Mutex<Group>>> = Default::default();
    let user = users.entry(1).or_default().clone();
    let group = groups.entry(1).or_default().clone();
    let audit = Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _u = user.lock();
            let _a = audit.lock();
        }
        let _a = audit.lock();
        let _g = group.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// Two locks built on one line are two classes with two names (the column tells them apart).
#[test]
fn two_locks_built_on_one_line_are_two_classes() {
    setup();
    let line = line!() + 1;
    let (a, b) = (Mutex::new(1), Mutex::new(2));
    let (_, reports) = lockdep::capture(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    let (_, reports) = lockdep::capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1);
    let names = reports[0].class_names();
    assert_eq!(names.len(), 2, "two names: {names:?}");
    let prefix = format!("lockdep-rs/tests/classes.rs:{line}:");
    assert!(names.iter().all(|n| n.starts_with(&prefix)), "{names:?}");
    assert_ne!(names[0], names[1]);
    let dot = lockdep::graph_dot();
    assert!(
        dot.contains(&format!("\"{}\" -> \"{}\"", names[1], names[0])),
        "{dot}"
    );
}

/// A generic helper builds every lock at its one `Mutex::new`: one class. Nesting two of them
/// stays recursive locking (the kernel's rule for an explicit site), and the report names
/// the helper and the one-line fix.
fn shared<T>(v: T) -> Arc<Mutex<T>> {
    Arc::new(Mutex::new(v))
}

#[track_caller]
fn shared_tracked<T>(v: T) -> Arc<Mutex<T>> {
    Arc::new(Mutex::new(v))
}

#[test]
fn a_constructor_helper_names_itself_and_the_fix() {
    setup();
    let (a, b) = (shared(1), shared(2));
    let (_, reports) = lockdep::capture(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
    let text = reports[0].to_string();
    assert!(text.contains("in `fn shared`"), "{text}");
    assert!(
        text.contains("put `#[track_caller]` on `fn shared`"),
        "{text}"
    );
    // With `#[track_caller]` on the helper, each caller's site is the class.
    let (c, d) = (shared_tracked(3), shared_tracked(4));
    let (_, reports) = lockdep::capture(|| {
        let _c = c.lock();
        let _d = d.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// The kernel's rule stays for an explicit construction site: two locks built by one
/// `Mutex::new` call (here in a loop) and nested without an annotation are recursive locking.
#[test]
fn two_locks_of_one_explicit_site_nested_are_recursive_locking() {
    setup();
    let mut locks: Vec<Mutex<u32>> = Vec::new();
    for i in 0..2 {
        locks.push(Mutex::new(i)); // one site in this file, in a loop
    }
    let (_, reports) = lockdep::capture(|| {
        let _a = locks[0].lock();
        let _b = locks[1].lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
}

fn transfer_unsorted(from: &Mutex<i64>, to: &Mutex<i64>) {
    let mut a = from.lock();
    let mut b = to.lock_nested(1);
    *a -= 1;
    *b += 1;
}

fn transfer_sorted(x: &Mutex<i64>, y: &Mutex<i64>) {
    let (first, second) = if (x as *const _) < (y as *const _) {
        (x, y)
    } else {
        (y, x)
    };
    transfer_unsorted(first, second);
}

/// §4: per-object locks nested through `lock_nested(1)` are exempt from the class check, so
/// `transfer(a, b)` and `transfer(b, a)` were never reported. The instance order is.
#[test]
fn an_unsorted_transfer_is_an_instance_inversion() {
    setup();
    let accounts: Vec<Mutex<i64>> = (0..2).map(|_| Mutex::named("account", 0)).collect();
    let (a, b) = (&accounts[0], &accounts[1]);
    let (_, reports) = lockdep::capture(|| {
        transfer_unsorted(a, b);
        transfer_unsorted(b, a);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
    assert_eq!(reports[0].class_names(), ["account/1", "account"]);
    let text = reports[0].to_string();
    assert!(
        text.contains("two locks of one class taken in both orders"),
        "{text}"
    );
    assert!(
        text.contains("a subclass annotation (lock_nested)"),
        "{text}"
    );
}

/// Address-ordered code stays silent, however many transfers in whichever directions.
#[test]
fn a_sorted_transfer_is_silent() {
    setup();
    let accounts: Vec<Mutex<i64>> = (0..4).map(|_| Mutex::named("sorted", 0)).collect();
    let (_, reports) = lockdep::capture(|| {
        for i in 0..4 {
            for j in 0..4 {
                if i != j {
                    transfer_sorted(&accounts[i], &accounts[j]);
                }
            }
        }
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// §4 through a nest lock: two threads holding *different* nest locks (so no gate) take two
/// locks of one class in opposite orders.
#[test]
fn an_inversion_under_per_object_nest_locks_is_reported() {
    setup();
    let nests: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("nest.mm", ())).collect();
    for n in &nests {
        n.register(); // two live instances: never a gate
    }
    let items: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("nest.item", ())).collect();
    let (_, reports) = lockdep::capture(|| {
        {
            let g = nests[0].lock();
            let _a = items[0].lock_nest_lock(&g);
            let _b = items[1].lock_nest_lock(&g);
        }
        let g = nests[1].lock();
        let _b = items[1].lock_nest_lock(&g);
        let _a = items[0].lock_nest_lock(&g);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
    assert!(reports[0].gates().is_empty());
}

/// Children taken under one nest lock instance, in any order, are serialised by it: no report
/// (there was one: an instance inversion, "likely a false positive" when the parent class
/// could gate, plainly reported when parents are per object). The same children taken the
/// other way round without their nest lock can deadlock with it, and are reported.
#[test]
fn children_under_one_nest_lock_instance_may_come_in_any_order() {
    setup();
    let parents: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("nest.dir", ())).collect();
    for p in &parents {
        p.register(); // per-object parents: never a gate
    }
    let kids: Vec<Mutex<()>> = (0..2).map(|_| Mutex::named("nest.file", ())).collect();
    let (_, reports) = lockdep::capture(|| {
        let p = parents[0].lock();
        {
            let _a = kids[0].lock_nest_lock(&p);
            let _b = kids[1].lock_nest_lock(&p);
        }
        let _b = kids[1].lock_nest_lock(&p);
        let _a = kids[0].lock_nest_lock(&p);
    });
    assert!(reports.is_empty(), "{reports:?}");
    let (_, reports) = lockdep::capture(|| {
        let _b = kids[1].lock();
        let _a = kids[0].lock_nested(1); // no parent held: this can meet the order above
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
}

/// A nest lock held shared does not serialise its children (readers of it do not keep each
/// other out): the same children in both orders under read guards of one lock are reported.
#[test]
fn children_under_a_shared_nest_lock_in_both_orders_are_reported() {
    setup();
    let dir = RwLock::named("nest.shared_dir", ());
    let kids: Vec<Mutex<()>> = (0..2)
        .map(|_| Mutex::named("nest.shared_file", ()))
        .collect();
    let (_, reports) = lockdep::capture(|| {
        {
            let d = dir.read();
            let _a = kids[0].lock_nest_lock(&d);
            let _b = kids[1].lock_nest_lock(&d);
        }
        let d = dir.read();
        let _b = kids[1].lock_nest_lock(&d);
        let _a = kids[0].lock_nest_lock(&d);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
}

#[derive(Default)]
struct Three(Mutex<u8>, Mutex<u8>, Mutex<u8>);

/// An order taken under a nest lock closes a cycle both through an order under the same nest
/// lock (harmless) and through orders taken without it (a real three-thread deadlock): the
/// second is reported (only the shortest path was looked at, and it was the harmless one).
#[test]
fn a_cycle_beside_a_serialised_one_is_still_reported() {
    setup();
    let t = Three::default();
    let (a, b, c) = (&t.0, &t.1, &t.2);
    let n = Mutex::named("nest.beside", ());
    let (_, reports) = lockdep::capture(|| {
        {
            let g = n.lock();
            let _b = b.lock_nest_lock(&g);
            let _a = a.lock_nest_lock(&g); // B -> A under N
        }
        {
            let _b = b.lock();
            let _c = c.lock(); // B -> C
        }
        {
            let _c = c.lock();
            let _a = a.lock(); // C -> A
        }
        let g = n.lock();
        let _a = a.lock_nest_lock(&g);
        let _b = b.lock_nest_lock(&g); // A -> B under N: closes A -> B -> C -> A
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
}

/// A lock taken back after a wait (`unlocked`, a condvar wait) while another lock of its class
/// is held is a real acquisition, whose instance order counts: `a` then `b`, then `a` taken
/// back under `b`, is the inversion two threads deadlock on (it was never checked).
#[test]
fn a_lock_taken_back_after_a_wait_is_in_the_instance_order() {
    setup();
    let pair = Pair::default();
    let (_, reports) = lockdep::capture(|| {
        let mut a = pair.0.lock();
        let _b = pair.1.lock(); // a -> b
        lockdep::MutexGuard::unlocked(&mut a, || {}); // a taken back under b: b -> a
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
}

/// §4 honours gates: the two orders, each taken under one single-instance lock, cannot run at
/// once; the report names the gate.
#[test]
fn an_instance_inversion_under_a_gate_names_the_gate() {
    setup();
    static GATE: Mutex<()> = Mutex::named("gated.big_lock", ());
    let accounts: Vec<Mutex<i64>> = (0..2).map(|_| Mutex::named("gated.account", 0)).collect();
    let (_, reports) = lockdep::capture(|| {
        {
            let _g = GATE.lock();
            transfer_unsorted(&accounts[0], &accounts[1]);
        }
        let _g = GATE.lock();
        transfer_unsorted(&accounts[1], &accounts[0]);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
    assert_eq!(reports[0].gates(), ["gated.big_lock"]);
}

/// §4's memory is bounded by the live locks: a dropped lock's orders go with it.
#[test]
fn instance_orders_are_forgotten_with_their_locks() {
    setup();
    let (_, reports) = lockdep::capture(|| {
        for _ in 0..1000 {
            let accounts: Vec<Mutex<i64>> = (0..2).map(|_| Mutex::named("churn", 0)).collect();
            transfer_sorted(&accounts[0], &accounts[1]);
        }
    });
    assert!(reports.is_empty());
    // Other tests of this binary may hold a few orders meanwhile; a thousand dropped pairs
    // must not be among them.
    assert!(
        lockdep::stats().instance_orders < 100,
        "{:?}",
        lockdep::stats()
    );
}

/// A cycle through a class that stands for several locks may join different ones of them:
/// the report says so and how to split the class — the helper and its fix, or, for a
/// derive's fields of one type, a hand-written `Default`.
#[test]
fn a_cycle_through_a_class_of_many_locks_says_how_to_split_it() {
    setup();
    let (x, y) = (shared(5), shared(6));
    let log = Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _x = x.lock();
            let _l = log.lock();
        }
        let _l = log.lock();
        let _y = y.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let text = reports[0].to_string();
    assert!(
        text.contains("every lock built by the `new` call at lockdep-rs/tests/classes.rs:"),
        "{text}"
    );
    assert!(
        text.contains("put `#[track_caller]` on `fn shared`"),
        "{text}"
    );
    let pair = Pair::default();
    let audit = Mutex::new(());
    let (_, reports) = lockdep::capture(|| {
        {
            let _a = pair.0.lock();
            let _l = audit.lock();
        }
        let _l = audit.lock();
        let _b = pair.1.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = reports[0].to_string();
    assert!(
        text.contains("build them with classes instead (`Mutex::named` in a"),
        "{text}"
    );
}

mod first {
    #[derive(Default)]
    pub struct State;
}
mod second {
    #[derive(Default)]
    pub struct State;
}

#[derive(Default)]
struct TwoStates {
    x: Mutex<first::State>,
    y: Mutex<second::State>,
}

/// Two data types with one short name at one site are two classes with two names (the
/// second shown with its path), so a report between them does not read as recursion.
#[test]
fn two_types_with_one_short_name_get_two_names() {
    setup();
    let (one, other) = (TwoStates::default(), TwoStates::default());
    let (_, reports) = lockdep::capture(|| {
        {
            let _x = one.x.lock();
            let _y = one.y.lock();
        }
        let _y = other.y.lock();
        let _x = other.x.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let names = reports[0].class_names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_ne!(names[0], names[1], "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.contains("classes::first::State") || n.contains("classes::second::State")),
        "{names:?}"
    );
}

/// `.map(Mutex::new)` builds each lock in the standard library (`FnOnce::call_once`): that
/// site cannot tell the program's locks apart, so its class is split by data type and its
/// locks may nest, their order checked per instance (it was one class for every such lock of
/// the program: two of them nested were a false recursive locking).
#[test]
fn locks_built_by_map_new_are_classes_per_type_and_may_nest() {
    setup();
    let slots: Vec<Mutex<u64>> = (0..3).map(Mutex::new).collect();
    let names: Vec<Mutex<String>> = vec![String::new()].into_iter().map(Mutex::new).collect();
    let (_, reports) = lockdep::capture(|| {
        let _n = names[0].lock();
        let _a = slots[0].lock();
        let _b = slots[1].lock(); // two of one type: they may nest
    });
    assert!(reports.is_empty(), "{reports:?}");
    let (_, reports) = lockdep::capture(|| {
        let _b = slots[1].lock();
        let _a = slots[0].lock(); // the same two the other way round: per instance
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::InstanceInversion);
    assert!(
        reports[0].class_names()[0].ends_with("(Mutex<u64>)"),
        "{reports:?}"
    );
}
