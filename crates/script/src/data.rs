//! What a script can read: the ACS's snapshot of the device's parameter tree.

use crate::Declaration;

/// The ACS's view of one device, as the script sees it through `declare()`.
///
/// The sandbox does not parse paths: the ACS resolves GenieACS path expressions (instance
/// wildcards `*` and alias filters `[Key:value,...]`) and decides what its snapshot can answer.
pub trait ScriptData {
    /// Nodes (parameters, objects, object instances) matching a GenieACS-style path, in the
    /// order the script should see them (GenieACS: the order of the path, instances by number).
    fn query(&self, path: &str) -> Vec<Node>;

    /// Whether the snapshot can answer `declaration` now, as the script means it.
    ///
    /// Called the first time the script reads the result of a `declare()` (`.value`, `.size`,
    /// iteration...). When it returns `false` the run stops there, as GenieACS's implicit
    /// commit does: [`Output::suspended_at`](crate::Output::suspended_at) names the declaration,
    /// and the ACS fetches or sets what is missing and runs the script again. GenieACS's rule is
    /// that every attribute named in the declaration's timestamps (and `path`, which defaults to
    /// 1, and any attribute given a value, whose timestamp defaults to 1) was refreshed at or
    /// after that timestamp, and that declared values are applied. Returning `true` always
    /// makes the script run to its end against the snapshot as it is.
    fn satisfies(&self, declaration: &Declaration) -> bool;

    /// The result of an extension call made earlier in the session (`ext(file, function,
    /// ...args)`, every argument as text, as GenieACS passes them), or `None` when it has not
    /// run yet: the run then stops there with [`Output::extension_call`](crate::Output::extension_call)
    /// set. The sandbox never runs extensions itself.
    fn extension(&self, call: &[String]) -> Option<serde_json::Value> {
        let _ = call;
        None
    }
}

/// One node of the device's tree, with the attributes the ACS knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Full path, e.g. `Device.WiFi.SSID.1.SSID`; objects and instances without the final dot.
    pub path: String,
    /// Object or object instance (no value).
    pub object: bool,
    /// Value and its type as on the wire (`xsd:boolean`, `xsd:unsignedInt`, ...).
    pub value: Option<(String, String)>,
    /// Writable (parameters), instances can be added (objects) or deleted (instances).
    pub writable: Option<bool>,
    /// When the value was last read from or written to the device (ms since the epoch).
    pub value_ts: Option<i64>,
    /// When the node's presence was last confirmed (ms since the epoch).
    pub path_ts: Option<i64>,
    /// Notification attribute (TR-069 A.3.2.4, 0-6).
    pub notification: Option<i32>,
    /// AccessList attribute.
    pub access_list: Option<Vec<String>>,
}
