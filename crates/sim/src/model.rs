//! The data model every simulated device shares: a schema and a template (the built-in
//! TR-181 or TR-098 model, or a real device's parameter dump), with the management-server
//! settings of the run written into the template, so that a device stores only what makes
//! it itself (serial number, Connection Request URL, what the ACS changed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cwmp_model::import::fixture::{self, FixtureError};
use cwmp_model::schema::Child;
use cwmp_model::{ModelError, Template, TemplateBuilder, tr098, tr181};

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The built-in TR-181 `Device:2` model, in its factory state.
    Tr181,
    /// The built-in TR-098 `InternetGatewayDevice:1` model.
    Tr098,
    /// A CSV parameter dump of a real device (`Parameter,Object,Writable,Value,Value type`).
    Dump(PathBuf),
}

impl std::str::FromStr for ModelSource {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelSource, String> {
        Ok(match s {
            "tr181" => ModelSource::Tr181,
            "tr098" => ModelSource::Tr098,
            path if path.ends_with(".csv") => ModelSource::Dump(PathBuf::from(path)),
            other => return Err(format!("{other:?}: use tr181, tr098 or a .csv device dump")),
        })
    }
}

/// The identity and management-server settings written into the template.
#[derive(Debug, Clone, Default)]
pub struct ModelSettings {
    pub acs_url: String,
    /// `ManagementServer.Username`; empty: TR-069 3.4.4's `OUI-ProductClass-SerialNumber`.
    pub acs_username: String,
    pub acs_password: String,
    /// Seconds between periodic informs.
    pub inform_interval: u32,
    /// Overrides of the dump's (or the built-in defaults') identity.
    pub manufacturer: Option<String>,
    pub oui: Option<String>,
    pub product_class: Option<String>,
    pub software_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {error}")]
    Dump { path: String, error: FixtureError },
    #[error("{0}")]
    Model(#[from] ModelError),
}

/// The shared model of a run.
#[derive(Debug, Clone)]
pub struct SharedModel {
    pub template: Arc<Template>,
    /// `Device.` or `InternetGatewayDevice.`.
    pub root: String,
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub software_version: String,
}

impl SharedModel {
    /// Whether the model has this parameter (a dump may lack some standard ones).
    pub fn has(&self, path: &str) -> bool {
        matches!(self.template.schema().lookup(path), Some(Child::Param(_)))
    }

    pub fn ms(&self, name: &str) -> String {
        format!("{}ManagementServer.{name}", self.root)
    }

