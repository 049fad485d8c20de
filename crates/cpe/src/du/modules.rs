//! `Device.SoftwareModules.`: the execution environments of the device, and the instance
//! numbers of their Deployment Units and Execution Units in the data model.
//!
//! Instance numbers are assigned here, never reused while the unit exists, kept across
//! updates of a DU, and persisted atomically in a small state file together with the
//! credentials last used for each DU (for an Update from the stored URL, A.4.1.10: "the
//! CPE SHOULD reuse the last credentials"). After a crash between an EE's commit and this
//! file's, [`SoftwareModules::open`] reconciles: units the EEs no longer have lose their
//! numbers, new ones get fresh numbers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cwmp_wire::FaultCode;
use serde::{Deserialize, Serialize};

use super::directory::write_atomically;
use super::ee::{DeploymentUnit, DuError, ExecEnvInfo, ExecutionEnvironment, ExecutionUnit};
use super::state::{EuRequestedState, EuStatus};

/// The object path under which the tables live, for TR-181 devices.
pub const DEVICE_PREFIX: &str = "Device.SoftwareModules.";

/// The execution environments and the numbering of their units.
pub struct SoftwareModules {
    envs: Vec<Box<dyn ExecutionEnvironment>>,
    prefix: String,
    state_file: PathBuf,
    state: State,
    /// Appendix VI D-4: each operation must finish within an hour, otherwise it failed.
    /// Bounds the download of one operation. Default 1 h.
    pub operation_timeout: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    next_du: u32,
    next_eu: u32,
    /// `"<ee index>/<DUID>"` → DeploymentUnit instance.
    dus: BTreeMap<String, u32>,
    /// `"<ee index>/<EUID>"` → ExecutionUnit instance.
    eus: BTreeMap<String, u32>,
    /// `"<ee index>/<DUID>"` → the credentials of its last Install or Update.
    credentials: BTreeMap<String, (String, String)>,
}

/// A Deployment Unit as the data model shows it (`DeploymentUnit.{i}.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentUnitEntry {
    pub instance: u32,
    /// `Device.SoftwareModules.DeploymentUnit.{i}.`
    pub path: String,
    /// `ExecutionEnvRef`: `Device.SoftwareModules.ExecEnv.{j}.`
    pub exec_env_ref: String,
    /// `ExecutionUnitList`: the paths of its EUs.
    pub execution_unit_refs: Vec<String>,
    pub unit: DeploymentUnit,
}

/// An Execution Unit as the data model shows it (`ExecutionUnit.{i}.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionUnitEntry {
    pub instance: u32,
    pub path: String,
    pub exec_env_ref: String,
    /// The DU it belongs to (the DU's `ExecutionUnitList` names it).
    pub deployment_unit_ref: String,
    pub unit: ExecutionUnit,
}

/// An execution environment as the data model shows it (`ExecEnv.{i}.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEnvEntry {
    pub instance: u32,
    pub path: String,
    pub info: ExecEnvInfo,
}

