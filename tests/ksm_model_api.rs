//! The model's own behaviour, driven step by step on one thread: sysfs semantics, block
//! states, the bit visible in `run`, the stable tree after an offline, and the notifier chain.
#![cfg(not(loom))] // under --cfg loom, ksm-model runs only inside loom models (tests/loom_ksm.rs)

use ksm_model::{
    BlockState, Config, Design, Errno, FrameState, Kernel, KsmdStep, MemAction, Migration,
    NotifierBlock, Point, KSM_RUN_MERGE, KSM_RUN_OFFLINE, KSM_RUN_UNMERGE,
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
        .all(|pfn| mm.frame(pfn).state == FrameState::Present));
    assert_eq!(k.run_show(), 0);
}

#[test]
fn the_last_memory_cannot_go_offline() {
    let k = Kernel::new(
        Design::RunOffline,
        Config {
            blocks: 2,
            ..Config::default()
        },
    );
    assert_eq!(k.offline_pages(1, Migration::Succeed), Ok(()));
    assert_eq!(k.offline_pages(0, Migration::Succeed), Err(Errno::Busy));
    assert_eq!(k.offline_pages(1, Migration::Succeed), Err(Errno::Inval));
    assert_eq!(k.offline_pages(9, Migration::Succeed), Err(Errno::Inval));
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
}

#[test]
fn notifiers_run_by_priority_and_a_veto_sends_cancel() {
    let k = Kernel::new(Design::RunOffline, Config::default());
    assert_eq!(k.memory_notifiers(), [("ksm_memory_callback", 100)]);
    k.register_memory_notifier(NotifierBlock::passive("slab", 1));
    k.register_memory_notifier(NotifierBlock::error_inject(
        "inject",
        200,
        &[MemAction::GoingOnline],
    ));
    assert_eq!(
        k.memory_notifiers(),
        [("inject", 200), ("ksm_memory_callback", 100), ("slab", 1)]
    );
    k.offline_pages(1, Migration::Succeed).unwrap();
    assert_eq!(k.online_pages(1), Err(Errno::Perm));
    assert_eq!(k.block_state(1), BlockState::Offline);
    assert!(k.unregister_memory_notifier("inject"));
    assert_eq!(k.online_pages(1), Ok(()));
}

#[test]
fn every_design_completes_a_sequential_round() {
    for design in Design::ALL {
        let k = Kernel::new(design, Config::small());
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
        assert_eq!(steps, [KsmdStep::Scanned; 3], "{design}");
        assert_eq!(k.violations(), [], "{design}");
        assert!(k.dangling_stable_nodes().is_empty(), "{design}");
    }
}
