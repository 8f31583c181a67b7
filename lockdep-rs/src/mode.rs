//! The validator's run-time settings: what it does when it finds a problem (the mode, set at
//! run time or by `LOCKDEP`), whether gated cycles are ignored, whether edges keep stack
//! traces. Settings only: acting on them (printing, panicking) is the report sink's job.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What happens when the validator finds a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Panic on the thread that found the problem, with the report as the message. The lock
    /// is not taken.
    Panic,
    /// Print the report to stderr once per distinct problem and keep running (the default).
    Warn,
    /// Keep reports for [`take_reports`](crate::take_reports); print nothing.
    Collect,
    /// No checks at all: locks behave like plain parking_lot locks.
    Off,
}

/// The `LOCKDEP` value could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LOCKDEP={0:?} is not a lockdep mode: expected one of panic, warn, collect, off")]
pub struct ParseModeError(pub String);

impl FromStr for Mode {
    type Err = ParseModeError;
    fn from_str(s: &str) -> Result<Mode, ParseModeError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "panic" => Ok(Mode::Panic),
            "warn" | "" => Ok(Mode::Warn),
            "collect" => Ok(Mode::Collect),
            "off" => Ok(Mode::Off),
            _ => Err(ParseModeError(s.to_string())),
        }
    }
}

const UNSET: u8 = u8::MAX;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

fn encode(m: Mode) -> u8 {
    match m {
        Mode::Panic => 0,
        Mode::Warn => 1,
        Mode::Collect => 2,
        Mode::Off => 3,
    }
}

fn decode(v: u8) -> Mode {
    match v {
        0 => Mode::Panic,
        1 => Mode::Warn,
        2 => Mode::Collect,
        _ => Mode::Off,
    }
}

/// Sets the mode for the whole process (overrides `LOCKDEP`).
pub fn set_mode(mode: Mode) {
    MODE.store(encode(mode), Ordering::Relaxed);
    // Every thread's fast path (which checks no mode) misses until its slow path has seen it.
    #[cfg(lockdep_enabled)]
    crate::stamp::bump();
}

/// The current mode: `LOCKDEP=panic|warn|collect|off` at first use, `Warn` if unset. An
/// unknown value means `Warn` and is reported by the validator at its first use.
#[inline]
pub fn mode() -> Mode {
    let v = MODE.load(Ordering::Relaxed);
    if v != UNSET {
        return decode(v);
    }
    init_from_env()
}

/// The unknown `LOCKDEP` value, if there was one: the validator reports it once.
static ENV_ERROR: std::sync::Mutex<Option<ParseModeError>> = std::sync::Mutex::new(None);

#[cold]
fn init_from_env() -> Mode {
    let m = match std::env::var("LOCKDEP") {
        Ok(s) => s.parse().unwrap_or_else(|e: ParseModeError| {
            if let Ok(mut slot) = ENV_ERROR.lock() {
                *slot = Some(e);
            }
            Mode::Warn
        }),
        Err(_) => Mode::Warn,
    };
    let _ = MODE.compare_exchange(UNSET, encode(m), Ordering::Relaxed, Ordering::Relaxed);
    decode(MODE.load(Ordering::Relaxed))
}

/// Takes the error of an unknown `LOCKDEP` value (once).
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) fn take_env_error() -> Option<ParseModeError> {
    let _ = mode();
    ENV_ERROR.lock().ok().and_then(|mut slot| slot.take())
}

/// Whether new edges capture a stack trace (`LOCKDEP_BACKTRACE=0` turns them off).
#[cfg(lockdep_enabled)]
pub(crate) fn backtraces_enabled() -> bool {
    static BT: once_cell::sync::Lazy<bool> = once_cell::sync::Lazy::new(|| {
        std::env::var("LOCKDEP_BACKTRACE").map_or(true, |v| v != "0")
    });
    *BT
}

static IGNORE_GATED: AtomicBool = AtomicBool::new(false);

/// Sets whether gated cycles are ignored; returns the previous setting.
pub(crate) fn set_ignoring_gated(ignore: bool) -> bool {
    IGNORE_GATED.swap(ignore, Ordering::Relaxed)
}

/// Are gated cycles ignored (`set_ignore_gated(true)` or `LOCKDEP_GATED=ignore`)?
#[cfg(lockdep_enabled)]
pub(crate) fn ignoring_gated() -> bool {
    static FROM_ENV: once_cell::sync::Lazy<bool> =
        once_cell::sync::Lazy::new(|| std::env::var("LOCKDEP_GATED").is_ok_and(|v| v == "ignore"));
    IGNORE_GATED.load(Ordering::Relaxed) || *FROM_ENV
}

/// Is the lenient class policy on? Then every site class (`Mutex::new`) lets two of its
/// distinct locks nest without an annotation, their order validated per instance: for code
/// written against parking_lot or std, switched over unchanged, whose constructor wrappers
/// make many locks one class. On with the `drop-in` feature or `LOCKDEP_CLASSES=lenient`;
/// `LOCKDEP_CLASSES=strict` (the kernel's rule, and the default) turns it off.
#[cfg(lockdep_enabled)]
pub(crate) fn lenient_sites() -> bool {
    static LENIENT: once_cell::sync::Lazy<bool> =
        once_cell::sync::Lazy::new(|| match std::env::var("LOCKDEP_CLASSES").as_deref() {
            Ok("lenient") => true,
            Ok("strict") => false,
            _ => cfg!(feature = "drop-in"),
        });
    *LENIENT
}

/// How long an acquisition whose order has known problems waits for its lock before it gives
/// up with a panic (`LOCKDEP_DEADLOCK_TIMEOUT`, seconds, default 10; `0`: wait for ever).
#[cfg(all(lockdep_enabled, not(loom)))]
pub(crate) fn deadlock_timeout() -> Option<std::time::Duration> {
    static LIMIT: once_cell::sync::Lazy<Option<std::time::Duration>> =
        once_cell::sync::Lazy::new(|| {
            let secs = std::env::var("LOCKDEP_DEADLOCK_TIMEOUT")
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(10.0);
            (secs > 0.0).then(|| std::time::Duration::from_secs_f64(secs))
        });
    *LIMIT
}
