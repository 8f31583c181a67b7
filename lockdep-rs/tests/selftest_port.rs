//! A user-space port of the Linux kernel's locking self-tests (lib/locking-selftest.c), plus
//! the read/write, trylock, nest_lock and pseudo-lock rules of lockdep.
//!
//! Every expected verdict here is derived from the lockdep semantics (same-class rule, which
//! held locks get edges, strong paths for read locks, chain cache keyed by read state), not
//! from running the validator. Kernel "FAILURE" = exactly one report of the named kind here;
//! kernel "SUCCESS" = no report.
//!
//! Lock types of the kernel tables and their counterparts:
//!
//! | kernel                 | here                          | read value |
//! |------------------------|-------------------------------|------------|
//! | spin / mutex / rtmutex | `Mutex::lock`                 | 0          |
//! | wlock / wsem           | `RwLock::write`               | 0          |
//! | rlock (forced recursive) | `RwLock::read_recursive`    | 2          |
//! | rsem                   | `RwLock::read`                | 1          |
//!
//! Each test case uses classes of its own (see `common::Scope`), because the dependency graph
//! is global and the tests of this binary run in parallel. Reports are taken with
//! `lockdep::capture`, which sees only what this thread raised.
#![cfg(lockdep_enabled)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{expect_circular, expect_kind, expect_none, watchdog, Lk, Op, Scope};
use lockdep::{capture, LockMap, Mutex, ReportKind};

/// Runs `f` on a thread of its own (for cases that leave validator state behind, such as a
/// held record of a freed lock) and re-raises its panic, if any, here.
fn in_own_thread<F: FnOnce() + Send + 'static>(f: F) {
    if let Err(payload) = std::thread::spawn(f).join() {
        std::panic::resume_unwind(payload);
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Lock => "mutex",
        Op::Write => "write",
        Op::Read => "read",
        Op::ReadRec => "read_recursive",
    }
}

// =======================================================================================
// The "6R" table: AA, ABBA, ABBCCA, ABCABC, ABBCCDDA, ABCDBDDA, ABCDBCDA.
//
// Kernel verdicts: FAILURE for spin/wlock/mutex/wsem/rsem, SUCCESS for rlock (recursive
// readers never block each other, and an all-recursive-read cycle is not strong: it enters
// each lock through a -(*R)-> edge and leaves it through an -(S*)-> edge).
// =======================================================================================

/// `LOCK_UNLOCK_2(x, y)` for every pair of `pairs`, all acquisitions with `op`, each letter
/// being one lock of its own class. Returns the reports of the whole script.
fn run_pairs(s: &Scope, op: Op, pairs: &[(&str, &str)]) -> Vec<lockdep::Report> {
    let mut letters: Vec<&str> = Vec::new();
    for (x, y) in pairs {
        for l in [*x, *y] {
            if !letters.contains(&l) {
                letters.push(l);
            }
        }
    }
    let locks: Vec<(&str, Lk)> = letters.iter().map(|l| (*l, s.lock_for(l, op))).collect();
    let get = |l: &str| &locks.iter().find(|(n, _)| *n == l).unwrap().1;
    capture(|| {
        for (x, y) in pairs {
            let _gx = get(x).take(op);
            let _gy = get(y).take(op);
        }
    })
    .1
}

/// A cycle case: every op but `ReadRec` must give exactly one circular report, raised when
/// `closing.1` is acquired while `closing.0` is held (the last pair of the script).
fn cycle_case(test: &str, op: Op, pairs: &[(&str, &str)], cycle: &[&str]) {
    let s = Scope::new(format!("{test}_{}", op_name(op)));
    let reports = run_pairs(&s, op, pairs);
    let what = format!("{test} with {}", op_name(op));
    if op == Op::ReadRec {
        expect_none(&what, &reports);
    } else {
        let (held, acq) = *pairs.last().unwrap();
        expect_circular(
            &what,
            &reports,
            &s.name(acq),
            &s.name(held),
            &s.names(cycle),
        );
    }
}

macro_rules! six_r {
    ($name:ident, $pairs:expr, $cycle:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn mutex() {
                cycle_case(stringify!($name), Op::Lock, &$pairs, &$cycle);
            }
            #[test]
            fn write() {
                cycle_case(stringify!($name), Op::Write, &$pairs, &$cycle);
            }
            #[test]
            fn read_recursive() {
                cycle_case(stringify!($name), Op::ReadRec, &$pairs, &$cycle);
            }
            #[test]
            fn read() {
                cycle_case(stringify!($name), Op::Read, &$pairs, &$cycle);
            }
        }
    };
}

six_r!(abba, [("A", "B"), ("B", "A")], ["A", "B"]);
six_r!(
    abbcca,
    [("A", "B"), ("B", "C"), ("C", "A")],
    ["A", "B", "C"]
);
six_r!(
    abcabc,
    [("A", "B"), ("C", "A"), ("B", "C")],
    ["A", "B", "C"]
);
six_r!(
    abbccdda,
    [("A", "B"), ("B", "C"), ("C", "D"), ("D", "A")],
    ["A", "B", "C", "D"]
);
// AB CD BD DA: the cycle is A -> B -> D -> A; C is not part of it.
six_r!(
    abcdbdda,
    [("A", "B"), ("C", "D"), ("B", "D"), ("D", "A")],
    ["A", "B", "D"]
);
six_r!(
    abcdbcda,
    [("A", "B"), ("C", "D"), ("B", "C"), ("D", "A")],
    ["A", "B", "C", "D"]
);

