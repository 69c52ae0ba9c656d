//! The layers stay layers: no module in `src/` imports a module that imports
//! it back, directly or through others; and ARCHITECTURE.md's table of
//! imports between top-level modules is the one the code has.
//!
//! Every file under `src/` (but `main.rs`, a crate of its own) is parsed and
//! every path it names that starts with `crate`, `super` or `self` — in `use`
//! items, types, expressions — becomes an edge to the deepest module the
//! path reaches; a name that module re-exports (`pub use`) is followed to
//! the module it comes from, so a ring cannot hide behind a parent's
//! re-exports. Two kinds of edge are left out: those inside
//! `#[cfg(test)]` items (tests may reach anywhere), and those between a
//! module and its own ancestors or descendants (a parent declares its
//! children and re-exports from them; a child reads its parent's shared
//! types; that is nesting, not a dependency between layers). Paths inside
//! macro invocations are not parsed, since they are not Rust syntax until
//! expanded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Module path (`["service", "log"]`) → its file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match segments.as_slice() {
                [only] if only == "main" => continue,
                [only] if only == "lib" => segments.clear(),
                [.., last] if last == "mod" => {
                    segments.pop();
                }
                _ => {}
            }
            found.insert(segments, path);
        }
    }
    found
}

/// Collects the `crate`/`super`/`self` paths one file names outside its tests.
struct Paths {
    /// The module the file is, then any inline modules the visitor is in.
    at: Vec<String>,
    /// Absolute module paths named (before resolving to a known module).
    named: Vec<Vec<String>>,
    /// The file's `pub use` items: the name it gives, and the path it names.
    reexports: Vec<(String, Vec<String>)>,
    /// The file's modules of its own (`mod x;`), which a `use x::…` names.
    children: BTreeSet<String>,
    /// The length of `at` outside any inline module.
    file_depth: usize,
}

