//! The operators' dashboard on the website, as data: the same reports as
//! `/stats`, `/user` and `/nodes` (`crate::admin`'s structured rows, which
//! the chat's text is rendered from), so the page can show tables with
//! status colours without a second reading of the store.

use super::{Admin, NODES_SHOWN};
use crate::admin::{NodesMatch, Stats, UserReport, audit_day_counts};
use crate::audit::Event;
use crate::ids::UserId;
use crate::store::blocking_io;

/// Events listed with a user (as `/user` lists them).
const USER_EVENTS: usize = 10;

/// Everything the dashboard shows.
#[derive(Clone, Debug)]
pub struct Dashboard {
    pub stats: Stats,
    /// The last 24 hours of the audit trail: (what, how many).
    pub day: [(&'static str, u64); 5],
    /// The reconciler's lines, as `/stats` ends with them.
    pub reconciler: Vec<String>,
    /// Nodes the monitor watches.
    pub watching: usize,
    /// Alerts waiting in the queue.
    pub queued: usize,
    pub maintenance: Option<String>,
    /// The user asked for, when one was.
    pub user: Option<UserPanel>,
    /// The nodes asked for, when a filter (or none) was sent.
    pub nodes: Option<NodesMatch>,
}

/// The user panel: the report, or why there is none.
#[derive(Clone, Debug)]
pub enum UserPanel {
    Found {
        report: Box<UserReport>,
        /// Their recent audit events, newest first.
        events: Vec<Event>,
    },
    /// "No user matches …", "… has no profile."
    Missing(String),
}

impl Admin {
    /// The `/stats` pieces: the stats, the day's audit counts, the
    /// reconciler's lines, watched nodes and queued alerts.
    pub(super) async fn stats_parts(&self) -> anyhow::Result<Dashboard> {
        let now = self.now();
        let store = self.repo.store().clone();
        let stats = blocking_io(|| crate::admin::stats(&store, now))?;
        let day = self.audit.log().count_since(now.saturating_sub(86_400))?;
        let reconciler = self
            .reconciler
            .lines()?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Dashboard {
            stats,
            day: audit_day_counts(&day),
            reconciler,
            watching: self.repo.watch().len(),
            queued: self.alerter.queue().depth(),
            maintenance: self.maintenance(),
            user: None,
            nodes: None,
        })
    }

    /// The dashboard for `operator`, with the user `user_query` names and
    /// the nodes `nodes_filter` matches when given; `None` for anyone who
    /// is not an operator.
    pub async fn dashboard(
        &self,
        operator: &UserId,
        user_query: Option<&str>,
        nodes_filter: Option<&str>,
    ) -> anyhow::Result<Option<Dashboard>> {
        if !self.is_operator(operator) {
            return Ok(None);
        }
        let mut dashboard = self.stats_parts().await?;
        let now = self.now();
        let store = self.repo.store().clone();
        if let Some(query) = user_query.map(str::trim).filter(|q| !q.is_empty()) {
            dashboard.user = Some(match self.find_user(query)? {
                Some(id) => match blocking_io(|| crate::admin::user_details(&store, &id, now))? {
                    Some(report) => UserPanel::Found {
                        report: Box::new(report),
                        events: self.audit.log().recent_for(&id, USER_EVENTS)?,
                    },
                    None => UserPanel::Missing(format!("{id} has no profile.")),
                },
                None => UserPanel::Missing(format!("No user matches {query:?}.")),
            });
        }
        if let Some(filter) = nodes_filter {
            let filter = Some(filter.trim()).filter(|f| !f.is_empty());
            dashboard.nodes = Some(blocking_io(|| {
                crate::admin::nodes_matching(&store, filter, NODES_SHOWN)
            })?);
        }
        Ok(Some(dashboard))
    }
}
