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

#[test]
fn an_unknown_value_means_warn_and_says_so() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (stdout, stderr) = run_child("loud");
    assert!(stdout.contains("MODE Warn"), "{stdout}");
    assert!(stderr.contains("unknown lockdep mode \"loud\""), "{stderr}");
}

#[test]
fn modes_parse_from_strings() {
    assert_eq!("panic".parse::<Mode>(), Ok(Mode::Panic));
    assert_eq!(" Off ".parse::<Mode>(), Ok(Mode::Off));
    assert!("sometimes".parse::<Mode>().is_err());
}
