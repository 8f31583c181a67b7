//! Page frames as explicit state, the stable tree's nodes that point at them, and the
//! violations the model records.
//!
//! A stable node keeps only a pfn (`kpfn`), not a reference: `get_ksm_page()` looks through
//! that "keyhole" at whatever `struct page` sits at the pfn. Hugh's commit message says the
//! struct pages of a range may vanish at any point after `MEM_GOING_OFFLINE`, so the model
//! marks the range [`FrameState::Offlining`] from then on and [`FrameState::Absent`] once it is
//! offline; a keyhole access to either is a [`Violation::UseAfterFree`].

use crate::notifier::MemAction;
use crate::Config;
use std::fmt;
use std::ops::Range;

/// Index of a page frame.
pub type Pfn = usize;
/// Identity of a stable node.
pub type NodeId = usize;

/// Whether a frame's `struct page` exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameState {
    /// Online memory.
    Present,
    /// Between an accepted `MEM_GOING_OFFLINE` and `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE`: the
    /// struct page may vanish at any moment.
    Offlining,
    /// Offline: the struct page is gone.
    Absent,
}

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    /// On the free lists.
    Free,
    /// An ordinary anonymous page, a candidate for merging.
    Anon,
    /// The KSM page of the given stable node.
    Ksm(NodeId),
}

/// One page frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whether its struct page exists.
    pub state: FrameState,
    /// What it holds.
    pub content: Content,
}

/// A node of the stable tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StableNode {
    /// Its identity; the KSM page it owns has [`Content::Ksm`] with this id.
    pub id: NodeId,
    /// Where its KSM page was last seen (updated by migration).
    pub kpfn: Pfn,
}

/// Who touched a page, or waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The ksmd thread.
    Ksmd,
    /// A write to `/sys/kernel/mm/ksm/run`.
    RunStore,
    /// A write to `/sys/kernel/mm/ksm/merge_across_nodes`.
    MergeAcrossNodesStore,
    /// `ksm_memory_callback`, on the offlining thread.
    MemoryCallback,
}

impl Actor {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Ksmd => "ksmd",
            Actor::RunStore => "run_store",
            Actor::MergeAcrossNodesStore => "merge_across_nodes_store",
            Actor::MemoryCallback => "ksm_memory_callback",
        }
    }
}

/// A bug the model observed (as opposed to a lockdep report, which is about lock order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// `get_ksm_page()` looked at the struct page of a frame that was offlining or offline.
    UseAfterFree {
        /// Who called `get_ksm_page()`.
        actor: Actor,
        /// The frame.
        pfn: Pfn,
        /// The stable node whose `kpfn` led there.
        node: NodeId,
        /// The frame's state at that moment.
        state: FrameState,
    },
    /// A task waited on `KSM_RUN_OFFLINE` until the watchdog gave up on it (the model's
    /// hung-task detector: a real kernel would have waited forever).
    HungTask {
        /// The waiter.
        actor: Actor,
        /// The lock it held while waiting, if any.
        holding: Option<&'static str>,
    },
    /// `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE` unlocked `ksm_thread_mutex` although this offline's
    /// `MEM_GOING_OFFLINE` never locked it (the pre-fix veto bug, §11.7). The unlock really
    /// happened: whoever held the mutex lost it (see [`Violation::MutualExclusion`]).
    UnbalancedUnlock {
        /// The event whose callback did the unlock.
        action: MemAction,
    },
    /// Two tasks inside `ksm_thread_mutex`'s critical section at once: `intruder` locked it
    /// while `holder` was still inside, because an unbalanced unlock had released it under
    /// the holder.
    MutualExclusion {
        /// The task that was inside.
        holder: Actor,
        /// The task that got in beside it.
        intruder: Actor,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::UseAfterFree {
                actor,
                pfn,
                node,
                state,
            } => {
                let when = match state {
                    FrameState::Offlining => "its memory block was going offline",
                    FrameState::Absent => "its memory block was offline",
                    FrameState::Present => "it was present",
                };
                write!(
                    f,
                    "use-after-free: {} called get_ksm_page() on stable node {node} and touched \
                     the struct page of pfn {pfn} while {when}",
                    actor.name()
                )
            }
            Violation::HungTask { actor, holding } => {
                write!(
                    f,
                    "hung task: {} waited on KSM_RUN_OFFLINE until the watchdog gave up",
                    actor.name()
                )?;
                if let Some(lock) = holding {
                    write!(f, ", holding {lock}")?;
                }
                Ok(())
            }
            Violation::UnbalancedUnlock { action } => write!(
                f,
                "unbalanced unlock: {} unlocked ksm_thread_mutex that this offline never \
                 locked (MEM_GOING_OFFLINE was vetoed before KSM's callback ran)",
                action.name()
            ),
            Violation::MutualExclusion { holder, intruder } => write!(
                f,
                "mutual exclusion broken: {} got into ksm_thread_mutex's critical section \
                 while {} was still inside",
                intruder.name(),
                holder.name()
            ),
        }
    }
}

