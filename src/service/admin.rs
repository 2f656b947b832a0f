//! Operator commands in chat, for the ids in `admin.operators` only; anyone
//! else gets the ordinary "I don't know /<command>". Reports come from
//! `crate::admin`; this file carries out the actions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Service;
use crate::alerts::{Alert, Priority};
use crate::channel::Outgoing;
use crate::command::{AdminCommand, Command};
use crate::dialogue::Message;
use crate::ids::UserId;

/// The global document holding the maintenance switch.
const MAINTENANCE: &str = "maintenance";
/// Most lines `/nodes` shows.
const NODES_SHOWN: usize = 50;
/// How often a broadcast's progress message is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

const HELP: &str = "Operator commands:
/stats — users, nodes by state and chain, balances, last 24 h
/user <id or @name> — profile, nodes, balance, recent money
/nodes [filter] — nodes of all users (a state, a chain, part of a name, or \"down\")
/broadcast <text> — a message to every user (asks to confirm; paced)
/maintenance on|off [message] — refuse new deployments (running nodes untouched)
/ban <id or @name>, /unban <id or @name>
/forceredeploy <id or @name> <node> — move a user's node to another grid node
/fault node <id> down|up, /fault workload|app <contract> down|up — embedded grid only
/unmatched — payments that matched no request (kept aside, never lost)
/credit <payment id> <id or @name> — credit an unmatched payment to a user";

/// The maintenance switch, as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Maintenance {
    pub on: bool,
    pub message: String,
    pub by: String,
    pub since: u64,
}

/// Broadcasts typed but not yet confirmed, by operator.
#[derive(Default)]
pub(super) struct Drafts(Mutex<HashMap<UserId, (u32, String)>>);

impl Drafts {
    /// Keeps `text` as the operator's draft (replacing an older one) and
    /// returns its number, which its buttons carry.
    fn put(&self, operator: &UserId, text: String) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let id = map.get(operator).map_or(1, |(id, _)| id.wrapping_add(1));
        map.insert(operator.clone(), (id, text));
        id
    }

    /// The draft numbered `id`, once: a button of a draft already sent,
    /// dropped or replaced finds nothing.
    fn take(&self, operator: &UserId, id: u32) -> Option<String> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(operator) {
            Some((current, _)) if *current == id => map.remove(operator).map(|(_, t)| t),
            _ => None,
        }
    }
}

impl Service {
    /// The maintenance message when new deployments are refused.
    pub fn maintenance(&self) -> Option<String> {
        let m: Maintenance = self.inner.repo.load_global(MAINTENANCE).ok().flatten()?;
        m.on.then(|| {
            if m.message.is_empty() {
                "New deployments are paused for maintenance. Your running nodes are not affected; please try again later.".to_owned()
            } else {
                format!("New deployments are paused for maintenance: {} Your running nodes are not affected.", m.message)
            }
        })
    }

    /// Handles an operator command or button. Returns false when `name`
    /// is not one (the caller then treats it as ordinary input).
    pub(super) async fn admin_command(
        &self,
        operator: &UserId,
        command: AdminCommand,
        arg: Option<&str>,
    ) -> anyhow::Result<bool> {
        if !self.is_operator(operator) {
            return Ok(false);
        }
        let name = command.name();
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        tracing::info!(operator = %operator, command = name, "operator command");
        // Actions on one user are recorded in their trail by the action itself.
        if !matches!(
            name,
            "admin"
                | "stats"
                | "user"
                | "nodes"
                | "ban"
                | "unban"
                | "forceredeploy"
                | "unmatched"
                | "credit"
        ) {
            self.inner.audit.record(
                operator.as_str(),
                None,
                &format!("admin.{name}"),
                None,
                arg.unwrap_or(""),
            );
        }
        let reply = match (name, arg) {
            ("admin", _) => HELP.to_owned(),
            ("stats" | "user" | "nodes", arg) => match self.report(name, arg).await? {
                Some(text) => text,
                None => format!("/{name} needs an argument.\n\n{HELP}"),
            },
            ("broadcast", Some(text)) => {
                let draft = self.inner.drafts.put(operator, text.to_owned());
                self.send(
                    operator,
                    Outgoing::Message(Message {
                        text: format!("Send this to every user?\n\n{text}"),
                        // Each button acts only on the draft it was shown for.
                        buttons: vec![vec![
                            Command::Broadcast {
                                send: true,
                                draft: Some(draft),
                            }
                            .button("Send to everyone"),
                            Command::Broadcast {
                                send: false,
                                draft: Some(draft),
                            }
                            .button("Don't send"),
                        ]],
                    }),
                )
                .await;
                return Ok(true);
            }
            ("maintenance", Some(arg)) => self.set_maintenance(operator, arg)?,
            ("ban" | "unban", Some(query)) => {
                self.set_banned(operator, query, name == "ban").await?
            }
            ("forceredeploy", Some(arg)) => match arg.split_once(' ') {
                Some((query, node)) => match self.find_user(query)? {
                    Some(id) => {
                        tracing::warn!(operator = %operator, user = %id, node = node.trim(), "forced redeploy");
                        return self
                            .forced_redeploy(operator, &id, node.trim())
                            .await
                            .map(|_| true);
                    }
                    None => format!("No user matches {query:?}."),
                },
                None => "Usage: /forceredeploy <id or @name> <node>".into(),
            },
            ("unmatched", _) => self.unmatched_report()?,
            ("credit", arg) => self.credit_unmatched(operator, arg).await?,
            ("fault", arg) => {
                self.inner.faults.command(operator, arg).await;
                return Ok(true);
            }
            _ => format!("/{name} needs an argument.\n\n{HELP}"),
        };
        self.say(operator, reply).await;
        Ok(true)
    }

