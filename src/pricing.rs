//! What a node costs: the TFChain pricing formula turned into TFT.
//!
//! Pure arithmetic, no IO. Resources become cloud units (CU) and storage units
//! (SU) exactly as the grid bills them (reference §3), priced in pricing-policy
//! units (10^7 units = 1 USD) and converted to TFT at a configured price.
//! Everything is exact integer arithmetic on one common denominator, rounded up
//! once at the end, so a quote is never below what the grid will charge.

use serde::{Deserialize, Serialize};

use crate::model::Capacity;
use crate::money::Tft;

/// Pricing-policy units per USD (10,000 units = 1 mUSD).
pub const UNITS_PER_USD: u128 = 10_000_000;
/// Decimals accepted in `tft_price_usd` (nano-USD resolution).
const PRICE_DECIMALS: usize = 9;
const NANO_PER_USD: u128 = 1_000_000_000;
/// A TFT price above this is certainly a typo in the config.
const MAX_TFT_PRICE_USD: u64 = 1_000_000;
/// CU is computed in 1/8192 CU (GB = MiB/1024, and the formula divides by up
/// to 8); SU in 1/200 SU. lcm(8192, 200) = 204800 is the common denominator.
const CU_DENOM: u128 = 8192;
const DENOM: u128 = 204_800;
/// Hours in a billing month, as the grid counts them.
pub const HOURS_PER_MONTH: u64 = 730;

/// Prices from config `[pricing]`; build it by deserialising or with
/// [`PriceList::new`], both of which validate the TFT price once.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "PriceListConfig", into = "PriceListConfig")]
pub struct PriceList {
    /// Pricing-policy units per CU per hour.
    pub cu_per_hour: u64,
    /// Pricing-policy units per SU per hour.
    pub su_per_hour: u64,
    /// Pricing-policy units per public IPv4 per hour.
    pub ipv4_per_hour: u64,
    /// As written in the config, kept for display and round-tripping.
    tft_price_usd: String,
    /// The same price in 10^-9 USD; private so it cannot drift from the text.
    tft_price_nano_usd: u64,
}

/// The `[pricing]` table as written; unknown keys are rejected so a typo does
/// not silently fall back to a default price.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
struct PriceListConfig {
    cu_per_hour: u64,
    su_per_hour: u64,
    ipv4_per_hour: u64,
    tft_price_usd: String,
}

impl Default for PriceListConfig {
    fn default() -> Self {
        // TFChain dev-genesis pricing policy 1 and a round TFT price.
        PriceListConfig {
            cu_per_hour: 100_000,
            su_per_hour: 50_000,
            ipv4_per_hour: 40_000,
            tft_price_usd: "0.01".to_owned(),
        }
    }
}

impl TryFrom<PriceListConfig> for PriceList {
    type Error = String;
    fn try_from(c: PriceListConfig) -> Result<PriceList, String> {
        PriceList::new(
            c.cu_per_hour,
            c.su_per_hour,
            c.ipv4_per_hour,
            &c.tft_price_usd,
        )
    }
}

impl From<PriceList> for PriceListConfig {
    fn from(p: PriceList) -> PriceListConfig {
        PriceListConfig {
            cu_per_hour: p.cu_per_hour,
            su_per_hour: p.su_per_hour,
            ipv4_per_hour: p.ipv4_per_hour,
            tft_price_usd: p.tft_price_usd,
        }
    }
}

impl Default for PriceList {
    fn default() -> Self {
        // The defaults are valid by construction (checked in a test).
        let c = PriceListConfig::default();
        PriceList {
            cu_per_hour: c.cu_per_hour,
            su_per_hour: c.su_per_hour,
            ipv4_per_hour: c.ipv4_per_hour,
            tft_price_usd: c.tft_price_usd,
            tft_price_nano_usd: 10_000_000,
        }
    }
}

