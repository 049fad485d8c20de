//! The pluggable Execution Environment (TR-069 Appendix VI.4; TR-181
//! `SoftwareModules.ExecEnv.{i}`): what installs, updates and removes Deployment Units and
//! starts and stops their Execution Units on a device.

use std::path::Path;

use cwmp_wire::FaultCode;
use serde::{Deserialize, Serialize};

use super::state::{DuStatus, EuRequestedState, EuStatus, ExecutionFaultCode};

/// What an EE says about itself (`ExecEnv.{i}.Name`, `Type`, `Vendor`, `Version`,
/// `Enable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEnvInfo {
    pub name: String,
    /// The kind of EE; a package may name the kind it needs (9025 when it differs).
    pub ee_type: String,
    pub vendor: String,
    pub version: String,
    pub enabled: bool,
}

/// One installed Deployment Unit, as its EE records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentUnit {
    pub uuid: String,
    /// `DUID`: the EE's own identifier of this DU version.
    pub duid: String,
    pub name: String,
    pub vendor: String,
    pub version: String,
    pub description: String,
    /// Where it was last installed or updated from (`DeploymentUnit.{i}.URL`).
    pub url: String,
    pub status: DuStatus,
    pub resolved: bool,
    pub execution_units: Vec<ExecutionUnit>,
}

/// One Execution Unit of a DU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionUnit {
    /// `EUID`: the EE's identifier, stable across updates of the DU.
    pub euid: String,
    pub name: String,
    pub description: String,
    pub status: EuStatus,
    pub requested_state: EuRequestedState,
    pub execution_fault_code: ExecutionFaultCode,
    pub execution_fault_message: String,
    pub auto_start: bool,
}

/// A failed EE operation, with the fault code of its OpResultStruct (A.4.2.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DuError {
    pub fault: FaultCode,
    pub message: String,
}

impl DuError {
    pub fn new(fault: FaultCode, message: impl Into<String>) -> Self {
        Self { fault, message: message.into() }
    }
}

/// An Execution Environment. Operations are synchronous and each is atomic: on error
/// nothing changed (Appendix VI D-14), and a successful change is persistent before the
/// method returns (D-8: it survives a reboot).
pub trait ExecutionEnvironment: Send {
    fn info(&self) -> ExecEnvInfo;

    /// `ExecEnv.{i}.Enable`. Disabling stops every EU (Idle, `UnStartable`); enabling
    /// starts the EUs marked AutoStart.
    fn set_enabled(&mut self, enabled: bool) -> Result<(), DuError>;

    /// Installs the package file downloaded from `url`. `uuid` is the ACS's, or `None` to
    /// derive it from the package's name and vendor (Annex H). Errors: 9018 unusable
    /// package, 9025 package for another kind of EE, 9026 this UUID and version already
    /// installed here, 9027 no space.
    fn install(&mut self, package: &Path, uuid: Option<&str>, url: &str) -> Result<DeploymentUnit, DuError>;

    /// Replaces the installed `uuid`/`version` with the package. Errors as for install,
    /// plus 9028 unknown DU, 9029 not Installed, 9030 downgrade refused, 9032 the new
    /// version is already installed as another DU instance.
    fn update(&mut self, uuid: &str, version: &str, package: &Path, url: &str) -> Result<DeploymentUnit, DuError>;

    /// Removes `uuid`/`version` and its EUs; returns what was removed. Errors: 9028
    /// unknown DU, 9029 not Installed.
    fn uninstall(&mut self, uuid: &str, version: &str) -> Result<DeploymentUnit, DuError>;

    /// Every installed DU.
    fn deployment_units(&self) -> Vec<DeploymentUnit>;

    /// `ExecutionUnit.{i}.RequestedState` (Figure 30); returns the resulting status. A
    /// disabled EE refuses with 9007 (Appendix VI E-5: the SetParameterValuesFault of
    /// `RequestedState`).
    fn set_requested_state(&mut self, euid: &str, requested: EuRequestedState) -> Result<EuStatus, DuError>;
}
