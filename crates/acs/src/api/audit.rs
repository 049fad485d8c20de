//! The audit log of the API: every write (any method but GET, HEAD and OPTIONS) that
//! carried a valid token, allowed or not, becomes one record once it has been answered (see
//! [`super::auth::guard`]), and `GET /audit` reads the log, CWMP-side records included.
//!
//! A record says who (`token:<name>`), what (a verb per route, the method, the route and its
//! path parameters, the status answered), when and from where. Bodies are never read, so
//! passwords, token secrets and file contents cannot get in; a handler may add what only it
//! knows with an [`AuditNote`].

use std::net::IpAddr;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::devices::{paging, total_count_header};
use super::query::Query;
use super::{ApiResult, St};
use crate::store::{AuditQuery, AuditRecord, Millis, Store};

/// What a handler adds to its request's audit record, as an extension of its response:
/// the target when the path does not name it (a new token's name), and details. Never a
/// secret.
#[derive(Debug, Clone)]
pub struct AuditNote {
    target: String,
    detail: Value,
}

impl AuditNote {
    pub fn new(target: &str, detail: Value) -> AuditNote {
        AuditNote { target: target.to_owned(), detail }
    }
}

/// A write being answered, to be recorded with its outcome.
pub struct PendingAudit {
    pub at: Millis,
    pub actor: String,
    pub address: Option<IpAddr>,
    pub method: Method,
    /// The route pattern, e.g. `/devices/{id}/tasks`.
    pub route: String,
    /// The path parameters, in order.
    pub params: Vec<(String, String)>,
}

impl PendingAudit {
    /// The record of the request answered with `response`.
    pub fn into_record(self, response: &Response) -> AuditRecord {
        let action =
            action(&self.method, &self.route).map_or_else(|| format!("{} {}", self.method, self.route), str::to_owned);
        let mut detail = Map::new();
        detail.insert("method".into(), json!(self.method.as_str()));
        detail.insert("route".into(), json!(self.route));
        detail.insert("status".into(), json!(response.status().as_u16()));
        // The first path parameter names what the request is about; the others qualify it.
        let mut params = self.params.into_iter();
        let mut target = params.next().map(|(_, value)| value);
        detail.extend(params.map(|(name, value)| (name, json!(value))));
        if let Some(location) = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
            detail.insert("location".into(), json!(location));
        }
        if let Some(note) = response.extensions().get::<AuditNote>() {
            target = Some(note.target.clone());
            if let Value::Object(more) = &note.detail {
                detail.extend(more.clone());
            }
        }
        AuditRecord {
            at: self.at,
            actor: self.actor,
            action,
            target,
            address: self.address.map(|a| a.to_string()),
            detail: Value::Object(detail),
        }
    }
}

/// Stores an API audit record. One that cannot be stored is logged in full instead: the
/// write it describes has happened.
pub async fn write<S: Store>(store: &S, record: AuditRecord) {
    let logged = serde_json::to_string(&record).unwrap_or_default();
    if let Err(e) = store.record_audit(record).await {
        tracing::error!(error = %e, record = logged, "audit record not stored");
    }
}

/// The audit action of a write: a short verb that stays when routes are added or renamed.
fn action(method: &Method, route: &str) -> Option<&'static str> {
    Some(match (method.as_str(), route) {
        ("DELETE", "/devices/{id}") => "device.delete",
        ("POST", "/devices/{id}/tags/{tag}") => "device.tag.add",
        ("DELETE", "/devices/{id}/tags/{tag}") => "device.tag.remove",
        ("PUT", "/devices/{id}/credentials") => "device.credentials.set",
        ("DELETE", "/devices/{id}/credentials") => "device.credentials.clear",
        ("POST", "/devices/{id}/connection-request") => "device.connection_request",
        ("POST", "/devices/{id}/tasks") => "task.create",
        ("DELETE", "/tasks/{id}") => "task.cancel",
        ("POST", "/tasks/{id}/retry" | "/faults/{id}/retry") => "task.retry",
        ("DELETE", "/faults/{id}") => "fault.dismiss",
        ("PUT", "/files/{*name}") => "file.put",
        ("DELETE", "/files/{*name}") => "file.delete",
        ("POST", "/tokens") => "token.create",
        ("DELETE", "/tokens/{name}") => "token.delete",
        ("PUT", "/presets/{name}") => "preset.put",
        ("DELETE", "/presets/{name}") => "preset.delete",
        ("PUT", "/provisions/{name}") => "provision.put",
        ("DELETE", "/provisions/{name}") => "provision.delete",
        ("PUT", "/virtual-parameters/{name}") => "virtual_parameter.put",
        ("DELETE", "/virtual-parameters/{name}") => "virtual_parameter.delete",
        ("DELETE", "/provisioning/faults/{device}/{channel}") => "provisioning_fault.clear",
        _ => return None,
    })
}

/// `GET /audit?since=&until=&actor=&action=&target=&offset=&limit=` (admin): newest first.
pub async fn list<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let (offset, limit) = paging(&mut q)?;
    let query = AuditQuery {
        since: q.take_time("since")?,
        until: q.take_time("until")?,
        actor: q.take("actor")?,
        action: q.take("action")?,
        target: q.take("target")?,
        offset,
        limit,
    };
    q.finish()?;
    let total = state.store().count_audit(&query).await?;
    let entries = state.store().list_audit(&query).await?;
    Ok(([total_count_header(total)], Json(entries)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    fn pending(method: Method, route: &str, params: &[(&str, &str)]) -> PendingAudit {
        PendingAudit {
            at: 5,
            actor: "token:ops".into(),
            address: Some("203.0.113.9".parse().unwrap()),
            method,
            route: route.into(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn records() {
        let mut created = StatusCode::ACCEPTED.into_response();
        created.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/tasks/7"));
        let r = pending(Method::POST, "/devices/{id}/tasks", &[("id", "00D09E-Box-S1")]).into_record(&created);
        assert_eq!((r.at, r.actor.as_str(), r.action.as_str()), (5, "token:ops", "task.create"));
        assert_eq!((r.target.as_deref(), r.address.as_deref()), (Some("00D09E-Box-S1"), Some("203.0.113.9")));
        assert_eq!(
            r.detail,
            json!({ "method": "POST", "route": "/devices/{id}/tasks", "status": 202, "location": "/tasks/7" })
        );

        let r = pending(Method::DELETE, "/devices/{id}/tags/{tag}", &[("id", "D"), ("tag", "lab")])
            .into_record(&StatusCode::OK.into_response());
        assert_eq!((r.action.as_str(), r.target.as_deref()), ("device.tag.remove", Some("D")));
        assert_eq!(r.detail["tag"], "lab");

        let mut noted = StatusCode::CREATED.into_response();
        noted.extensions_mut().insert(AuditNote::new("ci", json!({ "role": "readonly" })));
        let r = pending(Method::POST, "/tokens", &[]).into_record(&noted);
        assert_eq!((r.action.as_str(), r.target.as_deref()), ("token.create", Some("ci")));
        assert_eq!((&r.detail["role"], &r.detail["status"]), (&json!("readonly"), &json!(201)));

        let r = pending(Method::PATCH, "/devices/{id}/new", &[]).into_record(&StatusCode::OK.into_response());
        assert_eq!((r.action.as_str(), r.target), ("PATCH /devices/{id}/new", None), "a route without a verb");
    }
}
