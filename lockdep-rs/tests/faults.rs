//! Bad input and faults: each gives a clear report (or none, where none is due), never
//! undefined behaviour, never a validator deadlock, and leaves the validator working (no lost
//! edges, a held stack that says what is really held).
//!
//! Everything here runs inside `lockdep::capture` and uses classes of its own, so the tests run
//! in parallel with any mode. What needs the global mode, the report hook or reports delivered
//! outside a capture lives in `faults_global.rs` and `faults_panic_mode.rs`.
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lockdep::{capture, LockClass, Mode, Mutex, Report, ReportKind, RwLock};

/// A fresh class named `faults.<name>` (leaked: classes live for the process).
fn class(name: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("faults.{name}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

fn mutex(name: &str) -> Mutex<()> {
    Mutex::with_class(class(name), ())
}

fn mutex_of(class: &&'static LockClass) -> Mutex<()> {
    Mutex::with_class(class, ())
}

fn setup() {
    if lockdep::mode() == Mode::Off {
        lockdep::set_mode(Mode::Warn);
    }
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Asserts that `a` then `b` still closes a cycle (the validator kept its edges and works).
fn assert_cycle_detected(a: &Mutex<()>, b: &Mutex<()>) {
    let ((), reports) = capture(|| {
        let _gb = b.lock();
        let _ga = a.lock();
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// force_unlock: the three `unsafe` blocks of the crate (mutex.rs and rwlock.rs), valid and not.

#[test]
fn force_unlock_of_a_forgotten_guard_releases_the_lock_and_its_record() {
    setup();
    let m = mutex("fu.m");
    let rw = RwLock::with_class(class("fu.rw"), 0);
    let ((), reports) = capture(|| {
        std::mem::forget(m.lock());
        assert!(m.is_held());
        // SAFETY: this thread locked `m` through the guard just forgotten.
        unsafe { m.force_unlock() };
        assert!(!m.is_held());
        assert!(m.try_lock().is_some(), "the mutex is free again");

        std::mem::forget(rw.write());
        // SAFETY: this thread write-locked `rw` through the guard just forgotten.
        unsafe { rw.force_unlock_write() };
        assert!(!rw.is_held());
        assert!(rw.try_write().is_some());

        std::mem::forget(rw.read());
        std::mem::forget(rw.read_recursive());
        // SAFETY: two read guards of this thread were forgotten; each call releases one.
        unsafe { rw.force_unlock_read() };
        assert!(rw.is_held(), "one reader left");
        // SAFETY: as above.
        unsafe { rw.force_unlock_read() };
        assert!(!rw.is_held());
        assert!(rw.try_write().is_some(), "no reader left");
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn force_unlock_of_an_unheld_lock_is_reported_and_leaves_the_lock_alone() {
    setup();
    let a = mutex("unheld.a");
    let b = mutex("unheld.b");
    let rw = RwLock::with_class(class("unheld.rw"), ());
    // Record A -> B first: the edge must survive everything below.
    {
        let ((), r) = capture(|| {
            let _ga = a.lock();
            let _gb = b.lock();
        });
        assert!(r.is_empty());
    }
    let ((), reports) = capture(|| {
        // SAFETY: deliberately wrong: `a` is not locked. With validation on, lockdep reports
        // and does not touch the real lock, which is what this test checks.
        unsafe { a.force_unlock() };
        assert!(a.try_lock().is_some(), "still a working, unlocked mutex");
        // SAFETY: deliberately wrong, as above.
        unsafe { rw.force_unlock_read() };
        // SAFETY: deliberately wrong, as above.
        unsafe { rw.force_unlock_write() };
        assert!(rw.try_write().is_some());
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlockBalance; 3],
        "{reports:?}"
    );
    assert_eq!(reports[0].class_names(), ["faults.unheld.a"]);
    assert_eq!(reports[1].class_names(), ["faults.unheld.rw"]);
    let text = reports[0].to_string();
    assert!(text.contains("bad unlock balance detected"), "{text}");
    assert!(text.contains("faults.unheld.a"), "{text}");
    assert_cycle_detected(&a, &b);
}

#[test]
fn force_unlock_of_a_lock_held_by_another_thread_is_refused() {
    setup();
    let m = mutex("other.m");
    let rw = RwLock::with_class(class("other.rw"), ());
    let (locked_tx, locked_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let (m, rw) = (&m, &rw);
        s.spawn(move || {
            let ((), r) = capture(|| {
                let _g = m.lock();
                let _r = rw.read();
                locked_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            assert!(r.is_empty(), "the owner's own releases are fine: {r:?}");
        });
        locked_rx.recv().unwrap();
        let ((), reports) = capture(|| {
            // SAFETY: deliberately wrong: the other thread holds them. Lockdep refuses.
            unsafe { m.force_unlock() };
            // SAFETY: as above.
            unsafe { rw.force_unlock_read() };
        });
        assert_eq!(
            kinds(&reports),
            [ReportKind::BadUnlockBalance; 2],
            "{reports:?}"
        );
        assert!(m.try_lock().is_none(), "still locked by its owner");
        assert!(rw.try_write().is_none(), "still read-locked by its owner");
        done_tx.send(()).unwrap();
    });
    assert!(m.try_lock().is_some());
}

#[test]
fn double_unlock_and_unlock_in_the_wrong_mode_are_reported() {
    setup();
    let m = mutex("double.m");
    let rw = RwLock::with_class(class("double.rw"), ());
    let ((), reports) = capture(|| {
        std::mem::forget(m.lock());
        // SAFETY: the guard was forgotten: a valid release.
        unsafe { m.force_unlock() };
        // SAFETY: deliberately wrong: a second release. Lockdep reports, touches nothing.
        unsafe { m.force_unlock() };
        assert!(m.try_lock().is_some());

        let g = rw.write();
        // SAFETY: deliberately wrong: it is write-locked, not read-locked. Refused.
        unsafe { rw.force_unlock_read() };
        assert!(rw.is_held(), "the write entry is still there");
        drop(g);
        let g = rw.read();
        // SAFETY: deliberately wrong: read-locked, not write-locked. Refused.
        unsafe { rw.force_unlock_write() };
        assert!(rw.try_write().is_none(), "still read-locked");
        drop(g);
        assert!(rw.try_write().is_some());
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlockBalance; 3],
        "{reports:?}"
    );
}

#[test]
fn force_unlock_out_of_order_re_acquires_the_locks_above() {
    setup();
    let (a, b, c) = (mutex("ooo.a"), mutex("ooo.b"), mutex("ooo.c"));
    let ((), reports) = capture(|| {
        let _ga = a.lock();
        std::mem::forget(b.lock());
        let _gc = c.lock();
        // SAFETY: the guard of `b` was forgotten above.
        unsafe { b.force_unlock() };
        assert!(a.is_held() && !b.is_held() && c.is_held());
    });
    assert!(reports.is_empty(), "{reports:?}");
    // Releasing B re-acquired C under A: A -> C is recorded.
    assert_cycle_detected(&a, &c);
}

// ---------------------------------------------------------------------------------------------
// Locks dropped while held, panics while holding locks.

#[test]
fn dropping_a_held_lock_is_reported_and_forgotten() {
    setup();
    let a = mutex("freed.a");
    let c_class = class("freed.c");
    let c = mutex_of(&c_class);
    let b_class = class("freed.b");
    let ((), reports) = capture(|| {
        let _ga = a.lock();
        let b = Box::new(Mutex::with_class(b_class, ()));
        std::mem::forget(b.lock());
        let _gc = c.lock();
        drop(b); // freed while held, in the middle of the stack
        assert!(a.is_held() && c.is_held());
        // B is no longer on the stack: what is held is [A, C].
        let c2 = mutex_of(&c_class);
        let _gc2 = c2.lock(); // recursive locking: lists the held locks
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::HeldLockFreed, ReportKind::RecursiveLocking],
        "{reports:?}"
    );
    assert_eq!(
        reports[1].held_locks(),
        ["faults.freed.a", "faults.freed.c"]
    );
    assert_eq!(reports[0].class_names(), ["faults.freed.b"]);
    assert!(reports[0].to_string().contains("held lock freed"));
    // C was re-acquired under A: A -> C exists.
    assert_cycle_detected(&a, &c);
}

#[test]
fn a_panic_while_holding_locks_releases_them_and_keeps_the_stack_right() {
    setup();
    let outer = mutex("unwind.outer");
    let (b, c) = (mutex("unwind.b"), RwLock::with_class(class("unwind.c"), ()));
    let d = mutex("unwind.d");
    let ((), reports) = capture(|| {
        let _g = outer.lock();
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _gb = b.lock();
            let _gc = c.read();
            panic!("user code fails while holding b and c");
        }));
        assert!(r.is_err());
        assert!(outer.is_held() && !b.is_held() && !c.is_held());
        // Guards in an array drop front to back: out of order, during unwinding.
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _v = [b.lock(), d.lock()];
            panic!("again");
        }));
        assert!(r.is_err());
        assert!(outer.is_held() && !b.is_held() && !d.is_held());
        // What the validator holds is exactly [outer]: a report lists the held locks.
        let same = class("unwind.same");
        let (s1, s2) = (Mutex::with_class(same, ()), Mutex::with_class(same, ()));
        let _x = s1.lock();
        let _y = s2.lock(); // recursive locking of faults.unwind.same
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:?}"
    );
    assert_eq!(
        reports[0].held_locks(),
        ["faults.unwind.outer", "faults.unwind.same"]
    );
    // The capture stack stayed balanced through the panics: a new capture still works.
    assert_cycle_detected(&b, &d);
}

#[test]
fn a_panic_escaping_a_capture_leaves_captures_working() {
    setup();
    let (a, b) = (mutex("escape.a"), mutex("escape.b"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        capture(|| {
            let _ga = a.lock();
            let _gb = b.lock();
            panic!("escapes the capture");
        })
    }));
    assert!(r.is_err());
    assert!(!a.is_held() && !b.is_held());
    assert_cycle_detected(&a, &b);
}

#[test]
fn an_invalid_subclass_is_reported_and_the_lock_still_works() {
    setup();
    let m = Mutex::with_class(class("subclass.m"), 41);
    let (v, reports) = capture(|| *m.lock_nested(8) + 1);
    assert_eq!(v, 42);
    assert_eq!(
        kinds(&reports),
        [ReportKind::InvalidSubclass],
        "{reports:?}"
    );
    assert!(!m.is_held());
    assert!(m.try_lock().is_some());
}

// ---------------------------------------------------------------------------------------------
// Sizes: 1,000 locks held at once, 100,000 classes.

#[test]
fn a_thousand_locks_held_at_once() {
    setup();
    let start = Instant::now();
    let locks: Vec<Mutex<()>> = (0..1000).map(|i| mutex(&format!("k.{i:04}"))).collect();
    let ((), reports) = capture(|| {
        let mut guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
        assert!(locks.iter().all(Mutex::is_held));
        // Release the bottom one: the 999 above are re-acquired (re-validated) in order.
        drop(guards.remove(0));
        assert!(!locks[0].is_held() && locks[1..].iter().all(Mutex::is_held));
        // Two locks of one class on top: a recursive report listing 1,000 held locks.
        let repeated = class("k.repeated");
        let (r1, r2) = (
            Mutex::with_class(repeated, ()),
            Mutex::with_class(repeated, ()),
        );
        let g1 = r1.lock();
        let g2 = r2.lock();
        drop(g2);
        drop(g1);
        while let Some(g) = guards.pop() {
            drop(g);
        }
        assert!(locks.iter().all(|l| !l.is_held()));
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:?}"
    );
    assert_eq!(reports[0].held_locks().len(), 1000);
    assert!(reports[0].to_string().contains("1000 locks held by"));
    // The order is recorded: k.0500 then k.0100 closes a cycle.
    assert_cycle_detected(&locks[100], &locks[500]);
    println!("1,000 locks held at once: {:.1?}", start.elapsed());
}

/// 100,000 classes in one chain `c0 -> c1 -> ... -> c99999`.
fn hundred_thousand_class_chain() -> &'static [Mutex<()>] {
    static CHAIN: std::sync::OnceLock<Vec<Mutex<()>>> = std::sync::OnceLock::new();
    CHAIN.get_or_init(|| {
        let locks: Vec<Mutex<()>> = (0..N_CLASSES)
            .map(|i| Mutex::with_class(class(&format!("many.{i}")), ()))
            .collect();
        let ((), reports) = capture(|| {
            for w in locks.windows(2) {
                let _a = w[0].lock();
                let _b = w[1].lock();
            }
        });
        assert!(reports.is_empty(), "{reports:?}");
        locks
    })
}

const N_CLASSES: usize = 100_000;

#[test]
fn a_hundred_thousand_classes() {
    setup();
    let start = Instant::now();
    let before = lockdep::stats();
    let locks = hundred_thousand_class_chain();
    let after = lockdep::stats();
    let built = start.elapsed();
    assert!(after.classes >= N_CLASSES, "{after:?}");
    assert!(after.edges >= N_CLASSES - 1, "{after:?}");
    // The graph still answers at that size: a short cycle at the far end of the chain.
    let t = Instant::now();
    assert_cycle_detected(&locks[N_CLASSES - 2], &locks[N_CLASSES - 1]);
    println!(
        "100,000 classes: chain recorded in {built:.1?}, a cycle at its end found in {:.1?}; \
         stats before {before:?}, after {after:?}",
        t.elapsed()
    );
}

/// A cycle through all 100,000 classes: found without recursion, reported in bounded time.
/// (Lockdep bug 3, fixed in 942b6e6: building the report was quadratic in the cycle's length,
/// 40 s here, under the graph lock.)
#[test]
fn a_cycle_through_a_hundred_thousand_classes() {
    setup();
    let locks = hundred_thousand_class_chain();
    let start = Instant::now();
    let ((), reports) = capture(|| {
        let _z = locks[N_CLASSES - 1].lock();
        let _a = locks[0].lock();
    });
    let took = start.elapsed();
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:?}"
    );
    assert_eq!(reports[0].class_names().len(), N_CLASSES);
    println!("a cycle of 100,000 classes found and reported in {took:.1?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// A report that cannot be printed.

/// Set in the child process that `printing_a_report_to_a_broken_stderr` starts.
const CHILD: &str = "LOCKDEP_FAULTS_CHILD";

/// Child half: in `Warn` mode with stderr a closed pipe, printing a report fails (`eprintln!`
/// panics on EPIPE). Prints what happened to stdout for the parent to check.
#[test]
fn broken_stderr_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    lockdep::set_mode(Mode::Warn);
    let (a, b) = (mutex("stderr.a"), mutex("stderr.b"));
    {
        let _ga = a.lock();
        let _gb = b.lock();
    }
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _gb = b.lock();
        let _ga = a.lock(); // B -> A: a report, printed to the broken stderr
    }))
    .is_err();
    println!(
        "RESULT panicked={panicked} a_held={} b_held={} a_free={}",
        a.is_held(),
        b.is_held(),
        a.try_lock().is_some()
    );
}

