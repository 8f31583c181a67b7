//! # ksm-model: the KSM memory hot-remove episode (2.6.33 to 3.9), on lockdep's locks
//!
//! A small, executable model of Linux memory hot-remove and KSM, built on the `lockdep`
//! crate's [`Mutex`](lockdep::Mutex), [`RwLock`](lockdep::RwLock), [`Condvar`](lockdep::Condvar)
//! and [`LockMap`](lockdep::LockMap), with the kernel's lock names, in each kernel of the
//! episode ([`Era::HISTORY`]): the plain `mutex_lock(&ksm_thread_mutex)` in
//! `ksm_memory_callback` of 2.6.33–2.6.36, a real deadlock without `CONFIG_HIBERNATION` and a
//! false positive with it; 2.6.37's `mem_hotplug_mutex` with the `mutex_lock_nested`
//! annotation, which did not silence the report; 3.3, where the 2012 report came from; and Hugh
//! Dickins' fix (ef4d43a8, 3.9-rc1), silent. Broken variants show what the lockout protects
//! against, and [`kernel_log`] prints each run's reports as that era's lockdep printed them.
//!
//! One [`Kernel`] holds all the state of one run: memory blocks ([`hotplug`]), the memory
//! notifier chain ([`notifier`]) with the era's other notifiers ([`other_notifiers`]), KSM
//! ([`ksm`]), the merging process ([`mm`]) and the page frames ([`frames`]), for one [`Era`].
//! Actors are step-wise methods that tests (and loom) run on their own threads:
//! [`Kernel::ksmd_scan_step`], [`Kernel::run_store`], [`Kernel::merge_across_nodes_store`],
//! [`Kernel::offline_pages`], [`Kernel::online_pages`],
//! [`Kernel::register_memory_notifier`]. Nothing loops forever.
//!
//! Lock classes are fixed by construction site, so every `Kernel` in a process shares them (as
//! a kernel's static locks would): capture reports per run with [`lockdep::capture`]. The
//! exceptions are `ksm_thread_mutex`, whose class is per kernel build (each [`Era`] of the
//! pre-fix designs, each [`Design`] of the fix), so runs of different builds in one process
//! can't combine into a cycle, and the locks whose name changed between releases (one class
//! per name).
//!
//! ```
//! use ksm_model::{Config, Design, Kernel, Migration, KSM_RUN_MERGE};
//!
//! let kernel = Kernel::new(Design::RunOffline, Config::default());
//! let (result, reports) = lockdep::capture(|| {
//!     kernel.run_store(KSM_RUN_MERGE)?;
//!     kernel.ksmd_scan_step();
//!     kernel.offline_pages(1, Migration::Succeed)?;
//!     kernel.ksmd_scan_step();
//!     Ok::<(), ksm_model::Errno>(())
//! });
//! assert_eq!(result, Ok(()));
//! assert!(reports.is_empty());
//! assert!(kernel.violations().is_empty());
//! ```
//!
//! A design on another kernel is [`Kernel::boot`] with an [`Era`]; 3.3 prints the 2012 report:
//!
//! ```
//! use ksm_model::{Config, Era, Kernel, Migration};
//!
//! let kernel = Kernel::boot(Era::NESTED_3_3, Config::default());
//! let (result, reports) = lockdep::capture(|| kernel.offline_pages(1, Migration::Succeed));
//! assert_eq!(result, Ok(()));
//! assert_eq!(reports[0].holding().as_deref(), Some("ksm_thread_mutex/1"));
//! assert_eq!(reports[0].held_locks().len(), 6);
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod annotated_lock;
pub mod design;
pub mod era;
pub mod frames;
pub mod hotplug;
pub mod kernel_log;
mod kernel_mutex;
pub mod ksm;
pub mod lock_graph;
pub mod mm;
pub mod notifier;
pub mod other_notifiers;
pub mod rt;
#[cfg(not(loom))]
pub mod scenario;
mod sysfs;
pub mod waitbit;

