//! CPU cost of provisioning per session: 50 presets and 5 provision scripts on a device that
//! already matches them (the steady state of a fleet), next to a session with no presets,
//! measured in the same run. The session machine runs in-process against the data-model
//! engine standing in for the CPE, so only the ACS's own work is timed (no HTTP, no store).
//!
//! `cargo bench -p cwmp-acs --bench provisioning`

use std::time::{Duration, Instant};

use cwmp_acs::provision::preset::{Configuration, Preset};
use cwmp_acs::provision::run::ProvisioningInputs;
use cwmp_acs::session::{AcsSession, Reply, SessionConfig, SessionInputs, accept_inform};
use cwmp_acs::store::{ConnectionRequestInfo, Device, DeviceIdentity, Param, ParamOp, WriteOp};
use cwmp_model::{Device as ModelDevice, Template, tr181};
use cwmp_wire::rpc::*;
use cwmp_wire::{Envelope, Message, Namespace, Value, Version};

fn device() -> Device {
    Device {
        id: 1,
        key: "00D09E-Box-B1".into(),
        identity: DeviceIdentity {
            manufacturer: "Acme".into(),
            oui: "00D09E".into(),
            product_class: "Box".into(),
            serial_number: "B1".into(),
        },
        created_at: 0,
        last_inform: None,
        last_boot: None,
        last_bootstrap: None,
        last_events: vec![],
        cwmp_version: None,
        remote_addr: None,
        connection_request: ConnectionRequestInfo { url: None, username: Some("u".into()), password: Some("p".into()) },
        tags: vec![],
        credentials: None,
    }
}

fn inform() -> Envelope {
    Envelope::new(
        Namespace::Cwmp12,
        Inform {
            device_id: DeviceIdStruct {
                manufacturer: "Acme".into(),
                oui: "00D09E".into(),
                product_class: "Box".into(),
                serial_number: "B1".into(),
            },
            event: vec![EventStruct::new("2 PERIODIC", "")],
            max_envelopes: 1,
            current_time: cwmp_wire::DateTime::Unknown,
            retry_count: 0,
            parameter_list: vec![ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("1.0"))],
        },
    )
}

/// 50 presets: 25 match (values, tags, refreshes with long ages, instances by key), 25 do not
/// (their preconditions read parameters and tags), and 5 scripts.
fn presets() -> Vec<Preset> {
    let mut out = Vec::new();
    for i in 0..50 {
        let matching = i % 2 == 0;
        let precondition = if matching {
            format!("DeviceID.ProductClass = \"Box\" AND Device.DeviceInfo.SoftwareVersion <> \"9.{i}\"")
        } else {
            format!("Tags.never{i} IS NOT NULL OR DeviceID.ProductClass LIKE \"Switch%\"")
        };
        let configurations = match i % 10 {
            0 => vec![Configuration::Provision { name: format!("script{}", i / 10), args: vec![serde_json::json!(i)] }],
            2 => vec![Configuration::AddTag { tag: format!("t{i}") }],
            4 => vec![Configuration::Refresh { path: "Device.DeviceInfo.".into(), age: 86_400 }],
            6 => vec![Configuration::Instances {
                path: "Device.NAT.PortMapping.".into(),
                keys: [("ExternalPort".to_string(), format!("{}", 8000 + i))].into(),
                count: 1,
                values: Default::default(),
            }],
            _ => vec![Configuration::Value {
                path: "Device.ManagementServer.PeriodicInformInterval".into(),
                value: "3600".into(),
                value_type: None,
            }],
        };
        out.push(Preset {
            name: format!("p{i:02}"),
            channel: format!("c{}", i % 7),
            weight: i,
            precondition,
            events: Default::default(),
            schedule: None,
            configurations,
        });
    }
    out
}

fn scripts() -> std::collections::HashMap<String, String> {
    (0..5)
        .map(|i| {
            let source = format!(
                r#"
                const hourly = Date.now(3600000);
                declare("Device.DeviceInfo.SoftwareVersion", {{value: hourly}});
                declare("Device.ManagementServer.PeriodicInformInterval", {{value: hourly}}, {{value: 3600}});
                const ssid = declare("Device.WiFi.SSID.*.SSID", {{value: hourly}});
                for (const s of ssid) {{ log(s.value[0]); }}
                declare("Tags.script{i}", null, {{value: true}});
            "#
            );
            (format!("script{i}"), source)
        })
        .collect()
}

fn answer(cpe: &mut ModelDevice, request: &Message) -> Message {
    let r = match request {
        Message::GetParameterNames(r) => cpe.get_parameter_names(r).map(Message::from),
        Message::GetParameterValues(r) => cpe.get_parameter_values(r).map(Message::from),
        Message::SetParameterValues(r) => cpe.set_parameter_values(r).map(Message::from),
        Message::AddObject(r) => cpe.add_object(r).map(Message::from),
        Message::DeleteObject(r) => cpe.delete_object(r).map(Message::from),
        Message::SetParameterAttributes(r) => cpe.set_parameter_attributes(r).map(Message::from),
        Message::GetParameterAttributes(r) => cpe.get_parameter_attributes(r).map(Message::from),
        other => panic!("unexpected {other:?}"),
    };
    r.unwrap_or_else(Message::Fault)
}

