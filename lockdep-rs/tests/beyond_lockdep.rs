//! What the kernel's lockdep does not do: gate locks, waits on events, pictures of cycles.
// Validation must be on (debug build, or `--features enabled`): compiled out, the locks are
// parking_lot's and nothing here would be reported (the oracle would wait out its hang guard).
#![cfg(lockdep_enabled)]

use lockdep::{Event, LockClass, Mutex, ReportKind, RwLock};

/// Tests here share the global ignore-gated switch: run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn class(name: &'static str) -> &'static LockClass {
    Box::leak(Box::new(LockClass::new(name)))
}

/// A and B in both orders, each time under `gate` (when given).
fn abba_under(gate: Option<&Mutex<()>>, a: &Mutex<()>, b: &Mutex<()>) -> Vec<lockdep::Report> {
    lockdep::capture(|| {
        {
            let _g = gate.map(Mutex::lock);
            let _a = a.lock();
            let _b = b.lock();
        }
        let _g = gate.map(Mutex::lock);
        let _b = b.lock();
        let _a = a.lock();
    })
    .1
}

#[test]
fn a_cycle_under_one_gate_instance_names_the_gate() {
    let _s = serial();
    let gate = Mutex::with_class(class("hotplug_gate"), ());
    let (a, b) = (
        Mutex::with_class(class("GA"), ()),
        Mutex::with_class(class("GB"), ()),
    );
    let reports = abba_under(Some(&gate), &a, &b);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    assert_eq!(reports[0].gates(), ["hotplug_gate"]);
    let text = reports[0].to_string();
    assert!(text.contains("likely a false positive"), "{text}");
    assert!(text.contains("hotplug_gate"), "{text}");
}

#[test]
fn no_gate_without_a_common_lock() {
    let _s = serial();
    let (a, b) = (
        Mutex::with_class(class("NA"), ()),
        Mutex::with_class(class("NB"), ()),
    );
    let reports = abba_under(None, &a, &b);
    assert_eq!(reports.len(), 1);
    assert!(reports[0].gates().is_empty());
    assert!(!reports[0].to_string().contains("false positive"));
}

#[test]
fn a_lock_held_for_read_is_never_a_gate() {
    let _s = serial();
    let gate = RwLock::with_class(class("read_gate"), ());
    let (a, b) = (
        Mutex::with_class(class("RA"), ()),
        Mutex::with_class(class("RB"), ()),
    );
    let (_, reports) = lockdep::capture(|| {
        {
            let _g = gate.read();
            let _a = a.lock();
            let _b = b.lock();
        }
        let _g = gate.read();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].gates().is_empty(), "{:?}", reports[0].gates());
}

#[test]
fn two_live_instances_of_one_class_are_not_a_gate() {
    let _s = serial();
    let k = class("&mem->state_mutex");
    let (g1, g2) = (Mutex::with_class(k, ()), Mutex::with_class(k, ()));
    let (a, b) = (
        Mutex::with_class(class("SA"), ()),
        Mutex::with_class(class("SB"), ()),
    );
    drop(g2.lock()); // both instances alive and used
    let (_, reports) = lockdep::capture(|| {
        {
            let _g = g1.lock();
            let _a = a.lock();
            let _b = b.lock();
        }
        let _g = g2.lock();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].gates().is_empty(), "{:?}", reports[0].gates());
}

#[test]
fn an_occurrence_without_the_gate_reports_the_cycle_again_ungated() {
    let _s = serial();
    let gate = Mutex::with_class(class("weak_gate"), ());
    let (a, b) = (
        Mutex::with_class(class("WA"), ()),
        Mutex::with_class(class("WB"), ()),
    );
    let first = abba_under(Some(&gate), &a, &b);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].gates(), ["weak_gate"]);
    // Now B -> A happens without the gate: a different, real problem.
    let (_, again) = lockdep::capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].kind(), ReportKind::CircularDependency);
    assert!(again[0].gates().is_empty());
}

#[test]
fn ignoring_gated_cycles_hides_them_but_not_ungated_ones() {
    let _s = serial();
    lockdep::set_ignore_gated(true);
    let gate = Mutex::with_class(class("ignored_gate"), ());
    let (a, b) = (
        Mutex::with_class(class("IA"), ()),
        Mutex::with_class(class("IB"), ()),
    );
    let gated = abba_under(Some(&gate), &a, &b);
    let (c, d) = (
        Mutex::with_class(class("IC"), ()),
        Mutex::with_class(class("ID"), ()),
    );
    let ungated = abba_under(None, &c, &d);
    lockdep::set_ignore_gated(false);
    assert!(gated.is_empty(), "{gated:?}");
    assert_eq!(ungated.len(), 1);
}

