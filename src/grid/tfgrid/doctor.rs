//! `jukebox grid doctor`: the live path to the real grid checked one step at
//! a time, for an operator pointing Jukebox at a network for the first time.
//!
//! Each step makes the real requests Jukebox makes (through the same
//! clients) and ends as one [`Step`]: `ok` with what was found, or `FAIL`
//! with what was expected, what came back and what to do. The steps: the
//! grid proxy and its version; TFChain, its runtime and whether every call,
//! storage entry, constant and event Jukebox uses fits its live metadata
//! ([`TfChain::compatibility`]); the relay accepting a signed token; the
//! funding account's balance against what new twins need; the terms each
//! new twin accepts (the document fetched and hashed, or the configured
//! hash); and, for each
//! node type in the catalog, the nodes Jukebox would offer (count and
//! countries), and each flist the catalog names being served by the hub
//! (`doctor/flists.rs`). With `--deploy`, a real smallest deployment and its
//! cancellation follow (`doctor/deploy.rs`). `jukebox grid nodes` lists
//! the candidates themselves (`doctor/nodes.rs`).
//!
//! The doctor signs as its own identity, derived from the funding key
//! ([`doctor_key`]), so it never touches a user's twin, and repeated runs
//! reuse one twin. Neither key is ever printed; accounts are shown as SS58
//! addresses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::chain::TfChain;
use super::chain::terms::TermsSource;
use super::discovery::Discovery;
use super::proxy::GridProxy;
use super::rmb::RmbPeer;
use crate::config::{Endpoints, TfgridConfig};
use crate::grid::Capacity;
use crate::money::Tft;

mod deploy;
pub mod flists;
pub mod nodes;

/// The RMB session the doctor connects as: not the service's own, so a
/// doctor run never takes over a running Jukebox's connection (the relay
/// keeps one connection per twin and session).
const SESSION: &str = "jukebox-doctor";

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    Fail {
        expected: String,
        got: String,
        todo: String,
    },
}

/// One checked step, printed as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub outcome: Outcome,
}

impl Step {
    pub fn ok(name: impl Into<String>, found: impl Into<String>) -> Step {
        Step {
            name: name.into(),
            outcome: Outcome::Ok(found.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
        todo: impl Into<String>,
    ) -> Step {
        Step {
            name: name.into(),
            outcome: Outcome::Fail {
                expected: expected.into(),
                got: got.into(),
                todo: todo.into(),
            },
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Ok(found) => write!(f, "ok   {}: {found}", self.name),
            Outcome::Fail {
                expected,
                got,
                todo,
            } => write!(
                f,
                "FAIL {}: expected {expected}; got {got}; do: {todo}",
                self.name
            ),
        }
    }
}

/// A node type of the catalog, as the doctor checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTypeNeed {
    /// `chain/type`, e.g. `<chain>/full`.
    pub label: String,
    pub need: Capacity,
    /// The flist its machines boot, and for one the operator makes, what
    /// from (`dashpay/dashd:23`).
    pub flist: String,
    pub made_from: Option<String>,
}

/// Everything the doctor needs: where the grid is, how Jukebox is set up
/// for it, and the funding key (from `JUKEBOX_TFCHAIN_FUNDER_SEED`).
pub struct DoctorSetup {
    pub network: crate::config::Network,
    pub endpoints: Endpoints,
    pub config: TfgridConfig,
    pub funder: Option<SigningKey>,
    pub node_types: Vec<NodeTypeNeed>,
}

pub struct Doctor {
    setup: DoctorSetup,
    proxy: Arc<GridProxy>,
    discovery: Discovery,
    chain: TfChain,
    /// How long one network step (connect, one read) may take.
    patience: Duration,
}

/// The doctor's own identity: derived from the funding key, so the same
/// operator always gets the same doctor twin and no key is stored.
pub fn doctor_key(funder: &SigningKey) -> SigningKey {
    use hmac::{Hmac, Mac as _};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&funder.to_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"jukebox grid doctor identity v1");
    SigningKey::from_bytes(&mac.finalize().into_bytes().into())
}

/// An account as TFChain's tools show it (SS58, prefix 42).
pub fn address(account: [u8; 32]) -> String {
    subxt::config::substrate::AccountId32(account).to_string()
}

fn units_tft(units: u128) -> Tft {
    Tft::from_units(i64::try_from(units).unwrap_or(i64::MAX))
}

