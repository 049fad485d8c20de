//! Provisioning driven against the data-model engine standing in for a CPE.

use super::*;
use crate::provision::preset::{Configuration, Preset};
use cwmp_model::{Device as ModelDevice, Template, tr181};
use std::collections::BTreeMap;

mod genieacs;

fn device() -> Device {
    Device { id: 1, ..crate::store::fixtures::device() }
}

/// Answers an RPC the way a CPE with this data model does.
fn answer(cpe: &mut ModelDevice, request: &Message) -> Result<Message, Fault> {
    Ok(match request {
        Message::GetParameterNames(r) => cpe.get_parameter_names(r)?.into(),
        Message::GetParameterValues(r) => cpe.get_parameter_values(r)?.into(),
        Message::SetParameterValues(r) => cpe.set_parameter_values(r)?.into(),
        Message::GetParameterAttributes(r) => cpe.get_parameter_attributes(r)?.into(),
        Message::SetParameterAttributes(r) => cpe.set_parameter_attributes(r)?.into(),
        Message::AddObject(r) => cpe.add_object(r)?.into(),
        Message::DeleteObject(r) => cpe.delete_object(r)?.into(),
        other => panic!("unexpected {other:?}"),
    })
}

struct Session {
    rpcs: Vec<String>,
    messages: Vec<Message>,
    writes: Vec<WriteOp>,
}

/// Runs one session's provisioning to the end; the ACS's stored tree carries over.
fn session(cpe: &mut ModelDevice, presets: &[Preset], stored: &mut Vec<Param>, now: Millis) -> Session {
    session_with(cpe, presets, &[], stored, now)
}

/// Inputs with provision (`name`) and virtual parameter (`vp:name`) scripts.
fn inputs(presets: &[Preset], scripts: &[(&str, &str)], stored: &[Param]) -> ProvisioningInputs {
    let mut inputs = ProvisioningInputs { presets: presets.to_vec(), params: stored.to_vec(), ..Default::default() };
    for (name, source) in scripts {
        match name.strip_prefix("vp:") {
            Some(vp) => inputs.virtual_parameters.insert(vp.to_string(), source.to_string()),
            None => inputs.provisions.insert(name.to_string(), source.to_string()),
        };
    }
    inputs
}

/// The same with scripts, for the fixture device (TR-181) in a `2 PERIODIC` session.
fn session_with(
    cpe: &mut ModelDevice,
    presets: &[Preset],
    scripts: &[(&str, &str)],
    stored: &mut Vec<Param>,
    now: Millis,
) -> Session {
    let s = drive(cpe, inputs(presets, scripts, stored), &device(), &["2 PERIODIC".into()], "Device.", now, None);
    *stored = apply(std::mem::take(stored), &s.writes);
    s
}

/// Answers every RPC of a session's provisioning with the data-model engine.
fn drive(
    cpe: &mut ModelDevice,
    inputs: ProvisioningInputs,
    device: &Device,
    events: &[String],
    root: &str,
    now: Millis,
    extensions: Option<&crate::provision::ext::Extensions>,
) -> Session {
    let mut s = Session { rpcs: Vec::new(), messages: Vec::new(), writes: Vec::new() };
    let Some(mut p) = Provisioner::new(inputs, device, events, root, now) else { return s };
    loop {
        let (message, w) = p.next_rpc(extensions);
        s.writes.extend(w);
        let Some(message) = message else { break };
        s.rpcs.push(message.name().to_owned());
        match answer(cpe, &message) {
            Ok(response) => s.writes.extend(p.on_response(&response)),
            Err(fault) => s.writes.extend(p.on_fault(&fault)),
        }
        s.messages.push(message);
        assert!(s.rpcs.len() < 100, "runaway: {:?}", s.rpcs);
    }
    s
}

/// What the store would hold after the writes (paths and values only).
fn apply(mut params: Vec<Param>, writes: &[WriteOp]) -> Vec<Param> {
    for w in writes {
        let WriteOp::Params { at, ops, .. } = w else { continue };
        for op in ops {
            match op {
                ParamOp::Value { path, value, ty } => {
                    let p = upsert(&mut params, path);
                    p.value = Some(value.clone());
                    p.ty = Some(ty.clone());
                    p.value_ts = Some(*at);
                }
                ParamOp::Info { path, object, writable } => {
                    let p = upsert(&mut params, path);
                    p.object = *object;
                    p.writable = Some(*writable);
                    p.names_ts = Some(*at);
                }
                ParamOp::DeleteSubtree { prefix } => params.retain(|p| !p.path.starts_with(prefix.as_str())),
                ParamOp::PruneUnseen { prefix, seen_at } => {
                    params.retain(|p| !p.path.starts_with(prefix.as_str()) || p.names_ts.is_some_and(|t| t >= *seen_at))
                }
                ParamOp::Attributes { .. } => {}
            }
        }
    }
    params
}

