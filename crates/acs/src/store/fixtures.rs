//! Values for unit tests: one device (`00D09E-Box-S1`, id 7) and its tasks. Tests change
//! what they need with struct update syntax.

use super::{ConnectionRequestInfo, Device, DeviceIdentity, Task, TaskStatus};
use crate::tasks::TaskKind;

pub(crate) fn device() -> Device {
    Device {
        id: 7,
        key: "00D09E-Box-S1".into(),
        identity: DeviceIdentity {
            manufacturer: "Acme".into(),
            oui: "00D09E".into(),
            product_class: "Box".into(),
            serial_number: "S1".into(),
        },
        created_at: 0,
        last_inform: None,
        last_boot: None,
        last_bootstrap: None,
        last_events: vec![],
        cwmp_version: None,
        remote_addr: None,
        connection_request: ConnectionRequestInfo::default(),
        tags: vec![],
        credentials: None,
    }
}

/// A pending task of [`device`].
pub(crate) fn task(id: i64, kind: TaskKind) -> Task {
    Task {
        id,
        device_key: "00D09E-Box-S1".into(),
        device_id: 7,
        kind,
        status: TaskStatus::Pending,
        created_at: 0,
        updated_at: 0,
        not_before: 0,
        expires_at: None,
        attempts: 0,
        max_attempts: 3,
        result: None,
        fault: None,
    }
}
