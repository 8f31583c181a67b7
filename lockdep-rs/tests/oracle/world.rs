//! The lockdep objects a program runs on, and the means to survive lockdep's mistakes: a
//! supervisor that wakes condvar waits and, when an acquisition lockdep should have refused
//! (a certain self-deadlock) blocks for real, releases the real lock behind lockdep's back so
//! that the disagreement is reported instead of hanging the suite.
//!
//! Every call into lockdep's lock API is made from this file, so a panic lockdep raises must
//! point here (issue 12 item 14: `#[track_caller]` through the panicking path).

#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use lockdep::{
    Condvar, Event, LockClass, LockMap, Mutex, MutexGuard, RwLock, RwLockReadGuard,
    RwLockWriteGuard,
};

use super::model::{Base, Inst, Kind, Rd};

/// Base classes of real locks per program; each has subclasses (0..=2 are used).
pub const BASES: u8 = 3;
/// Lock instances per base class: the first a `Mutex` (exclusive only), the others `RwLock`s.
pub const INSTANCES: u8 = 3;
pub const LOCKS: u8 = BASES * INSTANCES;
/// The gate: a `Mutex` of a class of its own, its only instance (so it can serialise what is
/// done under it: `Report::gates`). Lock number `LOCKS`, taken only by `Op::Gate`.
pub const GATE: u8 = LOCKS;
/// Pseudo-locks: two of class `m0`, two of class `m1` (two instances each, so no class can
/// serve as a gate).
pub const MAPS: u8 = 4;
pub const EVENTS: u8 = 2;

/// Oracle instance numbers.
pub fn map_inst(m: u8) -> Inst {
    (GATE + 1) as Inst + m as Inst
}
pub fn event_inst(e: u8) -> Inst {
    (GATE + 1 + MAPS) as Inst + e as Inst
}
pub const CV_INST: Inst = (GATE + 1 + MAPS + EVENTS) as Inst;
/// Thread-exit events get instance numbers from here on.
pub const EXIT_INST: Inst = 100;

/// Oracle base classes beyond the locks'.
pub const B_MAP: u8 = BASES; // m0, m1
pub const B_EVENT: u8 = BASES + 2; // e0, e1
pub const B_CV: u8 = BASES + 4;
pub const B_EXIT: u8 = BASES + 5; // spawn sites A and B; subclass = nesting depth
pub const B_GATE: u8 = BASES + 7;

/// The oracle's class of lock `inst` taken as subclass `sub`.
pub fn lock_class(inst: u8, sub: u8) -> super::model::Class {
    if inst == GATE {
        super::model::Class {
            base: B_GATE,
            sub: 0,
        }
    } else {
        super::model::Class {
            base: inst / INSTANCES,
            sub,
        }
    }
}

/// Which call site of this file an acquisition goes through (lockdep keys some reports by
/// the sites of the acquisitions involved): `Lock::lock`'s four, `try_lock`'s three,
/// `lock_nest`'s six, then the pseudo-lock and event calls.
pub fn lock_site(mutex: bool, rd: Rd) -> u8 {
    match (mutex, rd) {
        (true, _) => 1,
        (false, Rd::W) => 2,
        (false, Rd::R1) => 3,
        (false, Rd::R2) => 4,
    }
}
pub fn try_site(mutex: bool, rd: Rd) -> u8 {
    match (mutex, rd) {
        (true, _) => 5,
        (false, Rd::W) => 6,
        (false, _) => 7,
    }
}
/// `guard`: 0 a mutex guard, 1 a read guard, 2 a write guard.
pub fn nest_site(mutex: bool, guard: u8) -> u8 {
    8 + guard + if mutex { 0 } else { 3 }
}
pub const SITE_MAP: u8 = 14;
pub const SITE_MAP_READ: u8 = 15;
pub const SITE_LEAK: u8 = 16;
pub const SITE_MIGHT: u8 = 17;
pub const SITE_ARM: u8 = 18;
pub const SITE_WAIT: u8 = 19;
pub const SITE_CV: u8 = 20;
/// `Condvar::arm` (the condvar as an event: `Op::Ev` with `e == EVENTS`).
pub const SITE_CV_ARM: u8 = 21;

