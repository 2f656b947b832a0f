//! Why a node is not running after a deploy or a redeploy: one error type
//! for the deployer's boundary, whose `Display` is the wording the user is
//! shown (in the progress line, the redeploy reply and the node's `Failed`
//! state) and the one place a grid failure becomes user words.

use std::fmt;

use crate::model::grid::GridError;
use crate::reservation::BuildError;

/// Why a node could not be placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotDeployed {
    /// The record is gone.
    Removed,
    /// Deleted or expired before the deploy started.
    Deleted,
    /// Deleted while the grid was being asked.
    DeletedMeanwhile,
    Paused,
    /// Running, but without a recorded placement.
    NoPlacement,
    /// It failed before, for the reason stored with the node.
    FailedBefore(String),
    /// Its node type was taken out of the catalog.
    NotInCatalog,
    /// The user's identity could not be registered as a twin.
    Identity(GridError),
    /// The deployment could not be built from its settings.
    Invalid(BuildError),
    /// The grid refused or failed it.
    Grid(GridError),
}

impl fmt::Display for NotDeployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotDeployed::Removed => f.write_str("it was removed"),
            NotDeployed::Deleted => f.write_str("it was deleted"),
            NotDeployed::DeletedMeanwhile => f.write_str("it was deleted meanwhile"),
            NotDeployed::Paused => f.write_str("it is paused until a top-up"),
            NotDeployed::NoPlacement => f.write_str("no placement recorded"),
            NotDeployed::FailedBefore(why) => f.write_str(why),
            NotDeployed::NotInCatalog => f.write_str("its node type is no longer in the catalog"),
            NotDeployed::Identity(e) => write!(f, "{e}"),
            NotDeployed::Invalid(e) => write!(f, "the deployment is invalid: {e}"),
            NotDeployed::Grid(e) => f.write_str(&grid_words(e)),
        }
    }
}

impl std::error::Error for NotDeployed {}

/// What a grid failure means for the user.
pub fn grid_words(e: &GridError) -> String {
    match e {
        GridError::NoCapacity => "no grid node in the chosen location has room right now".into(),
        GridError::Unavailable(_) => "the grid is unreachable right now".into(),
        GridError::DeployFailed(why) => format!("the grid node reported a failure ({why})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_failures_read_as_user_words() {
        let e = NotDeployed::Grid(GridError::Unavailable("tcp reset".into()));
        assert_eq!(e.to_string(), "the grid is unreachable right now");
        let e = NotDeployed::Grid(GridError::DeployFailed("no disk".into()));
        assert_eq!(e.to_string(), "the grid node reported a failure (no disk)");
        // The identity's own failure is said as it came.
        let e = NotDeployed::Identity(GridError::Unavailable("tcp reset".into()));
        assert_eq!(e.to_string(), "the grid is unreachable: tcp reset");
        let stored = NotDeployed::FailedBefore("it was deleted meanwhile".into());
        assert_eq!(
            stored.to_string(),
            NotDeployed::DeletedMeanwhile.to_string()
        );
    }
}
