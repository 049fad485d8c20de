//! Agent configuration (TOML).
