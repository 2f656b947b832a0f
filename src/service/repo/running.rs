//! What a monitor's watch learnt about running nodes, written back in one
//! save: the chain watch's `NodeChain` and the dashboard watch's `NodeLink`
//! are the same mechanism with different records.
//!
//! The sweep read the nodes without the user's lock, and the probes took
//! their time: meanwhile a node may have been deleted, paused or moved. So
//! a change is applied only to a node still running on the contract it was
//! read for (a moved node's new machine is read afresh next sweep), under
//! the user's lock, with one save for all of that user's changes. What the
//! apply step returns (the events to raise) is handed back to be raised
//! after the lock is let go: alerts are slow (the queue, the audit trail)
//! and an episode is raised once, after its record is durable.

use crate::grid::ContractId;
use crate::ids::UserId;
use crate::user::{NodeRecord, NodeState};

use super::Repo;

/// What [`Repo::apply_to_running`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied<R> {
    /// Changes applied (and saved); the others' nodes had changed meanwhile.
    pub written: usize,
    /// What the apply step returned, in the changes' order, to be raised now.
    pub raised: Vec<R>,
}

impl Repo {
    /// Applies each of `changes`, `(node name, contract read, change)`, to
    /// `user`'s node of that name if it is still running on that contract,
    /// under the user's lock and in one save (none when nothing applied).
    /// `apply` writes the change into the record and says what to raise.
    pub async fn apply_to_running<C, R>(
        &self,
        user: &UserId,
        changes: impl IntoIterator<Item = (String, ContractId, C)>,
        mut apply: impl FnMut(&mut NodeRecord, C) -> Option<R>,
    ) -> anyhow::Result<Applied<R>> {
        let _guard = self.lock(user).await;
        let mut nodes = self.load_nodes(user)?;
        let mut applied = Applied {
            written: 0,
            raised: Vec::new(),
        };
        for (name, contract, change) in changes {
            let Some(node) = nodes
                .get_mut(&name)
                .filter(|n| n.state == NodeState::Running && n.contract() == Some(contract))
            else {
                continue;
            };
            applied.raised.extend(apply(node, change));
            applied.written += 1;
        }
        if applied.written > 0 {
            self.save_nodes(user, &nodes)?;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::MasterKey;
    use crate::store::Store;
    use crate::user::Nodes;

    fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (
            dir,
            Repo::new(store, Arc::new(MasterKey::from_bytes([5; 32]))),
        )
    }

    fn node(name: &str, state: NodeState, contract: u64) -> NodeRecord {
        NodeRecord {
            placed: Some(crate::user::test_placement(contract)),
            ..NodeRecord::bare(name, state)
        }
    }

    #[tokio::test]
    async fn applies_only_to_running_nodes_on_the_contract_read_and_saves_once() {
        let (_dir, repo) = repo();
        let user = UserId::parse("term:alice").unwrap();
        let nodes = Nodes {
            nodes: vec![
                node("running", NodeState::Running, 1),
                node("moved", NodeState::Running, 3),
                node("paused", NodeState::Paused, 4),
                node("deleted", NodeState::Deleted, 5),
                node("quiet", NodeState::Running, 7),
            ],
            ..Nodes::default()
        };
        repo.save_nodes(&user, &nodes).unwrap();
        let changes = [
            ("running", 1),
            ("moved", 2),
            ("paused", 4),
            ("deleted", 5),
            ("gone", 6),
            ("quiet", 7),
        ]
        .map(|(name, c)| (name.to_owned(), ContractId(c), format!("ssh {name}")));
        let applied = repo
            .apply_to_running(&user, changes, |node, change| {
                node.ssh_key = Some(change);
                // Something to raise for one node only.
                (node.name == "running").then(|| node.name.clone())
            })
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                written: 2,
                raised: vec!["running".to_owned()],
            }
        );
        let stored = repo.load_nodes(&user).unwrap();
        let keys: Vec<_> = stored
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.ssh_key.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("running", Some("ssh running")),
                ("moved", None),
                ("paused", None),
                ("deleted", None),
                ("quiet", Some("ssh quiet")),
            ]
        );
    }

    #[tokio::test]
    async fn writes_nothing_when_no_change_applies() {
        let (_dir, repo) = repo();
        let user = UserId::parse("term:bob").unwrap();
        let applied = repo
            .apply_to_running(&user, [("ghost".to_owned(), ContractId(9), ())], |_, ()| {
                Some(())
            })
            .await
            .unwrap();
        assert_eq!(applied.written, 0);
        assert!(applied.raised.is_empty());
        // No nodes document was made for a user who has none.
        let stored: Option<Nodes> = repo.store().read(&user, crate::user::NODES).unwrap();
        assert!(stored.is_none());
    }
}
