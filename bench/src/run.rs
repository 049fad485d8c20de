//! The benchmark run: phases in order, figures printed as they come and as tables at the end.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cwmp_sim::histogram::Summary;
use serde::Serialize;

use crate::child::Server;
use crate::loadgen::{self, RunResult};
use crate::setting::SettingResult;
use crate::{cpe, populate, setting};

#[derive(clap::Args)]
pub struct Options {
    /// Working directory: the stores (made afresh by each run, left for inspection).
    #[arg(long, default_value = "/tmp/cwmp-bench")]
    pub(crate) dir: PathBuf,
    /// Registered-device counts at which the ACS is measured.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub(crate) sizes: Vec<u64>,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 15.0)]
    pub(crate) duration: f64,
    /// Devices at work at once in the closed-loop runs.
    #[arg(long, default_value_t = 32)]
    pub(crate) workers: usize,
    /// Sessions per second of the fixed-rate runs.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) rate: f64,
    /// Devices given a GetParameterValues and a SetParameterValues task.
    #[arg(long, default_value_t = 2000)]
    pub(crate) rpc_devices: u64,
    /// Simulated devices the ACS sends Connection Requests to.
    #[arg(long, default_value_t = 2000)]
    pub(crate) cr_devices: u32,
    /// Fleet sizes whose simulator memory is measured.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub(crate) sim_sizes: Vec<u32>,
    /// Settings (one a second) sent to the agent in the setting phase.
    #[arg(long, default_value_t = 120)]
    pub(crate) setting_tasks: u64,
    /// `timeout=` of each setting, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) setting_timeout: f64,
    /// Background load of the setting phase, as a share of the measured capacity.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) setting_load: f64,
    /// Registered devices that make the setting phase's background load.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) setting_devices: u64,
    /// Phases to run: ceiling, inform, rpc, cr, setting, sim.
    #[arg(long, value_delimiter = ',', default_value = "ceiling,inform,rpc,cr,setting,sim")]
    pub(crate) phases: Vec<String>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    load_at_start: String,
    load_at_end: String,
}

#[derive(Debug, Serialize)]
struct Pair {
    closed: RunResult,
    fixed_rate: RunResult,
}

#[derive(Debug, Serialize)]
struct Query {
    path: String,
    /// Time of each request (ms), the first one cold.
    ms: Vec<f64>,
    total: Option<u64>,
}

#[derive(Debug, Serialize)]
struct SizeResult {
    devices: u64,
    populate_s: f64,
    inform: Pair,
    /// ACS sessions per second ÷ the ceiling's (closed loop).
    ratio_to_ceiling: Option<f64>,
    /// ACS process CPU time per session in the closed-loop run (ms).
    acs_cpu_ms_per_session: Option<f64>,
    queries: Vec<Query>,
    acs_rss_bytes: u64,
    acs_peak_rss_bytes: u64,
    store_bytes: u64,
}

#[derive(Debug, Serialize)]
struct RpcResult {
    devices: u64,
    tasks_created_s: f64,
    run: RunResult,
}

#[derive(Debug, Serialize)]
struct CrResult {
    devices: u32,
    accepted: u64,
    failed: u64,
    seconds: f64,
    per_s: f64,
    /// API call until the CPE answered (µs).
    api_latency: Summary,
    sessions_from_requests: u64,
}

#[derive(Debug, Default, Serialize)]
struct Results {
    machine: Machine,
    ceiling: Option<Pair>,
    sizes: Vec<SizeResult>,
    rpc: Option<RpcResult>,
    connection_requests: Option<CrResult>,
    setting: Option<SettingResult>,
    simulator: Vec<serde_json::Value>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        load_at_start: loadavg(),
        load_at_end: String::new(),
    }
}

pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn line(name: &str, r: &RunResult) -> String {
    format!(
        "{name}: {:.0} sessions/s ({} ok, {} errors{}), Inform p50 {:.1} p95 {:.1} p99 {:.1} ms, session p50 {:.1} p99 {:.1} ms",
        r.sessions_per_s,
        r.sessions,
        r.errors,
        if r.error_kinds.is_empty() { String::new() } else { format!(" {:?}", r.error_kinds) },
        ms(r.inform_latency.p50),
        ms(r.inform_latency.p95),
        ms(r.inform_latency.p99),
        ms(r.session_latency.p50),
        ms(r.session_latency.p99),
    )
}

