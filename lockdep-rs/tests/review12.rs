#![cfg(all(lockdep_enabled, not(loom)))]
//! Review 12: a developer adopting lockdep on an existing codebase, checking the README's and
//! the crate docs' claims (settings, modes switched at run time, `reset()`, report hooks) and
//! the less-reviewed APIs. Each test pins a defect found by the review (it failed before its
//! fix):
//!
//! - `set_report_hook` dropped the hook it replaced while holding lockdep's internal hook
//!   lock: the old hook's captured state ran its `Drop` (user code) inside lockdep, where a
//!   lockdep lock it takes is left untracked (an order missed: the later inversion went
//!   unreported) and a call back into `set_report_hook` hung for ever.

use std::sync::Arc;

use lockdep::Mutex;

mod common;

/// The variable that tells a child run which test it is (see `common::run_self`).
const CHILD: &str = "R12_CHILD";
use common::{expect_circular, watchdog};

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
