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
//!   deploy with cancel-on-failure, status, delete).
//!
//! STATUS: every layer is a real client, tested against local fakes of its
//! service. The [`Grid`](crate::grid::Grid) trait is not implemented yet: its
//! methods carry no signing key, and on the real grid every action is signed
//! by the user's own twin key. Until that interface changes and the service
//! passes keys, `jukebox check` refuses `grid.kind = "tfgrid"`.

pub mod backend;
pub mod cache;
pub mod chain;
pub mod discovery;
pub mod proxy;
pub mod rmb;
