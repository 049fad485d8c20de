//! `/devices/{id}/tasks`, `/tasks` and `/faults`: queueing work for a device (optionally
//! waking it with a Connection Request and waiting for the result), listing, cancelling,
//! retrying. A task in status `fault` is a fault.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::devices::{paging, total_count_header};
use super::query::{BodyBytes, Query, json_body, json_time, task_id};
use super::{ApiError, ApiResult, ApiState, PathArg, St};
use crate::connreq::{CrState, Outcome};
use crate::store::{Store, Task, TaskOptions, TaskQuery, TaskStatus, now_millis};
use crate::tasks::TaskKind;

/// Longest `timeout=` a request may wait.
const MAX_WAIT_SECS: f64 = 300.0;
/// How often a waiting request looks at the task.
const POLL: Duration = Duration::from_millis(100);

/// Replaces every non-empty `password` in a task's JSON: file-server passwords are not
/// shown back.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "password" && v.as_str().is_some_and(|s| !s.is_empty()) {
                    *v = json!("********");
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// A task as the API shows it, with its Connection Request when one was made for it.
fn task_json<S: Store>(state: &ApiState<S>, task: &Task) -> Value {
    let mut value = serde_json::to_value(task).unwrap_or(Value::Null);
    redact(&mut value);
    if let (Value::Object(map), Some(outcome)) = (&mut value, state.connection_requests.for_task(task.id)) {
        map.insert("connectionRequest".into(), json!(outcome));
    }
    value
}

fn task_name(kind: &TaskKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.get("name")?.as_str().map(str::to_owned)).unwrap_or_default()
}

fn status_param(q: &mut Query) -> ApiResult<Option<TaskStatus>> {
    q.take("status")?
        .map(|s| {
            TaskStatus::parse(&s).ok_or_else(|| {
                ApiError::bad(format!(
                    "status {s:?} is not one of pending, sent, waiting, done, fault, expired, cancelled"
                ))
            })
        })
        .transpose()
}

/// The body of `POST /devices/{id}/tasks`: a task kind plus options.
fn parse_new_task(body: &[u8]) -> ApiResult<(TaskKind, TaskOptions)> {
    let mut body: Value = json_body(body)?;
    let Value::Object(map) = &mut body else { return Err(ApiError::bad("a task is a JSON object")) };
    let mut take = |name: &str| map.remove(name).unwrap_or(Value::Null);
    let not_before = json_time(&take("notBefore"), "notBefore")?;
    let expires_at = json_time(&take("expiresAt"), "expiresAt")?;
    let max_attempts = match take("maxAttempts") {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| ApiError::bad("maxAttempts must be a whole number from 1 to 100"))? as u32,
        ),
    };
    let kind: TaskKind = serde_json::from_value(body).map_err(|e| ApiError::bad(format!("invalid task: {e}")))?;
    kind.validate().map_err(ApiError::bad)?;
    Ok((kind, TaskOptions { not_before, expires_at, max_attempts }))
}

/// `timeout=` in seconds.
fn wait_param(q: &mut Query) -> ApiResult<Option<Duration>> {
    match q.take_parsed::<f64>("timeout")? {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 && t <= MAX_WAIT_SECS => Ok(Some(Duration::from_secs_f64(t))),
        Some(_) => Err(ApiError::bad(format!("timeout must be more than 0 and at most {MAX_WAIT_SECS} seconds"))),
    }
}

/// Waits until the task is no longer open, its Connection Request (if any) has failed for
/// good, or `deadline` passes; returns the task as it is then.
async fn wait_for<S: Store>(
    store: &S,
    mut task: Task,
    deadline: Instant,
    mut connection_request: Option<watch::Receiver<Outcome>>,
) -> ApiResult<Task> {
    loop {
        let now = Instant::now();
        let failed = connection_request.as_ref().is_some_and(|rx| rx.borrow().state == CrState::Failed);
        if !task.status.is_open() || failed || now >= deadline {
            return Ok(task);
        }
        let pause = tokio::time::sleep(POLL.min(deadline - now));
        match &mut connection_request {
            // A change of the request's state (a failure) ends the pause early.
            Some(rx) => tokio::select! {
                () = pause => {}
                changed = rx.changed() => if changed.is_err() { connection_request = None },
            },
            None => pause.await,
        }
        task = store.task(task.id).await?.ok_or_else(|| ApiError::NotFound(format!("task {} was deleted", task.id)))?;
    }
}

