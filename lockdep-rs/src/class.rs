//! Lock classes: what groups lock instances together.
//!
//! A lock's class is fixed when it is constructed: its construction site (`Mutex::new`), its
//! site and a name (`Mutex::named`), or a static [`LockClass`] key (`Mutex::with_class`). Each
//! subclass `n` of a class (`lock_nested(n)`) is a class of its own, shown as `name/n`. A
//! site that cannot tell its locks apart (built by `Default` / `From`, or any site under the
//! lenient policy) is one class per data type, and its distinct locks may nest. With
//! validation enabled the registry turns keys into [`ClassInfo`]s, which live for the rest of
//! the process (as in the kernel, classes are never freed).

#[cfg(lockdep_enabled)]
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[cfg(lockdep_enabled)]
use once_cell::race::OnceRef;

/// A named class key, meant to live in a `static`.
///
/// Every lock built with `with_class(&KEY, ..)` belongs to the class of `KEY`, wherever it is
/// constructed: the equivalent of a kernel `struct lock_class_key` passed to `lockdep_set_class`.
///
/// ```
/// use lockdep::{LockClass, Mutex};
/// static INODE_LOCK: LockClass = LockClass::new("&inode->i_lock");
/// let a = Mutex::with_class(&INODE_LOCK, 1);
/// let b = Mutex::with_class(&INODE_LOCK, 2);
/// assert_eq!(INODE_LOCK.name(), "&inode->i_lock");
/// # drop((a, b));
/// ```
pub struct LockClass {
    name: &'static str,
    #[cfg(lockdep_enabled)]
    pub(crate) cached: OnceRef<'static, ClassInfo>,
}

impl LockClass {
    /// A class key with the name shown in reports.
    pub const fn new(name: &'static str) -> LockClass {
        LockClass {
            name,
            #[cfg(lockdep_enabled)]
            cached: OnceRef::new(),
        }
    }

    /// The name shown in reports.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl std::fmt::Debug for LockClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockClass")
            .field("name", &self.name)
            .finish()
    }
}

/// What kind of lock a site class is of (`"Mutex"`, `"RwLock"`, …): a `Mutex` and an `RwLock`
/// built at one site are never one class.
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) type LockKind = &'static str;

/// What built a lock whose site cannot tell its locks apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(not(lockdep_enabled), allow(dead_code))]
pub(crate) enum Maker {
    /// `Default::default()` (e.g. every field of a `#[derive(Default)]` struct comes from the
    /// derive's one site).
    Default,
    /// `From::from` / `.into()`.
    From,
}

#[cfg(lockdep_enabled)]
pub(crate) use registry::*;

#[cfg(lockdep_enabled)]
mod registry {
    use super::*;
    use dashmap::DashMap;

    use crate::sync::internal::Section;
    use once_cell::sync::Lazy;
    use std::panic::Location;

    /// Highest subclass plus one (kernel MAX_LOCKDEP_SUBCLASSES).
    pub(crate) const MAX_SUBCLASSES: u8 = 8;

    /// The name of a lock's data type (`std::any::type_name::<T>`, kept as the function: one
    /// word, and callable from the `const` constructors).
    pub(crate) type TypeName = fn() -> &'static str;

    /// Can the construction site `loc` not tell its locks apart, so that its class is split
    /// by data type and its locks may nest (see [`ClassInfo::lenient`])? Under the lenient
    /// policy, every site; else a site inside the standard library (`.map(Mutex::new)` builds
    /// every lock of the program in `core`'s `FnOnce::call_once`) or inside lockdep itself (a
    /// constructor reified to a function pointer, `let make: fn(T) -> Mutex<T> =
    /// Mutex::new`, loses its caller: its site is lockdep's own source line, for every lock
    /// of the program built that way).
    fn typed_site(loc: &'static Location<'static>) -> bool {
        crate::mode::lenient_sites() || in_std(loc.file()) || in_lockdep(loc.file())
    }

    /// Is `file` a source file of lockdep itself (under the directory of this file)?
    fn in_lockdep(file: &str) -> bool {
        let own = file!();
        let dir = own.strip_suffix("class.rs").unwrap_or(own);
        !dir.is_empty() && file.starts_with(dir)
    }