/// Parent half: a report whose printing fails must not leave a lock recorded as held that the
/// thread does not hold (the acquisition either goes on, or unwinds with its record removed).
/// (Lockdep bug 2, fixed in 942b6e6: `eprintln!` panicked after the entry was pushed, leaving
/// a record of a lock never taken.)
#[test]
fn printing_a_report_to_a_broken_stderr() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "broken_stderr_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("LOCKDEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the read end closes: every write to stderr fails (EPIPE)
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child said: {stdout}"));
    assert!(line.contains("a_held=false"), "{line}");
    assert!(line.contains("b_held=false"), "{line}");
    assert!(line.contains("a_free=true"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Unsafe code: few places, each justified.

/// `unsafe` appears only in the files that need it, and every `unsafe` block or impl has a
/// `// SAFETY:` comment just above it. (The tests above exercise the `force_unlock` blocks of
/// normal builds: `Mutex::force_unlock`, `RwLock::force_unlock_read` and `force_unlock_write`;
/// every test runs the validator's fast-path access to the thread state, and
/// `tests/reentrant_alloc.rs` runs it against an allocator that takes lockdep locks; the loom
/// shim's blocks exist only under `--cfg loom`.)
#[test]
fn unsafe_code_is_confined_and_justified() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
    let allowed = [
        "mutex.rs",
        "rwlock.rs",
        "fast_path.rs",
        "sync/loom_locks.rs",
        // The drop-in layer (issue 16): taking guards apart, arc guards, raw locks, LazyLock.
        "guard.rs",
        "mutex/timed.rs",
        "mutex_guard.rs",
        "rwlock/more.rs",
        "rwlock_guard.rs",
        "reentrant.rs",
        "raw/imp.rs",
        "raw/imp/rwlock.rs",
        "raw/imp/unchecked.rs",
        "raw/imp/reentrant.rs",
        "stdsync/once.rs",
        // Async locks (issue 14): holders' stacks shared by the threads that poll a task;
        // owned guards borrowing the lock in their `Arc`; compiled out, an `Arc` of tokio's lock.
        "holder.rs",
        "tokio/owned.rs",
        "tokio/mutex.rs",
        "tokio/rwlock.rs",
        // Adoption (issue 13): `lockdep::thread::scope`'s transparent wrapper, and the C
        // runtime's exit hook that fails a run whose reports nobody took.
        "thread.rs",
        "report/exit_status.rs",
        // std's `Builder::spawn_unchecked` (an unsafe fn: std's contract, passed on).
        "thread/builder.rs",
        // parking_lot's condvar waits on a real guard of the real raw mutex.
        "condvar.rs",
    ];
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut blocks = 0;
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap();
            let is_block = code.contains("unsafe {") || code.contains("unsafe impl");
            if code.contains("unsafe_code") || !(is_block || code.contains("unsafe fn")) {
                continue;
            }
            assert!(
                allowed.contains(&rel.as_str()),
                "unsafe code outside the allowed files: {rel}:{}",
                i + 1
            );
            if is_block {
                blocks += 1;
                let above = &lines[i.saturating_sub(4)..i];
                assert!(
                    above
                        .iter()
                        .any(|a| a.trim_start().starts_with("// SAFETY:")),
                    "no `// SAFETY:` comment above {rel}:{}",
                    i + 1
                );
            }
        }
    }
    assert!(blocks >= 3, "found {blocks} unsafe blocks");
}