pub enum Lock {
    M(Mutex<()>),
    Rw(RwLock<()>),
}

/// A guard of a program lock.
pub enum Guard {
    M(MutexGuard<'static, ()>),
    R(RwLockReadGuard<'static, ()>),
    W(RwLockWriteGuard<'static, ()>),
}

impl Lock {
    pub fn is_mutex(&self) -> bool {
        matches!(self, Lock::M(_))
    }

    /// A blocking acquisition (a recursive read has no nested variant: `sub` is 0 then).
    pub fn lock(&'static self, sub: u8, rd: Rd) -> Guard {
        match (self, rd) {
            (Lock::M(m), _) => Guard::M(m.lock_nested(sub)),
            (Lock::Rw(l), Rd::W) => Guard::W(l.write_nested(sub)),
            (Lock::Rw(l), Rd::R1) => Guard::R(l.read_nested(sub)),
            (Lock::Rw(l), Rd::R2) => Guard::R(l.read_recursive()),
        }
    }

    pub fn try_lock(&'static self, rd: Rd) -> Option<Guard> {
        match (self, rd) {
            (Lock::M(m), _) => m.try_lock().map(Guard::M),
            (Lock::Rw(l), Rd::W) => l.try_write().map(Guard::W),
            (Lock::Rw(l), _) => l.try_read().map(Guard::R),
        }
    }

    /// `lock_nest_lock` / `write_nest_lock` under the lock of `nest`.
    pub fn lock_nest(&'static self, nest: &Guard) -> Guard {
        match (self, nest) {
            (Lock::M(m), Guard::M(n)) => Guard::M(m.lock_nest_lock(n)),
            (Lock::M(m), Guard::R(n)) => Guard::M(m.lock_nest_lock(n)),
            (Lock::M(m), Guard::W(n)) => Guard::M(m.lock_nest_lock(n)),
            (Lock::Rw(l), Guard::M(n)) => Guard::W(l.write_nest_lock(n)),
            (Lock::Rw(l), Guard::R(n)) => Guard::W(l.write_nest_lock(n)),
            (Lock::Rw(l), Guard::W(n)) => Guard::W(l.write_nest_lock(n)),
        }
    }

    /// Releases the lock through `force_unlock*` after forgetting the guard.
    pub fn force_release(&'static self, g: Guard) {
        match (g, self) {
            (Guard::M(g), Lock::M(m)) => {
                std::mem::forget(g);
                // SAFETY: this thread locked `m` through the guard just forgotten.
                unsafe { m.force_unlock() }
            }
            (Guard::R(g), Lock::Rw(l)) => {
                std::mem::forget(g);
                // SAFETY: this thread read-locked `l` through the guard just forgotten.
                unsafe { l.force_unlock_read() }
            }
            (Guard::W(g), Lock::Rw(l)) => {
                std::mem::forget(g);
                // SAFETY: this thread write-locked `l` through the guard just forgotten.
                unsafe { l.force_unlock_write() }
            }
            _ => unreachable!("a guard of another kind of lock"),
        }
    }

    pub fn is_held(&self) -> bool {
        match self {
            Lock::M(m) => lockdep::is_held(m),
            Lock::Rw(l) => lockdep::is_held(l),
        }
    }
}

/// `Condvar::wait` on a mutex guard.
pub fn cv_wait(cv: &Condvar, g: &mut Guard) {
    match g {
        Guard::M(g) => cv.wait(g),
        _ => unreachable!("condvar waits are on mutex guards"),
    }
}

/// Condvar waits that cannot sleep: a zero timeout, a deadline already passed.
pub fn cv_wait_no_sleep(cv: &Condvar, g: &mut Guard) {
    match g {
        Guard::M(g) => {
            assert!(cv.wait_for(g, std::time::Duration::ZERO).timed_out());
            assert!(cv.wait_until(g, std::time::Instant::now()).timed_out());
        }
        _ => unreachable!("condvar waits are on mutex guards"),
    }
}

pub fn map_acquire(m: &LockMap, rd: Rd) {
    if rd == Rd::R2 {
        m.acquire_read()
    } else {
        m.acquire()
    }
}
pub fn map_release(m: &LockMap) {
    m.release()
}
/// Leaks a pseudo-lock acquisition (held at thread exit): a call site of its own.
pub fn map_leak(m: &LockMap) {
    m.acquire()
}
pub fn map_might(m: &LockMap) {
    m.might_acquire()
}
pub fn event_arm(e: &Event) {
    e.arm()
}
pub fn event_signal(e: &Event) {
    e.signal()
}
pub fn event_wait(e: &Event) {
    e.wait()
}
/// The construction site of the worlds' condvars (their class's name), set by the first.
static CONDVAR_SITE: std::sync::OnceLock<&'static std::panic::Location<'static>> =
    std::sync::OnceLock::new();

/// A world's condvar, and its construction site (one for every world: its class's name).
fn world_condvar() -> (Condvar, &'static std::panic::Location<'static>) {
    built_here()
}
#[track_caller]
fn built_here() -> (Condvar, &'static std::panic::Location<'static>) {
    (Condvar::new(), std::panic::Location::caller())
}

/// The condvar made pending by this thread (`Op::Ev` on event number `EVENTS`).
pub fn cv_arm(cv: &Condvar) {
    cv.arm()
}
/// The condvar notified: ends this thread's armed span.
pub fn cv_notify(cv: &Condvar) {
    cv.notify_all();
}

/// Everything a program runs on. Leaked: threads, the report hook and the supervisor refer
/// to it.
pub struct World {
    pub locks: Vec<Lock>,
    pub maps: Vec<LockMap>,
    pub events: Vec<Event>,
    pub cv: Condvar,
    pub monitor: Monitor,
    pub prefix: String,
    /// Instances ever taken while the mode was `Off` (lockdep then lets a release it cannot
    /// match be, instead of reporting a bad unlock), by oracle instance number.
    pub taken_off: Vec<AtomicBool>,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// One construction site for every pseudo-lock: two with one name share a class.
fn new_map(name: &'static str) -> LockMap {
    LockMap::new(name)
}
fn new_event(name: &'static str) -> Event {
    Event::new(name)
}

impl World {
    /// A world of fresh classes; `prefix` makes pseudo-lock and event names unique (they are
    /// keyed by site and name).
    pub fn new(prefix: &str) -> &'static World {
        let classes: Vec<&'static LockClass> = (0..BASES)
            .map(|b| &*Box::leak(Box::new(LockClass::new(leak(format!("c{b}"))))))
            .collect();
        let mut locks: Vec<Lock> = (0..LOCKS)
            .map(|i| {
                let class = classes[(i / INSTANCES) as usize];
                if i % INSTANCES == 0 {
                    Lock::M(Mutex::with_class(class, ()))
                } else {
                    Lock::Rw(RwLock::with_class(class, ()))
                }
            })
            .collect();
        let gate: &'static LockClass = Box::leak(Box::new(LockClass::new("g")));
        locks.push(Lock::M(Mutex::with_class(gate, ())));
        let maps = (0..MAPS)
            .map(|m| new_map(leak(format!("{prefix}m{}", m / 2))))
            .collect();
        let events = (0..EVENTS)
            .map(|e| new_event(leak(format!("{prefix}e{e}"))))
            .collect();
        let (cv, site) = world_condvar();
        CONDVAR_SITE.get_or_init(|| site);
        let w: &'static World = Box::leak(Box::new(World {
            locks,
            maps,
            events,
            cv,
            monitor: Monitor::default(),
            prefix: prefix.to_string(),
            taken_off: (0..=CV_INST).map(|_| AtomicBool::new(false)).collect(),
        }));
        // Every instance alive and known from the start: then no class can serve as a gate
        // (`Report::gates`, not modelled) and no instance born later makes lockdep forget
        // its chains. Successful trylocks leave no edge and no chain; pseudo-locks have no
        // trylock, so this validates the one-entry chains `[m]`, which can never report.
        let ((), _) = lockdep::capture(|| {
            for l in &w.locks {
                drop(l.try_lock(Rd::W).expect("a fresh lock"));
            }
            for m in &w.maps {
                m.might_acquire();
            }
        });
        w
    }

