//! `cwmp-acs`: the CWMP auto-configuration server.

pub mod session;
pub mod store;
pub mod tasks;
