//! Operator commands in chat (`Admin`), for the ids in `admin.operators`
//! only; anyone else gets the ordinary "I don't know /<command>". Reports
//! come from `crate::admin`, the commands' arguments and words from the core
//! (`command::operator`); this component carries out the actions. The
//! unmatched payments (`/unmatched`, `/credit`) are the money side's: they
//! are handed back to the router.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::alerter::Alerter;
use super::audit_trail::AuditTrail;
use super::deploy::Deployer;
use super::faults::Faults;
use super::reconcile::Reconciler;
use super::repo::Repo;
use crate::alerts::{Alert, Priority};
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::command::{
    AdminCommand, Command, MAINTENANCE_USAGE, OPERATOR_HELP as HELP, audited_by_name,
    broadcast_progress, maintenance_notice, parse_force_redeploy, parse_maintenance,
};
use crate::dialogue::Message;
use crate::ids::UserId;

mod dashboard;
pub use dashboard::{Dashboard, UserPanel};

/// The global document holding the maintenance switch.
const MAINTENANCE: &str = "maintenance";
/// Most lines `/nodes` shows.
const NODES_SHOWN: usize = 50;
/// How often a broadcast's progress message is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

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
struct Drafts(Mutex<HashMap<UserId, (u32, String)>>);

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

/// What `Admin::command` leaves to the router.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// The sender is no operator: the command is ordinary input.
    NotOperator,
    /// Carried out and answered.
    Done,
    /// `/unmatched`: the money side lists unmatched payments.
    Unmatched,
    /// `/credit [arg]` (trimmed): the money side credits one.
    Credit(Option<String>),
}

/// Everything `Admin` is built from.
pub struct AdminParts {
    pub repo: Arc<Repo>,
    pub audit: Arc<AuditTrail>,
    pub alerter: Arc<Alerter>,
    pub reconciler: Arc<Reconciler>,
    pub deployer: Arc<Deployer>,
    pub faults: Arc<Faults>,
    pub outbox: Arc<dyn Outbox>,
    pub clock: Arc<dyn Clock>,
    /// Who may run operator commands.
    pub operators: Vec<UserId>,
}

/// The operators' commands, dashboard actions and broadcasts.
pub struct Admin {
    repo: Arc<Repo>,
    audit: Arc<AuditTrail>,
    alerter: Arc<Alerter>,
    reconciler: Arc<Reconciler>,
    deployer: Arc<Deployer>,
    faults: Arc<Faults>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    operators: Vec<UserId>,
    drafts: Drafts,
}

