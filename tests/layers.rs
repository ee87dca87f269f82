//! The crate's modules form one-way layers: a module may import only modules below it.
//!
//! Every `src/**/*.rs` file belongs to a module (its folder under `src/`, or the top-level
//! file itself). Each path that reaches another top-level module — `crate::x`,
//! `use crate::{x, y::z}`, `$crate::x`, or `super::…` climbing out of the module — is an
//! edge, and it must point to a module further down [`LAYERS`]. See docs/architecture.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};

/// Top to bottom. A module may import only modules listed after it.
const LAYERS: &[&str] = &[
    "main",
    "cli",
    "demo",
    "startup",
    "api",
    "jobs",
    "telemetry",
    "state",
    "exchange",
    "auth",
    "notify",
    "audit",
    "live",
    "metrics",
    "store",
    "config",
    "error",
    "random",
    "tls",
    "domain",
];

#[test]
fn modules_import_only_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&root, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    let problems = violations(&sources);
    assert!(
        problems.is_empty(),
        "imports against the layer order {LAYERS:?}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import() {
    let files = vec![(
        "store/audit.rs".to_string(),
        "use crate::error::AppError;\nuse crate::api::ROUTES;\n".to_string(),
    )];
    let problems = violations(&files);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("src/store/audit.rs"),
        "{}",
        problems[0]
    );
    assert!(problems[0].contains("store -> api"), "{}", problems[0]);
}