    /// Is `file` a source file of the standard library: `/rustc/<commit>/library/...` as the
    /// shipped standard library names them, or the `rust-src` component's path (built with
    /// `-Zbuild-std`)?
    pub(crate) fn in_std(file: &str) -> bool {
        file.starts_with("/rustc/") || file.contains("/rustlib/src/rust/library/")
    }

    /// Where a lock's class comes from.
    #[derive(Clone, Copy)]
    pub(crate) enum ClassSource {
        /// A construction site; the data type splits it only under the lenient policy.
        Site(&'static Location<'static>, LockKind, TypeName),
        Named(&'static Location<'static>, &'static str, LockKind),
        /// Built by `Default` or `From` at this site: one class per site and data type (a
        /// derive's fields of different types are different classes), whose distinct
        /// instances may nest (see [`ClassInfo::lenient`]).
        Made(&'static Location<'static>, LockKind, Maker, TypeName),
        /// A pseudo-lock ([`LockMap`](crate::LockMap)) named at its construction site: it is
        /// validated like a lock but never blocks.
        Pseudo(&'static Location<'static>, &'static str),
        /// An event (wait/wake annotation) named at its construction site; `depth` separates
        /// the exit events of nested `lockdep::thread`s spawned at one site.
        Event(&'static Location<'static>, &'static str, u32),
        /// A condition variable's event, of its construction site: shown as `condvar at
        /// file:line:col` (a report may name several condvars; `condvar` alone told them
        /// apart from nothing). Keyed as the event `condvar` of its site.
        Condvar(&'static Location<'static>),
        /// A one-time cell's event (`Once`, `OnceLock`, `LazyLock`) of its construction site,
        /// shown as `OnceLock at file:line:col`: an event whose distinct instances may nest (one cell's initializer forcing
        /// another's, as a lazily computed tree does), their order checked per instance.
        #[cfg_attr(loom, allow(dead_code))]
        // used by the drop-in API, which loom builds leave out
        Cell(&'static Location<'static>, &'static str),
        Static(&'static LockClass),
        /// Drop-in addition: a raw `lock_api` lock (`RawMutex::INIT`) has no construction
        /// site, so each instance is its own class (the kernel keys static locks by address),
        /// named `kind#instance`. Resolved by [`instance_class`].
        #[cfg_attr(loom, allow(dead_code))]
        // used by the drop-in API, which loom builds leave out
        Instance(&'static str),
    }

    /// What a site class stands for.
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum SiteKind {
        Lock(LockKind, Option<Maker>),
        Pseudo,
        Event { depth: u32 },
        Cell,
    }

    #[derive(Clone, PartialEq, Eq, Hash)]
    enum KeyKind {
        Site {
            file: &'static str,
            line: u32,
            column: u32,
            name: Option<&'static str>,
            kind: SiteKind,
            /// The data type, for a lenient class (see [`ClassInfo::lenient`]): a site that
            /// cannot tell its locks apart still tells their types apart.
            ty: Option<&'static str>,
        },
        Static(usize),
        Instance(usize),
    }

    #[derive(Clone, PartialEq, Eq, Hash)]
    struct ClassKey {
        kind: KeyKind,
        subclass: u8,
    }

    /// One registered class (a class key plus subclass). Leaked: lives for the process.
    pub(crate) struct ClassInfo {
        /// Dense index, used by the dependency graph and chain keys.
        pub(crate) id: u32,
        /// The chain key of a stack holding only a lock of this class, per read mode
        /// (`Read as usize`): what the fast path pushes for a lock taken with nothing held,
        /// which needs no validation at all.
        pub(crate) solo_keys: [u64; 3],
        /// Base name (without `/n`).
        pub(crate) name: &'static str,
        pub(crate) subclass: u8,
        /// For subclass 0: its subclasses, registered on first use.
        subclasses: [OnceRef<'static, ClassInfo>; MAX_SUBCLASSES as usize],
        /// The subclass-0 class this one belongs to.
        base: Option<&'static ClassInfo>,
        /// Live lock instances of this class (counted on the base class): +1 when a lock is
        /// first taken, -1 when a lock that was taken is dropped.
        live: AtomicU32,
        /// Two instances were ever alive at once: the class can never be a gate.
        ever_shared: AtomicBool,
        /// Some edge recorded this class as a gate (so losing gate status must re-validate).
        gate_used: AtomicBool,
        /// An event (a wait/wake annotation), not a lock.
        pub(crate) event: bool,
        /// A pseudo-lock: validated like a lock, but taking it never blocks.
        pub(crate) pseudo: bool,
        /// A one-time cell's event (`Once`, `OnceLock`, `LazyLock`): only the thread running
        /// the initializer signals it, so waiting for it while this thread has it armed (the
        /// initializer reached its own cell again) can never end.
        pub(crate) cell: bool,
        /// Two distinct locks of this class may be held at once without an annotation: their
        /// site cannot tell them apart (built by `Default`/`From`, or any site under the
        /// lenient class policy; one-time cells, whose initializers may force each other), so
        /// their nesting is validated per instance instead of being reported as recursive
        /// locking.
        pub(crate) lenient: bool,
        key: ClassKey,
    }

    impl ClassInfo {
        /// The name shown in reports: `name` or `name/n`.
        pub(crate) fn display_name(&self) -> String {
            if self.subclass == 0 {
                self.name.to_string()
            } else {
                format!("{}/{}", self.name, self.subclass)
            }
        }

        /// The subclass-0 class of this class's lock key.
        pub(crate) fn base(&'static self) -> &'static ClassInfo {
            self.base.unwrap_or(self)
        }

        /// Does taking a lock of this class block while it is held? (Not for events and
        /// pseudo-locks, which are annotations: re-taking one is never a certain deadlock.)
        pub(crate) fn blocks(&self) -> bool {
            !self.event && !self.pseudo
        }

        /// Is taking (or waiting for) an instance of this class that this thread holds a
        /// certain self-deadlock? For a lock that blocks, and for a one-time cell's event
        /// (see [`cell`](Self::cell)).
        pub(crate) fn certain_when_held(&self) -> bool {
            self.blocks() || self.cell
        }

        /// Can a held lock of this class serialise whatever is done under it? Only if no two
        /// of its instances were ever alive at once (then the class *is* the instance).
        pub(crate) fn can_gate(&'static self) -> bool {
            !self.event && !self.base().ever_shared.load(Ordering::Relaxed)
        }

        pub(crate) fn note_gate_use(&'static self) {
            let base = self.base();
            if !base.gate_used.load(Ordering::Relaxed) {
                base.gate_used.store(true, Ordering::Relaxed);
            }
        }

        /// A lock of this class was taken for the first time. Returns true if that makes two
        /// live instances of a class some edge used as a gate: every chain must then be
        /// validated again, so the cycles it gated are reported again, ungated.
        #[must_use]
        pub(crate) fn instance_born(&'static self) -> bool {
            let base = self.base();
            base.live.fetch_add(1, Ordering::Relaxed) >= 1
                && !base.ever_shared.swap(true, Ordering::Relaxed)
                && base.gate_used.load(Ordering::Relaxed)
        }

        /// A lock of this class that was taken is being dropped.
        pub(crate) fn instance_died(&'static self) {
            self.base().live.fetch_sub(1, Ordering::Relaxed);
        }

        /// The class for `subclass` (0 is `self`), registered on first use.
        #[inline]
        pub(crate) fn subclass(&'static self, subclass: u8) -> &'static ClassInfo {
            if subclass == 0 {
                return self;
            }
            self.subclass_slow(subclass)
        }

        #[cold]
        fn subclass_slow(&'static self, subclass: u8) -> &'static ClassInfo {
            let slot = &self.subclasses[subclass as usize];
            if let Some(info) = slot.get() {
                return info;
            }
            let key = ClassKey {
                kind: self.key.kind.clone(),
                subclass,
            };
            let info = register(key, self.name, subclass, Some(self));
            let _ = slot.set(info); // a racing thread registered the same class: same pointer
            info
        }
    }

    struct Registry {
        by_key: DashMap<ClassKey, &'static ClassInfo>,
        by_id: crate::sync::internal::RwLock<Vec<&'static ClassInfo>>,
    }

    static REGISTRY: Lazy<Registry> = Lazy::new(|| Registry {
        by_key: DashMap::new(),
        by_id: Default::default(),
    });

    fn register(
        key: ClassKey,
        name: &'static str,
        subclass: u8,
        base: Option<&'static ClassInfo>,
    ) -> &'static ClassInfo {
        let _section = Section::enter(); // the registry's lazy and shard locks
                                         // The entry API makes concurrent first registrations of one key yield one class.
        *REGISTRY.by_key.entry(key.clone()).or_insert_with(|| {
            let mut by_id = REGISTRY.by_id.write();
            let id = by_id.len() as u32;
            let solo = |read: u64| {
                let chain_id = ((id as u64) << 3) | (read << 1);
                crate::chain_key::mix_chain_key(crate::chain_key::INITIAL_CHAIN_KEY, chain_id)
            };
            let info: &'static ClassInfo = Box::leak(Box::new(ClassInfo {
                id,
                solo_keys: [solo(0), solo(1), solo(2)],
                name,
                subclass,
                subclasses: Default::default(),
                base,
                live: AtomicU32::new(0),
                ever_shared: AtomicBool::new(false),
                gate_used: AtomicBool::new(false),
                event: matches!(
                    key.kind,
                    KeyKind::Site {
                        kind: SiteKind::Event { .. } | SiteKind::Cell,
                        ..
                    }
                ),
                pseudo: matches!(
                    key.kind,
                    KeyKind::Site {
                        kind: SiteKind::Pseudo,
                        ..
                    }
                ),
                cell: matches!(
                    key.kind,
                    KeyKind::Site {
                        kind: SiteKind::Cell,
                        ..
                    }
                ),
                // The sites that cannot tell their locks apart are exactly those whose class
                // is split by data type (`Default` / `From`, the lenient policy, a site in
                // std): see `typed_site`.
                lenient: match key.kind {
                    KeyKind::Site {
                        kind: SiteKind::Lock(..),
                        ty,
                        ..
                    } => ty.is_some(),
                    KeyKind::Site {
                        kind: SiteKind::Cell,
                        ..
                    } => true,
                    _ => false,
                },
                key,
            }));
            by_id.push(info);
            info
        })
    }

    /// The class with this id.
    pub(crate) fn class_by_id(id: u32) -> &'static ClassInfo {
        let _section = Section::enter(); // the registry's lazy initialisation allocates
        REGISTRY.by_id.read()[id as usize]
    }

    /// Number of classes registered so far.
    pub(crate) fn class_count() -> usize {
        let _section = Section::enter();
        REGISTRY.by_id.read().len()
    }

    impl ClassSource {
        /// Resolves the subclass-0 class of this source (registering it on first use).
        pub(crate) fn resolve(self) -> &'static ClassInfo {
            match self {
                ClassSource::Site(loc, kind, ty) => {
                    let ty = typed_site(loc).then(ty);
                    let key = site_key(loc, None, SiteKind::Lock(kind, None), ty);
                    register(key, loc_name(loc, None, ty.map(|t| (kind, t))), 0, None)
                }
                ClassSource::Named(loc, name, kind) => register(
                    site_key(loc, Some(name), SiteKind::Lock(kind, None), None),
                    name,
                    0,
                    None,
                ),
                ClassSource::Made(loc, kind, maker, ty) => {
                    let ty = ty();
                    let key = site_key(loc, None, SiteKind::Lock(kind, Some(maker)), Some(ty));
                    register(key, loc_name(loc, Some(maker), Some((kind, ty))), 0, None)
                }
                ClassSource::Pseudo(loc, name) => register(
                    site_key(loc, Some(name), SiteKind::Pseudo, None),
                    name,
                    0,
                    None,
                ),
                ClassSource::Event(loc, name, depth) => {
                    let shown = depth_name(name, depth);
                    let key = site_key(loc, Some(name), SiteKind::Event { depth }, None);
                    register(key, shown, 0, None)
                }
                ClassSource::Condvar(loc) => register(
                    site_key(loc, Some("condvar"), SiteKind::Event { depth: 0 }, None),
                    site_name(loc, "condvar"),
                    0,
                    None,
                ),
                ClassSource::Cell(loc, name) => register(
                    site_key(loc, Some(name), SiteKind::Cell, None),
                    site_name(loc, name),
                    0,
                    None,
                ),
                ClassSource::Static(class) => {
                    if let Some(info) = class.cached.get() {
                        return info;
                    }
                    let key = ClassKey {
                        kind: KeyKind::Static(class as *const LockClass as usize),
                        subclass: 0,
                    };
                    let info = register(key, class.name, 0, None);
                    let _ = class.cached.set(info);
                    info
                }
                // Only reached without an instance id; `DepMap` calls `instance_class`.
                ClassSource::Instance(kind) => instance_class(kind, 0),
            }
        }

        /// The name a lock of this source shows, without registering anything.
        pub(crate) fn name(self) -> String {
            match self {
                ClassSource::Site(loc, kind, ty) => {
                    let ty = typed_site(loc).then(ty);
                    loc_name(loc, None, ty.map(|t| (kind, t))).to_string()
                }
                ClassSource::Made(loc, kind, maker, ty) => {
                    loc_name(loc, Some(maker), Some((kind, ty()))).to_string()
                }
                ClassSource::Cell(loc, name) => site_name(loc, name).to_string(),
                ClassSource::Condvar(loc) => site_name(loc, "condvar").to_string(),
                ClassSource::Named(_, name, _)
                | ClassSource::Pseudo(_, name)
                | ClassSource::Event(_, name, _) => name.to_string(),
                ClassSource::Static(class) => class.name.to_string(),
                ClassSource::Instance(kind) => format!("{kind}#?"),
            }
        }
    }

    /// Drop-in addition: the class of one raw-lock instance, `kind#instance`, registered on
    /// its first acquisition (each instance its own class, never shared).
    pub(crate) fn instance_class(kind: &'static str, instance: usize) -> &'static ClassInfo {
        let key = ClassKey {
            kind: KeyKind::Instance(instance),
            subclass: 0,
        };
        let name: &'static str = {
            let _section = Section::enter();
            Box::leak(format!("{kind}#{instance}").into_boxed_str())
        };
        register(key, name, 0, None)
    }

    fn site_key(
        loc: &'static Location<'static>,
        name: Option<&'static str>,
        kind: SiteKind,
        ty: Option<&'static str>,
    ) -> ClassKey {
        ClassKey {
            kind: KeyKind::Site {
                file: loc.file(),
                line: loc.line(),
                column: loc.column(),
                name,
                kind,
                ty,
            },
            subclass: 0,
        }
    }

    /// A site class is named `file:line:column` (two locks built on one line are two classes
    /// with two names); one built by `Default` / `From` is named `Kind<T>::default() at
    /// file:line:column` (a derive's fields all share its site: their types tell them apart),
    /// and a lenient site's is `file:line:column (Kind<T>)`. `typed` is the lock's kind and
    /// data type when they are part of the class. Made once per class, leaked.
    fn loc_name(
        loc: &'static Location<'static>,
        made: Option<Maker>,
        typed: Option<(LockKind, &'static str)>,
    ) -> &'static str {
        type Key = (
            &'static str,
            u32,
            u32,
            Option<Maker>,
            Option<(LockKind, &'static str)>,
        );
        static NAMES: Lazy<DashMap<Key, &'static str>> = Lazy::new(DashMap::new);
        // Names handed out for typed classes: a second type with the same short name (two
        // `State`s of two modules at one site) is shown with its full path.
        static TAKEN: Lazy<DashMap<&'static str, ()>> = Lazy::new(DashMap::new);
        let _section = Section::enter();
        *NAMES
            .entry((loc.file(), loc.line(), loc.column(), made, typed))
            .or_insert_with(|| {
                let at = format!("{}:{}:{}", loc.file(), loc.line(), loc.column());
                let Some((kind, ty)) = typed else {
                    return Box::leak(at.into_boxed_str());
                };
                let name = |ty: &str| match made {
                    Some(Maker::Default) => format!("{kind}<{ty}>::default() at {at}"),
                    Some(Maker::From) => format!("{kind}<{ty}>::from() at {at}"),
                    None => format!("{at} ({kind}<{ty}>)"),
                };
                // (Claimed with one insert: two threads naming two types at once cannot
                // both take one name.)
                let short: &'static str = Box::leak(name(&short_type_name(ty)).into_boxed_str());
                if TAKEN.insert(short, ()).is_none() {
                    return short;
                }
                let full: &'static str = Box::leak(name(ty).into_boxed_str());
                TAKEN.insert(full, ());
                full
            })
    }

    /// An event's class name: `name`, or `name, depth n` for the exit event of a thread
    /// `n` levels deep. Made once per name and depth, leaked (it is resolved once per
    /// spawned thread: leaking it each time kept memory per spawn).
    fn depth_name(name: &'static str, depth: u32) -> &'static str {
        if depth <= 1 {
            return name;
        }
        static NAMES: Lazy<DashMap<(&'static str, u32), &'static str>> = Lazy::new(DashMap::new);
        let _section = Section::enter();
        *NAMES
            .entry((name, depth))
            .or_insert_with(|| Box::leak(format!("{name}, depth {depth}").into_boxed_str()))
    }

    /// The class name of a one-time cell or a condvar: its kind and construction site
    /// (`OnceLock at file:line:column`, `condvar at …`), since its site is its class: two of
    /// them in one report (one cell's initializer waiting for another's; a waiter of one
    /// condvar holding what the other's waker needs) must be told apart. Made once per
    /// class, leaked.
    fn site_name(loc: &'static Location<'static>, kind: &'static str) -> &'static str {
        type Key = (&'static str, u32, u32, &'static str);
        static NAMES: Lazy<DashMap<Key, &'static str>> = Lazy::new(DashMap::new);
        let _section = Section::enter();
        *NAMES
            .entry((loc.file(), loc.line(), loc.column(), kind))
            .or_insert_with(|| {
                let name = format!("{kind} at {}:{}:{}", loc.file(), loc.line(), loc.column());
                Box::leak(name.into_boxed_str())
            })
    }

    /// A type's name without its module paths (`alloc::sync::Arc<my::State>` ->
    /// `Arc<State>`): what a report needs to tell the classes of one site apart.
    fn short_type_name(full: &str) -> String {
        let mut out = String::with_capacity(full.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            out.push_str(word.rsplit("::").next().unwrap_or(word));
            word.clear();
        };
        for c in full.chars() {
            if c.is_alphanumeric() || c == '_' || c == ':' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    impl ClassInfo {
        /// Were two locks of this class ever alive at once (so the class stands for several)?
        pub(crate) fn many_locks(&'static self) -> bool {
            self.base().ever_shared.load(Ordering::Relaxed)
        }

        /// For a class of locks built by `Default` / `From`: which.
        pub(crate) fn made_by(&self) -> Option<Maker> {
            match self.key.kind {
                KeyKind::Site {
                    kind: SiteKind::Lock(_, made),
                    ..
                } => made,
                _ => None,
            }
        }

        /// For a class of the locks built at one site, unnamed (by `new`, `Default` or
        /// `From`): where it is.
        pub(crate) fn lock_site(&self) -> Option<(&'static str, u32, u32)> {
            match self.key.kind {
                KeyKind::Site {
                    file,
                    line,
                    column,
                    kind: SiteKind::Lock(..),
                    name: None,
                    ..
                } => Some((file, line, column)),
                _ => None,
            }
        }

        /// The site its key names (construction site; a thread's exit event: its spawn site),
        /// if its key is a site.
        pub(crate) fn key_site(&self) -> Option<(&'static str, u32, u32)> {
            match self.key.kind {
                KeyKind::Site {
                    file, line, column, ..
                } => Some((file, line, column)),
                _ => None,
            }
        }

        /// What makes this class itself, in words, to tell it from another of the same name:
        /// its construction site (`built at f.rs:3:9`) and, for a lock, its kind (a `Mutex`
        /// and an `RwLock` built at one site, by a `#[track_caller]` helper, are two classes),
        /// or its static key, or its raw lock.
        pub(crate) fn origin(&self) -> String {
            match self.key.kind {
                KeyKind::Site {
                    file,
                    line,
                    column,
                    kind: SiteKind::Lock(kind, _),
                    ..
                } => format!("built at {file}:{line}:{column} (a `{kind}`)"),
                KeyKind::Site {
                    file, line, column, ..
                } => format!("built at {file}:{line}:{column}"),
                KeyKind::Static(_) => String::from("of a static key (`with_class`)"),
                KeyKind::Instance(_) => String::from("a raw lock's own class"),
            }
        }

        /// For a class of a plain construction site (`Mutex::new`): where it is (file, line,
        /// column).
        pub(crate) fn construction_site(&self) -> Option<(&'static str, u32, u32)> {
            match self.key.kind {
                KeyKind::Site {
                    file,
                    line,
                    column,
                    kind: SiteKind::Lock(_, None),
                    name: None,
                    ..
                } => Some((file, line, column)),
                _ => None,
            }
        }
    }
}
