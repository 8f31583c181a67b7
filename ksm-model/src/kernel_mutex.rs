//! A kernel `struct mutex` as a lockdep-enabled kernel of the era has it: a lock word, and a
//! lockdep map that `mutex_lock()` / `mutex_unlock()` annotate. The model uses it for
//! `ksm_thread_mutex`.
//!
//! Why not [`lockdep::Mutex`]: the pre-fix veto bug is a `mutex_unlock()` of a mutex the
//! unlocking task never locked. The kernel's lockdep reports it ("bad unlock balance") and
//! turns itself off, and then the unlock really happens: with `CONFIG_DEBUG_MUTEXES` (which
//! `CONFIG_PROVE_LOCKING` selects) the slow path sets the lock word to "unlocked" and wakes a
//! waiter, whoever holds the mutex. `lockdep::Mutex::force_unlock` refuses such an unlock by
//! contract (it reports and leaves the lock alone, to stay memory-safe). This type replays
//! what the kernel did: the release is annotated on the map (lockdep-rs reports it), then the
//! lock word is cleared regardless, and the next locker gets in even if someone is still
//! inside. It keeps the list of tasks inside its critical section, so that the model can
//! notice two of them at once ([`Entered::intruded_on`]).
//!
//! The two maps are the kernel's one `dep_map` taken with subclass 0 and with subclass 1
//! (`mutex_lock_nested(.., SINGLE_DEPTH_NESTING)`): lockdep keys a class by (key, subclass),
//! so `ksm_thread_mutex/1` is a class of its own, which is exactly what a second map named so
//! is to lockdep-rs.
//!
//! The lock word is modelled with [`PlainMutex`] and [`Condvar`] from [`rt`](crate::rt), so
//! under loom a task waiting for it is a blocked thread loom can see.

use crate::frames::Actor;
use crate::rt::{lock_plain, Condvar, PlainMutex};
use lockdep::LockMap;

/// The lock word, who is inside, and who sleeps on it.
#[derive(Default)]
struct Word {
    locked: bool,
    inside: Vec<Actor>,
    waiting: Vec<Actor>,
}

/// A kernel mutex: a lock word plus its lockdep maps (subclass 0 and 1).
pub(crate) struct KernelMutex {
    dep_map: LockMap,
    nested_dep_map: LockMap,
    word: PlainMutex<Word>,
    released: Condvar,
}

/// What a `mutex_lock()` found on its way in.
#[must_use]
pub(crate) struct Entered {
    /// The task that was still inside the critical section when this one got in: the mutual
    /// exclusion the mutex exists for was broken (by an unlock from a task that did not hold
    /// it).
    pub(crate) intruded_on: Option<Actor>,
}

impl KernelMutex {
    /// A mutex annotated by `dep_map` (subclass 0) and `nested_dep_map` (subclass 1), which
    /// the caller builds at its own site so that the classes are the caller's.
    pub(crate) fn new(dep_map: LockMap, nested_dep_map: LockMap) -> KernelMutex {
        KernelMutex {
            dep_map,
            nested_dep_map,
            word: PlainMutex::new(Word::default()),
            released: Condvar::new(),
        }
    }

