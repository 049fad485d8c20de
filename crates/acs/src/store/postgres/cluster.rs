//! Several ACS nodes sharing one PostgreSQL (docs/operations.md), with nothing but
//! PostgreSQL between them:
//!
//! - **Session lease.** The Inform claims the device's row in `cwmp_sessions` (owner node,
//!   fencing token from a sequence, expiry on the database's clock) in the transaction that
//!   records it. A claim succeeds when the row is free, expired, or held by the session the
//!   new Inform replaces (its client informs again). Any other live lease makes the Inform
//!   fail with [`Begin::Busy`] (TR-069 3.7: one session at a time): the endpoint answers 503
//!   with Retry-After, as it does on one node (docs/decisions.md).
//! - **Fencing and renewal.** Every step's writes start by updating the row where the token
//!   still matches: the expiry moves to now + session timeout and the checkpoint is
//!   replaced. A stale node (its session taken over, or replaced by a new one) writes nothing
//!   and sends nothing, since a reply leaves only after its writes commit.
//! - **Checkpoint and take-over.** The checkpoint is the session machine's state after the
//!   step ([`crate::session::AcsSession::checkpoint`]). A node that gets a request of a
//!   session it does not hold (the CPE reconnected through the load balancer) takes the
//!   row over with a new token ([`Cluster::resume`]) and continues from the checkpoint; it
//!   tells the other nodes (NOTIFY) to drop their copy, the token covering a lost notice.
//! - **Leases of a dead node** expire one session timeout after its last step: the device's
//!   next session starts on another node then. A CPE that reconnects mid-session (same
//!   cookie) is taken over at once.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::broadcast;

use super::PgStore;
use super::writer::{BatchOutcome, Claim, Fence, InformOutcome, Request};
use crate::store::{Device, InformRecord, Result, WriteBatch};

/// The right to run a device's session, as long as `token` is the row's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub device_key: String,
    pub token: i64,
}

/// How claiming a device's session at its Inform went.
#[derive(Debug)]
pub enum Begin {
    /// The Inform is recorded and the lease is ours.
    Started { device: Box<Device>, lease: Lease },
    /// Another node runs a session with the device; its lease runs this long still.
    Busy { retry_after: Duration },
}

/// How a step's writes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Applied,
    /// The lease is no longer ours: nothing was written.
    LeaseLost,
}

/// What finds a session this node does not hold.
#[derive(Debug, Clone, Copy)]
pub enum ResumeKey<'a> {
    /// The session cookie.
    Session(&'a str),
    /// The device the connection authenticated as.
    Device(&'a str),
    /// The only live session from this address that was admitted without authentication
    /// (compatibility for CPEs that keep no cookie).
    ClientIp(IpAddr),
}

/// A session taken over from its checkpoint.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub session_id: String,
    pub lease: Lease,
    /// [`crate::session::AcsSession::checkpoint`] output.
    pub state: String,
}

/// This node's view of the cluster.
pub struct Cluster {
    store: PgStore,
    node: String,
    lease_ttl: Duration,
}

