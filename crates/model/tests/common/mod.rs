//! A small data model exercising every rule, and helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use cwmp_model::{Device, Features, Schema, Template};
use cwmp_wire::rpc::*;
use cwmp_wire::{Fault, FaultCode, Value, XsdType};

pub const MODEL: &str = r##"<?xml version="1.0"?>
<dm:document xmlns:dm="urn:broadband-forum-org:cwmp:datamodel-1-15" spec="urn:example-com:test-1-0">
  <dataType name="Alias"><string><size maxLength="64"/></string></dataType>
  <dataType name="IPv4Address"><string><size maxLength="15"/><pattern value=""/>
    <pattern value="((25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"/></string></dataType>
  <model name="Test:1.0">
    <object name="Device." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="RootDataModelVersion" access="readOnly" forcedInform="true"><syntax><string/><default type="object" value="1.0"/></syntax></parameter>
      <parameter name="InterfaceNumberOfEntries" access="readOnly"><syntax><unsignedInt/></syntax></parameter>
      <parameter name="LinkNumberOfEntries" access="readOnly"><syntax><unsignedInt/></syntax></parameter>
    </object>
    <object name="Device.ManagementServer." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="URL" access="readWrite"><syntax><string><size maxLength="256"/></string></syntax></parameter>
      <parameter name="Password" access="readWrite"><syntax hidden="true"><string><size maxLength="256"/></string></syntax></parameter>
      <parameter name="PeriodicInformInterval" access="readWrite"><syntax><unsignedInt><range minInclusive="1"/></unsignedInt><default type="object" value="86400"/></syntax></parameter>
      <parameter name="ParameterKey" access="readOnly" forcedInform="true" activeNotify="canDeny"><syntax><string><size maxLength="32"/></string></syntax></parameter>
      <parameter name="ConnectionRequestURL" access="readOnly" forcedInform="true" activeNotify="forceEnabled"><syntax><string><size maxLength="256"/></string></syntax></parameter>
      <parameter name="AliasBasedAddressing" access="readOnly" forcedInform="true"><syntax><boolean/></syntax></parameter>
      <parameter name="InstanceWildcardsSupported" access="readOnly"><syntax><boolean/></syntax></parameter>
      <parameter name="InstanceMode" access="readWrite"><syntax><string><enumeration value="InstanceNumber"/><enumeration value="InstanceAlias"/></string><default type="factory" value="InstanceNumber"/></syntax></parameter>
      <parameter name="AutoCreateInstances" access="readWrite"><syntax><boolean/><default type="factory" value="false"/></syntax></parameter>
    </object>
    <object name="Device.DeviceInfo." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="SoftwareVersion" access="readOnly" forcedInform="true" activeNotify="forceEnabled"><syntax><string><size maxLength="64"/></string></syntax></parameter>
      <parameter name="ProvisioningCode" access="readWrite" forcedInform="true"><syntax><string><size maxLength="64"/></string></syntax></parameter>
      <parameter name="UpTime" access="readOnly" activeNotify="canDeny"><syntax><unsignedInt/></syntax></parameter>
      <parameter name="Load" access="readOnly" activeNotify="forceDefaultEnabled"><syntax><unsignedInt><range maxInclusive="100"/></unsignedInt></syntax></parameter>
      <parameter name="AssetTag" access="writeOnceReadOnly"><syntax><string><size maxLength="32"/></string></syntax></parameter>
      <parameter name="SupportedProtocols" access="readOnly"><syntax><list/><string/><default type="object" value="HTTP,HTTPS"/></syntax></parameter>
      <parameter name="Protocol" access="readWrite"><syntax><string><enumerationRef targetParam="SupportedProtocols" nullValue="None"/></string></syntax></parameter>
      <parameter name="Started" access="readWrite"><syntax><dateTime/></syntax></parameter>
    </object>
    <object name="Device.Interface.{i}." access="readWrite" minEntries="0" maxEntries="3" numEntriesParameter="InterfaceNumberOfEntries" enableParameter="Enable" version="1.0">
      <uniqueKey functional="false"><parameter ref="Alias"/></uniqueKey>
      <uniqueKey><parameter ref="Name"/></uniqueKey>
      <parameter name="Enable" access="readWrite"><syntax><boolean/><default type="object" value="false"/></syntax></parameter>
      <parameter name="Alias" access="readWrite"><syntax><dataType ref="Alias"/></syntax></parameter>
      <parameter name="Name" access="readWrite"><syntax><string><size maxLength="16"/></string></syntax></parameter>
      <parameter name="Status" access="readOnly" activeNotify="canDeny"><syntax><string><enumeration value="Up"/><enumeration value="Down"/></string><default type="object" value="Down"/></syntax></parameter>
      <parameter name="MTU" access="readWrite"><syntax><unsignedInt><range minInclusive="64" maxInclusive="1500"/></unsignedInt><default type="object" value="1500"/></syntax></parameter>
      <parameter name="Mode" access="readWrite"><syntax><string><enumeration value="Auto"/><enumeration value="Manual"/><enumeration value="Error" access="readOnly"/></string><default type="object" value="Auto"/></syntax></parameter>
      <parameter name="Key" access="readWrite"><syntax><hexBinary><size minLength="0" maxLength="0"/><size minLength="4" maxLength="4"/></hexBinary></syntax></parameter>
      <parameter name="LowerLayers" access="readWrite"><syntax><list maxItems="4"/><string><pathRef refType="strong" targetParent=".Link." targetType="row"/></string></syntax></parameter>
      <parameter name="Peer" access="readWrite"><syntax><string><pathRef refType="weak" targetParent="#.Interface." targetType="row"/></string></syntax></parameter>
      <parameter name="AddressNumberOfEntries" access="readOnly"><syntax><unsignedInt/></syntax></parameter>
    </object>
    <object name="Device.Interface.{i}.Stats." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="BytesSent" access="readOnly"><syntax><unsignedLong/></syntax></parameter>
    </object>
    <object name="Device.Interface.{i}.Address.{i}." access="readWrite" minEntries="0" maxEntries="unbounded" numEntriesParameter="AddressNumberOfEntries" version="1.0">
      <parameter name="Alias" access="readWrite"><syntax><dataType ref="Alias"/></syntax></parameter>
      <parameter name="IPAddress" access="readWrite"><syntax><dataType ref="IPv4Address"/></syntax></parameter>
    </object>
    <object name="Device.Link.{i}." access="readWrite" minEntries="0" maxEntries="unbounded" numEntriesParameter="LinkNumberOfEntries" version="1.0">
      <parameter name="Alias" access="readWrite"><syntax><dataType ref="Alias"/></syntax></parameter>
      <parameter name="Name" access="readWrite"><syntax><string/></syntax></parameter>
    </object>
    <object name="Device.Fixed.{i}." access="readOnly" minEntries="2" maxEntries="2" version="1.0">
      <parameter name="Value" access="readWrite"><syntax><int/></syntax></parameter>
    </object>
    <object name="Device.Pool.{i}." access="readWrite" minEntries="1" maxEntries="unbounded" version="1.0">
      <parameter name="Size" access="readWrite"><syntax><unsignedInt/></syntax></parameter>
    </object>
    <object name="Device.Routing." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="DefaultInterface" access="readWrite"><syntax><string><pathRef refType="strong" targetParent=".Interface." targetType="row"/></string></syntax></parameter>
      <parameter name="Gateway" access="readWrite"><syntax><string><pathRef refType="strong" targetType="parameter"/></string></syntax></parameter>
      <parameter name="Backup" access="readWrite"><syntax><string><pathRef refType="weak" targetParent=".Interface." targetType="row"/></string></syntax></parameter>
      <parameter name="InterfaceNumber" access="readWrite"><syntax><int><instanceRef refType="strong" targetParent=".Interface."/></int><default type="object" value="-1"/></syntax></parameter>
    </object>
    <object name="Device.Empty." access="readOnly" minEntries="1" maxEntries="1" version="1.0"/>
  </model>
