//! Loom-modelled locks with parking_lot's API, used when built with `--cfg loom`.
//!
//! Each lock keeps its state in a `loom::sync::Mutex` and blocks on a `loom::sync::Condvar`,
//! so loom explores every interleaving of acquisitions and reports a real deadlock when every
//! thread waits. The data itself lives in a plain `UnsafeCell`: exclusive access is what these
//! locks provide, exactly as parking_lot's do.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use loom::sync::{Condvar as LoomCondvar, Mutex as LoomMutex};

/// A blocking mutual-exclusion lock modelled by loom. `K` is lockdep's mutex kind (plain or
/// fair); loom models both the same way.
pub struct Mutex<T: ?Sized, K = ()> {
    locked: LoomMutex<bool>,
    wake: LoomCondvar,
    kind: PhantomData<fn() -> K>,
    data: UnsafeCell<T>,
}

// SAFETY: like parking_lot::Mutex, the lock hands out `&mut T` to one thread at a time.
unsafe impl<T: ?Sized + Send, K> Send for Mutex<T, K> {}
// SAFETY: as above; access to `data` is serialised by `locked`.
unsafe impl<T: ?Sized + Send, K> Sync for Mutex<T, K> {}

impl<T, K> Mutex<T, K> {
    pub(crate) fn new(value: T) -> Self {
        Mutex {
            locked: LoomMutex::new(false),
            wake: LoomCondvar::new(),
            kind: PhantomData,
            data: UnsafeCell::new(value),
        }
    }
    pub(crate) fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, K> Mutex<T, K> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, T, K> {
        self.raw_lock();
        MutexGuard { mutex: self }
    }
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T, K>> {
        let mut locked = self.locked.lock().unwrap();
        if *locked {
            return None;
        }
        *locked = true;
        Some(MutexGuard { mutex: self })
    }
    /// # Safety
    /// The caller must hold the lock (as with parking_lot).
    pub(crate) unsafe fn force_unlock(&self) {
        self.raw_unlock();
    }
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
    fn raw_lock(&self) {
        let mut locked = self.locked.lock().unwrap();
        while *locked {
            locked = self.wake.wait(locked).unwrap();
        }
        *locked = true;
    }
    fn raw_unlock(&self) {
        *self.locked.lock().unwrap() = false;
        self.wake.notify_all();
    }
}

/// Guard of the loom-modelled [`Mutex`].
pub struct MutexGuard<'a, T: ?Sized, K = ()> {
    mutex: &'a Mutex<T, K>,
}

impl<T: ?Sized, K> Deref for MutexGuard<'_, T, K> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}
impl<T: ?Sized, K> DerefMut for MutexGuard<'_, T, K> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this thread holds the lock exclusively.
        unsafe { &mut *self.mutex.data.get() }
    }
}
impl<T: ?Sized, K> Drop for MutexGuard<'_, T, K> {
    fn drop(&mut self) {
        self.mutex.raw_unlock();
    }
}

#[derive(Default)]
struct RwState {
    readers: usize,
    writer: bool,
    writers_waiting: usize,
}

/// A task-fair reader-writer lock modelled by loom: `read` waits behind a waiting writer,
/// `read_recursive` only behind a writer that holds the lock (parking_lot's semantics).
pub struct RwLock<T: ?Sized> {
    state: LoomMutex<RwState>,
    wake: LoomCondvar,
    data: UnsafeCell<T>,
}

// SAFETY: like parking_lot::RwLock: `&mut T` to one writer, `&T` to many readers.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above; readers share `&T`, so `T: Sync` is required.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock {
            state: LoomMutex::new(RwState::default()),
            wake: LoomCondvar::new(),
            data: UnsafeCell::new(value),
        }
    }
    pub(crate) fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn shared(&self, behind_waiting_writers: bool) {
        let mut s = self.state.lock().unwrap();
        while s.writer || (behind_waiting_writers && s.writers_waiting > 0) {
            s = self.wake.wait(s).unwrap();
        }
        s.readers += 1;
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.shared(true);
        RwLockReadGuard { lock: self }
    }
    pub(crate) fn read_recursive(&self) -> RwLockReadGuard<'_, T> {
        self.shared(false);
        RwLockReadGuard { lock: self }
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        let mut s = self.state.lock().unwrap();
        s.writers_waiting += 1;
        while s.writer || s.readers > 0 {
            s = self.wake.wait(s).unwrap();
        }
        s.writers_waiting -= 1;
        s.writer = true;
        RwLockWriteGuard { lock: self }
    }
    pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut s = self.state.lock().unwrap();
        if s.writer {
            return None;
        }
        s.readers += 1;
        Some(RwLockReadGuard { lock: self })
    }
    pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut s = self.state.lock().unwrap();
        if s.writer || s.readers > 0 {
            return None;
        }
        s.writer = true;
        Some(RwLockWriteGuard { lock: self })
    }
    /// # Safety
    /// The caller must hold a read lock.
    pub(crate) unsafe fn force_unlock_read(&self) {
        self.unlock_read();
    }
    /// # Safety
    /// The caller must hold the write lock.
    pub(crate) unsafe fn force_unlock_write(&self) {
        self.unlock_write();
    }
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
    fn unlock_read(&self) {
        self.state.lock().unwrap().readers -= 1;
        self.wake.notify_all();
    }
    fn unlock_write(&self) {
        self.state.lock().unwrap().writer = false;
        self.wake.notify_all();
    }
}

/// Shared guard of the loom-modelled [`RwLock`].
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}
/// Exclusive guard of the loom-modelled [`RwLock`].
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard means no writer holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock_read();
    }
}
impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard means this thread holds the lock exclusively.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`.
        unsafe { &mut *self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock_write();
    }
}

/// A condition variable modelled by loom, with parking_lot's `wait(&mut guard)` shape.
///
/// A generation counter under the condvar's own loom mutex makes the wait race-free: the
/// waiter registers before it releases the user's mutex, so a notify in between is not lost.
pub struct Condvar {
    state: LoomMutex<(u64, usize)>,
    wake: LoomCondvar,
}

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar {
            state: LoomMutex::new((0, 0)),
            wake: LoomCondvar::new(),
        }
    }
    pub(crate) fn wait<T: ?Sized, K>(&self, guard: &mut MutexGuard<'_, T, K>) {
        let mut s = self.state.lock().unwrap();
        let generation = s.0;
        s.1 += 1;
        guard.mutex.raw_unlock();
        while s.0 == generation {
            s = self.wake.wait(s).unwrap();
        }
        s.1 -= 1;
        drop(s);
        guard.mutex.raw_lock();
    }
    pub(crate) fn notify_one(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        if s.1 == 0 {
            return false;
        }
        s.0 += 1;
        self.wake.notify_one();
        true
    }
    pub(crate) fn notify_all(&self) -> usize {
        let mut s = self.state.lock().unwrap();
        let waiters = s.1;
        if waiters > 0 {
            s.0 += 1;
            self.wake.notify_all();
        }
        waiters
    }
}
