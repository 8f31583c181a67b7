//! How a lock is held: the kernel's `read` values, shared by the validator and the wrappers.

/// How a lock is held (kernel `read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Read {
    /// read = 0: mutex, write lock, exclusive pseudo-lock.
    Exclusive = 0,
    /// read = 1: non-recursive reader (rwsem `down_read`, parking_lot `read`).
    Shared = 1,
    /// read = 2: recursive reader (`read_lock`, parking_lot `read_recursive`).
    Recursive = 2,
}

impl Read {
    #[cfg_attr(not(lockdep_enabled), allow(dead_code))]
    pub(crate) fn is_shared(self) -> bool {
        self != Read::Exclusive
    }

    /// The value packed into two bits (a guard's token).
    #[cfg_attr(not(lockdep_enabled), allow(dead_code))]
    pub(crate) fn from_bits(bits: u64) -> Read {
        match bits & 3 {
            0 => Read::Exclusive,
            1 => Read::Shared,
            _ => Read::Recursive,
        }
    }
}