    /// The read-only operator reports (`/stats`, `/user <query>`, `/nodes
    /// [filter]`) as text, for chat and the website's dashboard. `None`
    /// for an unknown report or a missing argument. The caller checks that
    /// the asker is an operator.
    pub(super) async fn report(
        &self,
        name: &str,
        arg: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let now = self.now();
        let store = self.inner.repo.store().clone();
        Ok(Some(match (name, arg) {
            ("stats", _) => {
                let stats = crate::store::blocking_io(|| crate::admin::stats(&store, now))?;
                let mut text = stats.render();
                let day = self
                    .inner
                    .audit
                    .log()
                    .count_since(now.saturating_sub(86_400))?;
                text.push_str(&crate::admin::audit_day_line(&day));
                text.push_str(&self.inner.reconciler.lines()?);
                text.push_str(&format!(
                    "\nMonitor watching {} node(s); alert queue {} waiting.",
                    self.watched(),
                    self.inner.alerter.queue().depth()
                ));
                if let Some(m) = self.maintenance() {
                    text.push_str(&format!("\nMAINTENANCE ON: {m}"));
                }
                text
            }
            ("user", Some(query)) => match self.find_user(query)? {
                Some(id) => {
                    let mut text =
                        crate::store::blocking_io(|| crate::admin::user_report(&store, &id, now))?;
                    let events = self.inner.audit.log().recent_for(&id, 10)?;
                    text.push_str(&crate::admin::events_text(&events));
                    text
                }
                None => format!("No user matches {query:?}."),
            },
            ("nodes", filter) => crate::store::blocking_io(|| {
                crate::admin::nodes_report(&store, filter, NODES_SHOWN)
            })?,
            _ => return Ok(None),
        }))
    }

    /// An operator report for the website, `None` for non-operators.
    pub async fn operator_report(
        &self,
        operator: &UserId,
        name: &str,
        arg: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        if !self.is_operator(operator) {
            return Ok(None);
        }
        self.report(name, arg.map(str::trim).filter(|a| !a.is_empty()))
            .await
    }

    /// The maintenance switch from the website's dashboard (as
    /// `/maintenance on|off [message]`); `None` for non-operators.
    pub async fn switch_maintenance(
        &self,
        operator: &UserId,
        arg: &str,
    ) -> anyhow::Result<Option<String>> {
        if !self.is_operator(operator) {
            return Ok(None);
        }
        self.inner
            .audit
            .record(operator.as_str(), None, "admin.maintenance", None, arg);
        self.set_maintenance(operator, arg).map(Some)
    }

    /// The broadcast confirmation buttons. Returns false when the presser
    /// is not an operator.
    pub(super) async fn admin_button(
        &self,
        operator: &UserId,
        send: bool,
        draft: Option<u32>,
    ) -> anyhow::Result<bool> {
        if !self.is_operator(operator) {
            return Ok(false);
        }
        let Some(text) = draft.and_then(|id| self.inner.drafts.take(operator, id)) else {
            // Sent, dropped or replaced since: this button means nothing now.
            self.send(operator, Outgoing::Withdrawn).await;
            self.say(
                operator,
                "That broadcast draft was already sent, dropped or replaced; nothing was sent. Send /broadcast <text> for a new one.",
            )
            .await;
            return Ok(true);
        };
        self.send(
            operator,
            Outgoing::Answered {
                answer: if send {
                    "Send to everyone"
                } else {
                    "Don't send"
                }
                .into(),
            },
        )
        .await;
        if !send {
            self.say(operator, "Broadcast dropped; nothing was sent.")
                .await;
            return Ok(true);
        }
        self.broadcast(operator, text).await?;
        Ok(true)
    }

    pub(super) fn find_user(&self, query: &str) -> anyhow::Result<Option<UserId>> {
        let store = self.inner.repo.store();
        crate::store::blocking_io(|| crate::admin::find_user(store, query))
    }

