//! Jukebox: run blockchain nodes on the ThreeFold Grid by chatting with a bot.
//!
//! # Layout
//!
//! The modules form layers; each imports only from the layers below it
//! (ARCHITECTURE.md, checked by `tests/tidy.rs`):
//!
//! 1. **model**: plain values of the grid and payments (`model`), ids and
//!    money (`ids`, `money`).
//! 2. **core**, pure rules with no IO: the catalog (`catalog`), the
//!    conversation engine (`dialogue`), the typed commands (`command`),
//!    prices and accounts (`pricing`, `ledger`), lifecycle rules (outages,
//!    funding, chain health: `lifecycle`), deployments (`reservation`),
//!    input checks (`validate`), users' records (`user`).
//! 3. **config**: `config.toml` as plain data (`config`).
//! 4. **adapters**: the disk (`store`, `audit`, `alerts`, `backup`), the
//!    grid (`grid`: simulated or real), health and chain probes (`probe`),
//!    wallets (`payments`), operators' endpoints (`ops`, `metrics`, `admin`),
//!    and the `Outbox` trait the service sends through (`channel`).
//! 5. **service**: a repository over users' documents and one component per
//!    concern (`service`).
//! 6. **channels**: what users talk through, each an `Outbox` feeding the
//!    service (`chat`: terminal and Telegram, `web`).
//! 7. **app**: builds the whole process and runs its workers under one
//!    runner (`app`, `runtime`); `main` only parses the command line.
pub mod admin;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod backup;
pub mod catalog;
pub mod channel;
pub mod chat;
pub mod clock;
pub mod command;
pub mod config;
pub mod crypto;
pub mod diagnostics;
pub mod dialogue;
pub mod dialogue_dir;
pub mod grid;
pub mod grid_command;
pub mod ids;
pub mod ledger;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod money;
pub mod ops;
pub mod payments;
pub mod pricing;
pub mod probe;
pub mod qr;
pub mod reservation;
pub mod runtime;
pub mod service;
pub mod store;
pub mod user;
pub mod validate;
pub mod web;