/// A pair of runs against one server: closed loop, then fixed rate.
async fn measure(addr: SocketAddr, devices: u64, o: &Options, label: &str) -> Pair {
    let d = Duration::from_secs_f64(o.duration);
    // Warm up (connections, caches, the allocator) outside the figures.
    loadgen::closed_loop(addr, devices, o.workers, Duration::from_secs(2), 99).await;
    let closed = loadgen::closed_loop(addr, devices, o.workers, d, 1).await;
    eprintln!("  {}", line(&format!("{label} closed loop ({} devices at work)", o.workers), &closed));
    let fixed_rate = loadgen::open_loop(addr, devices, o.rate, d, 5000, 2).await;
    eprintln!("  {}", line(&format!("{label} at {:.0}/s", o.rate), &fixed_rate));
    Pair { closed, fixed_rate }
}

pub(crate) async fn api(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Vec<u8>), String> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n");
    if !body.is_empty() {
        let _ = write!(request, "Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body);
    loadgen::raw(addr, request.as_bytes()).await
}

fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn queries(api_addr: SocketAddr, token: &str, devices: u64) -> Vec<Query> {
    let probe = devices / 2 + 1;
    let cases = [
        ("Device.DeviceInfo.SoftwareVersion", "2.0".to_owned()),
        ("Device.ManagementServer.ConnectionRequestURL", cpe::connection_request_url(probe)),
    ];
    let mut out = Vec::new();
    for (path, value) in cases {
        let target = format!("/devices?param.{path}={}&limit=100", query_value(&value));
        let mut times = Vec::new();
        let mut total = None;
        for _ in 0..5 {
            let start = Instant::now();
            let result = api(api_addr, token, "GET", &target, "").await;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            if let Ok((200, body)) = &result {
                total = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.as_array().map(|a| a.len() as u64));
            } else {
                eprintln!("  query {target}: {:?}", result.map(|(s, _)| s));
            }
        }
        eprintln!(
            "  GET {target}: {} results (first page), {:?} ms",
            total.unwrap_or(0),
            times.iter().map(|t| (t * 10.0).round() / 10.0).collect::<Vec<_>>()
        );
        out.push(Query { path: target, ms: times, total });
    }
    out
}

async fn rpc_phase(
    cwmp: SocketAddr,
    api_addr: SocketAddr,
    token: &str,
    o: &Options,
    devices: u64,
) -> anyhow::Result<RpcResult> {
    let count = o.rpc_devices.min(devices);
    let start = Instant::now();
    let names = serde_json::to_string(&cpe::gpv_paths())?;
    let queue = Arc::new(std::sync::Mutex::new((1..=count).collect::<Vec<u64>>()));
    let mut creators = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (queue, token, names) = (queue.clone(), token.to_owned(), names.clone());
        creators.spawn(async move {
            loop {
                let Some(n) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { return Ok(()) };
                let path = format!("/devices/{}/tasks", cpe::key(n));
                let gpv = format!(r#"{{"name":"getParameterValues","parameterNames":{names}}}"#);
                let values: Vec<[String; 2]> = cpe::spv_values(n).into_iter().map(|(p, v)| [p, v]).collect();
                let spv = serde_json::json!({ "name": "setParameterValues", "parameterValues": values }).to_string();
                for body in [gpv, spv] {
                    match api(api_addr, &token, "POST", &path, &body).await {
                        Ok((s, _)) if (200..300).contains(&s) => {}
                        other => {
                            return Err(format!(
                                "task for {n}: {:?}",
                                other.map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
                            ));
                        }
                    }
                }
            }
        });
    }
    while let Some(r) = creators.join_next().await {
        r?.map_err(|e| anyhow::anyhow!(e))?;
    }
    let tasks_created_s = start.elapsed().as_secs_f64();
    eprintln!("  {} tasks created in {tasks_created_s:.1} s", count * 2);
    let run = loadgen::each_once(cwmp, (1..=count).collect(), o.workers).await;
    eprintln!(
        "  {} ({} ACS requests answered)",
        line("GetParameterValues(50) + SetParameterValues(10) sessions", &run),
        run.rpcs
    );
    Ok(RpcResult { devices: count, tasks_created_s, run })
}

