//! What the website asks of the service beyond chat inputs: the "My nodes"
//! overview, linking a web sign-in to a Telegram account with a one-time
//! code (`/link`), and the operators' dashboard reports.
//!
//! Links are one global record (`global/web-links`), small because only
//! linked sign-ins appear in it; codes are `global/link-codes/<CODE>`,
//! deleted when used or found expired.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Service;
use crate::crypto::random_bytes;
use crate::ids::UserId;
use crate::lifecycle::{human_duration, utc_datetime};
use crate::money::Tft;
use crate::store::blocking_io;
use crate::user::NodeState;
use crate::user::view::state_word;

const LINKS: &str = "web-links";
const CODES: &str = "link-codes";
/// Crockford's base32 without I, L, O, U: unambiguous when retyped.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct LinkCode {
    user: UserId,
    expires_at: u64,
}

/// Web sign-in -> the account it acts as.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Links {
    links: BTreeMap<String, UserId>,
}

/// A user's money and nodes, for the "My nodes" page.
#[derive(Clone, Debug)]
pub struct Overview {
    pub balance: Tft,
    /// Burn and funded-until, or the grace deadline (as `/balance` says).
    pub runway: String,
    pub nodes: Vec<NodeRow>,
}

/// One live node in the overview.
#[derive(Clone, Debug)]
pub struct NodeRow {
    pub name: String,
    /// The chain's and the node type's names, e.g. "<Chain> · <Type>".
    pub kind: String,
    pub state: &'static str,
    /// Running (or paused/deploying): the actions that make sense.
    pub running: bool,
    pub location: String,
    pub address: Option<String>,
    pub price_per_day: Tft,
    /// "down for 12 minutes" while an outage is confirmed.
    pub down: Option<String>,
    pub autoheal: bool,
}

/// Why a link code was not accepted (shown to the user as is).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("That code is not valid. Send /link to the Jukebox bot in Telegram for a new one.")]
    Unknown,
    #[error("That code has expired. Send /link to the Jukebox bot in Telegram for a new one.")]
    Expired,
    #[error(
        "This web sign-in already has nodes, orders or a balance of its own; linking would hide them. Delete them (or use another sign-in) first."
    )]
    HasOwnData,
    #[error("Only a website sign-in can be linked.")]
    NotWeb,
    #[error("Something went wrong on our side; nothing was changed. Please try again.")]
    Internal(#[from] anyhow::Error),
}

/// A code as the user typed it, normalised: upper case, no separators,
/// and the look-alikes Crockford's alphabet leaves out mapped back.
fn normalise_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == 8 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// A fresh code: 8 characters of [`CODE_ALPHABET`], each equally likely
/// (32 divides 256).
///
/// # Panics
/// If the OS random source fails (see [`random_bytes`]).
fn new_code() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b % 32)]))
        .collect()
}

impl Service {
    /// A link code works this long (the website's Telegram page says so).
    pub const LINK_CODE_TTL_SECS: u64 = 600;

    /// The "My nodes" page's data for `user`.
    pub fn overview(&self, user: &UserId) -> anyhow::Result<Overview> {
        let profile = self.inner.repo.load_profile(user)?;
        let nodes = self.inner.repo.load_nodes(user)?;
        let (balance, runway) = match &profile {
            Some(p) => (
                p.account.balance,
                self.inner
                    .funding
                    .runway_text(user, p.account.balance, &nodes, p)?,
            ),
            None => (Tft::ZERO, "Nothing is running, so nothing is spent.".into()),
        };
        let catalog = self.inner.engine.catalog();
        let now = self.now();
        let rows = nodes
            .live()
            .map(|n| NodeRow {
                name: n.name.clone(),
                kind: catalog
                    .node_type(&n.chain, &n.node_type)
                    .map(|(c, t)| format!("{} · {}", c.name, t.name))
                    .unwrap_or_else(|| format!("{} · {}", n.chain, n.node_type)),
                state: state_word(&n.state),
                running: matches!(n.state, NodeState::Running | NodeState::Paused),
                location: n
                    .placed
                    .as_ref()
                    .map(|p| format!("grid node {} · {}", p.node.id, p.node.country))
                    .unwrap_or_default(),
                address: n.placed.as_ref().and_then(|p| {
                    p.ipv4
                        .clone()
                        .or_else(|| p.ipv6.clone())
                        .or_else(|| p.mycelium.clone())
                }),
                price_per_day: n.price_per_hour.saturating_mul(24),
                down: n
                    .outage
                    .as_ref()
                    .map(|o| format!("down for {}", human_duration(now.saturating_sub(o.since)))),
                autoheal: n.autoheal,
            })
            .collect();
        Ok(Overview {
            balance,
            runway,
            nodes: rows,
        })
    }