/// AA: two instances (X1, X2) of one class; the second acquisition is the recursive-locking
/// report, except for two recursive readers.
fn aa_case(op: Op) {
    let s = Scope::new(format!("AA_{}", op_name(op)));
    let x1 = s.lock_for("X", op);
    let x2 = s.lock_for("X", op);
    let (_, reports) = capture(|| {
        let _g1 = x1.take(op);
        let _g2 = x2.take(op);
    });
    let what = format!("AA with {}", op_name(op));
    if op == Op::ReadRec {
        expect_none(&what, &reports);
    } else {
        expect_kind(
            &what,
            &reports,
            ReportKind::RecursiveLocking,
            &s.names(&["X"]),
        );
    }
}

mod aa {
    use super::*;
    #[test]
    fn mutex() {
        aa_case(Op::Lock);
    }
    #[test]
    fn write() {
        aa_case(Op::Write);
    }
    #[test]
    fn read_recursive() {
        aa_case(Op::ReadRec);
    }
    #[test]
    fn read() {
        aa_case(Op::Read);
    }
}

/// Locking the very same exclusive instance twice is a certain self-deadlock: lockdep reports
/// it (recursive locking) and then panics instead of hanging, whatever the mode.
#[test]
fn same_instance_twice_reports_and_panics() {
    let _w = watchdog("same_instance_twice_reports_and_panics", 60);
    in_own_thread(|| {
        let s = Scope::new("same_instance_mutex");
        let m = s.mutex("X");
        let (res, reports) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let _g1 = m.lock();
                let _g2 = m.lock();
            }))
        });
        assert!(
            res.is_err(),
            "locking one mutex twice must panic, not return"
        );
        expect_kind(
            "mutex locked twice",
            &reports,
            ReportKind::RecursiveLocking,
            &s.names(&["X"]),
        );
        assert!(
            m.try_lock().is_some(),
            "the first guard was released by the unwind"
        );
    });
    in_own_thread(|| {
        let s = Scope::new("same_instance_write");
        let l = s.rwlock("X");
        let (res, reports) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let _g1 = l.write();
                let _g2 = l.write();
            }))
        });
        assert!(res.is_err(), "write-locking one rwlock twice must panic");
        expect_kind(
            "rwlock written twice",
            &reports,
            ReportKind::RecursiveLocking,
            &s.names(&["X"]),
        );
    });
}

// =======================================================================================
// double unlock / initialise held (DO_TESTCASE_6: FAILURE for every lock type)
// =======================================================================================

/// LOCK(A); UNLOCK(A); UNLOCK(A): the second unlock is a bad unlock balance, and it must not
/// touch the real lock (which stays free).
fn double_unlock_case(op: Op) {
    let _w = watchdog("double_unlock", 60);
    let s = Scope::new(format!("double_unlock_{}", op_name(op)));
    let a = s.lock_for("A", op);
    let (_, reports) = capture(|| {
        drop(a.take(op));
        // SAFETY: validation is on, so this unheld unlock is refused and reported.
        unsafe { a.force_unlock_as(op) };
    });
    expect_kind(
        &format!("double unlock with {}", op_name(op)),
        &reports,
        ReportKind::BadUnlockBalance,
        &s.names(&["A"]),
    );
    assert!(
        a.is_free(),
        "the refused unlock must leave the lock as it was"
    );
    // The lock still works normally and no record was left behind.
    let (_, reports) = capture(|| drop(a.take(op)));
    expect_none("relock after the bad unlock", &reports);
}

mod double_unlock {
    use super::*;
    #[test]
    fn mutex() {
        double_unlock_case(Op::Lock);
    }
    #[test]
    fn write() {
        double_unlock_case(Op::Write);
    }
    #[test]
    fn read_recursive() {
        double_unlock_case(Op::ReadRec);
    }
    #[test]
    fn read() {
        double_unlock_case(Op::Read);
    }
}

/// LOCK(A); INIT(A): in Rust, a held lock is destroyed (the guard is leaked, then the lock is
/// dropped). Runs on its own thread, since whatever record the validator keeps of the lost
/// lock belongs to that thread.
fn init_held_case(op: Op) {
    in_own_thread(move || {
        let s = Scope::new(format!("init_held_{}", op_name(op)));
        let a = Box::new(s.lock_for("A", op));
        let (_, reports) = capture(move || {
            std::mem::forget(a.take(op));
            drop(a);
        });
        expect_kind(
            &format!("dropping a held lock ({})", op_name(op)),
            &reports,
            ReportKind::HeldLockFreed,
            &s.names(&["A"]),
        );
    });
}

mod init_held {
    use super::*;
    #[test]
    fn mutex() {
        init_held_case(Op::Lock);
    }
    #[test]
    fn write() {
        init_held_case(Op::Write);
    }
    #[test]
    fn read_recursive() {
        init_held_case(Op::ReadRec);
    }
    #[test]
    fn read() {
        init_held_case(Op::Read);
    }
}

/// Dropping a lock that is not held is of course fine.
#[test]
fn drop_unheld_lock_is_silent() {
    let s = Scope::new("drop_unheld");
    let (_, reports) = capture(|| {
        {
            let a = s.mutex("A");
            drop(a.lock());
        }
        {
            let b = s.rwlock("B");
            drop(b.read());
        }
    });
    expect_none("drop of unheld locks", &reports);
}

