//! The model's own behaviour, driven step by step on one thread: sysfs semantics, block
//! states, the bit visible in `run`, the stable tree after an offline, and the notifier chain.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::{
    BlockState, Config, Design, Era, Errno, FrameState, Kernel, KsmdStep, MemAction, Migration,
    NotifierBlock, Point, Zone, KSM_RUN_MERGE, KSM_RUN_OFFLINE, KSM_RUN_UNMERGE,
};

#[test]
fn run_store_accepts_only_stop_merge_unmerge() {
    let k = Kernel::new(Design::RunOffline, Config::default());
    assert_eq!(k.run_store(3), Err(Errno::Inval));
    assert_eq!(k.run_store(KSM_RUN_OFFLINE), Err(Errno::Inval));
    assert_eq!(k.ksmd_scan_step(), KsmdStep::Idle);
    assert_eq!(k.run_store(KSM_RUN_MERGE), Ok(()));
    assert_eq!(k.run_show(), KSM_RUN_MERGE);
    assert_eq!(k.ksmd_scan_step(), KsmdStep::Scanned);
    assert_eq!(k.ksmd_batches(), 1);
}

#[test]
fn run_shows_the_offline_bit_during_the_window() {
    for design in [Design::RunOffline, Design::Original] {
        let k = Kernel::new(design, Config::default());
        k.run_store(KSM_RUN_MERGE).unwrap();
        let mut seen = None;
        let ((), _) = lockdep::capture(|| {
            k.offline_pages_with(1, Migration::Succeed, &mut |point| {
                assert_eq!(point, Point::OfflineMigrating { block: 1 });
                seen = Some(k.run_show());
            })
            .unwrap();
        });
        let expected = match design {
            Design::RunOffline => KSM_RUN_MERGE | KSM_RUN_OFFLINE,
            _ => KSM_RUN_MERGE,
        };
        assert_eq!(seen, Some(expected), "{design}");
        assert_eq!(k.run_show(), KSM_RUN_MERGE, "{design}");
    }
}

#[test]
fn offline_moves_ksm_pages_out_and_prunes_the_rest() {
    let k = Kernel::new(Design::RunOffline, Config::default());
    let range = k.block_pfns(1);
    let shared_before = k.memmap_snapshot().pages_shared();
    assert!(k
        .memmap_snapshot()
        .stable_nodes()
        .iter()
        .any(|n| range.contains(&n.kpfn)));
    assert_eq!(k.offline_pages(1, Migration::Succeed), Ok(()));
    assert_eq!(k.block_state(1), BlockState::Offline);
    let mm = k.memmap_snapshot();
    assert!(range
        .clone()
        .all(|pfn| mm.frame(pfn).state == FrameState::Absent));
    assert!(mm.stable_nodes().iter().all(|n| !range.contains(&n.kpfn)));
    assert_eq!(
        mm.pages_shared(),
        shared_before,
        "KSM pages migrate, they are not lost"
    );
    assert!(k.dangling_stable_nodes().is_empty());
    // ksmd after the offline touches nothing that is gone.
    k.run_store(KSM_RUN_MERGE).unwrap();
    assert_eq!(k.ksmd_scan_step(), KsmdStep::Scanned);
    assert_eq!(k.violations(), []);
    // Online again: fresh free frames.
    assert_eq!(k.online_pages(1), Ok(()));
    assert_eq!(k.block_state(1), BlockState::Online);
    assert_eq!(k.online_pages(1), Err(Errno::Inval));
}

#[test]
fn failed_migration_cancels_and_leaves_the_block_online() {
    let k = Kernel::new(Design::RunOffline, Config::default());
    assert_eq!(k.offline_pages(2, Migration::Fail), Err(Errno::Busy));
    assert_eq!(k.block_state(2), BlockState::Online);
    let mm = k.memmap_snapshot();
    assert!(k
        .block_pfns(2)
        .all(|pfn| mm.frame(pfn).state == FrameState::Present && !mm.is_isolated(pfn)));
    assert_eq!(k.run_show(), 0);
}

/// The kernel sends `MEM_CANCEL_OFFLINE` first and undoes the isolation after: while the
/// notifiers hear it, the range is still isolated (its pages present: they never left).
#[test]
fn cancel_is_sent_before_the_isolation_is_undone() {
    for era in Era::HISTORY {
        let k = Kernel::boot(era, Config::default());
        let mut seen = Vec::new();
        let ((), _reports) = lockdep::capture(|| {
            let ret = k.offline_pages_with(2, Migration::Fail, &mut |point| {
                let mm = k.memmap_snapshot();
                let range = k.block_pfns(2);
                seen.push((
                    point,
                    range.clone().all(|pfn| mm.is_isolated(pfn)),
                    range
                        .clone()
                        .all(|pfn| mm.frame(pfn).state == FrameState::Present),
                ));
            });
            assert_eq!(ret, Err(Errno::Busy), "{era}");
        });
        assert_eq!(
            seen,
            [
                (Point::OfflineMigrating { block: 2 }, true, false),
                (Point::OfflineCancelled { block: 2 }, true, true),
            ],
            "{era}"
        );
        assert!(!k.memmap_snapshot().is_isolated(k.block_pfns(2).start));
    }
}