fn upsert<'a>(params: &'a mut Vec<Param>, path: &str) -> &'a mut Param {
    if let Some(i) = params.iter().position(|p| p.path == path) {
        return &mut params[i];
    }
    params.push(Param {
        path: path.into(),
        value: None,
        ty: None,
        object: false,
        writable: None,
        value_ts: None,
        names_ts: None,
        notification: None,
        access_list: None,
    });
    params.last_mut().expect("pushed")
}

fn preset(name: &str, configurations: Vec<Configuration>) -> Preset {
    Preset {
        name: name.into(),
        channel: name.into(),
        weight: 0,
        precondition: String::new(),
        events: Default::default(),
        schedule: None,
        configurations,
    }
}

#[test]
fn converges_and_then_needs_no_rpc() {
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let presets = vec![preset(
        "inform",
        vec![
            Configuration::Value {
                path: "Device.ManagementServer.PeriodicInformInterval".into(),
                value: "300".into(),
                value_type: None,
            },
            Configuration::AddTag { tag: "managed".into() },
            Configuration::Instances {
                path: "Device.NAT.PortMapping.".into(),
                keys: BTreeMap::from([("ExternalPort".into(), "8080".into())]),
                count: 1,
                values: BTreeMap::from([("Description".into(), "web".into())]),
            },
        ],
    )];
    let mut stored = Vec::new();
    let first = session(&mut cpe, &presets, &mut stored, 1_000);
    assert!(first.rpcs.contains(&"SetParameterValues".to_string()), "{:?}", first.rpcs);
    assert!(first.rpcs.contains(&"AddObject".to_string()), "{:?}", first.rpcs);
    assert!(first.writes.iter().any(|w| matches!(w, WriteOp::Tags { add, .. } if add == &["managed"])));
    assert!(!first.writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })), "{:?}", first.writes);
    let get = |cpe: &mut ModelDevice, path: &str| {
        let r = cpe.get_parameter_values(&rpc::GetParameterValues { parameter_names: vec![path.into()] }).unwrap();
        r.parameter_list.into_iter().map(|p| p.value.text).collect::<Vec<_>>()
    };
    assert_eq!(get(&mut cpe, "Device.ManagementServer.PeriodicInformInterval"), vec!["300"]);
    assert_eq!(get(&mut cpe, "Device.NAT.PortMapping.1.ExternalPort"), vec!["8080"]);
    assert_eq!(get(&mut cpe, "Device.NAT.PortMapping.1.Description"), vec!["web"]);

    // The next session finds everything in place: no RPC at all.
    let second = session(&mut cpe, &presets, &mut stored, 2_000);
    assert!(second.rpcs.is_empty(), "{:?}", second.rpcs);

    // A changed preset converges again, deleting what is no longer wanted.
    let changed = vec![preset(
        "inform",
        vec![
            Configuration::Value {
                path: "Device.ManagementServer.PeriodicInformInterval".into(),
                value: "600".into(),
                value_type: None,
            },
            Configuration::Instances {
                path: "Device.NAT.PortMapping.".into(),
                keys: BTreeMap::from([("ExternalPort".into(), "8080".into())]),
                count: 0,
                values: BTreeMap::new(),
            },
        ],
    )];
    let third = session(&mut cpe, &changed, &mut stored, 3_000);
    assert!(third.rpcs.contains(&"DeleteObject".to_string()), "{:?}", third.rpcs);
    assert_eq!(get(&mut cpe, "Device.ManagementServer.PeriodicInformInterval"), vec!["600"]);
    assert!(session(&mut cpe, &changed, &mut stored, 4_000).rpcs.is_empty());
}