async fn cr_phase(o: &Options) -> anyhow::Result<CrResult> {
    use cwmp_sim::config::{ApiAccess, Scenario, SimConfig};
    let dir = o.dir.join("connection-requests");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let acs = Server::spawn(&["serve-acs".into(), "--data-dir".into(), dir.display().to_string()]).await?;
    let config = SimConfig {
        count: o.cr_devices,
        acs_url: format!("http://{}/", acs.field("cwmp")?),
        inform_interval: Duration::from_secs(86_400),
        arrival_rate: Some(500.0),
        scenario: Scenario::ConnectionRequestStorm,
        cr_listen: Some("127.0.0.1:0".parse()?),
        api: Some(ApiAccess { url: format!("http://{}", acs.field("api")?), token: acs.field("token")? }),
        operator_rate: 1e9,
        operator_concurrency: 64,
        max_sessions: 256,
        seed: 8,
        ..SimConfig::default()
    };
    let fleet = cwmp_sim::Fleet::start(config).await?;
    let start = Instant::now();
    while !fleet.scenario_done() && start.elapsed() < Duration::from_secs(900) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the sessions the requests caused finish.
    let settle = Instant::now();
    while fleet.snapshot_counters().cr_sessions < u64::from(o.cr_devices) && settle.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = fleet.stop().await;
    acs.stop().await;
    let op = report.operator.unwrap_or_default();
    let seconds = op.completed_after_s.unwrap_or(f64::NAN);
    let result = CrResult {
        devices: o.cr_devices,
        accepted: op.accepted,
        failed: op.failed,
        seconds,
        per_s: op.accepted as f64 / seconds,
        api_latency: op.api_latency,
        sessions_from_requests: report.counters.cr_sessions,
    };
    eprintln!(
        "  {} connection requests accepted ({} failed {:?}) in {:.2} s: {:.0}/s; API p50 {:.1} p99 {:.1} ms; {} sessions followed",
        result.accepted,
        result.failed,
        op.errors,
        result.seconds,
        result.per_s,
        ms(result.api_latency.p50),
        ms(result.api_latency.p99),
        result.sessions_from_requests
    );
    Ok(result)
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let phase = |name: &str| o.phases.iter().any(|p| p == name);
    std::fs::create_dir_all(&o.dir)?;
    let mut results = Results { machine: machine(), ..Results::default() };
    eprintln!(
        "machine: {} CPUs, {}, load average {}",
        results.machine.cpus, results.machine.cpu_model, results.machine.load_at_start
    );
    let ceiling =
        if phase("ceiling") || phase("sim") { Some(Server::spawn(&["serve-ceiling".into()]).await?) } else { None };
    if let (Some(server), true) = (&ceiling, phase("ceiling")) {
        eprintln!("ceiling: minimal hyper server with canned answers (load {})", loadavg());
        let addr: SocketAddr = server.field("addr")?.parse()?;
        results.ceiling = Some(measure(addr, 1_000_000, &o, "ceiling").await);
    }
    if phase("inform") || phase("rpc") {
        // A fresh store, grown from one size to the next: a store left by an earlier run
        // would hold more devices than the first sizes say.
        let db_dir = o.dir.join("acs");
        let _ = std::fs::remove_dir_all(&db_dir);
        std::fs::create_dir_all(&db_dir)?;
        let db = db_dir.join("acs.db");
        let mut rpc_done = false;
        let mut sizes = o.sizes.clone();
        sizes.sort_unstable();
        for &devices in &sizes {
            eprintln!("ACS with {devices} registered devices (load {})", loadavg());
            let (added, populate_s) = populate::populate(&db, devices).await?;
            if added > 0 {
                eprintln!("  registered {added} devices in {populate_s:.1} s");
            }
            let acs = Server::spawn(&["serve-acs".into(), "--data-dir".into(), db_dir.display().to_string()]).await?;
            let cwmp: SocketAddr = acs.field("cwmp")?.parse()?;
            let api_addr: SocketAddr = acs.field("api")?.parse()?;
            let token = acs.field("token")?;
            let cpu_before = acs.cpu_seconds();
            let inform = measure(cwmp, devices, &o, "ACS").await;
            let cpu_after = acs.cpu_seconds();
            let cpu_ms = match (cpu_before, cpu_after) {
                (Some(a), Some(b)) => {
                    let sessions = inform.closed.sessions + inform.fixed_rate.sessions;
                    Some((b - a) * 1000.0 / sessions.max(1) as f64)
                }
                _ => None,
            };
            let ratio = results.ceiling.as_ref().map(|c| inform.closed.sessions_per_s / c.closed.sessions_per_s);
            if let Some(r) = ratio {
                eprintln!("  ratio to the ceiling (closed loop): {:.1}%", r * 100.0);
            }
            let queries = queries(api_addr, &token, devices).await;
            if phase("rpc") && !rpc_done {
                results.rpc = Some(rpc_phase(cwmp, api_addr, &token, &o, devices).await?);
                rpc_done = true;
            }
            let (rss, peak) = acs.rss().unwrap_or_default();
            acs.stop().await;
            let store_bytes = populate::store_size(&db);
            eprintln!(
                "  ACS RSS {:.0} MiB (peak {:.0} MiB), CPU {:.2} ms per session, store {:.0} MiB on disk",
                rss as f64 / 1048576.0,
                peak as f64 / 1048576.0,
                cpu_ms.unwrap_or(f64::NAN),
                store_bytes as f64 / 1048576.0
            );
            results.sizes.push(SizeResult {
                devices,
                populate_s,
                inform,
                ratio_to_ceiling: ratio,
                acs_cpu_ms_per_session: cpu_ms,
                queries,
                acs_rss_bytes: rss,
                acs_peak_rss_bytes: peak,
                store_bytes,
            });
        }
    }
    if phase("cr") {
        eprintln!("Connection Requests from the ACS to {} simulated devices (load {})", o.cr_devices, loadavg());
        results.connection_requests = Some(cr_phase(&o).await?);
    }
    if phase("setting") {
        eprintln!(
            "One setting a second on our agent, the ACS at {:.0}% of its capacity from {} other devices (load {})",
            o.setting_load * 100.0,
            o.setting_devices,
            loadavg()
        );
        results.setting = Some(setting::setting_phase(&o).await?);
    }
    if let (Some(server), true) = (&ceiling, phase("sim")) {
        let acs_url = format!("http://{}/", server.field("addr")?);
        for &count in &o.sim_sizes {
            eprintln!("simulator memory with {count} devices (load {})", loadavg());
            let sim = Server::spawn(&[
                "sim-memory".into(),
                "--count".into(),
                count.to_string(),
                "--acs-url".into(),
                acs_url.clone(),
            ])
            .await?;
            let r = sim.ready.clone();
            sim.stop().await;
            eprintln!(
                "  {} informed in {:.1} s; RSS {:.0} MiB, {} bytes per device ({} added per device)",
                r["informed"],
                r["booted_in_s"].as_f64().unwrap_or(0.0),
                r["rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                r["rss_per_device_bytes"],
                r["added_per_device_bytes"]
            );
            results.simulator.push(r);
        }
    }
    if let Some(c) = ceiling {
        c.stop().await;
    }
    results.machine.load_at_end = loadavg();
    println!("{}", tables(&results));
    if let Some(path) = &o.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
        eprintln!("figures written to {}", path.display());
    }
    Ok(())
}

