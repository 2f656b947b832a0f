//! Writing the audit trail: who changed what, when. Every node state
//! change, payment and operator action passes here. A trail that cannot be
//! written is logged loudly but never undoes or blocks the change itself.

use super::Service;
use crate::audit::Event;
use crate::ids::UserId;

/// The actor for changes the service makes on its own (monitor, billing,
/// deployer).
pub(super) const SYSTEM: &str = "system";

impl Service {
    pub(super) fn audit(
        &self,
        actor: &str,
        user: Option<&UserId>,
        kind: &str,
        node: Option<&str>,
        detail: impl Into<String>,
    ) {
        let event = Event {
            at: self.now(),
            actor: actor.to_owned(),
            user: user.cloned(),
            kind: kind.to_owned(),
            node: node.map(str::to_owned),
            detail: detail.into(),
        };
        if let Err(e) = self.inner.audit.record(event) {
            tracing::error!(kind, error = %format!("{e:#}"), "could not write the audit trail");
        }
    }
}
