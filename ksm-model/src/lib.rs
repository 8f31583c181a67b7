//! # ksm-model: the 2013 KSM memory hot-remove episode, on lockdep's locks
//!
//! A small, executable model of Linux 3.9-era memory hot-remove and KSM, built on the
//! `lockdep` crate's [`Mutex`](lockdep::Mutex), [`RwLock`](lockdep::RwLock) and
//! [`Condvar`](lockdep::Condvar), with the kernel's lock names. It reproduces the lockdep
//! report that a plain `mutex_lock(&ksm_thread_mutex)` in `ksm_memory_callback` caused from
//! 2.6.33 on, shows that the `mutex_lock_nested` annotation of 2.6.37 did not silence it, and
//! runs Hugh Dickins' fix (ef4d43a8, 3.9-rc1) silently. Broken variants show what the lockout
//! protects against.
//!
//! One [`Kernel`] holds all the state of one run: memory blocks ([`hotplug`]), the memory
//! notifier chain ([`notifier`]), KSM ([`ksm`]) and the page frames ([`frames`]), for one
//! [`Design`]. Actors are step-wise methods that tests (and loom) run on their own threads:
//! [`Kernel::ksmd_scan_step`], [`Kernel::run_store`], [`Kernel::merge_across_nodes_store`],
//! [`Kernel::offline_pages`], [`Kernel::online_pages`],
//! [`Kernel::register_memory_notifier`]. Nothing loops forever.
//!
//! Lock classes are fixed by construction site, so every `Kernel` in a process shares them (as
//! a kernel's static locks would): capture reports per run with [`lockdep::capture`]. The one
//! exception is `ksm_thread_mutex`, whose class is per [`Design`] (each design is a different
//! kernel build), so runs of different designs in one process can't combine into a cycle.
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

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod design;
pub mod frames;
pub mod hotplug;
pub mod ksm;
pub mod notifier;
pub mod rt;
#[cfg(not(loom))]
pub mod scenario;
pub mod waitbit;

pub use design::Design;
pub use frames::{Actor, Content, Frame, FrameState, Memmap, NodeId, Pfn, StableNode, Violation};
pub use hotplug::{BlockState, Migration};
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
    /// `CONFIG_NUMA`: whether `merge_across_nodes` exists.
    pub numa: bool,
}

impl Default for Config {
    /// 4 blocks of 8 pages, batches of 4 pages, NUMA.
    fn default() -> Self {
        Config {
            blocks: 4,
            pages_per_block: 8,
            pages_to_scan: 4,
            numa: true,
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
            numa: true,
        }
    }
}

/// The errors the modelled syscalls return (as the kernel's negative errnos).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `-EINVAL`: bad value, or a block not in the expected state.
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
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Errno::Inval => "EINVAL",
            Errno::Busy => "EBUSY",
            Errno::Perm => "EPERM",
            Errno::NoEnt => "ENOENT",
            Errno::Intr => "EINTR",
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
    /// `ksmd_scan_step`: between two pages of a batch, holding `ksm_thread_mutex`.
    KsmdMidBatch,
}

/// The whole modelled kernel for one run of one [`Design`].
pub struct Kernel {
    design: Design,
    config: Config,
    hotplug: hotplug::Hotplug,
    ksm: ksm::Ksm,
    memmap: PlainMutex<Memmap>,
    violations: PlainMutex<Vec<Violation>>,
}

impl Kernel {
    /// Boots a kernel: every block online, KSM's notifier registered (priority 100), ksm_run
    /// `KSM_RUN_STOP`, a populated stable tree.
    pub fn new(design: Design, config: Config) -> Kernel {
        Kernel {
            design,
            config,
            hotplug: hotplug::Hotplug::new(&config),
            ksm: ksm::Ksm::new(design),
            memmap: PlainMutex::new(Memmap::new(&config)),
            violations: PlainMutex::new(Vec::new()),
        }
    }

    /// The design this kernel runs.
    pub fn design(&self) -> Design {
        self.design
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
