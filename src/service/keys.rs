//! `/keys`: a node's optional settings given after its deploy (a node's own
//! key pair, so that a move keeps its identity on its network).
//!
//! The conversation (`dialogues/manage.yaml`, flow `keys`) asks them with
//! the same checks as `/deploy`; this file checks the command's node and
//! stores what was given. Why here and not in the engine: the node record is
//! the service's, and the values are sealed before they touch disk, as every
//! secret setting is (the conversation's own copy is sealed by the store of
//! the conversation). A value is never logged nor written to the audit
//! trail: only which settings were given.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::audit_trail::AuditTrail;
use super::repo::Repo;
use crate::channel::Outbox;
use crate::dialogue::{Engine, Input};
use crate::ids::UserId;
use crate::user::{NodeRecord, Nodes, StoredValue};

/// `/keys` and what it stores: a component over the repository.
pub struct NodeKeys {
    repo: Arc<Repo>,
    engine: Arc<Engine>,
    audit: Arc<AuditTrail>,
    outbox: Arc<dyn Outbox>,
}

impl NodeKeys {
    pub fn new(
        repo: Arc<Repo>,
        engine: Arc<Engine>,
        audit: Arc<AuditTrail>,
        outbox: Arc<dyn Outbox>,
    ) -> NodeKeys {
        NodeKeys {
            repo,
            engine,
            audit,
            outbox,
        }
    }

    /// The user's own live node `name` (see `views::own_live_node`).
    async fn own_live_node(
        &self,
        user: &UserId,
        name: &str,
    ) -> anyhow::Result<Option<(Nodes, NodeRecord)>> {
        super::views::own_live_node(&self.repo, &self.outbox, user, name).await
    }

    /// `/keys [node]`: the conversation starts only for one of the user's
    /// own nodes whose type takes optional settings; anything else is
    /// answered here. `None` when answered.
    pub async fn keys_command(
        &self,
        user: &UserId,
        arg: Option<String>,
    ) -> anyhow::Result<Option<Input>> {
        let start = Input::Command {
            name: "keys".into(),
            arg: arg.clone(),
        };
        let Some(name) = arg else {
            return Ok(Some(start));
        };
        let Some((_, node)) = self.own_live_node(user, &name).await? else {
            return Ok(None);
        };
        let takes = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)
            .is_some_and(|(_, nt)| nt.has_optional_settings());
        if !takes {
            self.outbox.say(
                user,
                format!("{name} has no keys or optional settings to give: it keeps everything it needs when it moves."),
            )
            .await;
            return Ok(None);
        }
        Ok(Some(start))
    }

    /// Stores the optional settings given with `/keys` on the user's node
    /// `name` (sealed when secret), for its next deployment.
    pub async fn set_settings(
        &self,
        user: &UserId,
        name: &str,
        given: BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let Some((mut nodes, node)) = self.own_live_node(user, name).await? else {
            return Ok(());
        };
        if given.is_empty() {
            self.outbox
                .say(user, format!("Nothing changed: {name} keeps what it had."))
                .await;
            return Ok(());
        }
        let Some((_, nt)) = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)
        else {
            anyhow::bail!("unknown node type {}/{}", node.chain, node.node_type);
        };
        let mut stored = BTreeMap::new();
        for (key, value) in given {
            // Only the node type's own optional settings, as the
            // conversation asked them.
            let Some(setting) = nt.setting(&key).filter(|s| s.optional) else {
                anyhow::bail!("{key} is not an optional setting of {}", nt.id);
            };
            let value = if setting.secret {
                StoredValue::Sealed(self.repo.seal_secret(&value))
            } else {
                StoredValue::Plain(value)
            };
            stored.insert(key, value);
        }
        let keys: Vec<String> = stored.keys().cloned().collect();
        // A key Jukebox keeps (a dashboard API key) is read by the monitor,
        // not given to the machine.
        let all_kept = keys
            .iter()
            .all(|k| nt.setting(k).is_some_and(crate::catalog::Setting::is_kept));
        if let Some(record) = nodes.get_mut(name) {
            record.settings.extend(stored);
        }
        self.repo.save_nodes(user, &nodes)?;
        self.audit.record(
            user.as_str(),
            Some(user),
            "node.settings",
            Some(name),
            keys.join(","),
        );
        if all_kept {
            self.outbox
                .say(
                    user,
                    format!(
                        "Saved for {name} (encrypted, never given to the machine). From the monitor's next checks on, /status {name} shows what its network's dashboard says of it, and I tell you if it disconnects."
                    ),
                )
                .await;
            return Ok(());
        }
        self.outbox.say(
            user,
            format!(
                "Saved for {name} (secrets encrypted). It keeps running as it is; every machine it moves to from now on (/redeploy, or auto-heal) gets them. If they are the keys of another node that {name} should take over, send /redeploy {name} now."
            ),
        )
        .await;
        Ok(())
    }
}
