//! `LockMap`: a lock with no data, for annotations (kernel `lockdep_map` pseudo-locks such as
//! a workqueue's or a "this section may not run under X" marker).

use std::panic::Location;

use crate::dep_map::{DepMap, Read};
use crate::held::{LockHandle, Sealed, TrackedLock};

/// A pseudo-lock: acquisitions and releases are validated and recorded like a real lock's,
/// but nothing blocks. Its class is its construction site, shown by its name.
///
/// ```
/// static WORK: lockdep::LockMap = lockdep::LockMap::new("(work_completion)");
/// WORK.acquire();
/// WORK.release();
/// WORK.might_acquire(); // "this may take WORK": records the order, takes nothing
/// ```
pub struct LockMap {
    dep: DepMap,
}

impl LockMap {
    /// A pseudo-lock named `name`, of the class of its construction site.
    #[track_caller]
    pub const fn new(name: &'static str) -> LockMap {
        LockMap {
            dep: DepMap::pseudo(Location::caller(), name),
        }
    }

    /// Records an exclusive acquisition (kernel `lock_map_acquire`).
    #[track_caller]
    pub fn acquire(&self) {
        self.record(Read::Exclusive);
    }

    /// Records a recursive-read acquisition (kernel `lock_map_acquire_read`).
    #[track_caller]
    pub fn acquire_read(&self) {
        self.record(Read::Recursive);
    }

    #[track_caller]
    fn record(&self, read: Read) {
        // Counted as held (no real lock says so): a drop of the map while another thread
        // holds it is reported, and that thread's record of it forgotten.
        self.dep.acquire_pseudo(read, Location::caller());
    }

    /// Records the release of the most recent acquisition (kernel `lock_map_release`);
    /// reports `BadUnlockBalance` if this thread does not hold it.
    #[track_caller]
    pub fn release(&self) {
        self.dep.release_pseudo(Location::caller());
    }

    /// Validates as if acquiring and at once releases (kernel `might_lock`): records the
    /// order "held locks, then this" without holding it.
    #[track_caller]
    pub fn might_acquire(&self) {
        let site = Location::caller();
        let mut tracked = self.dep.acquire(Read::Exclusive, 0, None, site);
        tracked.release();
    }

    /// Is this lock held by the calling thread, as far as lockdep can tell? (`true` when it
    /// cannot tell: see [`is_held`](crate::is_held).)
    pub fn is_held(&self) -> bool {
        self.dep.held_state().unwrap_or(true)
    }
}

impl std::fmt::Debug for LockMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockMap { .. }")
    }
}

impl Sealed for LockMap {}
impl TrackedLock for LockMap {
    fn lock_handle(&self) -> LockHandle<'_> {
        LockHandle::of_lock(&self.dep)
    }
}
