//! Configuration: `config.toml` plus a few environment overrides.
//!
//! Loading never starts anything; [`Config::load`] reports every problem with
//! the file and line it comes from, so `jukebox check` can list them all.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostics::Diagnostics;
use crate::pricing::PriceList;

mod backup;
mod grid;
mod lifecycle;
mod ops;
mod payments;
mod problem;
mod reconciler;
mod sim;
mod telegram;
mod web;

pub use backup::{BACKUP_KEY_ENV, BackupConfig};
pub use grid::{
    Endpoints, FUNDER_SEED_ENV, GridKind, MAX_PAGE_SIZE, Network, TfgridConfig, UnknownNetwork,
    funder_key,
};
pub use lifecycle::{AdminConfig, AlertsConfig, BillingConfig, MonitorConfig};
pub use ops::OpsConfig;
pub use payments::{
    BRIDGE_VAULTS, BadVault, BridgeVault, PUBLIC_TFT_ISSUER, PaymentsKind, StellarConfig,
    StellarNetwork, TESTNET_TFT_ISSUER, bridge_vault,
};
pub use problem::Problem;
pub use reconciler::ReconcilerConfig;
pub use sim::{ScheduledFault, SimConfig};
pub use telegram::{TelegramConfig, TelegramMode};
pub use web::{TfConnectConfig, WebConfig};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub dialogues_dir: PathBuf,
    pub max_nodes_per_order: u32,
    pub conversation_ttl_hours: u64,
    pub security: SecurityConfig,
    pub grid: GridConfig,
    pub payments: PaymentsConfig,
    pub pricing: PriceList,
    pub billing: BillingConfig,
    pub monitor: MonitorConfig,
    pub reconciler: ReconcilerConfig,
    pub alerts: AlertsConfig,
    pub admin: AdminConfig,
    pub telegram: TelegramConfig,
    pub ops: OpsConfig,
    pub web: WebConfig,
    pub backup: BackupConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    pub master_key_file: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridConfig {
    pub kind: GridKind,
    /// For `kind = "tfgrid"`: "main", "test", "qa" or "dev".
    pub network: Network,
    pub sim: SimConfig,
    pub tfgrid: TfgridConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    pub kind: PaymentsKind,
    pub request_ttl_minutes: u64,
    /// For `kind = "bridge"`: the TFChain bridge's Stellar vault; empty
    /// means the grid network's (`tfgrid-v3.md`, section 4).
    pub bridge_vault: String,
    pub stellar: StellarConfig,
    /// What the bridge keeps of each deposit, as TFChain said at start
    /// (`app::use_chain_prices`); not a setting: `None` until read, and
    /// then the bridge wallet assumes 1 TFT, the genesis value.
    #[serde(skip)]
    pub bridge_deposit_fee: Option<crate::money::Tft>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

/// `log.format`: "text" (readable, the default) or "json" (one object per
/// line). serde refuses any other value in the file (`config::keyed`);
/// `JUKEBOX_LOG_FORMAT` goes through [`LogFormat::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The format named `text`, as written in config.toml.
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: "data".into(),
            dialogues_dir: "dialogues".into(),
            max_nodes_per_order: 10,
            conversation_ttl_hours: 24,
            security: SecurityConfig::default(),
            grid: GridConfig::default(),
            payments: PaymentsConfig::default(),
            pricing: PriceList::default(),
            billing: BillingConfig::default(),
            monitor: MonitorConfig::default(),
            reconciler: ReconcilerConfig::default(),
            alerts: AlertsConfig::default(),
            admin: AdminConfig::default(),
            telegram: Default::default(),
            ops: OpsConfig::default(),
            web: WebConfig::default(),
            backup: BackupConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for GridConfig {
    fn default() -> GridConfig {
        GridConfig {
            kind: GridKind::Sim,
            network: Network::Test,
            sim: Default::default(),
            tfgrid: TfgridConfig::default(),
        }
    }
}

impl Default for PaymentsConfig {
    fn default() -> PaymentsConfig {
        PaymentsConfig {
            kind: PaymentsKind::Sandbox,
            request_ttl_minutes: 60,
            bridge_vault: String::new(),
            stellar: StellarConfig::default(),
            bridge_deposit_fee: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Environment variables that override the file (name, what it sets).
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("JUKEBOX_DATA_DIR", "data_dir"),
    ("JUKEBOX_DIALOGUES_DIR", "dialogues_dir"),
    ("JUKEBOX_LOG", "log.level"),
    ("JUKEBOX_LOG_FORMAT", "log.format"),
];

impl Config {
    /// Reads `path` (a missing file means all defaults), applies environment
    /// overrides from `env`, and checks every value.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Diagnostics> {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                let mut d = Diagnostics::default();
                d.push(&file, 0, format!("cannot read: {e}"));
                return Err(d);
            }
        };
        Config::parse(&file, &text, env)
    }

    pub fn parse(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Diagnostics> {
        let mut diags = Diagnostics::default();
        let parsed = toml::de::Deserializer::parse(text)
            .map_err(|e| (e.span(), e.message().to_owned()))
            .and_then(|de| {
                serde_path_to_error::deserialize(de).map_err(|e| (e.inner().span(), keyed(&e)))
            });
        let mut config: Config = match parsed {
            Ok(c) => c,
            Err((span, message)) => {
                let line = span.map(|s| line_of_offset(text, s.start)).unwrap_or(0);
                diags.push(file, line, message);
                return Err(diags);
            }
        };
        if let Some(v) = env("JUKEBOX_DATA_DIR") {
            config.data_dir = v.into();
        }
        if let Some(v) = env("JUKEBOX_DIALOGUES_DIR") {
            config.dialogues_dir = v.into();
        }
        if let Some(v) = env("JUKEBOX_LOG") {
            config.log.level = v;
        }
        let at = |key: &str| line_of_key(text, key);
        if let Some(v) = env("JUKEBOX_LOG_FORMAT") {
            match LogFormat::parse(&v) {
                Some(format) => config.log.format = format,
                None => diags.push(
                    file,
                    at("format"),
                    format!("log.format {v:?} must be \"text\" or \"json\""),
                ),
            }
        }
        if !(1..=100).contains(&config.max_nodes_per_order) {
            diags.push(
                file,
                at("max_nodes_per_order"),
                "max_nodes_per_order must be 1 to 100",
            );
        }
        if config.conversation_ttl_hours == 0 {
            diags.push(
                file,
                at("conversation_ttl_hours"),
                "conversation_ttl_hours must be at least 1",
            );
        }
        for (key, message) in grid::diagnose(&config.grid) {
            diags.push(file, at(key), message);
        }
        if config.grid.kind == GridKind::Tfgrid
            && let Some(seed) = env(FUNDER_SEED_ENV)
            && let Err(e) = funder_key(&seed)
        {
            diags.push(file, at("[grid.tfgrid]"), format!("{FUNDER_SEED_ENV}: {e}"));
        }
        for (key, message) in payments_for_grid(&config) {
            diags.push(file, at(key), message);
        }
        let stellar_in_use = config.payments.kind == PaymentsKind::Stellar;
        if config.payments.kind != PaymentsKind::Sandbox && config.web.sandbox_login {
            diags.push(
                file,
                at("sandbox_login"),
                format!(
                    "web.sandbox_login must be false with real payments (payments.kind = {:?}): anyone could sign in as anyone by name",
                    config.payments.kind.as_str()
                ),
            );
        }
        for (key, message) in config.payments.stellar.problems(stellar_in_use) {
            let line = match at(key) {
                0 => at("[payments.stellar]"),
                line => line,
            };
            diags.push(file, line, message);
        }
        if config.payments.request_ttl_minutes == 0 {
            diags.push(
                file,
                at("request_ttl_minutes"),
                "request_ttl_minutes must be at least 1",
            );
        }
        let sections = [
            ("[billing]", "billing", config.billing.validate()),
            ("[monitor]", "monitor", config.monitor.validate()),
            ("[reconciler]", "reconciler", config.reconciler.validate()),
            ("[alerts]", "alerts", config.alerts.validate()),
            ("[admin]", "admin", config.admin.operator_ids().map(|_| ())),
            ("[ops]", "ops", config.ops.validate()),
            ("[web]", "web", config.web.validate()),
            ("[backup]", "backup", config.backup.validate()),
        ];
        for (header, name, result) in sections {
            if let Err(e) = result {
                diags.push(file, at(header), format!("{name}: {e}"));
            }
        }
        if let Err(e) = config.pricing.validate() {
            diags.push(file, at("tft_price_usd"), format!("pricing: {e}"));
        }
        if let Err(e) = sim::validate_sim(&config.grid.sim) {
            diags.push(file, at("[grid.sim]"), format!("grid.sim: {e}"));
        }
        if let Err(e) = config.telegram.validate() {
            diags.push(file, at("[telegram]"), format!("telegram: {e}"));
        }
        if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
            diags.push(
                file,
                at("level"),
                format!("log.level {:?} is not a valid filter", config.log.level),
            );
        }
        if diags.is_empty() {
            Ok(config)
        } else {
            Err(diags)
        }
    }

    /// Where the master key file lives.
    pub fn master_key_path(&self) -> PathBuf {
        if self.security.master_key_file.is_empty() {
            self.data_dir.join("master.key")
        } else {
            PathBuf::from(&self.security.master_key_file)
        }
    }
}

