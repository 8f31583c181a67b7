//! Shared helpers for the conformance tests.
//!
//! Classes and the dependency graph are global to the test process and the tests of one
//! binary run in parallel, so every test case makes its own classes through a [`Scope`]:
//! class names are `"<scope prefix>.<letter>"`, and a process-wide registry makes sure that no
//! name is ever handed out twice (two classes with one name would make the assertions on
//! class names ambiguous).

#![allow(dead_code)]

pub mod counting;

/// A `'static` lockdep mutex named `name` (leaked: guards of it may go anywhere).
pub fn leaked_mutex(name: &'static str) -> &'static Mutex<()> {
    Box::leak(Box::new(Mutex::named(name, ())))
}

/// Runs the tests of one binary that hold it one at a time (they share process-wide state:
/// a counter, a switch); a test that panicked while holding it does not stop the others.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: StdMutex<()> = StdMutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex as StdMutex;

use lockdep::{
    LockClass, Mutex, MutexGuard, Report, ReportKind, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

static NAMES_IN_USE: StdMutex<Option<HashSet<String>>> = StdMutex::new(None);

/// A fresh, never-before-used class named `name` (leaked: classes live for the process).
///
/// Panics if `name` was already used for another class in this process.
pub fn class(name: &str) -> &'static LockClass {
    {
        let mut used = NAMES_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        let used = used.get_or_insert_with(HashSet::new);
        assert!(
            used.insert(name.to_owned()),
            "test bug: class name {name:?} used twice"
        );
    }
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

/// The classes of one test case: `scope.class("A")` is always the same class within one
/// scope, and different scopes never share classes.
pub struct Scope {
    prefix: String,
    classes: RefCell<HashMap<String, &'static LockClass>>,
}

impl Scope {
    pub fn new(prefix: impl Into<String>) -> Scope {
        Scope {
            prefix: prefix.into(),
            classes: RefCell::new(HashMap::new()),
        }
    }

    /// The full class name for the short name `short` (what reports show).
    pub fn name(&self, short: &str) -> String {
        format!("{}.{}", self.prefix, short)
    }

    pub fn class(&self, short: &str) -> &'static LockClass {
        let mut classes = self.classes.borrow_mut();
        if let Some(c) = classes.get(short) {
            return c;
        }
        let c = class(&self.name(short));
        classes.insert(short.to_owned(), c);
        c
    }

    pub fn mutex(&self, short: &str) -> Mutex<()> {
        Mutex::with_class(self.class(short), ())
    }

    pub fn rwlock(&self, short: &str) -> RwLock<()> {
        RwLock::with_class(self.class(short), ())
    }

    /// A lock of class `short` that can be taken with `op` (a `Mutex` for [`Op::Lock`], an
    /// `RwLock` otherwise).
    pub fn lock_for(&self, short: &str, op: Op) -> Lk {
        match op {
            Op::Lock => Lk::M(self.mutex(short)),
            _ => Lk::Rw(self.rwlock(short)),
        }
    }

    pub fn names(&self, shorts: &[&str]) -> Vec<String> {
        shorts.iter().map(|s| self.name(s)).collect()
    }
}

/// How a lock is acquired; the `read` value of the kernel is given for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `Mutex::lock` (read = 0).
    Lock,
    /// `RwLock::write` (read = 0).
    Write,
    /// `RwLock::read`, the non-recursive reader, like `down_read` (read = 1).
    Read,
    /// `RwLock::read_recursive`, like `read_lock` on an rwlock_t (read = 2).
    ReadRec,
}

impl Op {
    pub fn is_shared(self) -> bool {
        matches!(self, Op::Read | Op::ReadRec)
    }

    pub fn short(self) -> &'static str {
        match self {
            Op::Lock => "L",
            Op::Write => "W",
            Op::Read => "r",
            Op::ReadRec => "R",
        }
    }
}

/// A lock that is either a `Mutex<()>` or an `RwLock<()>`.
pub enum Lk {
    M(Mutex<()>),
    Rw(RwLock<()>),
}