pub use design::Design;
pub use era::{Era, Release};
pub use frames::{Actor, Content, Frame, FrameState, Memmap, NodeId, Pfn, StableNode, Violation};
pub use hotplug::{BlockState, Migration, Zone};
pub use ksm::{KsmdStep, KSM_RUN_MERGE, KSM_RUN_OFFLINE, KSM_RUN_STOP, KSM_RUN_UNMERGE};
pub use notifier::{Callback, MemAction, NotifierBlock, NotifyResult};

use rt::{lock_plain, PlainMutex, PlainMutexGuard};
use std::fmt;

/// The size of the modelled machine and of ksmd's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Memory blocks (`/sys/devices/system/memory/memoryN`); block 0 is boot memory like the
    /// others, but the last present block can never go offline.
    pub blocks: usize,
    /// Page frames per block (at least 2).
    pub pages_per_block: usize,
    /// Pages ksmd scans per batch (`/sys/kernel/mm/ksm/pages_to_scan`).
    pub pages_to_scan: usize,
    /// `CONFIG_NUMA`: whether `merge_across_nodes` exists (in 3.9).
    pub numa: bool,
    /// How many of the last blocks are `ZONE_MOVABLE` (the rest are `ZONE_NORMAL`).
    pub movable_blocks: usize,
    /// An s390 machine (Gerald Schaefer's): `sclp_mem_notifier` is registered, and a stack
    /// dump ends with the task's held locks, so lockdep's reports end with "INFO: lockdep is
    /// turned off." (see [`kernel_log`]).
    pub s390: bool,
}

impl Default for Config {
    /// 4 normal blocks of 8 pages, batches of 4 pages, NUMA, not s390.
    fn default() -> Self {
        Config {
            blocks: 4,
            pages_per_block: 8,
            pages_to_scan: 4,
            numa: true,
            movable_blocks: 0,
            s390: false,
        }
    }
}

impl Config {
    /// The smallest machine that still shows everything: 2 blocks of 4 pages, one page per
    /// batch. Meant for model checking, where every step costs.
    pub fn small() -> Self {
        Config {
            blocks: 2,
            pages_per_block: 4,
            pages_to_scan: 1,
            ..Config::default()
        }
    }
}

/// The errors the modelled syscalls return (as the kernel's negative errnos).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `-EINVAL`: bad value, a block not in the expected state, or (3.8 on) a node's last
    /// normal memory while it has movable memory.
    Inval,
    /// `-EBUSY`: migration failed, or `merge_across_nodes` can't change while pages are
    /// shared.
    Busy,
    /// `-EPERM`: a notifier vetoed (`notifier_to_errno(NOTIFY_BAD)`).
    Perm,
    /// `-ENOENT`: no such file (`merge_across_nodes` without NUMA).
    NoEnt,
    /// `-EINTR`: the watchdog gave up a wait that would never have ended.
    Intr,
    /// `-ENODEV`: a sysfs attribute being removed (`sysfs_get_active()` failed).
    NoDev,
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Errno::Inval => "EINVAL",
            Errno::Busy => "EBUSY",
            Errno::Perm => "EPERM",
            Errno::NoEnt => "ENOENT",
            Errno::Intr => "EINTR",
            Errno::NoDev => "ENODEV",
        })
    }
}

impl std::error::Error for Errno {}

/// A point inside a step where a test may run code (the `*_with` methods), to force an
/// interleaving without a model checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// `offline_pages`: `MEM_GOING_OFFLINE` was accepted, the range is offlining, and
    /// migration is about to start. The offliner holds the state, hotplug (and in the pre-fix
    /// designs KSM) locks.
    OfflineMigrating {
        /// The block being offlined.
        block: usize,
    },
    /// `offline_pages`: the offline failed, `MEM_CANCEL_OFFLINE` has been sent to every
    /// notifier, and the range is still isolated (the kernel undoes the isolation next).
    OfflineCancelled {
        /// The block whose offline failed.
        block: usize,
    },
    /// `ksmd_scan_step`: between two pages of a batch, holding `ksm_thread_mutex`.
    KsmdMidBatch,
}

