//! A counting global allocator for the tests that measure what lockdep keeps (timings are for
//! the benchmarks, not for tests). A test binary installs it with
//! `#[global_allocator] static ALLOC: common::counting::Counting = common::counting::Counting;`
//! and reads [`in_use`]; the count is the whole process's, so such a binary runs its tests one
//! at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes in use.
pub struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

/// Bytes allocated and not freed so far (through [`Counting`]).
pub fn in_use() -> isize {
    IN_USE.load(Ordering::Relaxed)
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}
