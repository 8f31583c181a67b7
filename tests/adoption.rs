//! A new user's first afternoon (issues 13 and 17): the crate in `fixtures/adoption`, outside
//! this workspace, adopts lockdep exactly as the README says and holds the idioms a user
//! writes. `cargo test` on it must fail exactly where there is a real problem (or a
//! kernel-rule report), with every report in the output — on the test's thread or on the
//! workers it started, without hanging — and pass the rest. A fresh dependent's lockfile must
//! not hold loom.
#![cfg(not(loom))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The output of one test binary of the fixture, from its `Running` line to the next.
struct Binary {
    name: String,
    text: String,
    failed: bool,
}

fn run_fixture() -> Vec<Binary> {
    let log_path = root().join("target/adoption-fixture.log");
    std::fs::create_dir_all(root().join("target")).unwrap();
    let log = std::fs::File::create(&log_path).unwrap();
    let status = cargo()
        .args(["test", "--offline", "--no-fail-fast", "--tests"])
        .current_dir(root().join("fixtures/adoption"))
        .env("CARGO_TARGET_DIR", root().join("target/adoption-fixture"))
        // A predicted deadlock that really happens gives up after 2 s instead of 10.
        .env("LOCKDEP_DEADLOCK_TIMEOUT", "2")
        .env_remove("LOCKDEP")
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the fixture holds real problems: cargo test must fail"
    );
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(!text.contains("error[E"), "the fixture must build:\n{text}");
    let mut binaries: Vec<Binary> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("Running tests/") {
            let name = rest.split(".rs").next().unwrap().to_string();
            binaries.push(Binary {
                name,
                text: String::new(),
                failed: false,
            });
            continue;
        }
        if let Some(b) = binaries.last_mut() {
            b.text.push_str(line);
            b.text.push('\n');
            if line.contains(&format!(
                "error: test failed, to rerun pass `--test {}`",
                b.name
            )) {
                b.failed = true;
            }
        }
    }
    binaries
}

#[test]
fn cargo_test_fails_exactly_where_the_problems_are() {
    let binaries = run_fixture();
    let failed: Vec<&str> = binaries
        .iter()
        .filter(|b| b.failed)
        .map(|b| b.name.as_str())
        .collect();
    let passed: Vec<&str> = binaries
        .iter()
        .filter(|b| !b.failed)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "ab_ba",
            "helper",
            "many",
            "placeholder",
            "transfer",
            "workers"
        ],
        "passed: {passed:?}"
    );
    assert_eq!(passed, ["default_struct", "one_line"]);
    let of = |name: &str| &binaries.iter().find(|b| b.name == name).unwrap().text;
    for b in binaries.iter().filter(|b| b.failed) {
        // Every report is in the output (the real stderr, not libtest's capture), and the
        // run's summary names the thread — the test — that found it (or, for a thread the
        // test started with std, says how to see it).
        assert!(b.text.contains("WARNING: "), "{}:\n{}", b.name, b.text);
        assert!(
            b.text.contains("problem was reported in this run"),
            "{}:\n{}",
            b.name,
            b.text
        );
        assert!(
            b.text.contains("(found by thread `")
                || b.text.contains(
                    "(found by an unnamed thread: name it, or start it with `lockdep::thread::spawn`"
                ),
            "{}:\n{}",
            b.name,
            b.text
        );
    }
    for name in ["default_struct", "one_line"] {
        assert!(!of(name).contains("lockdep"), "{name}:\n{}", of(name));
    }
    assert!(of("ab_ba").contains("possible circular locking dependency detected"));
    // The report names the other test, whose order it conflicts with.
    assert!(
        of("ab_ba").contains("thread a_then_b/")
            && of("ab_ba").contains("found by thread `b_then_a`")
            || of("ab_ba").contains("thread b_then_a/")
                && of("ab_ba").contains("found by thread `a_then_b`"),
        "{}",
        of("ab_ba")
    );
    // The helper's report names the helper and the one-line fix.
    assert!(of("helper").contains("possible recursive locking detected"));
    assert!(of("helper").contains("put `#[track_caller]` on `fn shared`"));
    assert!(of("transfer").contains("two locks of one class taken in both orders"));
    assert!(of("workers").contains("found by thread `workers_take_two_locks_in_opposite_orders"));
    // Many tests through one inversion: one report, naming the one test that found it.
    let reports = |name: &str| {
        of(name)
            .lines()
            .filter(|l| l.starts_with("WARNING: "))
            .count()
    };
    assert_eq!(reports("many"), 1, "{}", of("many"));
    assert!(of("many").contains("1 problem was reported in this run"));
    // The report found inside the cache's placeholder section did not hang its waiter: the
    // test itself passed, the run failed at its end.
    assert!(of("placeholder")
        .contains("test a_report_inside_a_placeholder_section_fails_without_hanging ... ok"));
}

/// Issue 17, §2 in Panic mode: one problem is one report per process; every later test that
/// reaches it is still stopped (the point of Panic mode: a second thread that went on could
/// really deadlock), with one line naming the problem and the test that found it, not the
/// report again.
#[test]
fn panic_mode_reports_once_and_names_the_first_finder_after() {
    let out = cargo()
        .args(["test", "--offline", "--test", "many"])
        .current_dir(root().join("fixtures/adoption"))
        .env("CARGO_TARGET_DIR", root().join("target/adoption-fixture"))
        .env("LOCKDEP", "panic")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 passed; 8 failed"), "{stdout}");
    let full = stdout
        .lines()
        .filter(|l| l.starts_with("WARNING: possible circular"))
        .count();
    assert_eq!(full, 1, "{stdout}");
    assert_eq!(
        stdout
            .matches("the same problem reported before by thread `t0")
            .count(),
        7,
        "{stdout}"
    );
}

/// Issue 17, §1: loom is behind lockdep's `loom` feature, so a dependent that does not ask for
/// it never has loom (or its ~48 packages) in its lockfile.
#[test]
fn a_fresh_dependents_lockfile_holds_no_loom() {
    let dir = std::env::temp_dir().join(format!("lockdep-lockfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let lockdep = root().join("lockdep-rs");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fresh-dependent\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nlockdep = {{ path = {:?} }}\n\n[workspace]\n",
            lockdep.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub use lockdep::Mutex;\n").unwrap();
    let out = cargo()
        .args(["generate-lockfile", "--offline"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"lockdep\""), "{lock}");
    assert!(!lock.contains("name = \"loom\""), "{lock}");
    assert!(!lock.contains("name = \"generator\""), "{lock}");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