/// A deserialisation error that names its key, in words an operator reads
/// without knowing Rust types: `billing.grace_days: expected a number, got
/// "ten"` rather than `invalid type: string "ten", expected u64`.
fn keyed(e: &serde_path_to_error::Error<toml::de::Error>) -> String {
    let message = plain_type_error(e.inner().message());
    let path = e.path().to_string();
    if path.is_empty() || path == "." {
        message
    } else {
        format!("{path}: {message}")
    }
}

/// serde's "invalid type: X, expected Y" said the way a person would.
fn plain_type_error(message: &str) -> String {
    if let Some(words) = plain_unknown_variant(message) {
        return words;
    }
    let parsed = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once(", expected "));
    let Some((got, expected)) = parsed else {
        return message.to_owned();
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" | "f32"
        | "f64" => "a number",
        "a sequence" => "a list [...]",
        "a boolean" => "true or false",
        other => other,
    };
    // serde writes "string \"ten\"", "integer `5`", "floating point `1.5`".
    let got = match got.split_once(' ') {
        Some(("string", value)) => value.to_owned(),
        Some(("integer" | "boolean", value)) => value.trim_matches('`').to_owned(),
        Some(("floating", value)) => value
            .trim_start_matches("point ")
            .trim_matches('`')
            .to_owned(),
        _ => match got {
            "sequence" => "a list".to_owned(),
            "map" => "a table".to_owned(),
            other => other.to_owned(),
        },
    };
    format!("expected {expected}, got {got}")
}