/// The figures as Markdown tables, for docs/performance.md.
fn tables(r: &Results) -> String {
    let mut out = String::new();
    let m = &r.machine;
    let _ = writeln!(
        out,
        "Machine: {} CPUs ({}), load average {} at the start, {} at the end.\n",
        m.cpus, m.cpu_model, m.load_at_start, m.load_at_end
    );
    if r.ceiling.is_some() || !r.sizes.is_empty() {
        let _ = writeln!(
            out,
            "| server | registered devices | closed loop sessions/s | vs ceiling | Inform p50 / p99 ms | at fixed rate: sessions/s | Inform p50 / p95 / p99 ms | session p99 ms | errors |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    }
    let row = |out: &mut String, name: &str, devices: String, p: &Pair, ratio: Option<f64>| {
        let (c, f) = (&p.closed, &p.fixed_rate);
        let _ = writeln!(
            out,
            "| {name} | {devices} | {:.0} | {} | {:.1} / {:.1} | {:.0} | {:.1} / {:.1} / {:.1} | {:.1} | {} |",
            c.sessions_per_s,
            ratio.map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            ms(c.inform_latency.p50),
            ms(c.inform_latency.p99),
            f.sessions_per_s,
            ms(f.inform_latency.p50),
            ms(f.inform_latency.p95),
            ms(f.inform_latency.p99),
            ms(f.session_latency.p99),
            c.errors + f.errors
        );
    };
    if let Some(c) = &r.ceiling {
        row(&mut out, "minimal hyper (ceiling)", "-".into(), c, None);
    }
    for s in &r.sizes {
        row(&mut out, "ACS, SQLite durability Full", s.devices.to_string(), &s.inform, s.ratio_to_ceiling);
    }
    if !r.sizes.is_empty() {
        let _ = writeln!(
            out,
            "\n| registered devices | ACS CPU ms/session | ACS RSS (peak) MiB | store on disk MiB | query SoftwareVersion=2.0 ms (cold, warm median) | query by ConnectionRequestURL ms |"
        );
        let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: | ---: |");
        for s in &r.sizes {
            let q = |i: usize| {
                s.queries.get(i).map_or("-".into(), |q| {
                    let mut warm = q.ms[1..].to_vec();
                    warm.sort_by(f64::total_cmp);
                    format!("{:.1}, {:.1}", q.ms[0], warm.get(warm.len() / 2).copied().unwrap_or(f64::NAN))
                })
            };
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.0} ({:.0}) | {:.0} | {} | {} |",
                s.devices,
                s.acs_cpu_ms_per_session.unwrap_or(f64::NAN),
                s.acs_rss_bytes as f64 / 1048576.0,
                s.acs_peak_rss_bytes as f64 / 1048576.0,
                s.store_bytes as f64 / 1048576.0,
                q(0),
                q(1)
            );
        }
    }
    if let Some(rpc) = &r.rpc {
        let run = &rpc.run;
        let _ = writeln!(
            out,
            "\nSessions with GetParameterValues (50) + SetParameterValues (10): {} devices, {:.0} sessions/s, session p50 {:.1} p99 {:.1} ms, {} errors, {:.1} ACS requests per session.",
            rpc.devices,
            run.sessions_per_s,
            ms(run.session_latency.p50),
            ms(run.session_latency.p99),
            run.errors,
            run.rpcs as f64 / run.sessions.max(1) as f64
        );
    }
    if let Some(c) = &r.connection_requests {
        let _ = writeln!(
            out,
            "\nConnection Requests: {} accepted of {} devices in {:.2} s = {:.0}/s (API call p50 {:.1} p99 {:.1} ms), {} failed, {} sessions followed.",
            c.accepted,
            c.devices,
            c.seconds,
            c.per_s,
            ms(c.api_latency.p50),
            ms(c.api_latency.p99),
            c.failed,
            c.sessions_from_requests
        );
    }
    if let Some(s) = &r.setting {
        let _ = writeln!(
            out,
            "\nOne setting a second on one device (our agent), {} settings with timeout={} s, the ACS at {:.0} sessions/s of background load (capacity {:.0}/s, {} background errors): {} done within their timeout ({:.1}%); created → done p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (created → request sent p99 {:.1} ms, request sent → done p99 {:.1} ms); API call p50 {:.1} ms, p99 {:.1} ms; {} connection requests sent, {} tasks joined a session under way.",
            s.tasks,
            s.timeout_s,
            s.background.sessions_per_s,
            s.capacity_per_s,
            s.background.errors,
            s.done_in_time,
            s.done_in_time as f64 * 100.0 / s.tasks.max(1) as f64,
            ms(s.created_to_done.p50),
            ms(s.created_to_done.p99),
            ms(s.created_to_done.max),
            ms(s.created_to_request.p99),
            ms(s.request_to_done.p99),
            ms(s.api_latency.p50),
            ms(s.api_latency.p99),
            s.connection_requests,
            s.joined_sessions
        );
    }
    for s in &r.simulator {
        let _ = writeln!(
            out,
            "\nSimulator: {} devices informed in {:.1} s; RSS {:.0} MiB (peak {:.0} MiB) = {} bytes per device ({} bytes per device above the empty process).",
            s["informed"],
            s["booted_in_s"].as_f64().unwrap_or(0.0),
            s["rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
            s["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
            s["rss_per_device_bytes"],
            s["added_per_device_bytes"]
        );
    }
    out
}
