//! What the workspace's tests share about their environment (a dev-dependency only): where
//! `../shared` is (the specification's data models and fixtures), and how a test that needs
//! something absent skips.
//!
//! A fresh clone without `../shared` or PostgreSQL passes `cargo test --workspace`: such tests
//! say on stderr why they skipped and return. Under `CWMP_TEST_REQUIRE_ALL=1` (CI, `.ci/run`)
//! they fail instead, so a suite that skipped anything never passes there.

use std::path::PathBuf;

/// Set to `1`, a test that would skip fails.
pub const REQUIRE_ALL: &str = "CWMP_TEST_REQUIRE_ALL";

/// Overrides where `../shared` is (a git worktree, say, has no `../shared` of its own).
pub const SHARED_DIR: &str = "CWMP_TEST_SHARED_DIR";

/// Records that the calling test is skipped for `reason`, which it then does by returning:
/// says so on stderr, or panics under [`REQUIRE_ALL`].
pub fn skip(reason: &str) {
    if std::env::var(REQUIRE_ALL).as_deref() == Ok("1") {
        panic!("{REQUIRE_ALL}=1, and this test cannot run: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// The `shared` directory beside the workspace, or [`SHARED_DIR`].
pub fn shared_dir() -> PathBuf {
    match std::env::var_os(SHARED_DIR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
    }
}

/// A file of the shared directory (`fixtures/…`, `datamodels/…`), or `None` after
/// [`skip`] when it is absent.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!("{} is absent", path.display()));
        None
    }
}
