//! `serde` support (feature `serde`, as parking_lot's): a lock serializes as its data, taken
//! under the lock (a validated acquisition like any); a lock deserializes from its data.
//!
//! A deserialized lock has no construction site in the program (serde's generic code builds
//! it), so, like a raw lock made by `INIT`, **each deserialized lock is its own class**,
//! shown `Mutex#id` (`FairMutex#id`, `RwLock#id`, `ReentrantMutex#id`): an inversion
//! between two of them is reported, and one lock never shares a class with another.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dep_map::DepMap;
use crate::raw::{MutexKind, RealLock, RwLockKind};
use crate::{GenericMutex, GenericReentrantMutex, GenericRwLock};

impl<K: MutexKind, T: ?Sized + Serialize> Serialize for GenericMutex<K, T> {
    #[track_caller]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

impl<'de, K: MutexKind, T: Deserialize<'de>> Deserialize<'de> for GenericMutex<K, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = match <K::Real as RealLock>::NAME {
            "RawFairMutex" => "FairMutex",
            _ => "Mutex",
        };
        let value = T::deserialize(deserializer)?;
        Ok(Self::with_dep(DepMap::per_instance(name), value))
    }
}

impl<K: RwLockKind, T: ?Sized + Serialize> Serialize for GenericRwLock<K, T> {
    #[track_caller]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.read().serialize(serializer)
    }
}

impl<'de, K: RwLockKind, T: Deserialize<'de>> Deserialize<'de> for GenericRwLock<K, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = T::deserialize(deserializer)?;
        Ok(Self::with_dep(DepMap::per_instance("RwLock"), value))
    }
}

impl<R, G, T: ?Sized + Serialize> Serialize for GenericReentrantMutex<R, G, T> {
    #[track_caller]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

impl<'de, R, G, T: Deserialize<'de>> Deserialize<'de> for GenericReentrantMutex<R, G, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = T::deserialize(deserializer)?;
        Ok(Self::with_dep(
            DepMap::per_instance("ReentrantMutex"),
            value,
        ))
    }
}
