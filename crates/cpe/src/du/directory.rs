//! The reference execution environment: packages ([`super::package`]) unpacked into one
//! directory per Deployment Unit, with an inventory file written atomically.
//!
//! Layout under its root directory:
//!
//! * `inventory.json`: the installed DUs and EUs and whether the EE is enabled, replaced
//!   atomically (write, fsync, rename, fsync of the directory) after every change;
//! * `units/<n>/`: the files of one installed DU version;
//! * `staging/`: packages being unpacked.
//!
//! A change unpacks into `staging/`, moves the result under `units/`, then writes the
//! inventory; the inventory is the commit point. Opening the EE removes whatever a crash
//! left behind (staging directories, unit directories the inventory does not name), so an
//! interrupted Install leaves no DU and an interrupted Update or Uninstall leaves the old
//! version (Appendix VI D-14).
//!
//! Execution Units are inert here (library-type EUs, Appendix VI E-2): starting and
//! stopping them changes their state only. A device that runs programs implements
//! [`ExecutionEnvironment`] over its own process supervisor.

use std::path::{Path, PathBuf};

use cwmp_wire::FaultCode;
use serde::{Deserialize, Serialize};

use super::ee::{DeploymentUnit, DuError, ExecEnvInfo, ExecutionEnvironment, ExecutionUnit};
use super::package::{Manifest, PackageLimits, compare_versions, unpack};
use super::state::{DuStatus, EuRequestedState, EuStatus, ExecutionFaultCode, eu_transition};
use super::uuid::{du_uuid, same_uuid};

/// The `ExecEnv.{i}.Type` of [`DirectoryEe`], which packages may name in `ee_type`.
pub const DIRECTORY_EE_TYPE: &str = "cwmp-directory";

const INVENTORY: &str = "inventory.json";

