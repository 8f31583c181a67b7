//! Reports: what the validator found, in a form tests can inspect and people can read.
//!
//! A [`Report`] is cheap to clone (shared data). Its `Display` is a kernel-style splat (see
//! `render.rs`); its accessors give the kind and the classes involved. Routing reports to the
//! mode's action, `capture` buffers, the hook and the dedupe sets is `sink.rs`.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

#[cfg(lockdep_enabled)]
pub(crate) mod build;
#[cfg(lockdep_enabled)]
pub(crate) mod capture;
pub(crate) mod dot;
#[cfg(lockdep_enabled)]
pub(crate) mod exit_status;
mod render;
#[cfg(lockdep_tasks)]
pub(crate) mod runtime_capture;
#[cfg(lockdep_enabled)]
pub(crate) mod sink;
#[cfg(lockdep_enabled)]
mod site_hint;

use crate::trace::Trace;

/// The name of a `lockdep::thread`'s exit event (its reports explain what a join waits for).
pub(crate) const THREAD_EXIT: &str = "(thread exit)";

/// What kind of problem a [`Report`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportKind {
    /// "possible circular locking dependency detected": this acquisition closes a cycle in the
    /// lock-order graph (a strong cycle: some interleaving deadlocks).
    CircularDependency,
    /// "possible recursive locking detected": a lock of a class this thread already holds.
    RecursiveLocking,
    /// "bad unlock balance detected": releasing a lock this thread does not hold.
    BadUnlockBalance,
    /// "held lock freed": a lock dropped while this thread holds it, or while another thread
    /// or task holds it (the report says so).
    HeldLockFreed,
    /// "Nested lock was not taken": `lock_nest_lock` without holding the nest lock.
    NestLockNotHeld,
    /// A thread exited while still holding locks (leaked guards).
    LocksHeldAtExit,
    /// A subclass outside `0..=7` was asked for; the acquisition is not tracked.
    InvalidSubclass,
    /// A cycle through an event ([`Event`](crate::Event)): a thread waits for the event while
    /// holding a lock that the thread which will signal it must take first.
    CircularWait,
    /// Two (or more) locks of one class, held together through a subclass (`lock_nested`), a
    /// nest lock or a lenient class (built by `Default`), taken in both orders: the class
    /// check cannot see it (both ends are one class), the instance order can.
    InstanceInversion,
    /// A blocking (sync) lock held by a tokio task — or by a thread's `block_on` future —
    /// while it is suspended at an `.await` (feature `tokio`): every other task that needs the
    /// lock blocks its worker thread, and a task of the same current-thread runtime or
    /// `LocalSet` that takes it deadlocks.
    HeldAcrossAwait,
}

impl ReportKind {
    /// The kernel-style title line of this kind of report.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::CircularDependency => {
                "WARNING: possible circular locking dependency detected"
            }
            ReportKind::RecursiveLocking => "WARNING: possible recursive locking detected",
            ReportKind::BadUnlockBalance => "WARNING: bad unlock balance detected!",
            ReportKind::HeldLockFreed => "WARNING: held lock freed!",
            ReportKind::NestLockNotHeld => "WARNING: Nested lock was not taken",
            ReportKind::LocksHeldAtExit => "WARNING: thread still has locks held at exit!",
            ReportKind::InvalidSubclass => "BUG: looking up invalid subclass",
            ReportKind::CircularWait => {
                "WARNING: possible deadlock: a waiter holds a lock its waker needs"
            }
            ReportKind::InstanceInversion => {
                "WARNING: possible deadlock: two locks of one class taken in both orders"
            }
            ReportKind::HeldAcrossAwait => "WARNING: blocking lock held across an await point",
        }
    }
}

/// One lock as a report shows it.
#[derive(Clone, Debug)]
pub(crate) struct LockLine {
    pub(crate) class: String,
    /// Kernel read value: 0 exclusive, 1 shared, 2 recursive shared.
    pub(crate) read: u8,
    pub(crate) instance: usize,
    pub(crate) site: &'static Location<'static>,
}

/// One link `-> #k (class)` of a dependency chain.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) class: String,
    /// What this link records, e.g. "taken at a.rs:3 while holding B (taken at a.rs:2), thread t/1".
    pub(crate) what: String,
    pub(crate) trace: Trace,
}

