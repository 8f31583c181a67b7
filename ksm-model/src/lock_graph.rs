//! The class dependency graph lockdep has recorded, read back from
//! [`lockdep::graph_dot`], to ask what can reach what.
//!
//! Classes are identified by the node names [`lockdep::graph_dot`] gives them: a class's
//! display name, but classes that share a name (e.g. the per-design `ksm_thread_mutex`
//! classes) stay distinct nodes, the first (by class id) named `name`, the next `name #2`, and
//! so on. A question about `ksm_thread_mutex` is therefore about one of them only: ask about
//! one kernel build per process (or between [`lockdep::reset`]s).

use std::collections::{BTreeMap, BTreeSet};

/// Directed edges "from was held when to was taken", by class name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl LockGraph {
    /// The graph lockdep has recorded so far in this process.
    pub fn recorded() -> LockGraph {
        LockGraph::from_dot(&lockdep::graph_dot())
    }

    /// The edges of a DOT text as [`lockdep::graph_dot`] writes it (one `"a" -> "b" [...]`
    /// per line; other lines are ignored).
    pub fn from_dot(dot: &str) -> LockGraph {
        let mut graph = LockGraph::default();
        for line in dot.lines() {
            let line = line.trim_start();
            let Some((from, rest)) = quoted(line) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix("->") else {
                continue;
            };
            let Some((to, _)) = quoted(rest.trim_start()) else {
                continue;
            };
            graph.edges.entry(from).or_default().insert(to);
        }
        graph
    }

    /// True if lockdep recorded `to` taken while `from` was held.
    pub fn has_edge(&self, from: &str, to: &str) -> bool {
        self.edges.get(from).is_some_and(|tos| tos.contains(to))
    }

    /// Every edge, sorted.
    pub fn edges(&self) -> Vec<(String, String)> {
        self.edges
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (from.clone(), to.clone())))
            .collect()
    }

    /// Every class reachable from `from` by one or more edges.
    pub fn reachable_from(&self, from: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(class) = todo.pop() {
            for next in self.edges.get(&class).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    }

    /// The classes on some cycle through `class` (empty if none): those it reaches that reach
    /// it back, itself included.
    pub fn cycle_through(&self, class: &str) -> BTreeSet<String> {
        self.reachable_from(class)
            .into_iter()
            .filter(|other| self.reachable_from(other).contains(class))
            .collect()
    }

    /// Every class on some cycle.
    pub fn classes_on_cycles(&self) -> BTreeSet<String> {
        self.edges
            .keys()
            .filter(|class| self.reachable_from(class).contains(*class))
            .cloned()
            .collect()
    }
}

/// Splits a leading DOT double-quoted string (with `\"` and `\\` escapes) off `s`.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &body[at + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: &str = r#"digraph lockdep {
  rankdir=LR;
  "a" [shape=box];
  "a" -> "b" [label="EN"];
  "b" -> "c \"q\"" [label="SN", style=dashed];
  "c \"q\"" -> "a" [label="EN"];
  "c \"q\"" -> "d" [label="EN"];
}
"#;

    /// Two classes of one name are two nodes (`graph_dot` names the second `name #2`), as
    /// the module docs say: a question by the plain name is about the first only.
    #[test]
    fn classes_sharing_a_name_stay_two_nodes() {
        let first = lockdep::Mutex::named("lock_graph.shared", ());
        let second = lockdep::Mutex::named("lock_graph.shared", ());
        let after = lockdep::Mutex::named("lock_graph.after", ());
        drop((first.lock(), after.lock()));
        drop((second.lock(), after.lock()));
        let g = LockGraph::recorded();
        if !lockdep::VALIDATION_COMPILED_IN {
            return;
        }
        assert!(g.has_edge("lock_graph.shared", "lock_graph.after"));
        assert!(g.has_edge("lock_graph.shared #2", "lock_graph.after"));
    }

    #[test]
    fn parses_edges_and_finds_cycles() {
        let g = LockGraph::from_dot(DOT);
        assert!(g.has_edge("a", "b"));
        assert!(g.has_edge("b", "c \"q\""));
        assert!(!g.has_edge("b", "a"));
        assert_eq!(g.edges().len(), 4);
        assert_eq!(
            g.cycle_through("a"),
            ["a", "b", "c \"q\""].map(String::from).into()
        );
        assert!(g.cycle_through("d").is_empty());
        assert_eq!(
            g.classes_on_cycles(),
            ["a", "b", "c \"q\""].map(String::from).into()
        );
        assert!(g.reachable_from("a").contains("d"));
    }
}
