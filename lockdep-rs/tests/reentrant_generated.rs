//! Generated programs for `ReentrantMutex`'s bookkeeping (its levels, the lock's one record,
//! `unlocked`, `bump`, timed and failed attempts) beside a plain mutex, in `Collect` or
//! `Panic` mode. The oracle of `oracle.rs` knows no reentrant mutex, so it could not find that
//! a level taken back after `unlocked` was lost when the re-acquisition's validation panicked
//! (`reentrant_faults.rs`), nor that one taken back while the thread unwound from an unrelated
//! panic went unrecorded. Whatever is reported, and whichever acquisition panics, the real
//! locks must stay exactly as a model of the guards says: every level a guard holds is held,
//! nothing else is; lockdep never sees a lock held that no guard holds, and sees every held
//! one but after a re-acquisition whose validation panicked. `PROPTEST_CASES`
//! sets the number of programs (default 1500).
#![cfg(lockdep_enabled)]

mod common;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lockdep::{
    LockClass, Mode, Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard, ReportKind,
};
use proptest::prelude::*;

/// One step of a program: `r` picks one of the two reentrant mutexes, `i` a live guard.
#[derive(Clone, Debug)]
enum Op {
    LockR(usize),
    TryLockR(usize),
    TryLockForR(usize),
    LockM,
    Drop(usize),
    Unlocked(usize),
    /// `unlocked` on a guard from a destructor, while the thread unwinds from a panic.
    UnlockedWhileUnwinding(usize),
    Bump(usize),
    /// Switches between `Collect` and `Panic`.
    Flip,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize).prop_map(Op::LockR),
        1 => (0..2usize).prop_map(Op::TryLockR),
        1 => (0..2usize).prop_map(Op::TryLockForR),
        2 => Just(Op::LockM),
        4 => (0..8usize).prop_map(Op::Drop),
        2 => (0..8usize).prop_map(Op::Unlocked),
        1 => (0..8usize).prop_map(Op::UnlockedWhileUnwinding),
        1 => (0..8usize).prop_map(Op::Bump),
        1 => Just(Op::Flip),
    ]
}

/// Runs its closure when dropped (here: while a panic unwinds).
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// The payload of the panics the programs raise on purpose (kept off stderr).
const UNWINDING: &str = "generated unwinding";

