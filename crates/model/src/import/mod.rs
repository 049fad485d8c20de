//! Importers: BBF data-model XML ([`bbf`]) and device parameter dumps ([`fixture`]).

pub mod bbf;
pub mod fixture;

pub use bbf::{ImportError, import_file, import_text};
