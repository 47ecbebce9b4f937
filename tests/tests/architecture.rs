//! The house holds: every module of `plugobs-runtime` and of `plugobs/src/http` imports only
//! its own layer and the layers below, and no files import each other in a circle.
//!
//! The layering is written once, as data ([`RUNTIME`], [`HTTP`]). The test reads the
//! sources, tokenizes them (comments and doc comments are not code, so they are not
//! imports), and builds the graph of files from every `crate::…`, `super::…`, `self::…`
//! path and every path that starts with a child module's name. A path resolves to the
//! file of its longest prefix that is a module; anything else under `crate::` is the
//! crate root (`lib.rs`), which is the top layer — so code below the root names the file
//! that defines a thing, not a re-export. A string that is a path (`#[serde(with =
//! "crate::…")]`) is an import too. Items under `#[cfg(test)]` (unit tests) are not part
//! of the layering.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// One source tree and its layers, lowest first: (file or folder prefix, layer name).
/// Layers sharing a rank (the same number) may import each other, circles aside.
struct Tree {
    /// The folder whose `.rs` files are read, relative to the workspace root.
    root: &'static str,
    /// The module path of that folder inside its crate (`""` for the crate root).
    module: &'static [&'static str],
    /// (path prefix relative to `root`, layer name, rank).
    layers: &'static [(&'static str, &'static str, u8)],
}

/// `plugobs-runtime/src`: plain data, the hot path, what generated code implements, one
/// instance's record, a plugin's own telemetry, discovery, load/start/stop and health, the
/// export of every series, and the crate root with its re-exports.
const RUNTIME: Tree = Tree {
    root: "plugobs-runtime/src",
    module: &[],
    layers: &[
        ("model/", "model", 0),
        ("core/", "core", 1),
        ("plugin/", "plugin", 2),
        ("record/", "record", 3),
        ("telemetry/", "telemetry", 4),
        ("registry.rs", "registry", 5),
        ("lifecycle/", "lifecycle", 6),
        ("health/", "health", 6),
        ("export/", "export", 7),
        ("loom_tests.rs", "core", 1),
        ("lib.rs", "root", 8),
    ],
};

/// `plugobs/src/http`: the response helpers and errors, what a route reads, the routes,
/// the standalone server, and the module root.
const HTTP: Tree = Tree {
    root: "plugobs/src/http",
    module: &["http"],
    layers: &[
        ("response.rs", "response", 0),
        ("chart.rs", "chart", 0),
        ("auth.rs", "auth", 1),
        ("page.rs", "page", 1),
        ("process.rs", "scrape", 1),
        ("readiness.rs", "page", 1),
        ("scrape.rs", "scrape", 2),
        ("routes.rs", "routes", 3),
        ("connection.rs", "connection", 3),
        ("serve.rs", "serve", 4),
        ("mod.rs", "root", 5),
    ],
};

