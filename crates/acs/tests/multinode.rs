//! Several ACS nodes (in this process, on different ports) sharing one PostgreSQL schema.
//! Needs `CWMP_TEST_POSTGRES_URL`; says so and skips without it.

mod multinode_support;
mod pg_support;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cwmp_acs::store::postgres::PgStore;
use cwmp_acs::store::postgres::cluster::{Begin, Cluster, ResumeKey, StepOutcome};
use cwmp_acs::store::{
    DeviceIdentity, InformRecord, Millis, ParamOp, Store, TaskOptions, TaskStatus, WriteBatch, WriteOp, now_millis,
};
use cwmp_acs::tasks::{TaskKind, ValueSpec};
use multinode_support::*;
use pg_support::PgSchema;
use tokio::sync::Mutex;

fn record(serial: &str, now: Millis) -> InformRecord {
    InformRecord {
        identity: DeviceIdentity {
            manufacturer: "Acme".into(),
            oui: OUI.into(),
            product_class: PRODUCT_CLASS.into(),
            serial_number: serial.into(),
        },
        events: vec!["2 PERIODIC".into()],
        params: vec![],
        now,
        cwmp_version: "1.2".into(),
        remote_addr: None,
    }
}

fn set_value(path: &str, value: &str) -> TaskKind {
    TaskKind::SetParameterValues { parameter_values: vec![ValueSpec(path.into(), value.into(), None)] }
}

async fn nodes(schema: &PgSchema, count: usize, session_timeout: Duration) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(Node::start(&schema.url, schema.config(6), session_timeout).await);
    }
    nodes
}

async fn lease_rows(schema: &PgSchema) -> i64 {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&schema.url).await.unwrap();
    let sql = format!("SELECT COUNT(*) FROM \"{}\".cwmp_sessions", schema.name);
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.unwrap()
}