#[test]
fn waiting_while_holding_a_lock_the_waker_needs_is_a_circular_wait() {
    let _s = serial();
    let m = Mutex::with_class(class("ksm_thread_mutex"), ());
    let offline = Event::new("KSM_RUN_OFFLINE");
    // The waker arms the event, later takes the mutex to clear its flag, then signals.
    let (_, waker) = lockdep::capture(|| {
        offline.arm();
        assert!(offline.is_armed());
        drop(m.lock());
        offline.signal();
        assert!(!offline.is_armed());
    });
    assert!(waker.is_empty(), "{waker:?}");
    // The waiter sleeps on the event still holding the mutex: nobody can ever wake it.
    let (_, waiter) = lockdep::capture(|| {
        let _g = m.lock();
        offline.wait();
    });
    assert_eq!(waiter.len(), 1, "{waiter:?}");
    let r = &waiter[0];
    assert_eq!(r.kind(), ReportKind::CircularWait);
    assert_eq!(r.acquiring().as_deref(), Some("KSM_RUN_OFFLINE"));
    assert_eq!(r.holding().as_deref(), Some("ksm_thread_mutex"));
    let text = r.to_string();
    assert!(
        text.contains("WARNING: possible deadlock: a waiter holds a lock its waker needs"),
        "{text}"
    );
}

#[test]
fn the_order_of_waiter_and_waker_does_not_matter() {
    let _s = serial();
    let m = Mutex::with_class(class("late_mutex"), ());
    let ev = Event::new("LATE_EVENT");
    let (_, waiter) = lockdep::capture(|| {
        let _g = m.lock();
        ev.wait();
    });
    assert!(waiter.is_empty());
    let (_, waker) = lockdep::capture(|| {
        ev.arm();
        drop(m.lock()); // closes the cycle from the waker's side
        ev.signal();
    });
    assert_eq!(waker.len(), 1, "{waker:?}");
    assert_eq!(waker[0].kind(), ReportKind::CircularWait);
}

