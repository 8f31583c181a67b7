//! The memory notifier chain: a blocking notifier head whose rwsem lockdep names
//! `(memory_chain).rwsem`.
//!
//! `memory_notify()` read-locks it (`down_read`, a non-recursive reader, so [`RwLock::read`])
//! and calls every block in priority order until one returns a value with the stop bit
//! ([`NotifyResult::Bad`]). Registration write-locks it, except at boot. As in
//! `kernel/notifier.c`, the chain takes its rwsem only while the chain is non-empty.

use crate::rt::{AtomicBool, Ordering};
use crate::Errno;
use lockdep::RwLock;

/// The memory hotplug events (`include/linux/memory.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemAction {
    /// `MEM_ONLINE`
    Online,
    /// `MEM_GOING_OFFLINE`
    GoingOffline,
    /// `MEM_OFFLINE`
    Offline,
    /// `MEM_GOING_ONLINE`
    GoingOnline,
    /// `MEM_CANCEL_ONLINE`
    CancelOnline,
    /// `MEM_CANCEL_OFFLINE`
    CancelOffline,
}

impl MemAction {
    /// The kernel's value: `MEM_ONLINE` = 1 << 0 ... `MEM_CANCEL_OFFLINE` = 1 << 5.
    pub fn bits(self) -> u32 {
        match self {
            MemAction::Online => 1 << 0,
            MemAction::GoingOffline => 1 << 1,
            MemAction::Offline => 1 << 2,
            MemAction::GoingOnline => 1 << 3,
            MemAction::CancelOnline => 1 << 4,
            MemAction::CancelOffline => 1 << 5,
        }
    }

    /// The kernel's name, e.g. `MEM_GOING_OFFLINE`.
    pub fn name(self) -> &'static str {
        match self {
            MemAction::Online => "MEM_ONLINE",
            MemAction::GoingOffline => "MEM_GOING_OFFLINE",
            MemAction::Offline => "MEM_OFFLINE",
            MemAction::GoingOnline => "MEM_GOING_ONLINE",
            MemAction::CancelOnline => "MEM_CANCEL_ONLINE",
            MemAction::CancelOffline => "MEM_CANCEL_OFFLINE",
        }
    }
}

/// What a notifier callback returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyResult {
    /// `NOTIFY_DONE`: not interested.
    Done,
    /// `NOTIFY_OK`
    Ok,
    /// `NOTIFY_BAD` (stop bit set): veto; the chain stops here.
    Bad,
}

impl NotifyResult {
    /// `notifier_to_errno()`: `NOTIFY_BAD` becomes `-EPERM`, anything else success.
    pub fn to_errno(self) -> Result<(), Errno> {
        match self {
            NotifyResult::Bad => Err(Errno::Perm),
            NotifyResult::Done | NotifyResult::Ok => Ok(()),
        }
    }
}

/// Which function a notifier block calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// `ksm_memory_callback`, registered at boot with priority 100.
    Ksm,
    /// The cpuset notifier, priority 10 (see [`other_notifiers`](crate::other_notifiers)).
    Cpuset,
    /// slub's notifier, priority 1.
    Slab,
    /// `/proc/kcore`'s notifier, priority 0.
    Kcore,
    /// s390's `sclp_mem_notifier`, priority 0.
    Sclp,
    /// Like `lib/memory-notifier-error-inject`: returns `NOTIFY_BAD` for every action whose
    /// bit is in the mask, `NOTIFY_OK` otherwise.
    ErrorInject {
        /// [`MemAction::bits`] of the actions to veto.
        actions: u32,
    },
    /// Returns `NOTIFY_DONE` for everything (a registrant that does nothing here).
    Passive,
}

/// A `struct notifier_block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifierBlock {
    /// A name, to find it again and to print.
    pub name: &'static str,
    /// Higher runs first; equal priorities run in registration order.
    pub priority: i32,
    /// What it does.
    pub callback: Callback,
}

impl NotifierBlock {
    /// KSM's block: `hotplug_memory_notifier(ksm_memory_callback, 100)`.
    pub const KSM: NotifierBlock = NotifierBlock {
        name: "ksm_memory_callback",
        priority: 100,
        callback: Callback::Ksm,
    };

    /// The cpuset notifier: `hotplug_memory_notifier(cpuset_track_online_nodes, 10)`.
    pub const CPUSET: NotifierBlock = NotifierBlock {
        name: "cpuset_track_online_nodes",
        priority: 10,
        callback: Callback::Cpuset,
    };

    /// slub's notifier: `hotplug_memory_notifier(slab_memory_callback, SLAB_CALLBACK_PRI)`,
    /// priority 1.
    pub const SLAB: NotifierBlock = NotifierBlock {
        name: "slab_memory_callback",
        priority: 1,
        callback: Callback::Slab,
    };

    /// `/proc/kcore`'s notifier: `hotplug_memory_notifier(kcore_callback, 0)`.
    pub const KCORE: NotifierBlock = NotifierBlock {
        name: "kcore_callback",
        priority: 0,
        callback: Callback::Kcore,
    };

