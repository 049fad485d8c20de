//! `cwmp-sim`: a fleet of simulated CPEs in one process, for load tests and demos.
//!
//! Each device is the CPE agent's sans-IO core ([`cwmp_cpe::agent::Agent`]) with its own
//! identity (a serial number from a pattern), data model (one shared schema and template,
//! per-device state only where values differ), events, retries and periodic informs. The
//! devices are not tasks: they are divided among a few *shards* (one task each) that keep
//! their agents and one heap of wake-ups, and a bounded number of sessions run at once, each
//! on a task that holds the device's agent until the session is over.
//!
//! - [`config`]: the settings of a run and its [`Scenario`](config::Scenario);
//! - [`model`]: the shared data model (built-in TR-181/TR-098, or a device dump);
//! - [`identity`]: serial numbers and Connection Request paths;
//! - [`fleet`]: starting, observing and stopping a fleet;
//! - `shard`, `session`, `client`: the scheduling and the HTTP side of sessions;
//! - `connreq`: one Connection Request listener for every device (Digest per device);
//! - [`transfer`]: real or pretended downloads, firmware installed by a reboot;
//! - `operator`: the REST API calls of the firmware wave and the Connection Request storm;
//! - [`stats`], [`histogram`], [`report`]: counters, latencies, the live line and the report.
//!
//! ```no_run
//! # async fn example() -> Result<(), cwmp_sim::fleet::SimError> {
//! use cwmp_sim::config::SimConfig;
//! let config = SimConfig { count: 10_000, acs_url: "http://127.0.0.1:7547/".into(), ..SimConfig::default() };
//! let fleet = cwmp_sim::fleet::Fleet::start(config).await?;
//! tokio::time::sleep(std::time::Duration::from_secs(60)).await;
//! println!("{}", fleet.stop().await.to_text());
//! # Ok(()) }
//! ```

mod api;
pub mod config;
mod connreq;
pub mod fleet;
pub mod histogram;
pub mod identity;
pub mod model;
mod operator;
pub mod report;
mod schedule;
mod session;
mod shard;
pub mod stats;
pub mod transfer;

pub use fleet::{Fleet, SimError};
pub use operator::OperatorReport;
