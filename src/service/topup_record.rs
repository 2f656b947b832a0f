//! The per-user record of recent top-up requests (the `topups` document):
//! the requests themselves, so a sandbox pay button or a late payment finds
//! its request, and the period a request funds every node for when it was
//! asked for a period. Over the repository only; the caller holds the
//! user's lock for writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::repo::Repo;
use crate::ids::UserId;
use crate::payments::PaymentRequest;

/// The per-user document of recent top-up requests.
const TOP_UPS: &str = "topups";
/// Memo index entries of top-ups name this instead of an order.
pub(super) const TOP_UP_ORDER: &str = "top-up";
/// Requests kept per user (older ones can still be paid: the memo index
/// keeps pointing at the user).
const KEEP: usize = 10;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct TopUps {
    requests: Vec<PaymentRequest>,
    /// Memo -> the period (seconds) the request funds every node for, for
    /// requests made for a period rather than an amount.
    #[serde(default)]
    periods: BTreeMap<String, u64>,
}

/// Users' top-up records.
pub struct TopUpRecords {
    repo: Arc<Repo>,
}

impl TopUpRecords {
    pub fn new(repo: Arc<Repo>) -> TopUpRecords {
        TopUpRecords { repo }
    }

    /// The user's own top-up request with `memo`, if they still have it.
    pub fn request(&self, user: &UserId, memo: &str) -> anyhow::Result<Option<PaymentRequest>> {
        let top_ups: TopUps = self.repo.load_doc(user, TOP_UPS)?;
        // The bridge's memo is the same for every request: the newest counts.
        Ok(top_ups.requests.into_iter().rev().find(|r| r.memo == memo))
    }

    /// The period (seconds) a top-up request funded every node for, if it
    /// was asked for a period.
    pub fn period(&self, user: &UserId, memo: &str) -> anyhow::Result<Option<u64>> {
        let top_ups: TopUps = self.repo.load_doc(user, TOP_UPS)?;
        Ok(top_ups.periods.get(memo).copied())
    }

    /// Keeps `request` (the newest [`KEEP`]), with the period it funds.
    pub fn keep(
        &self,
        user: &UserId,
        request: &PaymentRequest,
        period_secs: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut top_ups: TopUps = self.repo.load_doc(user, TOP_UPS)?;
        top_ups.requests.push(request.clone());
        let excess = top_ups.requests.len().saturating_sub(KEEP);
        top_ups.requests.drain(..excess);
        // The bridge reuses one memo: the newest request's period counts.
        match period_secs {
            Some(p) => top_ups.periods.insert(request.memo.clone(), p),
            None => top_ups.periods.remove(&request.memo),
        };
        let kept = &top_ups.requests;
        top_ups
            .periods
            .retain(|memo, _| kept.iter().any(|r| &r.memo == memo));
        self.repo.save_doc(user, TOP_UPS, &top_ups)
    }
}
