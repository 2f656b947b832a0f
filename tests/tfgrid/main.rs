//! The real ThreeFold Grid v3 backend's clients against local fakes of the
//! grid's services, all on loopback: the grid proxy (`fake_gridproxy`).

mod fake_gridproxy;
mod proxy;
