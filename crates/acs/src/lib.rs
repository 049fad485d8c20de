//! `cwmp-acs`: the CWMP auto-configuration server.
//!
//! - [`session`]: the ACS side of a CWMP session, without I/O (TR-069 3.7.2)
//! - [`cwmp`]: the HTTP endpoint around it (sessions, authentication, files)
//! - [`store`]: devices, parameter trees, tasks, files, tokens (SQLite)
//! - [`tasks`]: what operators queue for devices
//! - [`api`]: the REST API; [`connreq`]: Connection Requests (TR-069 3.2.2)
//! - [`config`], [`metrics`]

pub mod api;
pub mod config;
pub mod connreq;
pub mod cwmp;
pub mod metrics;
pub mod provision;
pub mod server;
pub mod session;
pub mod store;
pub mod tasks;