// =======================================================================================
// Same-class read/write combinations ("recursive read-lock", "mixed read-write-lock",
// "mixed write-read-lock": rlock_AA1, rlock_AA1B, rsem_AA1, rsem_AA1B, rlock_AA2, rsem_AA2,
// rlock_AA3, rsem_AA3), generalised to the full 3x3 matrix of the same-class rule: taking a
// lock of a class already held is a recursive-locking report unless the new acquisition is
// a recursive read and the held one is a read of either kind.
// =======================================================================================

#[test]
fn same_class_matrix_two_instances() {
    let ops = [Op::Write, Op::Read, Op::ReadRec];
    for held in ops {
        for next in ops {
            let s = Scope::new(format!("same_class_{}{}", held.short(), next.short()));
            let x1 = s.rwlock("X");
            let x2 = s.rwlock("X");
            let (x1, x2) = (Lk::Rw(x1), Lk::Rw(x2));
            let (_, reports) = capture(|| {
                let _g1 = x1.take(held);
                let _g2 = x2.take(next);
            });
            let what = format!("{}(X1) then {}(X2)", held.short(), next.short());
            if next == Op::ReadRec && held.is_shared() {
                expect_none(&what, &reports);
            } else {
                expect_kind(
                    &what,
                    &reports,
                    ReportKind::RecursiveLocking,
                    &s.names(&["X"]),
                );
            }
        }
    }
}

/// rlock_AA1: RL(X1); RL(X1) — one instance, recursive reads: fine.
#[test]
fn rlock_aa1_same_instance_recursive_read() {
    let s = Scope::new("rlock_AA1");
    let x1 = s.rwlock("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.read_recursive();
        let _g2 = x1.read_recursive();
    });
    expect_none("rlock_AA1", &reports);
}

/// rsem_AA1: RSL(X1); RSL(X1) — one instance, non-recursive reads: recursive locking (a
/// writer queued in between would deadlock it). No writer exists here, so the real second
/// read succeeds.
#[test]
fn rsem_aa1_same_instance_read() {
    let s = Scope::new("rsem_AA1");
    let x1 = s.rwlock("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.read();
        let _g2 = x1.read();
    });
    expect_kind(
        "rsem_AA1",
        &reports,
        ReportKind::RecursiveLocking,
        &s.names(&["X"]),
    );
}

/// A mutex and the same class nested one level deeper with `lock_nested(1)` are different
/// classes (`X` and `X/1`): no recursive-locking report, but their order is recorded like any
/// other and the reverse order is a circular dependency.
#[test]
fn subclass_nesting() {
    let s = Scope::new("subclass");
    let x1 = s.mutex("X");
    let x2 = s.mutex("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.lock();
        let _g2 = x2.lock_nested(1);
    });
    expect_none("X then X/1", &reports);
    let (_, reports) = capture(|| {
        let _g2 = x2.lock_nested(1);
        let _g1 = x1.lock();
    });
    let x = s.name("X");
    let x_1 = format!("{x}/1");
    expect_circular(
        "X/1 then X after X then X/1",
        &reports,
        &x,
        &x_1,
        &[x.clone(), x_1.clone()],
    );
}

// =======================================================================================
// Mixed read/write ABBA (rlock_ABBA1..3, rwsem_ABBA1..3, rlock_chaincache_ABBA1)
//
// X is the read/write lock, Y an exclusive lock (spinlock in the rlock_ cases, mutex in the
// rwsem_ cases; both are `Mutex` here).
// =======================================================================================

/// First `x_op(X); lock(Y)`, then `lock(Y); x_op2(X)`.
fn mixed_abba(name: &str, x_op: Op, x_op2: Op) -> (Scope, Vec<lockdep::Report>) {
    let s = Scope::new(name);
    let x = Lk::Rw(s.rwlock("X"));
    let y = s.mutex("Y");
    let (_, reports) = capture(|| {
        {
            let _gx = x.take(x_op);
            let _gy = y.lock();
        }
        {
            let _gy = y.lock();
            let _gx = x.take(x_op2);
        }
    });
    (s, reports)
}

fn expect_yx_cycle(what: &str, s: &Scope, reports: &[lockdep::Report]) {
    expect_circular(
        what,
        reports,
        &s.name("X"),
        &s.name("Y"),
        &s.names(&["X", "Y"]),
    );
}

/// rlock_ABBA1: RL(X) L(Y) / L(Y) WL(X): FAILURE (a writer of X waits for the reader that
/// waits for Y).
#[test]
fn rlock_abba1() {
    let (s, r) = mixed_abba("rlock_ABBA1", Op::ReadRec, Op::Write);
    expect_yx_cycle("rlock_ABBA1", &s, &r);
}

/// rwsem_ABBA1: RSL(X) ML(Y) / ML(Y) WSL(X): FAILURE.
#[test]
fn rwsem_abba1() {
    let (s, r) = mixed_abba("rwsem_ABBA1", Op::Read, Op::Write);
    expect_yx_cycle("rwsem_ABBA1", &s, &r);
}

/// rlock_ABBA2: RL(X) L(Y) / L(Y) RL(X): SUCCESS (two recursive readers never block each
/// other).
#[test]
fn rlock_abba2() {
    let (_, r) = mixed_abba("rlock_ABBA2", Op::ReadRec, Op::ReadRec);
    expect_none("rlock_ABBA2", &r);
}

/// rwsem_ABBA2: RSL(X) ML(Y) / ML(Y) RSL(X): FAILURE (the second reader can queue behind a
/// waiting writer).
#[test]
fn rwsem_abba2() {
    let (s, r) = mixed_abba("rwsem_ABBA2", Op::Read, Op::Read);
    expect_yx_cycle("rwsem_ABBA2", &s, &r);
}

