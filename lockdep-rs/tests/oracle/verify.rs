//! Matching lockdep's reports against the oracle's problems.
//!
//! A report matches a problem when its kind, acquiring and holding classes and held stack are
//! the expected ones, and for a cycle when the edges it lists (`Report::cycle`) form a strong
//! cycle in the graph the oracle had when the acquisition was searched: the closing edge
//! first, then a walk back from the new lock to the held one, every edge recorded with the
//! types shown, every joint strong. Which of several cycles lockdep shows is its choice.

#![allow(dead_code)]

use std::collections::BTreeSet;

use lockdep::{Report, ReportKind};

use super::model::{Class, DepType, Edges, Gates, Kind, Oracle, Problem};

/// One report, as compared (class names normalised by [`norm`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: ReportKind,
    pub acquiring: Option<String>,
    pub holding: Option<String>,
    pub classes: Vec<String>,
    pub held: Vec<String>,
    pub cycle: Vec<(String, String, String)>,
    pub gates: Vec<String>,
    /// The rendered report, for the kinds whose text is checked (issue 12 item 14).
    pub text: String,
}

/// Class names as compared: without a program's `p<n>.` prefix (pseudo-locks and events are
/// named per program so that programs never share a class); every thread-exit class (one per
/// spawn site and nesting depth, however lockdep names the depth) as `(thread exit)`.
pub fn norm(name: &str) -> String {
    if name.contains("(thread exit)") {
        return "(thread exit)".into();
    }
    if let Some(rest) = name.strip_prefix('p') {
        if let Some((num, tail)) = rest.split_once('.') {
            if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
                return tail.to_string();
            }
        }
    }
    name.to_string()
}

pub fn seen(r: &Report) -> Seen {
    let n = |v: Vec<String>| v.iter().map(|s| norm(s)).collect::<Vec<_>>();
    Seen {
        kind: r.kind(),
        acquiring: r.acquiring().map(|s| norm(&s)),
        holding: r.holding().map(|s| norm(&s)),
        classes: n(r.class_names()),
        held: n(r.held_locks()),
        cycle: r
            .cycle()
            .into_iter()
            .map(|(a, b, t)| (norm(&a), norm(&b), t))
            .collect(),
        gates: r.gates(),
        text: match r.kind() {
            ReportKind::RecursiveLocking | ReportKind::BadUnlockBalance => r.to_string(),
            _ => String::new(),
        },
    }
}

/// What issue 12 item 14 says a report's text must not do.
fn text_ok(s: &Seen, certain: bool) -> Result<(), String> {
    if certain
        && s.text
            .contains("May be due to missing lock nesting notation")
    {
        return Err(
            "the text of a certain self-deadlock suggests a missing nesting \
                    annotation, which cannot help for the same instance (issue 12 item 14)"
                .into(),
        );
    }
    let lines: Vec<&str> = s.text.lines().collect();
    if s.kind == ReportKind::BadUnlockBalance
        && lines
            .windows(2)
            .any(|w| w[0].trim_end().ends_with("at:") && w[1].trim().is_empty())
    {
        return Err("the bad-unlock text has an empty line after `at:` (issue 12 item 14)".into());
    }
    Ok(())
}

fn names(o: &Oracle, cs: &[Class]) -> Vec<String> {
    cs.iter().map(|&c| norm(&o.name(c))).collect()
}

