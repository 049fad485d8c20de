//! The operator side of the firmware wave and the Connection Request storm: once every
//! device has informed, the fleet acts on the ACS through its REST API (docs/api.md) at a
//! steady rate, and measures the API's answers and how long the fleet takes to converge.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::api::api_call;
use crate::config::Scenario;
use crate::fleet::Ctx;
use crate::histogram::{Histogram, Summary};

/// What the operator did and saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OperatorReport {
    pub action: String,
    /// Seconds from the start of the run until every device had informed and the action
    /// began.
    pub started_after_s: Option<f64>,
    /// API calls made, answered with success, and failed.
    pub requested: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Failures by HTTP status or error.
    pub errors: BTreeMap<String, u64>,
    /// Time of each API call (µs): for a Connection Request, until the CPE answered it.
    pub api_latency: Summary,
    /// Seconds from the start of the action until it converged: every device informed on
    /// the new firmware, or every Connection Request answered.
    pub completed_after_s: Option<f64>,
    /// The firmware of the wave (its version is the file name without extension).
    pub firmware: Option<String>,
    #[serde(skip)]
    latencies: Histogram,
}

impl OperatorReport {
    fn note(&mut self, result: Result<u16, String>, took: Duration) {
        self.latencies.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        self.api_latency = self.latencies.summary();
        match result {
            Ok(status) if (200..300).contains(&status) => self.accepted += 1,
            Ok(status) => {
                self.failed += 1;
                *self.errors.entry(format!("HTTP {status}")).or_default() += 1;
            }
            Err(e) => {
                self.failed += 1;
                *self.errors.entry(e.chars().take(80).collect()).or_default() += 1;
            }
        }
    }
}

fn lock(report: &Mutex<OperatorReport>) -> std::sync::MutexGuard<'_, OperatorReport> {
    report.lock().unwrap_or_else(|p| p.into_inner())
}

/// A device key as a URL path segment (the key's own `%` escapes are escaped again).
fn path_segment(key: &str) -> String {
    key.replace('%', "%25")
}

fn query_value(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn drive(ctx: Arc<Ctx>, report: Arc<Mutex<OperatorReport>>, mut stop: watch::Receiver<bool>) {
    let Some(api) = ctx.config.api.clone() else { return };
    let run_start = Instant::now();
    lock(&report).action = ctx.config.scenario.name().to_owned();
    // The action starts once the whole fleet has informed.
    while ctx.stats.devices_informed.load(std::sync::atomic::Ordering::Relaxed) < u64::from(ctx.config.count) {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let action_start = Instant::now();
    lock(&report).started_after_s = Some(action_start.duration_since(run_start).as_secs_f64());
    let body = match ctx.config.scenario {
        Scenario::FirmwareWave => match upload_firmware(&ctx, &api.url, &api.token).await {
            Ok(name) => {
                let body =
                    serde_json::json!({ "name": "download", "file": name, "fileType": "1 Firmware Upgrade Image" });
                lock(&report).firmware = Some(name);
                Bytes::from(body.to_string())
            }
            Err(e) => {
                tracing::error!(error = %e, "firmware upload failed; no wave");
                lock(&report).errors.insert(format!("firmware upload: {e}"), 1);
                return;
            }
        },
        _ => Bytes::new(),
    };
    let limit = Arc::new(Semaphore::new(ctx.config.operator_concurrency.max(1)));
    let rate = ctx.config.operator_rate.max(0.001);
    let mut calls = tokio::task::JoinSet::new();
    for global in 0..ctx.config.count {
        let due = action_start + Duration::from_secs_f64(f64::from(global) / rate);
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep_until(due.into()) => {}
        }
        let Ok(permit) = limit.clone().acquire_owned().await else { return };
        let key = path_segment(&ctx.device_key(global));
        let (path, body) = match ctx.config.scenario {
            Scenario::FirmwareWave => (format!("/devices/{key}/tasks?connection_request"), body.clone()),
            _ => (format!("/devices/{key}/connection-request"), Bytes::new()),
        };
        let (api, report) = (api.clone(), report.clone());
        calls.spawn(async move {
            let sent = Instant::now();
            let result = api_call(&api.url, &api.token, Method::POST, &path, body, "application/json")
                .await
                .map(|(status, _)| status);
            let mut r = lock(&report);
            r.requested += 1;
            r.note(result, sent.elapsed());
            drop(permit);
        });
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
    if ctx.config.scenario == Scenario::FirmwareWave {
        while ctx.stats.firmware_informed.load(std::sync::atomic::Ordering::Relaxed) < u64::from(ctx.config.count) {
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
    lock(&report).completed_after_s = Some(action_start.elapsed().as_secs_f64());
}

/// Puts the firmware on the ACS; returns its name.
async fn upload_firmware(ctx: &Ctx, api_url: &str, token: &str) -> Result<String, String> {
    let (name, data) = match &ctx.config.firmware_file {
        Some(path) => {
            let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "firmware.bin".into());
            (name, data)
        }
        None => {
            let stamp = jiff::Timestamp::now().as_second();
            let data: Vec<u8> = (0..ctx.config.firmware_size).map(|i| (i % 251) as u8).collect();
            (format!("cwmp-sim-fw-{stamp}.bin"), data)
        }
    };
    let version = crate::transfer::version_of(&name);
    let query = format!(
        "?fileType={}&oui={}&productClass={}&version={}",
        query_value("1 Firmware Upgrade Image"),
        query_value(&ctx.model.oui),
        query_value(&ctx.model.product_class),
        query_value(&version)
    );
    let path = format!("/files/{}{query}", query_value(&name));
    let (status, body) =
        api_call(api_url, token, Method::PUT, &path, Bytes::from(data), "application/octet-stream").await?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(path_segment("00C0FF-Set%2DTop-SIM1"), "00C0FF-Set%252DTop-SIM1");
        assert_eq!(query_value("1 Firmware Upgrade Image"), "1%20Firmware%20Upgrade%20Image");
    }

    #[test]
    fn answers_are_counted() {
        let mut r = OperatorReport::default();
        r.note(Ok(200), Duration::from_millis(3));
        r.note(Ok(502), Duration::from_millis(1));
        r.note(Err("refused".into()), Duration::from_millis(1));
        assert_eq!((r.accepted, r.failed), (1, 2));
        assert_eq!(r.errors.get("HTTP 502"), Some(&1));
        assert_eq!(r.api_latency.count, 3);
    }
}