    /// `mutex_lock_nested(lock, subclass)` (`mutex_lock` is subclass 0) by `actor`: lockdep
    /// validates the acquisition first, then the task sleeps until the lock word is free.
    #[track_caller]
    pub(crate) fn lock(&self, subclass: u8, actor: Actor) -> Entered {
        match subclass {
            0 => self.dep_map.acquire(),
            _ => self.nested_dep_map.acquire(),
        }
        let mut word = lock_plain(&self.word);
        if word.locked {
            word.waiting.push(actor);
            while word.locked {
                word = self
                    .released
                    .wait(word)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            let at = word.waiting.iter().position(|a| *a == actor);
            word.waiting.remove(at.expect("a waiter is on the list"));
        }
        word.locked = true;
        let intruded_on = word.inside.first().copied();
        word.inside.push(actor);
        Entered { intruded_on }
    }

    /// `mutex_unlock()` by `actor`: lockdep releases the calling task's hold (reporting
    /// `BadUnlockBalance` if it has none), then the lock word is cleared and one sleeper woken,
    /// whether or not `actor` held the mutex. If it did, it leaves the critical section.
    #[track_caller]
    pub(crate) fn unlock(&self, actor: Actor) {
        if self.nested_dep_map.is_held() {
            self.nested_dep_map.release();
        } else {
            self.dep_map.release();
        }
        let mut word = lock_plain(&self.word);
        word.locked = false;
        if let Some(at) = word.inside.iter().position(|a| *a == actor) {
            word.inside.remove(at);
        }
        drop(word);
        self.released.notify_one();
    }

    /// The tasks inside the critical section right now, in the order they got in.
    pub(crate) fn inside(&self) -> Vec<Actor> {
        lock_plain(&self.word).inside.clone()
    }

    /// The tasks asleep waiting for the lock word, in the order they came.
    pub(crate) fn waiting(&self) -> Vec<Actor> {
        lock_plain(&self.word).waiting.clone()
    }
}

/// A held [`KernelMutex`]: unlocks (as its actor) when dropped.
pub(crate) struct KernelMutexGuard<'a> {
    mutex: &'a KernelMutex,
    actor: Actor,
}

impl<'a> KernelMutexGuard<'a> {
    /// Wraps a lock `actor` just took.
    pub(crate) fn new(mutex: &'a KernelMutex, actor: Actor) -> Self {
        KernelMutexGuard { mutex, actor }
    }

    /// Keeps the mutex locked past this guard (the pre-fix `MEM_GOING_OFFLINE`): someone will
    /// call [`KernelMutex::unlock`] later.
    pub(crate) fn keep_locked(self) {
        std::mem::forget(self);
    }
}

impl Drop for KernelMutexGuard<'_> {
    fn drop(&mut self) {
        self.mutex.unlock(self.actor);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use lockdep::ReportKind;

    fn mutex() -> KernelMutex {
        KernelMutex::new(LockMap::new("test_mutex"), LockMap::new("test_mutex/1"))
    }

    #[test]
    fn lock_and_unlock_by_the_holder() {
        let m = mutex();
        let ((), reports) = lockdep::capture(|| {
            let entered = m.lock(1, Actor::Ksmd);
            assert_eq!(entered.intruded_on, None);
            assert_eq!(m.inside(), [Actor::Ksmd]);
            m.unlock(Actor::Ksmd);
        });
        assert!(reports.is_empty(), "{reports:?}");
        assert!(m.inside().is_empty());
    }

    /// The veto bug in miniature: another task's unlock frees the word under the holder, so
    /// the next locker gets in beside it; lockdep reports the bad unlock.
    #[test]
    fn an_unlock_by_a_non_holder_lets_a_second_task_in() {
        use std::sync::{mpsc, Arc};
        let m = Arc::new(mutex());
        let (inside_tx, inside_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let holder = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                lockdep::capture(|| {
                    let _ = m.lock(0, Actor::Ksmd);
                    inside_tx.send(()).unwrap();
                    leave_rx.recv().unwrap();
                    m.unlock(Actor::Ksmd);
                })
                .1
            })
        };
        inside_rx.recv().unwrap();
        let (entered, reports) = lockdep::capture(|| {
            m.unlock(Actor::MemoryCallback);
            m.lock(0, Actor::RunStore)
        });
        assert_eq!(entered.intruded_on, Some(Actor::Ksmd));
        assert_eq!(m.inside(), [Actor::Ksmd, Actor::RunStore]);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].kind(), ReportKind::BadUnlockBalance);
        assert_eq!(reports[0].class_names(), ["test_mutex"]);
        let ((), reports) = lockdep::capture(|| m.unlock(Actor::RunStore));
        assert!(reports.is_empty(), "{reports:?}");
        leave_tx.send(()).unwrap();
        let reports = holder.join().unwrap();
        assert!(reports.is_empty(), "{reports:?}");
        assert!(m.inside().is_empty());
    }
}
