//! Pictures: the dependency graph, or one report's cycle, in Graphviz DOT.

use std::fmt::Write;

/// Quotes a DOT identifier.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The whole class dependency graph: classes as nodes (events as diamonds), one edge per
/// dependency labelled with its types (EN, ER, SN, SR), gated edges dashed.
#[cfg(lockdep_enabled)]
pub(crate) fn graph() -> String {
    use crate::class::class_by_id;
    use crate::dependency_graph::{type_names, GRAPH};
    let g = GRAPH.lock();
    let mut out = String::from(
        "digraph lockdep {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut nodes = std::collections::BTreeSet::new();
    for e in g.all_edges() {
        nodes.insert(e.from);
        nodes.insert(e.to);
    }
    for id in &nodes {
        let c = class_by_id(*id);
        let shape = if c.event { " [shape=diamond]" } else { "" };
        let _ = writeln!(out, "  {}{shape};", q(&c.display_name()));
    }
    for e in g.all_edges() {
        let style = if e.gates.is_empty() {
            ""
        } else {
            ", style=dashed"
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            q(&class_by_id(e.from).display_name()),
            q(&class_by_id(e.to).display_name()),
            q(&type_names(e.types)),
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
