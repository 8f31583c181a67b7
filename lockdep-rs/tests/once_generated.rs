//! Generated programs for one-time cells (`stdsync::OnceLock`, `stdsync::Once`, parking_lot's
//! `Once`): cells of one kind built at one site (one class), whose initializers force other
//! cells in a random call graph, and a random sequence of top-level forcings. (One kind per
//! program: cells of two classes forcing each other in both orders, from program to program,
//! are a real class-level `CircularWait`, as for locks.) A model walks the same
//! graph: a cell reached again from its own initializer (a cycle in the graph) is a certain
//! self-deadlock, which lockdep must stop with a panic and one `RecursiveLocking` report
//! (std and parking_lot would hang: a watchdog aborts the binary if one does); anything else
//! completes with every value right and no report (cells of one site nesting are no
//! recursion). Found both defects of 2026-12-07 (the re-entry hung; nested cells of one site
//! were reported) with their fixes removed; the oracle of `oracle.rs` knows no cells.
//! `PROPTEST_CASES` sets the number of programs (default 1500).
#![cfg(all(lockdep_enabled, not(loom)))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use lockdep::stdsync::{Once, OnceLock};
use lockdep::ReportKind;
use proptest::prelude::*;

/// Cells per program.
const CELLS: usize = 5;

#[derive(Clone, Copy, Debug)]
enum Kind {
    OnceLock,
    StdOnce,
    PlOnce,
}

#[derive(Clone, Debug)]
struct Program {
    kind: Kind,
    /// For each cell, the cells its initializer forces, in order.
    callees: Vec<Vec<usize>>,
    /// The cells forced from the top, in order.
    calls: Vec<usize>,
}

fn program() -> impl Strategy<Value = Program> {
    let kind = prop_oneof![
        Just(Kind::OnceLock),
        Just(Kind::StdOnce),
        Just(Kind::PlOnce)
    ];
    (
        kind,
        proptest::collection::vec(proptest::collection::vec(0..CELLS, 0..=2), CELLS),
        proptest::collection::vec(0..CELLS, 1..=3),
    )
        .prop_map(|(kind, callees, calls)| Program {
            kind,
            callees,
            calls,
        })
}

/// A program's cells, all built at the sites below (one class per kind).
struct Cells {
    kind: Kind,
    callees: Vec<Vec<usize>>,
    values: Vec<OnceLock<usize>>,
    std_onces: Vec<Once>,
    pl_onces: Vec<lockdep::Once>,
}

impl Cells {
    fn new(p: &Program) -> Cells {
        Cells {
            kind: p.kind,
            callees: p.callees.clone(),
            values: (0..CELLS).map(|_| OnceLock::new()).collect(),
            std_onces: (0..CELLS).map(|_| Once::new()).collect(),
            pl_onces: (0..CELLS).map(|_| lockdep::Once::new()).collect(),
        }
    }

    /// Forces cell `i`: its initializer forces its callees first.
    fn force(&self, i: usize) {
        let init = || self.callees[i].iter().for_each(|&c| self.force(c));
        match self.kind {
            Kind::OnceLock => {
                self.values[i].get_or_init(|| {
                    init();
                    i
                });
            }
            Kind::StdOnce => self.std_onces[i].call_once(init),
            Kind::PlOnce => self.pl_onces[i].call_once(init),
        }
    }
}

/// The model: does forcing the program's calls in order reach a cell from its own
/// initializer?
fn reenters(p: &Program) -> bool {
    fn force(p: &Program, i: usize, running: &mut Vec<usize>, done: &mut [bool]) -> bool {
        if done[i] {
            return false;
        }
        if running.contains(&i) {
            return true;
        }
        running.push(i);
        for &c in &p.callees[i] {
            if force(p, c, running, done) {
                return true;
            }
        }
        running.pop();
        done[i] = true;
        false
    }
    let mut done = [false; CELLS];
    p.calls
        .iter()
        .any(|&i| force(p, i, &mut Vec::new(), &mut done))
}

#[test]
fn generated_cells_forcing_each_other_are_stopped_only_when_they_reenter() {
    let _watchdog = common::watchdog("a one-time cell program (a re-entry not stopped?)", 120);
    let mut runner = common::generator(1500);
    let result = runner.run(&program(), |p| {
        let cells = Cells::new(&p);
        let (outcome, reports) = lockdep::capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                p.calls.iter().for_each(|&i| cells.force(i));
            }))
        });
        let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
        if reenters(&p) {
            let e = outcome.expect_err("a re-entry must panic");
            let text = e.downcast_ref::<String>().cloned().unwrap_or_default();
            prop_assert!(text.contains("certain self-deadlock"), "{}", text);
            prop_assert_eq!(kinds, [ReportKind::RecursiveLocking]);
        } else {
            prop_assert!(outcome.is_ok(), "no re-entry, but a panic");
            prop_assert!(kinds.is_empty(), "{:?}", reports);
            for (i, v) in cells.values.iter().enumerate() {
                let forced = v.get().is_some();
                prop_assert!(!forced || v.get() == Some(&i));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
