//! The deployer website.

pub mod tfconnect;
