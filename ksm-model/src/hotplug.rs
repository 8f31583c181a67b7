//! Memory hotplug: memory blocks with their `&mem->state_mutex`, the hotplug locks of each
//! release, and `offline_pages` / `online_pages` with their notifications.
//!
//! Offlining block N is `echo offline > /sys/devices/system/memory/memoryN/state`:
//! `sysfs_write_file` (`&buffer->mutex`, `s_active#N`) → `memory_block_change_state`
//! (`&mem->state_mutex`) → the offline proper, under the release's hotplug locks:
//!
//! - 2.6.33–2.6.36: `remove_memory()` → `offline_pages()` under `lock_system_sleep()`, which
//!   takes `pm_mutex` only with `CONFIG_HIBERNATION`; onlining takes nothing;
//! - 2.6.37 on: `lock_memory_hotplug()`, `mem_hotplug_mutex` then `lock_system_sleep()`'s
//!   `pm_mutex`, around every offline and online.
//!
//! Inside: (3.9) the last-normal-memory check, isolate, `MEM_GOING_OFFLINE`, migrate, then
//! exactly one of `MEM_OFFLINE` or `MEM_CANCEL_OFFLINE` (the latter before the isolation is
//! undone).

use crate::frames::Pfn;
use crate::notifier::{Callback, MemAction, NotifierBlock, NotifierChain, NotifyResult};
use crate::rt::{AtomicUsize, Ordering};
use crate::sysfs::SysfsAttr;
use crate::{Config, Era, Errno, Kernel, Point, Release};
use lockdep::{Mutex, MutexGuard, RwLock};
use std::cell::Cell;
use std::ops::Range;

/// A memory block's state (`mem->state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockState {
    /// `MEM_ONLINE`
    Online,
    /// `MEM_GOING_OFFLINE`, while an offline is in progress.
    GoingOffline,
    /// `MEM_OFFLINE`
    Offline,
}

/// The zone a memory block's pages belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Zone {
    /// `ZONE_NORMAL`: kernel allocations may land here.
    Normal,
    /// `ZONE_MOVABLE` (`movablecore=` / `kernelcore=`): only movable pages.
    Movable,
}

/// How page migration goes in `offline_pages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Migration {
    /// Every page moves out (if there is room elsewhere).
    Succeed,
    /// A page stays pinned: after its retries `offline_pages` gives up with `-EBUSY` and
    /// sends `MEM_CANCEL_OFFLINE`.
    Fail,
}

/// The argument of every memory notification (`struct memory_notify`).
#[derive(Debug)]
pub struct MemoryNotify {
    /// The block being onlined or offlined.
    pub block: usize,
    /// Its first pfn.
    pub start_pfn: Pfn,
    /// Its size in pages.
    pub nr_pages: usize,
    /// `status_change_nid`: the node (the model has one, node 0) if it gains its first or
    /// loses its last present memory with this block.
    pub status_change_nid: Option<usize>,
    /// The model's own note of whether this offline's `MEM_GOING_OFFLINE` callback took
    /// `ksm_thread_mutex` (pre-fix designs). The kernel keeps no such record, which is the
    /// veto bug: its `MEM_CANCEL_OFFLINE` unlocks either way, and so does the model's. The
    /// note only lets the model name that unlock a [`Violation::UnbalancedUnlock`].
    ///
    /// [`Violation::UnbalancedUnlock`]: crate::Violation::UnbalancedUnlock
    pub(crate) ksm_mutex_taken: Cell<bool>,
}

impl MemoryNotify {
    /// The pfns of the block.
    pub fn pfns(&self) -> Range<Pfn> {
        self.start_pfn..self.start_pfn + self.nr_pages
    }
}

/// One memory block (`struct memory_block`).
pub(crate) struct MemoryBlock {
    start_pfn: Pfn,
    nr_pages: usize,
    zone: Zone,
    state_mutex: Mutex<BlockState>,
    state_attr: SysfsAttr,
}

