//! Resuming a ChangeDUState after the agent stopped in the middle of it.
//!
//! The restart tests kill the agent at any step of a ChangeDUState; the
//! DUStateChangeComplete must then be delivered exactly once, with each operation done
//! once. [`change_du_state_journaled`] records in a file, atomically, the results of the
//! operations done so far and, while an operation runs, the DUs as they were before it. Run
//! again with the same file after a restart, it returns the recorded results, works out
//! from that picture what the interrupted operation had already done (a DU from its URL
//! that was not there, a target that changed or is gone), does only the rest, and goes on
//! with the remaining operations.
//!
//! The agent keeps the ChangeDUState request until it has stored the results in its outbox
//! (with the "11 DU STATE CHANGE COMPLETE" event), and removes the journal after that.

use std::path::Path;

use cwmp_wire::DateTime;
use cwmp_wire::rpc::{DeploymentUnitFaultStruct, OpResultStruct, OperationStruct};
use serde::{Deserialize, Serialize};

use super::change::{Snapshot, run_operation, snapshot};
use super::directory::write_atomically;
use super::modules::SoftwareModules;
use crate::transfer::Fetch;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Journal {
    /// How many operations the request has (a journal of another request is refused).
    operations: usize,
    /// Operations finished; their results are in `results`.
    done: usize,
    results: Vec<StoredResult>,
    /// The DUs before the operation `done`, while it runs.
    in_progress: Option<Vec<Snapshot>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredResult {
    uuid: String,
    deployment_unit_ref: String,
    version: String,
    current_state: String,
    resolved: bool,
    execution_unit_ref_list: String,
    start_time: String,
    complete_time: String,
    fault_code: u32,
    fault_string: String,
}

impl From<&OpResultStruct> for StoredResult {
    fn from(r: &OpResultStruct) -> Self {
        Self {
            uuid: r.uuid.clone(),
            deployment_unit_ref: r.deployment_unit_ref.clone(),
            version: r.version.clone(),
            current_state: r.current_state.clone(),
            resolved: r.resolved,
            execution_unit_ref_list: r.execution_unit_ref_list.clone(),
            start_time: r.start_time.to_string(),
            complete_time: r.complete_time.to_string(),
            fault_code: r.fault.fault_code,
            fault_string: r.fault.fault_string.clone(),
        }
    }
}

impl From<StoredResult> for OpResultStruct {
    fn from(r: StoredResult) -> Self {
        Self {
            uuid: r.uuid,
            deployment_unit_ref: r.deployment_unit_ref,
            version: r.version,
            current_state: r.current_state,
            resolved: r.resolved,
            execution_unit_ref_list: r.execution_unit_ref_list,
            start_time: DateTime::parse(&r.start_time).unwrap_or_default(),
            complete_time: DateTime::parse(&r.complete_time).unwrap_or_default(),
            fault: DeploymentUnitFaultStruct { fault_code: r.fault_code, fault_string: r.fault_string },
        }
    }
}

/// [`super::change_du_state`] with its progress kept in `journal`; see the [module
/// documentation](self). Fails only if the journal cannot be read or written, or belongs
/// to a request with another number of operations.
pub async fn change_du_state_journaled(
    modules: &mut SoftwareModules,
    operations: &[OperationStruct],
    fetcher: &dyn Fetch,
    journal: &Path,
) -> std::io::Result<Vec<OpResultStruct>> {
    let mut state = match std::fs::read(journal) {
        Ok(bytes) => serde_json::from_slice::<Journal>(&bytes).map_err(std::io::Error::other)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Journal { operations: operations.len(), done: 0, results: Vec::new(), in_progress: None }
        }
        Err(e) => return Err(e),
    };
    if state.operations != operations.len() || state.done > operations.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the journal is of another ChangeDUState"));
    }
    while state.done < operations.len() {
        let resumed = state.in_progress.clone();
        if resumed.is_none() {
            state.in_progress = Some(snapshot(modules));
            save(journal, &state)?;
        }
        let results = run_operation(modules, &operations[state.done], fetcher, resumed.as_deref()).await;
        state.results.extend(results.iter().map(StoredResult::from));
        state.done += 1;
        state.in_progress = None;
        save(journal, &state)?;
    }
    Ok(state.results.into_iter().map(OpResultStruct::from).collect())
}

