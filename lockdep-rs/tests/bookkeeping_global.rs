//! The validator's bookkeeping where the process-wide state is involved: mode switches, the
//! report hook, gated cycles, reports outside captures, panic locations. Regression tests of
//! issue 12; they change the global mode and hook, so they run one at a time (`serial()`).
#![cfg(lockdep_enabled)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::Duration;

use lockdep::{Event, LockClass, LockMap, Mode, Mutex, Report, ReportKind};

static SERIAL: StdMutex<()> = StdMutex::new(());

/// Serialises the tests of this binary; on drop, removes the hook and restores `Collect`.
struct Serial(#[allow(dead_code)] StdMutexGuard<'static, ()>);

fn serial(mode: Mode) -> Serial {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    lockdep::set_report_hook(None);
    lockdep::set_mode(mode);
    let _ = lockdep::take_reports();
    Serial(g)
}

impl Drop for Serial {
    fn drop(&mut self) {
        lockdep::set_report_hook(None);
        lockdep::set_ignore_gated(false);
        lockdep::set_mode(Mode::Collect);
        // The reports this test raised are its own (taken, they no longer fail the run).
        let _ = lockdep::take_reports();
    }
}

fn class(name: &str) -> &'static LockClass {
    let name: &'static str = Box::leak(format!("bg.{name}").into_boxed_str());
    Box::leak(Box::new(LockClass::new(name)))
}

fn mutex(name: &str) -> Mutex<()> {
    Mutex::with_class(class(name), ())
}

/// The kept reports (drained) that involve a class whose name starts with `bg.<prefix>`.
fn reports_about(prefix: &str) -> Vec<Report> {
    let prefix = format!("bg.{prefix}");
    lockdep::take_reports()
        .into_iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with(&prefix)))
        .collect()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Records `A -> B`, then takes `B -> A` (the closing acquisition is `a.lock()`).
fn abba(a: &Mutex<()>, b: &Mutex<()>) {
    drop((a.lock(), b.lock()));
    let _b = b.lock();
    let _a = a.lock();
}

/// Item 7: a report hook that switches to Panic mode. The entry was pushed (Warn mode), then
/// the acquisition panicked without popping it: `is_held` stayed true, and the next `lock()`
/// of the free lock panicked with a false "certain self-deadlock".
#[test]
fn a_hook_that_switches_to_panic_mode_leaves_no_stale_entry() {
    let _s = serial(Mode::Warn);
    lockdep::set_report_hook(Some(Box::new(|_r: &Report| {
        lockdep::set_mode(Mode::Panic);
    })));
    let (a, b) = (mutex("7a.A"), mutex("7a.B"));
    let r = catch_unwind(AssertUnwindSafe(|| abba(&a, &b)));
    assert!(
        r.is_err(),
        "the hook made the mode Panic: the acquisition panics"
    );
    lockdep::set_report_hook(None);
    lockdep::set_mode(Mode::Collect);
    assert!(!a.is_held() && !b.is_held(), "no stale entry");
    drop(a.lock()); // free: no false certain self-deadlock
    assert_eq!(reports_about("7a.").len(), 1);
}

/// Item 7: a hook that takes the lock being acquired (hooks may take lockdep locks) got a
/// false certain-self-deadlock panic: the entry was already pushed when the hook ran.
#[test]
fn a_hook_may_take_the_lock_being_acquired() {
    let _s = serial(Mode::Warn);
    let (a, b) = (Arc::new(mutex("7b.A")), mutex("7b.B"));
    let hook_a = a.clone();
    let hook_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = hook_done.clone();
    lockdep::set_report_hook(Some(Box::new(move |_r: &Report| {
        // A is not taken yet (its acquisition is being validated): the hook may take it.
        assert!(!hook_a.is_held());
        drop(hook_a.lock());
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    })));
    let r = catch_unwind(AssertUnwindSafe(|| abba(&a, &b)));
    assert!(r.is_ok(), "{}", r.err().map(|p| panic_text(&*p)).unwrap());
    // A panic inside the hook is contained: check it ran to the end.
    assert!(hook_done.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!a.is_held() && !b.is_held());
}

