//! Chat channels: adapters between a medium and the service.
pub mod telegram;
pub mod terminal;
