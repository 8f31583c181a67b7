//! Chain keys: a hash over the (class, read, trylock, nest position) ids of the held entries,
//! bottom to top, built one entry at a time. A leaf: classes precompute the key of their
//! one-lock chains with it, the held-lock stack keeps each prefix's key.

/// Key of the empty chain (kernel INITIAL_CHAIN_KEY).
pub(crate) const INITIAL_CHAIN_KEY: u64 = !0;

/// Mixes one entry id into a chain key: one multiply and a fold. For a given parent key it is
/// a bijection of the id (an odd multiply and an xor-shift are both invertible), so two chains
/// that differ only in their last entry never share a key; chains with different parents meet
/// only when `rotl(parent) ^ id` does, which for parents that are themselves mixed is a 2^-64
/// chance. (The global table also checks parent and last id, see `chain_cache`.)
#[inline]
pub(crate) fn mix_chain_key(key: u64, id: u64) -> u64 {
    let z = (key.rotate_left(23) ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^ (z >> 29)
}
