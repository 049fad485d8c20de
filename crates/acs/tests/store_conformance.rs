//! The `Store` contract, run against every implementation: SQLite always, PostgreSQL when
//! `CWMP_TEST_POSTGRES_URL` is set (each test in a schema of its own, dropped at the end).
//! Each contract is one generic function; the macro at the end instantiates it per store.

mod pg_support;

use std::collections::BTreeSet;
use std::time::Duration;

use cwmp_acs::provision::preset::{Configuration, Preset};
use cwmp_acs::store::sqlite::{Durability, SqliteStore};
use cwmp_acs::store::*;
use cwmp_acs::tasks::TaskKind;
use serde_json::json;

fn identity(oui: &str, product_class: &str, serial: &str) -> DeviceIdentity {
    DeviceIdentity {
        manufacturer: "Acme".into(),
        oui: oui.into(),
        product_class: product_class.into(),
        serial_number: serial.into(),
    }
}

fn inform(serial: &str, events: &[&str], params: &[(&str, &str)], now: Millis) -> InformRecord {
    InformRecord {
        identity: identity("00D09E", "Box", serial),
        events: events.iter().map(|e| e.to_string()).collect(),
        params: params.iter().map(|(p, v)| (p.to_string(), v.to_string(), "xsd:string".to_string())).collect(),
        now,
        cwmp_version: "1.4".into(),
        remote_addr: Some("10.0.0.1".into()),
    }
}

async fn device<S: Store>(store: &S, serial: &str) -> Device {
    store.record_inform(inform(serial, &["2 PERIODIC"], &[], 1000)).await.unwrap()
}

fn gpv(names: &[&str]) -> TaskKind {
    TaskKind::GetParameterValues { parameter_names: names.iter().map(|n| n.to_string()).collect() }
}

fn info(path: &str, object: bool, writable: bool) -> ParamOp {
    ParamOp::Info { path: path.into(), object, writable }
}

fn value(path: &str, v: &str) -> ParamOp {
    ParamOp::Value { path: path.into(), value: v.into(), ty: "xsd:string".into() }
}

async fn write_params<S: Store>(store: &S, device_id: i64, at: Millis, ops: Vec<ParamOp>) {
    store.apply(WriteBatch { ops: vec![WriteOp::Params { device_id, at, ops }] }).await.unwrap();
}

fn paths(params: &[Param]) -> Vec<&str> {
    params.iter().map(|p| p.path.as_str()).collect()
}

async fn informs_create_and_update_devices<S: Store>(store: &S) {
    let params = [
        ("Device.DeviceInfo.SoftwareVersion", "1.0"),
        ("Device.ManagementServer.ConnectionRequestURL", "http://10.0.0.1:7547/cr"),
    ];
    let first = store.record_inform(inform("S1", &["0 BOOTSTRAP", "1 BOOT"], &params, 1000)).await.unwrap();
    assert_eq!(first.key, "00D09E-Box-S1");
    assert_eq!(first.identity, identity("00D09E", "Box", "S1"));
    assert_eq!((first.created_at, first.last_inform), (1000, Some(1000)));
    assert_eq!((first.last_boot, first.last_bootstrap), (Some(1000), Some(1000)));
    assert_eq!(first.last_events, vec!["0 BOOTSTRAP", "1 BOOT"]);
    assert_eq!(first.cwmp_version.as_deref(), Some("1.4"));
    assert_eq!(first.remote_addr.as_deref(), Some("10.0.0.1"));
    assert_eq!(first.connection_request.url.as_deref(), Some("http://10.0.0.1:7547/cr"));
    assert!(first.tags.is_empty() && first.credentials.is_none());

    let mut again = inform("S1", &["2 PERIODIC"], &[("Device.DeviceInfo.SoftwareVersion", "1.1")], 2000);
    again.identity.manufacturer = "Acme Corp".into();
    again.remote_addr = Some("10.0.0.2".into());
    let second = store.record_inform(again).await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.identity.manufacturer, "Acme Corp");
    assert_eq!((second.created_at, second.last_inform), (1000, Some(2000)));
    // Boot times stay until the next boot; the URL stays until the device reports another.
    assert_eq!((second.last_boot, second.last_bootstrap), (Some(1000), Some(1000)));
    assert_eq!(second.last_events, vec!["2 PERIODIC"]);
    assert_eq!(second.remote_addr.as_deref(), Some("10.0.0.2"));
    assert_eq!(second.connection_request.url.as_deref(), Some("http://10.0.0.1:7547/cr"));

    assert_eq!(store.device("00D09E-Box-S1").await.unwrap().as_ref(), Some(&second));
    assert_eq!(store.device_by_id(first.id).await.unwrap().as_ref(), Some(&second));
    assert_eq!(store.device("00D09E-Box-none").await.unwrap(), None);
    assert_eq!(store.device_by_id(-1).await.unwrap(), None);

    let stored = store.params(first.id, "Device.DeviceInfo.").await.unwrap();
    assert_eq!(stored.len(), 1);
    let p = &stored[0];
    assert_eq!(
        (p.path.as_str(), p.value.as_deref(), p.ty.as_deref()),
        ("Device.DeviceInfo.SoftwareVersion", Some("1.1"), Some("xsd:string"))
    );
    assert_eq!((p.object, p.value_ts, p.names_ts), (false, Some(2000), None));
}

/// A value reported again unchanged is not rewritten but counts as read now; a changed one
/// replaces the old, also for queries by value; a type change alone is a change.
async fn values_seen_again_are_fresh<S: Store>(store: &S) {
    let params = [("Device.A", "1"), ("Device.B", "2")];
    let d = store.record_inform(inform("S1", &["1 BOOT"], &params, 1000)).await.unwrap();
    store.record_inform(inform("S1", &["2 PERIODIC"], &[("Device.A", "1"), ("Device.B", "3")], 2000)).await.unwrap();
    write_params(store, d.id, 3000, vec![value("Device.A", "1")]).await;
    let got = store.params(d.id, "").await.unwrap();
    let seen: Vec<_> = got.iter().map(|p| (p.path.as_str(), p.value.as_deref(), p.value_ts)).collect();
    assert_eq!(seen, [("Device.A", Some("1"), Some(3000)), ("Device.B", Some("3"), Some(2000))]);
    let by = |v: &str| DeviceQuery {
        param_equals: vec![("Device.B".into(), v.into())],
        limit: 10,
        ..DeviceQuery::default()
    };
    assert!(store.list_devices(&by("2")).await.unwrap().is_empty());
    assert_eq!(store.list_devices(&by("3")).await.unwrap().len(), 1);
    let typed = ParamOp::Value { path: "Device.A".into(), value: "1".into(), ty: "xsd:int".into() };
    write_params(store, d.id, 4000, vec![typed]).await;
    let a = &store.params(d.id, "Device.A").await.unwrap()[0];
    assert_eq!((a.ty.as_deref(), a.value_ts), (Some("xsd:int"), Some(4000)));
}