impl SoftwareModules {
    /// The EEs of the device (`ExecEnv.1.`, `ExecEnv.2.` … in this order) and the file
    /// holding the numbering; `prefix` is the SoftwareModules object path, for example
    /// [`DEVICE_PREFIX`].
    pub fn open(
        envs: Vec<Box<dyn ExecutionEnvironment>>,
        state_file: impl Into<PathBuf>,
        prefix: impl Into<String>,
    ) -> std::io::Result<Self> {
        let state_file = state_file.into();
        let state = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State { next_du: 1, next_eu: 1, ..State::default() },
            Err(e) => return Err(e),
        };
        let mut modules =
            Self { envs, prefix: prefix.into(), state_file, state, operation_timeout: Duration::from_secs(3600) };
        modules.reconcile().map_err(|e| std::io::Error::other(e.message))?;
        Ok(modules)
    }

    /// The SoftwareModules object path the tables live under (ends with a dot).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The execution environments.
    pub fn execution_environments(&self) -> Vec<ExecEnvEntry> {
        self.envs
            .iter()
            .enumerate()
            .map(|(i, ee)| ExecEnvEntry { instance: i as u32 + 1, path: self.ee_ref(i), info: ee.info() })
            .collect()
    }

    /// Every Deployment Unit, ordered by instance number.
    pub fn deployment_units(&self) -> Vec<DeploymentUnitEntry> {
        let mut out = Vec::new();
        for (i, ee) in self.envs.iter().enumerate() {
            for unit in ee.deployment_units() {
                let Some(&instance) = self.state.dus.get(&key(i, &unit.duid)) else { continue };
                out.push(DeploymentUnitEntry {
                    instance,
                    path: self.du_path(instance),
                    exec_env_ref: self.ee_ref(i),
                    execution_unit_refs: self.eu_refs(i, &unit),
                    unit,
                });
            }
        }
        out.sort_by_key(|e| e.instance);
        out
    }

    /// Every Execution Unit, ordered by instance number.
    pub fn execution_units(&self) -> Vec<ExecutionUnitEntry> {
        let mut out = Vec::new();
        for du in self.deployment_units() {
            let ee_index = self.ee_index(&du.exec_env_ref).unwrap_or_default();
            for eu in &du.unit.execution_units {
                let Some(&instance) = self.state.eus.get(&key(ee_index, &eu.euid)) else { continue };
                out.push(ExecutionUnitEntry {
                    instance,
                    path: self.eu_path(instance),
                    exec_env_ref: du.exec_env_ref.clone(),
                    deployment_unit_ref: du.path.clone(),
                    unit: eu.clone(),
                });
            }
        }
        out.sort_by_key(|e| e.instance);
        out
    }

    /// `ExecutionUnit.{instance}.RequestedState` set by the ACS. Errors: 9005 no such EU,
    /// 9007 refused (a disabled EE, Appendix VI E-5).
    pub fn set_requested_state(&mut self, instance: u32, requested: EuRequestedState) -> Result<EuStatus, FaultCode> {
        let (ee, euid) = self
            .state
            .eus
            .iter()
            .find(|(_, n)| **n == instance)
            .and_then(|(k, _)| split_key(k))
            .ok_or(FaultCode::InvalidParameterName)?;
        let ee = self.envs.get_mut(ee).ok_or(FaultCode::InvalidParameterName)?;
        ee.set_requested_state(&euid, requested).map_err(|e| e.fault)
    }

    /// `ExecEnv.{instance}.Enable`.
    pub fn set_enabled(&mut self, instance: u32, enabled: bool) -> Result<(), DuError> {
        let index = (instance as usize).checked_sub(1).filter(|&i| i < self.envs.len());
        let index = index.ok_or_else(|| DuError::new(FaultCode::InvalidParameterName, "no such ExecEnv"))?;
        self.envs[index].set_enabled(enabled)
    }

    pub(super) fn env_count(&self) -> usize {
        self.envs.len()
    }

    pub(super) fn env(&mut self, index: usize) -> &mut dyn ExecutionEnvironment {
        self.envs[index].as_mut()
    }

    pub(super) fn env_info(&self, index: usize) -> ExecEnvInfo {
        self.envs[index].info()
    }

    /// `(ee index, unit)` for every DU.
    pub(super) fn all_units(&self) -> Vec<(usize, DeploymentUnit)> {
        let mut out = Vec::new();
        for (i, ee) in self.envs.iter().enumerate() {
            out.extend(ee.deployment_units().into_iter().map(|u| (i, u)));
        }
        out
    }

    /// The EE an `ExecutionEnvRef` names (with or without its final dot).
    pub(super) fn ee_index(&self, reference: &str) -> Option<usize> {
        let wanted = reference.trim().trim_end_matches('.');
        (0..self.envs.len()).find(|&i| self.ee_ref(i).trim_end_matches('.') == wanted)
    }

    pub(super) fn ee_ref(&self, index: usize) -> String {
        format!("{}ExecEnv.{}.", self.prefix, index + 1)
    }

    fn du_path(&self, instance: u32) -> String {
        format!("{}DeploymentUnit.{instance}.", self.prefix)
    }

    fn eu_path(&self, instance: u32) -> String {
        format!("{}ExecutionUnit.{instance}.", self.prefix)
    }

    /// The data-model path of a DU (after [`Self::reconcile`]).
    pub(super) fn du_ref(&self, ee: usize, unit: &DeploymentUnit) -> String {
        self.state.dus.get(&key(ee, &unit.duid)).map(|&n| self.du_path(n)).unwrap_or_default()
    }

    /// The data-model paths of a DU's EUs (after [`Self::reconcile`]).
    pub(super) fn eu_refs(&self, ee: usize, unit: &DeploymentUnit) -> Vec<String> {
        unit.execution_units
            .iter()
            .filter_map(|eu| self.state.eus.get(&key(ee, &eu.euid)).map(|&n| self.eu_path(n)))
            .collect()
    }

    pub(super) fn credentials(&self, ee: usize, duid: &str) -> (String, String) {
        self.state.credentials.get(&key(ee, duid)).cloned().unwrap_or_default()
    }

    pub(super) fn remember_credentials(&mut self, ee: usize, duid: &str, username: &str, password: &str) {
        self.state.credentials.insert(key(ee, duid), (username.to_owned(), password.to_owned()));
    }

    /// Gives numbers to new units, drops those of vanished ones, and saves if anything
    /// changed.
    pub(super) fn reconcile(&mut self) -> Result<(), DuError> {
        let before = self.state.clone();
        let mut dus = BTreeMap::new();
        let mut eus = BTreeMap::new();
        for (i, unit) in self.all_units() {
            let k = key(i, &unit.duid);
            let n = match self.state.dus.get(&k) {
                Some(&n) => n,
                None => take(&mut self.state.next_du),
            };
            dus.insert(k, n);
            for eu in &unit.execution_units {
                let k = key(i, &eu.euid);
                let n = match self.state.eus.get(&k) {
                    Some(&n) => n,
                    None => take(&mut self.state.next_eu),
                };
                eus.insert(k, n);
            }
        }
        self.state.credentials.retain(|k, _| dus.contains_key(k));
        self.state.dus = dus;
        self.state.eus = eus;
        if self.state == before {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| DuError::new(FaultCode::InternalError, e.to_string()))?;
        write_atomically(&self.state_file, &bytes)
            .map_err(|e| DuError::new(FaultCode::InternalError, format!("cannot save the DU numbering: {e}")))
    }
}

fn take(counter: &mut u32) -> u32 {
    let n = (*counter).max(1);
    *counter = n + 1;
    n
}

fn key(ee: usize, id: &str) -> String {
    format!("{ee}/{id}")
}

fn split_key(k: &str) -> Option<(usize, String)> {
    let (ee, id) = k.split_once('/')?;
    Some((ee.parse().ok()?, id.to_owned()))
}