/// One whole session; returns the RPCs asked and applies the writes to `stored`.
fn session(
    provisioning: Option<&ProvisioningInputs>,
    cpe: &mut ModelDevice,
    stored: &mut Vec<Param>,
    now: i64,
) -> usize {
    let env = inform();
    let accepted = accept_inform(&env, &Version::ALL, now, None).unwrap();
    // What record_inform stores before the session reads the tree.
    let inform_values = accepted
        .record
        .params
        .iter()
        .map(|(path, value, ty)| ParamOp::Value { path: path.clone(), value: value.clone(), ty: ty.clone() })
        .collect();
    apply(stored, &[WriteOp::Params { device_id: 1, at: now, ops: inform_values }]);
    let mut inputs = SessionInputs::default();
    if let Some(p) = provisioning {
        inputs.provisioning = Some(ProvisioningInputs { params: stored.clone(), ..p.clone() });
    }
    let config = SessionConfig {
        set_connection_request_credentials: false,
        bootstrap_refresh: false,
        ..SessionConfig::default()
    };
    let (mut s, _) = AcsSession::start(&accepted, device(), vec![], inputs, config, now);
    let mut rpcs = 0;
    let mut step = s.handle(None, now);
    loop {
        apply(stored, &step.writes.ops);
        let Reply::Soap(request) = &step.reply else { break };
        rpcs += 1;
        let response = Envelope::new(Namespace::Cwmp12, answer(cpe, &request.message));
        step = s.handle(Some(response), now);
    }
    rpcs
}

fn apply(stored: &mut Vec<Param>, writes: &[WriteOp]) {
    for w in writes {
        let WriteOp::Params { at, ops, .. } = w else { continue };
        for op in ops {
            let find = |stored: &mut Vec<Param>, path: &str| -> usize {
                stored.iter().position(|p| p.path == path).unwrap_or_else(|| {
                    stored.push(Param {
                        path: path.into(),
                        value: None,
                        ty: None,
                        object: path.ends_with('.'),
                        writable: None,
                        value_ts: None,
                        names_ts: None,
                        notification: None,
                        access_list: None,
                    });
                    stored.len() - 1
                })
            };
            match op {
                ParamOp::Value { path, value, ty } => {
                    let i = find(stored, path);
                    stored[i].value = Some(value.clone());
                    stored[i].ty = Some(ty.clone());
                    stored[i].value_ts = Some(*at);
                }
                ParamOp::Info { path, object, writable } => {
                    let i = find(stored, path);
                    stored[i].object = *object;
                    stored[i].writable = Some(*writable);
                    stored[i].names_ts = Some(*at);
                }
                ParamOp::DeleteSubtree { prefix } => stored.retain(|p| !p.path.starts_with(prefix.as_str())),
                _ => {}
            }
        }
    }
}

fn time(label: &str, iterations: u32, mut f: impl FnMut(u32)) -> Duration {
    f(0);
    let start = Instant::now();
    for i in 1..=iterations {
        f(i);
    }
    let per = start.elapsed() / iterations;
    println!("{label:<52} {:>9.1} µs/session", per.as_secs_f64() * 1e6);
    per
}

fn main() {
    let iterations: u32 = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let now = 1_800_000_000_000;
    let provisioning = ProvisioningInputs { presets: presets(), provisions: scripts(), ..Default::default() };

    // Converge once, so the measured sessions are the steady state.
    let mut cpe = ModelDevice::new(Template::new(tr181()));
    let mut stored = Vec::new();
    let first = session(Some(&provisioning), &mut cpe, &mut stored, now);
    let second = session(Some(&provisioning), &mut cpe, &mut stored, now + 1000);
    println!("first session: {first} RPCs; next session: {second} RPCs (converged: {})", second == 0);
    assert!(first > 0 && second == 0, "the fleet preset must need work once, then none");

    let mut plain_cpe = ModelDevice::new(Template::new(tr181()));
    let mut plain_stored = Vec::new();
    let baseline = time("session, no presets", iterations, |i| {
        session(None, &mut plain_cpe, &mut plain_stored, now + 2000 + i64::from(i));
    });
    let provisioned = time("session, 50 presets + 5 scripts, converged device", iterations, |i| {
        let rpcs = session(Some(&provisioning), &mut cpe, &mut stored, now + 2000 + i64::from(i));
        assert_eq!(rpcs, 0);
    });
    println!(
        "provisioning adds {:.1} µs of CPU per session ({:.1}x the no-preset session)",
        (provisioned.as_secs_f64() - baseline.as_secs_f64()) * 1e6,
        provisioned.as_secs_f64() / baseline.as_secs_f64()
    );
}