impl Doctor {
    /// Builds the clients; nothing is contacted yet.
    pub fn new(setup: DoctorSetup) -> Result<Doctor, String> {
        let proxy = Arc::new(
            GridProxy::new(setup.config.proxy_settings(&setup.endpoints))
                .map_err(|e| e.to_string())?,
        );
        let discovery = Discovery::new(proxy.clone(), setup.config.discovery_settings());
        let chain = TfChain::new(&setup.endpoints.tfchain, setup.config.finality_timeout());
        let patience = Duration::from_secs(setup.config.request_timeout_seconds.max(1));
        Ok(Doctor {
            setup,
            proxy,
            discovery,
            chain,
            patience,
        })
    }

    /// The read-only steps, each reported as soon as it ends. Returns
    /// whether all passed. With `deferred_relay`, the relay step is left to
    /// the deployment (which may first create the twin it signs as).
    pub async fn check(&self, report: &mut dyn FnMut(&Step), deferred_relay: bool) -> bool {
        let mut all = true;
        let mut note = |step: Step| {
            all &= step.passed();
            report(&step);
        };
        note(self.proxy_step().await);
        // A runtime that lacks something still has balances and twins to
        // read; only an unreachable TFChain stops the steps that need it.
        let chain_ok = {
            let steps = self.chain_steps().await;
            let reachable = steps.first().is_some_and(Step::passed);
            steps.into_iter().for_each(&mut note);
            reachable
        };
        if chain_ok {
            if !deferred_relay {
                note(self.relay_step(None).await);
            }
            note(self.funding_step().await);
        } else {
            // Without TFChain neither twins nor balances can be read.
            for name in ["relay", "funding account"] {
                if name == "relay" && deferred_relay {
                    continue;
                }
                note(Step::fail(
                    name,
                    "TFChain to read it from",
                    "TFChain is not reachable (above)",
                    "fix TFChain first",
                ));
            }
        }
        note(self.terms_step().await);
        for step in self.node_steps().await {
            note(step);
        }
        let flists = flists::by_url(
            &self
                .setup
                .node_types
                .iter()
                .map(|t| (t.label.clone(), t.flist.clone(), t.made_from.clone()))
                .collect::<Vec<_>>(),
        );
        let hub = self.setup.config.flist_hub();
        for step in flists::steps(&flists, hub.as_deref(), self.patience).await {
            note(step);
        }
        all
    }

    /// The terms pair a new twin would accept, found as twin creation
    /// finds it: the configured hash, or the document fetched and hashed.
    async fn terms_step(&self) -> Step {
        let name = "terms";
        let source = match self.setup.config.terms() {
            Ok(source) => source,
            Err(e) => {
                return Step::fail(
                    name,
                    "a valid terms_link and terms_hash",
                    e.to_string(),
                    "fix the config",
                );
            }
        };
        match (source.terms().await, &source) {
            (Ok(terms), TermsSource::Configured(_)) => Step::ok(
                name,
                format!(
                    "twins accept {} with the hash {} set in grid.tfgrid.terms_hash",
                    terms.link(),
                    terms.hash()
                ),
            ),
            (Ok(terms), TermsSource::Fetched(_)) => Step::ok(
                name,
                format!(
                    "{} fetched; twins accept it with its MD5 {}",
                    terms.link(),
                    terms.hash()
                ),
            ),
            (Err(e), _) => Step::fail(
                name,
                format!("the terms document at {} to hash", e.link),
                e.reason,
                "set grid.tfgrid.terms_hash to the hex MD5 of that document, or point \
                 grid.tfgrid.terms_link at a reachable copy",
            ),
        }
    }

    async fn proxy_step(&self) -> Step {
        let url = &self.setup.endpoints.proxy;
        match self.proxy.version().await {
            Ok(version) => Step::ok("grid proxy", format!("{url} answers, version {version}")),
            Err(e) => Step::fail(
                "grid proxy",
                format!("an answer to GET {url}/version"),
                e.to_string(),
                format!(
                    "check that this host reaches {url} (grid.network = {:?}, or \
                     grid.tfgrid.proxy_url)",
                    self.setup.network.as_str()
                ),
            ),
        }
    }

