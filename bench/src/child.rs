//! Servers under test run in child processes of the benchmark (the same binary with an
//! internal subcommand), so that their memory and CPU time are their own. A child prints
//! one JSON line when it is ready and exits when its standard input closes.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pub pid: u32,
    pub ready: serde_json::Value,
}

impl Server {
    /// Starts `cwmp-bench <args>` and waits for its ready line.
    pub async fn spawn(args: &[String]) -> anyhow::Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("child exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("{args:?} exited before it was ready"))?;
        let ready = serde_json::from_str(&line)?;
        Ok(Server { child, pid, ready })
    }

    pub fn field(&self, name: &str) -> anyhow::Result<String> {
        self.ready[name].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no {name} in {}", self.ready))
    }

    /// Resident memory now and at its peak, bytes.
    pub fn rss(&self) -> Option<(u64, u64)> {
        proc_rss(self.pid)
    }

    /// CPU time used so far (user + system), seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // The fields after the command name (which may hold spaces) start at state (3rd).
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // USER_HZ is 100 on Linux.
        Some(ticks / 100.0)
    }

    /// Closes its standard input and waits for it to exit.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(std::time::Duration::from_secs(20), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Resident memory of a process now and at its peak, bytes.
pub fn proc_rss(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Waits until standard input closes (the parent is done with this child).
pub async fn wait_for_parent() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        match tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
