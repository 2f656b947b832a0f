//! Errors found while checking configuration, scripts and the catalog.
//!
//! `jukebox check` and start-up collect every problem at once, each pointing
//! at a file and line, instead of stopping at the first one.

use std::fmt;

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the position is unknown.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// All problems found in one check, printable one per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.0.push(Diagnostic {
            file: file.to_owned(),
            line,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Turns a YAML parse error into a diagnostic with its line.
    pub fn yaml_error(&mut self, file: &str, error: &serde_saphyr::Error) {
        let line = error.location().map(|l| l.line() as usize).unwrap_or(0);
        // The error's own text may embed a snippet; keep the first line only.
        let text = error.to_string();
        let first = text.lines().next().unwrap_or("invalid YAML").to_owned();
        self.push(file, line, first);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// YAML options used for every file Jukebox reads: strict booleans, so that
/// `no`, `on` or `y` stay strings (YAML 1.1 would read them as booleans).
pub fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options
}