    fn set_maintenance(&self, operator: &UserId, arg: &str) -> anyhow::Result<String> {
        let (switch, message) = arg
            .split_once(' ')
            .map_or((arg, ""), |(s, m)| (s, m.trim()));
        let on = match switch {
            "on" => true,
            "off" => false,
            _ => return Ok("Usage: /maintenance on|off [message]".into()),
        };
        let m = Maintenance {
            on,
            message: message.chars().take(500).collect(),
            by: operator.to_string(),
            since: self.now(),
        };
        self.inner.repo.save_global(MAINTENANCE, &m)?;
        tracing::warn!(operator = %operator, on, "maintenance switched");
        Ok(if on {
            "Maintenance is ON: new deployments are refused with your message; running nodes, payments and everything else go on.".into()
        } else {
            "Maintenance is OFF: deployments are open again.".into()
        })
    }

    async fn set_banned(
        &self,
        operator: &UserId,
        query: &str,
        banned: bool,
    ) -> anyhow::Result<String> {
        let Some(id) = self.find_user(query)? else {
            return Ok(format!("No user matches {query:?}."));
        };
        if self.is_operator(&id) {
            return Ok(
                "Operators cannot be banned; remove them from admin.operators first.".into(),
            );
        }
        let _guard = self.inner.repo.lock(&id).await;
        let Some(mut profile) = self.inner.repo.load_profile(&id)? else {
            return Ok(format!("{id} has no profile."));
        };
        profile.banned = banned;
        self.inner.repo.save_profile(&profile)?;
        let kind = if banned { "admin.ban" } else { "admin.unban" };
        self.inner
            .audit
            .record(operator.as_str(), Some(&id), kind, None, "");
        Ok(if banned {
            format!(
                "{id} is banned: every message gets a short refusal. Their nodes keep running and billing goes on; /unban {id} lifts it."
            )
        } else {
            format!("{id} is no longer banned.")
        })
    }

    async fn forced_redeploy(
        &self,
        operator: &UserId,
        user: &UserId,
        node: &str,
    ) -> anyhow::Result<()> {
        let nodes = self.inner.repo.load_nodes(user)?;
        match nodes
            .get(node)
            .filter(|n| n.state == crate::user::NodeState::Running)
            .cloned()
        {
            Some(record) => {
                self.inner.audit.record(
                    operator.as_str(),
                    Some(user),
                    "admin.forceredeploy",
                    Some(node),
                    "",
                );
                self.say(
                    operator,
                    format!("Redeploying {user}'s {node}; they are told the new addresses."),
                )
                .await;
                self.say(
                    user,
                    format!("An operator is moving {node} to another grid node…"),
                )
                .await;
                self.inner.deployer.spawn_redeploy(user, record).await;
            }
            None => {
                self.say(
                    operator,
                    format!("{user} has no running node named {node}."),
                )
                .await
            }
        }
        Ok(())
    }

    /// Queues `text` for every user who has not blocked the bot and is not
    /// banned (the alert queue paces it), then reports progress.
    async fn broadcast(&self, operator: &UserId, text: String) -> anyhow::Result<()> {
        let now = self.now();
        let tag = format!("broadcast:{now}");
        let users = self.inner.repo.list_users()?;
        let mut queued = 0usize;
        for chunk in users.chunks(1000) {
            let mut batch = Vec::with_capacity(chunk.len());
            for id in chunk {
                match self.inner.repo.load_profile(id)? {
                    Some(p) if !p.blocked && !p.banned => batch.push(Alert {
                        key: format!("{id}:{tag}"),
                        user: id.clone(),
                        priority: Priority::Notice,
                        message: Message::text(text.clone()),
                        raised_at: now,
                    }),
                    _ => {}
                }
            }
            queued += self.inner.alerter.queue().enqueue(batch)?;
        }
        tracing::warn!(operator = %operator, users = queued, "broadcast queued");
        let service = self.clone();
        let operator = operator.clone();
        tokio::spawn(async move { service.report_broadcast(&operator, &tag, queued).await });
        Ok(())
    }

    async fn report_broadcast(&self, operator: &UserId, tag: &str, total: usize) {
        let key = tag.to_owned();
        loop {
            let waiting = self
                .inner
                .alerter
                .queue()
                .count_pending(|key| key.ends_with(tag));
            let sent = total.saturating_sub(waiting);
            let text = if waiting == 0 {
                format!("Broadcast done: sent to {sent} user(s).")
            } else {
                format!("Broadcast: {sent} of {total} sent…")
            };
            self.send(
                operator,
                Outgoing::Progress {
                    key: key.clone(),
                    text,
                },
            )
            .await;
            if waiting == 0 {
                return;
            }
            tokio::time::sleep(PROGRESS_EVERY).await;
        }
    }
}
