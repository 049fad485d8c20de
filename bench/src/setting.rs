//! One setting a second on one device, through the REST API with a Connection Request,
//! while other devices keep the ACS at a share of its session capacity (issue 11 item 10).
//!
//! The device is the project's own agent (`cwmp_cpe::shell`, in a child process of its
//! own, Connection Request listener and its rate limits as shipped). The capacity is
//! measured first in the same run: Inform sessions per second with 32 devices back to back
//! (as the Inform phase does); the background load is then an open loop at `load` times
//! that rate. Each second the operator sends
//! `POST /devices/{id}/tasks?connection_request&timeout=…` with a SetParameterValues of
//! one value, without waiting for the previous one.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cwmp_sim::histogram::{Histogram, Summary};
use serde::Serialize;

use crate::child::Server;
use crate::loadgen::{self, RunResult};
use crate::populate;
use crate::run::{Options, api, ms};

/// The agent's identity (its device id is looked up by serial number).
const AGENT_SERIAL: &str = "AGENT00001";
/// The parameter each task sets (writable in TR-181).
const PARAMETER: &str = "Device.DeviceInfo.ProvisioningCode";

#[derive(Debug, Serialize)]
pub struct SettingResult {
    /// Inform sessions per second, closed loop (the capacity).
    pub capacity_per_s: f64,
    /// The background load asked for, and what it did.
    pub background_rate: f64,
    pub background: RunResult,
    pub tasks: u64,
    /// Finished as `done` within their timeout.
    pub done_in_time: u64,
    pub timeout_s: f64,
    /// Task created → done, from the store's timestamps (µs).
    pub created_to_done: Summary,
    /// Of which: created (stamped before the store's insert) → its Connection Request
    /// started (µs), and request started → done (µs); settings with a request only.
    pub created_to_request: Summary,
    pub request_to_done: Summary,
    /// The API call, sent → answered (µs).
    pub api_latency: Summary,
    /// Connection Requests sent for the tasks, in all (retries included).
    pub connection_requests: u64,
    /// Tasks that joined a session already under way (no request sent).
    pub joined_sessions: u64,
    /// What went wrong, by kind.
    pub failures: Vec<String>,
    /// The three slowest settings that were done, as the API returned them.
    pub slowest: Vec<serde_json::Value>,
}

/// One operator request and what came back.
struct Outcome {
    api: Duration,
    status: u16,
    task: serde_json::Value,
}