fn save(path: &Path, state: &Journal) -> std::io::Result<()> {
    write_atomically(path, &serde_json::to_vec(state).map_err(std::io::Error::other)?)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use cwmp_wire::rpc::{InstallOpStruct, UninstallOpStruct};

    use super::*;
    use crate::du::{DEVICE_PREFIX, DirectoryEe, change_du_state};
    use crate::transfer::{Fetched, TransferError};

    /// Serves one package for every URL.
    struct OnePackage(std::path::PathBuf);

    impl Fetch for OnePackage {
        fn fetch<'a>(
            &'a self,
            url: &'a str,
            _: &'a str,
            _: &'a str,
            _: u64,
        ) -> Pin<Box<dyn Future<Output = Result<Fetched, TransferError>> + Send + 'a>> {
            Box::pin(async move {
                let path = self.0.with_extension("copy");
                std::fs::copy(&self.0, &path).unwrap();
                let now = jiff::Timestamp::now();
                Ok(Fetched {
                    path,
                    size: 0,
                    content_type: None,
                    final_url: url.into(),
                    start_time: now,
                    complete_time: now,
                })
            })
        }
    }

    fn setup() -> (tempfile::TempDir, SoftwareModules, OnePackage) {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let manifest = b"name = 'app'\nvendor = 'example.com'\nversion = '1.0'\n[[execution_unit]]\nname = 'e'\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, "cwmp-du.toml", &manifest[..]).unwrap();
        let package = dir.path().join("app.tar");
        std::fs::write(&package, builder.into_inner().unwrap()).unwrap();
        let ee = DirectoryEe::open(dir.path().join("ee"), "ee").unwrap();
        let modules = SoftwareModules::open(vec![Box::new(ee)], dir.path().join("m.json"), DEVICE_PREFIX).unwrap();
        (dir, modules, OnePackage(package))
    }

    fn install() -> OperationStruct {
        OperationStruct::Install(InstallOpStruct { url: "http://f/app.tar".into(), ..Default::default() })
    }

    fn uninstall(uuid: &str) -> OperationStruct {
        OperationStruct::Uninstall(UninstallOpStruct { uuid: uuid.into(), version: None, execution_env_ref: None })
    }

    /// The agent stopped after the EE committed but before the journal recorded it: the
    /// operation is reported as done, not done again (which would give 9026 or 9028).
    #[tokio::test]
    async fn interrupted_operations_are_not_done_twice() {
        let (dir, mut modules, fetch) = setup();
        let journal = dir.path().join("cdus.json");
        let uuid = super::super::uuid::du_uuid("app", "example.com");
        let ops = [install(), uninstall(&uuid)];

        // Operation 0 started (its snapshot saved) and the install happened, then the stop.
        let before_install = snapshot(&modules);
        let state = Journal { operations: 2, done: 0, results: Vec::new(), in_progress: Some(before_install) };
        save(&journal, &state).unwrap();
        let installed = change_du_state(&mut modules, &ops[..1], &fetch).await;
        assert_eq!(installed[0].fault.fault_code, 0);

        // Restart: the install is recognised, the uninstall runs.
        let results = change_du_state_journaled(&mut modules, &ops, &fetch, &journal).await.unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!((results[0].fault.fault_code, results[0].current_state.as_str()), (0, "Installed"));
        assert_eq!(results[0].deployment_unit_ref, installed[0].deployment_unit_ref);
        assert_eq!((results[1].fault.fault_code, results[1].current_state.as_str()), (0, "Uninstalled"));
        assert!(modules.deployment_units().is_empty());

        // Once finished, running again returns the same results without doing anything.
        let again = change_du_state_journaled(&mut modules, &ops, &fetch, &journal).await.unwrap();
        assert_eq!(again, results);
    }

    #[tokio::test]
    async fn interrupted_uninstall_is_reported_once() {
        let (dir, mut modules, fetch) = setup();
        change_du_state(&mut modules, &[install()], &fetch).await;
        let uuid = super::super::uuid::du_uuid("app", "example.com");
        let refs = (modules.deployment_units()[0].path.clone(), modules.execution_units()[0].path.clone());
        let journal = dir.path().join("cdus.json");
        let ops = [uninstall(&uuid)];
        // The uninstall happened but the journal still says "in progress".
        let state = Journal { operations: 1, done: 0, results: Vec::new(), in_progress: Some(snapshot(&modules)) };
        save(&journal, &state).unwrap();
        change_du_state(&mut modules, &ops, &fetch).await;

        let results = change_du_state_journaled(&mut modules, &ops, &fetch, &journal).await.unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].fault.fault_code, results[0].current_state.as_str()), (0, "Uninstalled"));
        assert_eq!((results[0].deployment_unit_ref.clone(), results[0].execution_unit_ref_list.clone()), refs);
    }

    #[tokio::test]
    async fn a_journal_of_another_request_is_refused() {
        let (dir, mut modules, fetch) = setup();
        let journal = dir.path().join("cdus.json");
        change_du_state_journaled(&mut modules, &[install()], &fetch, &journal).await.unwrap();
        let e = change_du_state_journaled(&mut modules, &[install(), install()], &fetch, &journal).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}
