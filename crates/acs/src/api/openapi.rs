//! The OpenAPI 3.1 document of the REST API, served at `/openapi.json`. Written by hand next
//! to the handlers; the API tests check that every operation it lists is routed.

use serde_json::{Value, json};

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn param_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn listed(description: &str, item: &str) -> Value {
    json!({
        "description": description,
        "headers": { "X-Total-Count": { "description": "Items matching the filters, paging aside.", "schema": { "type": "integer" } } },
        "content": json_content(json!({ "type": "array", "items": schema_ref(item) })),
    })
}

fn error(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema_ref("Error")) })
}

fn no_content(description: &str) -> Value {
    json!({ "description": description })
}

/// An operation with the usual error answers added: 403 when some role may not call it
/// (every write, and what only an admin may read).
fn op(
    summary: &str,
    tag: &str,
    parameters: Vec<Value>,
    body: Option<Value>,
    mut responses: Value,
    may_be_forbidden: bool,
) -> Value {
    let r = responses.as_object_mut().expect("responses object");
    r.entry("400").or_insert_with(|| error("Invalid input."));
    r.insert("401".into(), json!({ "$ref": "#/components/responses/Unauthorized" }));
    if may_be_forbidden {
        r.insert("403".into(), json!({ "$ref": "#/components/responses/Forbidden" }));
    }
    let mut op = json!({ "summary": summary, "tags": [tag], "parameters": parameters, "responses": responses });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": json_content(schema) })
}