enum Held<'a> {
    R(usize, ReentrantMutexGuard<'a, u32>),
    M(MutexGuard<'a, u32>),
}

fn class(n: usize, what: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("gen.re.{n}.{what}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

/// Runs one program (its locks of fresh classes `n`); returns the reports it raised.
fn run_program(n: usize, ops: &[Op], panic_first: bool) -> Vec<lockdep::Report> {
    let rs = [
        ReentrantMutex::with_class(class(n, "R0"), 0u32),
        ReentrantMutex::with_class(class(n, "R1"), 0u32),
    ];
    let m = Mutex::with_class(class(n, "M"), 0u32);
    let mut panic_mode = panic_first;
    lockdep::set_mode(if panic_mode {
        Mode::Panic
    } else {
        Mode::Collect
    });
    let mut held: Vec<Held<'_>> = Vec::new();
    // Locks whose level may be held unrecorded: a re-acquisition after `unlocked` / `bump`
    // whose validation panicked (Panic mode) takes the lock back without a record. Any other
    // held level must be recorded.
    let mut unrecorded = [false; 2];
    let check = |held: &Vec<Held<'_>>, unrecorded: &mut [bool; 2], step: usize, op: &Op| {
        for (k, r) in rs.iter().enumerate() {
            let levels = held
                .iter()
                .filter(|h| matches!(h, Held::R(j, _) if *j == k))
                .count();
            assert_eq!(
                r.is_locked(),
                levels > 0,
                "step {step} ({op:?}): R{k} locked with {levels} levels held"
            );
            assert_eq!(
                r.is_owned_by_current_thread(),
                levels > 0,
                "step {step}: R{k}"
            );
            if levels == 0 {
                assert!(!r.is_held(), "step {step} ({op:?}): stale entry of R{k}");
                unrecorded[k] = false;
            } else if !unrecorded[k] {
                assert!(r.is_held(), "step {step} ({op:?}): R{k} held unrecorded");
            }
        }
        let m_held = held.iter().any(|h| matches!(h, Held::M(_)));
        assert_eq!(m.is_locked(), m_held, "step {step} ({op:?}): M");
        if !m_held {
            assert!(
                !lockdep::is_held(&m),
                "step {step} ({op:?}): stale entry of M"
            );
        }
    };
    for (step, op) in ops.iter().enumerate() {
        let len = held.len();
        let touched = match *op {
            Op::Unlocked(i) | Op::Bump(i) if len > 0 => match held[i % len] {
                Held::R(k, _) => Some(k),
                Held::M(_) => None,
            },
            _ => None,
        };
        // Any acquisition may report, and in Panic mode panic: then nothing is taken.
        let outcome = catch_unwind(AssertUnwindSafe(|| match *op {
            Op::LockR(k) => held.push(Held::R(k, rs[k].lock())),
            Op::TryLockR(k) => {
                if let Some(g) = rs[k].try_lock() {
                    held.push(Held::R(k, g));
                }
            }
            Op::TryLockForR(k) => {
                if let Some(g) = rs[k].try_lock_for(std::time::Duration::from_millis(1)) {
                    held.push(Held::R(k, g));
                }
            }
            // (Re-locking M held is a certain self-deadlock: it panics, nothing is taken.)
            Op::LockM => held.push(Held::M(m.lock())),
            Op::Drop(i) if len > 0 => drop(held.remove(i % len)),
            Op::Unlocked(i) if len > 0 => match &mut held[i % len] {
                Held::R(_, g) => ReentrantMutexGuard::unlocked(g, || {}),
                Held::M(g) => MutexGuard::unlocked(g, || {}),
            },
            Op::UnlockedWhileUnwinding(i) if len > 0 => {
                let guard = &mut held[i % len];
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    let _relock = OnDrop(|| match &mut *guard {
                        Held::R(_, g) => ReentrantMutexGuard::unlocked(g, || {}),
                        Held::M(g) => MutexGuard::unlocked(g, || {}),
                    });
                    std::panic::panic_any(UNWINDING);
                }));
            }
            Op::Bump(i) if len > 0 => match &mut held[i % len] {
                Held::R(_, g) => ReentrantMutexGuard::bump(g),
                Held::M(g) => MutexGuard::bump(g),
            },
            Op::Flip => {
                panic_mode = !panic_mode;
                lockdep::set_mode(if panic_mode {
                    Mode::Panic
                } else {
                    Mode::Collect
                });
            }
            _ => {}
        }));
        if let (Err(_), Some(k)) = (outcome, touched) {
            unrecorded[k] = true;
        }
        check(&held, &mut unrecorded, step, op);
    }
    lockdep::set_mode(Mode::Collect);
    while let Some(h) = held.pop() {
        drop(h);
        check(&held, &mut unrecorded, ops.len(), &Op::Drop(0));
    }
    lockdep::take_reports()
}

#[test]
fn generated_reentrant_programs_keep_the_real_locks_and_the_records_in_step() {
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&UNWINDING) {
            report_panic(info);
        }
    }));
    let mut runner = common::generator(1500);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(
        &(prop::collection::vec(op(), 1..32), any::<bool>()),
        |(ops, panic_first)| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reports = catch_unwind(AssertUnwindSafe(|| run_program(n, &ops, panic_first)))
                .map_err(|p| {
                    lockdep::set_mode(Mode::Collect);
                    let text = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    TestCaseError::fail(text)
                })?;
            // Orders between the locks are real findings here (random orders); what must
            // never appear is a bookkeeping error.
            let bad: Vec<_> = reports
                .iter()
                .filter(|r| {
                    matches!(
                        r.kind(),
                        ReportKind::BadUnlockBalance | ReportKind::HeldLockFreed
                    )
                })
                .collect();
            prop_assert!(bad.is_empty(), "{bad:?}");
            Ok(())
        },
    );
    lockdep::set_mode(Mode::Collect);
    if let Err(e) = result {
        panic!("{e}");
    }
}