/// The `s_active` map of the memory blocks' `state` attribute (one attribute for all blocks,
/// so one class), as `release` numbers it.
fn state_s_active(release: Release) -> RwLock<()> {
    match release {
        Release::V2_6_36 => RwLock::named("s_active#110", ()),
        Release::V2_6_37 | Release::V3_3 | Release::V3_9 => RwLock::named("s_active#53", ()),
    }
}

impl MemoryBlock {
    /// Every block's state mutex is made here: one class, `&mem->state_mutex`, an instance
    /// per block. Each is registered with lockdep as the block is built, so lockdep knows the
    /// class has many live instances before any is taken, and never takes the one a cycle was
    /// recorded under for a gate (see [`lockdep::Report::gates`]).
    fn new(index: usize, nr_pages: usize, zone: Zone, release: Release) -> MemoryBlock {
        let block = MemoryBlock {
            start_pfn: index * nr_pages,
            nr_pages,
            zone,
            state_mutex: Mutex::named("&mem->state_mutex", BlockState::Online),
            state_attr: SysfsAttr::new(state_s_active(release)),
        };
        block.state_mutex.register();
        block
    }

    fn pfns(&self) -> Range<Pfn> {
        self.start_pfn..self.start_pfn + self.nr_pages
    }
}

/// The hotplug half of the kernel: the blocks, the hotplug locks and the memory chain.
pub(crate) struct Hotplug {
    mem_hotplug_mutex: Mutex<()>,
    pm_mutex: Mutex<()>,
    blocks: Vec<MemoryBlock>,
    memory_chain: NotifierChain,
    /// Offlines between `MEM_GOING_OFFLINE` and its `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE`.
    in_window: AtomicUsize,
    max_in_window: AtomicUsize,
}

impl Hotplug {
    pub(crate) fn new(era: Era, config: &Config) -> Hotplug {
        let per_block = config.pages_per_block.max(2);
        let first_movable = config.blocks.saturating_sub(config.movable_blocks);
        let mut boot = vec![
            NotifierBlock::KSM,
            NotifierBlock::CPUSET,
            NotifierBlock::SLAB,
            NotifierBlock::KCORE,
        ];
        if config.s390 {
            boot.push(NotifierBlock::SCLP);
        }
        Hotplug {
            mem_hotplug_mutex: Mutex::named("mem_hotplug_mutex", ()),
            pm_mutex: Mutex::named("pm_mutex", ()),
            blocks: (0..config.blocks)
                .map(|i| {
                    let zone = if i >= first_movable {
                        Zone::Movable
                    } else {
                        Zone::Normal
                    };
                    MemoryBlock::new(i, per_block, zone, era.release)
                })
                .collect(),
            memory_chain: NotifierChain::new(&boot),
            in_window: AtomicUsize::new(0),
            max_in_window: AtomicUsize::new(0),
        }
    }
}

/// What the hotplug locking of the release took; dropping it releases them (fields drop in
/// order: `pm_mutex` first, then `mem_hotplug_mutex`).
struct HotplugLock<'a> {
    _pm: Option<MutexGuard<'a, ()>>,
    _hotplug: Option<MutexGuard<'a, ()>>,
}

impl Kernel {
    /// `echo offline > /sys/devices/system/memory/memory<block>/state`.
    ///
    /// Errors: `Inval` (no such block, not online, or, from 3.8, the node's last normal
    /// memory while it still has movable memory), `Busy` (migration failed, e.g. no room left:
    /// `MEM_CANCEL_OFFLINE` was sent), `Perm` (a notifier vetoed `MEM_GOING_OFFLINE`:
    /// `MEM_CANCEL_OFFLINE` was sent to every notifier).
    pub fn offline_pages(&self, block: usize, migration: Migration) -> Result<(), Errno> {
        self.offline_pages_with(block, migration, &mut |_| {})
    }