#[test]
fn the_runtime_imports_only_downward_and_in_no_circle() {
    let problems = check(&RUNTIME);
    assert!(
        problems.is_empty(),
        "plugobs-runtime/src:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_http_module_imports_only_downward_and_in_no_circle() {
    let problems = check(&HTTP);
    assert!(
        problems.is_empty(),
        "plugobs/src/http:\n{}",
        problems.join("\n")
    );
}

/// The checker itself can fail: an upward import and a circle between two files are both
/// reported, naming the file and the path.
#[test]
fn the_checker_reports_an_upward_import_and_a_circle() {
    let files = vec![
        parsed("model/a.rs", "use crate::core::b::B; pub struct A;"),
        parsed(
            "core/b.rs",
            "pub struct B; fn f() { let _ = crate::core::c::C; }",
        ),
        parsed("core/c.rs", "pub struct C; fn g() { super::b::B; }"),
        parsed("lib.rs", "pub mod model; pub mod core;"),
    ];
    let problems = problems_of(&RUNTIME, &files);
    assert_eq!(
        problems,
        vec![
            "model/a.rs (model) imports a higher layer: `crate::core::b::B` is core/b.rs (core)"
                .to_string(),
            "a circle: core/b.rs -> core/c.rs (`crate::core::c::C`) -> core/b.rs (`super::b::B`)"
                .to_string(),
        ]
    );
}

/// A unit-test module may use anything; a re-export through the root is an upward import.
#[test]
fn the_checker_skips_unit_tests_and_sees_through_the_root() {
    let files = vec![
        parsed(
            "core/b.rs",
            "pub struct B;\n#[cfg(test)]\nmod tests { use crate::export::e::E; }",
        ),
        parsed("export/e.rs", "pub struct E;"),
        parsed(
            "model/a.rs",
            "/// [`crate::export::e::E`] in a doc is no import.\nfn f() -> crate::Registry { todo!() }",
        ),
        parsed("lib.rs", "pub mod model; pub mod core; pub mod export;"),
    ];
    assert_eq!(
        problems_of(&RUNTIME, &files),
        vec![
            "model/a.rs (model) imports a higher layer: `crate::Registry` is lib.rs (root)"
                .to_string()
        ]
    );
}

struct File {
    /// Path relative to the tree's root, with `/`.
    rel: String,
    /// The module path of the file inside its crate.
    module: Vec<String>,
    tokens: TokenStream,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn check(tree: &Tree) -> Vec<String> {
    let root = workspace().join(tree.root);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let source = fs::read_to_string(&path).unwrap();
                files.push(parsed_in(tree, &rel, &source));
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    problems_of(tree, &files)
}

fn parsed(rel: &str, source: &str) -> File {
    parsed_in(&RUNTIME, rel, source)
}

fn parsed_in(tree: &Tree, rel: &str, source: &str) -> File {
    let tokens = TokenStream::from_str(source).unwrap_or_else(|e| panic!("{rel}: {e}"));
    File {
        rel: rel.to_string(),
        module: module_of(tree, rel),
        tokens,
    }
}

/// `health/check.rs` is `health::check`, `health/mod.rs` is `health`, `lib.rs` the root.
fn module_of(tree: &Tree, rel: &str) -> Vec<String> {
    let mut module: Vec<String> = tree.module.iter().map(|s| s.to_string()).collect();
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let parts: Vec<&str> = stem.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last && (*part == "mod" || *part == "lib" || *part == "main") {
            break;
        }
        module.push(part.to_string());
    }
    module
}

fn layer_of(tree: &Tree, rel: &str) -> Option<(&'static str, u8)> {
    tree.layers
        .iter()
        .filter(|(prefix, _, _)| rel.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, name, rank)| (name, rank))
}

/// An import: the path as written, and the file it resolves to.
struct Import {
    written: String,
    target: usize,
}

fn problems_of(tree: &Tree, files: &[File]) -> Vec<String> {
    let modules: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let mut problems = Vec::new();
    let mut edges: Vec<Vec<Import>> = Vec::new();
    for file in files {
        let mut paths = Vec::new();
        collect_paths(&file.tokens, &file.module, &mut paths);
        let mut imports: Vec<Import> = Vec::new();
        for (written, absolute) in paths {
            let Some(target) = resolve(tree, &modules, &absolute) else {
                continue;
            };
            if files[target].rel == file.rel {
                continue;
            }
            if !imports.iter().any(|i| i.target == target) {
                imports.push(Import { written, target });
            }
        }
        edges.push(imports);
    }
    // Upward imports, and files outside every layer.
    for (i, file) in files.iter().enumerate() {
        let Some((layer, rank)) = layer_of(tree, &file.rel) else {
            problems.push(format!(
                "{} is in no layer: move it into one of {}",
                file.rel,
                {
                    let names: BTreeSet<&str> = tree.layers.iter().map(|l| l.0).collect();
                    names.into_iter().collect::<Vec<_>>().join(", ")
                }
            ));
            continue;
        };
        for import in &edges[i] {
            let target = &files[import.target];
            let Some((to_layer, to_rank)) = layer_of(tree, &target.rel) else {
                continue;
            };
            if to_rank > rank {
                problems.push(format!(
                    "{} ({layer}) imports a higher layer: `{}` is {} ({to_layer})",
                    file.rel, import.written, target.rel
                ));
            }
        }
    }
    // Circles: one per strongly connected component of more than one file.
    for component in components(&edges) {
        if component.len() < 2 {
            continue;
        }
        let cycle = a_cycle(&edges, &component);
        let mut text = format!("a circle: {}", files[cycle[0].0].rel);
        for (to, written) in cycle
            .iter()
            .skip(1)
            .map(|(f, w)| (*f, w))
            .chain(std::iter::once((cycle[0].0, &cycle[0].1)))
        {
            text.push_str(&format!(" -> {} (`{written}`)", files[to].rel));
        }
        if component.len() > cycle.len() {
            let names: Vec<&str> = component.iter().map(|&i| files[i].rel.as_str()).collect();
            text.push_str(&format!(
                "; all {} files of this circle: {}",
                names.len(),
                names.join(", ")
            ));
        }
        problems.push(text);
    }
    problems
}

