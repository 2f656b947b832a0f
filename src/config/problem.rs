//! What is wrong with a config value: the error type of the config boundary.
//! Its `Display` is the operator's wording, written next to the rule it
//! explains (each section's `validate`), and `Config::parse` turns each into
//! one line of `jukebox check` (file, line, key). Nothing here reaches a
//! user of the bot.

use std::fmt;

/// One refused value, in the operator's words ("interval_minutes must be 1
/// to 1440").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem(String);

impl Problem {
    /// The wording, for checks that read it (`contains`, `starts_with`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Problem {}

impl From<String> for Problem {
    fn from(text: String) -> Problem {
        Problem(text)
    }
}

impl From<&str> for Problem {
    fn from(text: &str) -> Problem {
        Problem(text.to_owned())
    }
}

impl From<crate::model::terms::BadTerms> for Problem {
    fn from(bad: crate::model::terms::BadTerms) -> Problem {
        Problem(bad.to_string())
    }
}

/// So a check reads `problem.contains("page_size")`.
impl std::ops::Deref for Problem {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}