#[test]
fn a_failing_channel_does_not_block_the_others() {
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let presets = vec![
        preset(
            "broken",
            vec![Configuration::Value {
                path: "Device.DeviceInfo.SerialNumber".into(),
                value: "x".into(),
                value_type: None,
            }],
        ),
        preset(
            "good",
            vec![Configuration::Value {
                path: "Device.ManagementServer.PeriodicInformInterval".into(),
                value: "120".into(),
                value_type: None,
            }],
        ),
    ];
    let mut stored = Vec::new();
    let s = session(&mut cpe, &presets, &mut stored, 1_000);
    let faults: Vec<_> = s
        .writes
        .iter()
        .filter_map(|w| match w {
            WriteOp::ChannelFault { channel, code, .. } => Some((channel.as_str(), code.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(faults, vec![("broken", "9008")]);
    let r = cpe
        .get_parameter_values(&rpc::GetParameterValues {
            parameter_names: vec!["Device.ManagementServer.PeriodicInformInterval".into()],
        })
        .unwrap();
    assert_eq!(r.parameter_list[0].value.text, "120");
}

#[test]
fn heavier_presets_win_conflicts() {
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let path = "Device.ManagementServer.PeriodicInformInterval";
    let mut light =
        preset("light", vec![Configuration::Value { path: path.into(), value: "100".into(), value_type: None }]);
    light.weight = 1;
    let mut heavy =
        preset("heavy", vec![Configuration::Value { path: path.into(), value: "200".into(), value_type: None }]);
    heavy.weight = 5;
    let mut stored = Vec::new();
    session(&mut cpe, &[heavy.clone(), light.clone()], &mut stored, 1_000);
    assert!(session(&mut cpe, &[light, heavy], &mut stored, 2_000).rpcs.is_empty());
    let r = cpe.get_parameter_values(&rpc::GetParameterValues { parameter_names: vec![path.into()] }).unwrap();
    assert_eq!(r.parameter_list[0].value.text, "200");
}

#[test]
fn preconditions_and_firmware() {
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let mut fw = preset(
        "fw",
        vec![Configuration::Firmware { version: "2.0".into(), file: "fw-2.0.bin".into(), version_parameter: None }],
    );
    fw.precondition = "DeviceID.ProductClass = \"Box\"".into();
    let mut other = preset("other", vec![Configuration::AddTag { tag: "never".into() }]);
    other.precondition = "DeviceID.ProductClass = \"Switch\"".into();
    let mut stored = Vec::new();
    let s = session(&mut cpe, &[fw.clone(), other], &mut stored, 1_000);
    let created: Vec<_> = s.writes.iter().filter(|w| matches!(w, WriteOp::CreateTask { .. })).collect();
    assert_eq!(created.len(), 1, "{:?}", s.writes);
    assert!(!s.writes.iter().any(|w| matches!(w, WriteOp::Tags { .. })));
}

#[test]
fn a_loop_is_caught() {
    // A value the CPE silently keeps different (a read-only view that never changes) must
    // not make the ACS spin: the channel is faulted after bounded rounds.
    let mut p = Provisioner::new(
        ProvisioningInputs {
            presets: vec![preset(
                "spin",
                vec![Configuration::Value { path: "Device.X".into(), value: "1".into(), value_type: None }],
            )],
            params: vec![Param {
                path: "Device.X".into(),
                value: Some("0".into()),
                ty: Some("xsd:string".into()),
                object: false,
                writable: Some(true),
                value_ts: Some(1),
                names_ts: None,
                notification: None,
                access_list: None,
            }],
            ..Default::default()
        },
        &device(),
        &[],
        "Device.",
        10,
    )
    .unwrap();
    let mut rounds = 0;
    let writes = loop {
        let (message, writes) = p.next_rpc(None);
        let Some(_) = message else { break writes };
        rounds += 1;
        // The CPE claims success but its value stays: feed a stale read back.
        let _ = p.on_response(&rpc::SetParameterValuesResponse { status: 0 }.into());
        p.snapshot.node_mut("Device.X").value = Some(("0".into(), "xsd:string".into()));
        assert!(rounds < 200);
    };
    assert!(writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { code, .. } if code == "loop")));
}

fn provision(name: &str, channel: &str) -> Preset {
    let mut p = preset(name, vec![Configuration::Provision { name: name.into(), args: vec![] }]);
    p.channel = channel.into();
    p
}

fn value(cpe: &mut ModelDevice, path: &str) -> String {
    let r = cpe.get_parameter_values(&rpc::GetParameterValues { parameter_names: vec![path.into()] }).unwrap();
    r.parameter_list[0].value.text.clone()
}

#[test]
fn genieacs_style_script_converges() {
    let script = r#"
        const hourly = Date.now(3600000);
        declare("Device.DeviceInfo.SoftwareVersion", {value: hourly});
        declare("Device.ManagementServer.PeriodicInformInterval", {value: hourly}, {value: 300});
        declare("Device.NAT.PortMapping.[ExternalPort:8080,Protocol:TCP]", {path: hourly}, {path: 1});
        declare("Tags.scripted", null, {value: true});
    "#;
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let presets = vec![provision("base", "base")];
    let mut stored = Vec::new();
    let first = session_with(&mut cpe, &presets, &[("base", script)], &mut stored, 1_000_000);
    assert!(!first.writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })), "{:?}", first.writes);
    assert!(first.rpcs.contains(&"AddObject".to_string()), "{:?}", first.rpcs);
    assert_eq!(value(&mut cpe, "Device.ManagementServer.PeriodicInformInterval"), "300");
    assert_eq!(value(&mut cpe, "Device.NAT.PortMapping.1.ExternalPort"), "8080");
    assert_eq!(value(&mut cpe, "Device.NAT.PortMapping.1.Protocol"), "TCP");
    assert!(first.writes.iter().any(|w| matches!(w, WriteOp::Tags { add, .. } if add == &["scripted"])));
    // Within the same hour everything is fresh: no RPC.
    let second = session_with(&mut cpe, &presets, &[("base", script)], &mut stored, 1_000_000 + 60_000);
    assert!(second.rpcs.is_empty(), "{:?}", second.rpcs);
}

