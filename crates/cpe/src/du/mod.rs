//! Software Module Management (TR-069 Appendix VI, A.4.1.10 ChangeDUState, A.4.2.3
//! DUStateChangeComplete).
//!
//! * [`ExecutionEnvironment`]: the pluggable part that installs, updates and removes
//!   Deployment Units (DUs) and starts and stops their Execution Units (EUs);
//!   [`DirectoryEe`] is the working reference one (tar or tar.gz packages unpacked into a
//!   directory per DU, [`package`] describes the format).
//! * [`SoftwareModules`]: the EEs of a device with the data-model numbering of their DUs
//!   and EUs, for the `Device.SoftwareModules.` tables ([`SoftwareModules::deployment_units`],
//!   [`SoftwareModules::execution_units`], [`SoftwareModules::execution_environments`]).
//! * [`change_du_state`]: one ChangeDUState, carried out with a [`crate::transfer::Fetch`],
//!   giving the `OpResultStruct`s of its DUStateChangeComplete in request order;
//!   [`change_du_state_journaled`] does the same with its progress in a file, so an agent
//!   stopped in the middle resumes without doing an operation twice.
//! * [`uuid`]: DU UUIDs (Annex H / TR-181: version 5, DNS namespace, `Name.Vendor.`).
//! * [`state`]: the DU and EU state machines (Figures 29 and 30).
//! * [`table_changes`], [`apply_acs_writes`]: the data model's `SoftwareModules` tables kept
//!   equal to the EEs, and the ACS's writes of `RequestedState` and `Enable` handed to them.

mod change;
mod directory;
mod ee;
mod journal;
mod modules;
pub mod package;
pub mod state;
mod tables;
pub mod uuid;

pub use change::{MIN_OPERATIONS, change_du_state};
pub use directory::{DIRECTORY_EE_TYPE, DirectoryEe};
pub use ee::{DeploymentUnit, DuError, ExecEnvInfo, ExecutionEnvironment, ExecutionUnit};
pub use journal::change_du_state_journaled;
pub use modules::{DEVICE_PREFIX, DeploymentUnitEntry, ExecEnvEntry, ExecutionUnitEntry, SoftwareModules};
pub use tables::{apply_acs_writes, table_changes};
