//! Free space where downloads go (A.3.2.8: FileSize larger than the free space → 9010).

use std::path::Path;

/// Bytes available to this process on the file system holding `dir` (the first existing
/// ancestor of `dir`, so the check works before the directory is created).
pub fn free_space(dir: &Path) -> std::io::Result<u64> {
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    let stats = rustix::fs::statvfs(existing)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_of_the_temp_dir() {
        let dir = std::env::temp_dir();
        assert!(free_space(&dir).unwrap() > 0);
        // A directory that does not exist yet is measured on its parent's file system.
        assert_eq!(free_space(&dir.join("no/such/dir")).unwrap() / (1 << 24), free_space(&dir).unwrap() / (1 << 24));
    }
}
