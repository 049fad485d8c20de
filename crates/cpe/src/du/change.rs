//! Carrying out one ChangeDUState (A.4.1.10) and building its DUStateChangeComplete
//! results (A.4.2.3).

use cwmp_wire::rpc::{
    DeploymentUnitFaultStruct, InstallOpStruct, OpResultStruct, OperationStruct, UninstallOpStruct, UpdateOpStruct,
};
use cwmp_wire::{DateTime, FaultCode};

use super::ee::{DeploymentUnit, DuError};
use super::modules::SoftwareModules;
use super::state::OpResultState;
use super::uuid::{is_valid_du_uuid, same_uuid};
use crate::transfer::{Fetch, Fetched, TransferError, TransferUrl};

/// The operations a ChangeDUState MUST accept (A.4.1.10: at least 16 before 9004).
pub const MIN_OPERATIONS: usize = 16;

/// Carries out the operations of one ChangeDUState, in request order, and returns the
/// results in request order: one per operation, or one per affected DU for an operation
/// that touches several (an Uninstall without Version, an Update of every DU). Never
/// fails as a whole: every problem is the fault of its operation's result (the RPC-level
/// faults are for the request itself, decided before it is accepted). The downloaded
/// packages are removed once used.
pub async fn change_du_state(
    modules: &mut SoftwareModules,
    operations: &[OperationStruct],
    fetcher: &dyn Fetch,
) -> Vec<OpResultStruct> {
    let mut results = Vec::with_capacity(operations.len());
    for operation in operations {
        results.extend(run_operation(modules, operation, fetcher, None).await);
    }
    results
}

/// A DU as it was before an operation, for resuming that operation after a crash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Snapshot {
    pub ee: usize,
    pub unit: DeploymentUnit,
    pub du_ref: String,
    pub eu_refs: Vec<String>,
}

/// Every DU with its references, before an operation.
pub(super) fn snapshot(modules: &SoftwareModules) -> Vec<Snapshot> {
    modules
        .all_units()
        .into_iter()
        .map(|(ee, unit)| Snapshot { ee, du_ref: modules.du_ref(ee, &unit), eu_refs: modules.eu_refs(ee, &unit), unit })
        .collect()
}

/// One operation. `before`: the operation was interrupted (the agent stopped during it)
/// and this was the state before it; what it already did is reported, not done again.
pub(super) async fn run_operation(
    modules: &mut SoftwareModules,
    operation: &OperationStruct,
    fetcher: &dyn Fetch,
    before: Option<&[Snapshot]>,
) -> Vec<OpResultStruct> {
    match operation {
        OperationStruct::Install(op) => vec![install(modules, op, fetcher, before).await],
        OperationStruct::Update(op) => update(modules, op, fetcher, before).await,
        OperationStruct::Uninstall(op) => uninstall(modules, op, before),
    }
}

/// The current version of a snapshotted DU, if it still exists.
fn current(modules: &SoftwareModules, ee: usize, duid: &str) -> Option<DeploymentUnit> {
    modules.all_units().into_iter().find(|(e, u)| *e == ee && u.duid == duid).map(|(_, u)| u)
}

fn now() -> DateTime {
    DateTime::now_utc()
}

/// A result without a DU, or for a failed operation on one.
struct Outcome {
    uuid: String,
    du_ref: String,
    version: String,
    state: OpResultState,
    resolved: bool,
    eu_refs: Vec<String>,
    start: DateTime,
    fault: Option<DuError>,
}

impl Outcome {
    fn failed(uuid: &str, version: &str, state: OpResultState, start: DateTime, fault: DuError) -> Self {
        Self {
            uuid: uuid.to_owned(),
            du_ref: String::new(),
            version: version.to_owned(),
            state,
            resolved: false,
            eu_refs: Vec::new(),
            start,
            fault: Some(fault),
        }
    }

