//! Acting on what a user's balance means (see `lifecycle::funding`):
//! reminders, pausing nodes when the money runs out, resuming them after a
//! top-up, deleting them when the grace period ends.

use std::sync::Arc;

use super::alerter::Alerter;
use super::audit_trail::AuditTrail;
use super::intents::GridWork;
use super::repo::Repo;
use crate::alerts::Priority;
use crate::clock::Clock;
use crate::command::with_top_up_buttons;
use crate::dialogue::Message;
use crate::grid::Grid;
use crate::ids::UserId;
use crate::lifecycle::FundingRules;
use crate::lifecycle::{FundingDecision, funded_sentence, human_duration, utc_datetime};
use crate::money::Tft;
use crate::user::{NodeState, Nodes, Profile};

fn names_in(nodes: &Nodes, state: &NodeState) -> Vec<String> {
    nodes
        .nodes
        .iter()
        .filter(|n| &n.state == state)
        .map(|n| n.name.clone())
        .collect()
}

/// Carries out the funding rules' decisions for one user at a time.
pub struct Funding {
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    grid_work: Arc<GridWork>,
    alerter: Arc<Alerter>,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    rules: FundingRules,
}

impl Funding {
    pub fn new(
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        grid_work: Arc<GridWork>,
        alerter: Arc<Alerter>,
        audit: Arc<AuditTrail>,
        clock: Arc<dyn Clock>,
        rules: FundingRules,
    ) -> Funding {
        Funding {
            repo,
            grid,
            grid_work,
            alerter,
            audit,
            clock,
            rules,
        }
    }

    /// Applies the funding rules to `user` now and carries out what they
    /// decide. The caller holds the user's lock and saves nothing itself:
    /// nodes and profile are saved here when they change.
    pub async fn review(
        &self,
        user: &UserId,
        profile: &mut Profile,
        nodes: &mut Nodes,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let rules = &self.rules;
        let burn = nodes.burn_per_hour(&self.repo.load_orders(user)?);
        let before = profile.funding.clone();
        let decisions = profile
            .funding
            .assess(profile.account.balance, burn, rules, now);
        let mut nodes_changed = false;
        let mut retired_any = false;
        // While in grace, every running node is paused: this also retries a
        // pause the grid refused last time.
        if profile.funding.grace.is_some() {
            nodes_changed |= self.pause_running(user, nodes).await;
        }
        let mut alerts = Vec::new();
        for decision in decisions {
            match decision {
                FundingDecision::Remind { threshold, runway } => {
                    let text = format!(
                        "💰 Your balance ({}) lasts about {} more at {} per day for all your nodes together, until {}. Top up to keep them running.",
                        profile.account.balance,
                        human_duration(runway),
                        burn.saturating_mul(24),
                        utc_datetime(now + runway)
                    );
                    alerts.push((
                        Priority::Reminder,
                        format!("remind:{threshold}:{now}"),
                        with_top_up_buttons(text),
                    ));
                }
                FundingDecision::EnterGrace { deletes_at } => {
                    let paused = names_in(nodes, &NodeState::Paused);
                    let text = format!(
                        "⏸ Your balance ran out, so your nodes are paused: {}. They are kept until {} ({} from now); top up before then and they resume. After that they are deleted.",
                        paused.join(", "),
                        utc_datetime(deletes_at),
                        human_duration(deletes_at.saturating_sub(now))
                    );
                    alerts.push((
                        Priority::Notice,
                        format!("grace:{now}"),
                        with_top_up_buttons(text),
                    ));
                }
                FundingDecision::GraceReminder { deletes_at } => {
                    let text = format!(
                        "⏸ Your nodes are still paused for lack of funds. They will be deleted on {} ({} from now) unless you top up.",
                        utc_datetime(deletes_at),
                        human_duration(deletes_at.saturating_sub(now))
                    );
                    alerts.push((
                        Priority::Reminder,
                        format!("grace-reminder:{now}"),
                        with_top_up_buttons(text),
                    ));
                }
                FundingDecision::Expire => {
                    let expired = self.expire_paused(user, nodes);
                    nodes_changed = true;
                    retired_any |= !expired.is_empty();
                    if !expired.is_empty() {
                        let text = format!(
                            "🗑 Your paused nodes were deleted because the balance stayed empty for {} days: {}. Thank you for using Jukebox; /deploy starts new ones whenever you like.",
                            rules.grace_secs / 86_400,
                            expired.join(", ")
                        );
                        alerts.push((
                            Priority::Notice,
                            format!("expired:{now}"),
                            Message::text(text),
                        ));
                    }
                }
                FundingDecision::Resume { runway } => {
                    let resumed = self.resume_paused(user, nodes, now).await;
                    nodes_changed = true;
                    let text = format!(
                        "▶️ Thank you! Your nodes are running again: {}. Your balance lasts about {} (until {}).",
                        resumed.join(", "),
                        human_duration(runway),
                        utc_datetime(now + runway)
                    );
                    alerts.push((
                        Priority::Notice,
                        format!("resume:{now}"),
                        Message::text(text),
                    ));
                }
            }
        }
        if nodes_changed {
            self.repo.save_nodes(user, nodes)?;
        }
        if profile.funding != before {
            self.repo.save_profile(profile)?;
        }
        for (priority, key, message) in alerts {
            self.alerter.raise(user, priority, key, message).await?;
        }
        if retired_any {
            // Write-ahead: the expired nodes' contracts were retired in the
            // nodes' save above and are cancelled only now, after everything
            // else is recorded; one the grid does not confirm (or a crash
            // here) leaves it listed for the next start or reconciler pass.
            self.grid_work.cancel_retired(user).await?;
            *nodes = self.repo.load_nodes(user)?;
        }
        Ok(())
    }

