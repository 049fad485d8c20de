//! GenieACS's ways, session by session, against TR-181 and TR-098 devices of the data-model
//! engine: its seed provisions and presets (in scripts of our own, `tests/genieacs-seeds`),
//! pseudo-parameters, root discovery, `clear()`, built-in provisions and extensions.

use super::*;
use crate::provision::genieacs::normalize_preset;
use crate::store::ConnectionRequestInfo;
use cwmp_model::tr098;
use serde_json::{Value as Json, json};

const BOOTSTRAP: &str = include_str!("../../../../tests/genieacs-seeds/bootstrap.js");
const DEFAULT: &str = include_str!("../../../../tests/genieacs-seeds/default.js");
const INFORM: &str = include_str!("../../../../tests/genieacs-seeds/inform.js");

/// 2026-12-01T23:30:15Z.
const NOW: Millis = 1_796_167_815_000;
const DAY: Millis = 86_400_000;

/// A preset in GenieACS's JSON, as the API takes it.
fn genieacs_preset(name: &str, body: Json) -> Preset {
    let Json::Object(mut body) = body else { panic!("{body}") };
    normalize_preset(&mut body).unwrap();
    body.insert("name".into(), name.into());
    let preset: Preset = serde_json::from_value(Json::Object(body)).unwrap();
    preset.validate().unwrap();
    preset
}

/// GenieACS's three first-run presets, as its setup stores them.
fn seed_presets() -> Vec<Preset> {
    vec![
        genieacs_preset(
            "bootstrap",
            json!({"weight": 0, "channel": "bootstrap", "events": {"0 BOOTSTRAP": true},
                   "configurations": [{"type": "provision", "name": "bootstrap", "args": null}]}),
        ),
        genieacs_preset(
            "default",
            json!({"weight": 0, "channel": "default", "events": {}, "precondition": "",
                   "configurations": [{"type": "provision", "name": "default", "args": null}]}),
        ),
        genieacs_preset(
            "inform",
            json!({"weight": 0, "channel": "inform", "events": {},
                   "configurations": [{"type": "provision", "name": "inform", "args": null}]}),
        ),
    ]
}

const SEEDS: [(&str, &str); 3] = [("bootstrap", BOOTSTRAP), ("default", DEFAULT), ("inform", INFORM)];

/// A device of the data-model engine and what the ACS holds of it.
struct Cpe {
    model: ModelDevice,
    device: Device,
    root: &'static str,
    stored: Vec<Param>,
    tasks: Vec<TaskKind>,
}

impl Cpe {
    fn tr181() -> Cpe {
        Cpe {
            model: ModelDevice::new(Template::new(tr181())),
            device: device(),
            root: "Device.",
            stored: Vec::new(),
            tasks: Vec::new(),
        }
    }