impl Cluster {
    /// `lease_ttl` is the session timeout: a lease lives as long as its session may stay idle.
    /// The node's name in leases is `node_id` (default `node-<pid>`) with a suffix drawn at
    /// start: a node may replace its own sessions, so two processes must never share it,
    /// even when they were given the same name or one restarts with its predecessor's.
    pub fn new(store: PgStore, node_id: Option<String>, lease_ttl: Duration) -> Cluster {
        use rand::RngExt as _;
        let name = node_id.unwrap_or_else(|| format!("node-{}", std::process::id()));
        let node = format!("{name}#{:06x}", rand::rng().random::<u32>() & 0xff_ffff);
        Cluster { store, node, lease_ttl }
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    fn ttl_ms(&self) -> i64 {
        self.lease_ttl.as_millis().min(i64::MAX as u128) as i64
    }

    /// Claims the device's session and records the Inform, in one transaction: nothing is
    /// recorded for an Inform refused as busy.
    /// `client_ip` is kept only for a session that may be joined by address; `replaces` is
    /// the session the same client held.
    pub async fn begin_session(
        &self,
        record: InformRecord,
        session_id: &str,
        client_ip: Option<String>,
        replaces: Option<String>,
    ) -> Result<Begin> {
        let key = record.identity.key();
        let claim = Claim {
            session_id: session_id.to_owned(),
            owner: self.node.clone(),
            ttl_ms: self.ttl_ms(),
            client_ip,
            replaces,
        };
        let outcome =
            self.store.write(|ack| Request::Inform { record: Box::new(record), claim: Some(claim), ack }).await?;
        Ok(match outcome {
            InformOutcome::Recorded { device, token: Some(token) } => {
                Begin::Started { device, lease: Lease { device_key: key, token } }
            }
            InformOutcome::Recorded { token: None, .. } => {
                return Err(crate::store::StoreError::Invalid("the claim returned no token".into()));
            }
            InformOutcome::Busy { retry_after_ms } => {
                Begin::Busy { retry_after: Duration::from_millis(retry_after_ms.max(0) as u64) }
            }
        })
    }

    /// Applies a step's writes under the lease, renewing it and saving `checkpoint`; with no
    /// checkpoint the session is over and the lease is released, in the same transaction.
    pub async fn step(&self, lease: &Lease, batch: WriteBatch, checkpoint: Option<String>) -> Result<StepOutcome> {
        let fence =
            Fence { device_key: lease.device_key.clone(), token: lease.token, ttl_ms: self.ttl_ms(), checkpoint };
        let outcome = self.store.write(|ack| Request::Batch { batch, fence: Some(fence), ack }).await?;
        Ok(match outcome {
            BatchOutcome::Applied => StepOutcome::Applied,
            BatchOutcome::LeaseLost => StepOutcome::LeaseLost,
        })
    }

    /// Takes over a live session (one whose first step is saved and whose lease has not
    /// expired) with a new token, and tells the other nodes.
    pub async fn resume(&self, key: ResumeKey<'_>) -> Result<Option<Resumed>> {
        const TAKE: &str = "UPDATE cwmp_sessions SET owner = $2, token = nextval('session_tokens'),
                                expires_at = now_ms() + $3, updated_at = now_ms()";
        const LIVE: &str = "state IS NOT NULL AND expires_at >= now_ms()";
        const RETURNING: &str = "RETURNING session_id, device_key, token, state::TEXT AS state";
        let sql = match key {
            ResumeKey::Session(_) => format!("{TAKE} WHERE session_id = $1 AND {LIVE} {RETURNING}"),
            ResumeKey::Device(_) => format!("{TAKE} WHERE device_key = $1 AND {LIVE} {RETURNING}"),
            ResumeKey::ClientIp(_) => format!(
                "{TAKE} WHERE client_ip = $1 AND {LIVE}
                   AND (SELECT COUNT(*) FROM cwmp_sessions WHERE client_ip = $1 AND {LIVE}) = 1 {RETURNING}"
            ),
        };
        let bound = match key {
            ResumeKey::Session(id) => id.to_owned(),
            ResumeKey::Device(key) => key.to_owned(),
            ResumeKey::ClientIp(ip) => ip.to_string(),
        };
        let mut tx = self.store.pool().begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(bound)
            .bind(&self.node)
            .bind(self.ttl_ms())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let resumed = Resumed {
            session_id: row.try_get("session_id")?,
            lease: Lease { device_key: row.try_get("device_key")?, token: row.try_get("token")? },
            state: row.try_get("state")?,
        };
        // Rare (a CPE that changed nodes mid-session), so a NOTIFY is fine here.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.store.inner.channels.sessions)
            .bind(format!("{} {}", self.node, resumed.session_id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(resumed))
    }

    /// Gives the lease up (a session that failed or timed out here); false if it was no
    /// longer ours.
    pub async fn release(&self, lease: &Lease) -> Result<bool> {
        let done = sqlx::query("DELETE FROM cwmp_sessions WHERE device_key = $1 AND token = $2")
            .bind(&lease.device_key)
            .bind(lease.token)
            .execute(self.store.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether some node holds a live lease on the device.
    pub async fn in_session(&self, device_key: &str) -> Result<bool> {
        let live: Option<bool> =
            sqlx::query_scalar("SELECT expires_at >= now_ms() FROM cwmp_sessions WHERE device_key = $1")
                .bind(device_key)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(live.unwrap_or(false))
    }

    /// Deletes session rows whose lease expired more than `age` ago (sessions abandoned
    /// mid-way; a finished session deletes its own). Every node may run it.
    pub async fn purge_expired(&self, age: Duration) -> Result<u64> {
        let done = sqlx::query("DELETE FROM cwmp_sessions WHERE expires_at < now_ms() - $1")
            .bind(age.as_millis().min(i64::MAX as u128) as i64)
            .execute(self.store.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// A secret every node shares (created by the first node that asks).
    pub async fn shared_secret(&self, name: &str) -> Result<Vec<u8>> {
        use rand::RngExt as _;
        let fresh: [u8; 32] = rand::rng().random();
        sqlx::query("INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&fresh[..])
            .execute(self.store.pool())
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM cluster_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.store.pool())
            .await?)
    }

    /// `(new owner, session id)` of each session a node took over, as NOTIFY tells them.
    pub fn moved_sessions(&self) -> broadcast::Receiver<(String, String)> {
        self.store.inner.signals.moved.subscribe()
    }
}
