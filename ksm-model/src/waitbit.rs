//! `wait_on_bit()` / `wake_up_bit()` for one flag word, built on lockdep's [`Condvar`], so the
//! waits go through locks the validator sees.
//!
//! Kernel shape (v3.9 `kernel/wait.c`): the waiter tests the bit without a lock (fast path),
//! otherwise enqueues itself, sets its task state (a full barrier), re-tests the bit and
//! sleeps; spurious wakeups just loop. The waker clears the bit, issues `smp_mb()` and only
//! then looks, without the queue lock, whether anyone waits (`waitqueue_active()`). The two
//! barriers pair as store-buffering, so no wakeup is lost. Here the barriers are
//! `fence(SeqCst)` around relaxed accesses, which loom models exactly.
//!
//! [`BitWaitQueue::wait_on_bit_unlocked_test`] is the broken waiter of
//! [`Design::LostWakeup`](crate::Design::LostWakeup): it tests the bit outside the queue lock
//! and then sleeps without testing it again, so a clear and wake-up in between are lost.
//!
//! A watchdog (the model's hung-task detector) may [`abort`](BitWaitQueue::abort_waiters)
//! the current waiters, which then return [`WaitOutcome::Aborted`]: that is how examples and
//! tests end a real deadlock instead of hanging.
//!
//! A queue may carry a [`lockdep::Event`] for its bit ([`BitWaitQueue::with_event`]): then
//! every wait that is about to sleep calls [`Event::wait`] first, with the queue lock not yet
//! taken (the kernel drops the wait-queue lock before `schedule()`, so the sleeper holds only
//! what its caller holds). The task that sets the bit arms the event and the one that clears
//! it signals it ([`BitWaitQueue::event`]); lockdep then reports a waiter that sleeps holding
//! a lock its waker takes as a [`CircularWait`](lockdep::ReportKind::CircularWait).

use crate::rt::{fence, AtomicUsize, Ordering};
use lockdep::{Condvar, Event, Mutex};

/// What [`BitWaitQueue::wait_on_bit`] ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The bit was (or became) clear.
    Clear,
    /// A watchdog gave the wait up while the bit was still set.
    Aborted,
}

#[derive(Default)]
struct QueueState {
    waiters: usize,
    aborts: usize,
}

/// A wait queue for one bit of one word (the kernel hashes (word, bit) into a shared table;
/// one queue per word is enough here).
pub struct BitWaitQueue {
    queue: Mutex<QueueState>,
    wake: Condvar,
    active: AtomicUsize,
    event: Option<Event>,
}

impl Default for BitWaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl BitWaitQueue {
    /// A queue with nobody waiting. Its lock is class `bit_wait_table` (one construction site,
    /// so one class for every queue).
    pub fn new() -> BitWaitQueue {
        BitWaitQueue {
            queue: Mutex::named("bit_wait_table", QueueState::default()),
            wake: Condvar::new(),
            active: AtomicUsize::new(0),
            event: None,
        }
    }

    /// A queue whose bit is annotated as `event`: [`wait_on_bit`](Self::wait_on_bit) calls
    /// [`Event::wait`] just before it sleeps. Arming and signalling are the bit owner's
    /// business (see [`event`](Self::event)).
    pub fn with_event(event: Event) -> BitWaitQueue {
        BitWaitQueue {
            event: Some(event),
            ..BitWaitQueue::new()
        }
    }

    /// The event annotating the bit, if any: the task that sets the bit
    /// [`arm`](Event::arm)s it, the one that clears it [`signal`](Event::signal)s it after
    /// the clear.
    pub fn event(&self) -> Option<&Event> {
        self.event.as_ref()
    }

    /// Sleeps until `word & mask` is clear (`wait_on_bit(.., TASK_UNINTERRUPTIBLE)` with an
    /// action that just schedules), or until a watchdog aborts the wait.
    #[track_caller]
    pub fn wait_on_bit(&self, word: &AtomicUsize, mask: usize) -> WaitOutcome {
        if word.load(Ordering::Relaxed) & mask == 0 {
            return WaitOutcome::Clear;
        }
        // About to sleep until the bit's owner clears it: lockdep learns that every lock held
        // here waits for the event (before the queue lock, which the sleeper does not keep).
        if let Some(event) = &self.event {
            event.wait();
        }
        let mut queue = self.queue.lock();
        // prepare_to_wait(): on the queue first, then the full barrier of set_current_state().
        queue.waiters += 1;
        self.active.fetch_add(1, Ordering::Relaxed);
        let aborts_seen = queue.aborts;
        let outcome = loop {
            fence(Ordering::SeqCst);
            if word.load(Ordering::Relaxed) & mask == 0 {
                break WaitOutcome::Clear;
            }
            if queue.aborts != aborts_seen {
                break WaitOutcome::Aborted;
            }
            self.wake.wait(&mut queue);
        };
        // finish_wait()
        queue.waiters -= 1;
        self.active.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    /// Broken on purpose ([`Design::LostWakeup`](crate::Design::LostWakeup)): like
    /// [`wait_on_bit`](Self::wait_on_bit), but the bit is tested only once before the first
    /// sleep, outside the queue lock, and not again after enqueueing. A waker that clears the
    /// bit and calls [`wake_up_bit`](Self::wake_up_bit) between that test and the enqueue sees
    /// no waiter and wakes nobody; the waiter then sleeps on a bit that is already clear, and
    /// nothing will ever wake it (only a watchdog's [`abort`](Self::abort_waiters) ends the
    /// wait). The lost wakeup needs no reordering: it is there in every memory model, so loom
    /// finds it without relying on its handling of fences.
    #[track_caller]
    pub fn wait_on_bit_unlocked_test(&self, word: &AtomicUsize, mask: usize) -> WaitOutcome {
        if word.load(Ordering::Relaxed) & mask == 0 {
            return WaitOutcome::Clear;
        }
        if let Some(event) = &self.event {
            event.wait();
        }
        let mut queue = self.queue.lock();
        queue.waiters += 1;
        self.active.fetch_add(1, Ordering::Relaxed);
        let aborts_seen = queue.aborts;
        let outcome = loop {
            // The bug: straight to sleep, trusting the test made before the queue lock.
            self.wake.wait(&mut queue);
            if word.load(Ordering::Relaxed) & mask == 0 {
                break WaitOutcome::Clear;
            }
            if queue.aborts != aborts_seen {
                break WaitOutcome::Aborted;
            }
        };
        queue.waiters -= 1;
        self.active.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    /// Wakes every waiter, if there is one (`wake_up_bit()`). The caller must have cleared the
    /// bit and then issued `fence(SeqCst)` (the kernel's `smp_mb()`), as the kernel requires.
    pub fn wake_up_bit(&self) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let _queue = self.queue.lock();
        self.wake.notify_all();
    }

    /// How many tasks are asleep on the bit right now.
    pub fn waiters(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Gives up every current wait (they return [`WaitOutcome::Aborted`]); returns how many
    /// there were. The model's hung-task detector uses it to end a real deadlock.
    pub fn abort_waiters(&self) -> usize {
        let mut queue = self.queue.lock();
        queue.aborts += 1;
        self.wake.notify_all();
        queue.waiters
    }
}
