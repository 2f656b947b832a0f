//! Architecture invariants (a module of the one test binary), checked by
//! reading `src/` as text (the way
//! rust-analyzer's `xtask/src/tidy.rs` checks its own tree): a failure names
//! the file, the line and the rule it broke. The rules, and why, are in
//! ARCHITECTURE.md under "Architecture invariants".
//!
//! - `core_does_no_io_and_imports_no_shell`: a core module imports no IO
//!   crate, no channel and no adapter.
//! - `config_imports_no_adapter`: config is plain data; adapters import it,
//!   never the other way round.
//! - `nothing_outside_dialogues_names_a_chain`: the chains Jukebox deploys
//!   are named in `dialogues/` only.
//! - `no_result_with_a_string_error`: a failure is a type of its boundary
//!   (`validate::Invalid`, `config::Problem`, ...), never bare text.
//!
//! The checker is plain text work (a small lexer that tells code from
//! comments and strings, and `#[cfg(test)]` items from the rest), so its
//! own tests below run it on small bad samples.

use std::fmt;
use std::path::{Path, PathBuf};

/// The pure core: no IO, no channel, no adapter. Each is `src/<name>.rs`
/// and everything under `src/<name>/`.
const CORE: &[&str] = &[
    "catalog",
    "command",
    "pricing",
    "money",
    "ledger",
    "dialogue",
    "lifecycle",
    "reservation",
    "model",
    "validate",
    "ids",
    "user",
];

/// Crates and std modules that do IO, as they appear in paths.
const IO: &[&str] = &[
    "tokio",
    "tokio_tungstenite",
    "reqwest",
    "axum",
    "hyper",
    "teloxide",
    "object_store",
    "subxt",
    "std::fs",
    "std::net",
    "std::process",
];

/// The channels: how users reach the service.
const CHANNELS: &[&str] = &["channel", "chat", "web"];

/// The shell around the core: the service and everything that talks to the
/// outside world or the disk.
const ADAPTERS: &[&str] = &[
    "admin",
    "alerts",
    "app",
    "audit",
    "backup",
    "config",
    "dialogue_dir",
    "grid",
    "grid_command",
    "metrics",
    "ops",
    "payments",
    "probe",
    "runtime",
    "service",
    "store",
];

/// Words that name a chain besides the catalog's own ids and names, each
/// with the reason it is one.
const CHAIN_WORDS: &[(&str, &str)] = &[
    ("heimdall", "Polygon's consensus layer"),
    ("bor", "Polygon's execution layer"),
    ("matic", "Polygon's token"),
];

/// Lines outside `dialogues/` that may name a chain: (file, text the line
/// holds, why).
const CHAIN_ALLOWED: &[(&str, &str, &str)] = &[(
    "src/validate/chain.rs",
    "dashpay/dash `src/bls/bls.h`",
    "cites the upstream source the BLS key rule follows; the project's rules ask for the \
     upstream file to be named",
)];

/// Files that may still return `Result<_, String>` outside tests: (file,
/// why). Each must still hold one (`every_allowed_string_error_still_exists`).
/// Not done yet, each named so the list only shrinks.
const STRING_ERROR_ALLOWED: &[(&str, &str)] = &[
    (
        "src/audit/global.rs",
        "a batch's outcome is cloned to every caller in the batch; needs a Clone error type",
    ),
    (
        "src/backup/manifest.rs",
        "a restore's manifest check, said to the operator; to become a BackupError variant",
    ),
    (
        "src/catalog/chain_probe.rs",
        "catalog load problems (operator-facing, one diagnostic each); to become a catalog error",
    ),
    ("src/catalog/facts.rs", "catalog load problems, as above"),
    ("src/catalog/notice.rs", "catalog load problems, as above"),
    (
        "src/dialogue/engine/questions.rs",
        "a script's choice source that cannot be built, reported as a script problem",
    ),
    (
        "src/dialogue/render.rs",
        "malformed placeholders in a script, reported by the script loader",
    ),
    (
        "src/grid/sim/chain.rs",
        "the simulated grid's fault words from the operator's /fault, to become an Invalid",
    ),
    (
        "src/grid/sim/deploy.rs",
        "the simulated node's refusal text, carried into GridError::Rejected as zos does",
    ),
    (
        "src/grid/tfgrid/chain/compat.rs",
        "the chain compatibility report's per-check outcome, printed as is by the doctor",
    ),
    (
        "src/grid/tfgrid/doctor.rs",
        "the doctor's steps are printed text for the operator; to become a DoctorError",
    ),
    ("src/grid/tfgrid/doctor/flists.rs", "the doctor, as above"),
    (
        "src/store/envelope.rs",
        "a schema upgrade step's reason, wrapped at once into StoreError::Corrupt",
    ),
    (
        "src/validate.rs",
        "a catalog validator that can never accept anything, reported by jukebox check",
    ),
];

