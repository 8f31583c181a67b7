//! Stack traces: captured unresolved (instruction pointers only) when an edge is first
//! recorded or a problem is found, resolved to symbols only when a report is printed, and
//! trimmed to the user's frames (no lockdep, std runtime or test-harness frames); and where
//! an edge was first recorded (its trace, both sites, the thread).

#[cfg(lockdep_enabled)]
use std::panic::Location;
use std::sync::Arc;

/// A captured stack trace, cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Trace(Option<Arc<Inner>>);

#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
struct Inner {
    ips: Box<[usize]>,
    #[cfg(lockdep_enabled)]
    resolved: once_cell::sync::OnceCell<Vec<String>>,
}

/// Deepest stack captured.
#[cfg(lockdep_enabled)]
const MAX_FRAMES: usize = 48;

impl Trace {
    /// Captures the current stack, unresolved. Off when `LOCKDEP_BACKTRACE=0`.
    #[cfg(lockdep_enabled)]
    pub(crate) fn capture() -> Trace {
        if !crate::mode::backtraces_enabled() {
            return Trace(None);
        }
        let mut ips = Vec::with_capacity(MAX_FRAMES);
        backtrace::trace(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < MAX_FRAMES
        });
        Trace(Some(Arc::new(Inner {
            ips: ips.into_boxed_slice(),
            resolved: Default::default(),
        })))
    }

    /// The user's frames, as `function (file:line)` lines, resolved on first use.
    pub(crate) fn frames(&self) -> &[String] {
        match &self.0 {
            #[cfg(lockdep_enabled)]
            Some(inner) => inner.resolved.get_or_init(|| resolve(&inner.ips)),
            _ => &[],
        }
    }
}

/// Functions under these paths are the validator's, the standard library's or the test
/// harness's (matched as whole path segments: `mainframe::run` is a user's function).
#[cfg(lockdep_enabled)]
const HIDDEN_PATHS: &[&str] = &[
    "lockdep",
    "backtrace",
    "std",
    "core",
    "alloc",
    "parking_lot",
    "parking_lot_core",
    "lock_api",
    "test",
    // The async runtime's scheduler frames (feature `tokio`): between every task's poll and
    // the worker thread's start.
    "tokio",
];

/// Runtime entry points and shims, matched exactly.
#[cfg(lockdep_enabled)]
const HIDDEN_NAMES: &[&str] = &[
    "main",
    "clone",
    "clone3",
    "start_thread",
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "<unknown>",
];

/// Is a frame of the function `name` (demangled, without hash) one to leave out?
#[cfg(lockdep_enabled)]
pub(crate) fn is_hidden(name: &str) -> bool {
    if HIDDEN_NAMES.contains(&name) || name.starts_with("__rust") || name.starts_with("__libc_") {
        return true;
    }
    // `<T as Trait>::f` belongs to the crate of the type `T` (`<F as FnOnce>` shims: `F` is
    // std's or the caller's closure type; the closure's own frame follows).
    let path = name.strip_prefix('<').unwrap_or(name);
    if path.starts_with("F as ") {
        return true;
    }
    let first = path.split("::").next().unwrap_or(path);
    HIDDEN_PATHS.contains(&first)
}

#[cfg(lockdep_enabled)]
fn resolve(ips: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &ip in ips {
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "<unknown>".into());
            // The standard library's sources (whatever its functions are called).
            let in_std = sym.filename().is_some_and(|f| f.starts_with("/rustc/"));
            if in_std || is_hidden(&name) {
                return;
            }
            let line = match (sym.filename(), sym.lineno()) {
                (Some(file), Some(line)) => format!("{name} ({}:{line})", short_path(file)),
                _ => name,
            };
            if out.last() != Some(&line) {
                out.push(line);
            }
        });
    }
    out
}

/// Shows a path relative to the current directory when it lies below it.
#[cfg(lockdep_enabled)]
fn short_path(file: &std::path::Path) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(rel) = file.strip_prefix(&cwd) {
            return rel.display().to_string();
        }
    }
    file.display().to_string()
}

/// Where an edge was first recorded.
#[cfg(lockdep_enabled)]
pub(crate) struct EdgeOrigin {
    pub(crate) trace: Trace,
    /// Where the held lock (the edge's source) had been taken.
    pub(crate) prev_site: &'static Location<'static>,
    /// Where the new lock (the edge's target) was taken.
    pub(crate) next_site: &'static Location<'static>,
    pub(crate) thread: String,
}

#[cfg(all(test, lockdep_enabled))]
mod tests {
    use super::is_hidden;

    /// Whole path segments and exact names: a user's crate whose name merely starts like a
    /// hidden one (`main`, `clone`, `test`, `std`) keeps its frames.
    #[test]
    fn hides_runtime_frames_and_only_those() {
        for hidden in [
            "main",
            "clone",
            "std::rt::lang_start",
            "<std::thread::Builder>::spawn",
            "core::ops::function::FnOnce::call_once",
            "lockdep::validator::acquire",
            "<lockdep::mutex::Mutex<T>>::lock",
            "parking_lot::raw_mutex::RawMutex::lock_slow",
            "test::run_test",
            "tokio::runtime::task::raw::poll",
            "__rust_begin_short_backtrace",
            "<F as core::ops::function::FnOnce<A>>::call_once",
        ] {
            assert!(is_hidden(hidden), "{hidden}");
        }
        for shown in [
            "mainframe::run",
            "main_loop::tick",
            "clone_store::get",
            "cloned::x",
            "testing_utils::setup",
            "tokio_app::serve",
            "stdx::thing",
            "lockdep_helpers::wrap",
            "my_app::main",
            "<my_app::Pool as core::ops::drop::Drop>::drop",
        ] {
            assert!(!is_hidden(shown), "{shown}");
        }
    }
}