/// A guard of any kind; dropping it unlocks.
pub enum Guard<'a> {
    M(MutexGuard<'a, ()>),
    W(RwLockWriteGuard<'a, ()>),
    R(RwLockReadGuard<'a, ()>),
}

impl Lk {
    /// Acquire with `op` (panics if `op` does not fit the lock: a test bug).
    #[track_caller]
    pub fn take(&self, op: Op) -> Guard<'_> {
        match (self, op) {
            (Lk::M(m), Op::Lock) => Guard::M(m.lock()),
            (Lk::Rw(l), Op::Write) => Guard::W(l.write()),
            (Lk::Rw(l), Op::Read) => Guard::R(l.read()),
            (Lk::Rw(l), Op::ReadRec) => Guard::R(l.read_recursive()),
            _ => panic!("test bug: {op:?} on the wrong kind of lock"),
        }
    }

    /// Release, the way the kernel's `UNLOCK` does it, a lock that this thread does not hold
    /// (any more): `force_unlock` / `force_unlock_write` / `force_unlock_read`.
    ///
    /// # Safety
    /// Only sound while validation is enabled, where an unlock of an unheld lock is refused
    /// (reported as bad unlock balance) and the real lock is left untouched.
    pub unsafe fn force_unlock_as(&self, op: Op) {
        match (self, op) {
            (Lk::M(m), Op::Lock) => m.force_unlock(),
            (Lk::Rw(l), Op::Write) => l.force_unlock_write(),
            (Lk::Rw(l), Op::Read | Op::ReadRec) => l.force_unlock_read(),
            _ => panic!("test bug: {op:?} on the wrong kind of lock"),
        }
    }

    /// Whether the lock is free right now (probed with a write try-lock that is released
    /// at once).
    pub fn is_free(&self) -> bool {
        match self {
            Lk::M(m) => m.try_lock().is_some(),
            Lk::Rw(l) => l.try_write().is_some(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Assertions on reports
// ---------------------------------------------------------------------------------------

pub fn describe(reports: &[Report]) -> String {
    let mut s = format!("{} report(s)", reports.len());
    for (i, r) in reports.iter().enumerate() {
        s.push_str(&format!(
            "\n--- report {i}: {:?}, classes {:?}, acquiring {:?}, holding {:?}\n{r}",
            r.kind(),
            r.class_names(),
            r.acquiring(),
            r.holding()
        ));
    }
    s
}

/// No report at all.
#[track_caller]
pub fn expect_none(what: &str, reports: &[Report]) {
    assert!(
        reports.is_empty(),
        "{what}: expected no report, got {}",
        describe(reports)
    );
}

/// Exactly one report, of `kind`, whose `class_names()` contain every name in `names`.
#[track_caller]
pub fn expect_one<'r>(
    what: &str,
    reports: &'r [Report],
    kind: ReportKind,
    names: &[String],
) -> &'r Report {
    assert!(
        reports.len() == 1,
        "{what}: expected exactly one {kind:?} report naming {names:?}, got {}",
        describe(reports)
    );
    let r = &reports[0];
    assert_eq!(
        r.kind(),
        kind,
        "{what}: wrong report kind; {}",
        describe(reports)
    );
    let got = r.class_names();
    for n in names {
        assert!(
            got.contains(n),
            "{what}: class {n:?} missing from class_names() {got:?}; {}",
            describe(reports)
        );
    }
    r
}

/// Exactly one circular-dependency report: `acquiring` is the class being acquired,
/// `holding` the held class that closes the cycle, and `cycle` lists every class that must be
/// named (the classes of the cycle).
#[track_caller]
pub fn expect_circular(
    what: &str,
    reports: &[Report],
    acquiring: &str,
    holding: &str,
    cycle: &[String],
) {
    let r = expect_one(what, reports, ReportKind::CircularDependency, cycle);
    assert_eq!(
        r.acquiring().as_deref(),
        Some(acquiring),
        "{what}: acquiring(); {}",
        describe(reports)
    );
    assert_eq!(
        r.holding().as_deref(),
        Some(holding),
        "{what}: holding(); {}",
        describe(reports)
    );
}

/// Exactly one report of `kind` naming `names`.
#[track_caller]
pub fn expect_kind(what: &str, reports: &[Report], kind: ReportKind, names: &[String]) {
    expect_one(what, reports, kind, names);
}

// ---------------------------------------------------------------------------------------
// Watchdog: a test that would hang (a real self-deadlock the validator failed to stop, a
// lock corrupted by an unlock that should have been refused) aborts the test binary instead.
// ---------------------------------------------------------------------------------------

/// Aborts the process if it is still alive `secs` seconds from now; dropping it disarms it.
pub struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

pub fn watchdog(what: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(std::time::Duration::from_secs(secs))
        {
            // Straight to stderr (the test harness captures `eprintln!`), and not through
            // std's lock: the hang may be a thread holding it.
            use std::io::Write;
            let text = format!("watchdog: {what} still running after {secs} s: aborting (hang)\n");
            #[cfg(unix)]
            {
                use std::os::fd::AsFd;
                if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
                    let _ = std::fs::File::from(fd).write_all(text.as_bytes());
                }
            }
            #[cfg(not(unix))]
            let _ = std::io::stderr().write_all(text.as_bytes());
            std::process::abort();
        }
    });
    Watchdog { _disarm: tx }
}

