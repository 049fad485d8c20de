//! The package format of the reference execution environment.
//!
//! A package is a tar archive, optionally gzip-compressed (detected by its magic bytes, not
//! its name). At its root it holds a manifest, `cwmp-du.toml`:
//!
//! ```toml
//! name = "hello"              # DeploymentUnit.Name (required, at most 64 characters)
//! vendor = "example.com"      # DeploymentUnit.Vendor, the author's domain (required)
//! version = "1.2.0"           # DeploymentUnit.Version (required, at most 32 characters)
//! description = "Says hello"  # optional
//! ee_type = "cwmp-directory"  # optional: the kind of EE it needs (else 9025)
//!
//! [[execution_unit]]          # zero or more, names unique within the package
//! name = "hello-daemon"
//! description = "The daemon"  # optional
//! auto_start = true           # optional, default false
//! ```
//!
//! Every other entry (regular files, directories, relative symbolic links that stay inside
//! the package) is unpacked into the DU's directory. Absolute paths, `..`, hard links and
//! device files make the package unusable (9018). The unpacked size and the number of
//! entries are bounded (9027 beyond).

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Component, Path};

use cwmp_wire::FaultCode;
use serde::Deserialize;

use super::ee::DuError;

/// The manifest's file name at the package root.
pub const MANIFEST_NAME: &str = "cwmp-du.toml";
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// The manifest of a package.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub vendor: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub ee_type: Option<String>,
    #[serde(default, rename = "execution_unit")]
    pub execution_units: Vec<EuManifest>,
}

/// One `[[execution_unit]]` of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EuManifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub auto_start: bool,
}

/// Bounds on what one package may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageLimits {
    /// Total bytes of the unpacked files. Default 1 GiB.
    pub max_unpacked_bytes: u64,
    /// Entries in the archive. Default 100 000.
    pub max_entries: usize,
}

impl Default for PackageLimits {
    fn default() -> Self {
        Self { max_unpacked_bytes: 1 << 30, max_entries: 100_000 }
    }
}

fn unusable(message: impl Into<String>) -> DuError {
    DuError::new(FaultCode::FileCorrupted, message)
}

fn too_big(message: impl Into<String>) -> DuError {
    DuError::new(FaultCode::SystemResourcesExceeded, message)
}

fn io_error(context: &str, e: &std::io::Error) -> DuError {
    if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) {
        too_big(format!("{context}: {e}"))
    } else {
        unusable(format!("{context}: {e}"))
    }
}

/// Unpacks `package` into the directory `dest` (created, must not exist) and returns its
/// manifest. On error `dest` may hold part of the package: the caller removes it.
pub fn unpack(package: &Path, dest: &Path, limits: &PackageLimits) -> Result<Manifest, DuError> {
    let mut file = File::open(package).map_err(|e| io_error("cannot open the package", &e))?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = File::open(package).map_err(|e| io_error("cannot open the package", &e))?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    std::fs::create_dir(dest).map_err(|e| io_error("cannot create the DU directory", &e))?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(false);
    archive.set_overwrite(false);
    let mut manifest = None;
    let mut total: u64 = 0;
    let entries = archive.entries().map_err(|e| io_error("not a tar archive", &e))?;
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(too_big(format!("more than {} entries", limits.max_entries)));
        }
        let mut entry = entry.map_err(|e| io_error("corrupt archive", &e))?;
        let path = entry.path().map_err(|e| io_error("bad entry name", &e))?.into_owned();
        let relative: Vec<Component<'_>> = path.components().filter(|c| *c != Component::CurDir).collect();
        if relative.iter().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(unusable(format!("entry outside the package: {}", path.display())));
        }
        let kind = entry.header().entry_type();
        if relative.len() == 1 && relative[0].as_os_str() == MANIFEST_NAME && kind.is_file() {
            if entry.size() > MAX_MANIFEST_BYTES {
                return Err(unusable("manifest too large"));
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| io_error("unreadable manifest", &e))?;
            manifest = Some(text);
            continue;
        }
        if kind.is_symlink() {
            let target = entry.link_name().map_err(|e| io_error("bad link", &e))?.unwrap_or_default();
            if escapes(&path, &target) {
                return Err(unusable(format!("link leaving the package: {}", path.display())));
            }
        } else if !(kind.is_file()
            || kind.is_dir()
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions())
        {
            return Err(unusable(format!("unsupported entry type for {}", path.display())));
        }
        total = total.saturating_add(entry.size());
        if total > limits.max_unpacked_bytes {
            return Err(too_big(format!("unpacks to more than {} bytes", limits.max_unpacked_bytes)));
        }
        if !entry.unpack_in(dest).map_err(|e| io_error("cannot unpack", &e))? {
            return Err(unusable(format!("entry refused: {}", path.display())));
        }
    }
    let text = manifest.ok_or_else(|| unusable(format!("no {MANIFEST_NAME} in the package")))?;
    parse_manifest(&text)
}

