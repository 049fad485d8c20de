//! The `SoftwareModules` tables of the data model (TR-181 `ExecEnv.{i}`,
//! `DeploymentUnit.{i}`, `ExecutionUnit.{i}`) kept equal to what the execution environments
//! hold, so the ACS reads them with GetParameterValues as any other object.
//!
//! The EEs are the truth. Two values are the ACS's to write, `ExecutionUnit.{i}.RequestedState`
//! and `ExecEnv.{i}.Enable`: a written value that differs from the EE's is first handed to
//! the EE ([`apply_acs_writes`]); the tables are then rewritten from the EEs
//! ([`table_changes`]), so a request the EE refused shows its old value again.

use cwmp_model::Device;

use super::modules::SoftwareModules;
use super::state::EuRequestedState;
use crate::agent::LocalChange;

const EXEC_ENV: &str = "ExecEnv.";
const DEPLOYMENT_UNIT: &str = "DeploymentUnit.";
const EXECUTION_UNIT: &str = "ExecutionUnit.";

/// Booleans as the data model keeps them, so that an unchanged value compares equal.
fn bool_text(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Hands the ACS's writes of `RequestedState` and `Enable` to the EEs. Returns what the EEs
/// refused, for the log.
pub fn apply_acs_writes(modules: &mut SoftwareModules, device: &Device) -> Vec<String> {
    let mut refused = Vec::new();
    for ee in modules.execution_environments() {
        let Ok(written) = device.get(&format!("{}Enable", ee.path)) else { continue };
        let enable = matches!(written.as_str(), "true" | "1");
        if enable != ee.info.enabled
            && let Err(e) = modules.set_enabled(ee.instance, enable)
        {
            refused.push(format!("{}Enable: {e}", ee.path));
        }
    }
    for eu in modules.execution_units() {
        let Ok(written) = device.get(&format!("{}RequestedState", eu.path)) else { continue };
        let Some(requested) = EuRequestedState::parse(&written) else { continue };
        if requested != eu.unit.requested_state
            && let Err(fault) = modules.set_requested_state(eu.instance, requested)
        {
            refused.push(format!("{}RequestedState: fault {}", eu.path, fault.as_u32()));
        }
    }
    refused
}

/// The changes that make the data model's tables show the EEs: rows added and removed,
/// values set where they differ. Empty when the tables already match.
pub fn table_changes(modules: &SoftwareModules, device: &Device) -> Vec<LocalChange> {
    let prefix = modules.prefix();
    let mut changes = Changes { device, out: Vec::new() };

    let (envs, dus, eus) = (modules.execution_environments(), modules.deployment_units(), modules.execution_units());
    changes.rows(&format!("{prefix}{EXEC_ENV}"), envs.iter().map(|e| e.instance));
    for ee in &envs {
        let status = if ee.info.enabled { "Up" } else { "Disabled" };
        let active: Vec<String> = eus
            .iter()
            .filter(|eu| eu.exec_env_ref == ee.path && eu.unit.status == super::state::EuStatus::Active)
            .map(|eu| eu.path.trim_end_matches('.').to_owned())
            .collect();
        changes.values(
            &ee.path,
            &[
                ("Enable", bool_text(ee.info.enabled)),
                ("Status", status),
                ("Name", &ee.info.name),
                ("Type", &ee.info.ee_type),
                ("Vendor", &ee.info.vendor),
                ("Version", &ee.info.version),
                ("ActiveExecutionUnits", &active.join(",")),
            ],
        );
    }

    changes.rows(&format!("{prefix}{DEPLOYMENT_UNIT}"), dus.iter().map(|d| d.instance));
    for du in &dus {
        let eus: Vec<&str> = du.execution_unit_refs.iter().map(|r| r.trim_end_matches('.')).collect();
        let u = &du.unit;
        changes.values(
            &du.path,
            &[
                ("UUID", &u.uuid),
                ("DUID", &u.duid),
                ("Name", &u.name),
                ("Status", u.status.as_str()),
                ("Resolved", bool_text(u.resolved)),
                ("URL", &u.url),
                ("Description", &u.description),
                ("Vendor", &u.vendor),
                ("Version", &u.version),
                ("ExecutionUnitList", &eus.join(",")),
                ("ExecutionEnvRef", du.exec_env_ref.trim_end_matches('.')),
            ],
        );
    }

    changes.rows(&format!("{prefix}{EXECUTION_UNIT}"), eus.iter().map(|e| e.instance));
    for eu in &eus {
        let u = &eu.unit;
        let vendor_version = dus.iter().find(|d| d.path == eu.deployment_unit_ref).map(|d| &d.unit);
        changes.values(
            &eu.path,
            &[
                ("EUID", &u.euid),
                ("Name", &u.name),
                ("ExecEnvLabel", &u.euid),
                ("Status", u.status.as_str()),
                ("RequestedState", u.requested_state.as_str()),
                ("ExecutionFaultCode", u.execution_fault_code.as_str()),
                ("ExecutionFaultMessage", &u.execution_fault_message),
                ("AutoStart", bool_text(u.auto_start)),
                ("Vendor", vendor_version.map_or("", |d| d.vendor.as_str())),
                ("Version", vendor_version.map_or("", |d| d.version.as_str())),
                ("Description", &u.description),
                ("ExecutionEnvRef", eu.exec_env_ref.trim_end_matches('.')),
            ],
        );
    }
    changes.out
}

struct Changes<'a> {
    device: &'a Device,
    out: Vec<LocalChange>,
}

/// The index in `out` of the `AddRow` of `row`, if the row is being added.
fn adding(out: &[LocalChange], row: &str) -> Option<usize> {
    out.iter().position(|c| {
        matches!(c, LocalChange::AddRow { table, number, .. }
            if row.strip_prefix(table.as_str()).and_then(|n| n.strip_suffix('.')) == Some(&number.to_string()))
    })
}

impl Changes<'_> {
    /// Rows to delete (in the model, not in `wanted`) and to add.
    fn rows(&mut self, table: &str, wanted: impl Iterator<Item = u32>) {
        let wanted: Vec<u32> = wanted.collect();
        let present = self.device.instance_numbers(table).unwrap_or_default();
        for &n in present.iter().filter(|n| !wanted.contains(n)) {
            self.out.push(LocalChange::DeleteRow { row: format!("{table}{n}.") });
        }
        for &n in wanted.iter().filter(|n| !present.contains(n)) {
            self.out.push(LocalChange::AddRow { table: table.to_owned(), number: n, values: Vec::new() });
        }
    }

    /// Values of the row at `row` that differ from the model's; all of them for a row
    /// being added, which gets them with its creation.
    fn values(&mut self, row: &str, values: &[(&str, &str)]) {
        if let Some(i) = adding(&self.out, row)
            && let LocalChange::AddRow { values: first, .. } = &mut self.out[i]
        {
            first.extend(values.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
            return;
        }
        for (name, value) in values {
            let path = format!("{row}{name}");
            if self.device.get(&path).ok().as_deref() != Some(*value) {
                self.out.push(LocalChange::Set { path, value: (*value).to_owned() });
            }
        }
    }
}