/// The reference [`ExecutionEnvironment`]; see the [module documentation](self).
#[derive(Debug)]
pub struct DirectoryEe {
    root: PathBuf,
    name: String,
    limits: PackageLimits,
    allow_downgrade: bool,
    inventory: Inventory,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Inventory {
    enabled: bool,
    /// The next number for a unit directory, a DUID or an EUID.
    next_id: u64,
    units: Vec<Installed>,
}

impl Default for Inventory {
    fn default() -> Self {
        Self { enabled: true, next_id: 1, units: Vec::new() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Installed {
    unit: DeploymentUnit,
    /// The directory under `units/`.
    dir: String,
}

fn storage(context: &str, e: &std::io::Error) -> DuError {
    let fault = if matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) {
        FaultCode::SystemResourcesExceeded
    } else {
        FaultCode::RequestDenied
    };
    DuError::new(fault, format!("{context}: {e}"))
}

impl DirectoryEe {
    /// Opens (or creates) the EE stored under `root`, cleans up after a crash, and starts
    /// the AutoStart EUs if the EE is enabled (as at boot).
    pub fn open(root: impl Into<PathBuf>, name: impl Into<String>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("units"))?;
        let staging = root.join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        let inventory = match std::fs::read(root.join(INVENTORY)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Inventory::default(),
            Err(e) => return Err(e),
        };
        let mut ee =
            Self { root, name: name.into(), limits: PackageLimits::default(), allow_downgrade: false, inventory };
        // Unit directories the inventory does not name are from interrupted changes.
        for entry in std::fs::read_dir(ee.root.join("units"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !ee.inventory.units.iter().any(|u| u.dir == name) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        // Boot: transitory states end, AutoStart EUs start.
        let enabled = ee.inventory.enabled;
        for unit in &mut ee.inventory.units {
            unit.unit.status = DuStatus::Installed;
            for eu in &mut unit.unit.execution_units {
                let want = if eu.auto_start || eu.requested_state == EuRequestedState::Active {
                    EuRequestedState::Active
                } else {
                    EuRequestedState::Idle
                };
                let (_, status, fault) = eu_transition(EuStatus::Idle, want, unit.unit.resolved, enabled);
                eu.status = status;
                eu.execution_fault_code = fault;
            }
        }
        ee.save().map_err(|e| std::io::Error::other(e.message))?;
        Ok(ee)
    }

    /// Bounds on unpacked packages.
    pub fn with_limits(mut self, limits: PackageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether an Update may install an older version (default: no, 9030).
    pub fn with_downgrades(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// Where the files of an installed DU are.
    pub fn unit_dir(&self, uuid: &str, version: &str) -> Option<PathBuf> {
        self.find(uuid, version).map(|i| self.root.join("units").join(&self.inventory.units[i].dir))
    }

    fn find(&self, uuid: &str, version: &str) -> Option<usize> {
        self.inventory.units.iter().position(|u| same_uuid(&u.unit.uuid, uuid) && u.unit.version == version)
    }

    fn next_id(&mut self) -> u64 {
        let id = self.inventory.next_id;
        self.inventory.next_id += 1;
        id
    }

    /// Writes the inventory atomically.
    fn save(&self) -> Result<(), DuError> {
        let bytes = serde_json::to_vec_pretty(&self.inventory)
            .map_err(|e| DuError::new(FaultCode::InternalError, e.to_string()))?;
        write_atomically(&self.root.join(INVENTORY), &bytes).map_err(|e| storage("cannot save the inventory", &e))
    }

    /// Unpacks a package into a fresh staging directory.
    fn stage(&mut self, package: &Path) -> Result<(PathBuf, Manifest), DuError> {
        let dir = self.root.join("staging").join(self.next_id().to_string());
        match unpack(package, &dir, &self.limits) {
            Ok(manifest) => {
                if let Some(wanted) = &manifest.ee_type
                    && wanted != DIRECTORY_EE_TYPE
                {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(DuError::new(
                        FaultCode::DeploymentUnitMismatch,
                        format!("the package needs an EE of type {wanted}"),
                    ));
                }
                Ok((dir, manifest))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Moves a staged directory under `units/` and returns its name there.
    fn promote(&mut self, staged: &Path) -> Result<String, DuError> {
        let name = self.next_id().to_string();
        std::fs::rename(staged, self.root.join("units").join(&name)).map_err(|e| {
            let _ = std::fs::remove_dir_all(staged);
            storage("cannot move the unpacked package", &e)
        })?;
        Ok(name)
    }

    /// Commits the inventory, or undoes `new_dir` if that fails.
    fn commit(&mut self, previous: Inventory, new_dir: Option<&str>) -> Result<(), DuError> {
        if let Err(e) = self.save() {
            self.inventory = previous;
            if let Some(dir) = new_dir {
                let _ = std::fs::remove_dir_all(self.root.join("units").join(dir));
            }
            return Err(e);
        }
        Ok(())
    }

    fn check_enabled(&self) -> Result<(), DuError> {
        if self.inventory.enabled {
            Ok(())
        } else {
            Err(DuError::new(FaultCode::DisabledExecutionEnvironment, format!("{} is disabled", self.name)))
        }
    }
}

impl ExecutionEnvironment for DirectoryEe {
    fn info(&self) -> ExecEnvInfo {
        ExecEnvInfo {
            name: self.name.clone(),
            ee_type: DIRECTORY_EE_TYPE.into(),
            vendor: "cwmp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            enabled: self.inventory.enabled,
        }
    }

    fn set_enabled(&mut self, enabled: bool) -> Result<(), DuError> {
        let previous = self.inventory.clone();
        self.inventory.enabled = enabled;
        for unit in &mut self.inventory.units {
            for eu in &mut unit.unit.execution_units {
                if enabled {
                    // Restart what was meant to run (VI.4: an EE restart is disable + enable).
                    let want = if eu.auto_start { EuRequestedState::Active } else { eu.requested_state };
                    let (_, status, fault) = eu_transition(EuStatus::Idle, want, unit.unit.resolved, true);
                    eu.status = status;
                    eu.execution_fault_code = fault;
                } else {
                    // VI.4: the EUs of a disabled EE go Idle, UnStartable.
                    eu.status = EuStatus::Idle;
                    eu.execution_fault_code = ExecutionFaultCode::UnStartable;
                }
            }
        }
        self.commit(previous, None)
    }

    fn install(&mut self, package: &Path, uuid: Option<&str>, url: &str) -> Result<DeploymentUnit, DuError> {
        self.check_enabled()?;
        let (staged, manifest) = self.stage(package)?;
        let uuid = uuid.map_or_else(|| du_uuid(&manifest.name, &manifest.vendor), str::to_ascii_lowercase);
        if self.find(&uuid, &manifest.version).is_some() {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(DuError::new(
                FaultCode::DuplicateDeploymentUnit,
                format!("{} {} is already installed", manifest.name, manifest.version),
            ));
        }
        let previous = self.inventory.clone();
        let dir = self.promote(&staged)?;
        let duid = self.next_id().to_string();
        let execution_units = manifest
            .execution_units
            .iter()
            .map(|eu| {
                let euid = self.next_id().to_string();
                // S-1: EUs are created Idle.
                ExecutionUnit {
                    euid,
                    name: eu.name.clone(),
                    description: eu.description.clone(),
                    status: EuStatus::Idle,
                    requested_state: EuRequestedState::Idle,
                    execution_fault_code: ExecutionFaultCode::NoFault,
                    execution_fault_message: String::new(),
                    auto_start: eu.auto_start,
                }
            })
            .collect();
        let unit = DeploymentUnit {
            uuid,
            duid,
            name: manifest.name,
            vendor: manifest.vendor,
            version: manifest.version,
            description: manifest.description,
            url: url.to_owned(),
            status: DuStatus::Installed,
            // No dependencies in this package format: always resolved.
            resolved: true,
            execution_units,
        };
        self.inventory.units.push(Installed { unit: unit.clone(), dir: dir.clone() });
        self.commit(previous, Some(&dir))?;
        Ok(unit)
    }

    fn update(&mut self, uuid: &str, version: &str, package: &Path, url: &str) -> Result<DeploymentUnit, DuError> {
        self.check_enabled()?;
        let index = self
            .find(uuid, version)
            .ok_or_else(|| DuError::new(FaultCode::UnknownDeploymentUnit, format!("no DU {uuid} {version}")))?;
        if !self.inventory.units[index].unit.status.accepts_change() {
            return Err(DuError::new(FaultCode::InvalidDeploymentUnitState, "the DU is not Installed"));
        }
        let (staged, manifest) = self.stage(package)?;
        let old = self.inventory.units[index].unit.clone();
        let refuse = |fault, message: String| {
            let _ = std::fs::remove_dir_all(&staged);
            Err(DuError::new(fault, message))
        };
        if manifest.name != old.name || manifest.vendor != old.vendor {
            return refuse(
                FaultCode::FileCorrupted,
                format!("the package is {} from {}, not an update of {}", manifest.name, manifest.vendor, old.name),
            );
        }
        if !self.allow_downgrade && compare_versions(&manifest.version, &old.version).is_lt() {
            return refuse(
                FaultCode::DowngradeNotPermitted,
                format!("{} is older than {}", manifest.version, old.version),
            );
        }
        if manifest.version != old.version && self.find(uuid, &manifest.version).is_some() {
            return refuse(FaultCode::VersionAlreadyExists, format!("{} is already installed", manifest.version));
        }
        let previous = self.inventory.clone();
        let dir = self.promote(&staged)?;
        // EUs keep their identity by name; those that were Active are restarted (S-2).
        let execution_units = manifest
            .execution_units
            .iter()
            .map(|eu| match old.execution_units.iter().find(|o| o.name == eu.name) {
                Some(o) => ExecutionUnit {
                    description: eu.description.clone(),
                    auto_start: eu.auto_start,
                    execution_fault_code: ExecutionFaultCode::NoFault,
                    execution_fault_message: String::new(),
                    ..o.clone()
                },
                None => ExecutionUnit {
                    euid: self.next_id().to_string(),
                    name: eu.name.clone(),
                    description: eu.description.clone(),
                    status: EuStatus::Idle,
                    requested_state: EuRequestedState::Idle,
                    execution_fault_code: ExecutionFaultCode::NoFault,
                    execution_fault_message: String::new(),
                    auto_start: eu.auto_start,
                },
            })
            .collect();
        let unit = DeploymentUnit {
            version: manifest.version,
            description: manifest.description,
            url: url.to_owned(),
            execution_units,
            ..old
        };
        let old_dir =
            std::mem::replace(&mut self.inventory.units[index], Installed { unit: unit.clone(), dir: dir.clone() }).dir;
        self.commit(previous, Some(&dir))?;
        let _ = std::fs::remove_dir_all(self.root.join("units").join(old_dir));
        Ok(unit)
    }

    fn uninstall(&mut self, uuid: &str, version: &str) -> Result<DeploymentUnit, DuError> {
        self.check_enabled()?;
        let index = self
            .find(uuid, version)
            .ok_or_else(|| DuError::new(FaultCode::UnknownDeploymentUnit, format!("no DU {uuid} {version}")))?;
        if !self.inventory.units[index].unit.status.accepts_change() {
            return Err(DuError::new(FaultCode::InvalidDeploymentUnitState, "the DU is not Installed"));
        }
        let previous = self.inventory.clone();
        let removed = self.inventory.units.remove(index);
        self.commit(previous, None)?;
        let _ = std::fs::remove_dir_all(self.root.join("units").join(&removed.dir));
        let mut unit = removed.unit;
        // S-5: the EUs stop and go with the DU.
        unit.status = DuStatus::Uninstalled;
        for eu in &mut unit.execution_units {
            eu.status = EuStatus::Idle;
        }
        Ok(unit)
    }

    fn deployment_units(&self) -> Vec<DeploymentUnit> {
        self.inventory.units.iter().map(|u| u.unit.clone()).collect()
    }

    fn set_requested_state(&mut self, euid: &str, requested: EuRequestedState) -> Result<EuStatus, DuError> {
        if !self.inventory.enabled {
            // Appendix VI E-5: SPV of RequestedState on a disabled EE fails with 9007.
            return Err(DuError::new(FaultCode::InvalidParameterValue, format!("{} is disabled", self.name)));
        }
        let previous = self.inventory.clone();
        let (resolved, eu) = self
            .inventory
            .units
            .iter_mut()
            .find_map(|u| {
                let resolved = u.unit.resolved;
                u.unit.execution_units.iter_mut().find(|eu| eu.euid == euid).map(|eu| (resolved, eu))
            })
            .ok_or_else(|| DuError::new(FaultCode::InvalidParameterValue, format!("no EU {euid}")))?;
        let (_, status, fault) = eu_transition(eu.status, requested, resolved, true);
        eu.requested_state = requested;
        eu.status = status;
        eu.execution_fault_code = fault;
        eu.execution_fault_message = match fault {
            ExecutionFaultCode::NoFault => String::new(),
            other => other.as_str().to_owned(),
        };
        self.commit(previous, None)?;
        Ok(status)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // The files may hold file-server credentials: owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // Makes the rename itself durable; not every platform can fsync a directory.
        let _ = dir.sync_all();
    }
    Ok(())
}
