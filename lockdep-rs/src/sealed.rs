//! The seal of this crate's lock traits: a leaf, so that the lowest layer (`sync.rs`, which
//! declares the lock kinds) can use it.

/// Implementation detail: only this crate's guards, locks and lock kinds implement the traits
/// that require it.
#[doc(hidden)]
pub trait Sealed {}