    /// The oracle's base classes for this world.
    pub fn bases() -> Vec<Base> {
        let b = |name: &str, kind| Base {
            name: name.to_string(),
            kind,
            gate: false,
        };
        let mut v: Vec<Base> = (0..BASES)
            .map(|i| b(&format!("c{i}"), Kind::Lock))
            .collect();
        v.push(b("m0", Kind::Map));
        v.push(b("m1", Kind::Map));
        v.push(b("e0", Kind::Event));
        v.push(b("e1", Kind::Event));
        // (Not a condvar built here to learn its site: a lock born during a run changes what
        // lockdep remembers, see `World::new`.)
        let at = CONDVAR_SITE
            .get()
            .expect("a world is built before its runner");
        v.push(b(
            &format!("condvar at {}:{}:{}", at.file(), at.line(), at.column()),
            Kind::Event,
        ));
        v.push(b("(thread exit)", Kind::Event));
        v.push(b("(thread exit)", Kind::Event));
        v.push(Base {
            gate: true,
            ..b("g", Kind::Lock)
        });
        v
    }
}

/// What the program thread is doing that needs help from the supervisor.
#[derive(Default)]
pub enum Pending {
    #[default]
    Nothing,
    /// Waiting on the world's condvar: notify until it returns.
    Wait,
    /// An acquisition lockdep must refuse (a certain self-deadlock): if it blocks instead,
    /// release the lock's real holds (`holds`) behind lockdep's back.
    Refuse {
        lock: &'static Lock,
        holds: Vec<Rd>,
        /// The acquiring thread (`/proc/<pid>/task/<tid>`), to see whether it is parked.
        task: Option<std::path::PathBuf>,
        /// Since when the supervisor has seen it parked without a break.
        parked: Option<Instant>,
    },
}

