//! PostgreSQL stopped and started again under load: while it is down the nodes answer 503
//! with Retry-After (sessions, and `/health`), nothing acknowledged is lost, no task runs
//! twice, and the nodes recover by themselves.
//!
//! It stops the server for everyone using it, so it runs only on request:
//! `CWMP_TEST_PG_RESTART=1` with `CWMP_TEST_POSTGRES_URL`, as a user allowed to run
//! `pg_ctlcluster` (the cluster is the one `pg_lsclusters` lists first, or
//! `CWMP_TEST_PG_CLUSTER="<version> <name>"`).

mod multinode_support;
mod pg_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cwmp_acs::store::{Store, TaskOptions, TaskStatus, now_millis};
use cwmp_acs::tasks::{TaskKind, ValueSpec};
use multinode_support::*;
use pg_support::PgSchema;
use tokio::sync::Mutex;

const SESSION_TIMEOUT: Duration = Duration::from_secs(3);

fn cluster() -> (String, String) {
    let named = std::env::var("CWMP_TEST_PG_CLUSTER").ok();
    let listed = named.unwrap_or_else(|| {
        let out = std::process::Command::new("pg_lsclusters").arg("-h").output().expect("pg_lsclusters");
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
    });
    let mut fields = listed.split_whitespace();
    let version = fields.next().expect("a PostgreSQL cluster version").to_owned();
    (version, fields.next().expect("a cluster name").to_owned())
}