</dm:document>"##;

pub fn schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut files = cwmp_model::import::import_text(MODEL, "test.xml", None).unwrap();
            Arc::new(Schema::from_facts(files.remove(0)).unwrap())
        })
        .clone()
}

pub fn template() -> Arc<Template> {
    Template::new(schema())
}

pub fn device() -> Device {
    Device::new(template())
}

pub fn lightweight() -> Features {
    Features { lightweight_notification: true, ..Features::default() }
}

// ---- request helpers ------------------------------------------------------------------

pub fn gpv(d: &Device, names: &[&str]) -> Result<Vec<(String, String)>, Fault> {
    let req = GetParameterValues { parameter_names: names.iter().map(|s| s.to_string()).collect() };
    d.get_parameter_values(&req).map(|r| r.parameter_list.into_iter().map(|p| (p.name, p.value.text)).collect())
}

pub fn value(d: &Device, name: &str) -> String {
    let v = gpv(d, &[name]).unwrap_or_else(|f| panic!("{name}: {f}"));
    assert_eq!(v.len(), 1, "{name}");
    v[0].1.clone()
}

pub fn gpn(d: &Device, path: &str, next_level: bool) -> Result<Vec<(String, bool)>, Fault> {
    let req = GetParameterNames { parameter_path: path.into(), next_level };
    d.get_parameter_names(&req).map(|r| r.parameter_list.into_iter().map(|p| (p.name, p.writable)).collect())
}