/// One broken rule at one line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (rule `{}`, ARCHITECTURE.md \"Architecture invariants\")",
            self.file, self.line, self.what, self.rule
        )
    }
}

/// One line of a source file, split by the lexer.
#[derive(Clone, Debug, Default)]
struct Line {
    /// The code alone: comments removed, string and char literals emptied.
    code: String,
    /// Inside a `#[cfg(test)]` item (or a test file).
    test: bool,
}

/// Splits `text` into lines of code, telling test items apart. Handles line
/// and (nested) block comments, strings with escapes, raw strings and char
/// literals (a lifetime is not one), which is all Jukebox's sources use.
fn lex(text: &str, test_file: bool) -> Vec<Line> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Block(u32),
        Str,
        Raw(usize),
    }
    let mut state = State::Code;
    let mut lines = Vec::new();
    // Brace depth of the code, and where a `#[cfg(test)]` item started.
    let mut depth: i64 = 0;
    let mut test_pending = false;
    let mut test_until: Option<i64> = None;
    for raw in text.lines() {
        let chars: Vec<char> = raw.chars().collect();
        let mut code = String::new();
        let mut i = 0;
        let starts_in_test = test_until.is_some() || test_pending;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match state {
                State::Block(n) => {
                    if c == '*' && next == Some('/') {
                        state = if n == 1 {
                            State::Code
                        } else {
                            State::Block(n - 1)
                        };
                        i += 2;
                    } else if c == '/' && next == Some('*') {
                        state = State::Block(n + 1);
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                State::Str => {
                    if c == '\\' {
                        i += 2;
                    } else {
                        if c == '"' {
                            state = State::Code;
                            code.push('"');
                        }
                        i += 1;
                    }
                }
                State::Raw(hashes) => {
                    let closes = c == '"'
                        && chars.len() >= i + 1 + hashes
                        && chars[i + 1..i + 1 + hashes].iter().all(|&h| h == '#');
                    if closes {
                        state = State::Code;
                        code.push('"');
                        i += 1 + hashes;
                    } else {
                        i += 1;
                    }
                }
                State::Code => {
                    if c == '/' && next == Some('/') {
                        break;
                    } else if c == '/' && next == Some('*') {
                        state = State::Block(1);
                        i += 2;
                    } else if c == '"' {
                        state = State::Str;
                        code.push('"');
                        i += 1;
                    } else if c == 'r'
                        && !chars[..i]
                            .last()
                            .is_some_and(|p| p.is_alphanumeric() || *p == '_')
                        && matches!(next, Some('"') | Some('#'))
                    {
                        let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                        if chars.get(i + 1 + hashes) == Some(&'"') {
                            state = State::Raw(hashes);
                            code.push('"');
                            i += 2 + hashes;
                        } else {
                            code.push(c);
                            i += 1;
                        }
                    } else if c == '\'' {
                        // 'x' or '\n' is a char literal; 'a without a
                        // closing quote right after is a lifetime.
                        if next == Some('\\') {
                            let end = chars[i + 2..]
                                .iter()
                                .position(|&q| q == '\'')
                                .map_or(chars.len(), |p| i + 3 + p);
                            code.push_str("' '");
                            i = end;
                        } else if chars.get(i + 2) == Some(&'\'') {
                            code.push_str("' '");
                            i += 3;
                        } else {
                            code.push(c);
                            i += 1;
                        }
                    } else {
                        if c == '{' {
                            depth += 1;
                            if test_pending {
                                test_pending = false;
                                test_until = Some(depth - 1);
                            }
                        } else if c == '}' {
                            depth -= 1;
                            if test_until == Some(depth) {
                                test_until = None;
                            }
                        } else if c == ';' && test_pending && test_until.is_none() {
                            // `#[cfg(test)] use …;` or `mod tests;`: one line.
                            test_pending = false;
                        }
                        code.push(c);
                        i += 1;
                    }
                }
            }
        }
        if code.trim() == "#[cfg(test)]" {
            test_pending = true;
        }
        lines.push(Line {
            test: test_file || starts_in_test || test_until.is_some() || test_pending,
            code,
        });
    }
    lines
}

