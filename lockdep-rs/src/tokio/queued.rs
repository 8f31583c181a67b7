//! The async acquisitions now queued for their lock, per holder (`cfg(lockdep_tasks)`).
//!
//! An awaited acquisition is validated before it waits but holds nothing while queued (see
//! `watch.rs`). One thing still needs to know it is there: a *blocking* acquisition of the
//! same lock by the same holder (`blocking_lock` in a future polled by a plain `block_on`,
//! while a sibling branch is queued). tokio hands a released lock to the first waiter, that
//! sibling, which cannot run while the thread blocks: a certain deadlock, reported and
//! stopped instead of hanging (`watch::lock_blocking`). Only contended acquisitions enter
//! here, so the list is short and a lock around it costs nothing on the fast paths.

use std::panic::Location;

use crate::held_lock::Instance;
use crate::read::Read;
use crate::sync::internal::Mutex;

/// Who a queued acquisition belongs to: the task, or outside tasks the thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    Task(tokio::task::Id),
    /// The thread's own stack's uid (`std::thread::current()` may panic in a thread-local
    /// destructor).
    Thread(u64),
}

fn holder() -> Holder {
    match crate::holder::current_task() {
        Some(id) => Holder::Task(id),
        None => Holder::Thread(crate::validator::holder::own_uid()),
    }
}

struct Queued {
    id: u64,
    holder: Holder,
    instance: Instance,
    read: Read,
    site: &'static Location<'static>,
}

#[derive(Default)]
struct List {
    next: u64,
    queued: Vec<Queued>,
}

static QUEUED: Mutex<List> = Mutex::new();

/// The calling holder's acquisition of `instance` in mode `read` at `site` is queued until
/// the returned value is dropped (the lock came, or the wait was cancelled).
pub(super) fn enter(instance: Instance, read: Read, site: &'static Location<'static>) -> Entered {
    // Asked before taking the list's lock: the thread's state is out of reach inside
    // lockdep's own synchronisation.
    let holder = holder();
    let mut list = QUEUED.lock();
    list.next += 1;
    let id = list.next;
    list.queued.push(Queued {
        id,
        holder,
        instance,
        read,
        site,
    });
    Entered { id, holder }
}

/// A queued acquisition, listed until dropped.
pub(super) struct Entered {
    id: u64,
    /// Whose it is, as last polled.
    holder: Holder,
}

impl Entered {
    /// The queued acquisition is polled: it belongs to whoever polls it now. A future polled
    /// outside tokio tasks may move between threads while it waits (another executor's
    /// task, a future handed over), and a task's is the task's wherever it runs.
    pub(super) fn polled(&mut self) {
        let now = holder();
        if now != self.holder {
            self.holder = now;
            if let Some(q) = QUEUED.lock().queued.iter_mut().find(|q| q.id == self.id) {
                q.holder = now;
            }
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        QUEUED.lock().queued.retain(|q| q.id != self.id);
    }
}

/// An acquisition of `instance` by the calling holder, queued in a mode that conflicts with
/// `read` (one of them exclusive): its mode and site.
pub(super) fn ahead(instance: Instance, read: Read) -> Option<(Read, &'static Location<'static>)> {
    let me = holder();
    QUEUED
        .lock()
        .queued
        .iter()
        .find(|q| {
            q.holder == me
                && q.instance == instance
                && (q.read == Read::Exclusive || read == Read::Exclusive)
        })
        .map(|q| (q.read, q.site))
}
