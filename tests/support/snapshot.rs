//! Whole-reply snapshots for the transcripts. The `<` lines of a transcript
//! check substrings; where the exact wording matters (the deploy summary,
//! the payment request, `/status`, `/balance`, alerts, the simulation
//! labels) a `snapshot NAME` line also compares everything shown to the
//! user since the last input, whole and with its buttons, against the
//! section `=== NAME` of `tests/transcripts/snapshots/<transcript>.txt`.
//!
//! Values that are random by design (node names, order ids, payment memos,
//! the sandbox's deposit account, mycelium addresses) are replaced by
//! numbered placeholders (`<node 1>`, `<order 1>`, `<memo 1>`...) read from
//! the users' own records, so a snapshot is the same on every run. A progress message is shown once, at its first place, with
//! its last text: what a Telegram user sees after the edits in place.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test jukebox <transcript>` re-records
//! the files instead of comparing (then review them with `git diff`); a
//! missing or stale section fails the test with what to do.

use std::collections::HashMap;
use std::path::PathBuf;

use jukebox::channel::Outgoing;
use jukebox::ids::UserId;

/// Set to `1` to re-record snapshot files instead of comparing them.
pub const UPDATE_ENV: &str = "UPDATE_SNAPSHOTS";
/// Starts a section in a snapshot file; a reply line may not start so.
const SECTION: &str = "=== ";

/// The snapshots of one transcript: what its file holds and, while
/// re-recording, what this run produced.
pub struct Snapshots {
    path: PathBuf,
    transcript: String,
    expected: Vec<(String, String)>,
    produced: Vec<(String, String)>,
    update: bool,
}

impl Snapshots {
    /// The snapshot file of `transcript` (e.g. `deploy_presearch.txt`);
    /// a missing file holds no sections.
    pub fn load(transcript: &str) -> Snapshots {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/transcripts/snapshots")
            .join(transcript);
        let expected = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{}: {e}", path.display()),
        };
        Snapshots {
            path,
            transcript: transcript.to_owned(),
            expected,
            produced: Vec::new(),
            update: std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1"),
        }
    }

    /// Compares `actual` with section `name` (or records it when updating).
    /// `at` names the transcript line for the failure message.
    pub fn check(&mut self, at: &str, name: &str, actual: String) {
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "{at}: a snapshot name is one word"
        );
        assert!(
            !self.produced.iter().any(|(n, _)| n == name),
            "{at}: snapshot {name:?} is taken twice in this transcript"
        );
        if let Some(line) = actual.lines().find(|l| l.starts_with(SECTION)) {
            panic!(
                "{at}: a reply line starts with {SECTION:?}, which the snapshot format cannot hold: {line:?}"
            );
        }
        self.produced.push((name.to_owned(), actual.clone()));
        if self.update {
            return;
        }
        let Some((_, expected)) = self.expected.iter().find(|(n, _)| n == name) else {
            panic!(
                "{at}: no snapshot {name:?} in {}; record it with {UPDATE_ENV}=1 and review the file.\nThis run showed:\n{actual}",
                self.path.display()
            );
        };
        if *expected != actual {
            panic!(
                "{at}: the reply differs from snapshot {name:?} in {} ({}). If the new wording is meant, re-record with {UPDATE_ENV}=1 and review the diff.\n--- expected\n{expected}\n--- actual\n{actual}",
                self.path.display(),
                first_difference(expected, &actual)
            );
        }
    }

    /// At the end of the transcript: writes the file when updating;
    /// otherwise fails if the file holds a section the transcript no longer
    /// takes (a stale snapshot would otherwise go unnoticed).
    pub fn finish(self) {
        if self.update {
            if self.produced.is_empty() {
                return;
            }
            let mut text = format!(
                "# Whole replies of tests/transcripts/{}, compared at its `snapshot NAME` lines.\n# Re-record with {UPDATE_ENV}=1 (docs/testing.md); review the diff before committing.\n",
                self.transcript
            );
            for (name, body) in &self.produced {
                text.push_str(&format!("\n{SECTION}{name}\n{body}\n"));
            }
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).expect("snapshot dir");
            }
            std::fs::write(&self.path, text)
                .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
            return;
        }
        let stale: Vec<&str> = self
            .expected
            .iter()
            .filter(|(n, _)| !self.produced.iter().any(|(p, _)| p == n))
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(
            stale.is_empty(),
            "{}: sections {stale:?} are taken by no `snapshot` line of {}; re-record with {UPDATE_ENV}=1",
            self.path.display(),
            self.transcript
        );
    }
}