/// Parses a positive decimal USD price ("0.01", "1", "0.0123") into nano-USD.
fn parse_price_nano_usd(text: &str) -> Result<u64, String> {
    let bad = || format!("tft_price_usd {text:?} must be a decimal like 0.01 (at most 9 decimals)");
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > PRICE_DECIMALS {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    if whole > MAX_TFT_PRICE_USD {
        return Err(format!("tft_price_usd {text:?} is implausibly high"));
    }
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    let nano = whole * NANO_PER_USD as u64 + frac;
    if nano == 0 {
        return Err("tft_price_usd must be more than 0".to_owned());
    }
    Ok(nano)
}

impl PriceList {
    /// A validated price list (`tft_price_usd` is a decimal USD price of 1 TFT).
    pub fn new(
        cu_per_hour: u64,
        su_per_hour: u64,
        ipv4_per_hour: u64,
        tft_price_usd: &str,
    ) -> Result<PriceList, String> {
        let list = PriceList {
            cu_per_hour,
            su_per_hour,
            ipv4_per_hour,
            tft_price_usd: tft_price_usd.trim().to_owned(),
            tft_price_nano_usd: parse_price_nano_usd(tft_price_usd)?,
        };
        list.validate()?;
        Ok(list)
    }

    /// Checks the invariants: a parseable positive TFT price matching the
    /// stored fixed-point value, and non-zero CU/SU prices (a zero price would
    /// hand out free nodes).
    pub fn validate(&self) -> Result<(), String> {
        if parse_price_nano_usd(&self.tft_price_usd)? != self.tft_price_nano_usd {
            return Err("tft_price_usd does not match its parsed value".to_owned());
        }
        if self.cu_per_hour == 0 || self.su_per_hour == 0 {
            return Err("cu_per_hour and su_per_hour must be more than 0".to_owned());
        }
        Ok(())
    }

    /// The USD price of one TFT as configured ("0.01").
    pub fn tft_price_usd(&self) -> &str {
        &self.tft_price_usd
    }

    /// The hourly cost in pricing-policy units times [`DENOM`], exact.
    fn scaled_units_per_hour(&self, c: &Capacity) -> u128 {
        let mib = u128::from(c.memory_mib);
        let cpu = u128::from(c.cpu);
        // In 1/8192 CU: mru/4 = 2*MiB, mru/8 = MiB, mru/2 = 4*MiB;
        // cru/2 = 4096*cpu, cru = 8192*cpu, cru/4 = 2048*cpu.
        let cu = (2 * mib)
            .max(4096 * cpu)
            .min(mib.max(CU_DENOM * cpu))
            .min((4 * mib).max(2048 * cpu));
        // SU = sru/200 with hru = 0; in 1/204800 SU that is 1024 * GB.
        let su = 1024 * u128::from(c.disk_gib);
        let ipv4 = if c.public_ipv4 {
            u128::from(self.ipv4_per_hour)
        } else {
            0
        };
        // Saturating: absurd inputs give an absurd (clamped) price, never a
        // wrapped-around cheap one, and saturation keeps prices monotonic.
        (cu * (DENOM / CU_DENOM))
            .saturating_mul(u128::from(self.cu_per_hour))
            .saturating_add(su.saturating_mul(u128::from(self.su_per_hour)))
            .saturating_add(ipv4.saturating_mul(DENOM))
    }

    /// Pricing-policy units per hour (10^7 = 1 USD), rounded up; for display.
    /// [`PriceList::per_hour`] works from the exact value, not from this.
    pub fn usd_units_per_hour(&self, c: &Capacity) -> u128 {
        self.scaled_units_per_hour(c).div_ceil(DENOM)
    }

    /// TFT per hour, rounded up to the 10^-7 TFT unit.
    pub fn per_hour(&self, c: &Capacity) -> Tft {
        // tft_units = usd_units / 10^7 USD * 10^9 / price_nano TFT * 10^7 units
        //           = scaled * 10^9 / (DENOM * price_nano)
        let numerator = self.scaled_units_per_hour(c).saturating_mul(NANO_PER_USD);
        let denominator = DENOM * u128::from(self.tft_price_nano_usd.max(1));
        let units = numerator.div_ceil(denominator);
        Tft::from_units(i64::try_from(units).unwrap_or(i64::MAX))
    }

    /// TFT for `hours` of running: exactly what hourly billing charges.
    pub fn for_hours(&self, c: &Capacity, hours: u64) -> Tft {
        self.per_hour(c)
            .saturating_mul(i64::try_from(hours).unwrap_or(i64::MAX))
    }

    /// TFT for a billing month of 730 hours.
    pub fn per_month(&self, c: &Capacity) -> Tft {
        self.for_hours(c, HOURS_PER_MONTH)
    }

    /// `tft` in US cents at the configured TFT price, rounded up (a price
    /// shown in USD is never below what the TFT will cost).
    pub fn usd_cents(&self, tft: Tft) -> u128 {
        // cents = units / 10^7 TFT * price_nano / 10^9 USD * 100
        let units = u128::try_from(tft.units().max(0)).unwrap_or(0);
        units
            .saturating_mul(u128::from(self.tft_price_nano_usd))
            .div_ceil(100_000_000_000_000)
    }
}

/// How long a user funds a node for in one payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundingPeriod {
    Week,
    Month,
    Quarter,
}

