//! The login state: a random token that ties a ThreeFold Connect callback to
//! the browser that started the login, and that also says when it was issued.
//!
//! Format: 32 random characters from `[A-Za-z0-9]` (about 190 bits) followed
//! by the issue time in decimal Unix seconds, so the whole state stays in the
//! `[A-Za-z0-9]+` alphabet the login server accepts. The issue time can be
//! trusted because the state is both kept in the website's signed session
//! cookie and signed by the user inside the attempt: a forged time would not
//! match either.

use super::LoginError;

/// Random characters at the start of every state.
pub const RANDOM_CHARS: usize = 32;
/// Longest state accepted back (random part plus any `u64` in decimal).
const MAX_STATE_CHARS: usize = RANDOM_CHARS + 20;

/// A fresh state issued at `now_unix`.
pub fn issue(now_unix: u64) -> String {
    let mut state = crate::crypto::random_alnum(RANDOM_CHARS);
    state.push_str(&now_unix.to_string());
    state
}

/// When a state this module issued was issued. Anything else (empty, wrong
/// alphabet, no time) cannot belong to a login this site started.
pub fn issued_at(state: &str) -> Result<u64, LoginError> {
    let well_formed = state.len() > RANDOM_CHARS
        && state.len() <= MAX_STATE_CHARS
        && state.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed {
        return Err(LoginError::StateMismatch);
    }
    state[RANDOM_CHARS..]
        .parse::<u64>()
        .map_err(|_| LoginError::StateMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_alphanumeric_random_and_carries_its_time() {
        let a = issue(1_795_392_000);
        let b = issue(1_795_392_000);
        assert_ne!(a, b);
        assert_eq!(a.len(), RANDOM_CHARS + 10);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_eq!(issued_at(&a), Ok(1_795_392_000));
    }

    #[test]
    fn foreign_states_are_refused() {
        for bad in [
            "",
            "short1795392000",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefNOTATIME",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcde-1795392000",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef99999999999999999999999",
        ] {
            assert_eq!(issued_at(bad), Err(LoginError::StateMismatch), "{bad}");
        }
    }
}
