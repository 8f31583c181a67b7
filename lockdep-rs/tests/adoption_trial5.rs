//! Adoption trial 5 (indicatif, crossbeam-channel; see the README's "Real crates, switched").
//! No false report was found. indicatif's two reports are true, reduced here with the report
//! asserted (a regression test that lockdep keeps finding them): a bar's steady ticker thread is
//! joined under the bar's `ticker` lock while `ProgressBar::update` takes `ticker` under the bar's
//! state (the published crate hangs on it), and the crate's unit tests read a `MultiProgress`'s
//! state and then a bar's, against the library's order (a bar draws under its state). crossbeam-
//! channel was silent, and rightly: its idiom is kept as a regression test that it stays silent;
//! a channel receive blocking under a lock its sender needs goes unseen: a `limit_` test.
#![cfg(lockdep_enabled)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lockdep::stdsync::{Arc, Condvar, Mutex, RwLock, Weak};
use lockdep::ReportKind;

mod common;
use common::{describe, expect_circular, expect_one};

// ---------------------------------------------------------------------------------------
// indicatif 0.18.6, `std::thread` switched too: a steady ticker joined under the bar's lock
// ---------------------------------------------------------------------------------------

/// indicatif's `Ticker`, reduced: a thread that ticks the bar (its state lock) and then waits
/// on a `Mutex<bool>` + `Condvar` for `interval` or until stopped; dropping it stops it and
/// joins the thread.
struct Ticker {
    stopping: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<lockdep::thread::JoinHandle<()>>,
}

impl Ticker {
    fn new(state: &Arc<Mutex<u64>>, ticked: Arc<AtomicBool>) -> Ticker {
        let stopping = Arc::new((
            Mutex::named("trial5.ticker.stopping", false),
            Condvar::new(),
        ));
        let (stop, state): (_, Weak<Mutex<u64>>) = (stopping.clone(), Arc::downgrade(state));
        let handle = lockdep::thread::spawn(move || {
            // `TickerControl::run`
            while let Some(arc) = state.upgrade() {
                *arc.lock().unwrap() += 1; // state.tick(now)
                drop(arc);
                ticked.store(true, Ordering::SeqCst);
                let (m, c) = &*stop;
                let r = c
                    .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(30), |s| !*s)
                    .unwrap();
                if !r.1.timed_out() {
                    break;
                }
            }
        });
        Ticker {
            stopping,
            handle: Some(handle),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        *self.stopping.0.lock().unwrap() = true;
        self.stopping.1.notify_one();
        self.handle.take().map(|h| h.join());
    }
}

/// indicatif 0.18.6 (`src/progress_bar.rs`), `std::sync` and `std::thread` switched: a
/// `ProgressBar` is `state: Arc<Mutex<BarState>>` and `ticker: Arc<Mutex<Option<Ticker>>>`.
/// `ProgressBar::update` takes the state, then `ticker` under it
/// (`self.state().update(now, f, self.ticker.lock().unwrap().is_none())`);
/// `enable_steady_tick` / `disable_steady_tick` (`stop_and_replace_ticker`) take `ticker` and
/// drop the old `Ticker` under it, which joins its thread; that thread takes the state every
/// tick. With one thread in `update` (state held, waiting for `ticker`), one replacing the
/// ticker (`ticker` held, joining) and the ticker thread just woken by its timeout (waiting for
/// the state), nobody moves: the published crate hangs so (trial 5's probe: one thread toggling
/// the steady tick every 100 µs, one calling `update`; hung within 0.1 s in each of 3 runs, the
/// three threads stopped there under gdb). A true report: one `CircularWait`, ticker -> (thread
/// exit) -> state -> ticker. Here the three steps run one after another, so nothing hangs.
#[test]
fn indicatif_ticker_joined_under_its_lock_against_update_is_reported() {
    let state = Arc::new(Mutex::named("trial5.bar.state", 0u64));
    let ticker: Mutex<Option<Ticker>> = Mutex::named("trial5.bar.ticker", None);
    let ((), reports) = lockdep::capture(|| {
        {
            // `update`: the state, then `ticker` under it
            let s = state.lock().unwrap();
            let t = ticker.lock().unwrap();
            assert!(t.is_none() && *s == 0);
        }
        // `enable_steady_tick(interval)`: a ticker installed; it ticks once
        let ticked = Arc::new(AtomicBool::new(false));
        *ticker.lock().unwrap() = Some(Ticker::new(&state, ticked.clone()));
        while !ticked.load(Ordering::SeqCst) {
            lockdep::thread::yield_now();
        }
        // `disable_steady_tick()`: the old ticker dropped, its thread joined, under `ticker`
        let mut t = ticker.lock().unwrap();
        drop(t.take());
    });
    let r = expect_one(
        "indicatif ticker",
        &reports,
        ReportKind::CircularWait,
        &[
            "trial5.bar.state".to_owned(),
            "trial5.bar.ticker".to_owned(),
            "(thread exit)".to_owned(),
        ],
    );
    assert_eq!(
        r.holding().as_deref(),
        Some("trial5.bar.ticker"),
        "{}",
        describe(&reports)
    );
}

// ---------------------------------------------------------------------------------------
// indicatif 0.18.6: a MultiProgress's state read, then a bar's (the crate's unit tests)
// ---------------------------------------------------------------------------------------

