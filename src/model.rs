//! The bottom layer: plain value types that the core and the adapters
//! share.
//!
//! `grid` holds what the grid talks about (twins, grid nodes, contracts,
//! capacity, places, placements, statuses); `terms` the terms pair TFChain
//! accepts; `payment` what a user is asked to pay; `strkey` the text form
//! of Stellar addresses. Nothing here does IO, and nothing here imports the shell (adapters,
//! channels, the service, config); `tests/tidy.rs` checks both.

pub mod grid;
pub mod payment;
pub mod strkey;
pub mod terms;

pub use grid::{
    Capacity, ContractId, ContractInfo, ContractState, CountryOption, FarmOption, GridNode,
    GridNodeId, Locations, NodeStatus, OwnedContract, Placed, Placement, TwinId, WorkloadState,
};
pub use payment::PaymentRequest;