/// Item 7: `force_unlock`, `LockMap::release` and `Event::signal` in `Off` mode did not pop an
/// entry recorded before the switch (a false self-deadlock after switching back).
#[test]
fn releases_in_off_mode_pop_entries_recorded_before() {
    let _s = serial(Mode::Collect);
    let m = mutex("7c.m");
    static MAP: LockMap = LockMap::new("bg.7c.map");
    static EV: Event = Event::new("bg.7c.event");
    std::mem::forget(m.lock());
    MAP.acquire();
    EV.arm();
    lockdep::set_mode(Mode::Off);
    // SAFETY: the guard was forgotten on this thread.
    unsafe { m.force_unlock() };
    MAP.release();
    EV.signal();
    lockdep::set_mode(Mode::Collect);
    assert!(!m.is_held() && !MAP.is_held() && !EV.is_armed());
    let (r, reports) = lockdep::capture(|| catch_unwind(AssertUnwindSafe(|| drop(m.lock()))));
    assert!(r.is_ok(), "no false certain self-deadlock");
    assert!(reports.is_empty(), "{reports:?}");
    MAP.acquire();
    MAP.release();
}

/// Item 7: a lock taken in `Off` mode and force-unlocked in another mode gave a false
/// `BadUnlockBalance` and was left locked (the safety note of `force_unlock` said the
/// validator had confirmed the thread holds it).
#[test]
fn a_lock_taken_in_off_mode_can_be_force_unlocked_later() {
    let _s = serial(Mode::Off);
    let m = mutex("7d.m");
    std::mem::forget(m.lock());
    static MAP: LockMap = LockMap::new("bg.7d.map");
    MAP.acquire();
    lockdep::set_mode(Mode::Collect);
    // SAFETY: the guard was forgotten on this thread (taken while validation was off).
    unsafe { m.force_unlock() };
    MAP.release();
    assert!(m.try_lock().is_some(), "really unlocked");
    assert!(reports_about("7d.").is_empty());
}

/// Item 6 (cost): a reported chain is cached like any other: repeating the acquisition is a
/// cache hit and validates nothing (it used to search the graph and build a report each time).
#[test]
fn a_reported_chain_is_a_cache_hit_afterwards() {
    let _s = serial(Mode::Collect);
    let (a, b) = (mutex("6.A"), mutex("6.B"));
    abba(&a, &b);
    assert_eq!(reports_about("6.").len(), 1);
    let before = lockdep::stats();
    for _ in 0..100 {
        let _b = b.lock();
        let _a = a.lock();
    }
    let after = lockdep::stats();
    assert_eq!(after.chains, before.chains, "no new chain validated");
    assert_eq!(after.cache_misses, before.cache_misses, "no slow path");
    assert!(after.cache_hits >= before.cache_hits + 200);
    assert!(reports_about("6.").is_empty(), "reported once");
}