/// A path resolves to the file of its longest prefix that is a module of this tree; paths
/// that leave the tree (other crates, std) resolve to nothing.
fn resolve(
    tree: &Tree,
    modules: &BTreeMap<Vec<String>, usize>,
    absolute: &[String],
) -> Option<usize> {
    if !absolute.starts_with(
        &tree
            .module
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    ) && !tree.module.is_empty()
    {
        return None;
    }
    for len in (tree.module.len()..=absolute.len()).rev() {
        if let Some(&i) = modules.get(&absolute[..len]) {
            return Some(i);
        }
    }
    None
}

/// Every path in `tokens` that names something of this crate, as (written, absolute
/// module path). `module` is the module the tokens are in.
fn collect_paths(tokens: &TokenStream, module: &[String], out: &mut Vec<(String, Vec<String>)>) {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        // `#[cfg(test)]` / `#[cfg(all(test, …))]`: skip the attributes and the item.
        if is_punct(&trees[i], '#') && i + 1 < trees.len() {
            if let TokenTree::Group(g) = &trees[i + 1] {
                if g.delimiter() == Delimiter::Bracket && is_test_cfg(&g.stream()) {
                    i = skip_item(&trees, i);
                    continue;
                }
                if g.delimiter() == Delimiter::Bracket {
                    i += 2;
                    continue;
                }
            }
        }
        // `mod name { … }`: its contents are in a module one deeper.
        if is_ident(&trees[i], "mod") {
            if let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(body))) =
                (trees.get(i + 1), trees.get(i + 2))
            {
                if body.delimiter() == Delimiter::Brace {
                    let mut inner = module.to_vec();
                    inner.push(name.to_string());
                    collect_paths(&body.stream(), &inner, out);
                    i += 3;
                    continue;
                }
            }
        }
        if let TokenTree::Ident(ident) = &trees[i] {
            let preceded_by_colons = i >= 2 && is_colons(&trees[i - 2], &trees[i - 1]);
            let preceded_by_dollar = i >= 1 && is_punct(&trees[i - 1], '$');
            let name = ident.to_string();
            let start: Option<Vec<String>> = match name.as_str() {
                _ if preceded_by_colons || preceded_by_dollar => None,
                "crate" => Some(Vec::new()),
                "self" => Some(module.to_vec()),
                "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
                _ => None,
            };
            let relative = start.is_none() && !preceded_by_colons && !preceded_by_dollar;
            if let Some(base) = start {
                i = read_path(&trees, i, name, base, module, out);
                continue;
            }
            if relative && i + 2 < trees.len() && is_colons(&trees[i + 1], &trees[i + 2]) {
                // A path starting with a name: a child module of this one, if it is one
                // (resolution drops it otherwise, as it leaves the tree).
                let mut base = module.to_vec();
                base.push(name.clone());
                let next = read_path(&trees, i, name, base, module, out);
                i = next;
                continue;
            }
        }
        // `#[serde(with = "crate::…")]` names a module in a string.
        if let TokenTree::Literal(literal) = &trees[i] {
            let text = literal.to_string();
            if let Some(path) = text
                .strip_prefix("\"crate::")
                .and_then(|t| t.strip_suffix('"'))
            {
                let segments: Vec<String> = path.split("::").map(str::to_string).collect();
                out.push((format!("crate::{path}"), segments));
            }
        }
        if let TokenTree::Group(g) = &trees[i] {
            collect_paths(&g.stream(), module, out);
        }
        i += 1;
    }
}

