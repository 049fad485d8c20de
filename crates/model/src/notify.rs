//! What the CPE reports in an Inform (TR-069 3.7.1.5, A.3.3.1): the Forced Inform
//! parameters, and the parameters with notification on that someone other than the ACS
//! changed since the last successful Inform.

use cwmp_wire::rpc::ParameterValueStruct;

use crate::device::Device;
use crate::tree::Key;

/// The ParameterList of an Inform and whether it needs the `4 VALUE CHANGE` event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InformParameters {
    pub parameters: Vec<ParameterValueStruct>,
    /// Some listed parameter was changed by an entity other than the ACS.
    pub value_change: bool,
}

impl Device {
    /// Every Forced Inform parameter (every instance of it) with its current value.
    pub fn forced_inform_values(&self) -> Vec<ParameterValueStruct> {
        let alias_mode = self.alias_mode();
        let mut out = Vec::new();
        for &param in self.schema.forced_inform() {
            for node in self.instances_of(self.schema.param(param).object) {
                out.push(self.inform_value(Key::new(node, param), alias_mode));
            }
        }
        out
    }

    /// The Inform ParameterList: the Forced Inform parameters, then every parameter changed
    /// by the CPE (or a LAN-side entity) whose Notification is passive or active (1, 2, 4
    /// or 6; 3 and 5 are lightweight-only) or that is forced-inform. A parameter appears
    /// once, with its latest value.
    pub fn inform_parameters(&self) -> InformParameters {
        let alias_mode = self.alias_mode();
        let mut parameters = self.forced_inform_values();
        let forced: Vec<Key> = self
            .schema
            .forced_inform()
            .iter()
            .flat_map(|&p| self.instances_of(self.schema.param(p).object).into_iter().map(move |n| Key::new(n, p)))
            .collect();
        let mut changed: Vec<Key> = self.changed.iter().copied().filter(|&k| self.reported_in_inform(k)).collect();
        changed.sort_unstable();
        let value_change = !changed.is_empty();
        for key in changed {
            if !forced.contains(&key) {
                parameters.push(self.inform_value(key, alias_mode));
            }
        }
        InformParameters { parameters, value_change }
    }

    /// Whether a change waits that calls for a session now: a parameter with active
    /// notification (2, forced active included) changed since the last Inform.
    pub fn has_active_change(&self) -> bool {
        self.changed.iter().any(|&k| self.attributes_of(k).notification == 2)
    }

    /// Whether a change waits that calls for a UDP Lightweight Notification now: a parameter
    /// with active lightweight notification (5 or 6) changed.
    pub fn has_active_lightweight_change(&self) -> bool {
        self.features.lightweight_notification
            && self.changed.iter().any(|&k| matches!(self.attributes_of(k).notification, 5 | 6))
    }

    /// Changed parameters with lightweight notification (3-6), for UDP Lightweight
    /// Notification (Annex M); empty unless the feature is enabled.
    pub fn lightweight_changes(&self) -> Vec<ParameterValueStruct> {
        if !self.features.lightweight_notification {
            return Vec::new();
        }
        let alias_mode = self.alias_mode();
        let mut keys: Vec<Key> =
            self.changed.iter().copied().filter(|&k| (3..=6).contains(&self.attributes_of(k).notification)).collect();
        keys.sort_unstable();
        keys.into_iter().map(|k| self.inform_value(k, alias_mode)).collect()
    }

    /// Forgets the recorded changes: call after an Inform carrying them succeeded (or when
    /// the CPE discards them, e.g. on BOOTSTRAP).
    pub fn clear_changes(&mut self) {
        self.changed.clear();
    }

    fn reported_in_inform(&self, key: Key) -> bool {
        self.schema.param(key.param()).facts.forced_inform
            || matches!(self.attributes_of(key).notification, 1 | 2 | 4 | 6)
    }

    fn inform_value(&self, key: Key, alias_mode: bool) -> ParameterValueStruct {
        let (node, param) = (key.node(), key.param());
        let text = self.value_for_acs(node, param).unwrap_or_else(|e| {
            tracing::warn!(%e, param = self.schema.param_path(param), "value not available for the Inform");
            std::borrow::Cow::Borrowed("")
        });
        let text = self.render(key, text, alias_mode);
        ParameterValueStruct {
            name: self.param_path(node, param, alias_mode),
            value: cwmp_wire::Value { ty: self.schema.param(param).xsd_type(), text: text.into_owned() },
        }
    }
}