    pub fn info(&self, name: &str) -> String {
        format!("{}DeviceInfo.{name}", self.root)
    }
}

/// Builds the template of `source` with `settings` applied.
pub fn build(source: &ModelSource, settings: &ModelSettings) -> Result<SharedModel, BuildError> {
    let (base, dump_id) = match source {
        ModelSource::Tr181 => (Template::new(tr181()), None),
        ModelSource::Tr098 => (Template::new(tr098()), None),
        ModelSource::Dump(path) => load_dump(path)?,
    };
    let schema = base.schema().clone();
    let root = schema.object(schema.root()).path.to_string();
    let pick = |given: &Option<String>, dumped: Option<&String>, default: &str| {
        given.clone().or_else(|| dumped.filter(|v| !v.is_empty()).cloned()).unwrap_or_else(|| default.to_owned())
    };
    let mut model = SharedModel {
        template: base.clone(),
        root,
        manufacturer: pick(&settings.manufacturer, dump_id.as_ref().map(|d| &d.0), "cwmp-sim"),
        oui: pick(&settings.oui, dump_id.as_ref().map(|d| &d.1), "00C0FF"),
        product_class: pick(&settings.product_class, dump_id.as_ref().map(|d| &d.2), "SimCPE"),
        software_version: String::new(),
    };
    let dumped_version = base.schema().lookup(&model.info("SoftwareVersion")).and_then(|_| {
        let device = cwmp_model::Device::new(base.clone());
        device.get(&model.info("SoftwareVersion")).ok().filter(|v| !v.is_empty())
    });
    model.software_version = pick(&settings.software_version, dumped_version.as_ref(), "1.0.0");
    let mut builder = TemplateBuilder::from_template(base);
    let values = [
        (model.ms("URL"), settings.acs_url.clone()),
        (model.ms("Username"), settings.acs_username.clone()),
        (model.ms("Password"), settings.acs_password.clone()),
        // TR-098 gives EnableCWMP no default, and its zero (false) would keep every
        // simulated device from informing.
        (model.ms("EnableCWMP"), "true".to_owned()),
        (model.ms("PeriodicInformEnable"), "true".to_owned()),
        (model.ms("PeriodicInformInterval"), settings.inform_interval.max(1).to_string()),
        // A dump's own Connection Request credentials would be shared by every device;
        // the ACS gives each its own (TR-069 3.2.2).
        (model.ms("ConnectionRequestUsername"), String::new()),
        (model.ms("ConnectionRequestPassword"), String::new()),
        (model.info("Manufacturer"), model.manufacturer.clone()),
        (model.info("ManufacturerOUI"), model.oui.clone()),
        (model.info("ProductClass"), model.product_class.clone()),
        (model.info("SoftwareVersion"), model.software_version.clone()),
    ];
    for (path, value) in values {
        if model.has(&path) {
            builder.set(&path, &value)?;
        }
    }
    model.template = builder.build();
    Ok(model)
}

/// Manufacturer, OUI and product class of a dump's `DeviceID`.
type DumpIdentity = (String, String, String);

/// A dump's template and its identity.
fn load_dump(path: &Path) -> Result<(Arc<Template>, Option<DumpIdentity>), BuildError> {
    let error = |error: FixtureError| BuildError::Dump { path: path.display().to_string(), error };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.into()))?;
    // The standard model the device implements gives the facts a dump cannot show
    // (forced inform, default notification).
    let reference = if text.contains("\nInternetGatewayDevice.") { tr098() } else { tr181() };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dump = fixture::parse(&text, &name, Some(&reference)).map_err(error)?;
    let template = dump.template().map_err(error)?;
    let id = dump.device_id.map(|d| (d.manufacturer, d.oui, d.product_class));
    Ok((template, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cwmp_model::Device;

    fn settings() -> ModelSettings {
        ModelSettings { acs_url: "http://acs.example:7547/".into(), inform_interval: 300, ..ModelSettings::default() }
    }

    #[test]
    fn built_in_models_carry_the_run_settings() {
        for (source, root) in [(ModelSource::Tr181, "Device."), (ModelSource::Tr098, "InternetGatewayDevice.")] {
            let model = build(&source, &settings()).unwrap();
            assert_eq!(model.root, root);
            let device = Device::new(model.template.clone());
            assert_eq!(device.get(&model.ms("URL")).unwrap(), "http://acs.example:7547/");
            assert_eq!(device.get(&model.ms("PeriodicInformInterval")).unwrap(), "300");
            let enabled = device.get(&model.ms("EnableCWMP")).unwrap();
            assert!(matches!(enabled.as_str(), "1" | "true"), "{root}EnableCWMP = {enabled}");
            assert_eq!(device.get(&model.info("ManufacturerOUI")).unwrap(), "00C0FF");
            assert_eq!(device.get(&model.info("SoftwareVersion")).unwrap(), "1.0.0");
        }
    }

    #[test]
    fn a_device_dump_keeps_its_identity_but_not_its_management_server() {
        let Some(path) = cwmp_test_support::shared_file("fixtures/device-202BC1-BM632w-tr098.csv") else { return };
        let model = build(&ModelSource::Dump(path), &settings()).unwrap();
        assert_eq!(model.root, "InternetGatewayDevice.");
        assert_eq!((model.oui.as_str(), model.product_class.as_str()), ("202BC1", "BM632w"));
        assert_eq!(model.software_version, "V100R001IRQC56B017");
        let device = Device::new(model.template.clone());
        assert_eq!(device.get(&model.ms("URL")).unwrap(), "http://acs.example:7547/");
        assert_eq!(device.get(&model.ms("ConnectionRequestUsername")).unwrap(), "");
        assert_eq!(device.get(&model.ms("Username")).unwrap(), "");
        assert!(!model.has(&model.ms("PeriodicInformTime")), "this dump has no PeriodicInformTime");
    }

    #[test]
    fn sources_parse() {
        assert_eq!("tr181".parse::<ModelSource>().unwrap(), ModelSource::Tr181);
        assert_eq!("x/d.csv".parse::<ModelSource>().unwrap(), ModelSource::Dump(PathBuf::from("x/d.csv")));
        assert!("tr999".parse::<ModelSource>().is_err());
    }
}