async fn bootstrap_forgets_the_tree<S: Store>(store: &S) {
    let d =
        store.record_inform(inform("S1", &["1 BOOT"], &[("Device.A", "1"), ("Device.B", "2")], 1000)).await.unwrap();
    assert_eq!(paths(&store.params(d.id, "").await.unwrap()), ["Device.A", "Device.B"]);
    store.record_inform(inform("S1", &["0 BOOTSTRAP"], &[("Device.C", "3")], 2000)).await.unwrap();
    assert_eq!(paths(&store.params(d.id, "").await.unwrap()), ["Device.C"]);
}

async fn parameter_trees<S: Store>(store: &S) {
    let d = device(store, "S1").await;
    write_params(
        store,
        d.id,
        100,
        vec![
            info("Device.", true, false),
            info("Device.WiFi.", true, false),
            info("Device.WiFi.SSID.1.SSID", false, true),
            info("Device.WiFiX", false, false),
        ],
    )
    .await;
    write_params(
        store,
        d.id,
        200,
        vec![
            value("Device.WiFi.SSID.1.SSID", "first"),
            value("Device.WiFi.SSID.1.SSID", "home"),
            value("Device.a", "x"),
            ParamOp::Attributes {
                path: "Device.WiFi.SSID.1.SSID".into(),
                notification: Some(2),
                access_list: Some(vec!["Subscriber".into()]),
            },
            ParamOp::Attributes { path: "Device.WiFi.SSID.1.SSID".into(), notification: None, access_list: None },
            ParamOp::Attributes { path: "Device.WiFi.SSID.1.SSID".into(), notification: Some(0), access_list: None },
        ],
    )
    .await;
    // Byte order: '.' < 'X' < 'a'; a prefix covers its subtree only.
    let all = store.params(d.id, "").await.unwrap();
    assert_eq!(paths(&all), ["Device.", "Device.WiFi.", "Device.WiFi.SSID.1.SSID", "Device.WiFiX", "Device.a"]);
    let wifi = store.params(d.id, "Device.WiFi.").await.unwrap();
    assert_eq!(paths(&wifi), ["Device.WiFi.", "Device.WiFi.SSID.1.SSID"]);
    let ssid = &wifi[1];
    assert_eq!(
        ssid,
        &Param {
            path: "Device.WiFi.SSID.1.SSID".into(),
            value: Some("home".into()),
            ty: Some("xsd:string".into()),
            object: false,
            writable: Some(true),
            value_ts: Some(200),
            names_ts: Some(100),
            notification: Some(0),
            access_list: Some(vec!["Subscriber".into()]),
        }
    );
    let object = &wifi[0];
    assert_eq!(
        (object.object, object.writable, object.value.as_ref(), object.names_ts),
        (true, Some(false), None, Some(100))
    );
    // A listing later keeps the value.
    write_params(store, d.id, 300, vec![info("Device.WiFi.SSID.1.SSID", false, false)]).await;
    let ssid = store.params(d.id, "Device.WiFi.SSID.1.SSID").await.unwrap().remove(0);
    assert_eq!((ssid.value.as_deref(), ssid.writable, ssid.names_ts), (Some("home"), Some(false), Some(300)));

    write_params(store, d.id, 400, vec![ParamOp::DeleteSubtree { prefix: "Device.WiFi.".into() }]).await;
    assert_eq!(paths(&store.params(d.id, "").await.unwrap()), ["Device.", "Device.WiFiX", "Device.a"]);

    // A refresh stamped 600 removes what it did not see below its prefix.
    write_params(store, d.id, 500, vec![info("Device.X.1.A", false, true), info("Device.X.2.A", false, true)]).await;
    write_params(store, d.id, 500, vec![value("Device.X.3.B", "only a value")]).await;
    write_params(
        store,
        d.id,
        600,
        vec![info("Device.X.1.A", false, true), ParamOp::PruneUnseen { prefix: "Device.X.".into(), seen_at: 600 }],
    )
    .await;
    assert_eq!(paths(&store.params(d.id, "Device.X.").await.unwrap()), ["Device.X.1.A"]);
    assert_eq!(paths(&store.params(d.id, "").await.unwrap()), ["Device.", "Device.WiFiX", "Device.X.1.A", "Device.a"]);

    // Unusual paths and long values are kept as they are.
    let long = "v".repeat(5000);
    write_params(store, d.id, 700, vec![value("Device.Ünï cödé", &long)]).await;
    let odd = store.params(d.id, "Device.Ü").await.unwrap();
    assert_eq!(odd.len(), 1);
    assert_eq!(odd[0].value.as_deref(), Some(long.as_str()));
    // Another device's tree is its own.
    let other = device(store, "S2").await;
    assert!(store.params(other.id, "").await.unwrap().is_empty());
}