fn paths() -> Value {
    let device_id = || path_param("id", "Device id (OUI-ProductClass-SerialNumber, percent-encoded in the URL).");
    let task_id = || path_param("id", "Task id.");
    let file_name = || path_param("name", "File name; may contain '/'.");
    let wait = || {
        vec![
            query(
                "connection_request",
                "Send a Connection Request to the device right away (flag).",
                json!({ "type": "boolean" }),
            ),
            query(
                "timeout",
                "Wait up to this many seconds (at most 300) for the task to finish.",
                json!({ "type": "number" }),
            ),
        ]
    };
    let task_answers = || {
        json!({
            "200": ok("The task finished within the timeout.", schema_ref("Task")),
            "202": ok("The task is queued (not finished yet).", schema_ref("Task")),
            "404": error("No such device or task."),
        })
    };
    json!({
        "/health": { "get": {
            "summary": "Whether the ACS and its store answer.", "tags": ["operations"], "security": [],
            "responses": {
                "200": ok("Healthy.", json!({ "type": "object", "properties": {
                    "status": { "type": "string" }, "liveSessions": { "type": "integer" } } })),
                "503": ok("The store does not answer.", json!({ "type": "object" })),
            }
        }},
        "/metrics": { "get": {
            "summary": "Counters and gauges in Prometheus text format.", "tags": ["operations"], "security": [],
            "responses": { "200": { "description": "Prometheus text.", "content": { "text/plain": { "schema": { "type": "string" } } } } }
        }},
        "/openapi.json": { "get": {
            "summary": "This document.", "tags": ["operations"], "security": [],
            "responses": { "200": ok("OpenAPI 3.1 document.", json!({ "type": "object" })) }
        }},
        "/tokens": {
            "get": op("List API tokens, without their secrets (admin).", "auth", vec![], None,
                json!({ "200": listed("Tokens by name.", "Token") }), true),
            "post": op("Create an API token; its secret is shown only in this answer (admin).", "auth", vec![],
                Some(json_body(schema_ref("NewToken"))),
                json!({ "201": ok("The new token.", schema_ref("CreatedToken")),
                        "409": error("A token has that name.") }), true),
        },
        "/tokens/{name}": { "delete": op("Delete an API token; it stops working at once (admin).", "auth",
            vec![path_param("name", "The token's name.")], None,
            json!({ "204": no_content("Deleted."), "404": error("No such token."),
                    "409": error("The last admin token that has not expired cannot be deleted.") }), true) },
        "/audit": { "get": op("The audit log, newest first (admin).", "auth", vec![
            query("since", "At or after this time (Unix ms or RFC 3339).", json!({ "type": "string" })),
            query("until", "Before this time (Unix ms or RFC 3339).", json!({ "type": "string" })),
            query("actor", "Actor equals, e.g. token:ci, cpe:<device id>, acs.", json!({ "type": "string" })),
            query("action", "Action equals, e.g. task.create.", json!({ "type": "string" })),
            query("target", "Target equals (a device id, task id, file or token name…).", json!({ "type": "string" })),
            param_ref("offset"), param_ref("limit"),
        ], None, json!({ "200": listed("Audit records, newest first.", "AuditEntry") }), true) },
        "/devices": { "get": op("List devices.", "devices", vec![
            query("id", "Device id equals.", json!({ "type": "string" })),
            query("oui", "OUI equals.", json!({ "type": "string" })),
            query("productClass", "ProductClass equals.", json!({ "type": "string" })),
            query("serialNumber", "SerialNumber equals.", json!({ "type": "string" })),
            query("tag", "Has this tag.", json!({ "type": "string" })),
            json!({ "name": "param.{path}", "in": "query", "required": false,
                    "description": "The stored value of parameter {path} equals the value, e.g. param.Device.DeviceInfo.SoftwareVersion=1.2 (repeatable for different paths).",
                    "schema": { "type": "string" } }),
            query("lastInformBefore", "Last Inform before this time (Unix ms or RFC 3339).", json!({ "type": "string" })),
            query("lastInformAfter", "Last Inform after this time (Unix ms or RFC 3339).", json!({ "type": "string" })),
            query("fields", "Comma-separated device fields and parameter paths to return (projection).", json!({ "type": "string" })),
            query("sort", "id, lastInform or createdAt; a leading '-' sorts descending.", json!({ "type": "string" })),
            param_ref("offset"), param_ref("limit"),
        ], None, json!({ "200": listed("Devices.", "Device") }), false) },
        "/devices/{id}": {
            "get": op("One device with its parameters.", "devices", vec![device_id(),
                query("prefix", "Only parameters under this path.", json!({ "type": "string" }))], None,
                json!({ "200": ok("The device.", schema_ref("DeviceDetail")), "404": error("No such device.") }), false),
            "delete": op("Delete a device, its parameters and tasks.", "devices", vec![device_id()], None,
                json!({ "204": no_content("Deleted."), "404": error("No such device.") }), true),
        },
        "/devices/{id}/tags/{tag}": {
            "post": op("Add a tag.", "devices", vec![device_id(), path_param("tag", "The tag.")], None,
                json!({ "200": ok("The device's tags.", schema_ref("Tags")), "404": error("No such device.") }), true),
            "delete": op("Remove a tag.", "devices", vec![device_id(), path_param("tag", "The tag.")], None,
                json!({ "200": ok("The device's tags.", schema_ref("Tags")), "404": error("No such device.") }), true),
        },
        "/devices/{id}/credentials": {
            "put": op("Set the credentials the CPE must present (stored hashed).", "devices", vec![device_id()],
                Some(json_body(schema_ref("Credentials"))),
                json!({ "204": no_content("Set."), "404": error("No such device.") }), true),
            "delete": op("Remove the device's own credentials.", "devices", vec![device_id()], None,
                json!({ "204": no_content("Removed."), "404": error("No such device.") }), true),
        },
        "/devices/{id}/connection-request": { "post": op("Send a Connection Request now.", "devices", vec![device_id()], None,
            json!({
                "200": ok("The CPE accepted (or a session is under way, or it was busy and is asked again).", json!({ "type": "object", "properties": { "connectionRequest": schema_ref("ConnectionRequest") } })),
                "404": error("No such device."),
                "502": ok("The request failed for good (refused credentials, no URL, Basic only).", json!({ "type": "object", "properties": {
                    "error": { "type": "string" }, "connectionRequest": schema_ref("ConnectionRequest") } })),
            }), true) },
        "/devices/{id}/tasks": { "post": op("Queue a task for the device.", "tasks",
            [vec![device_id()], wait()].concat(), Some(json_body(schema_ref("NewTask"))), task_answers(), true) },
        "/tasks": { "get": op("List tasks.", "tasks", vec![
            query("device", "Device id.", json!({ "type": "string" })),
            query("status", "Task status.", schema_ref("TaskStatus")),
            param_ref("offset"), param_ref("limit"),
        ], None, json!({ "200": listed("Tasks, oldest first.", "Task") }), false) },
        "/tasks/{id}": {
            "get": op("One task.", "tasks", vec![task_id()], None,
                json!({ "200": ok("The task.", schema_ref("Task")), "404": error("No such task.") }), false),
            "delete": op("Cancel an open task.", "tasks", vec![task_id()], None,
                json!({ "200": ok("The cancelled task.", schema_ref("Task")), "404": error("No such task."),
                        "409": error("The task is no longer open.") }), true),
        },
        "/tasks/{id}/retry": { "post": op("Queue a task in fault, expired or cancelled again.", "tasks",
            [vec![task_id()], wait()].concat(), None,
            { let mut a = task_answers(); a["409"] = error("The task cannot be retried in its status."); a }, true) },
        "/faults": { "get": op("List faults (tasks in status fault).", "faults", vec![
            query("device", "Device id.", json!({ "type": "string" })), param_ref("offset"), param_ref("limit"),
        ], None, json!({ "200": listed("Faults, oldest first.", "Fault") }), false) },
        "/faults/{id}": { "delete": op("Dismiss a fault: its task becomes cancelled.", "faults", vec![task_id()], None,
            json!({ "204": no_content("Dismissed."), "404": error("No such task."), "409": error("The task is not in fault.") }), true) },
        "/faults/{id}/retry": { "post": op("Retry the task of a fault.", "faults", [vec![task_id()], wait()].concat(), None,
            { let mut a = task_answers(); a["409"] = error("The task cannot be retried in its status."); a }, true) },
        "/files": { "get": op("List files.", "files", vec![
            query("fileType", "FileType equals.", json!({ "type": "string" })),
            query("oui", "OUI equals.", json!({ "type": "string" })),
            query("productClass", "ProductClass equals.", json!({ "type": "string" })),
            query("version", "Version equals.", json!({ "type": "string" })),
            param_ref("offset"), param_ref("limit"),
        ], None, json!({ "200": listed("Files by name.", "File") }), false) },
        "/files/{name}": {
            "get": op("A file's metadata, or its content with ?download.", "files", vec![file_name(),
                query("download", "Return the content instead of the metadata (flag).", json!({ "type": "boolean" }))], None,
                json!({
                    "200": { "description": "Metadata (JSON) or content (octet stream, with ETag and Content-Length).",
                             "content": { "application/json": { "schema": schema_ref("File") },
                                          "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                    "404": error("No such file."),
                }), false),
            "put": op("Upload a file (raw body).", "files", vec![file_name(),
                query("fileType", "TR-069 FileType, e.g. '1 Firmware Upgrade Image' (required here or in X-File-Type).", json!({ "type": "string" })),
                query("oui", "OUI the file is for (or X-File-Oui).", json!({ "type": "string" })),
                query("productClass", "ProductClass the file is for (or X-File-Product-Class).", json!({ "type": "string" })),
                query("version", "Version of the file (or X-File-Version).", json!({ "type": "string" })),
            ], Some(json!({ "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } })),
                json!({ "200": ok("Replaced.", schema_ref("File")), "201": ok("Stored.", schema_ref("File")),
                        "413": error("Larger than max_upload_bytes.") }), true),
            "delete": op("Delete a file.", "files", vec![file_name()], None,
                json!({ "204": no_content("Deleted."), "404": error("No such file.") }), true),
        },
    })
}

fn schemas() -> Value {
    let millis = || json!({ "type": "integer", "description": "Unix time in milliseconds." });
    let opt_millis = || json!({ "type": ["integer", "null"], "description": "Unix time in milliseconds." });
    let strings = || json!({ "type": "array", "items": { "type": "string" } });
    let task_kinds = [
        ("getParameterValues", json!({ "parameterNames": strings() }), vec!["parameterNames"]),
        (
            "setParameterValues",
            json!({ "parameterValues": { "type": "array", "description": "[path, value] or [path, value, xsdType]",
            "items": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 3 } } }),
            vec!["parameterValues"],
        ),
        ("refreshObject", json!({ "objectName": { "type": "string" } }), vec!["objectName"]),
        (
            "addObject",
            json!({ "objectName": { "type": "string" }, "parameterValues": { "type": "array",
            "items": { "type": "array", "items": { "type": "string" } } } }),
            vec!["objectName"],
        ),
        ("deleteObject", json!({ "objectName": { "type": "string" } }), vec!["objectName"]),
        ("getParameterAttributes", json!({ "parameterNames": strings() }), vec!["parameterNames"]),
        (
            "setParameterAttributes",
            json!({ "parameters": { "type": "array", "items": { "type": "object", "properties": {
            "name": { "type": "string" }, "notification": { "type": "integer", "minimum": 0, "maximum": 6 },
            "accessList": strings() }, "required": ["name"] } } }),
            vec!["parameters"],
        ),
        ("reboot", json!({}), vec![]),
        ("factoryReset", json!({}), vec![]),
        (
            "download",
            json!({ "file": { "type": "string" }, "url": { "type": "string" }, "fileType": { "type": "string" },
            "targetFileName": { "type": "string" }, "delaySeconds": { "type": "integer" },
            "username": { "type": "string" }, "password": { "type": "string" } }),
            vec![],
        ),
        (
            "upload",
            json!({ "fileType": { "type": "string" }, "url": { "type": "string" }, "delaySeconds": { "type": "integer" },
            "username": { "type": "string" }, "password": { "type": "string" } }),
            vec!["fileType"],
        ),
        ("scheduleInform", json!({ "delaySeconds": { "type": "integer", "minimum": 1 } }), vec!["delaySeconds"]),
        (
            "scheduleDownload",
            json!({ "file": { "type": "string" }, "url": { "type": "string" }, "fileType": { "type": "string" },
            "targetFileName": { "type": "string" }, "username": { "type": "string" }, "password": { "type": "string" },
            "timeWindows": { "type": "array", "minItems": 1, "maxItems": 2, "items": { "type": "object", "properties": {
                "windowStart": { "type": "integer" }, "windowEnd": { "type": "integer" }, "windowMode": { "type": "string" },
                "userMessage": { "type": "string" }, "maxRetries": { "type": "integer" } },
                "required": ["windowStart", "windowEnd"] } } }),
            vec!["timeWindows"],
        ),
        ("cancelTransfer", json!({ "commandKey": { "type": "string" } }), vec!["commandKey"]),
        ("getAllQueuedTransfers", json!({}), vec![]),
        (
            "changeDuState",
            json!({ "operations": { "type": "array", "minItems": 1, "items": { "type": "object",
            "description": "{type: install|update|uninstall, url, uuid, version, username, password, executionEnvRef}",
            "properties": { "type": { "enum": ["install", "update", "uninstall"] } }, "required": ["type"] } } }),
            vec!["operations"],
        ),
        ("getRpcMethods", json!({}), vec![]),
    ];
    let kinds: Vec<Value> = task_kinds
        .iter()
        .map(|(name, props, required)| {
            let mut props = props.clone();
            props["name"] = json!({ "const": name });
            let mut required: Vec<&str> = required.clone();
            required.insert(0, "name");
            json!({ "type": "object", "properties": props, "required": required })
        })
        .collect();
    json!({
        "Error": { "type": "object", "properties": { "error": { "type": "string" } }, "required": ["error"] },
        "Role": { "enum": ["admin", "operator", "readonly"],
                  "description": "admin: everything; operator: devices and tasks, reads all but tokens and the audit log; readonly: reads all but tokens and the audit log. read_only is accepted for readonly." },
        "NewToken": { "type": "object", "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 100 }, "role": schema_ref("Role"),
            "expiresIn": { "type": "integer", "minimum": 1, "description": "Seconds from now until the token expires." },
            "expiresAt": { "type": ["integer", "string"], "description": "When the token expires (Unix ms or RFC 3339); not with expiresIn." } },
            "required": ["name", "role"] },
        "Token": { "type": "object", "properties": {
            "name": { "type": "string" }, "role": schema_ref("Role"), "createdAt": millis(), "expiresAt": opt_millis(),
            "expired": { "type": "boolean" } } },
        "CreatedToken": { "type": "object", "properties": {
            "name": { "type": "string" }, "role": schema_ref("Role"), "createdAt": millis(), "expiresAt": opt_millis(),
            "token": { "type": "string", "description": "The secret, shown only here." } } },
        "AuditEntry": { "type": "object", "properties": {
            "id": { "type": "integer" }, "at": millis(),
            "actor": { "type": "string", "description": "token:<name> (anonymous with api_auth off), cpe:<device id> or acs." },
            "action": { "type": "string", "description": "A short verb: task.create, device.delete, cpe.refused…" },
            "target": { "type": ["string", "null"] },
            "address": { "type": ["string", "null"], "description": "The client's address, after trusted proxies." },
            "detail": { "type": "object", "description": "API writes: method, route, status, the other path parameters, location." } } },
        "Tags": { "type": "object", "properties": { "tags": strings() } },
        "Credentials": { "type": "object", "properties": { "username": { "type": "string" }, "password": { "type": "string" } },
                         "required": ["username", "password"] },
        "Device": { "type": "object", "properties": {
            "id": { "type": "string" }, "manufacturer": { "type": "string" }, "oui": { "type": "string" },
            "productClass": { "type": "string" }, "serialNumber": { "type": "string" }, "createdAt": millis(),
            "lastInform": opt_millis(), "lastBoot": opt_millis(), "lastBootstrap": opt_millis(), "lastEvents": strings(),
            "cwmpVersion": { "type": ["string", "null"] }, "remoteAddr": { "type": ["string", "null"] },
            "connectionRequest": { "type": "object", "properties": { "url": { "type": ["string", "null"] },
                                   "username": { "type": ["string", "null"] } } },
            "tags": strings(),
            "parameters": { "type": "object", "additionalProperties": { "type": ["string", "null"] },
                            "description": "Only with fields= naming parameter paths: path to value." },
        } },
        "DeviceDetail": { "allOf": [schema_ref("Device"), { "type": "object", "properties": {
            "hasCredentials": { "type": "boolean" }, "inSession": { "type": "boolean" },
            "parameters": { "type": "array", "items": schema_ref("Parameter") } } }] },
        "Parameter": { "type": "object", "properties": {
            "path": { "type": "string" }, "value": { "type": "string" }, "type": { "type": "string" },
            "object": { "type": "boolean" }, "writable": { "type": "boolean" }, "valueTs": millis(),
            "notification": { "type": "integer" }, "accessList": strings() }, "required": ["path", "object"] },
        "TaskKind": { "oneOf": kinds, "discriminator": { "propertyName": "name" } },
        "NewTask": { "allOf": [schema_ref("TaskKind"), { "type": "object", "properties": {
            "notBefore": { "type": ["integer", "string"], "description": "Not before (Unix ms or RFC 3339)." },
            "expiresAt": { "type": ["integer", "string"], "description": "Give up after (Unix ms or RFC 3339)." },
            "maxAttempts": { "type": "integer", "minimum": 1, "maximum": 100 } } }] },
        "TaskStatus": { "enum": ["pending", "sent", "waiting", "done", "fault", "expired", "cancelled"] },
        "Task": { "allOf": [schema_ref("TaskKind"), { "type": "object", "properties": {
            "id": { "type": "integer" }, "device": { "type": "string" }, "status": schema_ref("TaskStatus"),
            "createdAt": millis(), "updatedAt": millis(), "notBefore": millis(), "expiresAt": opt_millis(),
            "attempts": { "type": "integer" }, "maxAttempts": { "type": "integer" },
            "result": { "description": "What the device answered (method-specific)." },
            "fault": { "type": "object", "properties": { "code": { "type": "integer" }, "message": { "type": "string" } } },
            "connectionRequest": schema_ref("ConnectionRequest") } }] },
        "ConnectionRequest": { "type": "object", "properties": {
            "state": { "enum": ["deferred", "sent", "retrying", "accepted", "sessionStarted", "failed"] },
            "attempts": { "type": "integer" }, "reason": { "type": "string" }, "httpStatus": { "type": "integer" },
            "retryAt": millis(), "requestedAt": millis(), "updatedAt": millis() } },
        "Fault": { "type": "object", "properties": {
            "task": { "type": "integer" }, "device": { "type": "string" }, "name": { "type": "string" },
            "code": { "type": "integer" }, "message": { "type": "string" }, "time": millis(),
            "attempts": { "type": "integer" } } },
        "File": { "type": "object", "properties": {
            "name": { "type": "string" }, "fileType": { "type": "string" }, "oui": { "type": "string" },
            "productClass": { "type": "string" }, "version": { "type": "string" }, "size": { "type": "integer" },
            "sha256": { "type": "string" }, "createdAt": millis() } },
    })
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cwmp ACS REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Devices, tasks, faults, files, tokens and the audit log of the cwmp ACS. See docs/api.md.",
        },
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
            "parameters": {
                "offset": { "name": "offset", "in": "query", "required": false, "description": "Items to skip.",
                            "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                "limit": { "name": "limit", "in": "query", "required": false, "description": "Most items to return.",
                           "schema": { "type": "integer", "minimum": 1, "maximum": 10000, "default": 100 } },
            },
            "responses": {
                "Unauthorized": error("No token, an unknown one, or an expired one."),
                "Forbidden": error("The token's role does not allow this."),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` points at something the document defines.
    #[test]
    fn references_resolve() {
        fn walk(v: &Value, doc: &Value, seen: &mut usize) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        let pointer = r.strip_prefix('#').expect("local reference");
                        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
                        *seen += 1;
                    }
                    map.values().for_each(|x| walk(x, doc, seen));
                }
                Value::Array(items) => items.iter().for_each(|x| walk(x, doc, seen)),
                _ => {}
            }
        }
        let doc = document();
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 20);
    }
}