/// The runner of a generated test: `PROPTEST_CASES` programs (else `default_cases`), a
/// reproducible generator (the seed `PROPTEST_RNG_SEED` if it is set, else a fixed one: every
/// run checks the same programs), no failure files.
pub fn generator(default_cases: u32) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10C_DE95);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------
// Class policies: read once per process, so a test of another policy runs in a child process.
// ---------------------------------------------------------------------------------------

/// Runs test `name` of this binary again in a child process with `LOCKDEP_CLASSES=policy`;
/// `true` when this is the child (the caller then does the test's work).
pub fn in_child(name: &str, policy: &str) -> bool {
    if std::env::var("LOCKDEP_CLASSES").as_deref() == Ok(policy) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env("LOCKDEP_CLASSES", policy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    false
}

/// Runs this test binary's test `child` in a child process with `case_var=case` and `env`
/// (`LOCKDEP` unset): its stdout, stderr, and whether it finished within 30 s (it is killed
/// otherwise). For cases that set process-wide state (a mode, a timeout) or may hang.
pub fn run_child(case_var: &str, case: &str, env: &[(&str, &str)]) -> (String, String, bool) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(case_var, case)
        .env_remove("LOCKDEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let finished = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        finished,
    )
}

// ---------------------------------------------------------------------------------------
// Futures without a runtime: a thread polling one (the thread is the holder), and branches of
// one future polled in a chosen order (as `join!` runs them).
// ---------------------------------------------------------------------------------------

/// A boxed branch of a joined future.
pub type Branch<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Polls `f` on this thread until it is ready (as `futures::executor::block_on`).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Another thread takes `m` (blocking) and holds it for `ms`; returns once it holds it, with
/// the thread's handle (with the `tokio` feature).
#[cfg(lockdep_tasks)]
pub fn held_elsewhere_for(
    m: &std::sync::Arc<lockdep::tokio::Mutex<u32>>,
    ms: u64,
) -> std::thread::JoinHandle<()> {
    let (held_tx, held) = std::sync::mpsc::channel();
    let m = m.clone();
    let other = std::thread::spawn(move || {
        let g = m.blocking_lock();
        held_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        drop(g);
    });
    held.recv().unwrap();
    other
}

