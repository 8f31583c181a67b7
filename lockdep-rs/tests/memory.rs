//! Issue 12, item 13: memory grew quadratically with the held depth. Every validated chain
//! stored its full id list, so 10,000 locks held at once used 583 MiB, and dropping 1,000
//! held guards front to back stored 500,500 chains. A chain is now its parent's key plus its
//! last entry, and an out-of-order release puts the entries above back without validating
//! them again. A counting allocator measures what lockdep keeps (timings are for the
//! benchmarks, not for tests).
//!
//! One test at a time: the allocator counts the whole process.
#![cfg(lockdep_enabled)]

use std::sync::Mutex as StdMutex;

use lockdep::{LockClass, Mode, Mutex};

mod common;

#[global_allocator]
static ALLOC: common::counting::Counting = common::counting::Counting;

static SERIAL: StdMutex<()> = StdMutex::new(());

/// `n` mutexes of `n` distinct classes named `prefix.i`.
fn locks(prefix: &str, n: usize) -> Vec<Mutex<()>> {
    (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("{prefix}.{i}").into_boxed_str());
            Mutex::with_class(Box::leak(Box::new(LockClass::new(name))), ())
        })
        .collect()
}

#[test]
fn ten_thousand_locks_held_at_once_stay_under_64_mib() {
    let _s = SERIAL.lock().unwrap();
    lockdep::set_mode(Mode::Collect);
    let locks = locks("mem10k", 10_000);
    let before = common::counting::in_use();
    let chains_before = lockdep::stats().chains;
    let guards: Vec<_> = locks.iter().map(|m| m.lock()).collect();
    let used = common::counting::in_use() - before;
    drop(guards);
    let new_chains = lockdep::stats().chains - chains_before;
    assert_eq!(new_chains, 10_000, "one chain per depth");
    assert!(used < 64 << 20, "10,000 held locks took {} MiB", used >> 20);
    assert!(lockdep::take_reports().is_empty());
}

#[test]
fn releasing_a_thousand_guards_front_to_back_stores_no_new_chains() {
    let _s = SERIAL.lock().unwrap();
    lockdep::set_mode(Mode::Collect);
    let locks = locks("mem1k", 1_000);
    let guards: Vec<_> = locks.iter().map(|m| m.lock()).collect();
    let chains_before = lockdep::stats().chains;
    let before = common::counting::in_use();
    for g in guards {
        drop(g); // each release is the bottom entry: 999, 998, ... entries put back
    }
    let grown = common::counting::in_use() - before;
    assert_eq!(
        lockdep::stats().chains,
        chains_before,
        "nothing validated again"
    );
    assert!(grown < 1 << 20, "releasing kept {grown} bytes");
    assert!(lockdep::take_reports().is_empty());
}
