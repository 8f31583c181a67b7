//! Pictures: the dependency graph, or one report's cycle, in Graphviz DOT.

use std::fmt::Write;

/// Quotes a DOT identifier.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One class of the whole graph: its name and whether it is an event.
#[cfg(lockdep_enabled)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) event: bool,
}

/// One edge of the whole graph: nodes by index, its dependency types, whether it is gated.
#[cfg(lockdep_enabled)]
pub(crate) struct GraphEdge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) types: String,
    pub(crate) gated: bool,
}

/// The whole class dependency graph: classes as nodes (events as diamonds), one edge per
/// dependency labelled with its types (EN, ER, SN, SR), gated edges dashed. A node is named
/// by its class's name; classes that share a name (two spawn sites' `(thread exit)` events,
/// `Mutex::named("x", ..)` at two sites) stay two nodes, the second named `x #2` (labelled
/// `x`).
#[cfg(lockdep_enabled)]
pub(crate) fn graph(nodes: &[Node], edges: &[GraphEdge]) -> String {
    let mut out = String::from(
        "digraph lockdep {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| {
            let k = seen.entry(n.name.as_str()).or_insert(0);
            *k += 1;
            match *k {
                1 => n.name.clone(),
                k => format!("{} #{k}", n.name),
            }
        })
        .collect();
    for (n, id) in nodes.iter().zip(&ids) {
        let shape = if n.event { ", shape=diamond" } else { "" };
        let _ = writeln!(out, "  {} [label={}{shape}];", q(id), q(&n.name));
    }
    for e in edges {
        let style = if e.gated { ", style=dashed" } else { "" };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            q(&ids[e.from]),
            q(&ids[e.to]),
            q(&e.types),
        );
    }
    out.push_str("}\n");
    out
}

/// One report's cycle, highlighted; gates shown as a note.
pub(crate) fn cycle(edges: &[(String, String, String)], gates: &[String], title: &str) -> String {
    let mut out = String::from(
        "digraph lockdep_report {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let _ = writeln!(out, "  label={};", q(title));
    for (i, (from, to, types)) in edges.iter().enumerate() {
        let extra = if i == 0 {
            ", penwidth=2, fontcolor=red"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color=red{extra}];",
            q(from),
            q(to),
            q(types)
        );
    }
    if !gates.is_empty() {
        let _ = writeln!(
            out,
            "  gates [shape=note, label={}];",
            q(&format!("every edge held: {}", gates.join(", ")))
        );
    }
    out.push_str("}\n");
    out
}
