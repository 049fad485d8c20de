//! `cwmp-model`: the CPE-side data-model engine.

pub mod builtin;
pub mod facts;
pub mod import;