async fn device_listing_filters_sorts_and_pages<S: Store>(store: &S) {
    let v = "Device.DeviceInfo.SoftwareVersion";
    // Longer than what PostgreSQL's value index holds (2000 bytes), to take the other path.
    let long = "a".repeat(2500);
    let nearly = format!("{}b", "a".repeat(2499));
    for (i, (serial, version)) in [("S1", "1.0"), ("S2", "1.0"), ("S3", "1.0"), ("S4", "2.0")].iter().enumerate() {
        let mut params = vec![(v, *version)];
        if *serial == "S2" {
            params.push(("Device.X.Long", long.as_str()));
        }
        store.record_inform(inform(serial, &["2 PERIODIC"], &params, 1000 * (i as i64 + 1))).await.unwrap();
    }
    let mut other = inform("S5", &["2 PERIODIC"], &[], 5000);
    other.identity = identity("ABCDEF", "Other", "S5");
    store.record_inform(other).await.unwrap();
    store.update_tags("00D09E-Box-S2", &["lab".into()], &[]).await.unwrap();
    store.update_tags("ABCDEF-Other-S5", &["lab".into()], &[]).await.unwrap();

    let keys = |devices: Vec<Device>| devices.into_iter().map(|d| d.key).collect::<Vec<_>>();
    let query = |f: &dyn Fn(&mut DeviceQuery)| {
        let mut q = DeviceQuery { limit: 100, ..DeviceQuery::default() };
        f(&mut q);
        q
    };
    let check = async |q: DeviceQuery, expected: &[&str]| {
        assert_eq!(keys(store.list_devices(&q).await.unwrap()), expected, "{q:?}");
        assert_eq!(
            store.count_devices(&DeviceQuery { offset: 0, limit: 0, ..q.clone() }).await.unwrap(),
            expected.len() as u64
        );
    };
    let all = ["00D09E-Box-S1", "00D09E-Box-S2", "00D09E-Box-S3", "00D09E-Box-S4", "ABCDEF-Other-S5"];
    check(query(&|_| {}), &all).await;
    check(query(&|q| q.oui = Some("ABCDEF".into())), &["ABCDEF-Other-S5"]).await;
    check(query(&|q| q.product_class = Some("Box".into())), &all[..4]).await;
    check(query(&|q| q.serial_number = Some("S3".into())), &["00D09E-Box-S3"]).await;
    check(query(&|q| q.key = Some("00D09E-Box-S4".into())), &["00D09E-Box-S4"]).await;
    check(query(&|q| q.tag = Some("lab".into())), &["00D09E-Box-S2", "ABCDEF-Other-S5"]).await;
    check(query(&|q| q.tag = Some("none".into())), &[]).await;
    check(query(&|q| q.param_equals = vec![(v.into(), "1.0".into())]), &all[..3]).await;
    check(query(&|q| q.param_equals = vec![(v.into(), "2.0".into())]), &["00D09E-Box-S4"]).await;
    check(query(&|q| q.param_equals = vec![("Device.Nothing".into(), "1.0".into())]), &[]).await;
    check(query(&|q| q.param_equals = vec![("Device.X.Long".into(), long.clone())]), &["00D09E-Box-S2"]).await;
    check(query(&|q| q.param_equals = vec![("Device.X.Long".into(), nearly.clone())]), &[]).await;
    check(
        query(&|q| q.param_equals = vec![(v.into(), "1.0".into()), ("Device.X.Long".into(), long.clone())]),
        &["00D09E-Box-S2"],
    )
    .await;
    check(query(&|q| q.last_inform_before = Some(3000)), &all[..2]).await;
    check(query(&|q| q.last_inform_after = Some(3000)), &all[3..]).await;
    check(
        query(&|q| {
            q.tag = Some("lab".into());
            q.param_equals = vec![(v.into(), "1.0".into())];
        }),
        &["00D09E-Box-S2"],
    )
    .await;
    let sorted = |sort: DeviceSort, descending: bool| query(&move |q| (q.sort, q.descending) = (sort, descending));
    check(
        sorted(DeviceSort::Key, true),
        &["ABCDEF-Other-S5", "00D09E-Box-S4", "00D09E-Box-S3", "00D09E-Box-S2", "00D09E-Box-S1"],
    )
    .await;
    check(
        sorted(DeviceSort::LastInform, true),
        &["ABCDEF-Other-S5", "00D09E-Box-S4", "00D09E-Box-S3", "00D09E-Box-S2", "00D09E-Box-S1"],
    )
    .await;
    check(sorted(DeviceSort::CreatedAt, false), &all).await;
    let page = DeviceQuery { offset: 1, limit: 2, ..DeviceQuery::default() };
    assert_eq!(keys(store.list_devices(&page).await.unwrap()), ["00D09E-Box-S2", "00D09E-Box-S3"]);
    assert_eq!(store.count_devices(&page).await.unwrap(), 5, "a count ignores paging");
    let past_end = DeviceQuery { offset: 10, limit: 2, ..DeviceQuery::default() };
    assert!(store.list_devices(&past_end).await.unwrap().is_empty());
}

async fn deleting_a_device_removes_what_belongs_to_it<S: Store>(store: &S) {
    let d = store.record_inform(inform("S1", &[], &[("Device.A", "1")], 1000)).await.unwrap();
    let keep = device(store, "S2").await;
    store.update_tags(&d.key, &["t".into()], &[]).await.unwrap();
    let task = store.create_task(&d.key, TaskKind::Reboot, TaskOptions::default(), 1000).await.unwrap();
    let kept_task = store.create_task(&keep.key, TaskKind::Reboot, TaskOptions::default(), 1000).await.unwrap();
    let fault = |device_id| WriteOp::ChannelFault {
        device_id,
        channel: "c".into(),
        code: "9002".into(),
        message: "m".into(),
        at: 1000,
    };
    store.apply(WriteBatch { ops: vec![fault(d.id), fault(keep.id)] }).await.unwrap();
    assert!(store.delete_device(&d.key).await.unwrap());
    assert_eq!(store.device(&d.key).await.unwrap(), None);
    assert_eq!(store.task(task.id).await.unwrap(), None);
    assert!(store.params(d.id, "").await.unwrap().is_empty());
    let faults = store.channel_faults(None).await.unwrap();
    assert_eq!(faults.iter().map(|f| f.device_key.as_str()).collect::<Vec<_>>(), [keep.key.as_str()]);
    assert!(store.task(kept_task.id).await.unwrap().is_some());
    assert!(!store.delete_device(&d.key).await.unwrap());
    assert_eq!(store.count_devices(&DeviceQuery::default()).await.unwrap(), 1);
}

