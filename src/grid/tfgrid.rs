//! The real ThreeFold Grid v3 backend (`grid.kind = "tfgrid"`), built in
//! layers that each speak one real wire format:
//!
//! - [`proxy`]: the grid proxy REST API (node discovery, node and contract
//!   reads), with a short cache;
//! - [`discovery`]: what Jukebox asks of discovery (location menus, random
//!   candidates with room for a node type), built on the proxy;
//! - [`cache`]: the small time-to-live cache both use;
//! - [`rmb`]: the Reliable Message Bus client (websocket to the relay, signed
//!   token, signed protobuf envelopes) and the Zero-OS deployment commands;
//! - [`chain`]: the TFChain client (subxt's dynamic API): balances, twins,
//!   node contracts;
//! - [`backend`]: the operations tying them together (twin per identity,
//!   deploy with cancel-on-failure, status, delete), each signed by the
//!   user's own twin key;
//! - [`adapter`]: the [`Grid`](crate::grid::Grid) trait over the backend,
//!   with a [`KeyRing`](adapter::KeyRing) that finds identities' keys.
//!
//! Built by `app::build` for `grid.kind = "tfgrid"`, with the store's
//! identities as the key ring (`service/keyring.rs`); money on this grid is
//! each twin's own TFChain account (`service/twin_balance.rs`).

pub mod adapter;
pub mod backend;
pub mod cache;
pub mod chain;
pub mod discovery;
pub mod proxy;
pub mod rmb;

use std::future::Future;

use futures_util::{StreamExt as _, stream};

use crate::grid::{ContractId, GridError};

/// Reads many contracts with `read`, `concurrency` in flight at once,
/// answers in the order asked. When every read failed for a transport
/// reason ([`GridError::Unavailable`]), the grid could not be asked: the
/// outer error says so once rather than per contract.
pub(crate) async fn read_many<T, F, Fut>(
    ids: &[ContractId],
    concurrency: usize,
    read: F,
) -> Result<Vec<Result<T, GridError>>, GridError>
where
    F: FnMut(ContractId) -> Fut,
    Fut: Future<Output = Result<T, GridError>>,
{
    let answers: Vec<Result<T, GridError>> = stream::iter(ids.iter().copied())
        .map(read)
        .buffered(concurrency)
        .collect()
        .await;
    let unreachable = !answers.is_empty()
        && answers
            .iter()
            .all(|a| matches!(a, Err(GridError::Unavailable(_))));
    if unreachable && let Some(Err(e)) = answers.first() {
        return Err(e.clone());
    }
    Ok(answers)
}