    /// Pauses every running node of `user` on the grid. Returns whether any
    /// changed; one the grid refuses stays running and is retried next time.
    async fn pause_running(&self, user: &UserId, nodes: &mut Nodes) -> bool {
        let mut changed = false;
        for node in nodes
            .nodes
            .iter_mut()
            .filter(|n| n.state == NodeState::Running)
        {
            if let Some(contract) = node.contract()
                && let Err(e) = self.grid.set_paused(contract, true).await
            {
                tracing::warn!(user = %user, node = %node.name, error = %e, "could not pause a node; retried at the next billing sweep");
                continue;
            }
            node.state = NodeState::Paused;
            node.outage = None;
            changed = true;
            tracing::info!(user = %user, node = %node.name, "node paused: funds ran out");
            self.audit.record(
                super::audit_trail::SYSTEM,
                Some(user),
                "node.paused",
                Some(&node.name),
                "funds ran out",
            );
        }
        changed
    }

    async fn resume_paused(&self, user: &UserId, nodes: &mut Nodes, now: u64) -> Vec<String> {
        let mut resumed = Vec::new();
        for node in nodes
            .nodes
            .iter_mut()
            .filter(|n| n.state == NodeState::Paused)
        {
            if let Some(contract) = node.contract()
                && let Err(e) = self.grid.set_paused(contract, false).await
            {
                // It runs again as far as billing goes; the monitor reports
                // it if the grid keeps it stopped.
                tracing::warn!(user = %user, node = %node.name, error = %e, "the grid did not confirm a resume");
            }
            node.state = NodeState::Running;
            node.billed_until = now;
            resumed.push(node.name.clone());
            tracing::info!(user = %user, node = %node.name, "node resumed after a top-up");
            self.audit.record(
                super::audit_trail::SYSTEM,
                Some(user),
                "node.resumed",
                Some(&node.name),
                "after a top-up",
            );
        }
        resumed
    }

    /// Ends every paused node and retires its contract, in memory only:
    /// the caller saves, then cancels through `cancel_retired` (see
    /// `intents.rs`), so a crash or a refused cancel leaves the contract
    /// listed rather than paying for nothing until the orphan delay.
    fn expire_paused(&self, user: &UserId, nodes: &mut Nodes) -> Vec<String> {
        let mut expired = Vec::new();
        for node in nodes
            .nodes
            .iter_mut()
            .filter(|n| n.state == NodeState::Paused)
        {
            node.retired.extend(node.contract());
            node.state = NodeState::Expired;
            expired.push(node.name.clone());
            tracing::info!(user = %user, node = %node.name, "node expired after the grace period");
            self.audit.record(
                super::audit_trail::SYSTEM,
                Some(user),
                "node.expired",
                Some(&node.name),
                "grace period over",
            );
        }
        expired
    }

    /// How long the balance lasts, for /balance and the website's My
    /// nodes: the sentence of the one funding rule.
    pub fn runway_text(
        &self,
        user: &UserId,
        balance: Tft,
        nodes: &Nodes,
        profile: &Profile,
    ) -> anyhow::Result<String> {
        if let Some(grace) = &profile.funding.grace {
            return Ok(format!(
                "Your nodes are paused: the balance ran out. Top up before {} or they are deleted.",
                utc_datetime(grace.deletes_at(&self.rules))
            ));
        }
        let burn = nodes.burn_per_hour(&self.repo.load_orders(user)?);
        Ok(funded_sentence(balance, burn, self.clock.now()))
    }
}