/// Starts the agent as a child process and waits until the ACS knows how to wake it.
async fn start_agent(dir: &Path, acs: &Server, api_addr: SocketAddr, token: &str) -> anyhow::Result<(Server, String)> {
    let mut args = vec![
        "serve-cpe".to_owned(),
        "--acs-url".to_owned(),
        format!("http://{}/", acs.field("cwmp")?),
        "--dir".to_owned(),
        dir.display().to_string(),
    ];
    // The credentials the ACS's configuration gives devices, if any.
    for (flag, field) in [("--username", "cpe_username"), ("--password", "cpe_password")] {
        if let Some(value) = acs.ready[field].as_str() {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    let agent = Server::spawn(&args).await?;
    let started = Instant::now();
    loop {
        let (status, body) = api(api_addr, token, "GET", &format!("/devices?serialNumber={AGENT_SERIAL}"), "")
            .await
            .map_err(anyhow::Error::msg)?;
        let device = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get(0).cloned());
        if let (200, Some(device)) = (status, device) {
            let cr = &device["connectionRequest"];
            let ready = cr["url"].as_str().is_some_and(|u| !u.is_empty())
                && cr["username"].as_str().is_some_and(|u| !u.is_empty());
            if ready {
                let id = device["id"].as_str().unwrap_or_default().to_owned();
                return Ok((agent, id));
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the agent did not bootstrap within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn set_one_value(api_addr: SocketAddr, token: String, device: String, i: u64, timeout: f64) -> Outcome {
    let body = serde_json::json!({
        "name": "setParameterValues",
        "parameterValues": [[PARAMETER, format!("bench-{i}")]],
    })
    .to_string();
    let path = format!("/devices/{device}/tasks?connection_request&timeout={timeout}");
    let sent = Instant::now();
    let answer = api(api_addr, &token, "POST", &path, &body).await;
    let api = sent.elapsed();
    match answer {
        Ok((status, body)) => {
            let task = serde_json::from_slice(&body)
                .unwrap_or_else(|_| serde_json::json!({ "body": String::from_utf8_lossy(&body) }));
            Outcome { api, status, task }
        }
        Err(e) => Outcome { api, status: 0, task: serde_json::json!({ "error": e }) },
    }
}

/// The value of a metric line (`name value`).
async fn metric(api_addr: SocketAddr, name: &str) -> f64 {
    let Ok((_, body)) = api(api_addr, "", "GET", "/metrics", "").await else { return f64::NAN };
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

pub async fn setting_phase(o: &Options) -> anyhow::Result<SettingResult> {
    let dir = o.dir.join("setting");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("acs"))?;
    let (added, populate_s) = populate::populate(&dir.join("acs").join("acs.db"), o.setting_devices).await?;
    eprintln!("  registered {added} devices in {populate_s:.1} s");
    let acs = Server::spawn(&["serve-acs".into(), "--data-dir".into(), dir.join("acs").display().to_string()]).await?;
    let cwmp: SocketAddr = acs.field("cwmp")?.parse()?;
    let api_addr: SocketAddr = acs.field("api")?.parse()?;
    let token = acs.field("token")?;

    loadgen::closed_loop(cwmp, o.setting_devices, o.workers, Duration::from_secs(2), 99).await;
    let capacity =
        loadgen::closed_loop(cwmp, o.setting_devices, o.workers, Duration::from_secs_f64(o.duration), 1).await;
    let rate = capacity.sessions_per_s * o.setting_load;
    eprintln!(
        "  capacity: {:.0} sessions/s closed loop ({} errors); background load {:.0} sessions/s",
        capacity.sessions_per_s, capacity.errors, rate
    );

    let (agent, device) = start_agent(&dir.join("agent"), &acs, api_addr, &token).await?;
    eprintln!("  agent {device} bootstrapped");
    let requests_before = metric(api_addr, "cwmp_connection_requests_ok_total").await
        + metric(api_addr, "cwmp_connection_requests_failed_total").await;

    let tasks = o.setting_tasks;
    let background_for = Duration::from_secs(tasks + 3);
    let background = tokio::spawn(loadgen::open_loop(cwmp, o.setting_devices, rate, background_for, 5000, 3));
    // The background reaches its pace before the first setting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = tokio::time::Instant::now();
    let mut operator = tokio::task::JoinSet::new();
    for i in 0..tasks {
        tokio::time::sleep_until(start + Duration::from_secs(i)).await;
        operator.spawn(set_one_value(api_addr, token.clone(), device.clone(), i, o.setting_timeout));
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = operator.join_next().await {
        outcomes.push(outcome?);
    }
    let background = background.await?;
    let requests_after = metric(api_addr, "cwmp_connection_requests_ok_total").await
        + metric(api_addr, "cwmp_connection_requests_failed_total").await;
    agent.stop().await;
    acs.stop().await;

    let timeout_ms = (o.setting_timeout * 1000.0) as i64;
    let (mut created_to_done, mut api_latency) = (Histogram::default(), Histogram::default());
    let (mut created_to_request, mut request_to_done) = (Histogram::default(), Histogram::default());
    let (mut done_in_time, mut joined) = (0, 0);
    let mut failures = Vec::new();
    let mut done = Vec::new();
    for outcome in &outcomes {
        api_latency.record(outcome.api.as_micros() as u64);
        let t = &outcome.task;
        let took = t["updatedAt"].as_i64().zip(t["createdAt"].as_i64()).map(|(u, c)| u - c);
        if outcome.status == 200 && t["status"] == "done" && took.is_some_and(|ms| ms <= timeout_ms) {
            done_in_time += 1;
            created_to_done.record(took.unwrap_or_default() as u64 * 1000);
            done.push((took.unwrap_or_default(), t.clone()));
            let (created, updated) =
                (t["createdAt"].as_i64().unwrap_or_default(), t["updatedAt"].as_i64().unwrap_or_default());
            if let Some(requested) = t["connectionRequest"]["requestedAt"].as_i64() {
                created_to_request.record((requested - created).max(0) as u64 * 1000);
                request_to_done.record((updated - requested).max(0) as u64 * 1000);
            }
        } else {
            let cr = &t["connectionRequest"];
            failures.push(format!(
                "HTTP {} status {} connectionRequest {} {}",
                outcome.status, t["status"], cr["state"], cr["reason"]
            ));
        }
        if t["connectionRequest"]["attempts"] == 0 {
            joined += 1;
        }
    }
    done.sort_by_key(|(took, _)| std::cmp::Reverse(*took));
    let slowest = done.into_iter().take(3).map(|(_, t)| t).collect();
    let result = SettingResult {
        capacity_per_s: capacity.sessions_per_s,
        background_rate: rate,
        background,
        tasks,
        done_in_time,
        timeout_s: o.setting_timeout,
        created_to_done: created_to_done.summary(),
        created_to_request: created_to_request.summary(),
        request_to_done: request_to_done.summary(),
        api_latency: api_latency.summary(),
        connection_requests: (requests_after - requests_before).max(0.0) as u64,
        joined_sessions: joined,
        failures,
        slowest,
    };
    eprintln!(
        "  {} of {} settings done within {} s; created → done p50 {:.1} p99 {:.1} max {:.1} ms; API p50 {:.1} p99 {:.1} ms; \
         {} connection requests, {} tasks joined a session; background {:.0} sessions/s, {} errors",
        result.done_in_time,
        result.tasks,
        result.timeout_s,
        ms(result.created_to_done.p50),
        ms(result.created_to_done.p99),
        ms(result.created_to_done.max),
        ms(result.api_latency.p50),
        ms(result.api_latency.p99),
        result.connection_requests,
        result.joined_sessions,
        result.background.sessions_per_s,
        result.background.errors
    );
    eprintln!(
        "  of which created → request sent p50 {:.1} p99 {:.1} ms, request sent → done p50 {:.1} p99 {:.1} ms",
        ms(result.created_to_request.p50),
        ms(result.created_to_request.p99),
        ms(result.request_to_done.p50),
        ms(result.request_to_done.p99)
    );
    for failure in result.failures.iter().take(5) {
        eprintln!("    {failure}");
    }
    for task in &result.slowest {
        let cr = &task["connectionRequest"];
        eprintln!(
            "    slow: task {} created {} done {}; connection request {} attempts {} requested {} updated {}",
            task["id"],
            task["createdAt"],
            task["updatedAt"],
            cr["state"],
            cr["attempts"],
            cr["requestedAt"],
            cr["updatedAt"]
        );
    }
    Ok(result)
}

/// `cwmp-bench serve-cpe`: the project's agent with a fresh state directory, its Connection
/// Request listener on 127.0.0.1; stops when standard input closes.
pub async fn serve_cpe(
    acs_url: String,
    dir: &Path,
    username: Option<String>,
    password: Option<String>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let text = format!(
        r#"
[acs]
url = {}
username = {}
password = {}
[device]
manufacturer = "cwmp-bench"
oui = "00C0FF"
product_class = "BenchAgent"
serial_number = "{AGENT_SERIAL}"
[cwmp]
periodic_inform = false
[state]
dir = {}
[connection_request]
listen = "127.0.0.1:0"
advertised_host = "127.0.0.1"
"#,
        quote(&acs_url),
        quote(username.as_deref().unwrap_or_default()),
        quote(password.as_deref().unwrap_or_default()),
        quote(&dir.display().to_string()),
    );
    let config = cwmp_cpe::config::Config::parse(&text)?;
    println!("{}", serde_json::json!({ "serial": AGENT_SERIAL }));
    cwmp_cpe::shell::run(config, crate::child::wait_for_parent()).await?;
    Ok(())
}