    fn tr098() -> Cpe {
        let mut device = device();
        device.id = 2;
        device.key = "00D09E-IGD-S2".into();
        device.identity.product_class = "IGD".into();
        device.identity.serial_number = "S2".into();
        Cpe {
            model: ModelDevice::new(Template::new(tr098())),
            device,
            root: "InternetGatewayDevice.",
            stored: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// One session; its writes reach the stored tree, tags and credentials.
    fn session(&mut self, events: &[&str], presets: &[Preset], scripts: &[(&str, &str)], now: Millis) -> Session {
        self.session_ext(events, presets, scripts, now, None)
    }

    fn session_ext(
        &mut self,
        events: &[&str],
        presets: &[Preset],
        scripts: &[(&str, &str)],
        now: Millis,
        extensions: Option<&crate::provision::ext::Extensions>,
    ) -> Session {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        let s = drive(
            &mut self.model,
            inputs(presets, scripts, &self.stored),
            &self.device,
            &events,
            self.root,
            now,
            extensions,
        );
        self.stored = apply(std::mem::take(&mut self.stored), &s.writes);
        for w in &s.writes {
            match w {
                WriteOp::Tags { add, remove, .. } => {
                    self.device.tags.retain(|t| !remove.contains(t));
                    self.device.tags.extend(add.iter().cloned());
                }
                WriteOp::ConnectionRequestCredentials { username, password, .. } => {
                    self.device.connection_request = ConnectionRequestInfo {
                        url: None,
                        username: Some(username.clone()),
                        password: Some(password.clone()),
                    };
                }
                WriteOp::CreateTask { kind, .. } => self.tasks.push(kind.clone()),
                _ => {}
            }
        }
        if events.iter().any(|e| e == "1 BOOT") {
            self.device.last_boot = Some(now);
        }
        s
    }

    fn value(&mut self, path: &str) -> String {
        value(&mut self.model, path)
    }
}

/// Every parameter name an RPC of the session sent to the device.
fn names_sent(s: &Session) -> Vec<String> {
    let mut out = Vec::new();
    for m in &s.messages {
        match m {
            Message::GetParameterNames(r) => out.push(r.parameter_path.clone()),
            Message::GetParameterValues(r) => out.extend(r.parameter_names.iter().cloned()),
            Message::SetParameterValues(r) => out.extend(r.parameter_list.iter().map(|p| p.name.clone())),
            Message::GetParameterAttributes(r) => out.extend(r.parameter_names.iter().cloned()),
            Message::AddObject(r) => out.push(r.object_name.clone()),
            Message::DeleteObject(r) => out.push(r.object_name.clone()),
            _ => {}
        }
    }
    out
}

fn faults(s: &Session) -> Vec<(String, String, String)> {
    s.writes
        .iter()
        .filter_map(|w| match w {
            WriteOp::ChannelFault { channel, code, message, .. } => {
                Some((channel.clone(), code.clone(), message.clone()))
            }
            _ => None,
        })
        .collect()
}

/// What a pseudo-parameter or the other data model's root never is: something the device
/// is asked about.
fn assert_only_real_paths(s: &Session, root: &str) {
    for name in names_sent(s) {
        assert!(name.is_empty() || name.starts_with(root), "asked the device for {name:?}: {:?}", s.messages);
    }
}

#[test]
fn the_seeds_converge_on_tr181_and_tr098_devices_as_under_genieacs() {
    let presets = seed_presets();
    // The interval offsets GenieACS gives these devices: MD5 of the device id, computed with
    // Node.js the way GenieACS computes it, and the PeriodicInformTime that follows.
    for (mut cpe, inform_time) in
        [(Cpe::tr181(), "1970-01-01T17:54:59.268Z"), (Cpe::tr098(), "1970-01-01T13:15:38.395Z")]
    {
        let root = cpe.root;
        let first = cpe.session(&["0 BOOTSTRAP", "1 BOOT"], &presets, &SEEDS, NOW);
        assert_eq!(faults(&first), [], "{root}");
        assert_only_real_paths(&first, root);
        // The other root is looked for once, by listing the root.
        let root_listings = names_sent(&first).iter().filter(|n| n.is_empty()).count();
        assert_eq!(root_listings, 1, "{root}: {:?}", first.rpcs);
        let ms = format!("{root}ManagementServer.");
        assert_eq!(cpe.value(&format!("{ms}ConnectionRequestUsername")), cpe.device.key);
        assert_eq!(cwmp_wire::types::parse_bool(&cpe.value(&format!("{ms}PeriodicInformEnable"))), Some(true));
        assert_eq!(cpe.value(&format!("{ms}PeriodicInformInterval")), "300");
        assert_eq!(cpe.value(&format!("{ms}PeriodicInformTime")), inform_time, "{root}");
        // The password comes from the device's Math.random(): what the sandbox draws for it
        // (whose generator is checked against seedrandom's in cwmp-script).
        let secret = secret_of(&cpe.device.key);
        assert_eq!(cpe.device.connection_request.password.as_deref(), Some(secret.as_str()), "the ACS keeps it");
        assert_eq!(cpe.device.connection_request.username.as_deref(), Some(cpe.device.key.as_str()));
        // Later the same hour: nothing to read or write.
        let later = cpe.session(&["2 PERIODIC"], &presets, &SEEDS, NOW + 60_000);
        assert!(later.rpcs.is_empty(), "{root}: {:?}", later.messages);
        // The next day: the daily checks read again, and the device keeps its values.
        let next_day = cpe.session(&["2 PERIODIC"], &presets, &SEEDS, NOW + DAY);
        assert_eq!(faults(&next_day), []);
        assert_only_real_paths(&next_day, root);
        assert!(!names_sent(&next_day).iter().any(|n| n.is_empty()), "the root listing is kept");
        assert_eq!(cpe.value(&format!("{ms}PeriodicInformTime")), inform_time, "{root}");
    }
}

/// The secret `inform.js` makes for a device.
fn secret_of(device_id: &str) -> String {
    let source = "return Array.from({length: 3}, () => Math.floor(Math.random() * 2 ** 32).toString(16)).join('');";
    let data = scripts::SnapshotData { snapshot: &Snapshot::default(), extensions: &HashMap::new() };
    let input = cwmp_script::Input {
        source,
        name: "secret.js",
        args: &[],
        now: NOW,
        device_id,
        data: &data,
        limits: &cwmp_script::Limits::default(),
    };
    cwmp_script::run(&input).unwrap().result.unwrap().as_str().unwrap().to_owned()
}

#[test]
fn pseudo_parameters_are_read_and_written_without_rpcs() {
    let script = r#"
        const id = declare("DeviceID.ID", {value: 1}).value[0];
        const who = ["Manufacturer", "OUI", "ProductClass", "SerialNumber"].map((f) => declare("DeviceID." + f, {value: Date.now()}).value[0]);
        const boot = declare("Events.1_BOOT", {value: 1}).value;
        const periodic = declare("Events.2_PERIODIC", {value: 1});
        const inform = declare("Events.Inform", {value: 1}).value[0];
        const lab = declare("Tags.lab", {value: 1});
        const tags = [];
        for (const t of declare("Tags.*", {value: 1})) tags.push(t.path);
        declare("Tags.provisioned", null, {value: true});
        declare("Tags.lab", null, {value: false});
        declare("DeviceID.SerialNumber", null, {value: "ignored"});
        declare("Device.DeviceInfo.ProvisioningCode", null,
            {value: [id, who.join("+"), boot ? "boot" : "-", periodic.size, inform === Date.now(), lab.size, tags.join("+")].join("/")});
    "#;
    let mut cpe = Cpe::tr181();
    cpe.device.tags = vec!["lab".into(), "a b".into()];
    let presets = vec![provision("p", "p")];
    let s = cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW);
    assert_eq!(faults(&s), []);
    assert_only_real_paths(&s, "Device.");
    assert_eq!(
        cpe.value("Device.DeviceInfo.ProvisioningCode"),
        "00D09E-Box-S1/Acme+00D09E+Box+S1/-/1/true/1/Tags.a0x20b+Tags.lab"
    );
    assert_eq!(cpe.device.tags, ["a b", "provisioned"]);
    assert!(!cpe.stored.iter().any(|p| p.path.starts_with("DeviceID") || p.path.starts_with("Events")), "never stored");
    // Preconditions see them too.
    let mut gated = provision("p", "p");
    gated.precondition =
        "DeviceID.ProductClass = \"Box\" AND Tags.provisioned IS NOT NULL AND Events.1_BOOT > NOW() - 60000".into();
    let gated = vec![gated];
    let code = r#"declare("Device.DeviceInfo.ProvisioningCode", null, {value: "gated"});"#;
    cpe.session(&["2 PERIODIC"], &gated, &[("p", code)], NOW + 1000);
    assert_ne!(cpe.value("Device.DeviceInfo.ProvisioningCode"), "gated", "no boot in the last minute");
    cpe.session(&["1 BOOT"], &gated, &[("p", code)], NOW + 2000);
    assert_eq!(cpe.value("Device.DeviceInfo.ProvisioningCode"), "gated");
}

#[test]
fn an_absent_root_matches_nothing_and_is_remembered() {
    let script = r#"
        const v = declare("InternetGatewayDevice.DeviceInfo.SoftwareVersion", {value: Date.now()});
        declare("InternetGatewayDevice.ManagementServer.PeriodicInformInterval", {value: 1}, {value: 60});
        declare("InternetGatewayDevice.LANDevice.*.WLANConfiguration.*.SSID", {path: Date.now()}, {value: "x"});
        declare("Device.DeviceInfo.ProvisioningCode", null, {value: v.size === 0 ? "none" : "some"});
    "#;
    let mut cpe = Cpe::tr181();
    let presets = vec![provision("p", "p")];
    let s = cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW);
    assert_eq!(faults(&s), []);
    assert_eq!(s.rpcs[0], "GetParameterNames");
    assert_eq!(names_sent(&s)[0], "");
    assert_only_real_paths(&s, "Device.");
    assert_eq!(cpe.value("Device.DeviceInfo.ProvisioningCode"), "none");
    let again = cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW + 1000);
    assert!(again.rpcs.is_empty(), "{:?}", again.messages);
}