/// The whole modelled kernel for one run of one [`Era`].
pub struct Kernel {
    era: Era,
    config: Config,
    hotplug: hotplug::Hotplug,
    ksm: ksm::Ksm,
    mm: mm::Mm,
    other_notifiers: other_notifiers::OtherNotifierLocks,
    memmap: PlainMutex<Memmap>,
    violations: PlainMutex<Vec<Violation>>,
}

impl Kernel {
    /// Boots `design` in the release it shipped in ([`Era::from`]), with
    /// `CONFIG_HIBERNATION`.
    pub fn new(design: Design, config: Config) -> Kernel {
        Kernel::boot(Era::from(design), config)
    }

    /// Boots a kernel of `era`: every block online, KSM's notifier (priority 100) and the
    /// era's other notifiers registered, ksm_run `KSM_RUN_STOP`, a populated stable tree.
    pub fn boot(era: Era, config: Config) -> Kernel {
        Kernel {
            era,
            config,
            hotplug: hotplug::Hotplug::new(era, &config),
            ksm: ksm::Ksm::new(era),
            mm: mm::Mm::new(era.release),
            other_notifiers: other_notifiers::OtherNotifierLocks::new(era.release),
            memmap: PlainMutex::new(Memmap::new(&config)),
            violations: PlainMutex::new(Vec::new()),
        }
    }

    /// The kernel build this is.
    pub fn era(&self) -> Era {
        self.era
    }

    /// The release it runs.
    pub fn release(&self) -> Release {
        self.era.release
    }

    /// The KSM design it runs.
    pub fn design(&self) -> Design {
        self.era.design
    }

    /// The configuration it was booted with.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Every violation recorded so far, oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        lock_plain(&self.violations).clone()
    }

    /// Drains the violations recorded so far.
    pub fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut *lock_plain(&self.violations))
    }

    /// A snapshot of the frames and the stable tree.
    pub fn memmap_snapshot(&self) -> Memmap {
        self.memmap().clone()
    }

    /// Stable nodes whose `kpfn` points at a frame that is not present: each would be a
    /// use-after-free at ksmd's next look. Empty whenever no offline is in progress, thanks to
    /// the prune at `MEM_OFFLINE`.
    pub fn dangling_stable_nodes(&self) -> Vec<StableNode> {
        let mm = self.memmap();
        mm.stable_nodes()
            .iter()
            .copied()
            .filter(|node| mm.frame(node.kpfn).state != FrameState::Present)
            .collect()
    }

    pub(crate) fn memmap(&self) -> PlainMutexGuard<'_, Memmap> {
        lock_plain(&self.memmap)
    }

    pub(crate) fn record(&self, violation: Violation) {
        lock_plain(&self.violations).push(violation);
    }

    pub(crate) fn record_all(&self, violations: Vec<Violation>) {
        if !violations.is_empty() {
            lock_plain(&self.violations).extend(violations);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_smoke {
    use super::*;
    use crate::rt::{spawn, Arc};

    /// The fix, with ksmd on its own thread against one offline: every interleaving ends, and
    /// none records a violation or a report.
    #[test]
    fn run_offline_ksmd_against_one_offline() {
        loom::model(|| {
            lockdep::reset();
            let kernel = Arc::new(Kernel::new(Design::RunOffline, Config::small()));
            kernel.run_store(KSM_RUN_MERGE).unwrap();
            let ksmd = {
                let kernel = Arc::clone(&kernel);
                spawn(move || lockdep::capture(|| kernel.ksmd_scan_step()).1)
            };
            let ((), mut reports) = lockdep::capture(|| {
                kernel.offline_pages(1, Migration::Succeed).unwrap();
            });
            reports.extend(ksmd.join().unwrap());
            assert!(reports.is_empty(), "{reports:?}");
            assert_eq!(kernel.violations(), []);
        });
    }
}