fn pg_ctl(action: &str) {
    let (version, name) = cluster();
    let mut args = vec!["--skip-systemctl-redirect", version.as_str(), name.as_str(), action];
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    let status = std::process::Command::new("pg_ctlcluster").args(&args).status().expect("pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// Starts PostgreSQL again if the test ends (or fails) while it is stopped.
struct Restart(AtomicBool);

impl Drop for Restart {
    fn drop(&mut self) {
        if self.0.load(Ordering::SeqCst) {
            pg_ctl("start");
        }
    }
}

#[derive(Default)]
struct Tally {
    sessions: AtomicUsize,
    refused: AtomicUsize,
    failed_mid_session: AtomicUsize,
    without_retry_after: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_are_refused_while_postgresql_is_down_and_resume_after() {
    let Some(schema) = PgSchema::create().await else { return };
    if std::env::var("CWMP_TEST_PG_RESTART").as_deref() != Ok("1") {
        cwmp_test_support::skip("CWMP_TEST_PG_RESTART=1 not set (this test stops PostgreSQL)");
        return;
    }
    let nodes = [
        Node::start(&schema.url, schema.config(6), SESSION_TIMEOUT).await,
        Node::start(&schema.url, schema.config(6), SESSION_TIMEOUT).await,
    ];
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    let store = nodes[0].store().clone();
    const CPES: usize = 12;
    let cpes: Vec<Arc<Mutex<SimCpe>>> =
        (0..CPES).map(|i| Arc::new(Mutex::new(SimCpe::new(&format!("R{i:02}"))))).collect();
    for cpe in &cpes {
        cpe.lock().await.session(&addrs, 0, &mut |_| None).await.unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let created: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut load = Vec::new();
    for (i, cpe) in cpes.iter().enumerate() {
        let (cpe, addrs, stop, tally) = (cpe.clone(), addrs.clone(), stop.clone(), tally.clone());
        load.push(tokio::spawn(async move {
            let mut round = i;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let mut cpe = cpe.lock().await;
                let first = round % 2;
                let mut hop = move |exchange: usize| Some((first + exchange) % 2);
                match cpe.session(&addrs, first, &mut hop).await {
                    Ok(Outcome::Done { .. }) => {
                        tally.sessions.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Outcome::Refused { retry_after }) => {
                        tally.refused.fetch_add(1, Ordering::SeqCst);
                        if retry_after.is_none() {
                            tally.without_retry_after.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => {
                        assert!(e.contains("HTTP 503"), "{} failed otherwise: {e}", cpe.serial);
                        tally.failed_mid_session.fetch_add(1, Ordering::SeqCst);
                    }
                }
                drop(cpe);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let operator = {
        let (store, stop, created) = (store.clone(), stop.clone(), created.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let key = device_key(&format!("R{:02}", n % CPES));
                let kind = TaskKind::SetParameterValues {
                    parameter_values: vec![ValueSpec(format!("Device.X_Test.N{n}"), "1".into(), None)],
                };
                // Only tasks whose creation was acknowledged count.
                if let Ok(task) = store.create_task(&key, kind, TaskOptions::default(), now_millis()).await {
                    created.lock().await.push(task.id);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = tally.sessions.load(Ordering::SeqCst);
    assert!(before > 0, "sessions run before the stop");
    let restart = Restart(AtomicBool::new(true));
    let stopping = Instant::now();
    pg_ctl("stop");
    let stop_took = stopping.elapsed();
    let stopped_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _) = api(nodes[1].running.api_addr, "GET", "/health", None).await;
    assert_eq!(status, 503, "health says the store is down");
    let during = tally.sessions.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tally.sessions.load(Ordering::SeqCst), during, "no session completes without the database");
    let refused_while_down = tally.refused.load(Ordering::SeqCst);
    assert!(refused_while_down > 0, "Informs are refused while the database is down");
    let down_for = stopped_at.elapsed();
    let started = Instant::now();
    pg_ctl("start");
    restart.0.store(false, Ordering::SeqCst);
    let start_took = started.elapsed();

    // Recovery without restarting the nodes.
    while tally.sessions.load(Ordering::SeqCst) == during {
        assert!(started.elapsed() < Duration::from_secs(60), "no session after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }
    operator.await.unwrap();
    let (status, _) = api(nodes[1].running.api_addr, "GET", "/health", None).await;
    assert_eq!(status, 200);
    // Configuration changes travel again (the listener reconnected, or the poll saw it).
    let mut generation = nodes[1].store().config_generation();
    generation.borrow_and_update();
    let preset: cwmp_acs::provision::preset::Preset =
        serde_json::from_value(serde_json::json!({"name": "after", "configurations": []})).unwrap();
    nodes[0].store().put_preset(&preset, now_millis()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), generation.changed()).await.expect("change seen").unwrap();

    // Drain: sessions until no task is open (leases of abandoned sessions expire first).
    let created = created.lock().await.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.count_open_tasks().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "tasks left open");
        for cpe in &cpes {
            let _ = cpe.lock().await.session(&addrs, 0, &mut |_| None).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for cpe in &cpes {
        let mut cpe = cpe.lock().await;
        while !matches!(cpe.session(&addrs, 1, &mut |_| None).await, Ok(Outcome::Done { .. })) {
            assert!(Instant::now() < deadline, "{} cannot finish a session", cpe.serial);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut applied: HashMap<String, u32> = HashMap::new();
    for cpe in &cpes {
        let cpe = cpe.lock().await;
        assert_eq!(recorded_informs(&store, &cpe.serial).await, Some(cpe.informs), "{}", cpe.serial);
        applied.extend(cpe.applied.iter().map(|(k, v)| (k.clone(), *v)));
    }
    for id in &created {
        let task = store.task(*id).await.unwrap().unwrap();
        assert_eq!(task.status, TaskStatus::Done, "{task:?}");
        assert_eq!(applied.get(&task.command_key()), Some(&1), "task {id} carried out once");
    }
    // A task whose creation the operator saw fail may still have been committed (the answer
    // was lost with the connection): it runs too, once.
    for (key, times) in &applied {
        let id: i64 = key.strip_prefix("task-").and_then(|n| n.parse().ok()).expect("a task's key");
        assert_eq!(*times, 1, "{key} carried out once");
        assert_eq!(store.task(id).await.unwrap().unwrap().status, TaskStatus::Done);
    }
    assert!(applied.len() >= created.len());
    assert_eq!(tally.without_retry_after.load(Ordering::SeqCst), 0, "every 503 says when to retry");
    eprintln!(
        "stop took {stop_took:?}, down {down_for:?}, start took {start_took:?}; first session {recovered_after:?} \
         after the start command; {} sessions, {} refused, {} cut mid-session, {} tasks",
        tally.sessions.load(Ordering::SeqCst),
        tally.refused.load(Ordering::SeqCst),
        tally.failed_mid_session.load(Ordering::SeqCst),
        created.len()
    );
}
