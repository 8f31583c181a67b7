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
    // `LOCKDEP` is read first all the same, so that an unknown value is reported (and fails
    // the run) as it is when the program leaves the mode to it.
    if MODE.load(Ordering::Relaxed) == UNSET {
        let _ = init_from_env();
    }
    SET_BY_PROGRAM.store(true, Ordering::Relaxed);
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

/// Has the program set the mode ([`set_mode`]), over what `LOCKDEP` says?
static SET_BY_PROGRAM: AtomicBool = AtomicBool::new(false);

/// Has the program set the mode itself (then an unknown `LOCKDEP` value is reported without
/// "using warn meanwhile": the program's mode applies)?
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) fn set_by_program() -> bool {
    SET_BY_PROGRAM.load(Ordering::Relaxed)
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
        setting("LOCKDEP_BACKTRACE", parse_backtrace).unwrap_or(true)
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
        once_cell::sync::Lazy::new(|| setting("LOCKDEP_GATED", parse_gated).unwrap_or(false));
    IGNORE_GATED.load(Ordering::Relaxed) || *FROM_ENV
}

/// Is the lenient class policy on? Then every site class (`Mutex::new`) lets two of its
/// distinct locks nest without an annotation, their order validated per instance: for code
/// written against parking_lot or std, switched over unchanged, whose constructor wrappers
/// make many locks one class. On with the `drop-in` feature or `LOCKDEP_CLASSES=lenient`;
/// `LOCKDEP_CLASSES=strict` (the kernel's rule, and the default) turns it off.
#[cfg(lockdep_enabled)]
pub(crate) fn lenient_sites() -> bool {
    static LENIENT: once_cell::sync::Lazy<bool> = once_cell::sync::Lazy::new(|| {
        setting("LOCKDEP_CLASSES", parse_classes).unwrap_or(cfg!(feature = "drop-in"))
    });
    *LENIENT
}

/// How long an acquisition whose order has known problems waits for its lock before it gives
/// up with a panic (`LOCKDEP_DEADLOCK_TIMEOUT`, seconds, default 10; `0`: wait for ever).
#[cfg(all(lockdep_enabled, not(loom)))]
pub(crate) fn deadlock_timeout() -> Option<std::time::Duration> {
    static LIMIT: once_cell::sync::Lazy<Option<std::time::Duration>> =
        once_cell::sync::Lazy::new(|| {
            setting("LOCKDEP_DEADLOCK_TIMEOUT", parse_timeout)
                .unwrap_or(Some(std::time::Duration::from_secs(10)))
        });
    *LIMIT
}

/// The value of the setting `var` as `parse` reads it; `None` if it is unset or empty, or not
/// a value `parse` knows (then [`setting_errors`] names it, and the default is used).
#[cfg(lockdep_enabled)]
fn setting<T>(var: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| parse(v.trim()))
}

/// `LOCKDEP_CLASSES`: lenient?
#[cfg(lockdep_enabled)]
fn parse_classes(v: &str) -> Option<bool> {
    match v {
        "lenient" => Some(true),
        "strict" => Some(false),
        _ => None,
    }
}

/// `LOCKDEP_GATED`: ignore gated cycles?
#[cfg(lockdep_enabled)]
fn parse_gated(v: &str) -> Option<bool> {
    (v == "ignore").then_some(true)
}

/// `LOCKDEP_BACKTRACE`: stack traces for new edges?
#[cfg(lockdep_enabled)]
fn parse_backtrace(v: &str) -> Option<bool> {
    match v {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// `LOCKDEP_DEADLOCK_TIMEOUT`: seconds, `None` for ever (`0`, or more than a `Duration` holds).
#[cfg(lockdep_enabled)]
fn parse_timeout(v: &str) -> Option<Option<std::time::Duration>> {
    let secs: f64 = v.parse().ok()?;
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(
        (secs > 0.0)
            .then(|| std::time::Duration::try_from_secs_f64(secs).ok())
            .flatten(),
    )
}

/// The settings besides `LOCKDEP` set to a value their parser does not know, each as the line
/// that reports it (once, at the validator's first use: printed, and it fails the run, as an
/// unknown `LOCKDEP` does).
#[cfg(lockdep_enabled)]
pub(crate) fn setting_errors() -> Vec<String> {
    fn check<T>(
        var: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
        meanwhile: &str,
    ) -> Option<String> {
        let value = std::env::var(var).ok()?;
        if value.trim().is_empty() || parse(value.trim()).is_some() {
            return None;
        }
        Some(format!(
            "lockdep: {var}={value:?} is not a value of {var}: expected {expected} (using \
             {meanwhile} meanwhile)"
        ))
    }
    let policy = if cfg!(feature = "drop-in") {
        "lenient"
    } else {
        "strict"
    };
    [
        check(
            "LOCKDEP_CLASSES",
            parse_classes,
            "strict or lenient",
            policy,
        ),
        check(
            "LOCKDEP_GATED",
            parse_gated,
            "ignore",
            "reporting gated cycles",
        ),
        check("LOCKDEP_BACKTRACE", parse_backtrace, "0 or 1", "1"),
        check(
            "LOCKDEP_DEADLOCK_TIMEOUT",
            parse_timeout,
            "a number of seconds, 0 for ever",
            "10",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