/// What `get_ksm_page()` finds through the keyhole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyhole {
    /// The node's KSM page.
    Live,
    /// The frame holds something else: the node is stale and gets removed.
    Stale,
    /// The struct page is (or may be) gone: the access itself is the bug.
    Gone(FrameState),
}

/// The memmap (every frame) and the stable tree. The model keeps both under one plain lock
/// that lockdep does not see; the kernel's exclusion is what the violations check.
#[derive(Clone, Debug)]
pub struct Memmap {
    frames: Vec<Frame>,
    stable: Vec<StableNode>,
    next_node: NodeId,
    cursor: Pfn,
    isolated: Vec<Range<Pfn>>,
}

impl Memmap {
    /// Every block online. In each block the first quarter of the frames are KSM pages (one
    /// stable node each), the next quarter ordinary anonymous pages, the rest free; one free
    /// frame per block is still pointed at by a stale stable node (its page was freed since
    /// ksmd last looked).
    pub(crate) fn new(config: &Config) -> Memmap {
        let per_block = config.pages_per_block.max(2);
        let mut mm = Memmap {
            frames: Vec::new(),
            stable: Vec::new(),
            next_node: 0,
            cursor: 0,
            isolated: Vec::new(),
        };
        for block in 0..config.blocks {
            let start = block * per_block;
            let ksm = (per_block / 4).max(1);
            let anon = (per_block / 4).max(1);
            for i in 0..per_block {
                let content = if i < ksm {
                    Content::Ksm(mm.new_node(start + i))
                } else if i < ksm + anon {
                    Content::Anon
                } else {
                    Content::Free
                };
                mm.frames.push(Frame {
                    state: FrameState::Present,
                    content,
                });
            }
            if ksm + anon < per_block {
                mm.new_node(start + ksm + anon);
            }
        }
        mm
    }

    fn new_node(&mut self, kpfn: Pfn) -> NodeId {
        let id = self.next_node;
        self.next_node += 1;
        self.stable.push(StableNode { id, kpfn });
        id
    }

    /// One frame.
    pub fn frame(&self, pfn: Pfn) -> Frame {
        self.frames[pfn]
    }

    /// How many frames there are.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True if there are no frames at all.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The stable tree's nodes.
    pub fn stable_nodes(&self) -> &[StableNode] {
        &self.stable
    }

    /// `ksm_pages_shared`: stable nodes that still own their KSM page.
    pub fn pages_shared(&self) -> usize {
        (0..self.stable.len())
            .filter(|&i| self.keyhole(i) == Keyhole::Live)
            .count()
    }

    /// How many frames are present (the node's present pages: the model has one node).
    pub(crate) fn present_pages(&self) -> usize {
        self.present_in(0..self.frames.len())
    }

    /// How many frames of `range` are present.
    pub(crate) fn present_in(&self, range: Range<Pfn>) -> usize {
        self.frames[range]
            .iter()
            .filter(|f| f.state == FrameState::Present)
            .count()
    }

    /// `start_isolate_page_range()`: nothing may be allocated in `range` any more.
    pub(crate) fn isolate(&mut self, range: Range<Pfn>) {
        self.isolated.push(range);
    }

    /// True if `pfn` lies in a range isolated for an offline (nothing may be allocated there).
    pub fn is_isolated(&self, pfn: Pfn) -> bool {
        self.isolated.iter().any(|r| r.contains(&pfn))
    }

    /// `undo_isolate_page_range()`.
    pub(crate) fn unisolate(&mut self, range: &Range<Pfn>) {
        if let Some(at) = self.isolated.iter().position(|r| r == range) {
            self.isolated.remove(at);
        }
    }

    fn set_state(&mut self, range: &Range<Pfn>, state: FrameState) {
        for frame in &mut self.frames[range.clone()] {
            frame.state = state;
        }
    }

