//! The phone library's size beside stock ldk-node's uniffi library, built the same way
//! (`scripts/bench-lib-size` builds both with the `release-ffi` profile, unstripped, and runs
//! this). Prints JSON: each library's size stripped (what an app ships), its largest sections,
//! and its code by crate (from the symbol table, before stripping), then the difference by
//! crate, largest first: where Doze's extra bytes are.
//!
//! `lib-size <libdoze.so> <libldk_node.so>` (needs binutils' `strip` and `nm` on the PATH)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// One library, measured.
struct Measured {
    stripped_bytes: u64,
    sections: BTreeMap<String, u64>,
    code_by_crate: BTreeMap<String, u64>,
}

fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program} (install binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The crate a demangled symbol belongs to: the first path segment, after any `<`
/// (`<lightning::ln::… as …>::write` is `lightning`'s); C and assembly symbols are "C/other".
fn crate_of(symbol: &str) -> String {
    let path = symbol.trim_start_matches('<');
    match path.split_once("::") {
        Some((head, _)) if head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            head.to_string()
        }
        _ => "C/other".to_string(),
    }
}

fn measure(lib: &Path, scratch: &Path) -> Result<Measured, String> {
    let lib_arg = lib.to_str().ok_or("library path is not UTF-8")?;
    let stripped = scratch.join("stripped.so");
    let stripped_arg = stripped.to_str().ok_or("scratch path is not UTF-8")?;
    run("strip", &["-o", stripped_arg, lib_arg])?;
    let stripped_bytes = std::fs::metadata(&stripped).map_err(|e| e.to_string())?.len();

    let mut sections = BTreeMap::new();
    let headers = String::from_utf8_lossy(&run("size", &["-A", stripped_arg])?).into_owned();
    for line in headers.lines() {
        let mut fields = line.split_whitespace();
        if let (Some(name), Some(size)) = (fields.next(), fields.next()) {
            if name.starts_with('.') {
                if let Ok(size) = size.parse::<u64>() {
                    sections.insert(name.to_string(), size);
                }
            }
        }
    }

    let mut code_by_crate = BTreeMap::new();
    let symbols = String::from_utf8_lossy(&run("nm", &["-S", "-C", lib_arg])?).into_owned();
    for line in symbols.lines() {
        // `address size type name`, name possibly with spaces.
        let mut fields = line.splitn(4, ' ');
        let (Some(_), Some(size), Some(kind), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") {
            continue;
        }
        let Ok(size) = u64::from_str_radix(size, 16) else { continue };
        *code_by_crate.entry(crate_of(name)).or_insert(0) += size;
    }
    if code_by_crate.is_empty() {
        return Err(format!("{lib_arg} has no symbols: build it unstripped (see the script)"));
    }
    Ok(Measured { stripped_bytes, sections, code_by_crate })
}

fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1e4).round() / 100.0
}

fn report(m: &Measured) -> Value {
    let mut sections: Vec<_> = m.sections.iter().collect();
    sections.sort_by_key(|(_, size)| std::cmp::Reverse(**size));
    let mut crates: Vec<_> = m.code_by_crate.iter().collect();
    crates.sort_by_key(|(_, size)| std::cmp::Reverse(**size));
    json!({
        "stripped_bytes": m.stripped_bytes,
        "stripped_mb": mb(m.stripped_bytes),
        "sections": sections.iter().take(8)
            .map(|(name, size)| format!("{name}: {} kB", **size / 1000)).collect::<Vec<_>>(),
        "code_by_crate": crates.iter().take(15)
            .map(|(name, size)| format!("{name}: {} kB", **size / 1000)).collect::<Vec<_>>(),
        "code_kb": m.code_by_crate.values().sum::<u64>() / 1000,
    })
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [doze, ldk] = args.as_slice() else {
        eprintln!("usage: lib-size <libdoze.so> <libldk_node.so>  (see scripts/bench-lib-size)");
        std::process::exit(2);
    };
    let scratch = std::env::temp_dir().join(format!("doze-lib-size-{}", std::process::id()));
    let result = std::fs::create_dir_all(&scratch)
        .map_err(|e| e.to_string())
        .and_then(|()| Ok((measure(doze, &scratch)?, measure(ldk, &scratch)?)));
    let _ = std::fs::remove_dir_all(&scratch);
    let (doze, ldk) = match result {
        Ok(both) => both,
        Err(e) => {
            eprintln!("lib-size: {e}");
            std::process::exit(1);
        }
    };
    let mut diff: Vec<(String, i64)> = doze
        .code_by_crate
        .keys()
        .chain(ldk.code_by_crate.keys())
        .map(|name| {
            let of = |m: &Measured| m.code_by_crate.get(name).copied().unwrap_or(0) as i64;
            (name.clone(), of(&doze) - of(&ldk))
        })
        .collect();
    diff.sort();
    diff.dedup();
    diff.sort_by_key(|(_, d)| std::cmp::Reverse(d.abs()));
    let out = json!({
        "libdoze": report(&doze),
        "stock_ldk_node_uniffi": report(&ldk),
        "libdoze_over_ldk_node": (doze.stripped_bytes as f64 / ldk.stripped_bytes as f64 * 1000.0)
            .round() / 1000.0,
        "code_difference_by_crate": diff.iter().take(15)
            .map(|(name, d)| format!("{name}: {:+} kB", d / 1000)).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