#[test]
fn a_script_reading_a_value_runs_again_once_it_is_known() {
    let script = r#"
        const sn = declare("Device.DeviceInfo.SerialNumber", {value: 1});
        declare("Device.ManagementServer.ConnectionRequestUsername", null, {value: "cr-" + sn.value[0]});
    "#;
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let mut stored = Vec::new();
    let s = session_with(&mut cpe, &[provision("cr", "cr")], &[("cr", script)], &mut stored, 1_000);
    assert!(!s.writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })), "{:?}", s.writes);
    let serial = value(&mut cpe, "Device.DeviceInfo.SerialNumber");
    assert_eq!(value(&mut cpe, "Device.ManagementServer.ConnectionRequestUsername"), format!("cr-{serial}"));
}

#[test]
fn failing_scripts_are_faults_and_the_session_goes_on() {
    let scripts = [
        ("spin", "while (true) {}"),
        ("hog", "let a = []; while (true) { a.push(new Array(100000).fill(1)); }"),
        ("throws", "throw new Error('no');"),
        ("good", r#"declare("Tags.fine", null, {value: true});"#),
    ];
    let presets: Vec<Preset> = scripts.iter().map(|(n, _)| provision(n, n)).collect();
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let mut stored = Vec::new();
    let s = session_with(&mut cpe, &presets, &scripts, &mut stored, 1_000);
    let mut faults: Vec<_> = s
        .writes
        .iter()
        .filter_map(|w| match w {
            WriteOp::ChannelFault { channel, code, message, .. } => {
                Some((channel.clone(), code.clone(), message.clone()))
            }
            _ => None,
        })
        .collect();
    faults.sort();
    assert_eq!(faults.len(), 3, "{faults:?}");
    assert!(faults.iter().all(|(_, code, _)| code == "script"));
    assert!(faults[0].2.contains("memory"), "{faults:?}");
    assert!(faults[1].2.contains("time limit"), "{faults:?}");
    assert!(faults[2].2.contains("no"), "{faults:?}");
    assert!(s.writes.iter().any(|w| matches!(w, WriteOp::Tags { add, .. } if add == &["fine"])));
}

#[test]
fn virtual_parameters_are_computed_from_real_ones() {
    let up = r#"
        const t = declare("Device.DeviceInfo.SerialNumber", {value: 1});
        return {writable: false, value: ["SN:" + t.value[0], "xsd:string"]};
    "#;
    let mut p = preset("vp", vec![Configuration::Refresh { path: "VirtualParameters.serial".into(), age: 0 }]);
    p.channel = "vp".into();
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let mut stored = Vec::new();
    let s = session_with(&mut cpe, &[p], &[("vp:serial", up)], &mut stored, 1_000);
    assert!(!s.writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })), "{:?}", s.writes);
    let serial = value(&mut cpe, "Device.DeviceInfo.SerialNumber");
    let stored_vp = stored.iter().find(|p| p.path == "VirtualParameters.serial").expect("stored");
    assert_eq!(stored_vp.value.as_deref(), Some(format!("SN:{serial}").as_str()));
}