/// Item 9b: joining a `lockdep::thread` while holding a lock that its thread-local
/// destructors take is a real hang; the exit event was signalled before they ran, so nothing
/// was reported. Reported now, before the join blocks.
#[test]
fn joining_while_holding_a_lock_the_childs_thread_locals_take_is_reported() {
    let _s = serial(Mode::Collect);
    static STATE: Mutex<u32> = Mutex::with_class(&STATE_CLASS, 0);
    static STATE_CLASS: LockClass = LockClass::new("bg.9b.state");
    struct TakesState;
    impl Drop for TakesState {
        fn drop(&mut self) {
            *STATE.lock() += 1;
        }
    }
    thread_local! {
        static CLEANUP: std::cell::RefCell<Option<TakesState>> =
            const { std::cell::RefCell::new(None) };
    }
    let spawn = || lockdep::thread::spawn(|| CLEANUP.with(|c| *c.borrow_mut() = Some(TakesState)));
    // First: a child whose destructor takes `state`, joined with nothing held.
    spawn().join().unwrap();
    assert_eq!(*STATE.lock(), 1);
    // Then: joining one while holding `state`. In Panic mode the join panics before blocking
    // (the child, still running its destructors, can then take the lock and finish).
    lockdep::set_mode(Mode::Panic);
    let child = spawn();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = STATE.lock();
        child.join().unwrap();
    }));
    lockdep::set_mode(Mode::Collect);
    let text = panic_text(&*r.expect_err("reported before the join"));
    assert!(
        text.contains("a waiter holds a lock its waker needs"),
        "{text}"
    );
    assert!(text.contains("bg.9b.state"), "{text}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while *STATE.lock() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Item 10: `set_ignore_gated(false)` did not bring back the cycles suppressed while
/// ignoring: their chains stayed cached.
#[test]
fn cycles_ignored_as_gated_come_back_when_no_longer_ignored() {
    let _s = serial(Mode::Collect);
    let g = mutex("10.gate");
    let (a, b) = (mutex("10.A"), mutex("10.B"));
    lockdep::set_ignore_gated(true);
    {
        let _g = g.lock();
        abba(&a, &b);
    }
    assert!(reports_about("10.").is_empty(), "ignored while gated");
    lockdep::set_ignore_gated(false);
    {
        let _g = g.lock();
        let _b = b.lock();
        let _a = a.lock();
    }
    let r = reports_about("10.");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].gates(), ["bg.10.gate"]);
}

/// Item 14: `LocksHeldAtExit` was reported once per thread (20,000 leaking threads: 20,000
/// reports); one problem (the same locks, taken at the same places) is one report.
#[test]
fn locks_held_at_exit_is_reported_once_per_problem() {
    let _s = serial(Mode::Collect);
    let m = Arc::new(mutex("14x.m"));
    for _ in 0..50 {
        let leaker = m.clone();
        std::thread::spawn(move || std::mem::forget(leaker.lock()))
            .join()
            .unwrap();
        // SAFETY: the lock is held by the exited thread's forgotten guard; nobody else uses it.
        unsafe { parking_unlock(&m) };
    }
    let r = reports_about("14x.");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].kind(), ReportKind::LocksHeldAtExit);
}

/// Unlocks a mutex left locked by an exited thread (the validator no longer tracks that
/// thread, so `force_unlock` from here is a bad unlock it refuses; go around it).
///
/// # Safety
/// The mutex must be locked by a forgotten guard of a thread that has exited.
unsafe fn parking_unlock(m: &Mutex<()>) {
    let prev = lockdep::mode();
    lockdep::set_mode(Mode::Off);
    // SAFETY: as the caller promises.
    unsafe { m.force_unlock() };
    lockdep::set_mode(prev);
}

/// Item 14: a cycle through many classes printed every link (a million classes: 150 MB); the
/// text now elides the middle and says how many links it left out, `Report::cycle()` keeps
/// every edge.
#[test]
fn a_very_long_cycle_is_printed_with_its_middle_left_out() {
    let _s = serial(Mode::Collect);
    let locks: Vec<Mutex<()>> = (0..200).map(|i| mutex(&format!("14c.{i:03}"))).collect();
    for w in locks.windows(2) {
        drop((w[0].lock(), w[1].lock()));
    }
    {
        let _last = locks[199].lock();
        let _first = locks[0].lock();
    }
    let r = reports_about("14c.");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].cycle().len(), 200);
    let text = r[0].to_string();
    assert!(
        text.contains("168 more links of the chain left out"),
        "{text}"
    );
    assert!(text.len() < 20_000, "{} bytes", text.len());
}