/// Everything a report carries.
#[derive(Clone)]
pub(crate) struct ReportData {
    pub(crate) kind: ReportKind,
    /// `name/id` of the thread that found the problem; with the `tokio` feature, inside a
    /// task: `task <id> (spawned at ..) on name/id`.
    pub(crate) thread: String,
    /// `task <id>` (and where it was spawned, if known) when the holder is a tokio task.
    pub(crate) task: Option<String>,
    /// The lock being acquired (or released, or freed).
    pub(crate) acquiring: Option<LockLine>,
    /// The held lock the problem is with.
    pub(crate) holding: Option<LockLine>,
    /// The existing dependency chain, printed order (`#N` first, `#0` last).
    pub(crate) chain: Vec<Link>,
    /// For cycles: the class next to the held lock on the path (CPU1's first lock).
    pub(crate) middle: Option<String>,
    /// The thread's held locks, bottom first.
    pub(crate) held: Vec<LockLine>,
    pub(crate) stack: Trace,
    pub(crate) class_names: Vec<String>,
    pub(crate) gates: Vec<String>,
    /// For cycles: every edge (from, to, dependency types), the closing edge first.
    pub(crate) cycle: Vec<(String, String, String)>,
    /// Extra explanatory lines.
    pub(crate) notes: Vec<String>,
    /// For bad unlocks and frees: where it happened.
    pub(crate) at: Option<&'static Location<'static>>,
    /// For recursive locking: the very instance is held (no annotation can help).
    pub(crate) same_instance: bool,
    /// Who holds the held lock, when it is not the acquiring holder (a blocking acquisition
    /// of a lock that another holder of this thread holds, suspended): "but <this> is
    /// already holding lock".
    pub(crate) held_by: Option<String>,
    /// The problem's dedupe key (one per distinct problem; `capture_async` merges by it).
    #[cfg_attr(not(lockdep_tasks), allow(dead_code))]
    pub(crate) key: u64,
}

/// A problem found by the validator.
///
/// `Display` prints a kernel-style report ("splat"); [`kind`](Report::kind) and
/// [`class_names`](Report::class_names) let tests assert exactly what was found.
#[derive(Clone)]
pub struct Report(pub(crate) Arc<ReportData>);

impl Report {
    /// What kind of problem this is.
    pub fn kind(&self) -> ReportKind {
        self.0.kind
    }

    /// Every class involved, subclasses as `name/n`, without duplicates: for a cycle the
    /// classes of the cycle (the lock being acquired first), for recursive locking the new and
    /// the held lock, for an unlock or a free the lock concerned.
    pub fn class_names(&self) -> Vec<String> {
        self.0.class_names.clone()
    }

    /// The class of the lock being acquired (or released, or freed).
    pub fn acquiring(&self) -> Option<String> {
        self.0.acquiring.as_ref().map(|l| l.class.clone())
    }

    /// The class of the held lock the problem is with: for a cycle, the held lock that closes
    /// it; for recursive locking, the held lock of the same class.
    pub fn holding(&self) -> Option<String> {
        self.0.holding.as_ref().map(|l| l.class.clone())
    }

    /// Classes of the locks the thread held when the problem was found, bottom first.
    pub fn held_locks(&self) -> Vec<String> {
        self.0.held.iter().map(|l| l.class.clone()).collect()
    }

    /// For a cycle: the exclusive lock instances held across every edge of the cycle. If this
    /// is not empty, the two sides of the cycle cannot run at the same time, and the report is
    /// likely a false positive (see the splat's explanation).
    pub fn gates(&self) -> Vec<String> {
        self.0.gates.clone()
    }

    /// Who found the problem: `name/id` of the thread; with the `tokio` feature, inside a task,
    /// `task <id> (spawned at <site>) on name/id` (the site when the task was spawned with
    /// `lockdep::tokio::spawn`). For [`ReportKind::HeldAcrossAwait`], the suspended holder.
    pub fn thread(&self) -> &str {
        &self.0.thread
    }

    /// The tokio task the report is about (`task <id>`, with `(spawned at <site>)` when known),
    /// or `None` when the holder is a thread (always without the `tokio` feature).
    pub fn task(&self) -> Option<&str> {
        self.0.task.as_deref()
    }

    /// For a cycle: its edges as (from class, to class, dependency types), starting with the
    /// edge this acquisition closed. The types are the kernel's: a first letter for how the
    /// `from` lock was held (`E` exclusively, `S` shared), a second for how the `to` lock was
    /// taken (`R` as a recursive reader, `N` any other way), several joined by `|` (e.g.
    /// `EN|SR`). For an instance inversion the edges are lock instances (`lock#3`) and the
    /// types are empty.
    pub fn cycle(&self) -> Vec<(String, String, String)> {
        self.0.cycle.clone()
    }

