//! `cwmp-cpe`: the CPE agent of the CWMP (TR-069) suite.
//!
//! The protocol logic is sans-IO (no sockets, no clock, no randomness of its own), so that a
//! test or the simulator can drive many agents on virtual time:
//!
//! - [`agent`]: the long-lived agent: when to open sessions, the Inform, events, retries,
//!   what happens after a session;
//! - [`session`]: the SOAP side of one session (Table 7, HoldRequests, 8005, cwmp:ID);
//! - [`http`]: the HTTP side of one session (auth, redirects, cookies, compression);
//! - [`events`], [`outbox`], [`retry`], [`schedule`], [`queue`]: event rules (Table 8), the
//!   requests owed to the ACS, the retry intervals (Table 3), periodic and scheduled
//!   informs, the transfer queue;
//! - [`rpc`]: answers to the ACS's requests;
//! - [`persist`]: the agent state that survives a reboot.
//!
//! [`shell`] runs an agent on tokio with real TCP/TLS connections; [`config`] reads its
//! TOML configuration.

pub mod agent;
pub mod client;
pub mod config;
pub mod connreq;
pub mod du;
pub mod events;
pub mod hooks;
pub mod http;
pub mod outbox;
pub mod persist;
pub mod queue;
pub mod retry;
pub mod rpc;
pub mod schedule;
pub mod session;
pub mod shell;
pub mod tls;
pub mod transfer;