impl Paths {
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.at.clone(),
            "super" => {
                let mut base = self.at.clone();
                base.pop();
                base
            }
            _ => return None,
        };
        let mut rest = rest;
        while let Some((next, tail)) = rest.split_first() {
            if next != "super" {
                break;
            }
            base.pop();
            rest = tail;
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.name_with(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.name_with(prefix, &r.ident),
            syn::UseTree::Glob(_) => {
                if let Some(path) = self.absolute(prefix) {
                    self.named.push(path);
                }
            }
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn name_with(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut full = prefix.to_vec();
        full.push(ident.to_string());
        if let Some(path) = self.absolute(&full) {
            self.named.push(path);
        }
    }
}

/// Each name a `use` tree brings in, with the path it stands for (globs
/// bring in no name of their own and are left out).
fn flatten(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<(String, Vec<String>)>) {
    let mut named = |ident: &syn::Ident, name: &syn::Ident| {
        let mut path = prefix.clone();
        path.push(ident.to_string());
        out.push((name.to_string(), path));
    };
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(prefix, &p.tree, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => named(&n.ident, &n.ident),
        syn::UseTree::Rename(r) => named(&r.ident, &r.rename),
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten(prefix, item, out);
            }
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // `mod x;` is a file of its own; an inline module moves `self`.
        if m.content.is_some() {
            self.at.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.at.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
        let top_level = self.at.len() == self.file_depth;
        if top_level && !matches!(u.vis, syn::Visibility::Inherited) {
            let mut found = Vec::new();
            flatten(&mut Vec::new(), &u.tree, &mut found);
            for (name, path) in found {
                let path = match path.first() {
                    Some(first) if self.children.contains(first) => {
                        let mut absolute = self.at.clone();
                        absolute.extend(path);
                        Some(absolute)
                    }
                    _ => self.absolute(&path),
                };
                if let Some(path) = path {
                    self.reexports.push((name, path));
                }
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(absolute) = self.absolute(&segments) {
            self.named.push(absolute);
        }
        syn::visit::visit_path(self, path);
    }
}

/// The deepest known module `named` reaches; a name a module re-exports
/// (`pub use`) is followed to the module it comes from.
fn resolve(
    named: &[String],
    modules: &BTreeMap<Vec<String>, PathBuf>,
    reexports: &BTreeMap<(Vec<String>, String), Vec<String>>,
    hops: usize,
) -> Option<Vec<String>> {
    let n = (0..=named.len())
        .rev()
        .find(|n| modules.contains_key(&named[..*n]))?;
    let target = named[..n].to_vec();
    if let Some(next) = named.get(n).filter(|_| hops < 8) {
        if let Some(source) = reexports.get(&(target.clone(), next.clone())) {
            let mut path = source.clone();
            path.extend(named[n + 1..].iter().cloned());
            return resolve(&path, modules, reexports, hops + 1);
        }
    }
    Some(target)
}

/// Module → the modules it names, as described in the module doc.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let name = |m: &[String]| {
        if m.is_empty() {
            "crate".to_owned()
        } else {
            m.join("::")
        }
    };
    let mut named_by = BTreeMap::new();
    let mut reexports = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let children = parsed
            .items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Mod(m) if m.content.is_none() => Some(m.ident.to_string()),
                _ => None,
            })
            .collect();
        let mut paths = Paths {
            at: module.clone(),
            named: Vec::new(),
            reexports: Vec::new(),
            children,
            file_depth: module.len(),
        };
        paths.visit_file(&parsed);
        for (alias, source) in paths.reexports {
            reexports.insert((module.clone(), alias), source);
        }
        named_by.insert(module.clone(), paths.named);
    }
    let mut edges = BTreeMap::new();
    for (module, named) in named_by {
        let targets: &mut BTreeSet<String> = edges.entry(name(&module)).or_default();
        for named in named {
            let Some(target) = resolve(&named, &modules, &reexports, 0) else {
                continue;
            };
            let nested = target.starts_with(&module) || module.starts_with(&target);
            if !nested {
                targets.insert(name(&target));
            }
        }
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    let report: Vec<String> = cycles(&edges)
        .into_iter()
        .map(|component| {
            let inside: Vec<String> = component
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| component.contains(b))
                        .map(move |b| format!("    {a} -> {b}"))
                })
                .collect();
            format!("a cycle among {component:?}:\n{}", inside.join("\n"))
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Writes `text` to `path` under `src`, creating its folders.
fn write_file(src: &Path, path: &str, text: &str) {
    let path = src.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_cycle_check_sees_a_cycle_through_a_use_a_type_and_super() {
    // Three modules in a ring, each naming the next a different way, and a
    // fourth that a test-only import and a parent/child pair must not tie in.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |path: &str, text: &str| write_file(src, path, text);
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n");
    write("a.rs", "use crate::b::{Thing, other};\n");
    write("b.rs", "pub fn f(_: crate::c::Kind) {}\n");
    write(
        "c.rs",
        "pub fn g() { super::a::h(); }\n#[cfg(test)]\nmod tests { use crate::d::X; }\n",
    );
    write("d/mod.rs", "pub mod inner;\nuse self::inner::Y;\n");
    write("d/inner.rs", "use super::Z;\n");
    let graph = edges(src);
    assert_eq!(
        cycles(&graph),
        vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
    assert!(graph["c"].iter().all(|t| t != "d"), "{graph:?}");

    // Breaking the ring at one edge clears it.
    write("c.rs", "pub fn g() {}\n");
    assert!(cycles(&edges(src)).is_empty());
}

#[test]
fn architecture_md_lists_exactly_the_imports_between_top_level_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut actual: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges(&root.join("src")) {
        let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
        let entry = actual.entry(top(&from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(&from)));
    }
    actual.remove("crate");

    // The table's rows: | `module` | a, b, c |
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let documented: BTreeMap<String, BTreeSet<String>> = doc
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let module = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let imports = cells.get(2)?;
            let imports = if imports.starts_with('(') {
                BTreeSet::new()
            } else {
                imports.split(',').map(|s| s.trim().to_owned()).collect()
            };
            (cells.len() == 4).then(|| (module.to_owned(), imports))
        })
        .collect();
    assert_eq!(
        documented, actual,
        "ARCHITECTURE.md's table of imports differs from src/"
    );
}

#[test]
fn every_file_over_400_lines_says_why_it_is_one_unit() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let silent: Vec<String> = modules(&src)
        .into_values()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let doc: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let says = doc.contains("one unit") || doc.contains("one file");
            (text.lines().count() > 400 && !says).then(|| file.display().to_string())
        })
        .collect();
    assert!(
        silent.is_empty(),
        "over 400 lines without saying in the module doc why they are one unit: {silent:?}"
    );
}

#[test]
fn the_cycle_check_follows_a_name_a_parent_re_exports() {
    // `p::q` names `crate::p::Thing`, which `p` re-exports from `p::r`,
    // and `p::r` names `p::q`: a ring hidden behind the parent's `pub use`.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |path: &str, text: &str| write_file(src, path, text);
    write("lib.rs", "pub mod p;\n");
    write(
        "p/mod.rs",
        "mod q;\nmod r;\npub use r::{Other, Thing as Thing};\n",
    );
    write("p/q.rs", "pub fn f(_: crate::p::Thing) {}\n");
    write(
        "p/r.rs",
        "pub struct Thing;\npub fn g() { super::q::f(Thing) }\n",
    );
    assert_eq!(
        cycles(&edges(src)),
        vec![vec!["p::q".to_owned(), "p::r".to_owned()]]
    );

    // Named straight from the parent's own item, it is no ring.
    write("p/mod.rs", "mod q;\nmod r;\npub struct Thing;\n");
    write("p/q.rs", "pub fn f(_: crate::p::Thing) {}\n");
    write("p/r.rs", "pub fn g() { super::q::f(super::Thing) }\n");
    assert!(cycles(&edges(src)).is_empty());
}
