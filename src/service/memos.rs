//! The memo index: which user and what (an order id, or top-ups) each
//! issued payment-request memo pays, in `global/memos/`. Written when a
//! request is made, read when a payment arrives; nothing else.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::repo::Repo;
use crate::ids::UserId;
use crate::payments::is_issued_memo;

/// Where a payment memo points: whose order it pays.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MemoIndex {
    pub user: UserId,
    pub order: String,
}

/// The memo index over the repository.
pub struct Memos {
    repo: Arc<Repo>,
}

impl Memos {
    pub fn new(repo: Arc<Repo>) -> Memos {
        Memos { repo }
    }

    /// The order and user a payment request's memo was issued for; `None`
    /// without a memo, for a memo that is not a request memo, or one no
    /// request was issued under.
    pub(crate) fn find(&self, memo: Option<&str>) -> anyhow::Result<Option<MemoIndex>> {
        match memo.filter(|m| is_issued_memo(m)) {
            Some(memo) => self.repo.load_global(&format!("memos/{memo}")),
            None => Ok(None),
        }
    }

    /// Points `memo` at `user`'s `order` (durably, before the request is
    /// shown, so a payment can never arrive for an unindexed memo).
    pub fn index(&self, memo: &str, user: &UserId, order: &str) -> anyhow::Result<()> {
        self.repo.save_global(
            &format!("memos/{memo}"),
            &MemoIndex {
                user: user.clone(),
                order: order.to_owned(),
            },
        )
    }
}
