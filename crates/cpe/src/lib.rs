//! CWMP (TR-069) CPE agent.
//!
//! The protocol logic (session, events, retries, schedules, RPC dispatch) is sans-IO: time is
//! passed in, randomness is injected, bytes go in and out. `shell` runs it on tokio.

pub mod config;
pub mod connreq;
pub mod transfer;
