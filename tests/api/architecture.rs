//! The house rules, read from the source: dependencies point one way, sled stays inside
//! storage, and only the route declarations look at request paths.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code lines of a file (comments left out), with their numbers.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn relative(p: &Path) -> String {
    p.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every `(file:line, text)` under `src/` whose code matches `bad`, for files `applies` picks.
fn offences(applies: impl Fn(&str) -> bool, bad: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(&src()) {
        let name = relative(&file);
        if !applies(&name) {
            continue;
        }
        for (n, line) in code_lines(&file) {
            if bad(&line) {
                found.push(format!("{name}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_lower_layers_do_not_import_the_http_side() {
    let lower = |f: &str| {
        ["src/domain/", "src/storage/", "src/services/", "src/sandbox/"]
            .iter()
            .any(|d| f.starts_with(d))
    };
    let upward = offences(lower, |l| {
        ["crate::http", "crate::oauth", "crate::webhooks", "crate::portal"]
            .iter()
            .any(|m| l.contains(m))
    });
    assert!(
        upward.is_empty(),
        "imports from http, oauth, webhooks or portal below them:\n{}",
        upward.join("\n")
    );
}

#[test]
fn storage_does_not_import_the_scenario() {
    let found = offences(|f| f.starts_with("src/storage/"), |l| l.contains("crate::scenario"));
    assert!(found.is_empty(), "storage imports the scenario:\n{}", found.join("\n"));
}

#[test]
fn sled_is_named_only_inside_storage() {
    let found = offences(
        |f| !f.starts_with("src/storage/"),
        |l| l.contains("sled::") || l.contains("use sled") || l.contains("sled;"),
    );
    assert!(found.is_empty(), "sled outside src/storage/:\n{}", found.join("\n"));
}

#[test]
fn no_api_error_or_status_code_below_http() {
    let lower = |f: &str| {
        ["src/domain/", "src/storage/", "src/services/", "src/sandbox/"]
            .iter()
            .any(|d| f.starts_with(d))
    };
    let found = offences(lower, |l| l.contains("ApiError") || l.contains("StatusCode"));
    assert!(found.is_empty(), "HTTP answers below http:\n{}", found.join("\n"));
}

/// A path test is a method of `str` that compares with a literal path (`starts_with("/…")`,
/// `== "/…"` and the like). Only the route declarations (`src/http/route.rs`, `src/http/routes/`)
/// may decide what a path is; every layer reads the declaration of the matched route.
#[test]
fn only_the_route_declarations_test_paths() {
    let declarations = |f: &str| f == "src/http/route.rs" || f.starts_with("src/http/routes/");
    let found = offences(
        |f| !declarations(f),
        |l| {
            [
                "starts_with(\"/",
                "ends_with(\"/",
                "strip_prefix(\"/",
                "strip_suffix(\"/",
                "contains(\"/",
                "== \"/",
                "!= \"/",
            ]
            .iter()
            .any(|p| l.contains(p))
        },
    );
    assert!(
        found.is_empty(),
        "path tests outside the route declarations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_look_for() {
    // The scanners themselves: a line they must flag, and one they must not.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.rs");
    std::fs::write(&f, "// if p.starts_with(\"/a\")\nif p.starts_with(\"/a\") {}\n").unwrap();
    let lines: Vec<_> = code_lines(&f)
        .into_iter()
        .filter(|(_, l)| l.contains("starts_with(\"/"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, 2);
}