/// Reads `head::a::b::{c, d::e}` from `trees[at]`, pushing one path per leaf.
fn read_path(
    trees: &[TokenTree],
    at: usize,
    head: String,
    base: Vec<String>,
    module: &[String],
    out: &mut Vec<(String, Vec<String>)>,
) -> usize {
    let mut written = head;
    let mut absolute = base;
    let mut i = at + 1;
    while i + 2 <= trees.len() && is_colons(&trees[i], &trees[i + 1]) {
        match trees.get(i + 2) {
            Some(TokenTree::Ident(segment)) => {
                let s = segment.to_string();
                written.push_str("::");
                written.push_str(&s);
                match s.as_str() {
                    "super" => {
                        absolute.pop();
                    }
                    "self" => {}
                    _ => absolute.push(s),
                }
                i += 3;
            }
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                for leaf in split_commas(&group.stream()) {
                    let leaf: Vec<TokenTree> = leaf.into_iter().collect();
                    let mut leaf_written = written.clone();
                    let mut leaf_absolute = absolute.clone();
                    for t in &leaf {
                        match t {
                            TokenTree::Ident(id) if *id == "as" => break,
                            TokenTree::Ident(id) => {
                                let s = id.to_string();
                                leaf_written.push_str("::");
                                leaf_written.push_str(&s);
                                if s != "self" {
                                    leaf_absolute.push(s);
                                }
                            }
                            _ => {}
                        }
                    }
                    out.push((leaf_written, leaf_absolute));
                }
                return i + 3;
            }
            Some(TokenTree::Punct(p)) if p.as_char() == '*' => {
                written.push_str("::*");
                i += 3;
                break;
            }
            _ => break,
        }
    }
    let _ = module;
    // `crate`, `self` or `super` alone (`pub(crate)`, `&self`) is no path.
    if i > at + 1 {
        out.push((written, absolute));
    }
    i
}

fn split_commas(tokens: &TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![Vec::new()];
    for t in tokens.clone() {
        if is_punct(&t, ',') {
            parts.push(Vec::new());
        } else {
            parts.last_mut().unwrap().push(t);
        }
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.into_iter().collect())
        .collect()
}

fn is_test_cfg(attribute: &TokenStream) -> bool {
    let mut trees = attribute.clone().into_iter();
    let Some(TokenTree::Ident(name)) = trees.next() else {
        return false;
    };
    if name != "cfg" {
        return false;
    }
    fn mentions_test(stream: &TokenStream) -> bool {
        stream.clone().into_iter().any(|t| match t {
            TokenTree::Ident(id) => id == "test",
            TokenTree::Group(g) => mentions_test(&g.stream()),
            _ => false,
        })
    }
    trees.any(|t| matches!(t, TokenTree::Group(g) if mentions_test(&g.stream())))
}

/// From an attribute at `at`, the index after the item it is on: further attributes,
/// then tokens up to a `;` or a brace group at this level.
fn skip_item(trees: &[TokenTree], mut at: usize) -> usize {
    while at + 1 < trees.len() && is_punct(&trees[at], '#') {
        at += 2;
    }
    while at < trees.len() {
        match &trees[at] {
            TokenTree::Punct(p) if p.as_char() == ';' => return at + 1,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return at + 1,
            _ => at += 1,
        }
    }
    at
}

fn is_punct(t: &TokenTree, c: char) -> bool {
    matches!(t, TokenTree::Punct(p) if p.as_char() == c)
}

fn is_ident(t: &TokenTree, name: &str) -> bool {
    matches!(t, TokenTree::Ident(id) if id == name)
}

fn is_colons(a: &TokenTree, b: &TokenTree) -> bool {
    matches!(a, TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && is_punct(b, ':')
}

/// Tarjan's strongly connected components.
fn components(edges: &[Vec<Import>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<Import>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for w in s.edges[v].iter().map(|i| i.target) {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(wi) if s.on_stack[w] => s.low[v] = s.low[v].min(wi),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// One shortest circle through the component's first file: (file, the path that led to
/// it), the first entry's path being the one that closes the circle.
fn a_cycle(edges: &[Vec<Import>], component: &[usize]) -> Vec<(usize, String)> {
    let start = component[0];
    let inside: BTreeSet<usize> = component.iter().copied().collect();
    // Breadth-first from `start` back to `start`.
    let mut previous: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for import in &edges[v] {
            let w = import.target;
            if !inside.contains(&w) {
                continue;
            }
            if w == start {
                let mut cycle = vec![(start, import.written.clone())];
                let mut at = v;
                let mut tail = Vec::new();
                while at != start {
                    let (from, written) = previous[&at].clone();
                    tail.push((at, written));
                    at = from;
                }
                tail.reverse();
                cycle.extend(tail);
                return cycle;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = previous.entry(w) {
                e.insert((v, import.written.clone()));
                queue.push_back(w);
            }
        }
    }
    vec![(start, String::new())]
}
