//! Requests the CPE owes the ACS (TR-069 3.7.1.3, Table 8): TransferComplete,
//! AutonomousTransferComplete, DUStateChangeComplete, AutonomousDUStateChangeComplete,
//! RequestDownload and GetRPCMethods.
//!
//! Each pending request carries the events that announce it in the Inform (`7 TRANSFER
//! COMPLETE` + `M Download`, …). Both are delivered only when the ACS answers the request
//! successfully (3.7.1.5 item 4), so the request and its events live and die together here.
//! A request is kept as its SOAP envelope, written by the wire codec, so that it survives a
//! reboot byte for byte.

use cwmp_wire::{EncodeOptions, Envelope, Limits, Message, Namespace};
use serde::{Deserialize, Serialize};

use crate::events::{self, Event};

/// What a pending request is, and so which events announce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// `7 TRANSFER COMPLETE` + `M Download` / `M Upload` / `M ScheduleDownload`.
    TransferComplete { method_event: String, command_key: String },
    /// `10 AUTONOMOUS TRANSFER COMPLETE`.
    AutonomousTransferComplete,
    /// `11 DU STATE CHANGE COMPLETE` + `M ChangeDUState`.
    DuStateChangeComplete { command_key: String },
    /// `12 AUTONOMOUS DU STATE CHANGE COMPLETE`.
    AutonomousDuStateChangeComplete,
    /// `9 REQUEST DOWNLOAD`.
    RequestDownload,
    /// No event: sent in the next session for another reason.
    GetRpcMethods,
}

impl Kind {
    /// The single code and the `M` event that announce the request, if any.
    pub fn events(&self) -> (Option<&'static str>, Option<Event>) {
        match self {
            Kind::TransferComplete { method_event, command_key } => {
                (Some(events::TRANSFER_COMPLETE), Some(Event::method(method_event, command_key)))
            }
            Kind::AutonomousTransferComplete => (Some(events::AUTONOMOUS_TRANSFER_COMPLETE), None),
            Kind::DuStateChangeComplete { command_key } => {
                (Some(events::DU_STATE_CHANGE_COMPLETE), Some(Event::method(events::M_CHANGE_DU_STATE, command_key)))
            }
            Kind::AutonomousDuStateChangeComplete => (Some(events::AUTONOMOUS_DU_STATE_CHANGE_COMPLETE), None),
            Kind::RequestDownload => (Some(events::REQUEST_DOWNLOAD), None),
            Kind::GetRpcMethods => (None, None),
        }
    }

    /// Whether CWMP 1.0 has the method and its events (for the fallback to 1.0).
    pub fn in_v1_0(&self) -> bool {
        match self {
            Kind::TransferComplete { method_event, .. } => events::in_v1_0(method_event),
            Kind::GetRpcMethods => true,
            _ => false,
        }
    }
}

/// One pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: u64,
    #[serde(flatten)]
    pub kind: Kind,
    /// The request as a SOAP envelope.
    pub envelope: String,
}

impl Item {
    /// The request message, read back from its envelope.
    pub fn message(&self) -> Option<Message> {
        match cwmp_wire::decode(self.envelope.as_bytes(), &Limits::default()) {
            Ok(envelope) => Some(envelope.message),
            Err(e) => {
                tracing::error!(%e, id = self.id, "a stored CPE request cannot be read back; dropping it");
                None
            }
        }
    }
}

/// The pending requests, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    items: Vec<Item>,
    next_id: u64,
}

impl Outbox {
    /// Queues a request; returns its id.
    pub fn push(&mut self, kind: Kind, message: impl Into<Message>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = Envelope::new(Namespace::Cwmp12, message).encode(&EncodeOptions::default());
        let envelope = String::from_utf8(bytes).expect("the codec writes UTF-8");
        self.items.push(Item { id, kind, envelope });
        id
    }

    /// The ACS answered the request: it and its events are delivered.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.items.len();
        self.items.retain(|i| i.id != id);
        before != self.items.len()
    }

    /// `0 BOOTSTRAP` discards every undelivered event, these included (Table 8).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Item> {
        self.items.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use cwmp_wire::rpc::{FaultStruct, TransferComplete};
    use cwmp_wire::{DateTime, Message};

    use super::*;

    #[test]
    fn requests_survive_as_envelopes() {
        let mut outbox = Outbox::default();
        let tc = TransferComplete {
            command_key: "dl-1".into(),
            fault_struct: FaultStruct { fault_code: 9010, fault_string: "refused".into() },
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
        };
        let kind = Kind::TransferComplete { method_event: events::M_DOWNLOAD.into(), command_key: "dl-1".into() };
        let id = outbox.push(kind, tc.clone());
        let json = serde_json::to_string(&outbox).unwrap();
        let back: Outbox = serde_json::from_str(&json).unwrap();
        let item = back.iter().next().unwrap();
        assert_eq!(item.id, id);
        assert_eq!(item.message(), Some(Message::TransferComplete(tc)));
        assert_eq!(
            item.kind.events(),
            (Some(events::TRANSFER_COMPLETE), Some(Event::method(events::M_DOWNLOAD, "dl-1")))
        );
    }
}
