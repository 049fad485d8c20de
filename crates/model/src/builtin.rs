//! The data models shipped with the crate: TR-181 `Device:2.17` and TR-098
//! `InternetGatewayDevice:1.14`, generated from the BBF XML into `models/` and embedded in
//! the binary so that nothing outside the executable is needed at run time.

use crate::facts::FactFile;

/// The TR-181 Issue 2 Amendment 17 fact file (`models/tr-181-2-17-device-2.jsonl`).
pub const TR181_FACTS: &str = include_str!("../../../models/tr-181-2-17-device-2.jsonl");
/// The TR-098 Amendment 8 fact file (`models/tr-098-1-8-internetgatewaydevice-1.jsonl`).
pub const TR098_FACTS: &str = include_str!("../../../models/tr-098-1-8-internetgatewaydevice-1.jsonl");

/// The shipped fact file for a model name: an exact match, or the same root and major
/// version (`Device:2.16` is served by `Device:2.17`, which is a superset).
pub fn facts_for_model(name: &str) -> Option<FactFile> {
    let major = |n: &str| n.split_once('.').map_or(n.to_owned(), |(m, _)| m.to_owned());
    [TR181_FACTS, TR098_FACTS].into_iter().find_map(|text| {
        let file = FactFile::parse(text).ok()?;
        (file.info.model == name || major(&file.info.model) == major(name)).then_some(file)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_models_parse_and_match_by_major_version() {
        assert_eq!(facts_for_model("Device:2.17").unwrap().info.model, "Device:2.17");
        assert_eq!(facts_for_model("Device:2.12").unwrap().info.model, "Device:2.17");
        assert_eq!(facts_for_model("InternetGatewayDevice:1.4").unwrap().root(), Some("InternetGatewayDevice"));
        assert!(facts_for_model("Device:1.0").is_none());
        assert!(facts_for_model("X_ACME_Box:1.0").is_none());
    }
}