/// Whether `code` names the path `path` (a crate or `std::x`): followed by
/// `::` or imported whole (`use tokio;`), and not itself the tail of a
/// longer path or identifier (`my_tokio::`, `x::tokio::`).
fn path_starts(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(at, _)| {
        let (head, tail) = (&code[..at], &code[at + path.len()..]);
        let clean_before = !head
            .chars()
            .next_back()
            .is_some_and(|b| b.is_alphanumeric() || b == '_')
            && !head.ends_with("::");
        let segment_ends = !tail
            .chars()
            .next()
            .is_some_and(|a| a.is_alphanumeric() || a == '_');
        let used = tail.starts_with("::") || head.trim_end().ends_with("use");
        clean_before && segment_ends && used
    })
}

/// The crate modules `code` names: `crate::x`, and each `x` in
/// `crate::{x, y::z}`.
fn crate_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|b| b.is_alphanumeric() || b == '_')
        {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // First-level names of the group only.
            let mut level = 0;
            let mut name = String::new();
            let mut at_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => at_start = true,
                    c if level == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    _ => {
                        if !name.is_empty() {
                            found.push(std::mem::take(&mut name));
                        }
                        if level == 0 && !ch.is_whitespace() {
                            at_start = false;
                        }
                    }
                }
            }
            if !name.is_empty() {
                found.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// The std modules `code` names inside `std::{…}` groups, as `std::x`.
fn std_group_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("std::{") {
        let group = &code[at + "std::{".len()..];
        let mut level = 0;
        for part in group.split_inclusive([',', '{', '}']) {
            let name: String = part
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if level == 0 && !name.is_empty() {
                found.push(format!("std::{name}"));
            }
            if part.ends_with('{') {
                level += 1;
            } else if part.ends_with('}') {
                if level == 0 {
                    break;
                }
                level -= 1;
            }
        }
    }
    found
}

/// The core rule for one core file: no IO crate, channel or adapter.
fn check_core(file: &str, module: &str, text: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for (n, line) in lex(text, false).iter().enumerate() {
        let mut flag = |what: String| {
            found.push(Violation {
                file: file.to_owned(),
                line: n + 1,
                rule: "core_does_no_io_and_imports_no_shell",
                what,
            })
        };
        for io in IO {
            let named = path_starts(&line.code, io)
                || std_group_modules(&line.code).iter().any(|m| m == io);
            if named {
                flag(format!("core module `{module}` uses the IO crate `{io}`"));
            }
        }
        for name in crate_modules(&line.code) {
            if CHANNELS.contains(&name.as_str()) {
                flag(format!(
                    "core module `{module}` imports the channel `crate::{name}`"
                ));
            } else if ADAPTERS.contains(&name.as_str()) {
                flag(format!(
                    "core module `{module}` imports the adapter `crate::{name}`"
                ));
            }
        }
    }
    found
}

/// The config rule for one config file: no adapter, channel or service.
fn check_config(file: &str, text: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for (n, line) in lex(text, false).iter().enumerate() {
        for name in crate_modules(&line.code) {
            let shell = name != "config"
                && (CHANNELS.contains(&name.as_str()) || ADAPTERS.contains(&name.as_str()));
            if shell {
                found.push(Violation {
                    file: file.to_owned(),
                    line: n + 1,
                    rule: "config_imports_no_adapter",
                    what: format!(
                        "config imports `crate::{name}`; config is plain data that adapters \
                         read, so conversions into `{name}`'s types live in `{name}`"
                    ),
                });
            }
        }
    }
    found
}

