//! The library's layers point one way: no import cycle between top-level modules of `src/`.
//!
//! Every `crate::<module>` path in a module's files (comments and `#[cfg(test)]` tails left
//! out) is an edge from that module to `<module>`; the test fails on any strongly connected set
//! of more than one module, naming it and the edges that close it. The bottom layers
//! (`error`, `events`, `limits`, `rng`, `slo`) must use no other module of the crate but each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules each file's code names through `crate::`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let edges = graph.entry(top.clone()).or_default();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                let name: String = rest[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    edges.insert(name);
                }
                rest = &rest[i + 7..];
            }
        }
    }
    graph
}

/// Strongly connected sets of more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut set = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                set.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                s.out.push(set);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let graph = module_graph(&src());
    assert!(
        graph.len() > 10,
        "modules not found under {}",
        src().display()
    );
    let found = cycles(&graph);
    let explain = |set: &Vec<String>| {
        let edges: Vec<String> = set
            .iter()
            .flat_map(|a| {
                graph[a]
                    .iter()
                    .filter(|b| set.contains(b))
                    .map(move |b| format!("{a} -> {b}"))
            })
            .collect();
        format!("{{{}}} via {}", set.join(", "), edges.join(", "))
    };
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {}",
        found.iter().map(explain).collect::<Vec<_>>().join("; ")
    );
}

#[test]
fn bottom_layers_use_only_each_other() {
    let graph = module_graph(&src());
    let bottom = ["error", "events", "limits", "rng", "slo"];
    for module in bottom {
        let uses: Vec<&String> = graph
            .get(module)
            .into_iter()
            .flatten()
            .filter(|m| !bottom.contains(&m.as_str()))
            .collect();
        assert!(
            uses.is_empty(),
            "`{module}` is a bottom layer but uses {uses:?}"
        );
    }
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut graph = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    };
    edge(&mut graph, "sim", "optimize");
    edge(&mut graph, "optimize", "perf");
    edge(&mut graph, "perf", "sim");
    edge(&mut graph, "spec", "perf");
    assert_eq!(cycles(&graph), vec![vec!["optimize", "perf", "sim"]]);
    edge(&mut graph, "perf", "spec");
    graph.get_mut("perf").unwrap().remove("sim");
    assert_eq!(cycles(&graph), vec![vec!["perf", "spec"]]);
}