impl Pending {
    /// An acquisition by the calling thread that lockdep must refuse.
    pub fn refuse(lock: &'static Lock, holds: Vec<Rd>) -> Pending {
        thread_local! {
            static TASK: Option<std::path::PathBuf> = std::fs::read_link("/proc/thread-self")
                .ok()
                .map(|p| std::path::Path::new("/proc").join(p));
        }
        Pending::Refuse {
            lock,
            holds,
            task: TASK.with(|t| t.clone()),
            parked: None,
        }
    }
}

/// Is the thread parked on a futex (blocked on a lock, not running lockdep's code)?
fn parked(task: &std::path::Path) -> bool {
    let state = std::fs::read_to_string(task.join("stat")).unwrap_or_default();
    let state = state.rsplit_once(") ").map_or("", |s| s.1);
    let wchan = std::fs::read_to_string(task.join("wchan")).unwrap_or_default();
    state.starts_with('S') && wchan.contains("futex")
}

/// The log of a program as executed, shared with the supervisor (which shows it if the
/// program hangs).
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<StdMutex<String>>);

impl std::fmt::Write for Log {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push_str(s);
        Ok(())
    }
}

impl std::fmt::Display for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The supervisor's view of one program.
#[derive(Default)]
pub struct Monitor {
    /// The running program's log.
    pub log: StdMutex<Log>,
    pub pending: StdMutex<Pending>,
    /// Set when the supervisor had to release a lock: lockdep let a certain self-deadlock
    /// block.
    pub rescued: AtomicBool,
}

impl Monitor {
    pub fn set(&self, p: Pending) {
        self.swap(p);
    }

