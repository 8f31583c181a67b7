//! Memory hotplug: memory blocks with their `&mem->state_mutex`, the sysfs store path,
//! `lock_memory_hotplug()`, and `offline_pages` / `online_pages` with their notifications.
//!
//! Offlining block N is `echo offline > /sys/devices/system/memory/memoryN/state`:
//! `sysfs_write_file` (`&buffer->mutex`, `s_active`) → `memory_block_change_state`
//! (`&mem->state_mutex`) → `__offline_pages`: `lock_memory_hotplug()` (`mem_hotplug_mutex`,
//! `pm_mutex`), isolate, `MEM_GOING_OFFLINE`, migrate, then exactly one of `MEM_OFFLINE` or
//! `MEM_CANCEL_OFFLINE`, all under the same hotplug lock.

use crate::frames::Pfn;
use crate::notifier::{Callback, MemAction, NotifierBlock, NotifierChain, NotifyResult};
use crate::rt::{AtomicUsize, Ordering};
use crate::{Config, Errno, Kernel, Point};
use lockdep::{LockMap, Mutex, MutexGuard};
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
    /// Model bookkeeping for the pre-fix designs: whether this offline's `MEM_GOING_OFFLINE`
    /// callback really took `ksm_thread_mutex`. The kernel keeps no such record, which is the
    /// veto bug; the model uses it to stay memory-safe when it replays that bug.
    pub(crate) ksm_mutex_taken: Cell<bool>,
}

impl MemoryNotify {
    /// The pfns of the block.
    pub fn pfns(&self) -> Range<Pfn> {
        self.start_pfn..self.start_pfn + self.nr_pages
    }
}

/// A sysfs attribute's write path: the open file's `&buffer->mutex`, then the attribute's
/// `s_active` (a lockdep map taken for read while the store method runs).
pub(crate) struct SysfsAttr {
    buffer: Mutex<()>,
    s_active: LockMap,
}

/// Every sysfs buffer mutex is made here, so they share one class, as in the kernel.
fn buffer_mutex() -> Mutex<()> {
    Mutex::named("&buffer->mutex", ())
}

impl SysfsAttr {
    /// The `s_active` class is the caller's site: one class per attribute. The buffer mutex
    /// is registered with lockdep at once: there is one per attribute (per open file in the
    /// kernel), so its class must never pass for a single lock (a gate, see
    /// [`lockdep::Report::gates`]) just because only one of them has been written to yet.
    #[track_caller]
    pub(crate) fn new() -> SysfsAttr {
        let attr = SysfsAttr {
            buffer: buffer_mutex(),
            s_active: LockMap::new("s_active"),
        };
        attr.buffer.register();
        attr
    }

    /// `sysfs_write_file`: runs the attribute's store method under both.
    pub(crate) fn store<R>(&self, store: impl FnOnce() -> R) -> R {
        let _buffer = self.buffer.lock();
        self.s_active.acquire_read();
        let ret = store();
        self.s_active.release();
        ret
    }
}

/// One memory block (`struct memory_block`).
pub(crate) struct MemoryBlock {
    start_pfn: Pfn,
    nr_pages: usize,
    state_mutex: Mutex<BlockState>,
    state_attr: SysfsAttr,
}

impl MemoryBlock {
    /// Every block's state mutex is made here: one class, `&mem->state_mutex`, an instance
    /// per block. Each is registered with lockdep as the block is built, so lockdep knows the
    /// class has many live instances before any is taken, and never takes the one a cycle was
    /// recorded under for a gate (see [`lockdep::Report::gates`]).
    fn new(index: usize, nr_pages: usize) -> MemoryBlock {
        let block = MemoryBlock {
            start_pfn: index * nr_pages,
            nr_pages,
            state_mutex: Mutex::named("&mem->state_mutex", BlockState::Online),
            state_attr: SysfsAttr::new(),
        };
        block.state_mutex.register();
        block
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
    pub(crate) fn new(config: &Config) -> Hotplug {
        let per_block = config.pages_per_block.max(2);
        Hotplug {
            mem_hotplug_mutex: Mutex::named("mem_hotplug_mutex", ()),
            pm_mutex: Mutex::named("pm_mutex", ()),
            blocks: (0..config.blocks)
                .map(|i| MemoryBlock::new(i, per_block))
                .collect(),
            memory_chain: NotifierChain::new(&[NotifierBlock::KSM]),
            in_window: AtomicUsize::new(0),
            max_in_window: AtomicUsize::new(0),
        }
    }
}

/// What `lock_memory_hotplug()` took; dropping it is `unlock_memory_hotplug()` (fields drop in
/// order: `pm_mutex` first, then `mem_hotplug_mutex`).
struct HotplugLock<'a> {
    _pm: Option<MutexGuard<'a, ()>>,
    _hotplug: Option<MutexGuard<'a, ()>>,
}