    /// After an accepted `MEM_GOING_OFFLINE`: the struct pages may vanish from now on.
    pub(crate) fn start_offlining(&mut self, range: &Range<Pfn>) {
        self.set_state(range, FrameState::Offlining);
    }

    /// `do_migrate_range()`: moves every used page out of `range` to a free frame elsewhere;
    /// a KSM page's node follows it (`ksm_migrate_page()` updates `kpfn`). False if there was
    /// no room.
    pub(crate) fn migrate_out(&mut self, range: &Range<Pfn>) -> bool {
        for pfn in range.clone() {
            let content = self.frames[pfn].content;
            if content == Content::Free {
                continue;
            }
            let target = (0..self.frames.len()).find(|&t| {
                !range.contains(&t)
                    && !self.isolated.iter().any(|r| r.contains(&t))
                    && self.frames[t].state == FrameState::Present
                    && self.frames[t].content == Content::Free
            });
            let Some(target) = target else {
                return false;
            };
            self.frames[target].content = content;
            self.frames[pfn].content = Content::Free;
            if let Content::Ksm(id) = content {
                if let Some(node) = self.stable.iter_mut().find(|n| n.id == id) {
                    node.kpfn = target;
                }
            }
        }
        true
    }

    /// `offline_isolated_pages()` and beyond: the range's struct pages are gone.
    pub(crate) fn finish_offline(&mut self, range: &Range<Pfn>) {
        self.set_state(range, FrameState::Absent);
        for frame in &mut self.frames[range.clone()] {
            frame.content = Content::Free;
        }
        self.unisolate(range);
    }

    /// The failure path, once the offline has given up: the pages never left, so their
    /// struct pages stay. (The range stays isolated until `MEM_CANCEL_OFFLINE` has been sent:
    /// see [`unisolate`](Self::unisolate).)
    pub(crate) fn abort_offlining(&mut self, range: &Range<Pfn>) {
        self.set_state(range, FrameState::Present);
    }

    /// `online_pages()`: fresh, free frames.
    pub(crate) fn online(&mut self, range: &Range<Pfn>) {
        for frame in &mut self.frames[range.clone()] {
            *frame = Frame {
                state: FrameState::Present,
                content: Content::Free,
            };
        }
    }

    /// `ksm_check_stable_tree()`: removes every node whose `kpfn` is in `range`, without
    /// looking at the frames. Returns how many.
    pub(crate) fn prune(&mut self, range: &Range<Pfn>) -> usize {
        let before = self.stable.len();
        self.stable.retain(|node| !range.contains(&node.kpfn));
        before - self.stable.len()
    }

    /// What `get_ksm_page()` on the `index`-th node finds.
    pub(crate) fn keyhole(&self, index: usize) -> Keyhole {
        let node = self.stable[index];
        let frame = self.frames[node.kpfn];
        if frame.state != FrameState::Present {
            Keyhole::Gone(frame.state)
        } else if frame.content == Content::Ksm(node.id) {
            Keyhole::Live
        } else {
            Keyhole::Stale
        }
    }

    /// `remove_node_from_stable_tree()`.
    pub(crate) fn remove_node(&mut self, index: usize) {
        self.stable.remove(index);
    }

    /// The next ordinary anonymous page ksmd's scan reaches (round robin over the memmap),
    /// if any. Pages in isolated or offlining ranges are skipped.
    pub(crate) fn next_candidate(&mut self) -> Option<Pfn> {
        let n = self.frames.len();
        for step in 0..n {
            let pfn = (self.cursor + step) % n;
            let frame = self.frames[pfn];
            if frame.content == Content::Anon
                && frame.state == FrameState::Present
                && !self.isolated.iter().any(|r| r.contains(&pfn))
            {
                self.cursor = (pfn + 1) % n;
                return Some(pfn);
            }
        }
        None
    }

    /// Merges the anonymous page at `pfn` into a new KSM page (`stable_tree_insert()`).
    pub(crate) fn merge(&mut self, pfn: Pfn) -> NodeId {
        let id = self.new_node(pfn);
        self.frames[pfn].content = Content::Ksm(id);
        id
    }

    /// Breaks the KSM page of the `index`-th node back into an anonymous page and removes the
    /// node (what unmerging does to each rmap item's node).
    pub(crate) fn unmerge_node(&mut self, index: usize) {
        let node = self.stable.remove(index);
        let frame = &mut self.frames[node.kpfn];
        if frame.content == Content::Ksm(node.id) {
            frame.content = Content::Anon;
        }
    }
}
