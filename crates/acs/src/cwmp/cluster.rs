//! The endpoint's side of running several nodes on one PostgreSQL
//! ([`crate::store::postgres::cluster`]): every step is written under the device's session
//! lease together with the session's checkpoint; a request for a session this node does not
//! hold takes it over from its checkpoint; a device in session on another node gets 503 with
//! Retry-After until that lease ends.

use std::sync::Arc;
use std::time::Duration;

use cwmp_wire::Envelope;
use hyper::StatusCode;
use hyper::http::request::Parts;

use super::endpoint::RequestFacts;
use super::{Connection, Endpoint, HttpResponse, LiveSession, SessionRef, text_response};
use crate::session::{AcsSession, Step};
use crate::store::postgres::cluster::{Lease, ResumeKey, StepOutcome};
use crate::store::{Millis, Store, StoreError, WriteBatch};

/// The session's lease is another's now (a new session of the device, or another node that
/// took this one over): the step wrote nothing and must not be answered from this copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LeaseLost;

/// What a step saves besides its writes, with several nodes.
pub(super) struct Save {
    lease: Lease,
    /// The session's state after the step; `None` once it is over (the lease is released).
    checkpoint: Option<String>,
}

impl Save {
    /// What to save after `step` of a session running under `lease` (none on one node).
    pub(super) fn after(lease: Option<&Lease>, session: &AcsSession, step: &Step) -> Result<Option<Save>, StoreError> {
        let Some(lease) = lease else { return Ok(None) };
        let checkpoint =
            if step.done { None } else { Some(session.checkpoint().map_err(|e| StoreError::Invalid(e.to_string()))?) };
        Ok(Some(Save { lease: lease.clone(), checkpoint }))
    }
}

impl<S: Store> Endpoint<S> {
    /// Makes a step durable: on one node its writes; with several, its writes, the renewed
    /// lease and the checkpoint in one transaction. False when the lease was lost.
    pub(super) async fn make_durable(&self, writes: WriteBatch, save: Option<Save>) -> Result<bool, StoreError> {
        match (save, &self.cluster) {
            (Some(save), Some(cluster)) => {
                Ok(cluster.step(&save.lease, writes, save.checkpoint).await? == StepOutcome::Applied)
            }
            _ => self.store.apply(writes).await.map(|()| true),
        }
    }

    /// Gives a lease back when its session could not start (best effort: the lease expires
    /// by itself otherwise).
    pub(super) fn abandon(&self, lease: Option<Lease>) {
        if let (Some(cluster), Some(lease)) = (self.cluster.clone(), lease) {
            tokio::spawn(async move {
                if let Err(e) = cluster.release(&lease).await {
                    tracing::debug!(device = %lease.device_key, error = %e, "lease not released; it will expire");
                }
            });
        }
    }

    /// 503 for a device whose session runs on another node: the CPE retries after the lease
    /// would expire (TR-069 3.2.1.1 lets a CPE retry a refused session later).
    pub(super) fn busy(&self, device: &str, retry_after: Duration) -> HttpResponse {
        self.metrics.inc_refused();
        let limit = self.config.session_timeout.as_secs().max(1);
        let seconds = retry_after.as_secs_f64().ceil().clamp(1.0, limit as f64) as u64;
        tracing::info!(device, seconds, "device in session on another node");
        super::retry_after(StatusCode::SERVICE_UNAVAILABLE, "busy: retry later\n", seconds)
    }

