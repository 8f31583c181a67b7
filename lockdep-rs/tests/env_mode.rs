//! The `LOCKDEP` environment variable sets the initial mode (each case in a child process,
//! since the mode is read once per process).
#![cfg(lockdep_enabled)]

use std::process::Command;

use lockdep::{Mode, Mutex, ReportKind};

const CHILD: &str = "LOCKDEP_ENV_MODE_CHILD";

/// In the child: print the mode lockdep started in, then raise one inversion.
#[test]
fn child_reports_its_mode() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    println!("MODE {:?}", lockdep::mode());
    let (a, b) = (Mutex::named("envA", ()), Mutex::named("envB", ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _b = b.lock();
        let _a = a.lock();
    }));
    let kept = lockdep::take_reports();
    println!("PANICKED {} KEPT {}", r.is_err(), kept.len());
    if let Some(k) = kept.first() {
        assert_eq!(k.kind(), ReportKind::CircularDependency);
    }
}

fn run_child(value: &str) -> (String, String) {
    let (stdout, stderr, _) = run_child_status(value);
    (stdout, stderr)
}

fn run_child_status(value: &str) -> (String, String, Option<i32>) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reports_its_mode",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("LOCKDEP", value)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn lockdep_variable_sets_the_initial_mode() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    for (value, mode, panicked, kept) in [
        ("panic", Mode::Panic, true, 1),
        ("warn", Mode::Warn, false, 1),
        ("collect", Mode::Collect, false, 1),
        ("off", Mode::Off, false, 0),
        ("COLLECT", Mode::Collect, false, 1),
    ] {
        let (stdout, stderr) = run_child(value);
        assert!(
            stdout.contains(&format!("MODE {mode:?}")),
            "LOCKDEP={value}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!("PANICKED {panicked} KEPT {kept}")),
            "LOCKDEP={value}: {stdout}\n{stderr}"
        );
        let printed = stderr.contains("WARNING: possible circular locking dependency detected");
        assert_eq!(
            printed,
            matches!(mode, Mode::Warn | Mode::Panic),
            "LOCKDEP={value}: {stderr}"
        );
    }
}

/// An unknown value (a typo, or `1` / `true` / `false`, which name no mode) cannot be missed:
/// it is printed on the real stderr at once, listing the valid values, and fails the run
/// (exit status 101) even though everything else passed; meanwhile lockdep warns.
#[test]
fn an_unknown_value_fails_the_run_and_lists_the_modes() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    for value in ["panik", "1", "true", "false"] {
        let (stdout, stderr, status) = run_child_status(value);
        assert!(stdout.contains("MODE Warn"), "{stdout}");
        let expected = format!(
            "LOCKDEP={value:?} is not a lockdep mode: expected one of panic, warn, collect, off"
        );
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(
            stderr.contains("1 problem was reported in this run"),
            "{stderr}"
        );
        // The hint is about the setting, not about lock orders there are none of.
        assert!(
            stderr.contains("lockdep: fix the setting named above.\n"),
            "{stderr}"
        );
        assert!(!stderr.contains("fix the order"), "{stderr}");
        assert_eq!(status, Some(101), "LOCKDEP={value}: {stderr}");
    }
    // A valid value whose reports the program took itself passes.
    let (_, stderr, status) = run_child_status("warn");
    assert_eq!(status, Some(0), "{stderr}");
}

#[test]
fn modes_parse_from_strings() {
    assert_eq!("panic".parse::<Mode>(), Ok(Mode::Panic));
    assert_eq!(" Off ".parse::<Mode>(), Ok(Mode::Off));
    assert!("sometimes".parse::<Mode>().is_err());
}

const UNNAMED_CHILD: &str = "LOCKDEP_ENV_MODE_UNNAMED_CHILD";

/// In the child: an inversion found on a thread started with std, unnamed.
#[test]
fn child_inversion_on_an_unnamed_thread() {
    if std::env::var_os(UNNAMED_CHILD).is_none() {
        return;
    }
    let (a, b) = (Mutex::named("unnamedA", ()), Mutex::named("unnamedB", ()));
    std::thread::scope(|s| {
        s.spawn(|| {
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            let _b = b.lock();
            let _a = a.lock();
        });
    });
}

/// The run's summary cannot name a test for a thread started with std (it has no name): it
/// says so and how to get the name, instead of "found by thread `<unnamed>`".
#[test]
fn the_summary_says_how_to_name_an_unnamed_finder() {
    if std::env::var_os(CHILD).is_some() || std::env::var_os(UNNAMED_CHILD).is_some() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_inversion_on_an_unnamed_thread",
            "--test-threads=1",
        ])
        .env(UNNAMED_CHILD, "1")
        .env("LOCKDEP", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    // (and where: see tests/summary_names_the_finder.rs)
    assert!(
        stderr.contains(
            "unnamedA, unnamedB (found by an unnamed thread: name it, or start it with \
             `lockdep::thread::spawn`, which names it after its test; found at "
        ) || stderr.contains(
            "unnamedB, unnamedA (found by an unnamed thread: name it, or start it with \
             `lockdep::thread::spawn`, which names it after its test; found at "
        ),
        "{stderr}"
    );
}

const SET_FIRST_CHILD: &str = "LOCKDEP_ENV_SET_FIRST_CHILD";

/// In the child: set the mode before any lock is used, then take one.
#[test]
fn child_sets_the_mode_before_any_lock() {
    if std::env::var_os(SET_FIRST_CHILD).is_none() {
        return;
    }
    lockdep::set_mode(Mode::Collect);
    drop(Mutex::named("envSetFirst", ()).lock());
    println!("MODE {:?}", lockdep::mode());
}

/// A program that sets the mode itself before its first lock still has an unknown `LOCKDEP`
/// value reported, failing the run, as one that leaves the mode to the variable. (Before, the
/// variable was read only when the mode was first asked for while unset: `set_mode` first
/// meant it was never read, and the typo went unnoticed.)
#[test]
fn an_unknown_value_is_reported_when_the_program_sets_the_mode_first() {
    if std::env::var_os(CHILD).is_some() || std::env::var_os(SET_FIRST_CHILD).is_some() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_sets_the_mode_before_any_lock",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SET_FIRST_CHILD, "1")
        .env("LOCKDEP", "panik")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("MODE Collect"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "LOCKDEP=\"panik\" is not a lockdep mode: expected one of panic, warn, collect, off"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("(the mode the program set applies)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 problem was reported in this run"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(101), "{stderr}");
}
