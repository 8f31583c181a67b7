//! The kernels of the episode: which hotplug locking, which KSM design and which lockdep each
//! release had.
//!
//! A [`Release`] is one state of mainline that the model can boot; an [`Era`] is a release,
//! the KSM [`Design`] it runs, and the one build option that decides whether the offliner
//! takes `pm_mutex` (`CONFIG_HIBERNATION`). [`Era::HISTORY`] lists them as they happened:
//!
//! | era | hotplug locks around the notifications | KSM | lockdep said |
//! |---|---|---|---|
//! | 2.6.33–2.6.36, `CONFIG_HIBERNATION=y` | `pm_mutex` (`lock_system_sleep()` in `remove_memory()`) | 62b61f611e | the cycle, 5 locks held (KOSAKI, 2.6.36-rc7-mm1) |
//! | 2.6.33–2.6.36, `CONFIG_HIBERNATION=n` | none | 62b61f611e | the cycle, 4 locks held; a real deadlock |
//! | 2.6.37 | `mem_hotplug_mutex`, `pm_mutex` (20d6c96b5f) | a0b0f58 | the cycle through `ksm_thread_mutex/1` |
//! | 3.3 | `mem_hotplug_mutex`, `pm_mutex` | a0b0f58 | the cycle, 6 locks held (Gerald Schaefer, 3.3.0-rc2) |
//! | 3.9 | `mem_hotplug_mutex`, `pm_mutex` | ef4d43a8 | nothing |
//!
//! Commits cited: 62b61f611e "ksm: memory hotremove migration only" (2.6.33), 20d6c96b5f
//! "mem-hotplug: introduce {un}lock_memory_hotplug()" and a0b0f58 "ksm: annotate
//! ksm_thread_mutex is no deadlock source" (both 2.6.37-rc5), ef4d43a8 "ksm: stop hotremove
//! lockdep warning" (3.9-rc1).

use crate::{Config, Design};
use std::fmt;

/// A state of mainline Linux the model can boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Release {
    /// 2.6.33 to 2.6.36. `remove_memory()` offlines a block under `lock_system_sleep()`
    /// alone, which takes `pm_mutex` only with `CONFIG_HIBERNATION`; `online_pages()` takes no
    /// hotplug lock. KOSAKI Motohiro's report came from 2.6.36-rc7-mm1.
    V2_6_36,
    /// 2.6.37 (from -rc5): 20d6c96b5f adds `lock_memory_hotplug()` (`mem_hotplug_mutex`, then
    /// `lock_system_sleep()`) around every online and offline, and a0b0f58 the
    /// `mutex_lock_nested` annotation. Gerald Schaefer reproduced the report on
    /// 2.6.37-rc4-00147-ga0b0f58.
    V2_6_37,
    /// 3.3, the state of Gerald Schaefer's 2012 report (3.3.0-rc2, s390): as 2.6.37, with
    /// `lock_system_sleep()` now depending on `CONFIG_PM_SLEEP` and `anon_vma` locked by a
    /// mutex.
    V3_3,
    /// 3.9 (from -rc1): ef4d43a8's `KSM_RUN_OFFLINE`, `merge_across_nodes` (3.9-rc1), the
    /// last-normal-memory check of 3.8 (`-EINVAL`), `slab_mutex`, an `anon_vma` rwsem, and a
    /// cpuset notifier that only queues work.
    V3_9,
}

impl Release {
    /// Every release, oldest first.
    pub const ALL: [Release; 4] = [
        Release::V2_6_36,
        Release::V2_6_37,
        Release::V3_3,
        Release::V3_9,
    ];