    /// The request's session on another node (several nodes), taken over from its
    /// checkpoint, by the same rules as on one node: the session cookie, the device the
    /// connection authenticated as or its request's credentials prove, or (compatibility)
    /// the only session from the client's address admitted without authentication.
    pub(super) async fn locate_elsewhere(
        &self,
        facts: &RequestFacts<'_>,
        conn: &mut Connection,
        now: Millis,
    ) -> Result<Option<(String, SessionRef)>, StoreError> {
        if self.cluster.is_none() {
            return Ok(None);
        }
        if !conn.state.refused {
            if let Some(id) = facts.cookie
                && let Some(found) = self.take_over(ResumeKey::Session(id), conn, now).await?
            {
                return Ok(Some(found));
            }
            if let Some(key) = conn.state.authenticated.clone()
                && let Some(found) = self.take_over(ResumeKey::Device(&key), conn, now).await?
            {
                return Ok(Some(found));
            }
        }
        // Credentials name the device (the ACS makes the username the device's key).
        let username = self.core().presented_username(facts);
        if let Some(username) = username
            && let Some(device) = self.store.device(&username).await?
            && self.core().authenticates(&mut conn.state, facts, &device, now)
            && let Some(found) = self.take_over(ResumeKey::Device(&device.key), conn, now).await?
        {
            return Ok(Some(found));
        }
        if self.config.session_by_address && !conn.state.refused {
            return self.take_over(ResumeKey::ClientIp(conn.state.peer), conn, now).await;
        }
        Ok(None)
    }

    /// Takes a live session over from its checkpoint and registers it here, with the
    /// request that found it in flight.
    async fn take_over(
        &self,
        key: ResumeKey<'_>,
        conn: &mut Connection,
        now: Millis,
    ) -> Result<Option<(String, SessionRef)>, StoreError> {
        let Some(cluster) = &self.cluster else { return Ok(None) };
        let Some(resumed) = cluster.resume(key).await? else { return Ok(None) };
        let session = match AcsSession::resume(&resumed.state, self.session_config.clone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(session = %resumed.session_id, error = %e, "cannot continue a session from its checkpoint");
                self.abandon(Some(resumed.lease));
                return Ok(None);
            }
        };
        let device = session.device().clone();
        tracing::info!(device = %device.key, session = %resumed.session_id, "session taken over from its checkpoint");
        let id = resumed.session_id.clone();
        let live = LiveSession { id: id.clone(), session, started: now, lease: Some(resumed.lease) };
        let live = Arc::new(tokio::sync::Mutex::new(live));
        let by_address = matches!(key, ResumeKey::ClientIp(_));
        self.core().adopt(&mut conn.state, &id, &device, by_address, live.clone(), now);
        Ok(Some((id, live)))
    }

    /// The session this node was running moved on elsewhere (the CPE came back here after
    /// another node served it): continue from the latest checkpoint and handle the request
    /// there.
    pub(super) async fn continue_moved(
        &self,
        id: &str,
        env: Option<Envelope>,
        parts: &Parts,
        conn: &mut Connection,
        now: Millis,
    ) -> HttpResponse {
        self.core().end(id);
        match self.take_over(ResumeKey::Session(id), conn, now).await {
            Ok(Some((id, live))) => match self.step(&id, live, env, parts, conn, now).await {
                Ok(response) => response,
                // Taken again in between: the CPE retries.
                Err(LeaseLost) => self.busy("(moving session)", Duration::ZERO),
            },
            Ok(None) => text_response(StatusCode::BAD_REQUEST, "no session: it ended or was replaced\n"),
            Err(e) => self.unavailable(&e),
        }
    }

    /// Whether the device is in a session, on this node or (several nodes) on any.
    pub async fn device_in_session(&self, device_key: &str) -> bool {
        if self.core().device_in_session(device_key, self.clock.now()) {
            return true;
        }
        let Some(cluster) = &self.cluster else { return false };
        cluster.in_session(device_key).await.unwrap_or_else(|e| {
            tracing::warn!(device = device_key, error = %e, "cannot tell whether the device is in session");
            false
        })
    }

    /// Drops this node's copy of a session another node took over (its NOTIFY).
    pub fn forget_moved(&self, owner: &str, session_id: &str) {
        if self.cluster.as_ref().is_some_and(|c| c.node_id() != owner) {
            self.core().end(session_id);
        }
    }
}