// ---------------------------------------------------------------------------------------------
// Thread exit: user thread-local destructors that take lockdep locks.

use std::cell::RefCell;

/// Takes its lock when dropped (a user thread-local's destructor).
struct TakesLockOnDrop(&'static Mutex<u32>);

impl Drop for TakesLockOnDrop {
    fn drop(&mut self) {
        *self.0.lock() += 1;
    }
}

thread_local! {
    static LATE: RefCell<Option<TakesLockOnDrop>> = const { RefCell::new(None) };
}

/// A thread-local destructor takes a lockdep lock while the thread exits, once before and
/// once after lockdep's own thread state is destroyed (thread-local destructors run in reverse
/// order of first use). Either way the lock works, nothing is reported, and nothing touches
/// the destroyed state (the fast path finds it gone and the slow path leaves the acquisition
/// untracked).
#[test]
fn locks_taken_by_thread_local_destructors_at_exit() {
    setup();
    let m: &'static Mutex<u32> = Box::leak(Box::new(Mutex::with_class(class("late"), 0)));
    // The user's thread-local first: its destructor runs after lockdep's state is gone.
    std::thread::spawn(move || {
        LATE.with(|l| *l.borrow_mut() = Some(TakesLockOnDrop(m)));
        for _ in 0..3 {
            drop(m.lock()); // lockdep's state is set up (and the chain cached) after it
        }
    })
    .join()
    .unwrap();
    // Lockdep's state first: the destructor runs while it is alive (validated as usual).
    std::thread::spawn(move || {
        for _ in 0..3 {
            drop(m.lock());
        }
        LATE.with(|l| *l.borrow_mut() = Some(TakesLockOnDrop(m)));
    })
    .join()
    .unwrap();
    assert_eq!(*m.lock(), 2, "both destructors took the lock");
    let about_late: Vec<_> = lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names().iter().any(|n| n == "faults.late"))
        .collect();
    assert!(about_late.is_empty(), "{about_late:?}");
    assert!(!lockdep::is_held(m));
}