async fn tags_and_credentials<S: Store>(store: &S) {
    let d = device(store, "S1").await;
    assert_eq!(store.update_tags(&d.key, &["b".into(), "a".into()], &[]).await.unwrap(), ["a", "b"]);
    assert_eq!(store.update_tags(&d.key, &["a".into()], &["b".into(), "zz".into()]).await.unwrap(), ["a"]);
    assert!(matches!(store.update_tags("nobody", &["a".into()], &[]).await, Err(StoreError::NotFound(_))));
    store
        .apply(WriteBatch {
            ops: vec![WriteOp::Tags { device_id: d.id, add: vec!["c".into(), "a".into()], remove: vec!["a".into()] }],
        })
        .await
        .unwrap();
    assert_eq!(store.device(&d.key).await.unwrap().unwrap().tags, ["c"]);

    let creds = DeviceCredentials { username: "u".into(), ha1: "h".into(), password_hash: "p".into(), confirmed: true };
    store.set_credentials(&d.key, Some(creds.clone())).await.unwrap();
    assert_eq!(store.device(&d.key).await.unwrap().unwrap().credentials, Some(creds.clone()));
    store.set_credentials(&d.key, None).await.unwrap();
    assert_eq!(store.device(&d.key).await.unwrap().unwrap().credentials, None);
    // Enrolment writes them unconfirmed with a session's batch, then confirms them.
    let pending = DeviceCredentials { confirmed: false, ..creds.clone() };
    for c in [Some(pending), Some(creds), None] {
        store
            .apply(WriteBatch { ops: vec![WriteOp::Credentials { device_id: d.id, credentials: c.clone() }] })
            .await
            .unwrap();
        assert_eq!(store.device(&d.key).await.unwrap().unwrap().credentials, c);
    }
    assert!(matches!(store.set_credentials("nobody", None).await, Err(StoreError::NotFound(_))));

    let cr = WriteOp::ConnectionRequestCredentials { device_id: d.id, username: "cru".into(), password: "crp".into() };
    store.apply(WriteBatch { ops: vec![cr] }).await.unwrap();
    let info = store.device(&d.key).await.unwrap().unwrap().connection_request;
    assert_eq!((info.username.as_deref(), info.password.as_deref()), (Some("cru"), Some("crp")));
}

fn update(id: i64, status: TaskStatus) -> TaskUpdate {
    TaskUpdate { id, status, attempts: 1, not_before: 1500, result: None, fault: None }
}

async fn set<S: Store>(store: &S, update: TaskUpdate) {
    store.apply(WriteBatch { ops: vec![WriteOp::Task(update)] }).await.unwrap();
}

async fn task_lifecycle<S: Store>(store: &S) {
    let d = device(store, "S1").await;
    let other = device(store, "S2").await;
    assert!(matches!(
        store.create_task(&d.key, gpv(&[]), TaskOptions::default(), 1000).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_task("nobody", TaskKind::Reboot, TaskOptions::default(), 1000).await,
        Err(StoreError::NotFound(_))
    ));
    let t = store.create_task(&d.key, gpv(&["Device.A"]), TaskOptions::default(), 1000).await.unwrap();
    assert_eq!(
        t,
        Task {
            id: t.id,
            device_key: d.key.clone(),
            device_id: d.id,
            kind: gpv(&["Device.A"]),
            status: TaskStatus::Pending,
            created_at: 1000,
            updated_at: 1000,
            not_before: 1000,
            expires_at: None,
            attempts: 0,
            max_attempts: 3,
            result: None,
            fault: None,
        }
    );
    assert_eq!(store.task(t.id).await.unwrap().as_ref(), Some(&t));
    assert_eq!(store.task(t.id + 100_000).await.unwrap(), None);
    let options = TaskOptions { not_before: Some(5000), expires_at: Some(9000), max_attempts: Some(5) };
    let later = store.create_task(&d.key, TaskKind::Reboot, options, 1000).await.unwrap();
    assert_eq!((later.not_before, later.expires_at, later.max_attempts), (5000, Some(9000), 5));
    let elsewhere = store.create_task(&other.key, TaskKind::FactoryReset, TaskOptions::default(), 1000).await.unwrap();
    let ids = |tasks: Vec<Task>| tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(store.open_tasks(d.id).await.unwrap()), [t.id, later.id]);

    // Updates from sessions: the result is kept until replaced, the fault follows each update.
    set(store, TaskUpdate { result: Some(json!({"a": 1})), ..update(t.id, TaskStatus::Sent) }).await;
    let sent = store.task(t.id).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.attempts, sent.not_before), (TaskStatus::Sent, 1, 1500));
    assert_eq!(sent.result, Some(json!({"a": 1})));
    assert!(sent.updated_at > 1000);
    let fault = TaskFault { code: 9002, message: "busy".into() };
    set(store, TaskUpdate { fault: Some(fault.clone()), ..update(t.id, TaskStatus::Waiting) }).await;
    let waiting = store.task(t.id).await.unwrap().unwrap();
    assert_eq!(
        (waiting.status, waiting.fault.as_ref(), waiting.result.as_ref()),
        (TaskStatus::Waiting, Some(&fault), Some(&json!({"a": 1})))
    );
    set(store, update(t.id, TaskStatus::Sent)).await;
    assert_eq!(store.task(t.id).await.unwrap().unwrap().fault, None);
    assert_eq!(store.count_open_tasks().await.unwrap(), 3);

    assert!(store.cancel_task(t.id, 2000).await.unwrap());
    let cancelled = store.task(t.id).await.unwrap().unwrap();
    assert_eq!((cancelled.status, cancelled.updated_at), (TaskStatus::Cancelled, 2000));
    assert!(!store.cancel_task(t.id, 2000).await.unwrap());
    assert_eq!(ids(store.open_tasks(d.id).await.unwrap()), [later.id]);

    assert!(!store.retry_task(later.id, 3000).await.unwrap(), "an open task is not retried");
    assert!(store.retry_task(t.id, 3000).await.unwrap());
    let retried = store.task(t.id).await.unwrap().unwrap();
    assert_eq!(
        (retried.status, retried.attempts, retried.not_before, retried.updated_at),
        (TaskStatus::Pending, 0, 3000, 3000)
    );
    assert_eq!((retried.fault, retried.expires_at), (None, None));

    // Expiry: open tasks past their expiry only.
    assert_eq!(store.expire_tasks(8999).await.unwrap(), 0);
    assert_eq!(store.expire_tasks(9001).await.unwrap(), 1);
    let expired = store.task(later.id).await.unwrap().unwrap();
    assert_eq!((expired.status, expired.updated_at), (TaskStatus::Expired, 9001));
    assert_eq!(store.expire_tasks(9002).await.unwrap(), 0);
    // A retried task whose expiry has passed loses it; a future one keeps it.
    assert!(store.retry_task(later.id, 9500).await.unwrap());
    assert_eq!(store.task(later.id).await.unwrap().unwrap().expires_at, None);
    let future = TaskOptions { expires_at: Some(50_000), ..TaskOptions::default() };
    let keeps = store.create_task(&d.key, TaskKind::Reboot, future, 1000).await.unwrap();
    store.cancel_task(keeps.id, 2000).await.unwrap();
    store.retry_task(keeps.id, 3000).await.unwrap();
    assert_eq!(store.task(keeps.id).await.unwrap().unwrap().expires_at, Some(50_000));

    // Faults are dismissed into cancelled, their fault kept.
    set(store, TaskUpdate { fault: Some(fault.clone()), ..update(elsewhere.id, TaskStatus::Fault) }).await;
    assert!(!store.dismiss_fault(t.id, 4000).await.unwrap());
    assert!(store.dismiss_fault(elsewhere.id, 4000).await.unwrap());
    let dismissed = store.task(elsewhere.id).await.unwrap().unwrap();
    assert_eq!((dismissed.status, dismissed.fault), (TaskStatus::Cancelled, Some(fault)));
    assert!(!store.dismiss_fault(elsewhere.id, 4000).await.unwrap());

    // Listing: by id, filtered, paged; counts ignore paging.
    let q = |device_key: Option<&str>, status: Option<TaskStatus>, offset, limit| TaskQuery {
        device_key: device_key.map(String::from),
        status,
        offset,
        limit,
    };
    let all = [t.id, later.id, elsewhere.id, keeps.id];
    assert_eq!(ids(store.list_tasks(&q(None, None, 0, 100)).await.unwrap()), all);
    assert_eq!(ids(store.list_tasks(&q(Some(&d.key), None, 0, 100)).await.unwrap()), [t.id, later.id, keeps.id]);
    assert_eq!(ids(store.list_tasks(&q(None, Some(TaskStatus::Cancelled), 0, 100)).await.unwrap()), [elsewhere.id]);
    assert_eq!(
        ids(store.list_tasks(&q(Some(&d.key), Some(TaskStatus::Pending), 0, 100)).await.unwrap()),
        [t.id, later.id, keeps.id]
    );
    assert_eq!(ids(store.list_tasks(&q(None, None, 1, 2)).await.unwrap()), [later.id, elsewhere.id]);
    assert_eq!(store.count_tasks(&q(None, None, 1, 2)).await.unwrap(), 4);
    assert_eq!(store.count_tasks(&q(Some(&other.key), None, 0, 100)).await.unwrap(), 1);
    assert_eq!(store.count_tasks(&q(Some(&d.key), Some(TaskStatus::Pending), 0, 100)).await.unwrap(), 3);
    assert_eq!(store.count_open_tasks().await.unwrap(), 3);

    // Provisioning queues tasks through the session's writes.
    let queued = WriteOp::CreateTask { device_id: other.id, kind: TaskKind::Reboot, at: 7000 };
    store.apply(WriteBatch { ops: vec![queued] }).await.unwrap();
    let created = store.open_tasks(other.id).await.unwrap();
    assert_eq!(created.len(), 1);
    let c = &created[0];
    assert_eq!(
        (c.kind.clone(), c.status, c.created_at, c.not_before, c.max_attempts),
        (TaskKind::Reboot, TaskStatus::Pending, 7000, 7000, 3)
    );
}

