//! Declarations: what a preset or a provision script says a device should look like. The
//! planner turns the difference between declarations and the snapshot into RPCs.

use serde::{Deserialize, Serialize};

use crate::store::Millis;

/// How fresh the ACS's knowledge of a path must be (GenieACS's `attrTimestamps`): each is a
/// time; the attribute must have been read from the device after it. `Some(1)` means "known
/// at all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The instance list (for wildcards and `[Key:value]` filters) or the node's existence.
    pub path: Option<Millis>,
    pub value: Option<Millis>,
    pub attributes: Option<Millis>,
}

/// What a path should hold (GenieACS's `attrValues`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Value, with an xsd type when the declaration named one.
    pub value: Option<(String, Option<String>)>,
    /// Number of instances matching the path: at least `.0`, at most `.1`.
    pub count: Option<(u32, u32)>,
    pub notification: Option<i32>,
    pub access_list: Option<Vec<String>>,
}

/// One declaration, owned by a channel (faults are recorded per channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub channel: String,
    pub path: String,
    pub freshness: Freshness,
    pub desired: Desired,
    /// Scripts' `commit()` boundaries: batch 0 is applied before batch 1 is planned.
    pub batch: u32,
}

impl Declaration {
    pub fn value(channel: &str, path: &str, value: &str, ty: Option<&str>) -> Declaration {
        Declaration {
            channel: channel.to_owned(),
            path: path.to_owned(),
            freshness: Freshness::default(),
            desired: Desired { value: Some((value.to_owned(), ty.map(String::from))), ..Desired::default() },
            batch: 0,
        }
    }

    pub fn refresh(channel: &str, path: &str, since: Millis) -> Declaration {
        Declaration {
            channel: channel.to_owned(),
            path: path.to_owned(),
            freshness: Freshness { path: Some(since), value: Some(since), attributes: None },
            desired: Desired::default(),
            batch: 0,
        }
    }

    pub fn instances(channel: &str, path: &str, min: u32, max: u32) -> Declaration {
        Declaration {
            channel: channel.to_owned(),
            path: path.to_owned(),
            freshness: Freshness { path: Some(1), ..Freshness::default() },
            desired: Desired { count: Some((min, max)), ..Desired::default() },
            batch: 0,
        }
    }
}