/// The chain rule for one file: outside test items, no word of `chains`
/// (lower case), except the allowed lines.
fn check_chain_words(file: &str, text: &str, test_file: bool, chains: &[String]) -> Vec<Violation> {
    let mut found = Vec::new();
    let lines = lex(text, test_file);
    for (n, (raw, line)) in text.lines().zip(&lines).enumerate() {
        if line.test {
            continue;
        }
        let allowed = CHAIN_ALLOWED
            .iter()
            .any(|(f, holds, _)| *f == file && raw.contains(holds));
        if allowed {
            continue;
        }
        let lower = raw.to_lowercase();
        for word in lower.split(|c: char| !c.is_ascii_alphanumeric()) {
            if chains.iter().any(|chain| chain == word) {
                found.push(Violation {
                    file: file.to_owned(),
                    line: n + 1,
                    rule: "nothing_outside_dialogues_names_a_chain",
                    what: format!(
                        "names the chain word {word:?}; chains live in dialogues/ (adding one \
                         is a YAML edit), so say it generically or read it from the catalog"
                    ),
                });
            }
        }
    }
    found
}

/// The catalog's chain ids and one-word names, lower case, plus
/// [`CHAIN_WORDS`].
fn chain_words(catalog_yaml: &str) -> Vec<String> {
    let mut words: Vec<String> = CHAIN_WORDS.iter().map(|(w, _)| (*w).to_owned()).collect();
    let mut in_chain = false;
    for line in catalog_yaml.lines() {
        // A chain is `  - id:` at the list's indentation; its node types are
        // deeper.
        if let Some(id) = line.strip_prefix("  - id:") {
            words.push(id.trim().to_lowercase());
            in_chain = true;
        } else if let Some(name) = line.strip_prefix("    name:")
            && in_chain
        {
            let name = name.trim().trim_matches(['"', '\'']).to_lowercase();
            if !name.contains(char::is_whitespace) {
                words.push(name);
            }
            in_chain = false;
        }
    }
    words.sort();
    words.dedup();
    words
}

/// The error type of each `Result<…>` written in `code` (nested ones
/// too), as written: `Result<u8, String>` gives `String`. A `Result` with
/// one argument (an alias such as `anyhow::Result<T>`) gives nothing.
fn result_error_types(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("Result<") {
        let inside = &code[at + "Result<".len()..];
        let (mut depth, mut last_comma, mut end) = (0i32, None, None);
        for (i, c) in inside.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' if depth > 0 => depth -= 1,
                '>' => {
                    end = Some(i);
                    break;
                }
                ',' if depth == 0 => last_comma = Some(i),
                _ => {}
            }
        }
        if let (Some(comma), Some(end)) = (last_comma, end) {
            found.push(inside[comma + 1..end].trim().to_owned());
        }
    }
    // `impl TryFrom<…> for X { type Error = String; … }`.
    if code.replace(' ', "").contains("typeError=String;") {
        found.push("String".to_owned());
    }
    found
}

/// The string-error rule for one file: outside test items, no `Result`
/// whose error is `String` (or `std::string::String`).
fn check_string_errors(file: &str, text: &str, test_file: bool) -> Vec<Violation> {
    let mut found = Vec::new();
    for (n, line) in lex(text, test_file).iter().enumerate() {
        if line.test {
            continue;
        }
        for error in result_error_types(&line.code) {
            if matches!(
                error.as_str(),
                "String" | "std::string::String" | "string::String"
            ) {
                found.push(Violation {
                    file: file.to_owned(),
                    line: n + 1,
                    rule: "no_result_with_a_string_error",
                    what: "a `Result` whose error is a `String`; give the boundary its error \
                           type (its Display is the wording), e.g. `validate::Invalid` for what \
                           a user typed"
                        .to_owned(),
                });
            }
        }
    }
    found
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, as (path relative to the crate root, text);
/// files that are not UTF-8 (images) are skipped.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path
                    .strip_prefix(root())
                    .expect("under the crate root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, text));
            }
        }
    }
    out.sort();
    out
}

/// The files of module `name`: `src/<name>.rs` and everything under
/// `src/<name>/`.
fn module_files(name: &str) -> Vec<(String, String)> {
    let src = root().join("src");
    let mut files = Vec::new();
    let top = src.join(format!("{name}.rs"));
    if let Ok(text) = std::fs::read_to_string(&top) {
        files.push((format!("src/{name}.rs"), text));
    }
    let dir = src.join(name);
    if dir.is_dir() {
        files.extend(
            files_under(&dir)
                .into_iter()
                .filter(|(path, _)| path.ends_with(".rs")),
        );
    }
    files
}

