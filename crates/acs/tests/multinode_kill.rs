//! A node killed with SIGKILL in the middle of sessions. The doomed node is a real process:
//! this test binary run again with `child_node_process` (an ignored test that is only the
//! child's entry point), so the kill leaves connections and leases exactly as a crash would.
//! Needs `CWMP_TEST_POSTGRES_URL`; says so and skips without it.

mod multinode_support;
mod pg_support;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cwmp_acs::store::postgres::PgStore;
use cwmp_acs::store::{Store, TaskOptions, TaskStatus, now_millis};
use cwmp_acs::tasks::{TaskKind, ValueSpec};
use cwmp_wire::Message;
use multinode_support::*;
use pg_support::PgSchema;

const CHILD_SCHEMA: &str = "CWMP_TEST_CHILD_SCHEMA";
const CHILD_DIR: &str = "CWMP_TEST_CHILD_DIR";
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// The child process: one node on the parent's schema; prints its address, then serves
/// until killed.
#[tokio::test]
#[ignore = "the entry point of the node process that a_node_killed_mid_session_loses_nothing_acknowledged kills"]
async fn child_node_process() {
    let (Ok(schema), Ok(dir), Some(url)) = (std::env::var(CHILD_SCHEMA), std::env::var(CHILD_DIR), pg_support::url())
    else {
        return;
    };
    let postgres = cwmp_acs::store::postgres::PostgresConfig {
        schema: Some(schema),
        pool_size: 6,
        writers: 2,
        node_id: Some("doomed".into()),
        ..Default::default()
    };
    let store = PgStore::connect(&url, &postgres).await.expect("store");
    let config = node_config(std::path::Path::new(&dir), postgres, SESSION_TIMEOUT);
    let running = cwmp_acs::server::start_with_postgres(config, store).await.expect("node");
    println!("NODE {}", running.cwmp_addr);
    std::future::pending::<()>().await;
}

/// Kills the child if the test fails before it does.
struct Doomed(Child);

impl Drop for Doomed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_doomed(schema: &PgSchema, dir: &std::path::Path) -> (Doomed, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_node_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_SCHEMA, &schema.name)
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child node");
    let stdout = child.stdout.take().unwrap();
    let doomed = Doomed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness may have written "test child_node_process ... " before it.
            if let Some((_, addr)) = line.split_once("NODE ") {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the child node reports its address");
    (doomed, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_session_loses_nothing_acknowledged() {
    let Some(schema) = PgSchema::create().await else { return };
    let survivor = Node::start(&schema.url, schema.config(6), SESSION_TIMEOUT).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut doomed, doomed_addr) = spawn_doomed(&schema, dir.path());
    let store = survivor.store().clone();
    let here = [survivor.addr()];

    // The devices exist; then work is queued for two of them.
    let mut a = SimCpe::new("KA");
    let mut b = SimCpe::new("KB");
    let mut c = SimCpe::new("KC");
    for cpe in [&mut a, &mut b, &mut c] {
        cpe.session(&here, 0, &mut |_| None).await.unwrap();
    }
    let get = TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.SoftwareVersion".into()] };
    let get = store.create_task(&a.key(), get, TaskOptions::default(), now_millis()).await.unwrap();
    let set = TaskKind::SetParameterValues {
        parameter_values: vec![ValueSpec("Device.X_Test.Applied".into(), "yes".into(), None)],
    };
    let set = store.create_task(&b.key(), set, TaskOptions::default(), now_millis()).await.unwrap();

    // Three sessions on the doomed node, each stopped at a different point.
    assert!(a.open(doomed_addr).await.unwrap().is_none());
    let (request, a_answer) = a.step(Vec::new()).await.unwrap();
    assert!(matches!(request.message, Message::GetParameterValues(_)));
    assert!(b.open(doomed_addr).await.unwrap().is_none());
    let (request, _lost) = b.step(Vec::new()).await.unwrap();
    assert!(matches!(request.message, Message::SetParameterValues(_)), "carried out by B, answer never delivered");
    assert!(c.open(doomed_addr).await.unwrap().is_none());
    for cpe in [&a, &b, &c] {
        assert_eq!(recorded_informs(&store, &cpe.serial).await, Some(cpe.informs), "acknowledged means stored");
    }

    doomed.0.kill().expect("SIGKILL");
    doomed.0.wait().unwrap();
    let killed_at = Instant::now();

    // A reconnects with its cookie: the survivor takes the session over at once.
    a.conn = Some(Connection::open(survivor.addr()).await.unwrap());
    let reply = a.conn.as_mut().unwrap().post(a_answer, a.cookie.as_deref()).await.unwrap();
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    let done = store.task(get.id).await.unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Done);
    assert_eq!(done.result.unwrap()["parameters"][0][1], "1.0");

    // B starts a new session: refused while the dead node's lease runs, then accepted; the
    // SetParameterValues it carried out is recognised by its ParameterKey, not sent again.
    let mut refusals = Vec::new();
    loop {
        match b.session(&here, 0, &mut |_| None).await.unwrap() {
            Outcome::Refused { retry_after } => {
                let seconds = retry_after.expect("Retry-After");
                assert!((1..=SESSION_TIMEOUT.as_secs()).contains(&seconds), "{seconds}");
                refusals.push(seconds);
                assert!(killed_at.elapsed() < SESSION_TIMEOUT * 3, "the lease never expired");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Outcome::Done { rpcs, .. } => {
                assert!(rpcs.is_empty(), "nothing is sent again: {rpcs:?}");
                break;
            }
        }
    }
    assert!(!refusals.is_empty(), "the dead node's lease was honoured");
    eprintln!("B waited {:?} for the dead node's lease ({} refusals)", killed_at.elapsed(), refusals.len());
    assert_eq!(store.task(set.id).await.unwrap().unwrap().status, TaskStatus::Done);
    assert_eq!(b.applied.get(&format!("task-{}", set.id)), Some(&1));

    // C, whose session just stopped, continues with its next one; nothing it was told is lost.
    loop {
        match c.session(&here, 0, &mut |_| None).await.unwrap() {
            Outcome::Refused { .. } => tokio::time::sleep(Duration::from_millis(250)).await,
            Outcome::Done { .. } => break,
        }
        assert!(killed_at.elapsed() < SESSION_TIMEOUT * 3, "the lease never expired");
    }
    for cpe in [&a, &b, &c] {
        assert_eq!(recorded_informs(&store, &cpe.serial).await, Some(cpe.informs));
    }
}