#[test]
fn the_check_reads_groups_super_paths_and_skips_comments_and_strings() {
    let files = vec![
        (
            "audit/mod.rs".to_string(),
            "use crate::{error::AppError, auth::AuthUser};\n".to_string(),
        ),
        ("notify/mod.rs".to_string(), "use super::auth::tokens;\n".to_string()),
        (
            "live.rs".to_string(),
            "// crate::api in a comment\nconst A: &str = \"crate::api\";\nfn f<'a>(c: char) { let _ = '\"'; }\n"
                .to_string(),
        ),
        (
            "store/x.rs".to_string(),
            "mod tests { use super::super::audit; }\n".to_string(),
        ),
        ("domain/money.rs".to_string(), "pub fn f() -> crate::error::AppError { todo!() }\n".to_string()),
        ("newmod.rs".to_string(), "use crate::domain::Role;\n".to_string()),
    ];
    let problems = violations(&files);
    let joined = problems.join("\n");
    assert!(joined.contains("audit -> auth"), "{joined}");
    assert!(!joined.contains("audit -> error"), "{joined}");
    assert!(joined.contains("notify -> auth"), "{joined}");
    assert!(!joined.contains("live ->"), "{joined}");
    // `super::super` from an inline module of store/x.rs is `store`: no edge.
    assert!(!joined.contains("store ->"), "{joined}");
    assert!(joined.contains("domain -> error"), "{joined}");
    assert!(joined.contains("newmod"), "{joined}");
    assert_eq!(problems.len(), 4, "{joined}");
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One line per import that breaks the layer order, naming the file and the edge.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (rel, text) in files {
        if rel == "lib.rs" {
            continue; // the crate root declares the modules; it imports none of them
        }
        let path = module_path(rel);
        let module = path[0].clone();
        let Some(own) = layer_of(&module) else {
            problems.push(format!("src/{rel}: module {module} has no place in LAYERS"));
            continue;
        };
        let code = strip_comments_and_strings(text);
        let mut targets: Vec<String> = top_level_targets(&code, &path);
        targets.sort();
        targets.dedup();
        for target in targets {
            if target == module || !LAYERS.contains(&target.as_str()) {
                continue;
            }
            let to = layer_of(&target).unwrap_or(0);
            if to <= own {
                problems.push(format!(
                    "src/{rel}: {module} -> {target} (a module imports only modules below it: {})",
                    LAYERS.join(" > ")
                ));
            }
        }
    }
    problems
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

/// `api/mod.rs` is `[api]`, `exchange/report/html.rs` is `[exchange, report, html]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules that the paths of `code` (a file at `path`) reach.
fn top_level_targets(code: &str, path: &[String]) -> Vec<String> {
    let bytes = code.as_bytes();
    let inline = inline_modules(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !is_ident(bytes[i - 1]);
        if word_start && code[i..].starts_with("crate::") {
            out.extend(items_at(code, i + "crate::".len()));
            i += "crate::".len();
        } else if word_start && code[i..].starts_with("super::") {
            let mut k = 0;
            let mut j = i;
            while code[j..].starts_with("super::") {
                k += 1;
                j += "super::".len();
            }
            let depth = path.len() + inline.iter().filter(|(s, e)| *s < i && i < *e).count();
            if depth == k {
                out.extend(items_at(code, j));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The first segment of the path at `at`, or of each item of a `{...}` group there.
fn items_at(code: &str, at: usize) -> Vec<String> {
    let rest = &code[at..];
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut item_start = true;
        for (n, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if c.is_whitespace() => {}
                _ if item_start => {
                    item_start = false;
                    items.push(ident_at(&group[n..]));
                }
                _ => {}
            }
        }
        items
    } else {
        vec![ident_at(rest)]
    }
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte spans of the bodies of inline modules (`mod tests { ... }`).
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let bytes = code.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(found) = code[i..].find("mod ") {
        let at = i + found;
        i = at + 4;
        if at > 0 && is_ident(bytes[at - 1]) {
            continue;
        }
        let after = code[at + 4..].trim_start();
        let name = ident_at(after);
        let rest = after[name.len()..].trim_start();
        if name.is_empty() || !rest.starts_with('{') {
            continue;
        }
        let open = code.len() - rest.len();
        let mut depth = 0;
        for (n, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        spans.push((open, open + n));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    spans
}

/// The code with comments, string literals and character literals blanked out (newlines
/// kept, non-ASCII code characters blanked too, so byte offsets stay char boundaries).
fn strip_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match skipped_span(&chars, i) {
            Some(end) => {
                for c in &chars[i..end] {
                    out.push(if *c == '\n' { '\n' } else { ' ' });
                }
                i = end;
            }
            None => {
                out.push(if chars[i].is_ascii() { chars[i] } else { ' ' });
                i += 1;
            }
        }
    }
    out
}

/// Where the comment or literal starting at `i` ends (exclusive), if one starts there.
fn skipped_span(chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    let end = if c == '/' && next == Some('/') {
        chars[i..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |p| i + p)
    } else if c == '/' && next == Some('*') {
        block_comment_end(chars, i)
    } else if c == 'r' && raw_string_start(chars, i) {
        raw_string_end(chars, i)
    } else if c == '"' {
        string_end(chars, i)
    } else if c == '\'' && next == Some('\\') {
        chars[i + 3..]
            .iter()
            .position(|c| *c == '\'')
            .map_or(chars.len(), |p| i + 4 + p)
    } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
        i + 3
    } else {
        return None;
    };
    Some(end.min(chars.len()))
}

/// The end of a (nested) block comment opening at `i`.
fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The end of a raw string `r#"..."#` opening at `i`.
fn raw_string_end(chars: &[char], i: usize) -> usize {
    let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
    let mut j = i + 2 + hashes;
    while j < chars.len()
        && !(chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes)
    {
        j += 1;
    }
    j + 1 + hashes
}

/// The end of a string literal opening at `i`, escapes skipped.
fn string_end(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    while j < chars.len() && chars[j] != '"' {
        j += if chars[j] == '\\' { 2 } else { 1 };
    }
    j + 1
}

/// Whether the `r` at `i` opens a raw string (`r"`, `r#"`), not ends an identifier.
fn raw_string_start(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
    chars.get(i + 1 + hashes) == Some(&'"')
}