    /// `/link`: a one-time code for the website's Telegram page.
    pub(super) async fn link_code(&self, user: &UserId) -> anyhow::Result<()> {
        if user.channel() == "web" {
            self.say(user, "This is the website already. To see your Telegram nodes here, send /link to the Jukebox bot in Telegram and type the code on the Telegram page.").await;
            return Ok(());
        }
        let code = new_code();
        let expires_at = self.now() + Self::LINK_CODE_TTL_SECS;
        let record = LinkCode {
            user: user.clone(),
            expires_at,
        };
        blocking_io(|| {
            self.inner
                .repo
                .store()
                .write_global(&format!("{CODES}/{}", code.to_lowercase()), &record)
        })?;
        self.say(
            user,
            format!(
                "Your link code: {}-{}\nSign in on the Jukebox website, open \"Telegram\" and type it before {}. It works once; then the website shows the same nodes and balance as this chat.",
                &code[..4],
                &code[4..],
                utc_datetime(expires_at)
            ),
        )
        .await;
        Ok(())
    }

    /// Links `web_user` to the account that asked for `typed_code`, once.
    /// Returns that account.
    pub async fn redeem_link_code(
        &self,
        web_user: &UserId,
        typed_code: &str,
    ) -> Result<UserId, LinkError> {
        if web_user.channel() != "web" {
            return Err(LinkError::NotWeb);
        }
        let code = normalise_code(typed_code).ok_or(LinkError::Unknown)?;
        let _links = self.inner.links_lock.lock().await;
        let name = format!("{CODES}/{}", code.to_lowercase());
        let store = self.inner.repo.store();
        let record: LinkCode = blocking_io(|| store.read_global(&name))
            .map_err(anyhow::Error::from)?
            .ok_or(LinkError::Unknown)?;
        if record.expires_at <= self.now() {
            blocking_io(|| store.delete_global(&name)).map_err(anyhow::Error::from)?;
            return Err(LinkError::Expired);
        }
        if self.has_own_data(web_user)? {
            return Err(LinkError::HasOwnData);
        }
        // Used up before the link is written: a crash in between loses the
        // code (the user asks for another), never links twice.
        blocking_io(|| store.delete_global(&name)).map_err(anyhow::Error::from)?;
        let mut links: Links = blocking_io(|| store.read_global(LINKS))
            .map_err(anyhow::Error::from)?
            .unwrap_or_default();
        links
            .links
            .insert(web_user.as_str().to_owned(), record.user.clone());
        blocking_io(|| store.write_global(LINKS, &links)).map_err(anyhow::Error::from)?;
        self.inner.audit.record(
            web_user.as_str(),
            Some(&record.user),
            "web.linked",
            None,
            web_user.as_str(),
        );
        tracing::info!(web = %web_user, account = %record.user, "website sign-in linked");
        self.say(
            &record.user,
            format!("The website sign-in {web_user} is now linked: it shows and manages the same nodes and balance as this chat."),
        )
        .await;
        Ok(record.user)
    }

    /// Removes `web_user`'s link, if any.
    pub async fn unlink(&self, web_user: &UserId) -> anyhow::Result<Option<UserId>> {
        let _links = self.inner.links_lock.lock().await;
        let store = self.inner.repo.store();
        let mut links: Links = blocking_io(|| store.read_global(LINKS))?.unwrap_or_default();
        let removed = links.links.remove(web_user.as_str());
        if let Some(account) = &removed {
            blocking_io(|| store.write_global(LINKS, &links))?;
            self.inner.audit.record(
                web_user.as_str(),
                Some(account),
                "web.unlinked",
                None,
                web_user.as_str(),
            );
            self.say(
                account,
                format!("The website sign-in {web_user} is no longer linked to this chat."),
            )
            .await;
        }
        Ok(removed)
    }

    /// Every web sign-in -> account link, for the website at start.
    pub fn web_links(&self) -> anyhow::Result<Vec<(UserId, UserId)>> {
        let links: Links = self.inner.repo.load_global(LINKS)?.unwrap_or_default();
        Ok(links
            .links
            .into_iter()
            .filter_map(|(web, account)| Some((UserId::parse(&web).ok()?, account)))
            .collect())
    }

    fn has_own_data(&self, user: &UserId) -> anyhow::Result<bool> {
        let balance = self
            .inner
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or(Tft::ZERO);
        let nodes = self.inner.repo.load_nodes(user)?;
        let orders = self.inner.repo.load_orders(user)?;
        Ok(balance.is_positive() || nodes.live().next().is_some() || orders.has_open())
    }

    /// The master key, from which the website derives its cookie and
    /// login keys.
    pub fn master_key(&self) -> &crate::crypto::MasterKey {
        self.inner.repo.master()
    }

    /// The service's clock (unix seconds): sessions expire by it.
    pub fn current_time(&self) -> u64 {
        self.now()
    }

    /// Whether the embedded grid and the sandbox wallet are in use (the
    /// website labels itself so, and offers the sandbox sign-in).
    pub fn is_sandbox(&self) -> bool {
        self.wallet_kind() == crate::config::PaymentsKind::Sandbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_forgiving_when_typed() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(normalise_code(&code), Some(code.clone()));
            let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
            assert_eq!(normalise_code(&typed), Some(code));
        }
        assert_eq!(normalise_code("abcd efgh"), Some("ABCDEFGH".into()));
        assert_eq!(normalise_code("oIl0-0000"), Some("01100000".into()));
        assert_eq!(normalise_code("ABCD-EFG"), None);
        assert_eq!(
            normalise_code("ABCD-EFGU"),
            None,
            "U is not in the alphabet"
        );
        assert_eq!(normalise_code("../../etc"), None);
        assert_eq!(normalise_code(""), None);
    }
}
