//! What a user sets about the alerts they get and their nodes' healing:
//! `/mute`, `/unmute` and `/autoheal`. Raising alerts is `alerter.rs`; the
//! replies' words are the core's (`user::view`).

use std::sync::Arc;

use super::chain_watch::ChainWatch;
use super::repo::Repo;
use crate::channel::Outbox;
use crate::ids::UserId;
use crate::user::view;

/// A user's alert and auto-heal settings.
pub struct NodeSettings {
    repo: Arc<Repo>,
    /// The chain alerts' mutes, one per kind (`/mute stalls` ...).
    chain_watch: Arc<ChainWatch>,
    outbox: Arc<dyn Outbox>,
}

impl NodeSettings {
    pub fn new(
        repo: Arc<Repo>,
        chain_watch: Arc<ChainWatch>,
        outbox: Arc<dyn Outbox>,
    ) -> NodeSettings {
        NodeSettings {
            repo,
            chain_watch,
            outbox,
        }
    }

    /// `/mute reminders|everything`, a chain alert's kind, `/unmute`.
    pub async fn set_mute(&self, user: &UserId, what: &str) -> anyhow::Result<()> {
        if let Some(text) = self.chain_watch.mute(user, what)? {
            self.outbox.say(user, text).await;
            return Ok(());
        }
        let (mute, text) = view::mute_choice(what);
        if mute == crate::lifecycle::Mute::Nothing {
            self.chain_watch.unmute_all(user)?;
        }
        if let Some(mut profile) = self.repo.load_profile(user)? {
            profile.funding.mute = mute;
            self.repo.save_profile(&profile)?;
        }
        self.outbox.say(user, text).await;
        Ok(())
    }

    /// `/autoheal <name> on|off`, on the user's own live node only.
    pub async fn set_autoheal(&self, user: &UserId, name: &str, on: bool) -> anyhow::Result<()> {
        let Some((mut nodes, _)) =
            super::views::own_live_node(&self.repo, &self.outbox, user, name).await?
        else {
            return Ok(());
        };
        if let Some(node) = nodes.get_mut(name) {
            node.autoheal = on;
        }
        self.repo.save_nodes(user, &nodes)?;
        self.outbox.say(user, view::autoheal_text(name, on)).await;
        Ok(())
    }
}