#[test]
fn a_device_that_cannot_list_its_root_keeps_the_roots_it_informs_with() {
    let script = r#"
        declare("InternetGatewayDevice.ManagementServer.PeriodicInformInterval", {value: 1}, {value: 60});
        declare("Device.ManagementServer.PeriodicInformInterval", {value: 1}, {value: 120});
    "#;
    let mut p = Provisioner::new(inputs(&[provision("p", "p")], &[("p", script)], &[]), &device(), &[], "Device.", NOW)
        .unwrap();
    let (Some(Message::GetParameterNames(r)), _) = p.next_rpc(None) else { panic!() };
    assert_eq!(r.parameter_path, "");
    let writes = p.on_fault(&Fault::new(cwmp_wire::FaultCode::InvalidParameterName));
    assert!(!writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })), "{writes:?}");
    // On with the root it has.
    let (Some(message), writes) = p.next_rpc(None) else { panic!() };
    assert!(!writes.iter().any(|w| matches!(w, WriteOp::ChannelFault { .. })));
    assert!(matches!(&message, Message::GetParameterNames(r) if r.parameter_path == "Device."), "{message:?}");
}

#[test]
fn clear_forgets_the_stored_tree() {
    let mut cpe = Cpe::tr181();
    let presets = vec![provision("p", "p")];
    let read = r#"declare("Device.DeviceInfo.SoftwareVersion", {value: 1});"#;
    cpe.session(&["2 PERIODIC"], &presets, &[("p", read)], NOW);
    assert!(cpe.stored.iter().any(|p| p.path == "Device.DeviceInfo.SoftwareVersion"));
    // A node the device no longer has, in the ACS's copy.
    cpe.stored.push(Param {
        value_ts: Some(NOW - DAY),
        ..crate::provision::snapshot::tests::param("Device.Gone.X", Some("1"))
    });
    // Bootstrap: clear and read again in the same session.
    let both = format!("{BOOTSTRAP}\n{read}");
    let s = cpe.session(&["0 BOOTSTRAP"], &presets, &[("p", &both)], NOW + 1000);
    assert_eq!(faults(&s), []);
    // Everything was read before this session: the whole cached tree goes.
    assert!(
        s.writes.iter().any(|w| matches!(w, WriteOp::Params { ops, .. }
        if ops.contains(&ParamOp::DeleteSubtree { prefix: "Device.".into() }))),
        "{:?}",
        s.writes
    );
    assert!(!cpe.stored.iter().any(|p| p.path.starts_with("Device.Gone")));
    // What the script needs is read again.
    assert!(names_sent(&s).contains(&"Device.DeviceInfo.SoftwareVersion".to_string()), "{:?}", s.messages);
    assert!(cpe.stored.iter().any(|p| p.path == "Device.DeviceInfo.SoftwareVersion" && p.value_ts == Some(NOW + 1000)));
}

