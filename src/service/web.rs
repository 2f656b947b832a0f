//! The website's accounts (`WebAccounts`): the "My nodes" overview (its rows
//! are the core's, `user::view::node_rows`), and linking a web sign-in to a
//! Telegram or terminal account with a one-time code (`/link`). The
//! operators' dashboard reports are `admin.rs`.
//!
//! Links are one global record (`global/web-links`), small because only
//! linked sign-ins appear in it; codes are `global/link-codes/<CODE>`,
//! deleted when used or found expired.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::audit_trail::AuditTrail;
use super::funding::Funding;
use super::repo::Repo;
use crate::channel::Outbox;
use crate::clock::Clock;
use crate::crypto::random_bytes;
use crate::dialogue::Engine;
use crate::ids::UserId;
use crate::lifecycle::utc_datetime;
use crate::money::Tft;
use crate::store::blocking_io;
use crate::user::view::{Overview, node_rows};
use crate::validate::{LINK_CODE_ALPHABET, normalise_link_code};

/// A link code works this long (the website's Telegram page says so).
pub const LINK_CODE_TTL_SECS: u64 = 600;
const LINKS: &str = "web-links";
const CODES: &str = "link-codes";

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

/// A fresh code: 8 characters of [`LINK_CODE_ALPHABET`], each equally likely
/// (32 divides 256).
///
/// # Panics
/// If the OS random source fails (see [`random_bytes`]).
fn new_code() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| char::from(LINK_CODE_ALPHABET[usize::from(b % 32)]))
        .collect()
}

/// The website's accounts: the "My nodes" overview, link codes and links.
pub struct WebAccounts {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    funding: Arc<Funding>,
    audit: Arc<AuditTrail>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    /// Serialises changes to the link record.
    links_lock: tokio::sync::Mutex<()>,
}

impl WebAccounts {
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        funding: Arc<Funding>,
        audit: Arc<AuditTrail>,
        outbox: Arc<dyn Outbox>,
        clock: Arc<dyn Clock>,
    ) -> WebAccounts {
        WebAccounts {
            engine,
            repo,
            funding,
            audit,
            outbox,
            clock,
            links_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The "My nodes" page's data for `user`.
    pub fn overview(&self, user: &UserId) -> anyhow::Result<Overview> {
        let profile = self.repo.load_profile(user)?;
        let nodes = self.repo.load_nodes(user)?;
        let (balance, runway) = match &profile {
            Some(p) => (
                p.account.balance,
                self.funding
                    .runway_text(user, p.account.balance, &nodes, p)?,
            ),
            None => (Tft::ZERO, "Nothing is running, so nothing is spent.".into()),
        };
        Ok(Overview {
            balance,
            runway,
            nodes: node_rows(&nodes, self.engine.catalog(), self.clock.now()),
        })
    }

    /// `/link`: a one-time code for the website's Telegram page.
    pub async fn link_code(&self, user: &UserId) -> anyhow::Result<()> {
        if user.channel() == "web" {
            self.outbox.say(user, "This is the website already. To see your Telegram nodes here, send /link to the Jukebox bot in Telegram and type the code on the Telegram page.").await;
            return Ok(());
        }
        let code = new_code();
        let expires_at = self.clock.now() + LINK_CODE_TTL_SECS;
        let record = LinkCode {
            user: user.clone(),
            expires_at,
        };
        blocking_io(|| {
            self.repo
                .store()
                .write_global(&format!("{CODES}/{}", code.to_lowercase()), &record)
        })?;
        self.outbox.say(
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
        let code = normalise_link_code(typed_code).ok_or(LinkError::Unknown)?;
        let _links = self.links_lock.lock().await;
        let name = format!("{CODES}/{}", code.to_lowercase());
        let store = self.repo.store();
        let record: LinkCode = blocking_io(|| store.read_global(&name))
            .map_err(anyhow::Error::from)?
            .ok_or(LinkError::Unknown)?;
        if record.expires_at <= self.clock.now() {
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
        self.audit.record(
            web_user.as_str(),
            Some(&record.user),
            "web.linked",
            None,
            web_user.as_str(),
        );
        tracing::info!(web = %web_user, account = %record.user, "website sign-in linked");
        self.outbox.say(
            &record.user,
            format!("The website sign-in {web_user} is now linked: it shows and manages the same nodes and balance as this chat."),
        )
        .await;
        Ok(record.user)
    }

    /// Removes `web_user`'s link, if any.
    pub async fn unlink(&self, web_user: &UserId) -> anyhow::Result<Option<UserId>> {
        let _links = self.links_lock.lock().await;
        let store = self.repo.store();
        let mut links: Links = blocking_io(|| store.read_global(LINKS))?.unwrap_or_default();
        let removed = links.links.remove(web_user.as_str());
        if let Some(account) = &removed {
            blocking_io(|| store.write_global(LINKS, &links))?;
            self.audit.record(
                web_user.as_str(),
                Some(account),
                "web.unlinked",
                None,
                web_user.as_str(),
            );
            self.outbox
                .say(
                    account,
                    format!("The website sign-in {web_user} is no longer linked to this chat."),
                )
                .await;
        }
        Ok(removed)
    }

    /// Every web sign-in -> account link, for the website at start.
    pub fn web_links(&self) -> anyhow::Result<Vec<(UserId, UserId)>> {
        let links: Links = self.repo.load_global(LINKS)?.unwrap_or_default();
        Ok(links
            .links
            .into_iter()
            .filter_map(|(web, account)| Some((UserId::parse(&web).ok()?, account)))
            .collect())
    }

    fn has_own_data(&self, user: &UserId) -> anyhow::Result<bool> {
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or(Tft::ZERO);
        let nodes = self.repo.load_nodes(user)?;
        let orders = self.repo.load_orders(user)?;
        Ok(balance.is_positive() || nodes.live().next().is_some() || orders.has_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_read_back_as_typed() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(normalise_link_code(&code), Some(code.clone()));
            let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
            assert_eq!(normalise_link_code(&typed), Some(code));
        }
    }
}