#[test]
fn waiting_with_nothing_held_is_silent() {
    let _s = serial();
    let m = Mutex::with_class(class("quiet_mutex"), ());
    let ev = Event::new("QUIET_EVENT");
    let (_, reports) = lockdep::capture(|| {
        ev.arm();
        drop(m.lock());
        ev.signal();
        {
            let _g = m.lock(); // the flag is checked under the mutex ...
        }
        ev.wait(); // ... but the wait happens with the mutex dropped
        drop(m.lock());
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn waiting_for_an_event_this_thread_armed_is_reported() {
    let _s = serial();
    let ev = Event::new("SELF_EVENT");
    let (_, reports) = lockdep::capture(|| {
        ev.arm();
        ev.wait();
        ev.signal();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::RecursiveLocking);
}

#[test]
fn graph_and_report_pictures() {
    let _s = serial();
    let (a, b) = (
        Mutex::with_class(class("DotA"), ()),
        Mutex::with_class(class("DotB"), ()),
    );
    let reports = abba_under(None, &a, &b);
    let dot = lockdep::graph_dot();
    assert!(dot.starts_with("digraph lockdep {"), "{dot}");
    assert!(dot.contains("\"DotA\" -> \"DotB\" [label=\"EN\"]"), "{dot}");
    let cycle = reports[0].dot();
    assert!(cycle.contains("\"DotB\" -> \"DotA\""), "{cycle}");
    assert!(cycle.contains("\"DotA\" -> \"DotB\""), "{cycle}");
    assert_eq!(reports[0].cycle().len(), 2);
    let stats = lockdep::stats();
    assert!(
        stats.classes >= 2 && stats.edges >= 1 && stats.chains >= 1,
        "{stats:?}"
    );
}

/// The chain cache's counters: a new pair is two misses (A alone, then A -> B); each warm
/// repetition is two hits, counted on the fast path and visible to this thread's `stats()`
/// at once. (Other tests of this binary may run meanwhile, so only lower bounds hold.)
#[test]
fn stats_count_fast_path_hits_and_slow_path_misses() {
    let (a, b) = (
        Mutex::with_class(class("StatsA"), ()),
        Mutex::with_class(class("StatsB"), ()),
    );
    let before = lockdep::stats();
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let first = lockdep::stats();
    assert!(
        first.cache_misses >= before.cache_misses + 2,
        "{before:?} -> {first:?}"
    );
    assert!(first.chains >= before.chains + 2, "{before:?} -> {first:?}");
    for _ in 0..1_000 {
        let _a = a.lock();
        let _b = b.lock();
    }
    let warm = lockdep::stats();
    assert!(
        warm.cache_hits >= first.cache_hits + 2_000,
        "{first:?} -> {warm:?}"
    );
    assert!(warm.hit_rate() > 0.0 && warm.hit_rate() <= 1.0, "{warm:?}");
    // More chains than the fast path's recent slots: hits found in the thread's own set
    // (out of the fast path, still thread-local) count as well.
    let many: Vec<Mutex<()>> = (0..100)
        .map(|i| Mutex::with_class(class(Box::leak(format!("StatsM{i}").into_boxed_str())), ()))
        .collect();
    many.iter().for_each(|m| drop(m.lock()));
    let cold = lockdep::stats();
    for _ in 0..10 {
        many.iter().for_each(|m| drop(m.lock()));
    }
    let cycled = lockdep::stats();
    assert!(
        cycled.cache_hits >= cold.cache_hits + 1_000,
        "{cold:?} -> {cycled:?}"
    );
    // Another thread's hits are added up when it exits, without any miss of its own.
    let (a, b) = (&a, &b);
    std::thread::scope(|t| {
        // An explicit join waits for the thread's thread-local destructors (the scope's own
        // implicit wait does not).
        t.spawn(|| {
            for _ in 0..1_000 {
                let _a = a.lock();
                let _b = b.lock();
            }
        })
        .join()
        .unwrap();
    });
    let joined = lockdep::stats();
    assert!(
        joined.cache_hits >= cycled.cache_hits + 1_990,
        "{cycled:?} -> {joined:?}"
    );
}

#[test]
fn registered_instances_of_one_class_are_not_a_gate() {
    let _s = serial();
    let k = class("&block->lock");
    let blocks: Vec<Mutex<()>> = (0..4).map(|_| Mutex::with_class(k, ())).collect();
    blocks.iter().for_each(Mutex::register); // known before any is taken
    let (a, b) = (
        Mutex::with_class(class("BA"), ()),
        Mutex::with_class(class("BB"), ()),
    );
    let reports = abba_under(Some(&blocks[0]), &a, &b);
    assert_eq!(reports.len(), 1);
    assert!(reports[0].gates().is_empty(), "{:?}", reports[0].gates());
}

#[test]
fn a_gate_dropped_and_recreated_stays_a_gate() {
    let _s = serial();
    fn gate() -> Mutex<()> {
        Mutex::named("recreated_gate", ())
    }
    let (a, b) = (
        Mutex::with_class(class("RGA"), ()),
        Mutex::with_class(class("RGB"), ()),
    );
    for round in 0..3 {
        let g = gate(); // the previous round's gate was dropped: never two alive at once
        let reports = abba_under(Some(&g), &a, &b);
        if round == 0 {
            assert_eq!(reports.len(), 1);
        }
        for r in &reports {
            assert_eq!(r.gates(), ["recreated_gate"], "round {round}");
        }
    }
}

#[test]
fn joining_a_thread_that_needs_a_held_lock_is_a_circular_wait() {
    let _s = serial();
    let state = std::sync::Arc::new(Mutex::with_class(class("join_state"), 0));
    let mut spawned_at = 0;
    let (_, reports) = lockdep::capture(|| {
        for hold in [false, true] {
            let s = state.clone();
            // One spawn site: the first worker takes `join_state`, so workers of this site
            // need it; the second one happens not to, so nothing really hangs here.
            spawned_at = line!() + 1;
            let worker = lockdep::thread::spawn(move || {
                if !hold {
                    *s.lock() += 1;
                }
            });
            let _g = hold.then(|| state.lock());
            worker.join().unwrap();
        }
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularWait);
    assert_eq!(reports[0].acquiring().as_deref(), Some("(thread exit)"));
    assert_eq!(reports[0].holding().as_deref(), Some("join_state"));
    // Which threads' exit: those of the spawn site.
    let text = reports[0].to_string();
    assert!(
        text.contains(&format!(
            "(thread exit) is the exit of the threads spawned at {}:{spawned_at}:",
            file!()
        )),
        "{text}"
    );
}

#[test]
fn joining_without_holding_what_the_thread_needs_is_silent() {
    let _s = serial();
    let state = std::sync::Arc::new(Mutex::with_class(class("join_free"), 0));
    let other = Mutex::with_class(class("join_other"), ());
    let (_, reports) = lockdep::capture(|| {
        let s = state.clone();
        let worker = lockdep::thread::spawn(move || *s.lock() += 1);
        let _o = other.lock(); // held across the join, but the worker never takes it
        worker.join().unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(*state.lock(), 1);
}

#[test]
fn a_condvar_waiter_holding_what_the_notifier_needs_is_a_circular_wait() {
    let _s = serial();
    let flag = std::sync::Arc::new(Mutex::with_class(class("cv_flag"), false));
    let cv = std::sync::Arc::new(lockdep::Condvar::new());
    let needed = Mutex::with_class(class("cv_needed"), ());
    let (_, reports) = lockdep::capture(|| {
        // The notifier's protocol, seen once: arm, take `cv_needed`, notify.
        cv.arm();
        drop(needed.lock());
        cv.notify_all();
        // A waiter that sleeps holding `cv_needed` (a helper thread sets the flag, so the
        // run itself finishes).
        let (f, c) = (flag.clone(), cv.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            *f.lock() = true;
            c.notify_all();
        });
        let _n = needed.lock();
        let mut g = flag.lock();
        cv.wait_while(&mut g, |ready| !*ready);
        drop(g);
        t.join().unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind(), ReportKind::CircularWait);
    assert_eq!(reports[0].holding().as_deref(), Some("cv_needed"));
}