    /// The version string the model's kernel reports (`uname -r`), e.g. `3.3.0`.
    pub fn version(self) -> &'static str {
        match self {
            Release::V2_6_36 => "2.6.36",
            Release::V2_6_37 => "2.6.37",
            Release::V3_3 => "3.3.0",
            Release::V3_9 => "3.9.0",
        }
    }

    /// The releases this one stands for, e.g. `2.6.33–2.6.36`.
    pub fn span(self) -> &'static str {
        match self {
            Release::V2_6_36 => "2.6.33-2.6.36",
            Release::V2_6_37 => "2.6.37",
            Release::V3_3 => "3.3",
            Release::V3_9 => "3.9",
        }
    }

    /// The KSM design this release shipped.
    pub fn shipped_design(self) -> Design {
        match self {
            Release::V2_6_36 => Design::Original,
            Release::V2_6_37 | Release::V3_3 => Design::NestedAnnotation,
            Release::V3_9 => Design::RunOffline,
        }
    }

    /// True if online and offline run under `lock_memory_hotplug()`'s `mem_hotplug_mutex`
    /// (20d6c96b5f, 2.6.37).
    pub fn has_mem_hotplug_mutex(self) -> bool {
        self >= Release::V2_6_37
    }

    /// True if `online_pages()` takes the hotplug locks (`lock_memory_hotplug()`); before
    /// 2.6.37 only offlining took `lock_system_sleep()`.
    pub fn online_takes_hotplug_locks(self) -> bool {
        self.has_mem_hotplug_mutex()
    }

    /// The build option `lock_system_sleep()` depends on: `CONFIG_HIBERNATION` in 2.6, and
    /// `CONFIG_PM_SLEEP` (which `CONFIG_HIBERNATION` selects) from 3.3.
    pub fn sleep_lock_option(self) -> &'static str {
        if self >= Release::V3_3 {
            "CONFIG_PM_SLEEP"
        } else {
            "CONFIG_HIBERNATION"
        }
    }

    /// True if `/sys/kernel/mm/ksm/merge_across_nodes` exists (with `CONFIG_NUMA`, 3.9-rc1).
    pub fn has_merge_across_nodes(self) -> bool {
        self >= Release::V3_9
    }

    /// True if `__offline_pages()` refuses with `-EINVAL` to offline a node's last normal
    /// memory while it still has movable memory (`can_offline_normal()`, 3.8).
    pub fn checks_last_normal_memory(self) -> bool {
        self >= Release::V3_9
    }

    /// True if the cpuset memory notifier takes `cgroup_mutex` itself; 3.9 only queues work.
    pub fn cpuset_notifier_locks(self) -> bool {
        self <= Release::V3_3
    }

    /// The lock slub's memory notifier takes: the `slub_lock` rwsem (read) before 3.7, the
    /// `slab_mutex` after.
    pub fn slab_lock(self) -> &'static str {
        if self >= Release::V3_9 {
            "slab_mutex"
        } else {
            "slub_lock"
        }
    }

    /// The lockdep name of the `anon_vma` lock: a spinlock until 3.0, a mutex until 3.8, an
    /// rwsem after.
    pub fn anon_vma_lock(self) -> &'static str {
        match self {
            Release::V2_6_36 | Release::V2_6_37 => "&(&anon_vma->lock)->rlock",
            Release::V3_3 => "&anon_vma->mutex",
            Release::V3_9 => "&anon_vma->rwsem",
        }
    }

    /// The lockdep class name of a memory block's `state` attribute's `s_active` map. The
    /// number is lockdep's name version (the Nth class named `s_active` registered since
    /// boot): #110 in KOSAKI's 2.6.36 report, #53 in Gerald's 3.3 one, which the model also
    /// uses for 2.6.37 and 3.9.
    pub fn memory_state_s_active(self) -> &'static str {
        if self == Release::V2_6_36 {
            "s_active#110"
        } else {
            "s_active#53"
        }
    }

    /// True if lockdep prints the "Possible unsafe locking scenario" of a cycle (2.6.39 on).
    pub fn lockdep_prints_scenario(self) -> bool {
        self >= Release::V3_3
    }

    /// True if lockdep prints the kernel version and taint under a report's title (as the
    /// 3.3 report does; KOSAKI's 2.6.36 report has no such line).
    pub fn lockdep_prints_version(self) -> bool {
        self >= Release::V3_3
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.span())
    }
}

/// A kernel build: a release, the KSM design it runs, and whether `lock_system_sleep()` takes
/// `pm_mutex` (`CONFIG_HIBERNATION`, or from 3.3 `CONFIG_PM_SLEEP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Era {
    /// The release.
    pub release: Release,
    /// The KSM design (the release's own, or a variant of it).
    pub design: Design,
    /// `CONFIG_HIBERNATION=y` (2.6) / `CONFIG_PM_SLEEP=y` (3.x): the offliner takes
    /// `pm_mutex`.
    pub hibernation: bool,
}