/// Does report `s` describe problem `p`? `Err` says why not.
pub fn matches(o: &Oracle, s: &Seen, p: &Problem) -> Result<(), String> {
    let name = |c: Class| norm(&o.name(c));
    let want = |cond: bool, what: &str| if cond { Ok(()) } else { Err(what.to_string()) };
    match p {
        Problem::Recursive {
            acquiring,
            holding,
            held,
            certain,
            ..
        } => {
            want(s.kind == ReportKind::RecursiveLocking, "kind")?;
            text_ok(s, *certain)?;
            want(
                s.acquiring.as_deref() == Some(&name(*acquiring)),
                "acquiring",
            )?;
            want(
                holding
                    .iter()
                    .any(|&(c, _)| s.holding.as_deref() == Some(&name(c))),
                "holding",
            )?;
            want(s.held == names(o, held), "held locks")
        }
        Problem::Circular {
            acquiring,
            holding,
            held,
            ignoring,
            ..
        } => {
            want(
                matches!(
                    s.kind,
                    ReportKind::CircularDependency | ReportKind::CircularWait
                ),
                "kind",
            )?;
            want(
                s.acquiring.as_deref() == Some(&name(*acquiring)),
                "acquiring",
            )?;
            want(s.holding.as_deref() == Some(&name(*holding)), "holding")?;
            want(s.held == names(o, held), "held locks")?;
            let ends = cycle_ok(o, p, &s.cycle)?;
            let gated = !s.gates.is_empty();
            let gate_names: Vec<String> = o
                .bases
                .iter()
                .filter(|b| b.gate)
                .map(|b| norm(&b.name))
                .collect();
            want(
                !gated || s.gates == gate_names,
                "gates (only the gate class can be one)",
            )?;
            want(
                !(gated && *ignoring),
                "a gated cycle reported while gated cycles are ignored",
            )?;
            want(
                ends.iter().any(|e| e.1 == gated),
                "gates (the gate is held across every edge of the cycle iff shown)",
            )?;
            let events = ends.iter().any(|e| e.1 == gated && e.0);
            let wait = s.kind == ReportKind::CircularWait;
            want(
                wait == events,
                "CircularWait iff the cycle goes through an event",
            )?;
            let mut order: Vec<String> = Vec::new();
            for n in std::iter::once(&s.cycle[0].1).chain(s.cycle[1..].iter().map(|e| &e.1)) {
                if !order.contains(n) {
                    order.push(n.clone());
                }
            }
            // (Names, not classes: thread exits of different sites and depths share one.)
            let mut shown: Vec<String> = Vec::new();
            for n in &s.classes {
                if !shown.contains(n) {
                    shown.push(n.clone());
                }
            }
            want(shown == order, "class_names (the cycle's classes in order)")
        }
        Problem::Instance {
            acquiring,
            holding,
            held,
            path_len,
            candidates,
        } => {
            want(s.kind == ReportKind::InstanceInversion, "kind")?;
            want(
                s.acquiring.as_deref() == Some(&name(*acquiring)),
                "acquiring",
            )?;
            want(s.holding.as_deref() == Some(&name(*holding)), "holding")?;
            want(s.held == names(o, held), "held locks")?;
            let c = &s.cycle;
            want(
                c.len() == path_len + 1,
                "the cycle's length (a shortest path, and the closing order)",
            )?;
            want(
                (0..c.len()).all(|i| c[i].1 == c[(i + 1) % c.len()].0),
                "the cycle is a closed walk of instances",
            )?;
            let gated = !s.gates.is_empty();
            want(
                candidates.iter().flatten().any(|k| k.2 == gated),
                "gates (a gated report iff the gate is held across every order)",
            )
        }
        Problem::BadUnlock { class } => {
            want(s.kind == ReportKind::BadUnlockBalance, "kind")?;
            text_ok(s, false)?;
            want(s.classes == [name(*class)], "class")
        }
        Problem::NestNotHeld {
            acquiring,
            nest,
            held,
            ..
        } => {
            want(s.kind == ReportKind::NestLockNotHeld, "kind")?;
            want(
                s.acquiring.as_deref() == Some(&name(*acquiring)),
                "acquiring",
            )?;
            want(s.holding.as_deref() == Some(&name(*nest)), "nest lock")?;
            want(s.held == names(o, held), "held locks")
        }
        Problem::HeldAtExit { classes, .. } => {
            want(s.kind == ReportKind::LocksHeldAtExit, "kind")?;
            let events: BTreeSet<String> = o
                .bases
                .iter()
                .filter(|b| b.kind == Kind::Event)
                .map(|b| norm(&b.name))
                .collect();
            let got: Vec<String> = s
                .classes
                .iter()
                .filter(|n| !events.contains(*n))
                .cloned()
                .collect();
            want(got == names(o, classes), "classes still held")
        }
    }
}

/// The dependency types named in a report (`"EN|SR"`).
fn parse_types(s: &str) -> Option<Vec<DepType>> {
    s.split('|')
        .map(|t| match t.trim() {
            "EN" => Some(DepType::of(super::model::Rd::W, super::model::Rd::W)),
            "ER" => Some(DepType::of(super::model::Rd::W, super::model::Rd::R2)),
            "SN" => Some(DepType::of(super::model::Rd::R1, super::model::Rd::W)),
            "SR" => Some(DepType::of(super::model::Rd::R1, super::model::Rd::R2)),
            _ => None,
        })
        .collect()
}