    /// [`offline_pages`](Self::offline_pages), calling `hook` at
    /// [`Point::OfflineMigrating`] and, if the offline fails, [`Point::OfflineCancelled`].
    pub fn offline_pages_with(
        &self,
        block: usize,
        migration: Migration,
        hook: &mut dyn FnMut(Point),
    ) -> Result<(), Errno> {
        let mem = self.hotplug.blocks.get(block).ok_or(Errno::Inval)?;
        mem.state_attr.store(|| {
            let mut state = mem.state_mutex.lock();
            if *state != BlockState::Online {
                return Err(Errno::Inval);
            }
            *state = BlockState::GoingOffline;
            let ret = self.offline_range(block, mem, migration, hook);
            *state = if ret.is_ok() {
                BlockState::Offline
            } else {
                BlockState::Online
            };
            ret
        })
    }

    /// `__offline_pages()` (`offline_pages()` before 2.6.37).
    fn offline_range(
        &self,
        block: usize,
        mem: &MemoryBlock,
        migration: Migration,
        hook: &mut dyn FnMut(Point),
    ) -> Result<(), Errno> {
        let _hotplug = self.lock_memory_hotplug();
        let range = mem.pfns();
        let node_present = self.memmap().present_pages();
        if self.release().checks_last_normal_memory()
            && mem.zone == Zone::Normal
            && !self.can_offline_normal(mem.nr_pages)
        {
            return Err(Errno::Inval);
        }
        let arg = MemoryNotify {
            block,
            start_pfn: mem.start_pfn,
            nr_pages: mem.nr_pages,
            status_change_nid: (mem.nr_pages >= node_present).then_some(0),
            ksm_mutex_taken: Cell::new(false),
        };
        self.memmap().isolate(range.clone());
        let overlap = self.hotplug.in_window.fetch_add(1, Ordering::Relaxed) + 1;
        self.hotplug
            .max_in_window
            .fetch_max(overlap, Ordering::Relaxed);
        let ret = self
            .memory_notify(MemAction::GoingOffline, &arg)
            .to_errno()
            .and_then(|()| {
                self.memmap().start_offlining(&range);
                hook(Point::OfflineMigrating { block });
                match migration {
                    Migration::Fail => Err(Errno::Busy),
                    Migration::Succeed if self.memmap().migrate_out(&range) => Ok(()),
                    Migration::Succeed => Err(Errno::Busy),
                }
            });
        let ret = match ret {
            Ok(()) => {
                self.memmap().finish_offline(&range);
                self.memory_notify(MemAction::Offline, &arg);
                Ok(())
            }
            Err(err) => {
                // failed_removal: the pages never left. Every notifier hears
                // MEM_CANCEL_OFFLINE, then the isolation is undone.
                self.memmap().abort_offlining(&range);
                self.memory_notify(MemAction::CancelOffline, &arg);
                hook(Point::OfflineCancelled { block });
                self.memmap().unisolate(&range);
                Err(err)
            }
        };
        self.hotplug.in_window.fetch_sub(1, Ordering::Relaxed);
        ret
    }

    /// `can_offline_normal()` (3.8, without `CONFIG_MOVABLE_NODE`), for a normal block of
    /// `nr_pages` on the model's one node: yes if the node has other normal memory present,
    /// or no movable memory present (then the node may lose all its memory).
    fn can_offline_normal(&self, nr_pages: usize) -> bool {
        let mm = self.memmap();
        let present = |zone| -> usize {
            self.hotplug
                .blocks
                .iter()
                .filter(|b| b.zone == zone)
                .map(|b| mm.present_in(b.pfns()))
                .sum()
        };
        present(Zone::Normal) > nr_pages || present(Zone::Movable) == 0
    }

    /// The most offlines that were ever between `MEM_GOING_OFFLINE` and their end at once.
    /// `mem_hotplug_mutex` (or `pm_mutex`) keeps it at 1; 2.6.33–2.6.36 without
    /// `CONFIG_HIBERNATION` does not.
    pub fn max_concurrent_offlines(&self) -> usize {
        self.hotplug.max_in_window.load(Ordering::Relaxed)
    }

