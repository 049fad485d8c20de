//! Provisioning: presets that declare what devices of a kind should look like, converged on
//! in each session (issue "Provisioning").

pub mod declare;
pub mod expr;
pub mod planner;
pub mod preset;
pub mod run;
pub mod snapshot;
