//! Stack traces: captured unresolved (instruction pointers only) when an edge is first
//! recorded or a problem is found, resolved to symbols only when a report is printed, and
//! trimmed to the user's frames (no lockdep, std runtime or test-harness frames).

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

/// Frames whose function belongs to these paths are the validator's or the runtime's.
#[cfg(lockdep_enabled)]
const HIDDEN: &[&str] = &[
    "lockdep::",
    "<lockdep::",
    "backtrace::",
    "std::",
    "<std::",
    "core::",
    "<core::",
    "alloc::",
    "<alloc::",
    "parking_lot",
    "<parking_lot",
    "lock_api",
    "<lock_api",
    "test::",
    "<test::",
    "__rust",
    "_start",
    "__libc",
    "start_thread",
    "clone",
    "main",
    "<F as",
    "<unknown>",
];

#[cfg(lockdep_enabled)]
fn resolve(ips: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &ip in ips {
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "<unknown>".into());
            let in_std = sym.filename().is_some_and(|f| {
                f.starts_with("/rustc/") || f.components().any(|c| c.as_os_str() == ".cargo")
            });
            if in_std || HIDDEN.iter().any(|h| name.starts_with(h)) {
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