/// Runs `branches` to the end as one future: each round polls the unfinished ones in the
/// order `orders[round % orders.len()]` (each order lists every branch once).
pub async fn join_ordered(mut branches: Vec<Branch<'_>>, orders: &[Vec<usize>]) {
    use std::task::Poll;
    let mut done = vec![false; branches.len()];
    let mut round = 0;
    std::future::poll_fn(|cx| {
        let order = &orders[round % orders.len()];
        round += 1;
        for &i in order {
            if !done[i] && branches[i].as_mut().poll(cx).is_ready() {
                done[i] = true;
            }
        }
        if done.iter().all(|d| *d) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// `m`, poisoned: a thread of its own takes it and panics holding it (joined quietly).
pub fn poisoned<T: Send + 'static>(
    m: std::sync::Arc<lockdep::stdsync::Mutex<T>>,
) -> std::sync::Arc<lockdep::stdsync::Mutex<T>> {
    let m2 = m.clone();
    let _ = std::thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(m.is_poisoned());
    m
}

// ---------------------------------------------------------------------------------------
// Tests about what reaches the run's verdict: the kept reports, and a test run again in a
// child process (the exit status is the verdict). `var` names the environment variable that
// tells the child which test it runs.
// ---------------------------------------------------------------------------------------

/// A condvar built at the caller's site, and its class's name (`condvar at file:line:col`).
#[track_caller]
pub fn condvar() -> (lockdep::Condvar, String) {
    let at = std::panic::Location::caller();
    let name = format!("condvar at {}:{}:{}", at.file(), at.line(), at.column());
    (lockdep::Condvar::new(), name)
}

/// Each report's kind and class names, in order.
pub fn kinds_and_classes(reports: &[Report]) -> Vec<(ReportKind, Vec<String>)> {
    reports
        .iter()
        .map(|r| (r.kind(), r.class_names()))
        .collect()
}

/// Class names, owned (to compare with [`kinds_and_classes`]).
pub fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The kinds of `reports`, in order.
pub fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// Held by the tests of one binary that read the kept reports (`take_reports` drains every
/// test's).
pub static KEPT: StdMutex<()> = StdMutex::new(());

/// The uncaptured reports kept so far whose classes are `names` (taken off the kept list, so
/// they do not fail the run).
pub fn kept_with(names: &[&str]) -> Vec<ReportKind> {
    lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names() == names)
        .map(|r| r.kind())
        .collect()
}

/// Is this process the child run of test `name` (see [`run_self`])?
pub fn in_self_child(var: &str, name: &str) -> bool {
    std::env::var(var).as_deref() == Ok(name)
}

/// Runs the test `name` of this binary again in a child process (with `var` set to it,
/// `LOCKDEP` unset); returns its stdout, stderr and exit code.
pub fn run_self(var: &str, name: &str) -> (String, String, Option<i32>) {
    run_self_with(var, name, &[])
}

/// [`run_self`] with the variables `env` set too (e.g. a setting read once per process); the
/// other `LOCKDEP_*` settings are unset, as `LOCKDEP` is.
pub fn run_self_with(var: &str, name: &str, env: &[(&str, &str)]) -> (String, String, Option<i32>) {
    run_self_args(var, name, &[], env)
}

/// [`run_self_with`], with libtest arguments `args` too (e.g. `--include-ignored`, for a
/// child that must be `#[ignore]`d because it cannot return early on its own).
pub fn run_self_args(
    var: &str,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (String, String, Option<i32>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .args(args)
        .env(var, name);
    for setting in [
        "LOCKDEP",
        "LOCKDEP_CLASSES",
        "LOCKDEP_GATED",
        "LOCKDEP_BACKTRACE",
        "LOCKDEP_DEADLOCK_TIMEOUT",
    ] {
        cmd.env_remove(setting);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// [`run_self`], checking that the child's test passed and its run failed (status 101: a
/// problem counted against it); returns the child's stderr.
pub fn expect_self_fails(var: &str, name: &str) -> String {
    let (stdout, stderr, code) = run_self(var, name);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert_eq!(code, Some(101), "the run passed:\n{stderr}");
    stderr
}

/// Locks for a problem found while releasing (deferred until the thread's next delivery):
/// a nest lock `<prefix>.N`, two locks of class `<prefix>.B` and `<prefix>.C`.
pub struct DeferredProblem {
    pub n: Mutex<()>,
    pub b1: Mutex<()>,
    pub b2: Mutex<()>,
    pub c: Mutex<()>,
}

impl DeferredProblem {
    pub fn new(prefix: &str) -> DeferredProblem {
        let class = class(&format!("{prefix}.B"));
        let named =
            |s: &str| -> &'static str { Box::leak(format!("{prefix}.{s}").into_boxed_str()) };
        DeferredProblem {
            n: Mutex::named(named("N"), ()),
            b1: Mutex::with_class(class, ()),
            b2: Mutex::with_class(class, ()),
            c: Mutex::named(named("C"), ()),
        }
    }

    /// Takes B1 and B2 under N (C between: not merged), then releases N: B2 held under B1
    /// without the nest lock is found now, a `RecursiveLocking` deferred. Returns the guards
    /// still held, B2 first (a tuple drops in order: B2, C, B1).
    pub fn raise(&self) -> (MutexGuard<'_, ()>, MutexGuard<'_, ()>, MutexGuard<'_, ()>) {
        let gn = self.n.lock();
        let g1 = self.b1.lock_nest_lock(&gn);
        let gc = self.c.lock();
        let g2 = self.b2.lock_nest_lock(&gn); // exempt under N
        drop(gn);
        (g2, gc, g1)
    }
}

/// [`run_self`], checking that the child's test passed and its run did not fail.
pub fn expect_self_succeeds(var: &str, name: &str) {
    let (stdout, stderr, code) = run_self(var, name);
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert_eq!(code, Some(0), "the child run failed:\n{stderr}");
}

/// An AB/BA between two tokio tasks spawned on the current runtime, one after the other (so
/// nothing hangs), on two new classes named `a` and `b`.
#[cfg(feature = "tokio")]
pub async fn abba_in_tasks(a: &'static str, b: &'static str) {
    let a = std::sync::Arc::new(lockdep::tokio::Mutex::named(a, ()));
    let b = std::sync::Arc::new(lockdep::tokio::Mutex::named(b, ()));
    let (a1, b1) = (a.clone(), b.clone());
    tokio::spawn(async move {
        let _a = a1.lock().await;
        let _b = b1.lock().await;
    })
    .await
    .unwrap();
    tokio::spawn(async move {
        let _b = b.lock().await;
        let _a = a.lock().await;
    })
    .await
    .unwrap();
}

/// Runs `body` as a local task of a current-thread runtime on this thread, under `capture`
/// (not `capture_async`, whose own call inside the runtime would mark the thread as one that
/// may poll tasks first: `HeldRef::tasks_possible`); the reports raised meanwhile.
#[cfg(lockdep_tasks)]
pub fn in_local_task(body: impl std::future::Future<Output = ()> + 'static) -> Vec<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    lockdep::capture(|| {
        local.block_on(&rt, async {
            tokio::task::spawn_local(body).await.unwrap();
        })
    })
    .1
}