    fn into_result(self) -> OpResultStruct {
        let fault = match self.fault {
            None => DeploymentUnitFaultStruct { fault_code: 0, fault_string: String::new() },
            Some(e) => {
                tracing::info!(code = e.fault.as_u32(), error = %e.message, "deployment unit operation failed");
                DeploymentUnitFaultStruct { fault_code: e.fault.as_u32(), fault_string: clip(&e.message, 256) }
            }
        };
        OpResultStruct {
            uuid: self.uuid,
            deployment_unit_ref: self.du_ref,
            version: self.version,
            current_state: self.state.as_str().to_owned(),
            resolved: self.resolved,
            execution_unit_ref_list: self.eu_refs.join(","),
            start_time: self.start,
            complete_time: now(),
            fault,
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn transfer_fault(e: &TransferError) -> DuError {
    DuError::new(e.du_fault(), e.to_string())
}

/// The URL check of A.4.1.10: userinfo → 9003, other protocols → 9013.
fn check_url(url: &str) -> Result<(), DuError> {
    TransferUrl::parse(url).map(|_| ()).map_err(|e| transfer_fault(&e))
}

/// Takes the time limit rather than the modules: no shared borrow of the EEs is held across
/// the download, so the future is `Send` with EEs that are only `Send`.
async fn download(
    limit: std::time::Duration,
    fetcher: &dyn Fetch,
    url: &str,
    username: &str,
    password: &str,
) -> Result<Fetched, DuError> {
    match tokio::time::timeout(limit, fetcher.fetch(url, username, password, 0)).await {
        Ok(result) => result.map_err(|e| transfer_fault(&e)),
        // D-4: an operation that takes more than an hour has failed.
        Err(_) => Err(DuError::new(FaultCode::DownloadIncomplete, format!("not downloaded within {limit:?}"))),
    }
}

async fn install(
    modules: &mut SoftwareModules,
    op: &InstallOpStruct,
    fetcher: &dyn Fetch,
    before: Option<&[Snapshot]>,
) -> OpResultStruct {
    let start = now();
    // Resumed: a DU from this URL that was not there before is this Install's.
    if let Some(before) = before {
        let done = modules
            .all_units()
            .into_iter()
            .find(|(ee, u)| u.url == op.url && !before.iter().any(|s| s.ee == *ee && s.unit.duid == u.duid));
        if let Some((ee, unit)) = done {
            return success(modules, ee, &unit, OpResultState::Installed, start, None);
        }
    }
    let uuid = op.uuid.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let failed = |fault| Outcome::failed(uuid.unwrap_or_default(), "", OpResultState::Failed, start, fault);
    if let Err(e) = check_url(&op.url) {
        return failed(e).into_result();
    }
    if let Some(uuid) = uuid
        && !is_valid_du_uuid(uuid)
    {
        return failed(DuError::new(FaultCode::InvalidUuidFormat, format!("invalid UUID {uuid}"))).into_result();
    }
    let ee = match choose_ee(modules, op.execution_env_ref.as_deref()) {
        Ok(ee) => ee,
        Err(e) => return failed(e).into_result(),
    };
    let username = op.username.as_deref().unwrap_or_default();
    let password = op.password.as_deref().unwrap_or_default();
    let package = match download(modules.operation_timeout, fetcher, &op.url, username, password).await {
        Ok(package) => package,
        Err(e) => return failed(e).into_result(),
    };
    let installed = modules.env(ee).install(&package.path, uuid, &op.url);
    let _ = std::fs::remove_file(&package.path);
    let unit = match installed {
        Ok(unit) => unit,
        // D-14: a failed Install leaves no DU.
        Err(e) => return failed(e).into_result(),
    };
    modules.remember_credentials(ee, &unit.duid, username, password);
    success(modules, ee, &unit, OpResultState::Installed, start, None)
}

/// The EE of an Install: the one named, or the first enabled one.
fn choose_ee(modules: &SoftwareModules, reference: Option<&str>) -> Result<usize, DuError> {
    let ee = match reference.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => modules.ee_index(r).ok_or_else(|| {
            DuError::new(FaultCode::UnknownExecutionEnvironment, format!("no execution environment {r}"))
        })?,
        None => (0..modules.env_count())
            .find(|&i| modules.env_info(i).enabled)
            .or(if modules.env_count() > 0 { Some(0) } else { None })
            .ok_or_else(|| DuError::new(FaultCode::UnknownExecutionEnvironment, "no execution environment"))?,
    };
    if !modules.env_info(ee).enabled {
        return Err(DuError::new(
            FaultCode::DisabledExecutionEnvironment,
            format!("{} is disabled", modules.ee_ref(ee)),
        ));
    }
    Ok(ee)
}

/// The result for a DU as it now is. `failure`: a failed Update or Uninstall, after which
/// the DU is still Installed.
fn success(
    modules: &mut SoftwareModules,
    ee: usize,
    unit: &DeploymentUnit,
    state: OpResultState,
    start: DateTime,
    failure: Option<DuError>,
) -> OpResultStruct {
    if let Err(e) = modules.reconcile() {
        tracing::warn!(error = %e.message, "deployment unit numbering not saved");
    }
    Outcome {
        uuid: unit.uuid.clone(),
        du_ref: modules.du_ref(ee, unit),
        version: unit.version.clone(),
        state,
        resolved: unit.resolved,
        eu_refs: modules.eu_refs(ee, unit),
        start,
        fault: failure,
    }
    .into_result()
}

async fn update(
    modules: &mut SoftwareModules,
    op: &UpdateOpStruct,
    fetcher: &dyn Fetch,
    before: Option<&[Snapshot]>,
) -> Vec<OpResultStruct> {
    let start = now();
    let uuid = op.uuid.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let url = op.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let version = op.version.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let failed = |fault| {
        vec![
            Outcome::failed(uuid.unwrap_or_default(), version.unwrap_or_default(), OpResultState::Failed, start, fault)
                .into_result(),
        ]
    };
    if let Some(url) = url
        && let Err(e) = check_url(url)
    {
        return failed(e);
    }
    if let Some(uuid) = uuid
        && !is_valid_du_uuid(uuid)
    {
        return failed(DuError::new(FaultCode::InvalidUuidFormat, format!("invalid UUID {uuid}")));
    }
    // A.4.1.10: neither UUID nor URL means every DU, and then Version MUST NOT be given.
    if uuid.is_none() && url.is_none() && version.is_some() {
        return failed(DuError::new(FaultCode::InvalidArguments, "Version given for an update of every DU"));
    }
    let units = match before {
        Some(before) => before.iter().map(|s| (s.ee, s.unit.clone())).collect(),
        None => modules.all_units(),
    };
    let mut targets: Vec<(usize, DeploymentUnit)> = units
        .into_iter()
        .filter(|(_, u)| match (uuid, url) {
            (Some(uuid), _) => same_uuid(&u.uuid, uuid),
            (None, Some(url)) => u.url == url,
            (None, None) => true,
        })
        .collect();
    if let Some(version) = version {
        targets.retain(|(_, u)| u.version == version);
    }
    if targets.is_empty() {
        return failed(DuError::new(FaultCode::UnknownDeploymentUnit, "no such deployment unit"));
    }
    if uuid.is_some() && version.is_none() {
        let mut versions: Vec<&str> = targets.iter().map(|(_, u)| u.version.as_str()).collect();
        versions.sort_unstable();
        versions.dedup();
        if versions.len() > 1 {
            return failed(DuError::new(FaultCode::VersionNotSpecified, "several versions are installed"));
        }
    }
    // S-3: an Update that cannot happen on one of the EEs of a DU fails on all of them,
    // with the same fault.
    let disabled = targets.iter().find(|(ee, _)| !modules.env_info(*ee).enabled).map(|(ee, _)| modules.ee_ref(*ee));
    if let Some(ee_ref) = disabled {
        let fault = DuError::new(FaultCode::DisabledExecutionEnvironment, format!("{ee_ref} is disabled"));
        return targets
            .iter()
            .map(|(ee, unit)| success(modules, *ee, unit, OpResultState::Installed, start, Some(fault.clone())))
            .collect();
    }
    let mut results = Vec::with_capacity(targets.len());
    for (ee, unit) in targets {
        // Resumed: a target that changed since the snapshot was updated before the stop.
        if before.is_some() {
            match current(modules, ee, &unit.duid) {
                Some(now) if now != unit => {
                    results.push(success(modules, ee, &now, OpResultState::Installed, start, None));
                    continue;
                }
                Some(_) => {}
                None => continue,
            }
        }
        let source = url.unwrap_or(&unit.url).to_owned();
        let (username, password) = match url {
            Some(_) => (op.username.clone().unwrap_or_default(), op.password.clone().unwrap_or_default()),
            None => modules.credentials(ee, &unit.duid),
        };
        let outcome = match download(modules.operation_timeout, fetcher, &source, &username, &password).await {
            Ok(package) => {
                let updated = modules.env(ee).update(&unit.uuid, &unit.version, &package.path, &source);
                let _ = std::fs::remove_file(&package.path);
                updated
            }
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(new) => {
                modules.remember_credentials(ee, &new.duid, &username, &password);
                success(modules, ee, &new, OpResultState::Installed, start, None)
            }
            // The DU stays Installed at its old version (D-14).
            Err(e) => success(modules, ee, &unit, OpResultState::Installed, start, Some(e)),
        });
    }
    results
}

fn uninstall(
    modules: &mut SoftwareModules,
    op: &UninstallOpStruct,
    before: Option<&[Snapshot]>,
) -> Vec<OpResultStruct> {
    let start = now();
    let uuid = op.uuid.trim();
    let version = op.version.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let failed = |fault| {
        vec![Outcome::failed(uuid, version.unwrap_or_default(), OpResultState::Uninstalled, start, fault).into_result()]
    };
    if !is_valid_du_uuid(uuid) {
        return failed(DuError::new(FaultCode::InvalidUuidFormat, format!("invalid UUID {uuid}")));
    }
    let ee_filter = match op.execution_env_ref.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => match modules.ee_index(r) {
            Some(ee) => Some(ee),
            None => {
                return failed(DuError::new(FaultCode::UnknownDeploymentUnit, format!("no execution environment {r}")));
            }
        },
        None => None,
    };
    let targets: Vec<Snapshot> = before
        .map_or_else(|| snapshot(modules), <[Snapshot]>::to_vec)
        .into_iter()
        .filter(|s| {
            same_uuid(&s.unit.uuid, uuid)
                && version.is_none_or(|v| s.unit.version == v)
                && ee_filter.is_none_or(|f| f == s.ee)
        })
        .collect();
    if targets.is_empty() {
        return failed(DuError::new(FaultCode::UnknownDeploymentUnit, "no such deployment unit"));
    }
    let mut results = Vec::with_capacity(targets.len());
    for Snapshot { ee, unit, du_ref, eu_refs } in targets {
        // Resumed: a target already gone was removed before the stop.
        let removal = match current(modules, ee, &unit.duid) {
            None => Ok(DeploymentUnit { status: super::state::DuStatus::Uninstalled, ..unit.clone() }),
            Some(_) => modules.env(ee).uninstall(&unit.uuid, &unit.version),
        };
        results.push(match removal {
            Ok(removed) => {
                if let Err(e) = modules.reconcile() {
                    tracing::warn!(error = %e.message, "deployment unit numbering not saved");
                }
                Outcome {
                    uuid: removed.uuid,
                    du_ref,
                    version: removed.version,
                    state: OpResultState::Uninstalled,
                    // A.4.2.3: SHOULD be true for an Uninstall.
                    resolved: true,
                    eu_refs,
                    start,
                    fault: None,
                }
                .into_result()
            }
            // Nothing was removed: still Installed (D-14).
            Err(e) => success(modules, ee, &unit, OpResultState::Installed, start, Some(e)),
        });
    }
    results
}