async fn files_are_stored_in_chunks<S: Store>(store: &S) {
    const MIB: usize = 1 << 20;
    let data: Vec<u8> = (0..(2 * MIB + MIB / 2)).map(|i| (i % 251) as u8).collect();
    let meta = |name: &str| FileMeta {
        id: 0,
        name: name.into(),
        file_type: "1 Firmware Upgrade Image".into(),
        oui: "00D09E".into(),
        product_class: "Box".into(),
        version: "2.0".into(),
        size: 0,
        sha256: String::new(),
        created_at: 1000,
    };
    let stored = store.put_file(meta("fw/b.bin"), data.clone()).await.unwrap();
    use sha2::Digest;
    assert_eq!(stored.sha256, hex::encode(sha2::Sha256::digest(&data)));
    assert_eq!((stored.size, stored.version.as_str()), (data.len() as u64, "2.0"));
    assert_eq!(store.file("fw/b.bin").await.unwrap().as_ref(), Some(&stored));
    let small = store.put_file(meta("fw/a.bin"), b"hello".to_vec()).await.unwrap();
    assert_eq!(store.read_file(small.id, 0, 100).await.unwrap(), b"hello");
    let names = store.list_files().await.unwrap().into_iter().map(|f| f.name).collect::<Vec<_>>();
    assert_eq!(names, ["fw/a.bin", "fw/b.bin"]);

    let read = async |offset: usize, len: usize| store.read_file(stored.id, offset as u64, len as u64).await.unwrap();
    assert_eq!(read(0, 10).await, data[..10]);
    assert_eq!(read(MIB - 5, 10).await, data[MIB - 5..MIB + 5], "across a chunk boundary");
    assert_eq!(read(MIB / 2, 2 * MIB).await, data[MIB / 2..MIB / 2 + 2 * MIB]);
    assert_eq!(read(data.len() - 3, 10).await, data[data.len() - 3..], "cut at the end");
    assert!(read(5, 0).await.is_empty());
    assert!(read(data.len() + 10, 10).await.is_empty());

    // Replacing a file replaces its content.
    let replaced = store.put_file(meta("fw/a.bin"), b"bye".to_vec()).await.unwrap();
    assert_eq!(store.read_file(replaced.id, 0, 100).await.unwrap(), b"bye");
    assert_eq!(store.file("fw/a.bin").await.unwrap().unwrap().size, 3);
    assert!(store.delete_file("fw/a.bin").await.unwrap());
    assert!(!store.delete_file("fw/a.bin").await.unwrap());
    assert_eq!(store.file("fw/a.bin").await.unwrap(), None);
}

fn preset(name: &str, value: &str) -> Preset {
    Preset {
        name: name.into(),
        channel: "default".into(),
        weight: 1,
        precondition: String::new(),
        events: cwmp_acs::provision::preset::Events::OneOf(vec!["1 BOOT".into()]),
        schedule: None,
        configurations: vec![Configuration::Value {
            path: "Device.ManagementServer.PeriodicInformInterval".into(),
            value: value.into(),
            value_type: Some("xsd:unsignedInt".into()),
        }],
    }
}