/// Checks that `cycle` (as reported) is a strong cycle closed by problem `p`'s acquisition in
/// the graph `p` was searched on. Returns whether it goes through an event class.
pub fn cycle_ok(
    o: &Oracle,
    p: &Problem,
    cycle: &[(String, String, String)],
) -> Result<BTreeSet<(bool, bool)>, String> {
    let Problem::Circular {
        acquiring,
        new_rd,
        holding,
        prev_rd,
        graph,
        gated,
        ..
    } = p
    else {
        return Err("not a cycle".into());
    };
    let (graph, gates) = &**graph;
    let name = |c: Class| norm(&o.name(c));
    let Some(((from0, to0, t0), rest)) = cycle.split_first() else {
        return Err("empty cycle".into());
    };
    if *from0 != name(*holding) || *to0 != name(*acquiring) {
        return Err("the cycle does not start with the closing edge".into());
    }
    let closing = DepType::of(*prev_rd, *new_rd);
    if t0.as_str() != closing.name() {
        return Err(format!(
            "closing edge type {t0}, expected {}",
            closing.name()
        ));
    }
    if rest.is_empty() {
        return Err("a cycle of one edge".into());
    }
    // Every class of the graph, by name (names can be shared: thread exits).
    let mut all: BTreeSet<Class> = BTreeSet::new();
    for &(a, b) in graph.keys() {
        all.insert(a);
        all.insert(b);
    }
    let candidates =
        |n: &str| -> Vec<Class> { all.iter().copied().filter(|&c| name(c) == n).collect() };
    // States (class, arrived recursive, through an event, gated so far) reachable along the
    // listed edges.
    let mut states: BTreeSet<(Class, bool, bool, bool)> = BTreeSet::from([(
        *acquiring,
        *new_rd == super::model::Rd::R2,
        o.kind(*acquiring) == Kind::Event,
        *gated,
    )]);
    let mut prev_to = to0;
    for (from, to, types) in rest {
        if from != prev_to {
            return Err(format!("the cycle is not a walk at {from}"));
        }
        prev_to = to;
        let Some(types) = parse_types(types) else {
            return Err(format!("unknown dependency types {types:?}"));
        };
        let mut next = BTreeSet::new();
        for &(at, rec, ev, g) in &states {
            for c in candidates(to) {
                let Some(recorded) = graph.get(&(at, c)) else {
                    continue;
                };
                let g = g && gates.get(&(at, c)) == Some(&true);
                if !types.iter().all(|t| recorded.contains(t)) {
                    continue; // lockdep shows a type the oracle never recorded there
                }
                for t in &types {
                    if !(rec && t.from_shared) {
                        next.insert((c, t.to_recursive, ev || o.kind(c) == Kind::Event, g));
                    }
                }
            }
        }
        if next.is_empty() {
            return Err(format!(
                "no strong walk along the reported edges reaches {to} (edge {from} -> {to})"
            ));
        }
        states = next;
    }
    let ends: BTreeSet<(bool, bool)> = states
        .iter()
        .filter(|&&(c, rec, _, _)| c == *holding && !(rec && prev_rd.shared()))
        .map(|&(_, _, ev, g)| (ev, g))
        .collect();
    if ends.is_empty() {
        return Err("the reported walk does not end strongly at the held lock".into());
    }
    Ok(ends)
}

/// Rotations of a reported cycle that start with the closing edge of `p` (for deciding
/// whether `p` is a problem lockdep already reported).
pub fn same_cycle(o: &Oracle, p: &Problem, s: &Seen) -> bool {
    let cycle = &s.cycle;
    (0..cycle.len()).any(|k| {
        let mut rot = cycle[k..].to_vec();
        rot.extend_from_slice(&cycle[..k]);
        cycle_ok(o, p, &rot).is_ok_and(|ends| ends.iter().any(|e| e.1 != s.gates.is_empty()))
    })
}

/// Is `p` a problem already reported, given the problems delivered before (each with the
/// report that showed it)? Lockdep keys a recursive locking by both classes, both modes and
/// whether it is certain; a cycle by its edges and types; a bad unlock by class and site; locks
/// held at exit by classes and sites (each kind of step here has one site).
pub fn reported_before(o: &Oracle, p: &Problem, delivered: &[(Problem, Seen)]) -> bool {
    delivered.iter().any(|(q, s)| match (p, q) {
        (Problem::Circular { .. }, Problem::Circular { .. }) => same_cycle(o, p, s),
        (
            Problem::Recursive {
                acquiring: a1,
                new_rd: r1,
                holding: h1,
                certain: c1,
                ..
            },
            Problem::Recursive {
                acquiring: a2,
                new_rd: r2,
                holding: h2,
                certain: c2,
                ..
            },
        ) => {
            let shown: Vec<_> = h2
                .iter()
                .filter(|&&(c, _)| s.holding.as_deref() == Some(&norm(&o.name(c))))
                .collect();
            a1 == a2 && r1 == r2 && c1 == c2 && h1.iter().any(|h| shown.contains(&h))
        }
        (Problem::BadUnlock { class: c1 }, Problem::BadUnlock { class: c2 }) => c1 == c2,
        (Problem::Instance { candidates: k1, .. }, Problem::Instance { candidates: k2, .. }) => {
            k1.iter().flatten().any(|k| k2.contains(&Some(k.clone())))
        }
        (
            Problem::NestNotHeld {
                acquiring: a1,
                nest: n1,
                site: s1,
                ..
            },
            Problem::NestNotHeld {
                acquiring: a2,
                nest: n2,
                site: s2,
                ..
            },
        ) => a1 == a2 && n1 == n2 && s1 == s2,
        (Problem::HeldAtExit { key: k1, .. }, Problem::HeldAtExit { key: k2, .. }) => k1 == k2,
        _ => false,
    })
}

/// Edges of a graph as text (for failure messages).
pub fn graph_text(o: &Oracle, g: &(Edges, Gates)) -> String {
    let mut out = String::new();
    for ((a, b), ts) in &g.0 {
        let t: Vec<&str> = ts.iter().map(|t| t.name()).collect();
        let gated = if g.1.get(&(*a, *b)) == Some(&true) {
            " (gated)"
        } else {
            ""
        };
        out.push_str(&format!(
            "    {} -> {} [{}]{gated}\n",
            o.name(*a),
            o.name(*b),
            t.join("|")
        ));
    }
    out
}
