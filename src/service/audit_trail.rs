//! Writing the audit trail: who changed what, when. Every node state
//! change, payment and operator action passes here. A trail that cannot be
//! written is logged loudly but never undoes or blocks the change itself.

use std::sync::Arc;

use crate::audit::{AuditLog, Event};
use crate::clock::Clock;
use crate::ids::UserId;

/// The actor for changes the service makes on its own (monitor, billing,
/// deployer).
pub(super) const SYSTEM: &str = "system";

/// The audit log with the clock that stamps its events.
pub struct AuditTrail {
    log: AuditLog,
    clock: Arc<dyn Clock>,
}

impl AuditTrail {
    pub fn new(log: AuditLog, clock: Arc<dyn Clock>) -> AuditTrail {
        AuditTrail { log, clock }
    }

    /// The log itself, for reading trails (operator reports).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    pub fn record(
        &self,
        actor: &str,
        user: Option<&UserId>,
        kind: &str,
        node: Option<&str>,
        detail: impl Into<String>,
    ) {
        let event = Event {
            at: self.clock.now(),
            actor: actor.to_owned(),
            user: user.cloned(),
            kind: kind.to_owned(),
            node: node.map(str::to_owned),
            detail: detail.into(),
        };
        if let Err(e) = self.log.record(event) {
            tracing::error!(kind, error = %format!("{e:#}"), "could not write the audit trail");
        }
    }
}