async fn presets_and_scripts<S: Store>(store: &S) {
    assert!(matches!(store.put_preset(&preset("", "1"), 1000).await, Err(StoreError::Invalid(_))));
    store.put_preset(&preset("b", "300"), 1000).await.unwrap();
    store.put_preset(&preset("a", "600"), 1000).await.unwrap();
    assert_eq!(store.presets().await.unwrap(), [preset("a", "600"), preset("b", "300")]);
    store.put_preset(&preset("a", "900"), 2000).await.unwrap();
    assert_eq!(store.presets().await.unwrap(), [preset("a", "900"), preset("b", "300")]);
    assert!(store.delete_preset("a").await.unwrap());
    assert!(!store.delete_preset("a").await.unwrap());
    assert_eq!(store.presets().await.unwrap(), [preset("b", "300")]);

    let script = |name: &str, source: &str, at| Script { name: name.into(), source: source.into(), updated_at: at };
    store.put_script(ScriptKind::Provision, &script("p2", "declare('x')", 1)).await.unwrap();
    store.put_script(ScriptKind::Provision, &script("p1", "log('a')", 2)).await.unwrap();
    store.put_script(ScriptKind::VirtualParameter, &script("v1", "return 1", 3)).await.unwrap();
    assert_eq!(
        store.scripts(ScriptKind::Provision).await.unwrap(),
        [script("p1", "log('a')", 2), script("p2", "declare('x')", 1)]
    );
    assert_eq!(store.scripts(ScriptKind::VirtualParameter).await.unwrap(), [script("v1", "return 1", 3)]);
    store.put_script(ScriptKind::Provision, &script("p1", "log('b')", 4)).await.unwrap();
    assert_eq!(store.scripts(ScriptKind::Provision).await.unwrap()[0], script("p1", "log('b')", 4));
    assert!(!store.delete_script(ScriptKind::VirtualParameter, "p1").await.unwrap(), "kinds are apart");
    assert!(store.delete_script(ScriptKind::Provision, "p1").await.unwrap());
    assert_eq!(store.scripts(ScriptKind::Provision).await.unwrap(), [script("p2", "declare('x')", 1)]);
}

async fn channel_faults_back_off<S: Store>(store: &S) {
    let d = device(store, "S1").await;
    let e = device(store, "S2").await;
    let fault = |device_id, channel: &str, at| WriteOp::ChannelFault {
        device_id,
        channel: channel.into(),
        code: "9002".into(),
        message: format!("at {at}"),
        at,
    };
    store.apply(WriteBatch { ops: vec![fault(d.id, "default", 1000)] }).await.unwrap();
    let first = store.channel_faults(Some(d.id)).await.unwrap();
    assert_eq!(
        first,
        [ChannelFault {
            device_key: d.key.clone(),
            channel: "default".into(),
            code: "9002".into(),
            message: "at 1000".into(),
            retries: 0,
            first_at: 1000,
            last_at: 1000,
            retry_at: 61_000,
        }]
    );
    store.apply(WriteBatch { ops: vec![fault(d.id, "default", 2000)] }).await.unwrap();
    store.apply(WriteBatch { ops: vec![fault(d.id, "default", 3000)] }).await.unwrap();
    let third = store.channel_faults(Some(d.id)).await.unwrap().remove(0);
    assert_eq!((third.retries, third.first_at, third.last_at, third.message.as_str()), (2, 1000, 3000, "at 3000"));
    assert_eq!(third.retry_at, 3000 + 240_000, "one minute, doubled per retry");
    store.apply(WriteBatch { ops: vec![fault(e.id, "b", 1000), fault(d.id, "a", 1000)] }).await.unwrap();
    let all = store.channel_faults(None).await.unwrap();
    let order: Vec<_> = all.iter().map(|f| (f.device_key.as_str(), f.channel.as_str())).collect();
    assert_eq!(order, [(d.key.as_str(), "a"), (d.key.as_str(), "default"), (e.key.as_str(), "b")]);

    store
        .apply(WriteBatch { ops: vec![WriteOp::ClearChannelFault { device_id: d.id, channel: "a".into() }] })
        .await
        .unwrap();
    assert!(store.clear_channel_fault(&d.key, "default").await.unwrap());
    assert!(!store.clear_channel_fault(&d.key, "default").await.unwrap());
    assert!(store.channel_faults(Some(d.id)).await.unwrap().is_empty());
    assert_eq!(store.channel_faults(None).await.unwrap().len(), 1);
}

async fn api_tokens<S: Store>(store: &S) {
    assert_eq!(store.token_count().await.unwrap(), 0);
    let admin = store.create_token("admin", Role::Admin, None, 1000).await.unwrap();
    let reader = store.create_token("reader", Role::ReadOnly, Some(5000), 1000).await.unwrap();
    let operator = store.create_token("ops", Role::Operator, None, 2000).await.unwrap();
    assert_ne!(admin, reader);
    assert!(admin.len() >= 32);
    let found = store.find_token(&admin).await.unwrap().unwrap();
    assert_eq!(found, ApiToken { name: "admin".into(), role: Role::Admin, created_at: 1000, expires_at: None });
    let found = store.find_token(&reader).await.unwrap().unwrap();
    assert_eq!((found.role, found.expires_at), (Role::ReadOnly, Some(5000)));
    assert!(!found.expired(4999) && found.expired(5000));
    assert_eq!(store.find_token(&operator).await.unwrap().unwrap().role, Role::Operator);
    assert_eq!(store.find_token("guess").await.unwrap(), None);
    assert_eq!(store.token_count().await.unwrap(), 3);

    // Names are unique: a second token of a name is refused, and the first stays.
    let again = store.create_token("admin", Role::ReadOnly, None, 3000).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.find_token(&admin).await.unwrap().unwrap().role, Role::Admin);

    let names: Vec<String> = store.list_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["admin", "ops", "reader"]);
    assert!(store.delete_token("reader").await.unwrap());
    assert!(!store.delete_token("reader").await.unwrap());
    assert_eq!(store.find_token(&reader).await.unwrap(), None, "a deleted token is gone");
    assert_eq!(store.token_count().await.unwrap(), 2);
}

