//! The shipped fact files in `models/` are exactly what the importer makes of the BBF XML in
//! `../shared/datamodels`. Set `CWMP_REGENERATE_MODELS=1` to rewrite them.

use std::path::PathBuf;

use cwmp_model::facts::FactFile;

fn models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"))
}

fn check(xml: &str, shipped: &str) -> Option<FactFile> {
    let source = cwmp_test_support::shared_file(&format!("datamodels/{xml}"))?;
    let mut files = cwmp_model::import::import_file(&source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files.len(), 1);
    let file = files.remove(0);
    let text = file.to_text();
    let target = models_dir().join(shipped);
    if std::env::var_os("CWMP_REGENERATE_MODELS").is_some() {
        std::fs::write(&target, &text).unwrap();
    }
    let current = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(current == text, "{} is stale: run with CWMP_REGENERATE_MODELS=1", target.display());
    assert_eq!(FactFile::parse(&current).unwrap(), file);
    Some(file)
}

#[test]
fn tr181_import_counts() {
    let Some(file) = check("tr-181-2-17-0-cwmp-full.xml", "tr-181-2-17-device-2.jsonl") else { return };
    let (objects, params) = file.counts();
    println!("TR-181 {}: {objects} objects, {params} parameters", file.info.model);
    assert_eq!(file.info.model, "Device:2.17");
}

#[test]
fn tr098_import_counts() {
    let Some(file) = check("tr-098-1-8-0-full.xml", "tr-098-1-8-internetgatewaydevice-1.jsonl") else { return };
    let (objects, params) = file.counts();
    println!("TR-098 {}: {objects} objects, {params} parameters", file.info.model);
    assert_eq!(file.info.model, "InternetGatewayDevice:1.14");
}
