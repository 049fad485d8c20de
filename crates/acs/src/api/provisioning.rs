//! Provisioning through the API: presets, provision scripts, virtual parameter scripts, and
//! the faults recorded per device and channel.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, PathArg, St};
use crate::provision::preset::Preset;
use crate::store::{Script, ScriptKind, Store, now_millis};

/// Largest script source accepted.
const MAX_SCRIPT: usize = 256 * 1024;

pub async fn list_presets<S: Store>(State(state): St<S>) -> ApiResult<Json<Vec<Preset>>> {
    Ok(Json(state.store().presets().await?))
}

pub async fn get_preset<S: Store>(State(state): St<S>, PathArg(name): PathArg<String>) -> ApiResult<Json<Preset>> {
    let presets = state.store().presets().await?;
    presets.into_iter().find(|p| p.name == name).map(Json).ok_or_else(|| ApiError::NotFound(format!("preset {name}")))
}

/// `PUT /presets/{name}`: creates or replaces; the body's `name`, if any, must match. The
/// body is our JSON or GenieACS's ([`crate::provision::genieacs`]); it is stored in ours.
pub async fn put_preset<S: Store>(
    State(state): St<S>,
    PathArg(name): PathArg<String>,
    body: Bytes,
) -> ApiResult<Json<Preset>> {
    let mut value: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else { return Err(ApiError::bad("a preset is a JSON object")) };
    match object.get("name") {
        Some(Value::String(n)) if *n != name => return Err(ApiError::bad("the body's name differs from the URL's")),
        _ => {
            object.insert("name".into(), Value::String(name));
        }
    }
    crate::provision::genieacs::normalize_preset(object).map_err(|e| ApiError::bad(format!("invalid preset: {e}")))?;
    let preset: Preset = serde_json::from_value(value).map_err(|e| ApiError::bad(format!("invalid preset: {e}")))?;
    preset.validate().map_err(ApiError::bad)?;
    let scripts = state.store().scripts(ScriptKind::Provision).await?;
    for c in &preset.configurations {
        let crate::provision::preset::Configuration::Provision { name, args } = c else { continue };
        if scripts.iter().any(|s| s.name == *name) {
            continue;
        }
        if !crate::provision::builtin::NAMES.contains(&name.as_str()) {
            return Err(ApiError::bad(format!("no provision script named {name:?}")));
        }
        crate::provision::builtin::declarations(name, args, &preset.channel, 0, now_millis())
            .map_err(|e| ApiError::bad(format!("built-in provision {e}")))?;
    }
    state.store().put_preset(&preset, now_millis()).await?;
    tracing::info!(preset = %preset.name, "preset saved");
    Ok(Json(preset))
}

pub async fn delete_preset<S: Store>(State(state): St<S>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    if state.store().delete_preset(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("preset {name}")))
    }
}

fn kind_of(path: &str) -> ScriptKind {
    if path.starts_with("/virtual-parameters") { ScriptKind::VirtualParameter } else { ScriptKind::Provision }
}

fn label(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Provision => "provision",
        ScriptKind::VirtualParameter => "virtual parameter",
    }
}

pub async fn list_scripts<S: Store>(State(state): St<S>, uri: axum::http::Uri) -> ApiResult<Json<Vec<Script>>> {
    Ok(Json(state.store().scripts(kind_of(uri.path())).await?))
}

pub async fn get_script<S: Store>(
    State(state): St<S>,
    uri: axum::http::Uri,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<Script>> {
    let kind = kind_of(uri.path());
    let scripts = state.store().scripts(kind).await?;
    scripts
        .into_iter()
        .find(|s| s.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("{} {name}", label(kind))))
}

/// `PUT /provisions/{name}` and `/virtual-parameters/{name}`: the body is the JavaScript source.
pub async fn put_script<S: Store>(
    State(state): St<S>,
    uri: axum::http::Uri,
    PathArg(name): PathArg<String>,
    body: Bytes,
) -> ApiResult<Json<Script>> {
    let kind = kind_of(uri.path());
    if name.is_empty() || name.len() > 128 || name.contains(['/', '.']) {
        return Err(ApiError::bad("a script name is 1 to 128 characters without '/' or '.'"));
    }
    if body.len() > MAX_SCRIPT {
        return Err(ApiError::TooLarge(format!("scripts are at most {MAX_SCRIPT} bytes")));
    }
    let source = String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad("the script is not UTF-8"))?;
    let script = Script { name, source, updated_at: now_millis() };
    state.store().put_script(kind, &script).await?;
    tracing::info!(name = %script.name, kind = label(kind), "script saved");
    Ok(Json(script))
}

pub async fn delete_script<S: Store>(
    State(state): St<S>,
    uri: axum::http::Uri,
    PathArg(name): PathArg<String>,
) -> ApiResult<StatusCode> {
    let kind = kind_of(uri.path());
    if state.store().delete_script(kind, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("{} {name}", label(kind))))
    }
}

/// `GET /provisioning/faults[?device=<id>]`.
pub async fn faults<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let device = raw
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "device")
        .map(|(_, v)| percent_decode(v));
    let device_id = match &device {
        Some(key) => {
            Some(state.store().device(key).await?.ok_or_else(|| ApiError::NotFound(format!("device {key}")))?.id)
        }
        None => None,
    };
    let faults = state.store().channel_faults(device_id).await?;
    Ok(Json(json!(faults)))
}

/// `DELETE /provisioning/faults/{device}/{channel}`: the channel runs again in the device's
/// next session.
pub async fn clear_fault<S: Store>(
    State(state): St<S>,
    PathArg((device, channel)): PathArg<(String, String)>,
) -> ApiResult<StatusCode> {
    if state.store().clear_channel_fault(&device, &channel).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("fault of {device} on channel {channel}")))
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}