/// rlock_ABBA3: WL(X) L(Y) / L(Y) WL(X): FAILURE.
#[test]
fn rlock_abba3() {
    let (s, r) = mixed_abba("rlock_ABBA3", Op::Write, Op::Write);
    expect_yx_cycle("rlock_ABBA3", &s, &r);
}

/// rwsem_ABBA3: WSL(X) ML(Y) / ML(Y) WSL(X): FAILURE.
#[test]
fn rwsem_abba3() {
    let (s, r) = mixed_abba("rwsem_ABBA3", Op::Write, Op::Write);
    expect_yx_cycle("rwsem_ABBA3", &s, &r);
}

/// rlock_chaincache_ABBA1: RL(X) L(Y) / L(Y) RL(X) / L(Y) WL(X). The middle step is fine and
/// caches the chain [Y, X(recursive read)]; the chain [Y, X(write)] differs only in the read
/// state of X and must still be validated: FAILURE on the last step.
#[test]
fn rlock_chaincache_abba1() {
    let s = Scope::new("rlock_chaincache_ABBA1");
    let x = s.rwlock("X");
    let y = s.mutex("Y");
    let (_, first) = capture(|| {
        {
            let _gx = x.read_recursive();
            let _gy = y.lock();
        }
        {
            let _gy = y.lock();
            let _gx = x.read_recursive();
        }
    });
    expect_none("RL(X) L(Y) / L(Y) RL(X)", &first);
    let (_, last) = capture(|| {
        let _gy = y.lock();
        let _gx = x.write();
    });
    expect_yx_cycle("L(Y) WL(X) after the cached L(Y) RL(X)", &s, &last);
}

/// The worked example of the chain-key commit: P1 `read_recursive(B); lock(A)`, P2
/// `lock(A); read_recursive(B)` (fine, chain [A, B(R)] cached), P3 `lock(A); write(B)` must be
/// reported.
#[test]
fn chain_key_includes_read_state() {
    let s = Scope::new("chainkey_read_state");
    let a = s.mutex("A");
    let b = s.rwlock("B");
    let (_, first) = capture(|| {
        {
            let _gb = b.read_recursive();
            let _ga = a.lock();
        }
        {
            let _ga = a.lock();
            let _gb = b.read_recursive();
        }
    });
    expect_none("P1 and P2", &first);
    let (_, last) = capture(|| {
        let _ga = a.lock();
        let _gb = b.write();
    });
    expect_circular(
        "P3",
        &last,
        &s.name("B"),
        &s.name("A"),
        &s.names(&["A", "B"]),
    );
}