/// Wakes the device for a task (retrying a busy or unreachable CPE until the wait ends, or
/// for `connection_request.retry_for` without one), then waits up to `wait` (from
/// `started`) for the task to finish: 200 with the finished task, or 202 with the task as
/// it stands. The wait ends early when the Connection Request fails for good. Without a
/// wait, the answer comes once the CPE has answered the first request.
async fn wake_and_wait<S: Store>(
    state: &ApiState<S>,
    task: Task,
    wake: bool,
    wait: Option<Duration>,
    started: Instant,
) -> ApiResult<Response> {
    let requests = &state.connection_requests;
    let connection_request = wake.then(|| {
        let deadline = started + wait.unwrap_or(requests.config().retry_for);
        requests.request(&task.device_key, Some(task.id), deadline)
    });
    let task = match (wait, connection_request) {
        (Some(wait), rx) => wait_for(state.store(), task, started + wait, rx).await?,
        (None, Some(rx)) => {
            requests.first_answer(rx).await;
            task
        }
        (None, None) => task,
    };
    let status = if task.status.is_open() { StatusCode::ACCEPTED } else { StatusCode::OK };
    let mut response = (status, Json(task_json(state, &task))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/tasks/{}", task.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `POST /devices/{id}/tasks[?connection_request][&timeout=<seconds>]`.
pub async fn create<S: Store>(
    State(state): St<S>,
    PathArg(key): PathArg<String>,
    RawQuery(raw): RawQuery,
    BodyBytes(body): BodyBytes,
) -> ApiResult<Response> {
    let started = Instant::now();
    let mut q = Query::parse(raw.as_deref());
    let wake = q.take_flag("connection_request")?;
    let wait = wait_param(&mut q)?;
    q.finish()?;
    let (kind, options) = parse_new_task(&body)?;
    let now = now_millis();
    if options.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad("expiresAt is in the past"));
    }
    let name = task_name(&kind);
    let task = state.store().create_task(&key, kind, options, now).await?;
    tracing::info!(device = %key, task = task.id, name = %name, "task queued");
    wake_and_wait(&state, task, wake, wait, started).await
}

/// `GET /tasks?device=&status=&offset=&limit=`.
pub async fn list<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let mut query = TaskQuery { device_key: q.take("device")?, status: status_param(&mut q)?, ..TaskQuery::default() };
    (query.offset, query.limit) = paging(&mut q)?;
    q.finish()?;
    let total = state.store().count_tasks(&query).await?;
    let tasks = state.store().list_tasks(&query).await?;
    let items: Vec<Value> = tasks.iter().map(|t| task_json(&state, t)).collect();
    Ok(([total_count_header(total)], Json(items)).into_response())
}

async fn task_or_404<S: Store>(store: &S, id: i64) -> ApiResult<Task> {
    store.task(id).await?.ok_or_else(|| ApiError::NotFound(format!("task {id} not found")))
}

/// `GET /tasks/{id}`.
pub async fn get_one<S: Store>(State(state): St<S>, PathArg(id): PathArg<String>) -> ApiResult<Json<Value>> {
    let task = task_or_404(state.store(), task_id(&id)?).await?;
    Ok(Json(task_json(&state, &task)))
}

/// `DELETE /tasks/{id}`: cancels an open task; 409 when it has already ended.
pub async fn cancel<S: Store>(State(state): St<S>, PathArg(id): PathArg<String>) -> ApiResult<Json<Value>> {
    let id = task_id(&id)?;
    let task = task_or_404(state.store(), id).await?;
    if !state.store().cancel_task(id, now_millis()).await? {
        return Err(ApiError::Conflict(format!("task {id} is {}, not open", task.status.as_str())));
    }
    tracing::info!(task = id, device = %task.device_key, "task cancelled");
    Ok(Json(task_json(&state, &task_or_404(state.store(), id).await?)))
}

