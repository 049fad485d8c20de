//! CWMP sessions per second: one node on SQLite, then one and two nodes on PostgreSQL, in
//! the same run, with the same simulated CPEs (wire-level, over loopback TCP). A session is
//! a periodic Inform with a few parameters, the InformResponse, an empty POST and the 204:
//! the common case of a large deployment. With two nodes the CPEs alternate nodes between
//! sessions, as behind a round-robin load balancer.
//!
//! ```sh
//! CWMP_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p cwmp-acs --bench sessions
//! ```
//!
//! `CWMP_BENCH_SECONDS` (default 10) and `CWMP_BENCH_CPES` (concurrent CPEs, default 64)
//! tune the load. `CWMP_BENCH_DEVICES=1000000` also times the REST API's device filters on
//! PostgreSQL over that many devices (loaded with SQL first, which takes minutes).

#[path = "../tests/multinode_support/mod.rs"]
mod multinode_support;
#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cwmp_acs::store::postgres::PgStore;
use cwmp_acs::store::{DeviceQuery, DeviceSort, Store};
use multinode_support::*;
use pg_support::PgSchema;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Figures {
    sessions: usize,
    refused: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.sessions as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
    }
}

/// `cpes` CPEs doing sessions back to back for `duration`, alternating between `addrs`.
async fn drive(addrs: &[SocketAddr], cpes: usize, duration: Duration, tag: &str) -> Figures {
    let mut devices: Vec<SimCpe> = (0..cpes).map(|i| SimCpe::new(&format!("{tag}{i:04}"))).collect();
    for (i, cpe) in devices.iter_mut().enumerate() {
        for n in 0..8 {
            cpe.params.insert(format!("Device.DeviceInfo.X_Bench{n}"), format!("{i}-{n}"));
        }
        // The first session creates the device; it is not counted.
        cpe.session(addrs, i % addrs.len(), &mut |_| None).await.expect("warm-up session");
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers = devices.into_iter().enumerate().map(|(i, mut cpe)| {
        let addrs = addrs.to_vec();
        tokio::spawn(async move {
            let (mut done, mut refused, mut latencies) = (0, 0, Vec::new());
            let mut round = i;
            while Instant::now() < deadline {
                round += 1;
                let t = Instant::now();
                match cpe.session(&addrs, round % addrs.len(), &mut |_| None).await {
                    Ok(Outcome::Done { .. }) => {
                        done += 1;
                        latencies.push(t.elapsed());
                    }
                    Ok(Outcome::Refused { .. }) => refused += 1,
                    Err(e) => panic!("session failed: {e}"),
                }
            }
            (done, refused, latencies)
        })
    });
    let mut figures = Figures { sessions: 0, refused: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for w in workers.collect::<Vec<_>>() {
        let (done, refused, latencies) = w.await.unwrap();
        figures.sessions += done;
        figures.refused += refused;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = started.elapsed();
    figures
}

fn row(name: &str, f: &Figures) {
    println!(
        "| {name} | {:.0} | {} | {:.1} | {:.1} | {} |",
        f.per_second(),
        f.sessions,
        f.percentile(0.5).as_secs_f64() * 1000.0,
        f.percentile(0.99).as_secs_f64() * 1000.0,
        f.refused
    );
}

async fn sessions(cpes: usize, duration: Duration) {
    println!("Sessions per second, {cpes} concurrent CPEs, {} s per configuration\n", duration.as_secs());
    println!("| store and nodes | sessions/s | sessions | p50 ms | p99 ms | refused |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(dir.path(), Default::default(), Duration::from_secs(60));
        let node = cwmp_acs::server::start(config).await.expect("SQLite node");
        let f = drive(&[node.cwmp_addr], cpes, duration, "SQ").await;
        row("SQLite, 1 node", &f);
        node.stop(Duration::from_secs(5)).await;
    }
    let Some(url) = pg_support::url() else { return };
    for count in [1, 2] {
        let schema = PgSchema::create().await.expect("schema");
        let mut nodes = Vec::new();
        for _ in 0..count {
            let mut settings = schema.config(16);
            settings.writers = 4;
            nodes.push(Node::start(&url, settings, Duration::from_secs(60)).await);
        }
        let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
        let f = drive(&addrs, cpes, duration, "PG").await;
        row(&format!("PostgreSQL, {count} node{}", if count > 1 { "s" } else { "" }), &f);
        for n in nodes {
            n.running.stop(Duration::from_secs(5)).await;
        }
    }
}

/// Loads `devices` devices (ten parameters each: a software version out of five, a serial
/// of its own, eight more) with SQL, then times the REST API's listings through the store.
async fn filters(devices: u64) {
    let schema = PgSchema::create().await.expect("schema");
    let store = PgStore::connect(&schema.url, &schema.config(4)).await.expect("store");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&schema.url).await.unwrap();
    let load = Instant::now();
    let statements = [
        format!("SET search_path = \"{}\"", schema.name),
        "INSERT INTO paths (path) SELECT 'Device.DeviceInfo.SoftwareVersion'
         UNION ALL SELECT 'Device.DeviceInfo.X_Serial'
         UNION ALL SELECT 'Device.X_Bench.P' || n FROM generate_series(1, 8) n"
            .to_owned(),
        format!(
            "INSERT INTO devices (device_key, oui, product_class, serial_number, manufacturer, created_at, last_inform)
             SELECT '00D09E-Box-S' || i, CASE WHEN i % 10 = 0 THEN 'ABCDEF' ELSE '00D09E' END, 'Box', 'S' || i,
                    'Acme', 1700000000000 + i, 1700000000000 + (i::BIGINT * 7919) % {devices}
             FROM generate_series(1, {devices}) i"
        ),
        "INSERT INTO params (device_id, path_id, value, type, value_ts)
         SELECT d.id, p.id,
                CASE WHEN p.path = 'Device.DeviceInfo.SoftwareVersion' THEN '1.' || (d.id % 5)
                     WHEN p.path = 'Device.DeviceInfo.X_Serial' THEN d.serial_number
                     ELSE p.path || '-' || (d.id % 1000) END,
                'xsd:string', 1700000000000
         FROM devices d CROSS JOIN paths p"
            .to_owned(),
        "INSERT INTO device_tags (tag, device_id) SELECT 'lab', id FROM devices WHERE id % 100 = 3".to_owned(),
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("load");
    }
    println!(
        "\nDevice filters on PostgreSQL, {devices} devices, 10 parameters each (loaded in {:.0} s)\n",
        load.elapsed().as_secs_f64()
    );
    println!("| query | matches | list (limit 100) ms | count ms |");
    println!("| --- | ---: | ---: | ---: |");
    let v = "Device.DeviceInfo.SoftwareVersion";
    let cases: Vec<(&str, DeviceQuery)> = vec![
        ("all, by key", DeviceQuery::default()),
        (
            "param.SoftwareVersion=1.3 (a fifth)",
            DeviceQuery { param_equals: vec![(v.into(), "1.3".into())], ..DeviceQuery::default() },
        ),
        (
            "param.X_Serial=S777777 (one)",
            DeviceQuery {
                param_equals: vec![("Device.DeviceInfo.X_Serial".into(), "S777777".into())],
                ..DeviceQuery::default()
            },
        ),
        (
            "param.SoftwareVersion=1.3 and tag=lab (a hundredth)",
            DeviceQuery {
                param_equals: vec![(v.into(), "1.3".into())],
                tag: Some("lab".into()),
                ..DeviceQuery::default()
            },
        ),
        ("oui=ABCDEF (a tenth)", DeviceQuery { oui: Some("ABCDEF".into()), ..DeviceQuery::default() }),
        (
            "param.SoftwareVersion=1.3, newest Inform first",
            DeviceQuery {
                param_equals: vec![(v.into(), "1.3".into())],
                sort: DeviceSort::LastInform,
                descending: true,
                ..DeviceQuery::default()
            },
        ),
        ("serialNumber=S123456", DeviceQuery { serial_number: Some("S123456".into()), ..DeviceQuery::default() }),
    ];
    for (name, mut q) in cases {
        q.limit = 100;
        let mut list = Vec::new();
        let mut count = Vec::new();
        let mut matches = 0;
        for _ in 0..5 {
            let t = Instant::now();
            store.list_devices(&q).await.unwrap();
            list.push(t.elapsed());
            let t = Instant::now();
            matches = store.count_devices(&q).await.unwrap();
            count.push(t.elapsed());
        }
        list.sort();
        count.sort();
        println!(
            "| {name} | {matches} | {:.1} | {:.1} |",
            list[2].as_secs_f64() * 1000.0,
            count[2].as_secs_f64() * 1000.0
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let cpes = env_number("CWMP_BENCH_CPES", 64) as usize;
        let duration = Duration::from_secs(env_number("CWMP_BENCH_SECONDS", 10));
        sessions(cpes, duration).await;
        let devices = env_number("CWMP_BENCH_DEVICES", 0);
        if devices > 0 && pg_support::url().is_some() {
            filters(devices).await;
        }
    });
}