    /// s390's `sclp_mem_nb`, registered with the default priority 0.
    pub const SCLP: NotifierBlock = NotifierBlock {
        name: "sclp_mem_notifier",
        priority: 0,
        callback: Callback::Sclp,
    };

    /// An error injector that vetoes `actions` (e.g. the error-inject module loaded with
    /// `priority=200`, which then runs before KSM).
    pub fn error_inject(name: &'static str, priority: i32, actions: &[MemAction]) -> Self {
        let actions = actions.iter().fold(0, |mask, a| mask | a.bits());
        NotifierBlock {
            name,
            priority,
            callback: Callback::ErrorInject { actions },
        }
    }

    /// A block that ignores every event.
    pub fn passive(name: &'static str, priority: i32) -> Self {
        NotifierBlock {
            name,
            priority,
            callback: Callback::Passive,
        }
    }
}

/// The blocking notifier head `memory_chain`.
pub struct NotifierChain {
    rwsem: RwLock<Vec<NotifierBlock>>,
    nonempty: AtomicBool,
}

impl NotifierChain {
    /// The chain with `boot` linked in, as registrations during `SYSTEM_BOOTING` are: without
    /// taking the rwsem. One construction site, so one lockdep class for the rwsem.
    pub fn new(boot: &[NotifierBlock]) -> NotifierChain {
        let mut blocks = Vec::new();
        for nb in boot {
            insert_by_priority(&mut blocks, *nb);
        }
        NotifierChain {
            nonempty: AtomicBool::new(!blocks.is_empty()),
            rwsem: RwLock::named("(memory_chain).rwsem", blocks),
        }
    }

    /// `blocking_notifier_chain_register()` after boot: `down_write`, link by priority.
    pub fn register(&self, nb: NotifierBlock) {
        let mut blocks = self.rwsem.write();
        insert_by_priority(&mut blocks, nb);
        self.nonempty.store(true, Ordering::Release);
    }

    /// `blocking_notifier_chain_unregister()`: `down_write`, unlink the first block called
    /// `name`. False if there was none.
    pub fn unregister(&self, name: &str) -> bool {
        let mut blocks = self.rwsem.write();
        let Some(at) = blocks.iter().position(|nb| nb.name == name) else {
            return false;
        };
        blocks.remove(at);
        self.nonempty.store(!blocks.is_empty(), Ordering::Release);
        true
    }

    /// `__blocking_notifier_call_chain()`: if the chain is non-empty, `down_read`, call each
    /// block in order until one returns [`NotifyResult::Bad`], `up_read`. Returns the last
    /// value returned ([`NotifyResult::Done`] for an empty chain).
    #[track_caller]
    pub fn call_chain(&self, mut call: impl FnMut(&NotifierBlock) -> NotifyResult) -> NotifyResult {
        if !self.nonempty.load(Ordering::Acquire) {
            return NotifyResult::Done;
        }
        let blocks = self.rwsem.read();
        let mut ret = NotifyResult::Done;
        for nb in blocks.iter() {
            ret = call(nb);
            if ret == NotifyResult::Bad {
                break;
            }
        }
        ret
    }

    /// The registered blocks' names and priorities, in calling order (takes the rwsem for
    /// read).
    pub fn blocks(&self) -> Vec<(&'static str, i32)> {
        self.rwsem
            .read()
            .iter()
            .map(|nb| (nb.name, nb.priority))
            .collect()
    }
}

/// Higher priority first; a new block goes after existing blocks of equal priority.
fn insert_by_priority(blocks: &mut Vec<NotifierBlock>, nb: NotifierBlock) {
    let at = blocks
        .iter()
        .position(|old| old.priority < nb.priority)
        .unwrap_or(blocks.len());
    blocks.insert(at, nb);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn priority_order_ties_after_existing() {
        let chain = NotifierChain::new(&[NotifierBlock::KSM, NotifierBlock::passive("slab", 1)]);
        chain.register(NotifierBlock::passive("late100", 100));
        chain.register(NotifierBlock::passive("inject", 200));
        chain.register(NotifierBlock::passive("node", 0));
        let names: Vec<_> = chain.blocks().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["inject", "ksm_memory_callback", "late100", "slab", "node"]
        );
        assert!(chain.unregister("late100"));
        assert!(!chain.unregister("late100"));
    }

    #[test]
    fn veto_stops_the_chain() {
        let chain = NotifierChain::new(&[NotifierBlock::KSM]);
        chain.register(NotifierBlock::error_inject(
            "inject",
            200,
            &[MemAction::GoingOffline],
        ));
        let mut called = Vec::new();
        let ret = chain.call_chain(|nb| {
            called.push(nb.name);
            match nb.callback {
                Callback::ErrorInject { actions }
                    if actions & MemAction::GoingOffline.bits() != 0 =>
                {
                    NotifyResult::Bad
                }
                _ => NotifyResult::Ok,
            }
        });
        assert_eq!(ret, NotifyResult::Bad);
        assert_eq!(ret.to_errno(), Err(Errno::Perm));
        assert_eq!(called, ["inject"]);
    }

    #[test]
    fn empty_chain_returns_done() {
        let chain = NotifierChain::new(&[]);
        assert_eq!(chain.call_chain(|_| NotifyResult::Bad), NotifyResult::Done);
    }
}