/// Item 14: in Warn mode a certain self-deadlock printed its report, then panicked with the
/// same report again; the panic message now points at the printed report.
#[test]
fn a_printed_certain_self_deadlock_is_not_repeated_in_the_panic_message() {
    let _s = serial(Mode::Warn);
    let m = mutex("14w.m");
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _a = m.lock();
        let _b = m.lock();
    }));
    let text = panic_text(&*r.expect_err("certain self-deadlock"));
    assert!(text.contains("certain self-deadlock"), "{text}");
    assert!(text.contains("see the report above"), "{text}");
    assert!(
        !text.contains("possible recursive locking detected"),
        "{text}"
    );
}

/// Item 14: a lockdep panic pointed at lockdep's own source (`validator.rs`); with
/// `#[track_caller]` through the panicking path it points at the user's `lock()` call.
#[test]
fn a_lockdep_panic_points_at_the_users_call() {
    let _s = serial(Mode::Panic);
    let seen: Arc<StdMutex<Option<(String, u32)>>> = Arc::default();
    let hook_seen = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(loc) = info.location() {
            *hook_seen.lock().unwrap() = Some((loc.file().to_string(), loc.line()));
        }
    }));
    let (a, b) = (mutex("14p.A"), mutex("14p.B"));
    drop((a.lock(), b.lock()));
    let expected_line = line!() + 3;
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _b = b.lock();
        let _a = a.lock();
    }));
    let _ = std::panic::take_hook();
    std::panic::set_hook(previous);
    assert!(r.is_err());
    let (file, line) = seen.lock().unwrap().clone().expect("a panic location");
    assert!(file.ends_with("bookkeeping_global.rs"), "{file}");
    assert_eq!(line, expected_line);
}

/// A bad unlock names the call site of the release (for a guard's drop, which has none, see
/// the unit test in `report/render.rs`).
#[test]
fn a_bad_unlock_report_says_where() {
    let _s = serial(Mode::Collect);
    static MAP: LockMap = LockMap::new("bg.14u.map");
    MAP.release();
    let r = reports_about("14u.");
    assert_eq!(r.len(), 1);
    let text = r[0].to_string();
    let line = text
        .lines()
        .skip_while(|l| !l.contains("is trying to release lock"))
        .nth(1)
        .unwrap();
    assert!(line.contains("bookkeeping_global.rs"), "{text}");
}

/// A condvar wait whose validation raises a report, with a report hook that turns validation
/// `Off`: the mutex is held across the wait, and `Off` keeps the held state, so it is taken
/// back as it was held. Its entry was dropped (the re-acquisition was skipped because the mode
/// was `Off` by then): lockdep no longer saw the mutex held — a false `assert_held`, no order
/// from it to the locks taken after. Found by `oracle_global` (modes and hooks;
/// `hook_turning_validation_off_during_a_condvar_wait` there).
#[test]
fn a_condvar_wait_keeps_its_mutex_when_the_hook_turns_validation_off() {
    let _s = serial(Mode::Collect);
    let m = mutex("cv_off.m");
    let cv = lockdep::Condvar::new();
    let woken = std::sync::atomic::AtomicBool::new(false);
    lockdep::set_report_hook(Some(Box::new(|_| lockdep::set_mode(Mode::Off))));
    std::thread::scope(|s| {
        let mut g = m.lock();
        s.spawn(|| {
            while !woken.load(std::sync::atomic::Ordering::Relaxed) {
                cv.notify_all();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        cv.arm(); // this thread says it will notify: waiting on it is reported
        cv.wait(&mut g);
        woken.store(true, std::sync::atomic::Ordering::Relaxed);
        lockdep::set_report_hook(None);
        lockdep::set_mode(Mode::Collect);
        assert_eq!(lockdep::held_state(&m), Some(true), "held across the wait");
        drop(g);
        assert_eq!(lockdep::held_state(&m), Some(false));
    });
    let kinds: Vec<ReportKind> = lockdep::take_reports().iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::RecursiveLocking]);
}
