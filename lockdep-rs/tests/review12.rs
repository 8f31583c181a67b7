#![cfg(all(lockdep_enabled, not(loom)))]
//! Review 12: a developer adopting lockdep on an existing codebase, checking the README's and
//! the crate docs' claims (settings, modes switched at run time, `reset()`, report hooks) and
//! the less-reviewed APIs. Each test pins a defect found by the review (it failed before its
//! fix):
//!
//! - `set_report_hook` dropped the hook it replaced while holding lockdep's internal hook
//!   lock: the old hook's captured state ran its `Drop` (user code) inside lockdep, where a
//!   lockdep lock it takes is left untracked (an order missed: the later inversion went
//!   unreported) and a call back into `set_report_hook` hung for ever;
//! - `reset()` while another thread held two locks of one class (a `#[derive(Default)]`'s
//!   fields, nested) forgot their instance order for good: the thread replayed its held
//!   locks' class edges after the reset but not their instance order, so the opposite order
//!   taken later (`transfer(b, a)` after `transfer(a, b)`) was not reported.

use std::sync::Arc;

use lockdep::{Mutex, ReportKind};

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "R12_CHILD";
use common::{expect_circular, expect_kind, watchdog};

/// Captured by a report hook; its `Drop` (user code) takes a lockdep lock, `r12.hook.log`,
/// and calls back into lockdep's hook API.
struct FlushOnDrop {
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.log.lock().push("hook dropped".into());
        // A hook's owner may well clear the hook when its state goes.
        lockdep::set_report_hook(None);
    }
}

/// The hook replaced by `set_report_hook` is dropped after lockdep's hook lock is released:
/// its captured state's `Drop` is user code. Here it takes `r12.hook.log` while the thread
/// holds `r12.hook.outer` (the order `outer -> log`), then clears the hook. Before the fix
/// the drop ran under the internal lock: the acquisition was left untracked, so the later
/// `log -> outer` was not reported, and the call back into `set_report_hook` hung (the
/// watchdog killed the child run). Run in a child process: the hook is process-wide.
#[test]
fn a_replaced_report_hook_is_dropped_outside_lockdep() {
    const NAME: &str = "a_replaced_report_hook_is_dropped_outside_lockdep";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    let log = Arc::new(Mutex::named("r12.hook.log", Vec::new()));
    let outer = Mutex::named("r12.hook.outer", ());
    let state = FlushOnDrop { log: log.clone() };
    lockdep::set_report_hook(Some(Box::new(move |r| {
        state.log.lock().push(r.to_string());
    })));
    {
        let _o = outer.lock();
        lockdep::set_report_hook(None); // drops the hook: `log` taken under `outer`
    }
    assert_eq!(log.lock().as_slice(), ["hook dropped"]);
    let (_, reports) = lockdep::capture(|| {
        let _l = log.lock();
        let _o = outer.lock(); // log -> outer closes outer -> log
    });
    expect_circular(
        "the hook's drop took log under outer",
        &reports,
        "r12.hook.outer",
        "r12.hook.log",
        &["r12.hook.outer".to_string(), "r12.hook.log".to_string()],
    );
}

/// Two accounts: the derive's one site makes their locks one (lenient) class, so their order
/// is checked per instance.
#[derive(Default)]
struct Accounts {
    a: Mutex<u64>,
    b: Mutex<u64>,
}

/// A thread holds `a` then `b` (one class: the order `a -> b` is an instance order) while
/// the main thread calls `reset()`; the holder then takes `r12.reset.Z`, its first
/// validation since the reset, which replays what it holds. Then `b` then `a` is an
/// `InstanceInversion` (two threads transferring in opposite orders deadlock). Before the
/// fix only the class edges were replayed: the instance order was lost, and nothing was
/// reported. Run in a child process: `reset()` clears the whole process's state.
#[test]
fn instance_orders_held_across_reset_are_kept() {
    const NAME: &str = "instance_orders_held_across_reset_are_kept";
    if !common::in_self_child(CHILD, NAME) {
        common::expect_self_succeeds(CHILD, NAME);
        return;
    }
    let _dog = watchdog(NAME, 30);
    let accounts = Arc::new(Accounts::default());
    let z = Arc::new(Mutex::named("r12.reset.Z", ()));
    let (holding_tx, holding) = std::sync::mpsc::channel();
    let (reset_done, reset_rx) = std::sync::mpsc::channel::<()>();
    let (acc, z2) = (accounts.clone(), z.clone());
    let holder = std::thread::spawn(move || {
        let _a = acc.a.lock();
        let _b = acc.b.lock(); // a -> b, per instance
        holding_tx.send(()).unwrap();
        reset_rx.recv().unwrap();
        let _z = z2.lock(); // the first validation after the reset: replays a, b
    });
    holding.recv().unwrap();
    lockdep::reset();
    reset_done.send(()).unwrap();
    holder.join().unwrap();
    let (_, reports) = lockdep::capture(|| {
        let _b = accounts.b.lock();
        let _a = accounts.a.lock(); // b -> a reverses a -> b
    });
    let class = reports
        .first()
        .map(|r| r.class_names()[0].clone())
        .unwrap_or_default();
    assert!(
        class.starts_with("Mutex<u64>::default() at lockdep-rs/tests/review12.rs:"),
        "{class:?}: {reports:?}"
    );
    expect_kind(
        "b then a after a -> b held across reset()",
        &reports,
        ReportKind::InstanceInversion,
        &[class],
    );
}