/// Every two-lock ABBA with every combination of acquisition modes. P1 takes X in mode `a`
/// then Y in mode `b`; P2 takes Y in mode `c` then X in mode `d` (modes W, r, R). By the
/// strong-path rule a report (on P2's acquisition of X) is due iff
/// NOT [ (d = R and a is a read) or (b = R and c is a read) ].
#[test]
fn two_lock_mode_matrix() {
    let ops = [Op::Write, Op::Read, Op::ReadRec];
    let mut failures = Vec::new();
    for a in ops {
        for b in ops {
            for c in ops {
                for d in ops {
                    let tag = format!("{}{}{}{}", a.short(), b.short(), c.short(), d.short());
                    let s = Scope::new(format!("matrix_{tag}"));
                    let x = Lk::Rw(s.rwlock("X"));
                    let y = Lk::Rw(s.rwlock("Y"));
                    let (_, p1) = capture(|| {
                        let _gx = x.take(a);
                        let _gy = y.take(b);
                    });
                    let (_, p2) = capture(|| {
                        let _gy = y.take(c);
                        let _gx = x.take(d);
                    });
                    let silent =
                        (d == Op::ReadRec && a.is_shared()) || (b == Op::ReadRec && c.is_shared());
                    let what = format!(
                        "{}(X) {}(Y) / {}(Y) {}(X)",
                        a.short(),
                        b.short(),
                        c.short(),
                        d.short()
                    );
                    let ok = p1.is_empty()
                        && if silent {
                            p2.is_empty()
                        } else {
                            p2.len() == 1
                                && p2[0].kind() == ReportKind::CircularDependency
                                && p2[0].acquiring() == Some(s.name("X"))
                                && p2[0].holding() == Some(s.name("Y"))
                        };
                    if !ok {
                        failures.push(format!(
                            "{what}: expected {}; P1: {}; P2: {}",
                            if silent { "no report" } else { "circular X<-Y" },
                            common::describe(&p1),
                            common::describe(&p2)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 81 cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// =======================================================================================
// Three classes with recursive reads, each family in all six orders of its three events
// (W1R2_W2R3_W3R1, W1W2_R2R3_W3R1: FAILURE; W1W2_R2R3_R3W1, W1R2_R2R3_W3W1: SUCCESS).
// "W" is write(), "R" read_recursive().
// =======================================================================================

#[derive(Clone, Copy)]
struct Event {
    first: (&'static str, Op),
    second: (&'static str, Op),
}

const fn ev(l1: &'static str, o1: Op, l2: &'static str, o2: Op) -> Event {
    Event {
        first: (l1, o1),
        second: (l2, o2),
    }
}

/// Runs the events in `order` (1-based indices) on fresh classes X, Y, Z; if `fails`, the last
/// event closes the cycle and must be the only report.
fn three_class_case(family: &str, events: [Event; 3], order: [usize; 3], fails: bool) {
    let tag: String = order.iter().map(|i| i.to_string()).collect();
    let s = Scope::new(format!("{family}_{tag}"));
    let locks: Vec<(&str, Lk)> = ["X", "Y", "Z"]
        .iter()
        .map(|n| (*n, Lk::Rw(s.rwlock(n))))
        .collect();
    let get = |l: &str| &locks.iter().find(|(n, _)| *n == l).unwrap().1;
    let (_, reports) = capture(|| {
        for i in order {
            let e = events[i - 1];
            let _g1 = get(e.first.0).take(e.first.1);
            let _g2 = get(e.second.0).take(e.second.1);
        }
    });
    let what = format!("{family} in order {tag}");
    if fails {
        let last = events[order[2] - 1];
        expect_circular(
            &what,
            &reports,
            &s.name(last.second.0),
            &s.name(last.first.0),
            &s.names(&["X", "Y", "Z"]),
        );
    } else {
        expect_none(&what, &reports);
    }
}

macro_rules! three_class_family {
    ($name:ident, $events:expr, $fails:expr) => {
        mod $name {
            use super::*;
            fn run(order: [usize; 3]) {
                three_class_case(stringify!($name), $events, order, $fails);
            }
            #[test]
            fn order_123() {
                run([1, 2, 3]);
            }
            #[test]
            fn order_132() {
                run([1, 3, 2]);
            }
            #[test]
            fn order_213() {
                run([2, 1, 3]);
            }
            #[test]
            fn order_231() {
                run([2, 3, 1]);
            }
            #[test]
            fn order_312() {
                run([3, 1, 2]);
            }
            #[test]
            fn order_321() {
                run([3, 2, 1]);
            }
        }
    };
}

// X -ER-> Y -ER-> Z -ER-> X: every lock is entered as a recursive reader and left as a
// writer: strong, a real deadlock even with recursive readers.
three_class_family!(
    w1r2_w2r3_w3r1,
    [
        ev("X", Op::Write, "Y", Op::ReadRec),
        ev("Y", Op::Write, "Z", Op::ReadRec),
        ev("Z", Op::Write, "X", Op::ReadRec),
    ],
    true
);

// X -EN-> Y -SR-> Z -ER-> X: strong.
three_class_family!(
    w1w2_r2r3_w3r1,
    [
        ev("X", Op::Write, "Y", Op::Write),
        ev("Y", Op::ReadRec, "Z", Op::ReadRec),
        ev("Z", Op::Write, "X", Op::ReadRec),
    ],
    true
);

// X -EN-> Y -SR-> Z -SN-> X: Z is entered as a recursive reader and left as a reader: not
// strong, no deadlock.
three_class_family!(
    w1w2_r2r3_r3w1,
    [
        ev("X", Op::Write, "Y", Op::Write),
        ev("Y", Op::ReadRec, "Z", Op::ReadRec),
        ev("Z", Op::ReadRec, "X", Op::Write),
    ],
    false
);

// X -ER-> Y -SR-> Z -EN-> X: Y is entered as a recursive reader and left as a reader: not
// strong, no deadlock.
three_class_family!(
    w1r2_r2r3_w3w1,
    [
        ev("X", Op::Write, "Y", Op::ReadRec),
        ev("Y", Op::ReadRec, "Z", Op::ReadRec),
        ev("Z", Op::Write, "X", Op::Write),
    ],
    false
);

// =======================================================================================
// Deliberate difference from the kernel: edges from below a recursive reader.
// =======================================================================================

/// T1: write(X), read_recursive(Y), lock(Z); T2: lock(Z), write(X).
///
/// This is a real deadlock: T1 holds X exclusively while it waits for Z, T2 holds Z while it
/// waits for X. The kernel misses it: on lock(Z) it adds only Y -> Z (an S-edge out of a
/// lock entered through the -(ER)-> edge X -> Y), so the cycle X -> Y -> Z -> X is not
/// strong. Our validator, by the lead's choice, continues the edge walk below a held
/// recursive reader (down to and including the first non-trylock entry not held as a
/// recursive reader), so lock(Z) also records X -> Z, and T2's write(X) under Z closes the
/// strong cycle X -> Z -> X: a circular-dependency report.
#[test]
fn edges_from_below_a_recursive_reader() {
    let s = Scope::new("below_recursive_reader");
    let x = s.rwlock("X");
    let y = s.rwlock("Y");
    let z = s.mutex("Z");
    let (_, t1) = capture(|| {
        let _gx = x.write();
        let _gy = y.read_recursive();
        let _gz = z.lock();
    });
    expect_none("T1", &t1);
    let (_, t2) = capture(|| {
        let _gz = z.lock();
        let _gx = x.write();
    });
    expect_circular(
        "T2 after T1",
        &t2,
        &s.name("X"),
        &s.name("Z"),
        &s.names(&["X", "Z"]),
    );
}

/// The same shape with a non-recursive reader in the middle needs no extension: X -> Y is EN,
/// Y -> Z is SN, and Z -> X closes a strong cycle through Y.
#[test]
fn edges_through_a_non_recursive_reader() {
    let s = Scope::new("through_reader");
    let x = s.rwlock("X");
    let y = s.rwlock("Y");
    let z = s.mutex("Z");
    let (_, reports) = capture(|| {
        {
            let _gx = x.write();
            let _gy = y.read();
            let _gz = z.lock();
        }
        {
            let _gz = z.lock();
            let _gx = x.write();
        }
    });
    expect_circular(
        "W(X) r(Y) L(Z) / L(Z) W(X)",
        &reports,
        &s.name("X"),
        &s.name("Z"),
        &s.names(&["X", "Z"]),
    );
}

// =======================================================================================
// Trylock rules: a successful trylock is held; it gets no same-class check and no incoming
// edge; edges go out from it, and the edge walk passes through it to the lock below.
// =======================================================================================

/// lock(A); try_lock(B) records no A -> B, so lock(B); lock(A) later is silent.
#[test]
fn trylock_gets_no_incoming_edge() {
    let s = Scope::new("try_no_incoming");
    let a = s.mutex("A");
    let b = s.mutex("B");
    let (_, reports) = capture(|| {
        {
            let _ga = a.lock();
            let gb = b.try_lock();
            assert!(gb.is_some(), "try_lock of a free mutex");
        }
        {
            let _gb = b.lock();
            let _ga = a.lock();
        }
    });
    expect_none("L(A) T(B) / L(B) L(A)", &reports);
}

/// try_lock(A); lock(B) records A -> B, so lock(B); lock(A) closes a cycle.
#[test]
fn trylock_edges_go_out() {
    let s = Scope::new("try_out");
    let a = s.mutex("A");
    let b = s.mutex("B");
    let (_, reports) = capture(|| {
        {
            let _ga = a.try_lock().expect("free");
            let _gb = b.lock();
        }
        {
            let _gb = b.lock();
            let _ga = a.lock();
        }
    });
    expect_circular(
        "T(A) L(B) / L(B) L(A)",
        &reports,
        &s.name("A"),
        &s.name("B"),
        &s.names(&["A", "B"]),
    );
}

/// lock(A); try_lock(T); lock(B): the walk from B goes through the trylocked T to A, so
/// A -> B is recorded (there is no A -> T). lock(B); lock(A) then closes a cycle.
#[test]
fn edge_walk_passes_through_trylock() {
    let s = Scope::new("try_walk");
    let a = s.mutex("A");
    let t = s.mutex("T");
    let b = s.mutex("B");
    let (_, reports) = capture(|| {
        {
            let _ga = a.lock();
            let _gt = t.try_lock().expect("free");
            let _gb = b.lock();
        }
        {
            let _gb = b.lock();
            let _ga = a.lock();
        }
    });
    expect_circular(
        "L(A) T(T) L(B) / L(B) L(A)",
        &reports,
        &s.name("A"),
        &s.name("B"),
        &s.names(&["A", "B"]),
    );
}

/// ww_test_block_try: lock(X1); try_lock(X2) of the same class: no check for a trylock.
#[test]
fn trylock_same_class_after_lock() {
    let s = Scope::new("try_block_try");
    let x1 = s.mutex("X");
    let x2 = s.mutex("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.lock();
        let _g2 = x2.try_lock().expect("free");
    });
    expect_none("L(X1) T(X2)", &reports);
}

/// ww_test_try_try: try_lock(X1); try_lock(X2): fine.
#[test]
fn trylock_same_class_after_trylock() {
    let s = Scope::new("try_try_try");
    let x1 = s.mutex("X");
    let x2 = s.mutex("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.try_lock().expect("free");
        let _g2 = x2.try_lock().expect("free");
    });
    expect_none("T(X1) T(X2)", &reports);
}

/// ww_test_try_block: try_lock(X1); lock(X2): a held trylocked lock counts for the same-class
/// check of a later blocking acquisition.
#[test]
fn lock_same_class_after_trylock() {
    let s = Scope::new("try_try_block");
    let x1 = s.mutex("X");
    let x2 = s.mutex("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.try_lock().expect("free");
        let _g2 = x2.lock();
    });
    expect_kind(
        "T(X1) L(X2)",
        &reports,
        ReportKind::RecursiveLocking,
        &s.names(&["X"]),
    );
}

/// ww_test_spin_try: L(A) U(A); T(O) L(A) U(A) U(O); L(A) T(O) U(O) U(A): SUCCESS (O -> A is
/// recorded, but the trylock of O under A adds no A -> O).
#[test]
fn ww_spin_try() {
    let s = Scope::new("ww_spin_try");
    let a = s.mutex("A");
    let o = s.mutex("O");
    let (_, reports) = capture(|| {
        drop(a.lock());
        {
            let _go = o.try_lock().expect("free");
            drop(a.lock());
        }
        {
            let _ga = a.lock();
            let _go = o.try_lock().expect("free");
        }
    });
    expect_none("ww_test_spin_try", &reports);
}

/// ww_test_spin_block: the same with a blocking lock of O: FAILURE on the last lock(O).
#[test]
fn ww_spin_block() {
    let s = Scope::new("ww_spin_block");
    let a = s.mutex("A");
    let o = s.mutex("O");
    let (_, reports) = capture(|| {
        drop(a.lock());
        {
            let _go = o.lock();
            drop(a.lock());
        }
        {
            let _ga = a.lock();
            let _go = o.lock();
        }
    });
    expect_circular(
        "ww_test_spin_block",
        &reports,
        &s.name("O"),
        &s.name("A"),
        &s.names(&["A", "O"]),
    );
}

/// A failed try leaves no trace: neither a report nor a held record (a later lock of the same
/// class is no recursion).
#[test]
fn failed_trylock_leaves_no_trace() {
    let s = Scope::new("try_failed");
    let x1 = s.mutex("X");
    let x2 = s.mutex("X");
    let (_, reports) = capture(|| {
        {
            let _g = x1.lock();
            assert!(x1.try_lock().is_none(), "x1 is held");
        }
        let _g2 = x2.lock();
    });
    expect_none("failed try_lock", &reports);
}

/// try_read is a non-recursive reader: read() of the same class after it is recursive
/// locking, read_recursive() is not.
#[test]
fn try_read_is_a_non_recursive_reader() {
    let s = Scope::new("try_read_kind");
    let x1 = s.rwlock("X");
    let x2 = s.rwlock("X");
    let (_, reports) = capture(|| {
        let _g1 = x1.try_read().expect("free");
        let _g2 = x2.read_recursive();
    });
    expect_none("try_read(X1) read_recursive(X2)", &reports);
    let (_, reports) = capture(|| {
        let _g1 = x1.try_read().expect("free");
        let _g2 = x2.read();
    });
    expect_kind(
        "try_read(X1) read(X2)",
        &reports,
        ReportKind::RecursiveLocking,
        &s.names(&["X"]),
    );
}

// =======================================================================================
// nest_lock
// =======================================================================================

/// ww_test_spin_nest_lock: lock(X1); lock_nest_lock(Y1, X1); lock(A); lock_nest_lock(Y2, X1);
/// then unlock A, Y2, Y1, X1. Not a deadlock: X1 serialises Y1 and Y2. SUCCESS.
#[test]
fn nest_lock_exempts_same_class_under_held_nest() {
    let s = Scope::new("nest_spin_nest_lock");
    let x1 = s.mutex("X");
    let y1 = s.mutex("Y");
    let y2 = s.mutex("Y");
    let a = s.mutex("A");
    let (_, reports) = capture(|| {
        let gx = x1.lock();
        let gy1 = y1.lock_nest_lock(&gx);
        let ga = a.lock();
        let gy2 = y2.lock_nest_lock(&gx);
        drop(ga);
        drop(gy2);
        drop(gy1);
        drop(gx);
    });
    expect_none("ww_test_spin_nest_lock", &reports);
}

/// Many same-class locks taken directly one after the other under the nest lock (the merged
/// case), released in any order: fine.
#[test]
fn nest_lock_many_same_class() {
    let s = Scope::new("nest_many");
    let parent = s.mutex("P");
    let children: Vec<Mutex<()>> = (0..5).map(|_| s.mutex("C")).collect();
    let (_, reports) = capture(|| {
        let gp = parent.lock();
        let mut guards: Vec<_> = children.iter().map(|c| c.lock_nest_lock(&gp)).collect();
        // release out of order: the middle one, then the first, then the rest
        drop(guards.remove(2));
        drop(guards.remove(0));
        drop(guards);
        drop(gp);
    });
    expect_none("5 children under their parent", &reports);
}

/// The exemption only applies when the nest lock lies below the same-class lock on the held
/// stack: lock(Y1); lock(X); lock_nest_lock(Y2, X) is recursive locking on Y.
#[test]
fn nest_lock_does_not_cover_same_class_below_it() {
    let s = Scope::new("nest_below");
    let y1 = s.mutex("Y");
    let x = s.mutex("X");
    let y2 = s.mutex("Y");
    let (_, reports) = capture(|| {
        let _gy1 = y1.lock();
        let gx = x.lock();
        let _gy2 = y2.lock_nest_lock(&gx);
    });
    expect_kind(
        "L(Y1) L(X) L_nest(Y2, X)",
        &reports,
        ReportKind::RecursiveLocking,
        &s.names(&["Y"]),
    );
}

/// Without a held same-class lock, lock_nest_lock is an ordinary acquisition: it records
/// X -> Y, and the reverse order is a circular dependency.
#[test]
fn nest_lock_still_records_order() {
    let s = Scope::new("nest_order");
    let x = s.mutex("X");
    let y = s.mutex("Y");
    let (_, reports) = capture(|| {
        {
            let gx = x.lock();
            let _gy = y.lock_nest_lock(&gx);
        }
        {
            let _gy = y.lock();
            let _gx = x.lock();
        }
    });
    expect_circular(
        "L(X) L_nest(Y, X) / L(Y) L(X)",
        &reports,
        &s.name("X"),
        &s.name("Y"),
        &s.names(&["X", "Y"]),
    );
}

/// ww_test_spin_nest_unlocked: lock_nest_lock with a nest lock this thread does not hold
/// (here: its guard exists but the lock was force-unlocked) is a NestLockNotHeld report.
#[test]
fn nest_lock_not_held() {
    let s = Scope::new("nest_not_held");
    let x = s.mutex("X");
    let y = s.mutex("Y");
    let (_, reports) = capture(|| {
        let gx = x.lock();
        // SAFETY: this thread holds x; afterwards gx is never dropped (forgotten below).
        unsafe { x.force_unlock() };
        let gy = y.lock_nest_lock(&gx);
        drop(gy);
        std::mem::forget(gx);
    });
    expect_kind(
        "lock_nest_lock under an unheld nest lock",
        &reports,
        ReportKind::NestLockNotHeld,
        &s.names(&["Y", "X"]),
    );
    assert!(x.try_lock().is_some(), "x was force-unlocked");
}

// =======================================================================================
// Out-of-order release (the kernel's old "bad unlock order" cases: SUCCESS)
// =======================================================================================

#[test]
fn out_of_order_unlock_is_silent() {
    for op in [Op::Lock, Op::Write, Op::Read, Op::ReadRec] {
        let s = Scope::new(format!("unlock_order_{}", op_name(op)));
        let a = s.lock_for("A", op);
        let b = s.lock_for("B", op);
        let c = s.lock_for("C", op);
        let (_, reports) = capture(|| {
            let ga = a.take(op);
            let gb = b.take(op);
            let gc = c.take(op);
            drop(ga);
            drop(gc);
            drop(gb);
            // and again, same order: nothing new
            let ga = a.take(op);
            let gb = b.take(op);
            drop(ga);
            drop(gb);
        });
        expect_none(&format!("out-of-order unlock, {}", op_name(op)), &reports);
    }
}

// =======================================================================================
// Pseudo-locks (LockMap). A LockMap's class is its construction site, shown by its name;
// each test constructs its maps at sites of its own.
// =======================================================================================

/// ABBA between two pseudo-locks.
#[test]
fn lockmap_abba() {
    let m1 = LockMap::new("selftest.lockmap_abba.M1");
    let m2 = LockMap::new("selftest.lockmap_abba.M2");
    let (_, reports) = capture(|| {
        m1.acquire();
        m2.acquire();
        m2.release();
        m1.release();
        m2.acquire();
        m1.acquire();
        m1.release();
        m2.release();
    });
    expect_circular(
        "LockMap ABBA",
        &reports,
        "selftest.lockmap_abba.M1",
        "selftest.lockmap_abba.M2",
        &[
            "selftest.lockmap_abba.M1".into(),
            "selftest.lockmap_abba.M2".into(),
        ],
    );
}

/// Pseudo-locks nest with real locks like any lock: map -> mutex, then mutex -> map.
#[test]
fn lockmap_nests_with_mutex() {
    let s = Scope::new("lockmap_mutex");
    let map = LockMap::new("selftest.lockmap_mutex.MAP");
    let m = s.mutex("M");
    let (_, reports) = capture(|| {
        map.acquire();
        drop(m.lock());
        map.release();
        let _g = m.lock();
        map.acquire();
        map.release();
    });
    expect_circular(
        "map -> M, then M -> map",
        &reports,
        "selftest.lockmap_mutex.MAP",
        &s.name("M"),
        &["selftest.lockmap_mutex.MAP".into(), s.name("M")],
    );
}

/// The workqueue pattern: the worker holds the work's map while the work function takes L;
/// flushing the work (might_acquire = acquire + release) while holding L closes L -> W -> L.
#[test]
fn lockmap_flush_work_pattern() {
    let s = Scope::new("lockmap_flush");
    let work = LockMap::new("selftest.lockmap_flush.WORK");
    let l = s.mutex("L");
    let (_, worker) = capture(|| {
        work.acquire();
        drop(l.lock());
        work.release();
    });
    expect_none("worker", &worker);
    let (_, flusher) = capture(|| {
        let _g = l.lock();
        work.might_acquire();
    });
    expect_circular(
        "flush under L",
        &flusher,
        "selftest.lockmap_flush.WORK",
        &s.name("L"),
        &["selftest.lockmap_flush.WORK".into(), s.name("L")],
    );
}

/// might_acquire with nothing held reports nothing and leaves nothing held: a later acquire
/// of the same map is no recursion.
#[test]
fn lockmap_might_acquire_does_not_stay_held() {
    let map = LockMap::new("selftest.lockmap_might.MAP");
    let (_, reports) = capture(|| {
        map.might_acquire();
        map.acquire();
        map.release();
    });
    expect_none("might_acquire then acquire", &reports);
}

/// acquire_read is a recursive read: twice is fine; two exclusive acquisitions of one
/// pseudo-lock class are recursive locking.
#[test]
fn lockmap_same_class() {
    let reads: Vec<LockMap> = (0..2)
        .map(|_| LockMap::new("selftest.lockmap_rr.M"))
        .collect();
    let (_, reports) = capture(|| {
        reads[0].acquire_read();
        reads[1].acquire_read();
        reads[1].release();
        reads[0].release();
    });
    expect_none("acquire_read twice", &reports);

    let excl: Vec<LockMap> = (0..2)
        .map(|_| LockMap::new("selftest.lockmap_ww.M"))
        .collect();
    let (_, reports) = capture(|| {
        excl[0].acquire();
        excl[1].acquire();
        excl[1].release();
        excl[0].release();
    });
    expect_kind(
        "acquire twice",
        &reports,
        ReportKind::RecursiveLocking,
        &["selftest.lockmap_ww.M".into()],
    );
}

/// acquire_read is a recursive read in the graph too: R(M) L(Y) / L(Y) R(M) is fine (like
/// rlock_ABBA2), and L(Y) W(M) afterwards is reported (like rlock_chaincache_ABBA1).
#[test]
fn lockmap_read_is_recursive_in_the_graph() {
    let s = Scope::new("lockmap_read_graph");
    let map = LockMap::new("selftest.lockmap_read_graph.MAP");
    let y = s.mutex("Y");
    let (_, first) = capture(|| {
        map.acquire_read();
        drop(y.lock());
        map.release();
        let _g = y.lock();
        map.acquire_read();
        map.release();
    });
    expect_none("R(M) L(Y) / L(Y) R(M)", &first);
    let (_, last) = capture(|| {
        let _g = y.lock();
        map.acquire();
        map.release();
    });
    expect_circular(
        "L(Y) W(M)",
        &last,
        "selftest.lockmap_read_graph.MAP",
        &s.name("Y"),
        &["selftest.lockmap_read_graph.MAP".into(), s.name("Y")],
    );
}

/// Releasing a pseudo-lock that is not held is a bad unlock balance.
#[test]
fn lockmap_release_unheld() {
    let map = LockMap::new("selftest.lockmap_unheld.MAP");
    let (_, reports) = capture(|| {
        map.acquire();
        map.release();
        map.release();
    });
    expect_kind(
        "release twice",
        &reports,
        ReportKind::BadUnlockBalance,
        &["selftest.lockmap_unheld.MAP".into()],
    );
}