impl FundingPeriod {
    pub const ALL: [FundingPeriod; 3] = [
        FundingPeriod::Week,
        FundingPeriod::Month,
        FundingPeriod::Quarter,
    ];

    pub fn hours(self) -> u64 {
        match self {
            FundingPeriod::Week => 168,
            FundingPeriod::Month => HOURS_PER_MONTH,
            FundingPeriod::Quarter => 3 * HOURS_PER_MONTH,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FundingPeriod::Week => "1 week",
            FundingPeriod::Month => "1 month",
            FundingPeriod::Quarter => "3 months",
        }
    }

    /// Accepts what a person types in a chat: "week", "1w", "1 month", "3m",
    /// "quarter", "3 months" (case and surrounding spaces ignored).
    pub fn parse(text: &str) -> Option<FundingPeriod> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "week" | "1 week" | "1week" | "1w" | "w" | "weekly" => Some(FundingPeriod::Week),
            "month" | "1 month" | "1month" | "1m" | "m" | "monthly" => Some(FundingPeriod::Month),
            "quarter" | "3 months" | "3months" | "3m" | "q" | "quarterly" => {
                Some(FundingPeriod::Quarter)
            }
            _ => None,
        }
    }
}

/// The longest period one top-up funds: a year of 12 billing months.
const MAX_TOP_UP_HOURS: u64 = 12 * HOURS_PER_MONTH;

/// What `/topup` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopUpAsk {
    Amount(Tft),
    /// Fund all the user's nodes until `hours` from now.
    Period {
        hours: u64,
        label: String,
    },
}

