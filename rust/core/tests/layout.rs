//! The core's layout keeps its promise: imports point down. Every `crate::` path in
//! `rust/core/src` (outside comments) is resolved to the area that defines it, and no file
//! reaches an area listed after its own:
//!
//! vocabulary (the root files: config, errors, events, logging, …) → `net/` → `store/` →
//! `wallet/` → `pay/` → `funds/` → `wake/` → the entry points (`lib.rs`, `fuzz.rs`).
//!
//! Inside `wake/` the same holds one level down: the entry point (`mod.rs`) → `engine/` →
//! `rule.rs` → `outcome.rs` (and `registration.rs` beside the engine).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The areas, bottom first.
const AREAS: [&str; 8] = ["vocabulary", "net", "store", "wallet", "pay", "funds", "wake", "entry"];

/// Inside `wake/`, bottom first (same rank: neither imports the other).
const WAKE_PARTS: [(&str, usize); 5] =
    [("outcome", 0), ("rule", 1), ("engine", 2), ("registration", 2), ("mod", 3)];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The area of the module named `first` right under the crate root.
fn area_of_module(first: &str) -> Option<usize> {
    match first {
        "lib" | "fuzz" => AREAS.iter().position(|a| *a == "entry"),
        "net" | "store" | "wallet" | "pay" | "funds" | "wake" => {
            AREAS.iter().position(|a| *a == first)
        }
        _ => None,
    }
}

/// The area a source file belongs to, from its path under `src/`.
fn area_of_file(relative: &Path) -> usize {
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
    let stem = first.trim_end_matches(".rs");
    area_of_module(stem).unwrap_or(0)
}

/// What the crate root re-exports (`pub use a::b::{X, Y}` in lib.rs): name → its module path.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let text = lib.replace('\n', " ");
    for statement in text.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else { continue };
        let (path, list) = match rest.split_once("::{") {
            Some((path, list)) => (path.to_string(), list.trim_end_matches('}').to_string()),
            None => {
                let (path, name) = rest.rsplit_once("::").unwrap();
                (path.to_string(), name.to_string())
            }
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            names.insert(name.to_string(), path.clone());
        }
    }
    names
}

/// The first segments of every `crate::` path in `code`: `crate::a::b` gives `[a, b]`, and
/// `crate::{a, b::c}` gives `[a]` and `[b, c]`.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `doze_crate::`
        }
        let entries: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            group[..group.find('}').unwrap()].split(',').collect()
        } else {
            vec![rest]
        };
        for entry in entries {
            let segments: Vec<String> = entry
                .trim()
                .split("::")
                .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
                .take_while(|s: &String| !s.is_empty())
                .take(2)
                .collect();
            if !segments.is_empty() {
                paths.push(segments);
            }
        }
    }
    paths
}

/// `code` without comments (line comments and doc comments; the crate has no block comments).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn imports_point_down_between_areas_and_inside_the_wake() {
    let src = src();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexported = reexports(&code_of(&lib));
    let mut all = Vec::new();
    files(&src, &mut all);
    assert!(all.len() > 40, "found the sources: {}", all.len());

    let mut upward = Vec::new();
    for file in &all {
        let relative = file.strip_prefix(&src).unwrap();
        let own = area_of_file(relative);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in crate_paths(&code) {
            let first = &path[0];
            let target = match area_of_module(first) {
                Some(area) => area,
                None => match reexported.get(first) {
                    Some(module) => area_of_module(module.split("::").next().unwrap()).unwrap_or(0),
                    // A root vocabulary module (`crate::error::…`).
                    None => 0,
                },
            };
            if target > own {
                upward.push(format!(
                    "{}: crate::{} ({} imports {})",
                    relative.display(),
                    path.join("::"),
                    AREAS[own],
                    AREAS[target]
                ));
            }
            // Inside the wake, one level down.
            if own == 6 && target == 6 && first == "wake" && path.len() > 1 {
                let part_of = |name: &str| WAKE_PARTS.iter().find(|(p, _)| *p == name).map(|p| p.1);
                let in_wake = relative.strip_prefix("wake").unwrap();
                let own_part = in_wake.components().next().unwrap().as_os_str().to_string_lossy();
                let own_rank = part_of(own_part.trim_end_matches(".rs")).unwrap();
                let target_rank = part_of(&path[1]).unwrap_or(3);
                if target_rank > own_rank {
                    upward.push(format!(
                        "{}: crate::{} (inside wake/, {own_part} imports {})",
                        relative.display(),
                        path.join("::"),
                        path[1]
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up:\n{}", upward.join("\n"));
}

#[test]
fn the_check_sees_paths_in_every_form() {
    let paths = crate_paths("use crate::a::b;\nuse crate::{c, d::e};\nx = doze_crate::f;");
    assert_eq!(paths, vec![vec!["a", "b"], vec!["c"], vec!["d", "e"]]);
    let names = reexports("pub use wake::{WakeEnd, WakeOutcome};\npub use config::BackupConfig;");
    assert_eq!(names["WakeOutcome"], "wake");
    assert_eq!(names["BackupConfig"], "config");
    assert_eq!(code_of("let a = 1; // crate::wake\n/// crate::pay"), "let a = 1; \n");
}