impl Admin {
    pub fn new(parts: AdminParts) -> Admin {
        Admin {
            repo: parts.repo,
            audit: parts.audit,
            alerter: parts.alerter,
            reconciler: parts.reconciler,
            deployer: parts.deployer,
            faults: parts.faults,
            outbox: parts.outbox,
            clock: parts.clock,
            operators: parts.operators,
            drafts: Drafts::default(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Whether `user` may run operator commands (`admin.operators`).
    pub fn is_operator(&self, user: &UserId) -> bool {
        self.operators.contains(user)
    }

    /// The maintenance message when new deployments are refused.
    pub fn maintenance(&self) -> Option<String> {
        let m: Maintenance = self.repo.load_global(MAINTENANCE).ok().flatten()?;
        m.on.then(|| maintenance_notice(&m.message))
    }

    /// Handles an operator command; see [`Handled`] for what it leaves.
    pub async fn command(
        self: &Arc<Self>,
        operator: &UserId,
        command: AdminCommand,
        arg: Option<&str>,
    ) -> anyhow::Result<Handled> {
        if !self.is_operator(operator) {
            return Ok(Handled::NotOperator);
        }
        let name = command.name();
        let arg = arg.map(str::trim).filter(|a| !a.is_empty());
        tracing::info!(operator = %operator, command = name, "operator command");
        // Actions on one user are recorded in their trail by the action itself.
        if audited_by_name(command) {
            self.audit.record(
                operator.as_str(),
                None,
                &format!("admin.{name}"),
                None,
                arg.unwrap_or(""),
            );
        }
        let reply = match (command, arg) {
            (AdminCommand::Admin, _) => HELP.to_owned(),
            (AdminCommand::Stats | AdminCommand::User | AdminCommand::Nodes, arg) => {
                match self.report(name, arg).await? {
                    Some(text) => text,
                    None => format!("/{name} needs an argument.\n\n{HELP}"),
                }
            }
            (AdminCommand::Broadcast, Some(text)) => {
                let draft = self.drafts.put(operator, text.to_owned());
                self.outbox
                    .send(
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
                return Ok(Handled::Done);
            }
            (AdminCommand::Maintenance, Some(arg)) => self.set_maintenance(operator, arg)?,
            (AdminCommand::Ban | AdminCommand::Unban, Some(query)) => {
                self.set_banned(operator, query, command == AdminCommand::Ban)
                    .await?
            }
            (AdminCommand::ForceRedeploy, Some(arg)) => match parse_force_redeploy(arg) {
                Some((query, node)) => match self.find_user(query)? {
                    Some(id) => {
                        tracing::warn!(operator = %operator, user = %id, node, "forced redeploy");
                        self.forced_redeploy(operator, &id, node).await?;
                        return Ok(Handled::Done);
                    }
                    None => format!("No user matches {query:?}."),
                },
                None => "Usage: /forceredeploy <id or @name> <node>".into(),
            },
            (AdminCommand::Unmatched, _) => return Ok(Handled::Unmatched),
            (AdminCommand::Credit, arg) => return Ok(Handled::Credit(arg.map(str::to_owned))),
            (AdminCommand::Fault, arg) => {
                self.faults.command(operator, arg).await;
                return Ok(Handled::Done);
            }
            _ => format!("/{name} needs an argument.\n\n{HELP}"),
        };
        self.outbox.say(operator, reply).await;
        Ok(Handled::Done)
    }

    /// The read-only operator reports (`/stats`, `/user <query>`, `/nodes
    /// [filter]`) as text, for chat and the website's dashboard. `None`
    /// for an unknown report or a missing argument. The caller checks that
    /// the asker is an operator.
    async fn report(&self, name: &str, arg: Option<&str>) -> anyhow::Result<Option<String>> {
        let now = self.now();
        let store = self.repo.store().clone();
        Ok(Some(match (name, arg) {
            ("stats", _) => {
                let parts = self.stats_parts().await?;
                let mut text = parts.stats.render();
                text.push_str(&crate::admin::audit_day_words(&parts.day));
                for line in &parts.reconciler {
                    text.push('\n');
                    text.push_str(line);
                }
                text.push_str(&format!(
                    "\nMonitor watching {} node(s); alert queue {} waiting.",
                    parts.watching, parts.queued
                ));
                if let Some(m) = parts.maintenance {
                    text.push_str(&format!("\nMAINTENANCE ON: {m}"));
                }
                text
            }
            ("user", Some(query)) => match self.find_user(query)? {
                Some(id) => {
                    let mut text =
                        crate::store::blocking_io(|| crate::admin::user_report(&store, &id, now))?;
                    let events = self.audit.log().recent_for(&id, 10)?;
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
    pub fn switch_maintenance(
        &self,
        operator: &UserId,
        arg: &str,
    ) -> anyhow::Result<Option<String>> {
        if !self.is_operator(operator) {
            return Ok(None);
        }
        self.audit
            .record(operator.as_str(), None, "admin.maintenance", None, arg);
        self.set_maintenance(operator, arg).map(Some)
    }

    /// The broadcast confirmation buttons. Returns false when the presser
    /// is not an operator.
    pub async fn button(
        self: &Arc<Self>,
        operator: &UserId,
        send: bool,
        draft: Option<u32>,
    ) -> anyhow::Result<bool> {
        if !self.is_operator(operator) {
            return Ok(false);
        }
        let Some(text) = draft.and_then(|id| self.drafts.take(operator, id)) else {
            // Sent, dropped or replaced since: this button means nothing now.
            self.outbox.send(operator, Outgoing::Withdrawn).await;
            self.outbox.say(
                operator,
                "That broadcast draft was already sent, dropped or replaced; nothing was sent. Send /broadcast <text> for a new one.",
            )
            .await;
            return Ok(true);
        };
        self.outbox
            .send(
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
            self.outbox
                .say(operator, "Broadcast dropped; nothing was sent.")
                .await;
            return Ok(true);
        }
        self.broadcast(operator, text).await?;
        Ok(true)
    }

    /// The user an operator names by id or @name.
    pub fn find_user(&self, query: &str) -> anyhow::Result<Option<UserId>> {
        let store = self.repo.store();
        crate::store::blocking_io(|| crate::admin::find_user(store, query))
    }

    fn set_maintenance(&self, operator: &UserId, arg: &str) -> anyhow::Result<String> {
        let Some((on, message)) = parse_maintenance(arg) else {
            return Ok(MAINTENANCE_USAGE.into());
        };
        let m = Maintenance {
            on,
            message,
            by: operator.to_string(),
            since: self.now(),
        };
        self.repo.save_global(MAINTENANCE, &m)?;
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
        let _guard = self.repo.lock(&id).await;
        let Some(mut profile) = self.repo.load_profile(&id)? else {
            return Ok(format!("{id} has no profile."));
        };
        profile.banned = banned;
        self.repo.save_profile(&profile)?;
        let kind = if banned { "admin.ban" } else { "admin.unban" };
        self.audit
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
        let nodes = self.repo.load_nodes(user)?;
        match nodes
            .get(node)
            .filter(|n| n.state == crate::user::NodeState::Running)
            .cloned()
        {
            Some(record) => {
                self.audit.record(
                    operator.as_str(),
                    Some(user),
                    "admin.forceredeploy",
                    Some(node),
                    "",
                );
                self.outbox
                    .say(
                        operator,
                        format!("Redeploying {user}'s {node}; they are told the new addresses."),
                    )
                    .await;
                self.outbox
                    .say(
                        user,
                        format!("An operator is moving {node} to another grid node…"),
                    )
                    .await;
                self.deployer.spawn_redeploy(user, record).await;
            }
            None => {
                self.outbox
                    .say(
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
    async fn broadcast(self: &Arc<Self>, operator: &UserId, text: String) -> anyhow::Result<()> {
        let now = self.now();
        let tag = format!("broadcast:{now}");
        let users = self.repo.list_users()?;
        let mut queued = 0usize;
        for chunk in users.chunks(1000) {
            let mut batch = Vec::with_capacity(chunk.len());
            for id in chunk {
                match self.repo.load_profile(id)? {
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
            queued += self.alerter.queue().enqueue(batch)?;
        }
        tracing::warn!(operator = %operator, users = queued, "broadcast queued");
        let admin = Arc::clone(self);
        let operator = operator.clone();
        tokio::spawn(async move { admin.report_broadcast(&operator, &tag, queued).await });
        Ok(())
    }

    async fn report_broadcast(&self, operator: &UserId, tag: &str, total: usize) {
        let key = tag.to_owned();
        loop {
            let waiting = self.alerter.queue().count_pending(|key| key.ends_with(tag));
            self.outbox
                .send(
                    operator,
                    Outgoing::Progress {
                        key: key.clone(),
                        text: broadcast_progress(total, waiting),
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