/// "50", "12.5 TFT": an amount; "2 weeks", "1 month", "10d", "quarter": a
/// period, a month being the grid's billing month as everywhere else
/// ([`HOURS_PER_MONTH`]). Errors are messages for the user.
pub fn parse_top_up(arg: &str) -> Result<TopUpAsk, String> {
    const HELP: &str = "Send /topup <amount in TFT> (e.g. /topup 50) or /topup <period> (e.g. /topup 2 weeks, /topup 1 month).";
    let text = arg.trim().to_lowercase();
    let amount_text = text.strip_suffix("tft").unwrap_or(&text).trim();
    if let Ok(amount) = amount_text.parse::<Tft>() {
        return if amount.is_positive() && amount <= Tft::from_whole(10_000_000) {
            Ok(TopUpAsk::Amount(amount))
        } else {
            Err(format!("{arg:?} is not an amount I can ask for. {HELP}"))
        };
    }
    if let Some(p) = FundingPeriod::parse(&text) {
        return Ok(TopUpAsk::Period {
            hours: p.hours(),
            label: p.label().into(),
        });
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let count: u64 = number
        .parse()
        .map_err(|_| format!("I couldn't read {arg:?}. {HELP}"))?;
    let (hours_per_unit, unit) = match unit.trim() {
        "d" | "day" | "days" => (24, "day"),
        "w" | "week" | "weeks" => (168, "week"),
        "m" | "month" | "months" => (HOURS_PER_MONTH, "month"),
        _ => return Err(format!("I couldn't read {arg:?}. {HELP}")),
    };
    let hours = count.saturating_mul(hours_per_unit);
    if !(24..=MAX_TOP_UP_HOURS).contains(&hours) {
        return Err("A top-up period must be between 1 day and a year.".into());
    }
    let plural = if count == 1 { "" } else { "s" };
    Ok(TopUpAsk::Period {
        hours,
        label: format!("{count} {unit}{plural}"),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cap(cpu: u32, memory_mib: u64, disk_gib: u64, public_ipv4: bool) -> Capacity {
        Capacity {
            cpu,
            memory_mib,
            disk_gib,
            public_ipv4,
        }
    }

    #[test]
    fn worked_example_4cpu_8gib_100gib() {
        // mru = 8192 MiB / 1024 = 8 GB, cru = 4, sru = 100 GB.
        // CU = min(max(8/4, 4/2), max(8/8, 4), max(8/2, 4/4)) = min(2, 4, 4) = 2
        // SU = 100/200 = 0.5
        // units/h = 2 * 100000 + 0.5 * 50000 = 225000 (= 22.5 mUSD = 0.0225 USD)
        // TFT/h = 0.0225 USD / 0.01 USD = 2.25 TFT = 22,500,000 units
        // month = 2.25 * 730 = 1642.5 TFT; week = 2.25 * 168 = 378 TFT
        let p = PriceList::default();
        let c = cap(4, 8192, 100, false);
        assert_eq!(p.usd_units_per_hour(&c), 225_000);
        assert_eq!(p.per_hour(&c), "2.25".parse().unwrap());
        assert_eq!(p.per_month(&c), "1642.5".parse().unwrap());
        assert_eq!(
            p.for_hours(&c, FundingPeriod::Week.hours()),
            Tft::from_whole(378)
        );
    }

    #[test]
    fn cu_takes_each_branch_of_the_min() {
        let p = PriceList::default();
        // Balanced: 2 cpu, 4 GB -> min(max(1, 1), max(0.5, 2), max(2, 0.5)) = 1 CU.
        assert_eq!(p.usd_units_per_hour(&cap(2, 4096, 0, false)), 100_000);
        // Memory-heavy: 1 cpu, 64 GB -> min(max(16, .5), max(8, 1), max(32, .25)) = 8 CU.
        assert_eq!(p.usd_units_per_hour(&cap(1, 65536, 0, false)), 800_000);
        // CPU-heavy: 16 cpu, 2 GB -> min(max(.5, 8), max(.25, 16), max(1, 4)) = 4 CU.
        assert_eq!(p.usd_units_per_hour(&cap(16, 2048, 0, false)), 400_000);
    }

    #[test]
    fn rounds_up_to_the_tft_unit() {
        // 1 CPU, 1 MiB: CU = min(max(1/4096, 1/2), max(1/8192, 1), max(1/2048, 1/4)) = 1/4
        // -> 25000 units/h; 1 GiB disk -> 1/200 SU -> 250 units/h; total 25250
        // units = 0.002525 USD = 0.2525 TFT at 0.01. At 0.03 USD/TFT it is
        // 0.0841666.. TFT, so 841,667 units after rounding up.
        let p = PriceList::new(100_000, 50_000, 40_000, "0.03").unwrap();
        assert_eq!(p.usd_units_per_hour(&cap(1, 1, 1, false)), 25_250);
        assert_eq!(p.per_hour(&cap(1, 1, 1, false)), Tft::from_units(841_667));
        // for_hours is the hourly (rounded) price times hours, as billed.
        assert_eq!(
            p.for_hours(&cap(1, 1, 1, false), 3),
            Tft::from_units(2_525_001)
        );
    }

    #[test]
    fn public_ipv4_adds_its_hourly_price() {
        // 40000 units = 4 mUSD = 0.4 TFT per hour at 0.01 USD/TFT.
        let p = PriceList::default();
        let without = p.per_hour(&cap(4, 8192, 100, false));
        let with = p.per_hour(&cap(4, 8192, 100, true));
        assert_eq!(with.checked_sub(without), Some(Tft::from_units(4_000_000)));
        assert_eq!(p.per_hour(&cap(0, 0, 0, true)), Tft::from_units(4_000_000));
    }

    #[test]
    fn config_defaults_validation_and_round_trip() {
        let p: PriceList = serde_json::from_str("{}").unwrap();
        assert_eq!(p, PriceList::default());
        assert!(p.validate().is_ok());
        assert_eq!(p.tft_price_usd(), "0.01");
        let p: PriceList = serde_json::from_str(r#"{"tft_price_usd":"0.0125"}"#).unwrap();
        // 1 CU = 100000 units = 0.01 USD/h = 0.8 TFT/h at 0.0125 USD/TFT.
        assert_eq!(
            p.per_hour(&cap(2, 4096, 0, false)),
            Tft::from_units(8_000_000)
        );
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PriceList>(&text).unwrap(), p);
        for bad in [
            r#"{"tft_price_usd":"0"}"#,
            r#"{"tft_price_usd":"-1"}"#,
            r#"{"tft_price_usd":"abc"}"#,
            r#"{"tft_price_usd":"0.0000000001"}"#,
            r#"{"tft_price_usd":"99999999"}"#,
            r#"{"cu_per_hour":0}"#,
            r#"{"cu_per_hr":5}"#,
        ] {
            assert!(serde_json::from_str::<PriceList>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn funding_periods() {
        for period in FundingPeriod::ALL {
            assert_eq!(FundingPeriod::parse(period.label()), Some(period));
        }
        assert_eq!(FundingPeriod::Quarter.hours(), 2190);
        assert_eq!(FundingPeriod::parse(" 1W "), Some(FundingPeriod::Week));
        assert_eq!(FundingPeriod::parse("year"), None);
    }

    fn any_cap() -> impl Strategy<Value = Capacity> {
        (0u32..512, 0u64..1 << 20, 0u64..1 << 16, any::<bool>())
            .prop_map(|(c, m, d, ip)| cap(c, m, d, ip))
    }

    proptest! {
        #[test]
        fn more_resources_never_cheaper(a in any_cap(), dc in 0u32..64, dm in 0u64..65536,
                                        dd in 0u64..4096, ip in any::<bool>()) {
            let p = PriceList::default();
            let b = cap(a.cpu + dc, a.memory_mib + dm, a.disk_gib + dd, a.public_ipv4 || ip);
            prop_assert!(p.usd_units_per_hour(&b) >= p.usd_units_per_hour(&a));
            prop_assert!(p.per_hour(&b) >= p.per_hour(&a));
            prop_assert!(p.per_month(&b) >= p.per_month(&a));
        }

        #[test]
        fn huge_inputs_do_not_overflow(cpu in any::<u32>(), m in any::<u64>(), d in any::<u64>(),
                                       ip in any::<bool>(), hours in any::<u64>(),
                                       cu in any::<u64>(), su in 1u64.., v4 in any::<u64>()) {
            let p = PriceList::new(cu.max(1), su, v4, "0.000000001").unwrap();
            let c = cap(cpu, m, d, ip);
            prop_assert!(p.per_hour(&c) >= Tft::ZERO);
            prop_assert!(p.for_hours(&c, hours) >= Tft::ZERO);
            let _ = p.usd_units_per_hour(&c);
        }
    }
}

#[cfg(test)]
mod top_up_tests {
    use super::{FundingPeriod, TopUpAsk, parse_top_up};
    use crate::money::Tft;

    fn period(arg: &str) -> Option<u64> {
        match parse_top_up(arg) {
            Ok(TopUpAsk::Period { hours, .. }) => Some(hours),
            _ => None,
        }
    }

    #[test]
    fn top_up_amounts_and_periods() {
        assert_eq!(
            parse_top_up("50"),
            Ok(TopUpAsk::Amount(Tft::from_whole(50)))
        );
        assert_eq!(
            parse_top_up("12.5 TFT"),
            Ok(TopUpAsk::Amount("12.5".parse().unwrap()))
        );
        assert_eq!(period("2 weeks"), Some(336));
        assert_eq!(period("10d"), Some(240));
        assert_eq!(period("quarter"), Some(2190));
        assert_eq!(
            parse_top_up("2 weeks"),
            Ok(TopUpAsk::Period {
                hours: 336,
                label: "2 weeks".into()
            })
        );
        for bad in [
            "0",
            "-5",
            "lots",
            "99 years",
            "400 days",
            "13 months",
            "99999999999999999999",
        ] {
            assert!(parse_top_up(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_month_is_one_length_in_deploy_and_topup() {
        // /deploy's "1 month" and /topup's "1 month" fund the same hours.
        assert_eq!(period("1 Month"), Some(FundingPeriod::Month.hours()));
        assert_eq!(period("1m"), Some(FundingPeriod::Month.hours()));
        assert_eq!(period("3 months"), Some(FundingPeriod::Quarter.hours()));
        assert_eq!(period("1 week"), Some(FundingPeriod::Week.hours()));
    }
}
