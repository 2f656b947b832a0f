//! The real ThreeFold Grid v3 backend (`grid.kind = "tfgrid"`), built in
//! layers that each speak one real wire format:
//!
//! - [`proxy`]: the grid proxy REST API (node discovery and node reads),
//!   with a short cache;
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
//! - [`adapter`]: the [`Grid`](crate::grid::Grid) trait over the backend;
//!   the calls that sign take the unsealed identity key from the caller.
//! - [`doctor`]: the operator's checks of the live path over all of the
//!   above (`jukebox grid doctor`, `jukebox grid nodes`).
//!
//! Built by `app::build` for `grid.kind = "tfgrid"`; the service's deployer
//! unseals a user's identity key for the grid work it does for that user.
//! Money on this grid is each twin's own TFChain account
//! (`service/twin_balance.rs`).

pub mod adapter;
pub mod backend;
pub mod cache;
pub mod chain;
pub mod discovery;
pub mod doctor;
pub mod proxy;
pub mod rmb;
pub mod settings;