/// serde's "unknown variant `x`, expected `a` or `b`" (or "one of `a`,
/// `b`, `c`"), from a config enum such as `grid.kind`, as `"x" must be "a"
/// or "b"`, the way the checks written by hand say it.
fn plain_unknown_variant(message: &str) -> Option<String> {
    let (got, expected) = message
        .strip_prefix("unknown variant `")?
        .split_once("`, expected ")?;
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let names: Vec<String> = expected
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| format!("{:?}", name.trim_matches('`')))
        .collect();
    let allowed = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => return None,
    };
    Some(format!("{got:?} must be {allowed}"))
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() + 1)
}

/// The line where `key` is set (or a `[section]` header), 0 if absent.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            if key.starts_with('[') {
                l.starts_with(key)
            } else {
                l.strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with('='))
            }
        })
        .map_or(0, |i| i + 1)
}

/// `payments.kind` and whether it fits the grid: the real grid bills each
/// user's twin account, so only the bridge (which pays into it) fits there,
/// and the bridge fits nothing else. As (key to point at, message).
fn payments_for_grid(config: &Config) -> Vec<(&'static str, String)> {
    let payments = &config.payments;
    let real_grid = match config.grid.kind {
        GridKind::Sim => false,
        GridKind::Tfgrid => true,
    };
    match payments.kind {
        PaymentsKind::Sandbox | PaymentsKind::Stellar if real_grid => vec![(
            "kind",
            format!(
                "payments.kind {:?} cannot pay for the real grid: its contracts are billed from \
                 each user's twin account on TFChain, which users fund through the bridge; \
                 set payments.kind = \"bridge\"",
                payments.kind.as_str()
            ),
        )],
        // Real money for nodes that do not exist: the public Stellar
        // network's TFT are real; testnet TFT are not, and stay allowed for
        // trying the Stellar wallet.
        PaymentsKind::Stellar if payments.stellar.network == StellarNetwork::Public => vec![(
            "kind",
            "payments.kind \"stellar\" on the public Stellar network takes real TFT, but \
             grid.kind = \"sim\" deploys nothing real, so users would pay real money for \
             simulated nodes; use payments.kind = \"sandbox\" with the simulated grid (or \
             payments.stellar.network = \"testnet\" to try Stellar payments)"
                .to_string(),
        )],
        PaymentsKind::Sandbox | PaymentsKind::Stellar => Vec::new(),
        PaymentsKind::Bridge if !real_grid => vec![(
            "kind",
            "payments.kind \"bridge\" pays into TFChain twins and needs grid.kind = \"tfgrid\""
                .to_string(),
        )],
        PaymentsKind::Bridge => payments::bridge_vault(
            config.grid.network,
            &payments.bridge_vault,
            payments.stellar.network,
        )
        .err()
        .map(|e| ("bridge_vault", e.to_string()))
        .into_iter()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn shipped_config_matches_the_defaults() {
        let shipped =
            Config::parse("config.toml", include_str!("../config.toml"), &no_env).unwrap();
        let default = Config::parse("empty", "", &no_env).unwrap();
        assert_eq!(format!("{shipped:?}"), format!("{default:?}"));
    }

    #[test]
    fn errors_point_at_lines_and_env_overrides() {
        let text = "data_dir = \"x\"\nmax_nodes_per_order = 0\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 2);
        let d = Config::parse("c.toml", "nope = 1\n", &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 1);
        let env = |k: &str| (k == "JUKEBOX_DATA_DIR").then(|| "/tmp/jb".to_owned());
        let c = Config::parse("c.toml", "", &env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/jb"));
    }

    #[test]
    fn a_type_error_names_its_key() {
        let text = "data_dir = \"x\"\n[billing]\ngrace_days = \"ten\"\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 3, "{d}");
        assert_eq!(
            d.0[0].message,
            "billing.grace_days: expected a number, got \"ten\""
        );
        let d = Config::parse("c.toml", "[web]\nsandbox_login = 1\n", &no_env).unwrap_err();
        assert_eq!(
            d.0[0].message,
            "web.sandbox_login: expected true or false, got 1"
        );
        let d = Config::parse("c.toml", "[billing]\nreminder_hours = 5\n", &no_env).unwrap_err();
        assert!(
            d.0[0]
                .message
                .starts_with("billing.reminder_hours: expected a list"),
            "{d}"
        );
        let d = Config::parse("c.toml", "[billing]\ngrace_dayz = 5\n", &no_env).unwrap_err();
        let message = &d.0[0].message;
        assert!(message.starts_with("billing"), "{d}");
        assert!(message.contains("unknown field `grace_dayz`"), "{d}");
    }

    #[test]
    fn an_unknown_kind_or_mode_names_its_key_line_and_choices() {
        let d = Config::parse(
            "c.toml",
            "data_dir = \"x\"\n[grid]\nkind = \"moon\"\n",
            &no_env,
        )
        .unwrap_err();
        assert_eq!(d.0[0].line, 3, "{d}");
        assert_eq!(
            d.0[0].message,
            "grid.kind: \"moon\" must be \"sim\" or \"tfgrid\""
        );
        let d = Config::parse("c.toml", "[payments]\nkind = \"cash\"\n", &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 2, "{d}");
        assert_eq!(
            d.0[0].message,
            "payments.kind: \"cash\" must be \"sandbox\", \"stellar\" or \"bridge\""
        );
        let d = Config::parse("c.toml", "[telegram]\nmode = \"pigeon\"\n", &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 2, "{d}");
        assert_eq!(
            d.0[0].message,
            "telegram.mode: \"pigeon\" must be \"polling\" or \"webhook\""
        );
        let c = Config::parse("c.toml", "[telegram]\nmode = \"polling\"\n", &no_env).unwrap();
        assert_eq!(c.telegram.mode, TelegramMode::Polling);
    }

    #[test]
    fn real_money_and_a_simulated_grid_do_not_mix() {
        let real = "[payments]\nkind = \"stellar\"\n[web]\nsandbox_login = false\n";
        let d = Config::parse("c.toml", real, &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            d.contains("users would pay real money for simulated nodes"),
            "{d}"
        );
        let bridge = "[payments]\nkind = \"bridge\"\n[web]\nsandbox_login = false\n";
        let d = Config::parse("c.toml", bridge, &no_env)
            .unwrap_err()
            .to_string();
        assert!(d.contains("needs grid.kind = \"tfgrid\""), "{d}");
        // The reverse: play money cannot pay for the real grid.
        let sandbox_on_real = "[grid]\nkind = \"tfgrid\"\n[web]\nsandbox_login = false\n";
        let d = Config::parse("c.toml", sandbox_on_real, &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            d.contains("payments.kind \"sandbox\" cannot pay for the real grid"),
            "{d}"
        );
    }

    #[test]
    fn scheduled_faults_are_read_and_checked() {
        let text = "[grid.sim]\nfaults = [{ node = 3, after_minutes = 5, for_minutes = 10 }]\n";
        let c = Config::parse("c.toml", text, &no_env).unwrap();
        assert_eq!(c.grid.sim.faults.len(), 1);
        let text = "[grid.sim]\nfaults = [{ node = 3, after_minutes = -5, for_minutes = 10 }]\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 1);
        assert!(d.0[0].message.contains("faults"), "{d}");
    }

    #[test]
    fn ops_listen_is_checked_and_can_be_off() {
        let c = Config::parse("c.toml", "[ops]\nlisten = \"\"\n", &no_env).unwrap();
        assert_eq!(c.ops.listen(), None);
        let text = "data_dir = \"x\"\n[ops]\nlisten = \"nowhere\"\n";
        let d = Config::parse("c.toml", text, &no_env).unwrap_err();
        assert_eq!(d.0[0].line, 2);
        assert!(d.0[0].message.starts_with("ops: listen"), "{d}");
    }
}