    /// TFChain reachable, then its runtime against what Jukebox uses.
    async fn chain_steps(&self) -> Vec<Step> {
        let url = &self.setup.endpoints.tfchain;
        let checked = tokio::time::timeout(self.patience, self.chain.compatibility()).await;
        let compat = match checked {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return vec![Step::fail(
                    "TFChain",
                    format!("a TFChain node answering at {url}"),
                    e.to_string(),
                    "check grid.network or grid.tfgrid.tfchain_url, and that this host \
                     reaches it (wss, port 443)",
                )];
            }
            Err(_) => {
                return vec![Step::fail(
                    "TFChain",
                    format!("a TFChain node answering at {url}"),
                    format!("no answer within {:?}", self.patience),
                    "check grid.tfgrid.tfchain_url and the network path to it",
                )];
            }
        };
        let reachable = Step::ok(
            "TFChain",
            format!(
                "{url} answers: runtime spec {} (transaction version {}), block {}",
                compat.spec_version, compat.transaction_version, compat.block
            ),
        );
        let problems: Vec<String> = compat
            .problems()
            .map(|c| match &c.outcome {
                Err(why) => format!("{}: {why}", c.what),
                Ok(_) => unreachable!("problems() yields failures only"),
            })
            .collect();
        let metadata = if problems.is_empty() {
            let calls: Vec<String> = compat
                .checks
                .iter()
                .filter_map(|c| {
                    let name = c.what.strip_prefix("call ")?;
                    let name = name.rsplit('.').next().unwrap_or(name);
                    Some(format!("{name} {}", c.outcome.as_ref().ok()?))
                })
                .collect();
            let count = |kind: &str| {
                compat
                    .checks
                    .iter()
                    .filter(|c| c.what.starts_with(kind))
                    .count()
            };
            Step::ok(
                "TFChain metadata",
                format!(
                    "calls (pallet/call index) {}; {} storage entries, {} constant(s), \
                     {} event(s) as Jukebox uses them",
                    calls.join(", "),
                    count("storage "),
                    count("constant "),
                    count("event ")
                ),
            )
        } else {
            Step::fail(
                "TFChain metadata",
                "every call, storage entry, constant and event Jukebox uses",
                problems.join("; "),
                "this runtime is not one this Jukebox speaks: check that tfchain_url is the \
                 network's chain, or update Jukebox",
            )
        };
        vec![reachable, metadata]
    }

    /// A token signed as `twin` (or as the first of the doctor's and the
    /// funding account's twins that exists) opens a relay connection.
    async fn relay_step(&self, twin: Option<(u32, SigningKey)>) -> Step {
        let url = &self.setup.endpoints.relay;
        let signer = match twin {
            Some(t) => Some(t),
            None => match self.known_twin().await {
                Ok(found) => found,
                Err(e) => {
                    return Step::fail(
                        "relay",
                        "a twin to sign the relay token as",
                        format!("TFChain could not say: {e}"),
                        "fix TFChain first",
                    );
                }
            },
        };
        let Some((twin, key)) = signer else {
            return Step::fail(
                "relay",
                "a twin to sign a relay token as (the doctor's or the funding account's)",
                if self.setup.funder.is_some() {
                    "neither has a twin on this chain yet"
                } else {
                    "no funding key (JUKEBOX_TFCHAIN_FUNDER_SEED is not set)"
                },
                "run `jukebox grid doctor --deploy` once (it creates the doctor's twin), or \
                 create a twin for the funding account",
            );
        };
        let settings = self
            .setup
            .config
            .rmb_settings(&self.setup.endpoints, SESSION);
        let connecting = RmbPeer::connect(settings, twin, key);
        match tokio::time::timeout(self.patience, connecting).await {
            Ok(Ok(peer)) => {
                drop(peer);
                Step::ok(
                    "relay",
                    format!("{url} accepted a token signed as twin {twin}"),
                )
            }
            Ok(Err(e)) => Step::fail(
                "relay",
                format!("{url} to accept a token signed as twin {twin}"),
                e.to_string(),
                "a refused token (401) means the relay does not know the twin's key: check \
                 that relay_url is this network's relay; otherwise check the network path",
            ),
            Err(_) => Step::fail(
                "relay",
                format!("{url} to accept a token signed as twin {twin}"),
                format!("no answer within {:?}", self.patience),
                "check grid.tfgrid.relay_url and the network path to it",
            ),
        }
    }

    /// The doctor's twin if it exists, else the funding account's.
    async fn known_twin(&self) -> Result<Option<(u32, SigningKey)>, String> {
        let Some(funder) = &self.setup.funder else {
            return Ok(None);
        };
        for key in [doctor_key(funder), funder.clone()] {
            let account = key.verifying_key().to_bytes();
            let found = tokio::time::timeout(self.patience, self.chain.twin_id_of(account))
                .await
                .map_err(|_| format!("no answer within {:?}", self.patience))?
                .map_err(|e| e.to_string())?;
            if let Some(twin) = found {
                return Ok(Some((twin, key)));
            }
        }
        Ok(None)
    }

    /// The funding account holds enough for at least one new twin.
    async fn funding_step(&self) -> Step {
        let name = "funding account";
        let per_twin = match self.setup.config.twin_funding() {
            Ok(units) => units,
            Err(e) => {
                return Step::fail(
                    name,
                    "a valid twin_funding_tft",
                    e.to_string(),
                    "fix the config",
                );
            }
        };
        if per_twin == 0 {
            return Step::ok(
                name,
                "grid.tfgrid.twin_funding_tft = 0: new identities' accounts are funded by hand",
            );
        }
        let Some(funder) = &self.setup.funder else {
            return Step::fail(
                name,
                format!(
                    "JUKEBOX_TFCHAIN_FUNDER_SEED set (each new twin gets {} from it)",
                    units_tft(per_twin)
                ),
                "it is not set",
                "export JUKEBOX_TFCHAIN_FUNDER_SEED=<the funded account's ed25519 seed, 64 hex \
                 characters>, or set twin_funding_tft = \"0\" and fund accounts by hand",
            );
        };
        let account = funder.verifying_key().to_bytes();
        let read = async {
            let held = self.chain.free_balance(account).await?;
            let keep = self.chain.existential_deposit().await?;
            Ok::<_, super::chain::ChainError>((held, keep))
        };
        let (held, keep) = match tokio::time::timeout(self.patience, read).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                return Step::fail(name, "its balance", e.to_string(), "fix TFChain first");
            }
            Err(_) => {
                return Step::fail(
                    name,
                    "its balance",
                    format!("no answer within {:?}", self.patience),
                    "check the network path to TFChain",
                );
            }
        };
        let spendable = held.saturating_sub(keep);
        let twins = spendable / per_twin;
        let address = address(account);
        if twins == 0 {
            return Step::fail(
                name,
                format!(
                    "at least {} on {address} (one new twin's {} plus the {} the account \
                     must keep)",
                    units_tft(per_twin.saturating_add(keep)),
                    units_tft(per_twin),
                    units_tft(keep)
                ),
                units_tft(held).to_string(),
                format!(
                    "send TFT to {address} on the {} network (transfer fees come on top)",
                    self.setup.network
                ),
            );
        }
        Step::ok(
            name,
            format!(
                "{address} holds {}: enough for {twins} new twin(s) at {} each",
                units_tft(held),
                units_tft(per_twin)
            ),
        )
    }

    /// For each node type: how many nodes Jukebox would offer, and where.
    async fn node_steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for t in &self.setup.node_types {
            let name = format!("nodes {}", t.label);
            let step = match self.discovery.locations(&t.need).await {
                Ok(found) => {
                    let count: u32 = found.farms.iter().map(|f| f.nodes).sum();
                    if count == 0 {
                        Step::fail(
                            name,
                            format!("at least one node with room for {}", describe(&t.need)),
                            "none on this network",
                            format!(
                                "see why with `jukebox grid nodes --chain {} --type {}`; \
                                 users will see an empty location menu",
                                t.label.split('/').next().unwrap_or_default(),
                                t.label.split('/').nth(1).unwrap_or_default()
                            ),
                        )
                    } else {
                        let countries: Vec<String> = found
                            .countries
                            .iter()
                            .map(|c| format!("{} {}", c.name, c.nodes))
                            .collect();
                        Step::ok(
                            name,
                            format!(
                                "{count} candidate(s) in {} farm(s), {} country(ies): {}",
                                found.farms.len(),
                                found.countries.len(),
                                countries.join(", ")
                            ),
                        )
                    }
                }
                Err(e) => Step::fail(
                    name,
                    "the grid proxy's list of nodes",
                    e.to_string(),
                    "fix the grid proxy first",
                ),
            };
            steps.push(step);
        }
        steps
    }
}

