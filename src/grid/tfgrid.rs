//! The real ThreeFold Grid v3 backend (`grid.kind = "tfgrid"`), built in
//! layers that each speak one real wire format:
//!
//! - [`proxy`]: the grid proxy REST API (node discovery, node and contract
//!   reads), with a short cache;
//! - [`discovery`]: what Jukebox asks of discovery (location menus, random
//!   candidates with room for a node type), built on the proxy;
//! - [`cache`]: the small time-to-live cache both use;
//! - [`rmb`]: the Reliable Message Bus client (websocket to the relay, signed
//!   token, signed protobuf envelopes) and the Zero-OS deployment commands.
//!
//! STATUS: these layers are real clients, tested against local fakes. The
//! TFChain client (twins, contracts, balances) and the
//! [`Grid`](crate::grid::Grid) implementation tying them together are not
//! all here yet, so `jukebox check` still refuses `grid.kind = "tfgrid"`.

pub mod cache;
pub mod chain;
pub mod discovery;
pub mod proxy;
pub mod rmb;