    /// `echo online > /sys/devices/system/memory/memory<block>/state` (`online_pages()`).
    /// Errors: `Inval` (no such block, or not offline), `Perm` (a notifier vetoed
    /// `MEM_GOING_ONLINE`; `MEM_CANCEL_ONLINE` was sent).
    pub fn online_pages(&self, block: usize) -> Result<(), Errno> {
        let mem = self.hotplug.blocks.get(block).ok_or(Errno::Inval)?;
        mem.state_attr.store(|| {
            let mut state = mem.state_mutex.lock();
            if *state != BlockState::Offline {
                return Err(Errno::Inval);
            }
            let _hotplug = self
                .release()
                .online_takes_hotplug_locks()
                .then(|| self.lock_memory_hotplug());
            let node_present = self.memmap().present_pages();
            let arg = MemoryNotify {
                block,
                start_pfn: mem.start_pfn,
                nr_pages: mem.nr_pages,
                status_change_nid: (node_present == 0).then_some(0),
                ksm_mutex_taken: Cell::new(false),
            };
            if let Err(err) = self.memory_notify(MemAction::GoingOnline, &arg).to_errno() {
                self.memory_notify(MemAction::CancelOnline, &arg);
                return Err(err);
            }
            self.memmap().online(&arg.pfns());
            self.memory_notify(MemAction::Online, &arg);
            *state = BlockState::Online;
            Ok(())
        })
    }

    /// `register_memory_notifier()` (after boot: takes `(memory_chain).rwsem` for write).
    pub fn register_memory_notifier(&self, nb: NotifierBlock) {
        self.hotplug.memory_chain.register(nb);
    }

    /// `unregister_memory_notifier()` by name. False if none was registered under it.
    pub fn unregister_memory_notifier(&self, name: &str) -> bool {
        self.hotplug.memory_chain.unregister(name)
    }

    /// The memory chain's blocks (name, priority) in calling order.
    pub fn memory_notifiers(&self) -> Vec<(&'static str, i32)> {
        self.hotplug.memory_chain.blocks()
    }

    /// How many memory blocks there are.
    pub fn blocks(&self) -> usize {
        self.hotplug.blocks.len()
    }

    /// The pfns of a block.
    pub fn block_pfns(&self, block: usize) -> Range<Pfn> {
        self.hotplug.blocks[block].pfns()
    }

    /// The zone of a block: the last [`Config::movable_blocks`] blocks are movable.
    pub fn block_zone(&self, block: usize) -> Zone {
        self.hotplug.blocks[block].zone
    }

    /// A block's state (`cat .../memory<block>/state`; takes its state mutex).
    pub fn block_state(&self, block: usize) -> BlockState {
        *self.hotplug.blocks[block].state_mutex.lock()
    }

    /// The release's hotplug locking: `lock_memory_hotplug()` from 2.6.37
    /// (`mem_hotplug_mutex`, then `lock_system_sleep()`), `lock_system_sleep()` alone before;
    /// `lock_system_sleep()` takes `pm_mutex` only with `CONFIG_HIBERNATION` /
    /// `CONFIG_PM_SLEEP`.
    fn lock_memory_hotplug(&self) -> HotplugLock<'_> {
        let era = self.era();
        let hotplug = era
            .takes_mem_hotplug_mutex()
            .then(|| self.hotplug.mem_hotplug_mutex.lock());
        let pm = era.takes_pm_mutex().then(|| self.hotplug.pm_mutex.lock());
        HotplugLock {
            _pm: pm,
            _hotplug: hotplug,
        }
    }

    /// `memory_notify()`: `blocking_notifier_call_chain(&memory_chain, action, arg)`.
    fn memory_notify(&self, action: MemAction, arg: &MemoryNotify) -> NotifyResult {
        self.hotplug
            .memory_chain
            .call_chain(|nb| match nb.callback {
                Callback::Ksm => self.ksm_memory_callback(action, arg),
                Callback::Cpuset => self.cpuset_track_online_nodes(action),
                Callback::Slab => self.slab_memory_callback(action, arg),
                Callback::Kcore => self.kcore_callback(action),
                Callback::Sclp => self.sclp_mem_notifier(),
                Callback::ErrorInject { actions } if actions & action.bits() != 0 => {
                    NotifyResult::Bad
                }
                Callback::ErrorInject { .. } => NotifyResult::Ok,
                Callback::Passive => NotifyResult::Done,
            })
    }
}