impl Kernel {
    /// `echo offline > /sys/devices/system/memory/memory<block>/state`.
    ///
    /// Errors: `Inval` (no such block, or not online), `Busy` (last memory, or migration
    /// failed: then `MEM_CANCEL_OFFLINE` was sent), `Perm` (a notifier vetoed
    /// `MEM_GOING_OFFLINE`: `MEM_CANCEL_OFFLINE` was sent to every notifier).
    pub fn offline_pages(&self, block: usize, migration: Migration) -> Result<(), Errno> {
        self.offline_pages_with(block, migration, &mut |_| {})
    }

    /// [`offline_pages`](Self::offline_pages), calling `hook` at
    /// [`Point::OfflineMigrating`].
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

    /// `__offline_pages()`.
    fn offline_range(
        &self,
        block: usize,
        mem: &MemoryBlock,
        migration: Migration,
        hook: &mut dyn FnMut(Point),
    ) -> Result<(), Errno> {
        let arg = MemoryNotify {
            block,
            start_pfn: mem.start_pfn,
            nr_pages: mem.nr_pages,
            ksm_mutex_taken: Cell::new(false),
        };
        let range = arg.pfns();
        let _hotplug = self.lock_memory_hotplug();
        {
            let mut mm = self.memmap();
            if !mm.present_outside(&range) {
                return Err(Errno::Busy);
            }
            mm.isolate(range.clone());
        }
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
                // The pages never left: the range is usable again before anyone is told.
                self.memmap().cancel_offline(&range);
                self.memory_notify(MemAction::CancelOffline, &arg);
                Err(err)
            }
        };
        self.hotplug.in_window.fetch_sub(1, Ordering::Relaxed);
        ret
    }

    /// The most offlines that were ever between `MEM_GOING_OFFLINE` and their end at once.
    /// `mem_hotplug_mutex` keeps it at 1; [`Design::NoHotplugMutex`](crate::Design) does not.
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
            let arg = MemoryNotify {
                block,
                start_pfn: mem.start_pfn,
                nr_pages: mem.nr_pages,
                ksm_mutex_taken: Cell::new(false),
            };
            let _hotplug = self.lock_memory_hotplug();
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
        let mem = &self.hotplug.blocks[block];
        mem.start_pfn..mem.start_pfn + mem.nr_pages
    }

    /// A block's state (`cat .../memory<block>/state`; takes its state mutex).
    pub fn block_state(&self, block: usize) -> BlockState {
        *self.hotplug.blocks[block].state_mutex.lock()
    }

    /// `lock_memory_hotplug()`: `mem_hotplug_mutex`, then `lock_system_sleep()`'s `pm_mutex`.
    /// [`Design::NoHotplugMutex`](crate::Design::NoHotplugMutex) takes neither.
    fn lock_memory_hotplug(&self) -> HotplugLock<'_> {
        if !self.design().takes_hotplug_mutex() {
            return HotplugLock {
                _pm: None,
                _hotplug: None,
            };
        }
        let hotplug = self.hotplug.mem_hotplug_mutex.lock();
        let pm = self.hotplug.pm_mutex.lock();
        HotplugLock {
            _pm: Some(pm),
            _hotplug: Some(hotplug),
        }
    }

    /// `memory_notify()`: `blocking_notifier_call_chain(&memory_chain, action, arg)`.
    fn memory_notify(&self, action: MemAction, arg: &MemoryNotify) -> NotifyResult {
        self.hotplug
            .memory_chain
            .call_chain(|nb| match nb.callback {
                Callback::Ksm => self.ksm_memory_callback(action, arg),
                Callback::ErrorInject { actions } if actions & action.bits() != 0 => {
                    NotifyResult::Bad
                }
                Callback::ErrorInject { .. } => NotifyResult::Ok,
                Callback::Passive => NotifyResult::Done,
            })
    }
}