/// A request in words: `4 cpu, 8192 MiB, 100 GiB SSD, public IPv4`.
pub fn describe(need: &Capacity) -> String {
    format!(
        "{} cpu, {} MiB, {} GiB SSD{}",
        need.cpu,
        need.memory_mib,
        need.disk_gib,
        if need.public_ipv4 {
            ", public IPv4"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_print_as_one_line_each() {
        let ok = Step::ok("grid proxy", "answers");
        assert!(ok.passed());
        assert_eq!(ok.to_string(), "ok   grid proxy: answers");
        let fail = Step::fail("relay", "a token accepted", "401", "check relay_url");
        assert!(!fail.passed());
        assert_eq!(
            fail.to_string(),
            "FAIL relay: expected a token accepted; got 401; do: check relay_url"
        );
    }

    #[test]
    fn the_doctor_key_is_the_funders_own_and_not_the_funder() {
        let funder = SigningKey::from_bytes(&[9; 32]);
        let doctor = doctor_key(&funder);
        assert_eq!(doctor.to_bytes(), doctor_key(&funder).to_bytes());
        assert_ne!(doctor.to_bytes(), funder.to_bytes());
        let other = doctor_key(&SigningKey::from_bytes(&[8; 32]));
        assert_ne!(doctor.to_bytes(), other.to_bytes());
        // SS58 with TFChain's prefix 42: addresses start with 5.
        assert!(address(funder.verifying_key().to_bytes()).starts_with('5'));
    }
}