/// indicatif 0.18.6: a bar added to a `MultiProgress` draws into it while holding its own
/// state (`ProgressDrawTarget::drawable`: the multi's `RwLock` written under the bar's
/// `Mutex<BarState>`; `is_hidden` reads it so), but `multi::tests::multi_progress_insert_after`
/// and its neighbours hold `mp.state.read()` while they ask each bar its `index()` (the bar's
/// state). The suite's one report (`CircularDependency`, BarState / MultiState), and a true
/// one: the tests are single-threaded with no ticker, so they cannot hang, but with another
/// thread drawing that bar they would; through the public API the same order is
/// `mp.suspend(|| bar.message())` while another thread calls `bar.set_message(..)`, and that
/// hangs the published crate at once (trial 5's probe, 3 runs of 3). Here: the library's order
/// first (a draw), then the test's.
#[test]
fn indicatif_multi_state_then_bar_state_is_reported() {
    let multi = RwLock::named("trial5.multi.state", 0u32);
    let bar = Mutex::named("trial5.multi.bar", 0u64);
    let ((), reports) = lockdep::capture(|| {
        {
            // `pb.inc(1)` -> draw: the bar's state, then the multi's lock written
            let _b = bar.lock().unwrap();
            *multi.write().unwrap() += 1;
        }
        // the unit test: `let state = mp.state.read().unwrap(); p0.index()`
        let _m = multi.read().unwrap();
        let _b = bar.lock().unwrap();
    });
    expect_circular(
        "indicatif tests' order",
        &reports,
        "trial5.multi.bar",
        "trial5.multi.state",
        &[
            "trial5.multi.bar".to_owned(),
            "trial5.multi.state".to_owned(),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// crossbeam-channel 0.5.17: the waker lists, silent
// ---------------------------------------------------------------------------------------

/// crossbeam-channel 0.5.17 (`std::sync` and `std::thread` switched): every lock is built in
/// the crate's `utils::Mutex::new` wrapper (one site: one class per type, `Mutex<Waker>` for
/// the two waker lists of each array and list channel, `Mutex<Inner>` for each zero-capacity
/// channel). `Select` registers its operation with each channel in turn, taking and releasing
/// that channel's lock each time, and a waker notifies (unparks) under its own lock only: no
/// lock is ever taken under another (the suite, 464 tests, and a probe of 12 threads selecting
/// over four channels with timeouts, then 4 threads selecting sends and receives on two
/// rendezvous channels, recorded only the threads' exit events -> each class). Silent, and
/// rightly. Here: several channels' waker locks of one class, each taken alone from 4 threads.
#[test]
fn crossbeam_channel_select_registration_is_silent() {
    struct Waker(Mutex<Vec<std::thread::Thread>>);
    fn waker() -> Waker {
        Waker(Mutex::new(Vec::new())) // one site: `utils::Mutex::new`
    }
    let channels: Vec<(Waker, Waker)> = (0..4).map(|_| (waker(), waker())).collect();
    let ((), reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            for t in 0..4 {
                let channels = &channels;
                s.spawn(move || {
                    for i in 0..50 {
                        // `Select::select_timeout`: register with each channel, park, unregister
                        for (senders, receivers) in channels.iter() {
                            let w = if (t + i) % 2 == 0 { senders } else { receivers };
                            w.0.lock().unwrap().push(lockdep::thread::current());
                        }
                        lockdep::thread::park_timeout(Duration::from_micros(50));
                        for (senders, receivers) in channels.iter() {
                            let w = if (t + i) % 2 == 0 { senders } else { receivers };
                            let mut list = w.0.lock().unwrap();
                            if let Some(other) = list.pop() {
                                other.unpark(); // `SyncWaker::notify`, under its lock
                            }
                        }
                    }
                });
            }
        });
    });
    assert!(reports.is_empty(), "{}", describe(&reports));
}

/// A channel's blocking receive is not an event lockdep knows: crossbeam-channel (and flume,
/// and std's `mpsc`, crossbeam's code) block in `thread::park` until a sender wakes them. A
/// thread that receives while holding a lock its sender takes before sending deadlocks (with a
/// rendezvous channel, or any empty one), and lockdep sees only the sender's acquisition, with
/// nothing held: no report. Here the receive times out, so the test does not hang: the receiver
/// holds `M` and waits 100 ms on a rendezvous channel while the sender blocks on `M`; then it
/// lets `M` go and receives.
/// Limit (the README lists the waits lockdep validates: `Event`, `Condvar`, `Once`, joins):
/// today no report; right: a `CircularWait` (the receiver waits for the send while holding `M`,
/// which the sender takes before it), as for a `Condvar` wait; it would need the channel to arm
/// and signal a `lockdep::Event` around its park.
#[test]
fn limit_a_channel_receive_under_a_lock_its_sender_needs_is_not_seen() {
    use lockdep::stdsync::mpsc::sync_channel;
    let m = Mutex::named("trial5.channel.m", 0u32);
    let held = AtomicBool::new(false);
    let (tx, rx) = sync_channel::<u32>(0);
    let (timed_out, reports) = lockdep::capture(|| {
        lockdep::thread::scope(|s| {
            s.spawn(|| {
                while !held.load(Ordering::SeqCst) {
                    lockdep::thread::yield_now();
                }
                let v = *m.lock().unwrap(); // blocks: the receiver holds `m`
                tx.send(v + 1).unwrap(); // a rendezvous: waits for the receive
            });
            let g = m.lock().unwrap();
            held.store(true, Ordering::SeqCst);
            let timed_out = rx.recv_timeout(Duration::from_millis(100)).is_err(); // under `m`
            drop(g);
            assert_eq!(rx.recv().unwrap(), 1);
            timed_out
        })
    });
    assert!(timed_out, "the receive under `m` was expected to time out");
    assert!(reports.is_empty(), "{}", describe(&reports));
}