#[test]
fn reboots_and_downloads_become_tasks_once() {
    let script = r#"
        declare("Reboot", null, {value: Date.now(86400000)});
        const alias = "Downloads.[FileType:1 Firmware Upgrade Image,FileName:fw-2.bin]";
        declare(alias, {path: 1}, {path: 1});
        declare(alias + ".Download", {value: 1}, {value: Date.now()});
    "#;
    let mut cpe = Cpe::tr181();
    let presets = vec![provision("p", "p")];
    let s = cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW);
    assert_eq!(faults(&s), []);
    assert!(s.rpcs.is_empty(), "{:?}", s.messages);
    assert_eq!(cpe.tasks.len(), 2, "{:?}", cpe.tasks);
    assert!(matches!(&cpe.tasks[0], TaskKind::Reboot));
    assert!(matches!(&cpe.tasks[1], TaskKind::Download { file: Some(f), file_type: Some(t), .. }
        if f == "fw-2.bin" && t == "1 Firmware Upgrade Image"));
    let stored = |cpe: &Cpe, path: &str| cpe.stored.iter().find(|p| p.path == path).and_then(|p| p.value.clone());
    assert_eq!(stored(&cpe, "Downloads.1.FileName").as_deref(), Some("fw-2.bin"));
    assert_eq!(stored(&cpe, "Reboot"), Some(pseudo::iso_millis(NOW)));
    // Asked for: not again in the same day (Reboot) or for the same time (Download).
    cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW + 1000);
    assert_eq!(cpe.tasks.len(), 3, "a new Download time downloads again: {:?}", cpe.tasks);
    let once = script.replace("{value: Date.now()}", "{value: 1}");
    cpe.session(&["2 PERIODIC"], &presets, &[("p", &once)], NOW + 2000);
    assert_eq!(cpe.tasks.len(), 3, "{:?}", cpe.tasks);
    assert!(cpe.stored.iter().filter(|p| p.path.ends_with(".FileName")).count() == 1, "one instance");
    // GenieACS's built-in provisions, from a preset of its own form.
    let builtin = genieacs_preset(
        "fw",
        json!({"configurations": [{"type": "provision", "name": "download", "args": ["1 Firmware Upgrade Image", "fw-3.bin"]},
                                  {"type": "provision", "name": "reset"},
                                  {"type": "provision", "name": "tag", "args": ["upgraded", true]},
                                  {"type": "provision", "name": "value", "args": ["Device.DeviceInfo.ProvisioningCode", "built-in"]}]}),
    );
    let s = cpe.session(&["2 PERIODIC"], &[builtin], &[], NOW + 3000);
    assert_eq!(faults(&s), []);
    assert_eq!(cpe.tasks.len(), 5, "{:?}", cpe.tasks);
    assert!(cpe.tasks[3..].iter().any(|t| matches!(t, TaskKind::Download { file: Some(f), .. } if f == "fw-3.bin")));
    assert!(cpe.tasks[3..].iter().any(|t| matches!(t, TaskKind::FactoryReset)));
    assert!(cpe.device.tags.contains(&"upgraded".to_string()));
    assert_eq!(cpe.value("Device.DeviceInfo.ProvisioningCode"), "built-in");
}

