//! Deployment Unit and Execution Unit states (TR-069 Appendix VI, Figures 29 and 30;
//! TR-181 `SoftwareModules.DeploymentUnit.{i}.Status`, `ExecutionUnit.{i}.Status`).

use serde::{Deserialize, Serialize};

/// `DeploymentUnit.{i}.Status` (Figure 29). Installing, Updating and Uninstalling are
/// transitory; an uninstalled DU disappears from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DuStatus {
    Installing,
    Installed,
    Updating,
    Uninstalling,
    Uninstalled,
}

impl DuStatus {
    /// The data-model string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installing => "Installing",
            Self::Installed => "Installed",
            Self::Updating => "Updating",
            Self::Uninstalling => "Uninstalling",
            Self::Uninstalled => "Uninstalled",
        }
    }

    /// Whether an Update or Uninstall may start from this state (S-7: otherwise 9029).
    pub fn accepts_change(self) -> bool {
        self == Self::Installed
    }
}

/// `OpResultStruct.CurrentState` (A.4.2.3): the DU's state after an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpResultState {
    /// A successful Install or Update, and also a failed Update or Uninstall.
    Installed,
    Uninstalled,
    /// A failed Install: no DU instance exists.
    Failed,
}

impl OpResultState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "Installed",
            Self::Uninstalled => "Uninstalled",
            Self::Failed => "Failed",
        }
    }
}

/// `ExecutionUnit.{i}.Status` (Figure 30). Starting and Stopping are transitory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EuStatus {
    Idle,
    Starting,
    Active,
    Stopping,
}

impl EuStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Starting => "Starting",
            Self::Active => "Active",
            Self::Stopping => "Stopping",
        }
    }
}

/// `ExecutionUnit.{i}.RequestedState`: what the ACS asks for with SetParameterValues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EuRequestedState {
    Idle,
    Active,
}

impl EuRequestedState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Idle" => Some(Self::Idle),
            "Active" => Some(Self::Active),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Active => "Active",
        }
    }
}

/// `ExecutionUnit.{i}.ExecutionFaultCode` (Appendix VI E-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionFaultCode {
    NoFault,
    FailureOnStart,
    FailureOnAutoStart,
    FailureOnStop,
    FailureWhileActive,
    DependencyFailure,
    /// Written `UnStartable`, the data model's spelling (the prose says "Unstartable").
    UnStartable,
}

impl ExecutionFaultCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoFault => "NoFault",
            Self::FailureOnStart => "FailureOnStart",
            Self::FailureOnAutoStart => "FailureOnAutoStart",
            Self::FailureOnStop => "FailureOnStop",
            Self::FailureWhileActive => "FailureWhileActive",
            Self::DependencyFailure => "DependencyFailure",
            Self::UnStartable => "UnStartable",
        }
    }
}

/// The outcome of asking an EU for `requested` (Figure 30), for an EU that is `current`,
/// in a DU that is `resolved`, on an EE that is `enabled`: the transitory state passed
/// through and the final state with its fault code. A start that cannot happen leaves the
/// EU Idle with the reason (E-3: never retried automatically).
pub fn eu_transition(
    current: EuStatus,
    requested: EuRequestedState,
    resolved: bool,
    enabled: bool,
) -> (Option<EuStatus>, EuStatus, ExecutionFaultCode) {
    match (requested, current) {
        (EuRequestedState::Active, EuStatus::Active | EuStatus::Starting) => {
            (None, EuStatus::Active, ExecutionFaultCode::NoFault)
        }
        (EuRequestedState::Active, _) if !enabled => (None, EuStatus::Idle, ExecutionFaultCode::UnStartable),
        (EuRequestedState::Active, _) if !resolved => (None, EuStatus::Idle, ExecutionFaultCode::DependencyFailure),
        (EuRequestedState::Active, _) => (Some(EuStatus::Starting), EuStatus::Active, ExecutionFaultCode::NoFault),
        (EuRequestedState::Idle, EuStatus::Idle | EuStatus::Stopping) => {
            (None, EuStatus::Idle, ExecutionFaultCode::NoFault)
        }
        (EuRequestedState::Idle, _) => (Some(EuStatus::Stopping), EuStatus::Idle, ExecutionFaultCode::NoFault),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eu_state_machine() {
        use EuRequestedState as R;
        use EuStatus as S;
        use ExecutionFaultCode as F;
        assert_eq!(eu_transition(S::Idle, R::Active, true, true), (Some(S::Starting), S::Active, F::NoFault));
        assert_eq!(eu_transition(S::Active, R::Idle, true, true), (Some(S::Stopping), S::Idle, F::NoFault));
        assert_eq!(eu_transition(S::Active, R::Active, true, true), (None, S::Active, F::NoFault));
        assert_eq!(eu_transition(S::Idle, R::Idle, true, true), (None, S::Idle, F::NoFault));
        assert_eq!(eu_transition(S::Idle, R::Active, false, true), (None, S::Idle, F::DependencyFailure));
        assert_eq!(eu_transition(S::Idle, R::Active, true, false), (None, S::Idle, F::UnStartable));
    }

    #[test]
    fn strings() {
        assert_eq!(DuStatus::Installed.as_str(), "Installed");
        assert!(DuStatus::Installed.accepts_change());
        assert!(!DuStatus::Updating.accepts_change());
        assert_eq!(OpResultState::Failed.as_str(), "Failed");
        assert_eq!(EuRequestedState::parse("Active"), Some(EuRequestedState::Active));
        assert_eq!(EuRequestedState::parse("active"), None);
        assert_eq!(EuStatus::Starting.as_str(), "Starting");
        assert_eq!(ExecutionFaultCode::UnStartable.as_str(), "UnStartable");
    }
}
