//! Provisioning: presets that declare what devices of a kind should look like, converged on
//! in each session (issue "Provisioning"), with GenieACS's scripts, pseudo-parameters,
//! built-in provisions, extensions and preset forms (issue "Moving from GenieACS").

pub mod builtin;
pub mod declare;
pub mod expr;
pub mod ext;
pub mod genieacs;
pub mod planner;
pub mod preset;
pub mod pseudo;
pub mod run;
pub mod snapshot;