#[test]
fn provisioning_plans_on_what_the_session_already_read() {
    let mut cpe = Cpe::tr181();
    let presets = vec![provision("p", "p")];
    let script = r#"declare("Device.DeviceInfo.SoftwareVersion", {value: Date.now()});"#;
    let mut p = Provisioner::new(inputs(&presets, &[("p", script)], &[]), &cpe.device, &[], "Device.", NOW).unwrap();
    // The session's refresh read it before provisioning's turn.
    let version = cpe.value("Device.DeviceInfo.SoftwareVersion");
    p.observe(&[WriteOp::Params {
        device_id: cpe.device.id,
        at: NOW,
        ops: vec![
            ParamOp::Info { path: "Device.DeviceInfo.".into(), object: true, writable: false },
            ParamOp::Info { path: "Device.DeviceInfo.SoftwareVersion".into(), object: false, writable: false },
            ParamOp::Value {
                path: "Device.DeviceInfo.SoftwareVersion".into(),
                value: version,
                ty: "xsd:string".into(),
            },
        ],
    }]);
    let (message, _) = p.next_rpc(None);
    assert_eq!(message, None);
}

/// Node.js, which extensions need; the tests that run extensions say so and pass without it.
fn node() -> Option<std::path::PathBuf> {
    let found = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("node is not installed: extension tests skipped");
    }
    found.then(|| "node".into())
}