/// Reads and checks a manifest.
pub fn parse_manifest(text: &str) -> Result<Manifest, DuError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| unusable(format!("bad manifest: {e}")))?;
    let field = |name: &str, value: &str, max: usize| {
        if value.trim().is_empty() || value.chars().count() > max {
            Err(unusable(format!("manifest {name} must have 1 to {max} characters")))
        } else {
            Ok(())
        }
    };
    field("name", &manifest.name, 64)?;
    field("vendor", &manifest.vendor, 128)?;
    field("version", &manifest.version, 32)?;
    let mut names = std::collections::HashSet::new();
    for eu in &manifest.execution_units {
        field("execution_unit name", &eu.name, 32)?;
        if !names.insert(eu.name.as_str()) {
            return Err(unusable(format!("execution unit {} appears twice", eu.name)));
        }
    }
    Ok(manifest)
}

/// Whether a symbolic link at `path` pointing to `target` leads outside the package.
fn escapes(path: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    // Depth of the link's directory, then walk the target.
    let mut depth = path.components().filter(|c| matches!(c, Component::Normal(_))).count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            _ => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Orders versions: split on `.` and `-`, numeric parts compared as numbers (`1.10` >
/// `1.9`), other parts as text; a version that extends another is greater (`2.0.1` >
/// `2.0`). Used to refuse downgrades (9030).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| v.split(['.', '-']).map(str::to_owned).collect::<Vec<_>>();
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests() {
        let m = parse_manifest(
            r#"
            name = "hello"
            vendor = "example.com"
            version = "1.0"
            [[execution_unit]]
            name = "daemon"
            auto_start = true
            "#,
        )
        .unwrap();
        assert_eq!((m.name.as_str(), m.execution_units.len(), m.execution_units[0].auto_start), ("hello", 1, true));
        for bad in [
            "name = 'x'\nvendor = 'v'",
            "name = ''\nvendor = 'v'\nversion = '1'",
            "name = 'x'\nvendor = 'v'\nversion = '123456789012345678901234567890123'",
            "name = 'x'\nvendor = 'v'\nversion = '1'\n[[execution_unit]]\nname='a'\n[[execution_unit]]\nname='a'",
            "not toml",
        ] {
            assert_eq!(parse_manifest(bad).unwrap_err().fault, FaultCode::FileCorrupted, "{bad}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.1", "1.0"), Ordering::Greater);
        assert_eq!(compare_versions("2.0-beta", "2.0-alpha"), Ordering::Greater);
        assert_eq!(compare_versions("0.9", "1"), Ordering::Less);
    }

    #[test]
    fn link_escapes() {
        assert!(!escapes(Path::new("a/link"), Path::new("b")));
        assert!(!escapes(Path::new("a/link"), Path::new("../b")));
        assert!(escapes(Path::new("a/link"), Path::new("../../b")));
        assert!(escapes(Path::new("link"), Path::new("/etc/passwd")));
    }
}