    /// This report's cycle (empty graph for other kinds) in Graphviz DOT, edges in red.
    pub fn dot(&self) -> String {
        dot::cycle(&self.0.cycle, &self.0.gates, self.0.kind.title())
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("kind", &self.0.kind)
            .field("classes", &self.0.class_names)
            .field("thread", &self.0.thread)
            .finish()
    }
}

impl std::error::Error for Report {}

/// Writes to the process's real stderr, never panicking (a report must not fail because
/// stderr is closed). Not through `eprintln!`: `cargo test` captures that, and shows it only
/// for failing tests. Nor through std's `Stderr` lock: a report is printed while its thread
/// still holds the locks it took, and a thread holding stderr's lock (a logger writing a
/// record) may be waiting for one of them. The text goes to a duplicate of the stderr
/// descriptor (handle on Windows), taken per write so it follows a redirection of stderr;
/// where that fails, or elsewhere, through std's lock after all.
/// Two reports printed at once are not interleaved: lockdep's own lock serialises its writes
/// (nothing else is done under it).
#[cfg(lockdep_enabled)]
pub(crate) fn write_stderr(text: &str) {
    use std::io::Write as _;
    static PRINTING: crate::sync::internal::Mutex<()> = crate::sync::internal::Mutex::new();
    let _printing = PRINTING.lock();
    if let Some(mut file) = stderr_unlocked() {
        if file.write_all(text.as_bytes()).is_ok() {
            return;
        }
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A duplicate of the process's stderr, reached without std's `Stderr` lock.
#[cfg(all(lockdep_enabled, unix))]
fn stderr_unlocked() -> Option<std::fs::File> {
    use std::os::fd::AsFd as _;
    let owned = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    Some(std::fs::File::from(owned))
}

/// A duplicate of the process's stderr, reached without std's `Stderr` lock.
#[cfg(all(lockdep_enabled, windows))]
fn stderr_unlocked() -> Option<std::fs::File> {
    use std::os::windows::io::AsHandle as _;
    let owned = std::io::stderr().as_handle().try_clone_to_owned().ok()?;
    Some(std::fs::File::from(owned))
}

/// Elsewhere: none (std's lock is used).
#[cfg(all(lockdep_enabled, not(any(unix, windows))))]
fn stderr_unlocked() -> Option<std::fs::File> {
    None
}

/// Adds `name` to `names` unless present.
#[cfg(lockdep_enabled)]
pub(crate) fn push_unique(names: &mut Vec<String>, name: String) {
    if !names.contains(&name) {
        names.push(name);
    }
}

#[cfg(lockdep_enabled)]
crate::sync::thread_local! {
    /// For an unnamed thread started through `lockdep::thread`: the name of the thread that
    /// started it (a worker is shown as its test's).
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static STARTED_BY: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
}

/// The name the current thread is shown by: its own, or for an unnamed thread started through
/// `lockdep::thread`, `<starter>>worker` (so a test's workers name the test).
#[cfg(lockdep_enabled)]
pub(crate) fn thread_name() -> String {
    let t = std::thread::current();
    if let Some(name) = t.name() {
        return name.to_string();
    }
    STARTED_BY
        .try_with(|s| s.borrow().as_ref().map(|p| format!("{p}>worker")))
        .ok()
        .flatten()
        .unwrap_or_else(|| "<unnamed>".to_string())
}

/// Records which thread started the current one (`lockdep::thread`).
#[cfg(lockdep_enabled)]
pub(crate) fn set_started_by(starter: String) {
    let _ = STARTED_BY.try_with(|s| *s.borrow_mut() = Some(starter));
}

/// Who is acting, kernel `comm/pid` style: `name/id` of the current thread, or with the
/// `tokio` feature inside a task `task <id> (spawned at ..) on name/id`.
#[cfg(lockdep_enabled)]
pub(crate) fn thread_label() -> String {
    #[cfg(lockdep_tasks)]
    if let Some(task) = task_label() {
        return format!("{task} on {}", os_thread_label());
    }
    os_thread_label()
}

/// The task acting, `task <id> (spawned at ..)`, if any.
#[cfg(lockdep_enabled)]
pub(crate) fn task_label() -> Option<String> {
    #[cfg(lockdep_tasks)]
    return crate::holder::current_task().map(|id| crate::holder::task_label(Some(id)));
    #[cfg(not(lockdep_tasks))]
    None
}

/// `name/id` of the current thread.
#[cfg(lockdep_enabled)]
pub(crate) fn os_thread_label() -> String {
    let id = format!("{:?}", std::thread::current().id());
    let id = id.trim_start_matches("ThreadId(").trim_end_matches(')');
    format!("{}/{}", thread_name(), id)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::render(&self.0, f)
    }
}
