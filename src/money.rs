//! Fixed-point TFT amounts.
//!
//! Money is never a float: a [`Tft`] counts units of 10^-7 TFT, the same
//! resolution TFChain and Stellar use, so amounts convert without rounding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Units per whole TFT (TFChain and Stellar both use seven decimals).
pub const UNITS_PER_TFT: i64 = 10_000_000;

/// An amount of TFT, stored as a signed count of 10^-7 TFT units.
///
/// Signed so that a ledger can represent debits; balances are kept
/// non-negative by the code that applies charges.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tft(i64);

/// Why a text is not a TFT amount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("an amount looks like 12 or 12.5 (at most 7 decimals)")]
    Malformed,
    #[error("that amount is too large")]
    TooLarge,
}

impl Tft {
    pub const ZERO: Tft = Tft(0);

    pub const fn from_units(units: i64) -> Tft {
        Tft(units)
    }

    pub const fn from_whole(tft: i64) -> Tft {
        Tft(tft * UNITS_PER_TFT)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Tft) -> Option<Tft> {
        self.0.checked_add(other.0).map(Tft)
    }

    pub fn checked_sub(self, other: Tft) -> Option<Tft> {
        self.0.checked_sub(other.0).map(Tft)
    }

    pub fn saturating_add(self, other: Tft) -> Tft {
        Tft(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Tft) -> Tft {
        Tft(self.0.saturating_sub(other.0))
    }

    pub fn saturating_mul(self, factor: i64) -> Tft {
        Tft(self.0.saturating_mul(factor))
    }

    /// Scales by `numerator / denominator`, rounding up so that a price is never
    /// under-charged by truncation.
    pub fn mul_div_ceil(self, numerator: i64, denominator: i64) -> Tft {
        assert!(denominator > 0, "denominator must be positive");
        let product = self.0 as i128 * numerator as i128;
        let d = denominator as i128;
        let q = product.div_euclid(d) + i128::from(product.rem_euclid(d) != 0);
        Tft(q.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The amount as a decimal string without unit, trailing zeros trimmed
    /// ("12.5", "0.0000001", "3"). This is the form payment links use.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / UNITS_PER_TFT as u64;
        let frac = abs % UNITS_PER_TFT as u64;
        if frac == 0 {
            format!("{sign}{whole}")
        } else {
            let frac = format!("{frac:07}");
            format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for Tft {
    /// Shows at most two decimals for people ("12.35 TFT"), rounding up so a
    /// displayed price is never lower than the real one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = Tft(self.0).mul_div_ceil(1, UNITS_PER_TFT / 100).0;
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.unsigned_abs();
        write!(f, "{sign}{}.{:02} TFT", abs / 100, abs % 100)
    }
}

impl FromStr for Tft {
    type Err = MoneyError;

    /// Parses "12", "12.5", "0.0000001", with an optional trailing "TFT".
    fn from_str(s: &str) -> Result<Tft, MoneyError> {
        let s = s.trim();
        let s = s
            .strip_suffix("TFT")
            .or_else(|| s.strip_suffix("tft"))
            .unwrap_or(s)
            .trim();
        let (whole, frac) = match s.split_once('.') {
            // "1." has a point but no decimals: a typo more likely than a value.
            Some((_, "")) => return Err(MoneyError::Malformed),
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 7 {
            return Err(MoneyError::Malformed);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
        let frac_units: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<7}")
                .parse()
                .map_err(|_| MoneyError::Malformed)?
        };
        whole
            .checked_mul(UNITS_PER_TFT)
            .and_then(|u| u.checked_add(frac_units))
            .map(Tft)
            .ok_or(MoneyError::TooLarge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for text in ["0", "1", "12.5", "0.0000001", "1000000"] {
            let t: Tft = text.parse().unwrap();
            assert_eq!(t.to_decimal_string(), text);
        }
        assert_eq!(
            "12.5 TFT".parse::<Tft>().unwrap(),
            Tft::from_units(125_000_000)
        );
    }

    #[test]
    fn rejects_malformed_amounts() {
        for text in [
            "",
            "-1",
            "1.",
            "1.00000001",
            "abc",
            "1,5",
            ".5",
            "99999999999999999999",
        ] {
            assert!(text.parse::<Tft>().is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn display_rounds_up_to_cents() {
        assert_eq!(Tft::from_units(1).to_string(), "0.01 TFT");
        assert_eq!(Tft::from_whole(3).to_string(), "3.00 TFT");
        assert_eq!(Tft::from_units(123_456_789).to_string(), "12.35 TFT");
    }

    #[test]
    fn mul_div_ceil_rounds_up() {
        assert_eq!(Tft::from_units(10).mul_div_ceil(1, 3), Tft::from_units(4));
        assert_eq!(Tft::from_units(9).mul_div_ceil(1, 3), Tft::from_units(3));
    }
}
