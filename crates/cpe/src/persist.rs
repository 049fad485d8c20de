//! The agent state that must survive a reboot (TR-069 3.7.1.5 item 12, A.3.2.8, A.4.1.2):
//! undelivered events, the requests and transfer results owed to the ACS, the transfer
//! queue, ChangeDUState jobs, scheduled informs, the retry count, the URL of the ACS last
//! contacted, a pending reboot or factory reset, and what was learnt about the ACS's
//! version.
//!
//! It is one JSON document written through a [`StateStore`] (a file replaced atomically:
//! temporary file, flush, rename, directory flush), after every change, so that a crash at
//! any point leaves either the old state or the new one. The data model's own state (values,
//! attributes, instances) is persisted by `cwmp-model` in its own document.

use cwmp_model::persist::StateStore;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::events::EventQueue;
use crate::outbox::Outbox;
use crate::queue::{DuJobs, TransferQueue};
use crate::schedule::ScheduledInforms;

/// Version of the persisted document.
pub const STATE_FORMAT: u32 = 1;

/// Everything the agent keeps across reboots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub format: u32,
    /// Undelivered events confirmed by an InformResponse.
    #[serde(default)]
    pub events: EventQueue,
    /// Requests owed to the ACS (TransferComplete, …) with their events.
    #[serde(default)]
    pub outbox: Outbox,
    #[serde(default)]
    pub transfers: TransferQueue,
    #[serde(default)]
    pub du_jobs: DuJobs,
    #[serde(default)]
    pub scheduled_informs: ScheduledInforms,
    /// The Inform's RetryCount: 0 if and only if the last session succeeded (A.3.3.1).
    #[serde(default)]
    pub retry_count: u32,
    /// Why the last session failed (`None` once one succeeds), so that an operator, or a
    /// test, can tell an ACS that was never reached from one that refused the CPE (an
    /// unknown CA, an expired certificate, 401).
    #[serde(default)]
    pub last_failure: Option<String>,
    /// `ManagementServer.URL` when the last session was attempted; another URL means a new
    /// ACS and `0 BOOTSTRAP` (3.1 item 14).
    #[serde(default)]
    pub acs_url: Option<String>,
    /// CommandKeys of the Reboot calls accepted and not yet followed by a boot: each
    /// becomes an `M Reboot` event at the next boot (Table 8).
    #[serde(default)]
    pub reboot_command_keys: Vec<String>,
    /// A Reboot was accepted: reboot once the session has ended cleanly (3.7.1.4 item 7).
    #[serde(default)]
    pub reboot_pending: bool,
    /// A FactoryReset was accepted: reset once the session has ended cleanly; if the CPE
    /// restarts first, the reset happens at boot.
    #[serde(default)]
    pub factory_reset_pending: bool,
    /// Where a periodic schedule without PeriodicInformTime counts from.
    #[serde(default)]
    pub periodic_anchor: Option<Timestamp>,
    /// The ACS has accepted a version newer than 1.0 at least once.
    #[serde(default)]
    pub acs_accepted_newer: bool,
    /// The ACS seems to speak only CWMP 1.0 (3.2.1.1 item 2): sessions use 1.0 until the
    /// next boot.
    #[serde(default)]
    pub fallback_v1_0: bool,
    /// The ACS answered 415 to a compressed request (3.4.7): send uncompressed.
    #[serde(default)]
    pub compression_disabled: bool,
}

impl AgentState {
    /// The state of a CPE fresh from the factory.
    pub fn fresh() -> AgentState {
        AgentState { format: STATE_FORMAT, ..AgentState::default() }
    }
}

/// Why a stored state was not used.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("state store: {0}")]
    Io(#[from] std::io::Error),
    #[error("unreadable agent state: {0}")]
    Format(String),
}

/// Reads the stored state; `None` when there is none (first boot or after a factory reset).
pub fn load(store: &mut dyn StateStore) -> Result<Option<AgentState>, PersistError> {
    let Some(bytes) = store.load()? else { return Ok(None) };
    let state: AgentState = serde_json::from_slice(&bytes).map_err(|e| PersistError::Format(e.to_string()))?;
    if state.format != STATE_FORMAT {
        return Err(PersistError::Format(format!("format {} (expected {STATE_FORMAT})", state.format)));
    }
    Ok(Some(state))
}

/// Replaces the stored state atomically.
pub fn save(store: &mut dyn StateStore, state: &AgentState) -> Result<(), PersistError> {
    let bytes = serde_json::to_vec(state).map_err(|e| PersistError::Format(e.to_string()))?;
    store.save(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cwmp_model::persist::MemoryStore;

    use super::*;
    use crate::events::{Event, M_SCHEDULE_INFORM, PERIODIC};

    #[test]
    fn round_trip() {
        let mut store = MemoryStore::new();
        assert!(load(&mut store).unwrap().is_none());
        let mut state = AgentState::fresh();
        state.events.add(Event::single(PERIODIC));
        state.events.add(Event::method(M_SCHEDULE_INFORM, "k"));
        state.retry_count = 4;
        state.acs_url = Some("http://acs/".into());
        save(&mut store, &state).unwrap();
        assert_eq!(load(&mut store).unwrap(), Some(state));
    }

    #[test]
    fn unreadable_state_is_an_error() {
        let mut store = MemoryStore::new();
        store.save(b"{not json").unwrap();
        assert!(matches!(load(&mut store), Err(PersistError::Format(_))));
        store.save(br#"{"format": 99}"#).unwrap();
        assert!(matches!(load(&mut store), Err(PersistError::Format(_))));
    }
}
