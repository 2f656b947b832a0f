//! Raising alerts: into the durable queue for one user (honouring their
//! mutes and whether they blocked the bot), or to every operator. Delivery
//! is the queue's dispatcher's business (`alerts`), never a channel's
//! directly: an alert counts as raised once it is enqueued (fsync'd).

use std::sync::Arc;

use super::repo::Repo;
use crate::alerts::{Alert, AlertQueue, Priority};
use crate::clock::Clock;
use crate::dialogue::Message;
use crate::ids::UserId;
use crate::lifecycle::chain_state::ChainAlertKind;
use crate::lifecycle::{FundingState, Topic};

/// The alert queue, with what deciding who gets an alert needs.
pub struct Alerter {
    repo: Arc<Repo>,
    queue: AlertQueue,
    clock: Arc<dyn Clock>,
    /// Who gets operators' notices (`admin.operators`).
    operators: Vec<UserId>,
}

impl Alerter {
    pub fn new(
        repo: Arc<Repo>,
        queue: AlertQueue,
        clock: Arc<dyn Clock>,
        operators: Vec<UserId>,
    ) -> Alerter {
        Alerter {
            repo,
            queue,
            clock,
            operators,
        }
    }

    /// The durable queue (its dispatcher runs beside the service).
    pub fn queue(&self) -> &AlertQueue {
        &self.queue
    }

    /// Queues an alert for `user` unless they muted its kind or blocked the
    /// bot. `key` only needs to be unique per user; the same key raised
    /// twice is sent once.
    pub async fn raise(
        &self,
        user: &UserId,
        priority: Priority,
        key: String,
        message: Message,
    ) -> anyhow::Result<()> {
        let topic = match priority {
            Priority::Reminder => Topic::Reminder,
            Priority::Outage | Priority::Recovery => Topic::Health,
            Priority::Notice => Topic::Notice,
        };
        self.raise_unless(user, priority, key, message, |f| f.mute.silences(topic))
            .await
    }

    /// [`Self::raise`] for a chain alert, muted by its own kind (or by
    /// muting everything).
    pub async fn raise_chain(
        &self,
        user: &UserId,
        kind: ChainAlertKind,
        priority: Priority,
        key: String,
        message: Message,
    ) -> anyhow::Result<()> {
        self.raise_unless(user, priority, key, message, |f| {
            kind.muted(f.mute, &f.chain_mutes)
        })
        .await
    }

    async fn raise_unless(
        &self,
        user: &UserId,
        priority: Priority,
        key: String,
        message: Message,
        muted: impl FnOnce(&FundingState) -> bool,
    ) -> anyhow::Result<()> {
        let Some(profile) = self.repo.load_profile(user)? else {
            return Ok(());
        };
        let muted = muted(&profile.funding);
        if muted || profile.blocked {
            tracing::debug!(user = %user, key = %key, muted, blocked = profile.blocked, "alert not sent");
            return Ok(());
        }
        let alert = Alert {
            key: format!("{user}:{key}"),
            user: user.clone(),
            priority,
            message,
            raised_at: self.clock.now(),
        };
        self.queue.enqueue(vec![alert])?;
        Ok(())
    }

    /// Queues `text` as a notice to every operator (`admin.operators`),
    /// each under `{operator}:{key}`; mutes do not apply to operators.
    pub fn alert_operators(&self, key: &str, text: String) -> anyhow::Result<()> {
        let now = self.clock.now();
        let alerts: Vec<Alert> = self
            .operators
            .iter()
            .map(|operator| Alert {
                key: format!("{operator}:{key}"),
                user: operator.clone(),
                priority: Priority::Notice,
                message: Message::text(text.clone()),
                raised_at: now,
            })
            .collect();
        if !alerts.is_empty() {
            self.queue.enqueue(alerts)?;
        }
        Ok(())
    }
}