/// From 3.8, `__offline_pages()` refuses (`-EINVAL`, before any notification) to offline a
/// node's last normal memory while the node still has movable memory; with no movable memory
/// present it may go. Before, nothing checked: the offline migrates into movable memory if it
/// can, and fails to migrate (`-EBUSY`, after `MEM_CANCEL_OFFLINE`) when nothing is left.
#[test]
fn the_last_normal_memory_is_refused_under_the_kernels_condition() {
    // One normal block and one movable block, each half used.
    let machine = Config {
        blocks: 2,
        movable_blocks: 1,
        ..Config::default()
    };
    let k = Kernel::boot(Era::FIX, machine);
    assert_eq!(k.block_zone(0), Zone::Normal);
    assert_eq!(k.block_zone(1), Zone::Movable);
    assert_eq!(k.offline_pages(0, Migration::Succeed), Err(Errno::Inval));
    assert_eq!(k.block_state(0), BlockState::Online);
    // With the movable block gone (its pages migrated into block 0), the last normal block
    // may go, but its pages have nowhere to go.
    assert_eq!(k.offline_pages(1, Migration::Succeed), Ok(()));
    assert_eq!(k.offline_pages(0, Migration::Succeed), Err(Errno::Busy));
    assert_eq!(k.offline_pages(9, Migration::Succeed), Err(Errno::Inval));

    // 3.3 has no such check: block 0's pages migrate into the movable block.
    let k = Kernel::boot(Era::NESTED_3_3, machine);
    let (ret, _reports) = lockdep::capture(|| k.offline_pages(0, Migration::Succeed));
    assert_eq!(ret, Ok(()));
    assert_eq!(k.block_state(0), BlockState::Offline);
}

#[test]
fn merge_across_nodes_needs_no_shared_pages_and_numa() {
    let k = Kernel::new(Design::RunOffline, Config::default());
    assert_eq!(k.merge_across_nodes_store(2), Err(Errno::Inval));
    assert_eq!(k.merge_across_nodes_store(1), Ok(()), "unchanged value");
    assert_eq!(k.merge_across_nodes_store(0), Err(Errno::Busy));
    k.run_store(KSM_RUN_UNMERGE).unwrap();
    assert_eq!(k.memmap_snapshot().pages_shared(), 0);
    assert!(k.memmap_snapshot().stable_nodes().is_empty());
    assert_eq!(k.merge_across_nodes_store(0), Ok(()));
    let no_numa = Kernel::new(
        Design::RunOffline,
        Config {
            numa: false,
            ..Config::default()
        },
    );
    assert_eq!(no_numa.merge_across_nodes_store(0), Err(Errno::NoEnt));
    // The file came with 3.9-rc1.
    for era in [Era::ORIGINAL, Era::NESTED_2_6_37, Era::NESTED_3_3] {
        let k = Kernel::boot(era, Config::default());
        assert_eq!(k.merge_across_nodes_store(0), Err(Errno::NoEnt), "{era}");
    }
}

#[test]
fn notifiers_run_by_priority_and_a_veto_sends_cancel() {
    let boot = [
        ("ksm_memory_callback", 100),
        ("cpuset_track_online_nodes", 10),
        ("slab_memory_callback", 1),
        ("kcore_callback", 0),
    ];
    let s390 = Kernel::new(
        Design::RunOffline,
        Config {
            s390: true,
            ..Config::default()
        },
    );
    let mut with_sclp = boot.to_vec();
    with_sclp.push(("sclp_mem_notifier", 0));
    assert_eq!(s390.memory_notifiers(), with_sclp);
    let k = Kernel::new(Design::RunOffline, Config::default());
    assert_eq!(k.memory_notifiers(), boot);
    k.register_memory_notifier(NotifierBlock::passive("late", 1));
    k.register_memory_notifier(NotifierBlock::error_inject(
        "inject",
        200,
        &[MemAction::GoingOnline],
    ));
    assert_eq!(
        k.memory_notifiers(),
        [
            ("inject", 200),
            ("ksm_memory_callback", 100),
            ("cpuset_track_online_nodes", 10),
            ("slab_memory_callback", 1),
            ("late", 1),
            ("kcore_callback", 0),
        ]
    );
    k.offline_pages(1, Migration::Succeed).unwrap();
    assert_eq!(k.online_pages(1), Err(Errno::Perm));
    assert_eq!(k.block_state(1), BlockState::Offline);
    assert!(k.unregister_memory_notifier("inject"));
    assert_eq!(k.online_pages(1), Ok(()));
}

#[test]
fn every_design_and_era_completes_a_sequential_round() {
    let builds = Design::ALL
        .iter()
        .map(|&design| Era::from(design))
        .chain(Era::HISTORY);
    for era in builds {
        let k = Kernel::boot(era, Config::small());
        let (steps, _reports) = lockdep::capture(|| {
            k.run_store(KSM_RUN_MERGE).unwrap();
            let mut steps = vec![k.ksmd_scan_step()];
            assert_eq!(k.offline_pages(1, Migration::Succeed), Ok(()));
            steps.push(k.ksmd_scan_step());
            assert_eq!(k.online_pages(1), Ok(()));
            assert_eq!(k.offline_pages(1, Migration::Fail), Err(Errno::Busy));
            steps.push(k.ksmd_scan_step());
            steps
        });
        assert_eq!(steps, [KsmdStep::Scanned; 3], "{era}");
        assert_eq!(k.violations(), [], "{era}");
        assert!(k.dangling_stable_nodes().is_empty(), "{era}");
    }
}
