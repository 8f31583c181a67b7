//! The whole lock graph of each kernel of the episode, after a workload that exercises every
//! lock the model has: ksmd's scan (`mmap_sem`, page table lock, `ksm_mmlist_lock`,
//! `anon_vma`), the stores (`run`'s unmerge, 3.9's `merge_across_nodes`), an offline, an
//! online and a cancelled offline with every notifier of the era (cpuset, slub, kcore, s390's
//! sclp).
//!
//! The checks: the only cycle is the reported one (`ksm_thread_mutex` and
//! `(memory_chain).rwsem`, pre-fix; none after the fix); every lock ksmd and the other
//! notifiers take is recorded where the kernel takes it, and none of them reaches the notifier
//! rwsem, a hotplug lock or `ksm_thread_mutex`; and `s_active`, a trylock, gets no dependency
//! to it.
//!
//! Classes are compared by name and the graph is process-wide, so this binary holds one
//! test, which resets lockdep before each kernel.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::lock_graph::LockGraph;
use ksm_model::{Config, Design, Era, Errno, Kernel, Migration, KSM_RUN_MERGE};
use lockdep::ReportKind;
use std::collections::BTreeSet;

/// One thread, every actor in turn.
fn workload(kernel: &Kernel) {
    kernel.run_store(KSM_RUN_MERGE).unwrap();
    kernel.ksmd_scan_step();
    kernel.ksmd_scan_step();
    assert_eq!(kernel.offline_pages(1, Migration::Succeed), Ok(()));
    kernel.ksmd_scan_step();
    assert_eq!(kernel.online_pages(1), Ok(()));
    assert_eq!(kernel.offline_pages(2, Migration::Fail), Err(Errno::Busy));
    kernel.run_store(2).unwrap(); // KSM_RUN_UNMERGE
    let merge = kernel.merge_across_nodes_store(0);
    if kernel.release().has_merge_across_nodes() {
        assert_eq!(merge, Ok(()));
    } else {
        assert_eq!(merge, Err(Errno::NoEnt));
    }
    kernel.run_store(KSM_RUN_MERGE).unwrap();
    kernel.ksmd_scan_step();
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The locks whose cycles matter: what the report was about.
const GUARDED: [&str; 5] = [
    "(memory_chain).rwsem",
    "mem_hotplug_mutex",
    "pm_mutex",
    "ksm_thread_mutex",
    "ksm_thread_mutex/1",
];

fn check(era: Era) {
    lockdep::reset();
    let kernel = Kernel::boot(
        era,
        Config {
            s390: true,
            ..Config::default()
        },
    );
    let ((), reports) = lockdep::capture(|| workload(&kernel));
    let graph = LockGraph::recorded();
    let release = era.release;
    let ksm = match era.design {
        Design::NestedAnnotation => "ksm_thread_mutex/1",
        _ => "ksm_thread_mutex",
    };
    let has = |from: &str, to: &str| {
        assert!(
            graph.has_edge(from, to),
            "{era}: no {from} -> {to} in {:#?}",
            graph.edges()
        )
    };

    // The one cycle, and its report.
    let pre_fix = era.design.holds_mutex_across_notifications();
    let expected_cycle = if pre_fix {
        set(&["(memory_chain).rwsem", ksm])
    } else {
        BTreeSet::new()
    };
    assert_eq!(graph.classes_on_cycles(), expected_cycle, "{era}");
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    let expected_reports = if pre_fix {
        vec![ReportKind::CircularDependency]
    } else {
        vec![]
    };
    assert_eq!(kinds, expected_reports, "{era}: {reports:?}");

    // ksmd's and the stores' locks, under the mutex.
    let mm_locks = [
        "&mm->mmap_sem",
        "&(&mm->page_table_lock)->rlock",
        release.anon_vma_lock(),
        "ksm_mmlist_lock",
    ];
    has("ksm_thread_mutex", "&mm->mmap_sem");
    has("ksm_thread_mutex", release.anon_vma_lock());
    for lock in &mm_locks[1..] {
        has("&mm->mmap_sem", lock);
    }

    // The other notifiers' locks: after the mutex at MEM_GOING_OFFLINE before the fix, after
    // the rwsem always.
    let slab = release.slab_lock();
    let mut notifier_locks = vec![slab, "kclist_lock", "sclp_mem_mutex"];
    if release.cpuset_notifier_locks() {
        notifier_locks.extend(["cgroup_mutex", "callback_mutex"]);
        has("cgroup_mutex", "callback_mutex");
        has("cgroup_mutex", "&mm->mmap_sem");
    }
    has("(memory_chain).rwsem", "kclist_lock");
    if pre_fix {
        has(ksm, slab);
        has(ksm, "sclp_mem_mutex");
        if release.cpuset_notifier_locks() {
            has(ksm, "cgroup_mutex");
        }
    } else {
        has("(memory_chain).rwsem", slab);
        has("(memory_chain).rwsem", "sclp_mem_mutex");
    }

    // None of them leads back to what the report was about.
    let guarded = set(&GUARDED);
    for lock in mm_locks.iter().chain(&notifier_locks) {
        let back: Vec<String> = graph
            .reachable_from(lock)
            .intersection(&guarded)
            .cloned()
            .collect();
        assert!(back.is_empty(), "{era}: {lock} reaches {back:?}");
    }

    // s_active is taken by trylock: no dependency to it, only from it.
    let s_active = release.memory_state_s_active();
    assert!(!graph.has_edge("&buffer->mutex", s_active), "{era}");
    has("&buffer->mutex", "&mem->state_mutex");
    has(s_active, "&mem->state_mutex");
    assert!(
        !graph.has_edge("&buffer->mutex", "s_active#60"),
        "{era}: run's s_active"
    );
}

#[test]
fn the_only_cycle_is_the_reported_one() {
    for era in Era::HISTORY {
        check(era);
    }
}