/// Sections of a snapshot file: comment lines (`#`) before the first
/// section are skipped; a section runs to the next one, blank lines at its
/// end dropped.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix(SECTION) {
            let name = name.trim();
            if sections.iter().any(|(n, _)| n == name) {
                return Err(format!("line {}: section {name:?} twice", i + 1));
            }
            sections.push((name.to_owned(), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push(line);
        } else if !(line.is_empty() || line.starts_with('#')) {
            return Err(format!(
                "line {}: text before the first `{SECTION}NAME`",
                i + 1
            ));
        }
    }
    Ok(sections
        .into_iter()
        .map(|(name, body)| (name, body.join("\n").trim_end_matches('\n').to_owned()))
        .collect())
}

/// Where two texts part, for the failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut e = expected.lines();
    let mut a = actual.lines();
    for n in 1.. {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => return format!("first difference at line {n}: expected {x:?}, got {y:?}"),
        }
    }
    unreachable!("the loop returns at the first difference or the end")
}

/// What `user` was shown in `items`, whole: each item's text with its
/// buttons (`[label]`, one line per row), items separated by `---`, with
/// `redactions` applied.
pub fn render(items: &[(UserId, Outgoing)], user: &UserId, redactions: &Redactions) -> String {
    // A progress message is edited in place: keep its first place, last text.
    let mut last_progress: HashMap<&str, &str> = HashMap::new();
    for (u, item) in items {
        if let (true, Outgoing::Progress { key, text }) = (u == user, item) {
            last_progress.insert(key, text);
        }
    }
    let mut shown_progress = Vec::new();
    let mut parts = Vec::new();
    for (u, item) in items {
        if u != user {
            continue;
        }
        let (text, buttons) = match item {
            Outgoing::Message(m) => (m.text.clone(), &m.buttons[..]),
            Outgoing::Image {
                caption, buttons, ..
            } => (format!("(image) {caption}"), &buttons[..]),
            Outgoing::Progress { key, .. } => {
                if shown_progress.contains(key) {
                    continue;
                }
                shown_progress.push(key.clone());
                (
                    format!("(progress) {}", last_progress[key.as_str()]),
                    &[][..],
                )
            }
            Outgoing::Answered { answer } => (format!("✔ {answer}"), &[][..]),
            Outgoing::Withdrawn => ("(buttons withdrawn)".to_owned(), &[][..]),
        };
        let mut part = text.trim_end().to_owned();
        for row in buttons {
            let labels: Vec<String> = row.iter().map(|b| format!("[{}]", b.label)).collect();
            part.push('\n');
            part.push_str(&labels.join(" "));
        }
        parts.push(part);
    }
    redactions.apply(&parts.join("\n---\n"))
}

/// Random values and their placeholders, applied longest value first (a
/// node name may be the start of another's: `...-otter` and `...-otter-2`).
#[derive(Default)]
pub struct Redactions {
    pairs: Vec<(String, String)>,
}

impl Redactions {
    /// Replaces `value` by `<kind N>`, N counting values of that kind in
    /// the order added; a value added twice keeps its first placeholder.
    pub fn add(&mut self, kind: &str, value: &str) {
        if value.is_empty() || self.pairs.iter().any(|(v, _)| v == value) {
            return;
        }
        let n = self
            .pairs
            .iter()
            .filter(|(_, p)| p.starts_with(&format!("<{kind} ")))
            .count();
        self.pairs
            .push((value.to_owned(), format!("<{kind} {}>", n + 1)));
    }

    fn apply(&self, text: &str) -> String {
        let mut pairs: Vec<&(String, String)> = self.pairs.iter().collect();
        pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        pairs
            .iter()
            .fold(text.to_owned(), |t, (value, placeholder)| {
                t.replace(value.as_str(), placeholder)
            })
    }
}

#[test]
fn a_snapshot_file_parses_into_its_sections_and_refuses_duplicates() {
    let text = "# comment\n\n=== one\nline a\n\nline b\n\n=== two\nx\n";
    assert_eq!(
        parse(text).unwrap(),
        vec![
            ("one".to_owned(), "line a\n\nline b".to_owned()),
            ("two".to_owned(), "x".to_owned())
        ]
    );
    assert!(parse("=== a\n=== a\n").unwrap_err().contains("twice"));
    assert!(
        parse("stray\n=== a\n")
            .unwrap_err()
            .contains("before the first")
    );
}

#[test]
fn redactions_replace_longer_values_first_and_number_by_kind() {
    let mut r = Redactions::default();
    r.add("node", "dash-full-brave-otter");
    r.add("node", "dash-full-brave-otter-2");
    r.add("memo", "jb-0123");
    r.add("node", "dash-full-brave-otter");
    assert_eq!(
        r.apply("dash-full-brave-otter-2 and dash-full-brave-otter pay jb-0123"),
        "<node 2> and <node 1> pay <memo 1>"
    );
}
