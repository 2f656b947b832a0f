//! The operators' `/fault` command as a typed value: which part of the
//! embedded (simulated) grid to take down or bring up. Pure: the service's
//! `Faults` component applies it to the simulated grid.

use crate::model::ContractId;

/// What `/fault` shows when its argument is not understood: every
/// [`FaultKind`] (a test holds it to that).
pub const FAULT_HELP: &str = "Usage: /fault node <grid node id> down|up, /fault workload <contract> down|up, /fault app <contract> down|up, /fault chain <contract> stall|behind [blocks]|oldversion|clear, /fault link <contract or node name> down|up. The monitor notices within two checks.";

/// The first word of `/fault`: what part of the simulation it is about.
/// `node`, `workload` and `app` are the grid's, read whole by
/// [`Fault::parse`]; `chain` and `link` are the simulated chains' and
/// network dashboards' faults, whose rest the service's watches read (they
/// name a running node by contract or name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Node,
    Workload,
    App,
    Chain,
    Link,
}

impl FaultKind {
    /// Every kind; the only way a word becomes one ([`FaultKind::from_word`]).
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Node,
        FaultKind::Workload,
        FaultKind::App,
        FaultKind::Chain,
        FaultKind::Link,
    ];

    /// The word an operator types.
    pub fn word(self) -> &'static str {
        match self {
            FaultKind::Node => "node",
            FaultKind::Workload => "workload",
            FaultKind::App => "app",
            FaultKind::Chain => "chain",
            FaultKind::Link => "link",
        }
    }

    pub fn from_word(word: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.word() == word)
    }
}

/// The part of the simulated grid a fault is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// A grid node, by the number typed (which may not fit a node id: the
    /// grid then says there is no such node).
    Node(u64),
    /// A contract's workload.
    Workload(ContractId),
    /// The application inside a contract's workload (its health check).
    App(ContractId),
}

/// `/fault <target> <id> down|up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub target: FaultTarget,
    /// Down (a fault injected) or up (restored).
    pub down: bool,
}

/// Why a `/fault` argument was not understood; `Display` is the reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultUsage {
    #[error("{FAULT_HELP}")]
    Usage,
    #[error("{0:?} is not a number. {FAULT_HELP}")]
    NotANumber(String),
}

impl Fault {
    /// Reads `/fault`'s argument: three words, the last `down` or `up`, the
    /// second a number, the first `node`, `workload` or `app`.
    pub fn parse(arg: Option<&str>) -> Result<Fault, FaultUsage> {
        let words: Vec<&str> = arg.unwrap_or("").split_whitespace().collect();
        let (target, id, down) = match words.as_slice() {
            [t, id, "down"] => (*t, *id, true),
            [t, id, "up"] => (*t, *id, false),
            _ => return Err(FaultUsage::Usage),
        };
        let number = id
            .parse::<u64>()
            .map_err(|_| FaultUsage::NotANumber(id.to_owned()))?;
        let target = match FaultKind::from_word(target) {
            Some(FaultKind::Node) => FaultTarget::Node(number),
            Some(FaultKind::Workload) => FaultTarget::Workload(ContractId(number)),
            Some(FaultKind::App) => FaultTarget::App(ContractId(number)),
            Some(FaultKind::Chain | FaultKind::Link) | None => return Err(FaultUsage::Usage),
        };
        Ok(Fault { target, down })
    }

    /// The target's word and number, as the operator typed them.
    pub fn describe(&self) -> (&'static str, u64) {
        match self.target {
            FaultTarget::Node(n) => ("node", n),
            FaultTarget::Workload(c) => ("workload", c.0),
            FaultTarget::App(c) => ("app", c.0),
        }
    }

    /// `down` or `up`.
    pub fn direction(&self) -> &'static str {
        if self.down { "down" } else { "up" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_typed_and_bad_ones_get_the_usage() {
        assert_eq!(
            Fault::parse(Some("node 12 down")),
            Ok(Fault {
                target: FaultTarget::Node(12),
                down: true
            })
        );
        assert_eq!(
            Fault::parse(Some(" app 7  up ")),
            Ok(Fault {
                target: FaultTarget::App(ContractId(7)),
                down: false
            })
        );
        assert_eq!(Fault::parse(None), Err(FaultUsage::Usage));
        assert_eq!(
            Fault::parse(Some("node 12 sideways")),
            Err(FaultUsage::Usage)
        );
        assert_eq!(Fault::parse(Some("disk 12 down")), Err(FaultUsage::Usage));
        let bad = Fault::parse(Some("node twelve down")).unwrap_err();
        assert_eq!(bad, FaultUsage::NotANumber("twelve".into()));
        assert!(
            bad.to_string()
                .starts_with("\"twelve\" is not a number. Usage: /fault")
        );
        let f = Fault::parse(Some("workload 9 up")).unwrap();
        assert_eq!((f.describe(), f.direction()), (("workload", 9), "up"));
    }

    #[test]
    fn the_help_names_every_fault_the_parser_takes() {
        for kind in FaultKind::ALL {
            let word = kind.word();
            assert_eq!(FaultKind::from_word(word), Some(kind));
            assert!(
                FAULT_HELP.contains(&format!("/fault {word} <")),
                "FAULT_HELP does not name /fault {word}: {FAULT_HELP}"
            );
        }
        // The grid's kinds are read whole here; the chains' and dashboards'
        // are routed to the service's watches before, and refused here.
        for kind in FaultKind::ALL {
            let parsed = Fault::parse(Some(&format!("{} 3 down", kind.word())));
            let grid = !matches!(kind, FaultKind::Chain | FaultKind::Link);
            assert_eq!(parsed.is_ok(), grid, "{kind:?}: {parsed:?}");
        }
        assert_eq!(FaultKind::from_word("disk"), None);
        assert_eq!(FaultKind::from_word("Node"), None);
        // The help speaks for every form it names.
        assert_eq!(FAULT_HELP.matches("/fault ").count(), FaultKind::ALL.len());
    }
}