fn report(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn core_does_no_io_and_imports_no_shell() {
    let mut violations = Vec::new();
    for module in CORE {
        let files = module_files(module);
        assert!(
            !files.is_empty(),
            "core module `{module}` has no src/{module}.rs: update CORE in tests/tidy.rs"
        );
        for (file, text) in files {
            violations.extend(check_core(&file, module, &text));
        }
    }
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn config_imports_no_adapter() {
    let violations: Vec<Violation> = module_files("config")
        .iter()
        .flat_map(|(file, text)| check_config(file, text))
        .collect();
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn nothing_outside_dialogues_names_a_chain() {
    let catalog = std::fs::read_to_string(root().join("dialogues/catalog.yaml"))
        .expect("dialogues/catalog.yaml");
    let chains = chain_words(&catalog);
    assert!(
        chains.len() > CHAIN_WORDS.len(),
        "no chain found in dialogues/catalog.yaml: {chains:?}"
    );
    let mut violations = Vec::new();
    for (file, text) in files_under(&root().join("src")) {
        // Tests may use the shipped catalog's chains as fixtures (the
        // catalog's own tests check that it lists them); the rule is about
        // what the program decides and says.
        let test_file =
            file.ends_with("/tests.rs") || file.ends_with("_tests.rs") || file.contains("/tests/");
        violations.extend(check_chain_words(&file, &text, test_file, &chains));
    }
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn every_allowed_chain_line_still_exists() {
    // An allowance whose line is gone would silently allow a new one.
    for (file, holds, why) in CHAIN_ALLOWED {
        let text = std::fs::read_to_string(root().join(file)).expect(file);
        assert!(
            text.lines().any(|l| l.contains(holds)),
            "{file} no longer holds {holds:?} ({why}): remove it from CHAIN_ALLOWED"
        );
    }
}

#[test]
fn no_result_with_a_string_error() {
    let mut violations = Vec::new();
    for (file, text) in files_under(&root().join("src")) {
        if !file.ends_with(".rs") || STRING_ERROR_ALLOWED.iter().any(|(f, _)| *f == file) {
            continue;
        }
        let test_file =
            file.ends_with("/tests.rs") || file.ends_with("_tests.rs") || file.contains("/tests/");
        violations.extend(check_string_errors(&file, &text, test_file));
    }
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn every_allowed_string_error_still_exists() {
    // An allowance for a file that no longer needs it would hide a new one.
    for (file, why) in STRING_ERROR_ALLOWED {
        let text = std::fs::read_to_string(root().join(file)).expect(file);
        assert!(
            !check_string_errors(file, &text, false).is_empty(),
            "{file} returns no `Result<_, String>` any more ({why}): remove it from \
             STRING_ERROR_ALLOWED"
        );
    }
}

// The checker itself, on small bad samples.

const BAD_CORE: &str = r##"//! A core module that breaks every rule.
use std::collections::BTreeMap;
use std::{fmt, fs};
use crate::{ids::UserId, store::Store};
use crate::model::Capacity;

// A comment may say tokio::spawn or crate::web without importing them.
const TEXT: &str = "crate::grid::Grid and std::net are only words here";
const BRACE: char = '{';

pub async fn load(path: &str) -> String {
    let _ = tokio::fs::read(path).await;
    let _ = r#"crate::app"#;
    crate::web::render(path)
}

fn lifetime<'a>(s: &'a str) -> &'a str {
    s
}

#[cfg(test)]
mod tests {
    use tokio::sync::Mutex;
}
"##;

#[test]
fn the_core_checker_names_each_bad_line() {
    let found = check_core("src/bad.rs", "bad", BAD_CORE);
    let lines: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.what.as_str())).collect();
    assert_eq!(
        lines,
        [
            (3, "core module `bad` uses the IO crate `std::fs`"),
            (4, "core module `bad` imports the adapter `crate::store`"),
            (12, "core module `bad` uses the IO crate `tokio`"),
            (14, "core module `bad` imports the channel `crate::web`"),
            (23, "core module `bad` uses the IO crate `tokio`"),
        ]
    );
    assert_eq!(
        found[0].to_string(),
        "src/bad.rs:3: core module `bad` uses the IO crate `std::fs` (rule \
         `core_does_no_io_and_imports_no_shell`, ARCHITECTURE.md \"Architecture invariants\")"
    );
    assert!(check_core("src/good.rs", "good", "use crate::model::Capacity;\n").is_empty());
}

#[test]
fn the_config_checker_catches_an_adapter_import() {
    let text = "use crate::model::Capacity;\nuse crate::config::Network;\n\
                pub sim: crate::grid::sim::SimConfig,\nuse crate::{ids::UserId, chat::telegram};\n";
    let found = check_config("src/config/x.rs", text);
    let lines: Vec<usize> = found.iter().map(|v| v.line).collect();
    assert_eq!(lines, [3, 4]);
    assert!(found[0].what.contains("`crate::grid`"), "{}", found[0]);
    assert!(found[1].what.contains("`crate::chat`"), "{}", found[1]);
}

#[test]
fn the_chain_checker_finds_words_outside_tests_only() {
    let catalog = "chains:\n  - id: dash\n    name: Dash\n    node_types:\n      - id: full\n        name: Dash full node\n  - id: gizmo\n    name: Gizmo Chain\n";
    let chains = chain_words(catalog);
    assert_eq!(chains, ["bor", "dash", "gizmo", "heimdall", "matic"]);
    let text = "/// Deploys a Dash node.\nfn dashboard() {}\nconst A: &str = \"dash-full-amber-fox\";\n\
                let x = \"Gizmo\"; // the bor layer\n#[cfg(test)]\nmod tests {\n    const N: &str = \"dash\";\n}\n\
                const B: &str = \"a heimdall id\";\n";
    let found = check_chain_words("src/x.rs", text, false, &chains);
    let lines: Vec<(usize, String)> = found
        .iter()
        .map(|v| (v.line, v.what.split('"').nth(1).unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "dash".to_owned()),
            (3, "dash".to_owned()),
            (4, "gizmo".to_owned()),
            (4, "bor".to_owned()),
            (9, "heimdall".to_owned()),
        ]
    );
    assert!(check_chain_words("src/x/tests.rs", text, true, &chains).is_empty());
    // An allowed line is skipped only in its own file.
    let cited = "//! nonzero (dashpay/dash `src/bls/bls.h`: an all-zero key\n";
    assert!(check_chain_words("src/validate/chain.rs", cited, false, &chains).is_empty());
    assert_eq!(
        check_chain_words("src/other.rs", cited, false, &chains).len(),
        1
    );
}

