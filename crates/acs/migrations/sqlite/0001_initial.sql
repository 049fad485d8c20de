-- Devices: identity and status columns. The parameter tree is in `params`, one row per
-- path, with paths interned in `paths` so a row stays small (docs/architecture.md).
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    device_key TEXT NOT NULL UNIQUE,
    oui TEXT NOT NULL,
    product_class TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_inform INTEGER,
    last_boot INTEGER,
    last_bootstrap INTEGER,
    last_events TEXT NOT NULL DEFAULT '[]',
    cwmp_version TEXT,
    remote_addr TEXT,
    cr_url TEXT,
    cr_username TEXT,
    cr_password TEXT,
    auth_username TEXT,
    auth_ha1 TEXT,
    auth_password_hash TEXT
);
CREATE INDEX devices_last_inform ON devices (last_inform);

CREATE TABLE device_tags (
    tag TEXT NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, device_id)
) WITHOUT ROWID;
CREATE INDEX device_tags_by_device ON device_tags (device_id);

CREATE TABLE paths (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);

CREATE TABLE params (
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    path_id INTEGER NOT NULL,
    value TEXT,
    type TEXT,
    object INTEGER NOT NULL DEFAULT 0,
    writable INTEGER,
    value_ts INTEGER,
    names_ts INTEGER,
    notification INTEGER,
    access_list TEXT,
    PRIMARY KEY (device_id, path_id)
) WITHOUT ROWID;
CREATE INDEX params_by_value ON params (path_id, value) WHERE value IS NOT NULL;

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    result TEXT,
    fault_code INTEGER,
    fault_string TEXT
);
CREATE INDEX tasks_by_device ON tasks (device_id, status);
CREATE INDEX tasks_by_status ON tasks (status, updated_at);

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    file_type TEXT NOT NULL,
    oui TEXT NOT NULL DEFAULT '',
    product_class TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE file_chunks (
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_id, seq)
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