#[test]
fn extensions_run_out_of_process() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("creds.js"),
        r#"
        "use strict";
        let calls = 0;
        exports.get = function (args, callback) {
          calls += 1;
          console.log("looking up", args[0]);
          setTimeout(() => callback(null, {user: "u-" + args[0], calls, env: Object.keys(process.env).sort().join("+")}), 10);
        };
        exports.fails = (args, callback) => callback(new TypeError("no such user"));
        exports.hangs = () => {};
        exports.huge = (args, callback) => callback(null, "x".repeat(2 << 20));
        "#,
    )
    .unwrap();
    let extensions = crate::provision::ext::Extensions::new(crate::provision::ext::ExtensionsConfig {
        dir: dir.path().into(),
        node,
        timeout_ms: 1000,
        env: vec![],
    });
    let script = r#"
        const sn = declare("DeviceID.SerialNumber", {value: 1}).value[0];
        const creds = ext("creds", "get", sn);
        declare("Device.DeviceInfo.ProvisioningCode", null, {value: creds.user + "/" + creds.calls + "/" + creds.env});
    "#;
    let mut cpe = Cpe::tr181();
    let presets = vec![provision("p", "p")];
    let s = cpe.session_ext(&["2 PERIODIC"], &presets, &[("p", script)], NOW, Some(&extensions));
    assert_eq!(faults(&s), []);
    let code = cpe.value("Device.DeviceInfo.ProvisioningCode");
    let (head, env) = code.rsplit_once('/').unwrap();
    assert_eq!(head, "u-S1/1");
    // Not the ACS's environment: only what extensions are given.
    assert!(env.split('+').any(|v| v == "GENIEACS_EXT_DIR"), "{env}");
    assert!(
        env.split('+').all(|v| ["GENIEACS_EXT_DIR", "PATH", "HOME", "LANG", "TZ", "NODE_PATH"].contains(&v)),
        "{env}"
    );
    // The process is kept: the next session's call is its second.
    cpe.session_ext(&["2 PERIODIC"], &presets, &[("p", script)], NOW + 1000, Some(&extensions));
    assert!(cpe.value("Device.DeviceInfo.ProvisioningCode").starts_with("u-S1/2/"));
    // Errors and silence are faults of the channel, named as GenieACS names them.
    for (function, code, needle) in [
        ("fails", "ext.TypeError", "no such user"),
        ("hangs", "timeout", "timed out"),
        ("missing", "ext", "No such function"),
        // An answer beyond the 1 MiB bound ends the process.
        ("huge", "ext", "ended"),
    ] {
        let failing = format!(r#"ext("creds", "{function}");"#);
        let s = cpe.session_ext(&["2 PERIODIC"], &presets, &[("p", &failing)], NOW + 2000, Some(&extensions));
        let f = faults(&s);
        assert_eq!(f.len(), 1, "{function}: {f:?}");
        assert_eq!(f[0].1, code, "{function}: {f:?}");
        assert!(f[0].2.contains(needle), "{function}: {f:?}");
    }
    // The next call starts a new process.
    let s = cpe.session_ext(&["2 PERIODIC"], &presets, &[("p", script)], NOW + 2500, Some(&extensions));
    assert_eq!(faults(&s), []);
    let code = cpe.value("Device.DeviceInfo.ProvisioningCode");
    assert!(code.starts_with("u-S1/1/"), "{code}");
    // A module outside the directory is refused; without extensions configured, ext() fails.
    let outside = r#"ext("../creds", "get", "x");"#;
    let s = cpe.session_ext(&["2 PERIODIC"], &presets, &[("p", outside)], NOW + 3000, Some(&extensions));
    assert!(faults(&s)[0].2.contains("not an extension name"), "{:?}", faults(&s));
    let s = cpe.session(&["2 PERIODIC"], &presets, &[("p", script)], NOW + 4000);
    assert!(faults(&s)[0].2.contains("not configured"), "{:?}", faults(&s));
}