fn audit(at: Millis, actor: &str, action: &str, target: Option<&str>) -> AuditRecord {
    AuditRecord {
        at,
        actor: actor.into(),
        action: action.into(),
        target: target.map(str::to_owned),
        address: Some("192.0.2.1".into()),
        detail: json!({ "status": 200, "nested": { "list": [1, "two"] } }),
    }
}

/// Records come back as written, newest first, filtered and paged; a session's batch
/// carries them with its other writes, all or nothing; pruning removes only the old ones.
async fn audit_log<S: Store>(store: &S) {
    let all = AuditQuery::default();
    assert!(store.list_audit(&all).await.unwrap().is_empty());
    assert_eq!(store.count_audit(&all).await.unwrap(), 0);

    let first = audit(1000, "token:admin", "task.create", Some("00D09E-Box-S1"));
    store.record_audit(first.clone()).await.unwrap();
    let bare = AuditRecord { address: None, detail: json!({}), ..audit(1000, "acs", "cpe.refused", None) };
    store.record_audit(bare.clone()).await.unwrap();
    store.record_audit(audit(3000, "token:ops", "task.create", Some("00D09E-Box-S2"))).await.unwrap();
    store.record_audit(audit(2000, "cpe:00D09E-Box-S1", "cpe.enrolled", Some("00D09E-Box-S1"))).await.unwrap();

    let listed = store.list_audit(&all).await.unwrap();
    let order: Vec<(Millis, &str)> = listed.iter().map(|e| (e.record.at, e.record.action.as_str())).collect();
    // Newest first; at the same time, the later record first.
    assert_eq!(order, [(3000, "task.create"), (2000, "cpe.enrolled"), (1000, "cpe.refused"), (1000, "task.create")]);
    assert_eq!(listed[3].record, first, "a record reads back as written");
    assert_eq!(listed[2].record, bare);
    assert!(listed[2].id > listed[3].id);
    assert_eq!(store.count_audit(&all).await.unwrap(), 4);

    let find = |q: AuditQuery| async move {
        store.list_audit(&q).await.unwrap().iter().map(|e| e.record.at).collect::<Vec<_>>()
    };
    assert_eq!(find(AuditQuery { since: Some(2000), ..all.clone() }).await, [3000, 2000]);
    assert_eq!(find(AuditQuery { until: Some(2000), ..all.clone() }).await, [1000, 1000], "until is exclusive");
    assert_eq!(find(AuditQuery { since: Some(1000), until: Some(3000), ..all.clone() }).await, [2000, 1000, 1000]);
    assert_eq!(find(AuditQuery { actor: Some("token:ops".into()), ..all.clone() }).await, [3000]);
    assert_eq!(find(AuditQuery { action: Some("task.create".into()), ..all.clone() }).await, [3000, 1000]);
    assert_eq!(find(AuditQuery { target: Some("00D09E-Box-S1".into()), ..all.clone() }).await, [2000, 1000]);
    let both = AuditQuery { action: Some("task.create".into()), target: Some("00D09E-Box-S1".into()), ..all.clone() };
    assert_eq!(find(both.clone()).await, [1000]);
    assert_eq!(store.count_audit(&both).await.unwrap(), 1);
    assert_eq!(find(AuditQuery { actor: Some("token:nobody".into()), ..all.clone() }).await, Vec::<Millis>::new());
    let page = AuditQuery { offset: 1, limit: 2, ..all.clone() };
    assert_eq!(find(page.clone()).await, [2000, 1000]);
    assert_eq!(store.count_audit(&page).await.unwrap(), 4, "the count ignores paging");

    // In a session's batch: written with the rest, or not at all.
    let d = device(store, "S1").await;
    let batch = |device_id: i64, action: &str| WriteBatch {
        ops: vec![
            WriteOp::Params { device_id: d.id, at: 4000, ops: vec![value("Device.A", "1")] },
            WriteOp::Audit(audit(4000, "acs", action, None)),
            WriteOp::CreateTask { device_id, kind: TaskKind::Reboot, at: 4000 },
        ],
    };
    assert!(store.apply(batch(i64::MAX, "failed.batch")).await.is_err());
    store.apply(batch(d.id, "good.batch")).await.unwrap();
    let actions: Vec<String> = store
        .list_audit(&AuditQuery { since: Some(4000), ..all.clone() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect();
    assert_eq!(actions, ["good.batch"]);

    assert_eq!(store.prune_audit(2000).await.unwrap(), 2);
    assert_eq!(find(all.clone()).await, [4000, 3000, 2000]);
    assert_eq!(store.prune_audit(2000).await.unwrap(), 0);

    // More than the store removes per statement.
    let old = (0..10_001).map(|i| WriteOp::Audit(audit(500 + i % 7, "acs", "old", None))).collect();
    store.apply(WriteBatch { ops: old }).await.unwrap();
    assert_eq!(store.prune_audit(1000).await.unwrap(), 10_001);
    assert_eq!(find(all.clone()).await, [4000, 3000, 2000]);
}

async fn configuration_changes_move_the_generation<S: Store>(store: &S) {
    let mut generation = store.config_generation();
    let mut seen = *generation.borrow_and_update();
    let mut changed = async |what: &str| {
        let moved = tokio::time::timeout(Duration::from_secs(5), async {
            while *generation.borrow_and_update() == seen {
                generation.changed().await.unwrap();
            }
        })
        .await;
        assert!(moved.is_ok(), "{what} did not move the configuration generation");
        seen = *generation.borrow();
    };
    store.put_preset(&preset("a", "1"), 1000).await.unwrap();
    changed("put_preset").await;
    store.delete_preset("a").await.unwrap();
    changed("delete_preset").await;
    let script = Script { name: "s".into(), source: "1".into(), updated_at: 1 };
    store.put_script(ScriptKind::Provision, &script).await.unwrap();
    changed("put_script").await;
    store.delete_script(ScriptKind::Provision, "s").await.unwrap();
    changed("delete_script").await;
    let meta = FileMeta {
        id: 0,
        name: "f".into(),
        file_type: "1 Firmware Upgrade Image".into(),
        oui: String::new(),
        product_class: String::new(),
        version: String::new(),
        size: 0,
        sha256: String::new(),
        created_at: 0,
    };
    store.put_file(meta, b"x".to_vec()).await.unwrap();
    changed("put_file").await;
    store.delete_file("f").await.unwrap();
    changed("delete_file").await;
}

async fn a_batch_is_all_or_nothing<S: Store>(store: &S) {
    let d = device(store, "S1").await;
    let broken = WriteBatch {
        ops: vec![
            WriteOp::Params { device_id: d.id, at: 100, ops: vec![value("Device.A", "1")] },
            WriteOp::CreateTask { device_id: i64::MAX, kind: TaskKind::Reboot, at: 100 },
        ],
    };
    assert!(store.apply(broken).await.is_err());
    assert!(store.params(d.id, "").await.unwrap().is_empty(), "nothing of a failed batch is written");
    // Batches applied at the same time are independent: one failing does not take others down.
    let good = |v: &str| WriteBatch {
        ops: vec![WriteOp::Params { device_id: d.id, at: 200, ops: vec![value(&format!("Device.{v}"), v)] }],
    };
    let bad = WriteBatch { ops: vec![WriteOp::CreateTask { device_id: i64::MAX, kind: TaskKind::Reboot, at: 100 }] };
    let (a, b, c) = tokio::join!(store.apply(good("B")), store.apply(bad), store.apply(good("C")));
    assert!(a.is_ok() && b.is_err() && c.is_ok());
    assert_eq!(paths(&store.params(d.id, "").await.unwrap()), ["Device.B", "Device.C"]);
}

async fn concurrent_sessions_are_all_durable<S: Store>(store: &S) {
    let work = (0..40).map(|i| async move {
        let serial = format!("C{i:02}");
        let d = store
            .record_inform(inform(&serial, &["2 PERIODIC"], &[("Device.DeviceInfo.UpTime", &i.to_string())], 1000 + i))
            .await
            .unwrap();
        let ops = (0..20).map(|n| value(&format!("Device.Shared.{n}"), &format!("{i}-{n}"))).collect();
        write_params(store, d.id, 2000, ops).await;
        store.record_inform(inform(&serial, &["2 PERIODIC"], &[], 3000 + i)).await.unwrap()
    });
    let devices = futures_util::future::join_all(work).await;
    assert_eq!(store.count_devices(&DeviceQuery::default()).await.unwrap(), 40);
    let ids: BTreeSet<i64> = devices.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 40);
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.last_inform, Some(3000 + i as i64));
        let params = store.params(d.id, "Device.Shared.").await.unwrap();
        assert_eq!(params.len(), 20);
        assert!(params.iter().all(|p| p.value.as_deref().unwrap().starts_with(&format!("{i}-"))));
    }
}