#[test]
fn the_lexer_marks_test_items_and_empties_strings() {
    let text = "fn a() { let s = \"}\"; }\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\nfn c() {}\n#[cfg(test)]\nuse x::y;\nfn d() {}\n";
    let lines = lex(text, false);
    let test: Vec<bool> = lines.iter().map(|l| l.test).collect();
    assert_eq!(
        test,
        [false, true, true, true, true, false, true, true, false]
    );
    assert_eq!(lines[0].code, "fn a() { let s = \"\"; }");
}

#[test]
fn the_string_error_checker_finds_nested_and_aliased_ones() {
    let text = "fn a() -> Result<u8, String> {}\n\
                fn b() -> anyhow::Result<Result<(u8, Vec<u8>), String>> {}\n\
                fn c() -> Result<Vec<u8>, Invalid> {}\n\
                fn d() -> anyhow::Result<String> {}\n\
                type Error = String;\n\
                fn e() -> Result<HashMap<String, u8>, std::string::String> {}\n\
                // fn f() -> Result<u8, String>\n\
                #[cfg(test)]\nmod tests {\n    fn g() -> Result<(), String> {}\n}\n";
    let lines: Vec<usize> = check_string_errors("src/x.rs", text, false)
        .iter()
        .map(|v| v.line)
        .collect();
    assert_eq!(lines, [1, 2, 5, 6]);
    assert_eq!(
        result_error_types("fn b() -> anyhow::Result<Result<(u8, Vec<u8>), String>> {}"),
        ["String"]
    );
    assert!(check_string_errors("src/x/tests.rs", text, true).is_empty());
}