pub fn spv_typed(d: &mut Device, list: &[(&str, XsdType, &str)], key: &str) -> Result<i32, Fault> {
    let req = SetParameterValues {
        parameter_list: list.iter().map(|(n, t, v)| ParameterValueStruct::new(*n, Value::new(t.clone(), *v))).collect(),
        parameter_key: key.into(),
    };
    d.set_parameter_values(&req).map(|r| r.status)
}

pub fn spv(d: &mut Device, list: &[(&str, &str)], key: &str) -> Result<i32, Fault> {
    let typed: Vec<(&str, XsdType, &str)> = list.iter().map(|(n, v)| (*n, XsdType::String, *v)).collect();
    spv_typed(d, &typed, key)
}

/// One SetParameterAttributes entry: name, new Notification, new AccessList.
pub type SpaEntry<'a> = (&'a str, Option<i32>, Option<&'a [&'a str]>);

pub fn spa(d: &mut Device, entries: &[SpaEntry<'_>]) -> Result<(), Fault> {
    let req = SetParameterAttributes {
        parameter_list: entries
            .iter()
            .map(|(name, n, acl)| SetParameterAttributesStruct {
                name: name.to_string(),
                notification_change: n.is_some(),
                notification: n.unwrap_or(0),
                access_list_change: acl.is_some(),
                access_list: acl.unwrap_or(&[]).iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    };
    d.set_parameter_attributes(&req).map(drop)
}

pub fn gpa(d: &Device, names: &[&str]) -> Result<Vec<(String, i32, Vec<String>)>, Fault> {
    let req = GetParameterAttributes { parameter_names: names.iter().map(|s| s.to_string()).collect() };
    d.get_parameter_attributes(&req)
        .map(|r| r.parameter_list.into_iter().map(|p| (p.name, p.notification, p.access_list)).collect())
}

pub fn add(d: &mut Device, name: &str, key: &str) -> Result<u32, Fault> {
    d.add_object(&AddObject { object_name: name.into(), parameter_key: key.into() }).map(|r| {
        assert_eq!(r.status, 0);
        r.instance_number
    })
}

pub fn delete(d: &mut Device, name: &str, key: &str) -> Result<i32, Fault> {
    d.delete_object(&DeleteObject { object_name: name.into(), parameter_key: key.into() }).map(|r| r.status)
}

/// The codes of a fault and of its SetParameterValuesFault entries (sorted by name).
pub fn codes(f: &Fault) -> (u32, Vec<(String, u32)>) {
    let mut entries: Vec<(String, u32)> =
        f.set_parameter_values_faults.iter().map(|e| (e.parameter_name.clone(), e.fault_code.as_u32())).collect();
    entries.sort();
    (f.code.as_u32(), entries)
}

pub fn code(r: Result<impl std::fmt::Debug, Fault>) -> u32 {
    match r {
        Ok(v) => panic!("expected a fault, got {v:?}"),
        Err(f) => f.code.as_u32(),
    }
}

pub const INVALID_ARGUMENTS: u32 = 9003;
pub const INVALID_NAME: u32 = 9005;

pub fn is(code_: u32, expected: FaultCode) -> bool {
    code_ == expected.as_u32()
}