/// Tokens stored before names were unique and roles were checked: a name given twice keeps
/// its first token, the others get their id appended; every token keeps working, the older
/// `read_only` spelling included.
async fn upgraded_tokens_keep_working<S: Store>(store: &S) {
    let names: Vec<String> = store.list_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["ci", "ci #2", "ci #4", "viewer"]);
    for (secret, name, role) in [
        ("s1", "ci", Role::Admin),
        ("s2", "ci #2", Role::ReadOnly),
        ("s3", "viewer", Role::ReadOnly),
        ("s4", "ci #4", Role::ReadOnly),
    ] {
        let token = store.find_token(secret).await.unwrap().unwrap_or_else(|| panic!("{secret} lost"));
        assert_eq!((token.name.as_str(), token.role, token.expires_at), (name, role, None));
    }
    assert!(store.delete_token("ci").await.unwrap());
    assert_eq!(store.find_token("s2").await.unwrap().unwrap().name, "ci #2", "deleting one name deletes one token");
}

/// The tokens of [`upgraded_tokens_keep_working`], as an older version stored them.
const OLD_TOKENS: &str = "INSERT INTO api_tokens (name, token_hash, role, created_at) VALUES
    ('ci', 'H1', 'admin', 1), ('ci', 'H2', 'readonly', 2), ('viewer', 'H3', 'read_only', 3), ('ci', 'H4', 'readonly', 4)";

fn old_tokens() -> String {
    let mut sql = OLD_TOKENS.to_owned();
    for (i, secret) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        sql = sql.replace(&format!("'H{}'", i + 1), &format!("'{}'", token_hash(secret)));
    }
    sql
}

#[tokio::test]
async fn sqlite_upgraded_tokens_keep_working() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acs.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    for sql in [
        include_str!("../migrations/sqlite/0001_initial.sql"),
        include_str!("../migrations/sqlite/0003_provisioning.sql"),
        include_str!("../migrations/sqlite/0004_audit.sql"),
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1), (3), (4);",
        &old_tokens(),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store = SqliteStore::open(&path, Durability::Normal).await.unwrap();
    upgraded_tokens_keep_working(&store).await;
}

#[tokio::test]
async fn postgres_upgraded_tokens_keep_working() {
    use sqlx::Connection as _;
    let Some(schema) = pg_support::PgSchema::create().await else { return };
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    let search_path = format!("SET search_path TO \"{}\"", schema.name);
    for sql in [
        search_path.as_str(),
        include_str!("../migrations/postgres/0001_initial.sql"),
        include_str!("../migrations/postgres/0002_audit.sql"),
        "CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (1), (2);",
        &old_tokens(),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    upgraded_tokens_keep_working(&schema.store().await).await;
}

/// Instantiates every contract for SQLite and for PostgreSQL.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::SqliteStore::open(&dir.path().join("acs.db"), super::Durability::Normal).await.unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(schema) = super::pg_support::PgSchema::create().await else { return };
                    let store = schema.store().await;
                    super::$name(&store).await;
                }
            )*
        }
    };
}

conformance!(
    informs_create_and_update_devices,
    values_seen_again_are_fresh,
    bootstrap_forgets_the_tree,
    parameter_trees,
    device_listing_filters_sorts_and_pages,
    deleting_a_device_removes_what_belongs_to_it,
    tags_and_credentials,
    task_lifecycle,
    files_are_stored_in_chunks,
    presets_and_scripts,
    channel_faults_back_off,
    api_tokens,
    audit_log,
    configuration_changes_move_the_generation,
    a_batch_is_all_or_nothing,
    concurrent_sessions_are_all_durable,
);