    pub fn swap(&self, p: Pending) -> Pending {
        std::mem::replace(
            &mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()),
            p,
        )
    }

    /// Called by the supervisor while it waits for the program: wakes condvar waits and
    /// rescues acquisitions that block where lockdep should have panicked. Returns true if
    /// it has something to watch (poll again soon).
    pub fn tick(&self, cv: &Condvar) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *p {
            Pending::Nothing => false,
            Pending::Wait => {
                cv.notify_all();
                true
            }
            Pending::Refuse {
                lock,
                holds,
                task,
                parked: since,
            } => {
                // Parked on a futex for 200 ms without a break (lockdep's own locks are
                // never held that long; stack traces are off in these tests), or with no
                // way to tell, not done after 5 s.
                let now = Instant::now();
                let blocked = match task {
                    Some(task) if parked(task) => {
                        now - *since.get_or_insert(now) > Duration::from_millis(200)
                    }
                    Some(_) => {
                        *since = None;
                        false
                    }
                    None => now - *since.get_or_insert(now) > Duration::from_secs(5),
                };
                if blocked {
                    release_behind_lockdeps_back(lock, holds.clone());
                    self.rescued.store(true, Ordering::SeqCst);
                    *p = Pending::Nothing;
                }
                true
            }
        }
    }
}

/// Releases the real holds of `lock` without lockdep knowing: from a thread-local destructor
/// of a helper thread that runs after lockdep's own thread state is destroyed (destructors run
/// in reverse order of first use), where `force_unlock*` finds no state to check.
fn release_behind_lockdeps_back(lock: &'static Lock, holds: Vec<Rd>) {
    struct Late(RefCell<Option<(&'static Lock, Vec<Rd>)>>);
    impl Drop for Late {
        fn drop(&mut self) {
            if let Some((lock, holds)) = self.0.borrow_mut().take() {
                for rd in holds {
                    // SAFETY: the program thread holds `lock` this way (through a guard it
                    // will never use again: the program has already failed).
                    unsafe {
                        match (lock, rd) {
                            (Lock::M(m), _) => m.force_unlock(),
                            (Lock::Rw(l), Rd::W) => l.force_unlock_write(),
                            (Lock::Rw(l), _) => l.force_unlock_read(),
                        }
                    }
                }
            }
        }
    }
    thread_local! {
        static LATE: Late = const { Late(RefCell::new(None)) };
    }
    std::thread::spawn(move || {
        LATE.with(|l| *l.0.borrow_mut() = Some((lock, holds)));
        let _ = lock.is_held(); // lockdep's state, set up after ours: destroyed before it
    })
    .join()
    .expect("the rescue thread");
}

/// A panic caught while a step ran: where it was raised and its message.
#[derive(Clone, Debug)]
pub struct Panicked {
    pub file: String,
    pub line: u32,
    pub message: String,
}

thread_local! {
    static PANICS: RefCell<Option<Vec<Panicked>>> = const { RefCell::new(None) };
}

/// Runs `f`, recording (instead of printing) the panics raised on this thread meanwhile,
/// caught or not; returns `f`'s result (`Err` if it panicked) and the panics in order.
pub fn catching<R>(f: impl FnOnce() -> R) -> (std::thread::Result<R>, Vec<Panicked>) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = PANICS.try_with(|p| {
                let Ok(mut p) = p.try_borrow_mut() else {
                    return false;
                };
                let Some(v) = p.as_mut() else { return false };
                let loc = info.location();
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                v.push(Panicked {
                    file: loc.map(|l| l.file().to_string()).unwrap_or_default(),
                    line: loc.map_or(0, |l| l.line()),
                    message,
                });
                true
            });
            if recorded != Ok(true) {
                default(info);
            }
        }));
    });
    let outer = PANICS.with(|p| p.borrow_mut().replace(Vec::new()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let panics = PANICS.with(|p| std::mem::replace(&mut *p.borrow_mut(), outer));
    (r, panics.unwrap_or_default())
}
