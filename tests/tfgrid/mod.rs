//! The real ThreeFold Grid v3 backend's clients against local fakes of the
//! grid's services, all on loopback: the grid proxy (`fake_gridproxy`), the
//! RMB relay with Zero-OS nodes behind it (`fake_relay`) and a TFChain node
//! (`fake_tfchain`) and the flist hub (`fake_hub`), each served through
//! `fake_server`; golden extrinsic
//! bytes (`chain_golden`); the whole backend against all three (`backend`,
//! sharing `setup`); the monitor's fast batch (`monitor`); adopting an
//! interrupted deploy's contract and a twin's contracts (`owned`); and a whole
//! Jukebox on the real grid's backend, conversation to contract
//! (`service`).

mod backend;
mod chain;
mod chain_golden;
mod doctor;
mod fake_gridproxy;
mod fake_hub;
mod fake_relay;
mod fake_server;
mod fake_tfchain;
mod monitor;
mod owned;
mod proxy;
mod rmb;
mod service;
mod setup;