/// The lease primitives: one holder at a time, refusals say how long to wait, a stale
/// holder writes nothing, a take-over needs the session's id, an expired lease is free.
#[tokio::test]
async fn leases_fence_and_hand_over() {
    let Some(schema) = PgSchema::create().await else { return };
    let ttl = Duration::from_millis(1500);
    let store_a = PgStore::connect(&schema.url, &schema.config(4)).await.unwrap();
    let store_b = PgStore::connect(&schema.url, &schema.config(4)).await.unwrap();
    let a = Cluster::new(store_a.clone(), Some("a".into()), ttl);
    let b = Cluster::new(store_b.clone(), Some("b".into()), ttl);
    let key = device_key("L1");

    let Begin::Started { device, lease: first } = a.begin_session(record("L1", 1000), "s1", None, None).await.unwrap()
    else {
        panic!("a free device is claimed")
    };
    // Another node is refused, and the refused Inform is not recorded.
    let Begin::Busy { retry_after } = b.begin_session(record("L1", 2000), "s2", None, None).await.unwrap() else {
        panic!("a held device is refused")
    };
    assert!(retry_after > Duration::ZERO && retry_after <= ttl, "{retry_after:?}");
    assert_eq!(store_b.device(&key).await.unwrap().unwrap().last_inform, Some(1000));
    // Another process given the same node name is another owner all the same.
    let namesake = Cluster::new(store_b.clone(), Some("a".into()), ttl);
    assert!(matches!(namesake.begin_session(record("L1", 2000), "s2", None, None).await.unwrap(), Begin::Busy { .. }));
    assert!(b.in_session(&key).await.unwrap());
    // Nothing to take over before the first checkpoint.
    assert!(b.resume(ResumeKey::Session("s1")).await.unwrap().is_none());

    let write = |v: &str| WriteBatch {
        ops: vec![WriteOp::Params {
            device_id: device.id,
            at: 1,
            ops: vec![ParamOp::Value { path: "Device.A".into(), value: v.into(), ty: "xsd:string".into() }],
        }],
    };
    assert_eq!(a.step(&first, write("a1"), Some(r#"{"step":1}"#.into())).await.unwrap(), StepOutcome::Applied);
    // The CPE turns up at B with its cookie: B takes over with a larger token.
    let resumed = b.resume(ResumeKey::Session("s1")).await.unwrap().expect("taken over");
    assert_eq!(resumed.state, r#"{"step": 1}"#);
    assert!(resumed.lease.token > first.token);
    // A's copy is stale: its step writes nothing.
    assert_eq!(a.step(&first, write("stale"), Some("{}".into())).await.unwrap(), StepOutcome::LeaseLost);
    assert_eq!(store_a.params(device.id, "Device.A").await.unwrap()[0].value.as_deref(), Some("a1"));
    assert_eq!(b.step(&resumed.lease, write("b1"), Some(r#"{"step":2}"#.into())).await.unwrap(), StepOutcome::Applied);
    // By device and by address too, for CPEs without cookies.
    let again = a.resume(ResumeKey::Device(&key)).await.unwrap().expect("by device");
    assert_eq!(again.state, r#"{"step": 2}"#);
    assert!(a.resume(ResumeKey::ClientIp("10.9.9.9".parse().unwrap())).await.unwrap().is_none());
    // The last step releases the lease with the session's writes.
    assert_eq!(a.step(&again.lease, write("end"), None).await.unwrap(), StepOutcome::Applied);
    assert!(!b.in_session(&key).await.unwrap());
    assert!(b.resume(ResumeKey::Session("s1")).await.unwrap().is_none(), "an ended session is gone");

    // A lease nobody renews expires: the device's next session may start elsewhere.
    let Begin::Started { .. } = a.begin_session(record("L1", 3000), "s3", Some("10.0.0.7".into()), None).await.unwrap()
    else {
        panic!()
    };
    assert!(matches!(b.begin_session(record("L1", 3001), "s4", None, None).await.unwrap(), Begin::Busy { .. }));
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert!(!b.in_session(&key).await.unwrap());
    let Begin::Started { lease, .. } = b.begin_session(record("L1", 4000), "s4", None, None).await.unwrap() else {
        panic!("an expired lease is free")
    };
    // One session at a time, even on the same node (TR-069 3.7)...
    assert!(matches!(b.begin_session(record("L1", 4001), "s5", None, None).await.unwrap(), Begin::Busy { .. }));
    // ...but the client that holds it may start afresh (a new Inform on its connection).
    let Begin::Started { lease: replaced, .. } =
        b.begin_session(record("L1", 4001), "s5", None, Some("s4".into())).await.unwrap()
    else {
        panic!("the same client replaces its session")
    };
    assert!(replaced.token > lease.token);
    assert_eq!(b.step(&lease, WriteBatch::default(), Some("{}".into())).await.unwrap(), StepOutcome::LeaseLost);
    assert!(b.release(&replaced).await.unwrap());
    assert_eq!(lease_rows(&schema).await, 0);
}

/// Twenty-four CPEs, five sessions each, on three nodes: each session starts on another node
/// than the last, half of them change node at every exchange, and tasks are queued on
/// random nodes before and during the sessions. Every Inform answered is in the store before
/// its answer, every task runs once, no session is refused or fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_cpes_alternate_nodes_and_move_mid_session() {
    let Some(schema) = PgSchema::create().await else { return };
    let nodes = nodes(&schema, 3, Duration::from_secs(30)).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    let stores: Vec<PgStore> = nodes.iter().map(|n| n.store().clone()).collect();
    const CPES: usize = 24;
    const ROUNDS: usize = 5;
    let cpes: Vec<Arc<Mutex<SimCpe>>> =
        (0..CPES).map(|i| Arc::new(Mutex::new(SimCpe::new(&format!("M{i:02}"))))).collect();
    // Every device exists before tasks are queued for it.
    for (i, cpe) in cpes.iter().enumerate() {
        let outcome = cpe.lock().await.session(&addrs, i % 3, &mut |_| None).await.unwrap();
        assert!(matches!(outcome, Outcome::Done { .. }));
    }
    let created: Arc<Mutex<Vec<i64>>> = Arc::default();
    let queue = |round: usize, wave: usize| {
        let stores = stores.clone();
        let created = created.clone();
        async move {
            for i in 0..CPES {
                let store = &stores[(i + round + wave) % stores.len()];
                let kind = if (i + wave).is_multiple_of(3) {
                    TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.".into()] }
                } else {
                    set_value(&format!("Device.X_Test.R{round}W{wave}"), &format!("{i}"))
                };
                let key = device_key(&format!("M{i:02}"));
                let task = store.create_task(&key, kind, TaskOptions::default(), now_millis()).await.unwrap();
                created.lock().await.push(task.id);
            }
        }
    };
    let mut exchanges_total = 0;
    let mut hops_total = 0;
    for round in 0..=ROUNDS {
        // The last round only drains what was queued during the one before.
        if round < ROUNDS {
            queue(round, 0).await;
        }
        let during = (round < ROUNDS).then(|| tokio::spawn(queue(round, 1)));
        let mut sessions = Vec::new();
        for (i, cpe) in cpes.iter().enumerate() {
            let cpe = cpe.clone();
            let addrs = addrs.clone();
            let check = stores[(i + 1) % stores.len()].clone();
            sessions.push(tokio::spawn(async move {
                let mut cpe = cpe.lock().await;
                let first = (i + round) % 3;
                if let Some(refused) = cpe.open(addrs[first]).await.unwrap() {
                    panic!("{}: Inform refused with {}", cpe.serial, refused.status);
                }
                // Durable before its InformResponse: any node's store has it.
                assert_eq!(recorded_informs(&check, &cpe.serial).await, Some(cpe.informs));
                let moving = (i + round) % 2 == 0;
                let mut hop = move |exchange: usize| moving.then_some((first + exchange) % 3);
                match cpe.finish(&addrs, &mut hop).await {
                    Ok(Outcome::Done { rpcs, nodes }) => (rpcs.len(), nodes.len() - 1),
                    other => panic!("{other:?}"),
                }
            }));
        }
        for s in sessions {
            let (rpcs, hops) = s.await.unwrap();
            exchanges_total += rpcs;
            hops_total += hops;
        }
        if let Some(d) = during {
            d.await.unwrap();
        }
    }
    let created = created.lock().await.clone();
    assert_eq!(created.len(), CPES * ROUNDS * 2);
    let mut applied: HashMap<String, u32> = HashMap::new();
    for cpe in &cpes {
        for (key, n) in &cpe.lock().await.applied {
            assert!(applied.insert(key.clone(), *n).is_none(), "keys are task ids");
        }
    }
    let mut set_tasks = 0;
    for id in &created {
        let task = stores[0].task(*id).await.unwrap().unwrap();
        assert_eq!(task.status, TaskStatus::Done, "{task:?}");
        if matches!(task.kind, TaskKind::SetParameterValues { .. }) {
            set_tasks += 1;
            assert_eq!(applied.get(&task.command_key()), Some(&1), "task {id} carried out once");
        }
    }
    assert_eq!(applied.len(), set_tasks, "nothing else was carried out");
    for cpe in &cpes {
        let cpe = cpe.lock().await;
        assert_eq!(recorded_informs(&stores[2], &cpe.serial).await, Some(cpe.informs));
    }
    assert_eq!(lease_rows(&schema).await, 0, "every session ended and released its lease");
    assert!(hops_total > 50, "sessions changed node mid-way {hops_total} times");
    eprintln!("{exchanges_total} RPCs, {hops_total} changes of node mid-session");
}

/// Informs of one device reaching three nodes at the same moment: exactly one session; the
/// others are told to come back later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_informs_of_one_device_get_one_session() {
    let Some(schema) = PgSchema::create().await else { return };
    let nodes = nodes(&schema, 3, Duration::from_secs(30)).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    // The device as the ACS enrolled it: every copy presents its credentials.
    let mut device = SimCpe::new("TWIN");
    device.session(&addrs, 0, &mut |_| None).await.unwrap();
    for round in 0..10 {
        let mut twins: Vec<SimCpe> = (0..3).map(|_| SimCpe::new("TWIN")).collect();
        twins.iter_mut().for_each(|twin| twin.take_credentials_of(&device));
        let addrs = &addrs;
        let opened = futures_util::future::join_all(
            twins.iter_mut().enumerate().map(|(i, cpe)| async move { cpe.open(addrs[i]).await.unwrap() }),
        )
        .await;
        let winners: Vec<usize> = opened.iter().enumerate().filter(|(_, r)| r.is_none()).map(|(i, _)| i).collect();
        assert_eq!(winners.len(), 1, "round {round}: one session per device");
        for refused in opened.iter().flatten() {
            assert_eq!(refused.status, 503);
            let retry = refused.retry_after.expect("Retry-After");
            assert!((1..=30).contains(&retry), "{retry}");
        }
        let outcome = twins[winners[0]].finish(addrs, &mut |_| None).await.unwrap();
        assert!(matches!(outcome, Outcome::Done { .. }));
    }
}

/// A CPE that goes A → B → A mid-session: whether A has heard of the take-over (NOTIFY) or
/// still holds its old copy, it continues from B's checkpoint, and nothing runs twice.
#[tokio::test]
async fn a_node_with_a_stale_copy_continues_from_the_latest_checkpoint() {
    let Some(schema) = PgSchema::create().await else { return };
    let nodes = nodes(&schema, 2, Duration::from_secs(30)).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    for attempt in 0..6 {
        let serial = format!("S{attempt}");
        let mut cpe = SimCpe::new(&serial);
        cpe.session(&addrs, 0, &mut |_| None).await.unwrap();
        let mut ids = Vec::new();
        for n in 0..3 {
            let task = set_value(&format!("Device.X_Test.V{n}"), "1");
            ids.push(
                nodes[1].store().create_task(&cpe.key(), task, TaskOptions::default(), now_millis()).await.unwrap().id,
            );
        }
        // Even attempts come back to A at once, odd ones after A had time to hear of it.
        let pause = Duration::from_millis(if attempt % 2 == 0 { 0 } else { 300 });
        assert!(cpe.open(addrs[0]).await.unwrap().is_none());
        let (request, answer) = cpe.step(Vec::new()).await.unwrap();
        assert!(matches!(request.message, cwmp_wire::Message::SetParameterValues(_)));
        cpe.conn = Some(Connection::open(addrs[1]).await.unwrap());
        let (request, answer) = cpe.step(answer).await.unwrap();
        assert!(matches!(request.message, cwmp_wire::Message::SetParameterValues(_)));
        tokio::time::sleep(pause).await;
        cpe.conn = Some(Connection::open(addrs[0]).await.unwrap());
        let (request, answer) = cpe.step(answer).await.unwrap();
        assert!(matches!(request.message, cwmp_wire::Message::SetParameterValues(_)));
        let reply = cpe.conn.as_mut().unwrap().post(answer, cpe.cookie.as_deref()).await.unwrap();
        assert_eq!(reply.status, 204);
        for id in ids {
            let task = nodes[0].store().task(id).await.unwrap().unwrap();
            assert_eq!(task.status, TaskStatus::Done);
            assert_eq!(cpe.applied.get(&task.command_key()), Some(&1));
        }
        assert_eq!(cpe.applied.len(), 3);
    }
}

/// Wake-ups cross nodes: a task queued through node B's API with a Connection Request
/// reaches a CPE whose session then runs on node C; a device in session on node A defers
/// B's request and takes the task in that session. Configuration changes on one node are
/// seen by the others: by NOTIFY, and by polling when a notification is missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connection_requests_and_configuration_changes_reach_every_node() {
    let Some(schema) = PgSchema::create().await else { return };
    let nodes = nodes(&schema, 3, Duration::from_secs(30)).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();

    // The CPE's Connection Request listener: each request starts a session at node C.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cr_url = format!("http://{}/cr", listener.local_addr().unwrap());
    let cpe = Arc::new(Mutex::new(SimCpe::new("CR1")));
    cpe.lock().await.params.insert("Device.ManagementServer.ConnectionRequestURL".into(), cr_url);
    cpe.lock().await.session(&addrs, 0, &mut |_| None).await.unwrap();
    // The outcome of each session a Connection Request starts comes back here, to be checked
    // and counted.
    let (sessions, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    {
        let (cpe, addrs) = (cpe.clone(), addrs.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new()),
                    )
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                let (cpe, addrs, sessions) = (cpe.clone(), addrs.clone(), sessions.clone());
                tokio::spawn(async move {
                    let outcome = cpe.lock().await.session(&addrs, 2, &mut |_| None).await;
                    let _ = sessions.send(outcome);
                });
            }
        });
    }
    let task =
        serde_json::json!({"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.SoftwareVersion"]});
    let path = format!("/devices/{}/tasks?connection_request&timeout=20", device_key("CR1"));
    let (status, body) = api(nodes[1].running.api_addr, "POST", &path, Some(task.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "done");
    let state = &body["connectionRequest"]["state"];
    assert!(state == "accepted" || state == "sessionStarted", "{state}");
    assert_eq!(body["result"]["parameters"][0][1], "1.0");
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await.expect("the session ends");
    let done = Outcome::Done { rpcs: vec!["GetParameterValues".into()], nodes: vec![addrs[2]] };
    assert_eq!(outcome, Some(Ok(done)), "the woken CPE's session ran the task on node C");

    // In session on node A: node B defers its request, and A's session takes the task.
    let mut held = cpe.lock().await;
    assert!(held.open(addrs[0]).await.unwrap().is_none());
    let (status, device) =
        api(nodes[1].running.api_addr, "GET", &format!("/devices/{}", device_key("CR1")), None).await;
    assert_eq!((status, &device["inSession"]), (200, &serde_json::json!(true)), "B sees the session on A");
    let path = format!("/devices/{}/tasks?connection_request", device_key("CR1"));
    let (status, body) = api(nodes[1].running.api_addr, "POST", &path, Some(task)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["connectionRequest"]["state"], "deferred");
    let id = body["id"].as_i64().unwrap();
    let outcome = held.finish(&addrs, &mut |_| None).await.unwrap();
    assert_eq!(outcome, Outcome::Done { rpcs: vec!["GetParameterValues".into()], nodes: vec![addrs[0]] });
    drop(held);
    assert_eq!(nodes[2].store().task(id).await.unwrap().unwrap().status, TaskStatus::Done);

    // Configuration: NOTIFY first, then the poll for a change made without notification.
    let mut seen_by_c = nodes[2].store().config_generation();
    seen_by_c.borrow_and_update();
    let preset: cwmp_acs::provision::preset::Preset = serde_json::from_value(serde_json::json!({
        "name": "interval",
        "configurations": [{"type": "value", "path": "Device.ManagementServer.PeriodicInformInterval", "value": "300"}]
    }))
    .unwrap();
    assert!(nodes[2].store().presets().await.unwrap().is_empty(), "node C knows (and caches) no preset");
    let started = Instant::now();
    nodes[0].store().put_preset(&preset, now_millis()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), seen_by_c.changed()).await.expect("NOTIFY reaches node C").unwrap();
    assert_eq!(nodes[2].store().presets().await.unwrap(), [preset], "node C reads the new preset");
    eprintln!("preset change seen by another node after {:?}", started.elapsed());
    seen_by_c.borrow_and_update();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&schema.url).await.unwrap();
    let sql = format!("UPDATE \"{}\".config_version SET version = version + 1", schema.name);
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), seen_by_c.changed()).await.expect("the poll catches up").unwrap();
    assert!(
        matches!(outcomes.try_recv(), Err(tokio::sync::mpsc::error::TryRecvError::Empty)),
        "one Connection Request in all: B's second request waited for A's session"
    );
}

/// Background work no node owns: every node expires tasks at the same time, and each task
/// is expired once (SKIP LOCKED), none waiting on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_expiry_is_shared_without_double_work() {
    let Some(schema) = PgSchema::create().await else { return };
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(PgStore::connect(&schema.url, &schema.config(4)).await.unwrap());
    }
    stores[0].record_inform(record("E1", 1)).await.unwrap();
    let mut ids = BTreeSet::new();
    for _ in 0..300 {
        let options = TaskOptions { expires_at: Some(5000), ..TaskOptions::default() };
        ids.insert(stores[1].create_task(&device_key("E1"), TaskKind::Reboot, options, 1000).await.unwrap().id);
    }
    let counts = futures_util::future::join_all(stores.iter().map(|s| s.expire_tasks(6000))).await;
    let total: u64 = counts.into_iter().map(Result::unwrap).sum();
    assert_eq!(total, 300, "each task expired by exactly one node");
    for id in ids {
        assert_eq!(stores[2].task(id).await.unwrap().unwrap().status, TaskStatus::Expired);
    }
}