#[test]
fn virtual_parameter_scripts_get_genieacs_four_arguments() {
    // args[1]: what is declared (a write); args[3]: what the ACS holds of the parameter.
    let vp = r#"
        if (args[1].value) {
          declare("Device.DeviceInfo.ProvisioningCode", null, {value: args[1].value[0]});
          return {writable: true, value: [args[1].value[0], "xsd:string"]};
        }
        const now = declare("Device.DeviceInfo.ProvisioningCode", {value: Date.now()}).value[0];
        const was = args[3].value ? args[3].value[0] : "nothing";
        return {writable: true, value: [now + " (was " + was + ", writable " + args[3].writable + ")", "xsd:string"]};
    "#;
    let mut cpe = Cpe::tr181();
    let write = genieacs_preset(
        "w",
        json!({"configurations": [{"type": "value", "name": "VirtualParameters.code", "value": "Lab"}]}),
    );
    let s = cpe.session(&["2 PERIODIC"], &[write], &[("vp:code", vp)], NOW);
    assert_eq!(faults(&s), []);
    assert_eq!(cpe.value("Device.DeviceInfo.ProvisioningCode"), "Lab");
    let read =
        genieacs_preset("r", json!({"configurations": [{"type": "age", "name": "VirtualParameters.code", "age": 0}]}));
    let s = cpe.session(&["2 PERIODIC"], &[read], &[("vp:code", vp)], NOW + 1000);
    assert_eq!(faults(&s), []);
    let stored = cpe.stored.iter().find(|p| p.path == "VirtualParameters.code").and_then(|p| p.value.clone());
    assert_eq!(stored.as_deref(), Some("Lab (was Lab, writable true)"));
}

#[test]
fn preconditions_are_read_and_presets_evaluated_again_as_in_genieacs() {
    let mut cpe = Cpe::tr098();
    // A parameter the ACS never read: it is read, then the preset applies in the same session.
    let by_version = genieacs_preset(
        "by-version",
        json!({"precondition": "{\"InternetGatewayDevice.DeviceInfo.ProvisioningCode\": \"\"}",
               "configurations": [{"type": "add_tag", "tag": "fresh"}]}),
    );
    // Applies once the tag above is there: GenieACS evaluates presets again in the session.
    let chained = genieacs_preset(
        "chained",
        json!({"weight": 1, "precondition": "Tags.fresh IS NOT NULL",
               "configurations": [{"type": "value", "name": "InternetGatewayDevice.DeviceInfo.ProvisioningCode", "value": "chained"}]}),
    );
    let never = genieacs_preset(
        "never",
        json!({"precondition": "InternetGatewayDevice.DeviceInfo.SoftwareVersion = \"9.9\"",
               "configurations": [{"type": "add_tag", "tag": "never"}]}),
    );
    let presets = [by_version, chained, never];
    let s = cpe.session(&["2 PERIODIC"], &presets, &[], NOW);
    assert_eq!(faults(&s), []);
    assert!(names_sent(&s).contains(&"InternetGatewayDevice.DeviceInfo.ProvisioningCode".to_string()));
    assert_eq!(cpe.device.tags, ["fresh"]);
    assert_eq!(cpe.value("InternetGatewayDevice.DeviceInfo.ProvisioningCode"), "chained");
    // Known now, and no longer "": nothing to do.
    let again = cpe.session(&["2 PERIODIC"], &presets, &[], NOW + 1000);
    assert!(again.rpcs.is_empty(), "{:?}", again.messages);
}

#[test]
fn a_reboot_or_download_asked_by_several_channels_happens_once() {
    let script = r#"
        declare("Reboot", null, {value: Date.now()});
        const alias = "Downloads.[FileType:1 Firmware Upgrade Image,FileName:fw-2.bin]";
        declare(alias, {path: 1}, {path: 1});
        declare(alias + ".Download", {value: 1}, {value: Date.now()});
    "#;
    let mut cpe = Cpe::tr181();
    let mut second = provision("p", "other");
    second.name = "q".into();
    let s = cpe.session(&["2 PERIODIC"], &[provision("p", "p"), second], &[("p", script)], NOW);
    assert_eq!(faults(&s), []);
    assert_eq!(cpe.tasks.len(), 2, "{:?}", cpe.tasks);
    assert_eq!(cpe.stored.iter().filter(|p| p.path.ends_with(".FileName")).count(), 1);
}