/// `POST /tasks/{id}/retry[?connection_request][&timeout=<seconds>]` (also
/// `/faults/{id}/retry`): queues a task in fault, expired or cancelled again, with its
/// attempts reset.
pub async fn retry<S: Store>(
    State(state): St<S>,
    PathArg(id): PathArg<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let started = Instant::now();
    let id = task_id(&id)?;
    let mut q = Query::parse(raw.as_deref());
    let wake = q.take_flag("connection_request")?;
    let wait = wait_param(&mut q)?;
    q.finish()?;
    let task = task_or_404(state.store(), id).await?;
    if !state.store().retry_task(id, now_millis()).await? {
        return Err(ApiError::Conflict(format!(
            "task {id} is {}; only tasks in fault, expired or cancelled can be retried",
            task.status.as_str()
        )));
    }
    tracing::info!(task = id, device = %task.device_key, "task queued again");
    let task = task_or_404(state.store(), id).await?;
    wake_and_wait(&state, task, wake, wait, started).await
}

/// `GET /faults?device=&offset=&limit=`: tasks in status `fault`.
pub async fn faults<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let mut query =
        TaskQuery { device_key: q.take("device")?, status: Some(TaskStatus::Fault), ..TaskQuery::default() };
    (query.offset, query.limit) = paging(&mut q)?;
    q.finish()?;
    let total = state.store().count_tasks(&query).await?;
    let tasks = state.store().list_tasks(&query).await?;
    let items: Vec<Value> = tasks
        .iter()
        .map(|t| {
            let (code, message) = t.fault.as_ref().map_or((0, String::new()), |f| (f.code, f.message.clone()));
            json!({
                "task": t.id,
                "device": t.device_key,
                "name": task_name(&t.kind),
                "code": code,
                "message": message,
                "time": t.updated_at,
                "attempts": t.attempts,
            })
        })
        .collect();
    Ok(([total_count_header(total)], Json(items)).into_response())
}

/// `DELETE /faults/{id}`: dismisses the fault; its task becomes `cancelled`.
pub async fn dismiss_fault<S: Store>(State(state): St<S>, PathArg(id): PathArg<String>) -> ApiResult<StatusCode> {
    let id = task_id(&id)?;
    let task = task_or_404(state.store(), id).await?;
    if !state.store().dismiss_fault(id, now_millis()).await? {
        return Err(ApiError::Conflict(format!("task {id} is {}, not fault", task.status.as_str())));
    }
    tracing::info!(task = id, device = %task.device_key, "fault dismissed");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_task_bodies() {
        let (kind, options) = parse_new_task(
            br#"{"name":"getParameterValues","parameterNames":["Device.DeviceInfo."],"notBefore":5,
                "expiresAt":"2030-01-01T00:00:00Z","maxAttempts":2}"#,
        )
        .unwrap();
        assert_eq!(kind, TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.".into()] });
        assert_eq!((options.not_before, options.max_attempts), (Some(5), Some(2)));
        assert_eq!(options.expires_at, Some(1_893_456_000_000));
        // Each refusal says what is wrong.
        for (body, says) in [
            (b"[]".as_slice(), "a task is a JSON object"),
            (br#"{"name":"nothing"}"#, "unknown variant `nothing`"),
            (br#"{"name":"reboot","maxAttempts":0}"#, "maxAttempts"),
            (br#"{"name":"reboot","notBefore":"soon"}"#, "notBefore"),
            (br#"{"name":"getParameterValues","parameterNames":[]}"#, "parameterNames"),
        ] {
            match parse_new_task(body) {
                Err(ApiError::BadRequest(why)) => assert!(why.contains(says), "{why}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        assert!(matches!(parse_new_task(b""), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn passwords_are_redacted() {
        let mut v = json!({"name": "download", "username": "u", "password": "secret",
                           "operations": [{"password": "p2"}, {"password": ""}]});
        redact(&mut v);
        assert_eq!(v["password"], "********");
        assert_eq!(v["operations"][0]["password"], "********");
        assert_eq!(v["operations"][1]["password"], "");
        assert_eq!(v["username"], "u");
    }
}
