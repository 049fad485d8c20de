//! The network side of a device's session: the agent's HTTP requests go out on one
//! persistent connection (TR-069 3.4.2), its responses, connection errors and timeouts go
//! back into the agent, until the agent has nothing more to send. Sessions that follow at
//! once (news that arrived during the session) run on the same task and slot.

use std::sync::Arc;
use std::time::Instant;

use cwmp_cpe::agent::{Agent, Effect};
use cwmp_cpe::client::{self, Connection};
use cwmp_cpe::http::HttpRequest;
use jiff::Timestamp;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

use crate::fleet::Ctx;
use crate::shard::{quiet, spawn_transfer};
use crate::stats::FailureKind;

/// What happened on the task.
pub(crate) struct Outcome {
    /// The agent stopped for a reboot or factory reset.
    pub reboot: bool,
    pub sessions_ok: u32,
}

/// Whether a request carries an Inform for a Connection Request (`6 CONNECTION REQUEST`).
fn is_connection_request_inform(request: &HttpRequest) -> bool {
    const EVENT: &[u8] = b"6 CONNECTION REQUEST";
    request.body.windows(EVENT.len()).any(|w| w == EVENT)
}

pub(crate) async fn drive(
    ctx: &Arc<Ctx>,
    shard: usize,
    local: u32,
    agent: &mut Agent,
    first: HttpRequest,
    started: bool,
) -> Outcome {
    let stats = &ctx.stats;
    let mut outcome = Outcome { reboot: false, sessions_ok: 0 };
    let mut connection: Option<Connection> = None;
    // Orders the ACS's addresses (3.1 item 18); the same for a device in every run.
    let mut rng = StdRng::seed_from_u64(ctx.config.seed ^ ((shard as u64) << 32) ^ u64::from(local));
    let mut session_start = Instant::now();
    // What ended the last exchange badly, to say why a session failed.
    let mut trouble: Option<FailureKind>;
    let mut pending = Some(first);
    let mut new_session = started;
    loop {
        let request = pending.take().or_else(|| agent.poll_transmit());
        match request {
            Some(request) => {
                if new_session {
                    new_session = false;
                    session_start = Instant::now();
                    stats.session_started();
                    if is_connection_request_inform(&request) {
                        stats.cr_sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let sent = Instant::now();
                let result = tokio::time::timeout(
                    ctx.config.response_timeout,
                    client::exchange(&mut connection, &request, &ctx.tls, ctx.agent.max_message, &mut rng),
                )
                .await;
                let now = Timestamp::now();
                match result {
                    Ok(Ok(response)) => {
                        stats.round_trip(sent.elapsed());
                        trouble = (response.status >= 300).then_some(FailureKind::Status(response.status));
                        quiet(ctx, || agent.handle_response(now, response));
                    }
                    Ok(Err(why)) => {
                        connection = None;
                        trouble = Some(FailureKind::Connect);
                        quiet(ctx, || agent.handle_connection_error(now, &why));
                    }
                    Err(_) => {
                        connection = None;
                        trouble = Some(FailureKind::Timeout);
                        // The agent's own deadline is the same timeout from the same send.
                        let at = agent.poll_timeout().map_or(now, |t| t.max(now));
                        quiet(ctx, || agent.handle_timeout(at));
                    }
                }
            }
            None if agent.in_session() => {
                // Nothing to send yet the session goes on: only its deadline can move it.
                let now = Timestamp::now();
                let at = agent.poll_timeout().unwrap_or(now);
                let wait = std::time::Duration::try_from(at.duration_since(now)).unwrap_or_default();
                tokio::time::sleep(wait).await;
                trouble = Some(FailureKind::Timeout);
                quiet(ctx, || agent.handle_timeout(at.max(Timestamp::now())));
            }
            None => return outcome,
        }
        while let Some(effect) = agent.poll_effect() {
            match effect {
                Effect::SessionStarted => new_session = true,
                Effect::SessionEnded { success } => {
                    connection = None;
                    let failure = (!success).then(|| trouble.unwrap_or(FailureKind::Protocol));
                    stats.session_ended(session_start.elapsed(), failure);
                    if success {
                        outcome.sessions_ok += 1;
                    }
                }
                Effect::Transfer(job) => spawn_transfer(ctx, shard, local, job),
                Effect::ChangeDuState { id, .. } => {
                    quiet(ctx, || agent.du_state_change_finished(Timestamp::now(), id, Vec::new(), Vec::new()))
                }
                Effect::Reboot | Effect::FactoryReset => outcome.reboot = true,
            }
        }
        if outcome.reboot {
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_request_informs_are_recognised() {
        let mut request = HttpRequest {
            url: url::Url::parse("http://acs/").unwrap(),
            headers: Vec::new(),
            body: b"<EventCode>6 CONNECTION REQUEST</EventCode>".to_vec(),
        };
        assert!(is_connection_request_inform(&request));
        request.body = b"<EventCode>2 PERIODIC</EventCode>".to_vec();
        assert!(!is_connection_request_inform(&request));
    }
}