impl Era {
    /// 2.6.33–2.6.36 with `CONFIG_HIBERNATION`: `pm_mutex` serialises offliners, so the
    /// reported cycle cannot deadlock.
    pub const ORIGINAL: Era = Era {
        release: Release::V2_6_36,
        design: Design::Original,
        hibernation: true,
    };
    /// 2.6.33–2.6.36 without `CONFIG_HIBERNATION`: nothing serialises offliners, and two of
    /// them with a notifier registration really deadlock (KOSAKI's three actors).
    pub const ORIGINAL_WITHOUT_HIBERNATION: Era = Era {
        release: Release::V2_6_36,
        design: Design::Original,
        hibernation: false,
    };
    /// 2.6.37: `mem_hotplug_mutex` and the `mutex_lock_nested` annotation, merged together.
    pub const NESTED_2_6_37: Era = Era {
        release: Release::V2_6_37,
        design: Design::NestedAnnotation,
        hibernation: true,
    };
    /// 3.3: the kernel of the 2012 report.
    pub const NESTED_3_3: Era = Era {
        release: Release::V3_3,
        design: Design::NestedAnnotation,
        hibernation: true,
    };
    /// 3.9: the fix.
    pub const FIX: Era = Era {
        release: Release::V3_9,
        design: Design::RunOffline,
        hibernation: true,
    };

    /// The eras in the order they happened.
    pub const HISTORY: [Era; 5] = [
        Era::ORIGINAL,
        Era::ORIGINAL_WITHOUT_HIBERNATION,
        Era::NESTED_2_6_37,
        Era::NESTED_3_3,
        Era::FIX,
    ];

    /// `design` on `release`, with `CONFIG_HIBERNATION`.
    pub fn new(release: Release, design: Design) -> Era {
        Era {
            release,
            design,
            hibernation: true,
        }
    }

    /// True if the offliner takes `pm_mutex` (`lock_system_sleep()` does something).
    pub fn takes_pm_mutex(self) -> bool {
        self.hibernation
    }

    /// True if the offliner takes `mem_hotplug_mutex`.
    pub fn takes_mem_hotplug_mutex(self) -> bool {
        self.release.has_mem_hotplug_mutex()
    }

    /// The machine the era's report came from, as a [`Config`]: KOSAKI's x86 for
    /// 2.6.33–2.6.36, Gerald Schaefer's s390 from 2.6.37 on (he reproduced the report on
    /// 2.6.37-rc4 and 3.3, and tested the fix); otherwise [`Config::default`].
    pub fn config(self) -> Config {
        Config {
            s390: self.release >= Release::V2_6_37,
            ..Config::default()
        }
    }

    /// e.g. `2.6.33-2.6.36 (CONFIG_HIBERNATION=n), Original`.
    pub fn name(self) -> String {
        format!(
            "{} ({}={}), {}",
            self.release.span(),
            self.release.sleep_lock_option(),
            if self.hibernation { "y" } else { "n" },
            self.design
        )
    }
}

/// A design on the release it shipped in (the broken variants and the annotation are
/// variants of the fix: 3.9), with `CONFIG_HIBERNATION`.
impl From<Design> for Era {
    fn from(design: Design) -> Era {
        Era::new(design.release(), design)
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_in_order_and_ships_its_designs() {
        let releases: Vec<Release> = Era::HISTORY.iter().map(|e| e.release).collect();
        let mut sorted = releases.clone();
        sorted.sort();
        assert_eq!(releases, sorted);
        for era in Era::HISTORY {
            assert_eq!(era.design, era.release.shipped_design(), "{era}");
        }
        assert_eq!(Era::from(Design::WaitUnderMutex).release, Release::V3_9);
        assert_eq!(Era::from(Design::Original), Era::ORIGINAL);
        assert_eq!(Era::from(Design::NestedAnnotation), Era::NESTED_3_3);
    }

    #[test]
    fn hotplug_locking_by_release() {
        assert!(!Era::ORIGINAL.takes_mem_hotplug_mutex());
        assert!(Era::ORIGINAL.takes_pm_mutex());
        assert!(!Era::ORIGINAL_WITHOUT_HIBERNATION.takes_pm_mutex());
        assert!(Era::NESTED_2_6_37.takes_mem_hotplug_mutex());
        assert_eq!(Release::V2_6_37.sleep_lock_option(), "CONFIG_HIBERNATION");
        assert_eq!(Release::V3_3.sleep_lock_option(), "CONFIG_PM_SLEEP");
        assert!(!Release::V3_3.has_merge_across_nodes());
        assert!(Release::V3_9.has_merge_across_nodes());
    }
}
