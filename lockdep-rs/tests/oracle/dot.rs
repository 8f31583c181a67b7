//! `lockdep::graph_dot()` checked against the oracle's graph: after a program, the drawing
//! must show exactly the oracle's edges (each with its dependency types, dashed iff gated),
//! one node per class (two classes of one name, such as two spawn sites' `(thread exit)`
//! events, are two nodes, both labelled with the name), events as diamonds, node ids unique.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::DepType;
use super::model::{Class, Kind, Oracle};

/// One edge as drawn or expected: the other end's label, its types, dashed.
type Side = (bool, String, String, bool);

/// The quoted strings of a DOT line, unescaped.
fn quoted(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => s.extend(chars.next()),
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// A drawn label as compared: without a renewed world's `p<n>.` prefix (see
/// [`norm`](super::verify::norm), which also merges the thread-exit classes: not here).
fn drawn(label: &str) -> String {
    if label.contains("(thread exit)") {
        label.to_string()
    } else {
        super::verify::norm(label)
    }
}

/// Lockdep's name of the oracle's class `c` (a thread exit's subclass is its nesting depth:
/// `(thread exit), depth 2` below the first level).
fn expected_name(o: &Oracle, c: Class) -> String {
    let base = &o.bases[c.base as usize];
    if base.kind == Kind::Event && base.name == "(thread exit)" {
        return match c.sub {
            0 | 1 => base.name.clone(),
            d => format!("{}, depth {d}", base.name),
        };
    }
    super::verify::norm(&o.name(c))
}

/// Lockdep's spelling of a set of dependency types (`SR|ER|SN|EN` order).
fn types_text(ts: &BTreeSet<DepType>) -> String {
    let order = [(true, true), (false, true), (true, false), (false, false)];
    order
        .iter()
        .filter(|&&(s, r)| {
            ts.contains(&DepType {
                from_shared: s,
                to_recursive: r,
            })
        })
        .map(|&(s, r)| {
            DepType {
                from_shared: s,
                to_recursive: r,
            }
            .name()
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Checks `dot` (from `graph_dot()`) against the oracle's graph.
pub fn check_dot(o: &Oracle, dot: &str) -> Result<(), String> {
    let fail = |what: String| Err(format!("graph_dot() {what}:\n{dot}"));
    // Drawn: node id -> (label, diamond); edges.
    let mut nodes: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut edges: Vec<(String, String, String, bool)> = Vec::new();
    for line in dot.lines().map(str::trim) {
        if !line.starts_with('"') {
            continue;
        }
        let q = quoted(line);
        if line.contains(" -> ") {
            let [from, to, types] = &q[..] else {
                return fail(format!("has an edge line it cannot read: {line}"));
            };
            let dashed = line.contains("style=dashed");
            edges.push((from.clone(), to.clone(), types.clone(), dashed));
        } else {
            let [id, label] = &q[..] else {
                return fail(format!("has a node line it cannot read: {line}"));
            };
            let diamond = line.contains("shape=diamond");
            if nodes.insert(id.clone(), (drawn(label), diamond)).is_some() {
                return fail(format!("declares node {id:?} twice"));
            }
        }
    }
    // Expected: the classes at the ends of the oracle's edges.
    let mut classes: BTreeSet<Class> = BTreeSet::new();
    for &(a, b) in o.edges.keys() {
        classes.insert(a);
        classes.insert(b);
    }
    if nodes.len() != classes.len() {
        return fail(format!(
            "draws {} nodes for the {} classes of the oracle's edges",
            nodes.len(),
            classes.len()
        ));
    }
    // Each node's signature: its label, shape and every edge at it (direction, the other
    // end's label, types, dashed). Drawn and expected must agree as multisets: this tells two
    // classes of one name apart by their edges, as the drawing must.
    type Signature = (String, bool, Vec<Side>);
    let mut drawn: BTreeMap<String, Signature> = nodes
        .iter()
        .map(|(id, (label, diamond))| (id.clone(), (label.clone(), *diamond, Vec::new())))
        .collect();
    for (from, to, types, dashed) in &edges {
        let (Some((from_label, _)), Some((to_label, _))) = (nodes.get(from), nodes.get(to)) else {
            return fail(format!(
                "draws an edge {from:?} -> {to:?} to an undeclared node"
            ));
        };
        let (from_label, to_label) = (from_label.clone(), to_label.clone());
        drawn
            .get_mut(from)
            .unwrap()
            .2
            .push((true, to_label, types.clone(), *dashed));
        drawn
            .get_mut(to)
            .unwrap()
            .2
            .push((false, from_label, types.clone(), *dashed));
    }
    let mut expected: BTreeMap<Class, Signature> = classes
        .iter()
        .map(|&c| {
            let event = o.bases[c.base as usize].kind == Kind::Event;
            (c, (expected_name(o, c), event, Vec::new()))
        })
        .collect();
    for (&(a, b), ts) in &o.edges {
        let (types, gated) = (types_text(ts), o.gates.get(&(a, b)) == Some(&true));
        expected
            .get_mut(&a)
            .unwrap()
            .2
            .push((true, expected_name(o, b), types.clone(), gated));
        expected
            .get_mut(&b)
            .unwrap()
            .2
            .push((false, expected_name(o, a), types, gated));
    }
    let sorted = |v: Vec<Signature>| {
        let mut v: Vec<Signature> = v
            .into_iter()
            .map(|(l, d, mut s)| {
                s.sort();
                (l, d, s)
            })
            .collect();
        v.sort();
        v
    };
    let drawn = sorted(drawn.into_values().collect());
    let expected = sorted(expected.into_values().collect());
    if drawn != expected {
        return fail(format!(
            "differs from the oracle's graph:\n  drawn    {drawn:?}\n  expected {expected:?}"
        ));
    }
    Ok(())
}
