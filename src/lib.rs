//! The workspace's root package: it owns the cross-crate examples (`examples/`) and
//! integration tests (`tests/`), and shows the recommended way to adopt lockdep.
//!
//! Its `Cargo.toml` depends on `lockdep` plainly: debug builds (`cargo test`, `cargo run`)
//! validate every lock order, release builds get plain parking_lot locks of the same size and
//! pay nothing. (It also turns `lockdep/enabled` on as a dev-dependency, so its optimised test
//! builds, such as the loom suite's, validate too.) [`Accounts`] is a small library type
//! written that way.

use lockdep::{LockClass, Mutex};

/// The class shared by every account's lock.
static ACCOUNT: LockClass = LockClass::new("&account->lock");

/// A set of accounts whose transfers lock two accounts at once, in a fixed (index) order,
/// using `lock_nested(1)` for the second lock of the same class, as the kernel does.
pub struct Accounts {
    balances: Vec<Mutex<i64>>,
}

impl Accounts {
    /// `n` accounts holding `initial` each. Their locks are registered as they are built
    /// (as the README asks of per-object locks built in a loop), so lockdep knows at once that
    /// the class has many instances and never takes one account's lock for a gate.
    pub fn new(n: usize, initial: i64) -> Accounts {
        let balances: Vec<Mutex<i64>> = (0..n)
            .map(|_| Mutex::with_class(&ACCOUNT, initial))
            .collect();
        for b in &balances {
            b.register();
        }
        Accounts { balances }
    }

    /// Moves `amount` from account `from` to account `to` (no-op when they are the same).
    pub fn transfer(&self, from: usize, to: usize, amount: i64) {
        if from == to {
            return;
        }
        let (first, second) = (from.min(to), from.max(to));
        let mut a = self.balances[first].lock();
        let mut b = self.balances[second].lock_nested(1);
        let (src, dst) = if from < to {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        *src -= amount;
        *dst += amount;
    }

    /// The sum of all balances.
    pub fn total(&self) -> i64 {
        self.balances.iter().map(|m| *m.lock()).sum()
    }
}
