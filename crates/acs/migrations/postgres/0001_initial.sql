-- The ACS store on PostgreSQL (docs/operations.md). Same model as SQLite: devices with their
-- identity and status, the parameter tree as one row per path (paths interned), tasks,
-- files, tokens, provisioning. Times are Unix milliseconds. Texts that are compared as
-- ranges or sorted (device keys, paths) use the "C" collation: byte order, as in SQLite, so
-- prefix scans (`path >= 'Device.WiFi.' AND path < 'Device.WiFi.\u{10FFFF}'`) use the index
-- whatever the database's collation is.

CREATE TABLE devices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_key TEXT COLLATE "C" NOT NULL UNIQUE,
    oui TEXT NOT NULL,
    product_class TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_inform BIGINT,
    last_boot BIGINT,
    last_bootstrap BIGINT,
    last_events TEXT[] NOT NULL DEFAULT '{}',
    cwmp_version TEXT,
    remote_addr TEXT,
    cr_url TEXT,
    cr_username TEXT,
    cr_password TEXT,
    auth_username TEXT,
    auth_ha1 TEXT,
    auth_password_hash TEXT
);
-- The REST API's filters and sort orders (GET /devices). Read backwards, the last_inform
-- index serves the ascending order too, NULLs first as in SQLite.
CREATE INDEX devices_last_inform ON devices (last_inform DESC NULLS LAST);
CREATE INDEX devices_created_at ON devices (created_at);
CREATE INDEX devices_oui ON devices (oui);
CREATE INDEX devices_product_class ON devices (product_class);
CREATE INDEX devices_serial_number ON devices (serial_number);

CREATE TABLE device_tags (
    tag TEXT COLLATE "C" NOT NULL,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, device_id)
);
CREATE INDEX device_tags_by_device ON device_tags (device_id);

CREATE TABLE paths (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path TEXT COLLATE "C" NOT NULL UNIQUE
);

-- One row per node of a device's tree: an Inform or a GetParameterValuesResponse updates
-- only the rows it carries (a JSONB document per device would be rewritten whole, with all
-- its TOAST pages, at every Inform).
CREATE TABLE params (
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    path_id INT NOT NULL,
    value TEXT,
    type TEXT,
    object BOOLEAN NOT NULL DEFAULT false,
    writable BOOLEAN,
    value_ts BIGINT,
    names_ts BIGINT,
    notification INT,
    access_list TEXT[],
    PRIMARY KEY (device_id, path_id)
);
-- `param.<path>=<value>` filters: the device ids come from the index alone (index-only
-- scans). A B-tree entry must stay under ~2.7 kB, so longer values are left out; a filter on
-- such a value reads the path's rows instead.
CREATE INDEX params_by_value ON params (path_id, value, device_id) WHERE octet_length(value) <= 2000;
-- A value is common under one path and absent under the others (a software version): the
-- planner needs the two columns' joint frequencies to choose between walking the devices in
-- the requested order and collecting the matches first.
CREATE STATISTICS params_path_value (mcv) ON path_id, value FROM params;

CREATE TABLE tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind JSONB NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    expires_at BIGINT,
    attempts INT NOT NULL DEFAULT 0,
    max_attempts INT NOT NULL,
    result JSONB,
    fault_code BIGINT,
    fault_string TEXT
);
CREATE INDEX tasks_by_device ON tasks (device_id, id);
CREATE INDEX tasks_by_status ON tasks (status, id);
CREATE INDEX tasks_open ON tasks (device_id, id) WHERE status IN ('pending', 'sent', 'waiting');
CREATE INDEX tasks_expiring ON tasks (expires_at)
    WHERE status IN ('pending', 'sent', 'waiting') AND expires_at IS NOT NULL;

CREATE TABLE files (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    file_type TEXT NOT NULL,
    oui TEXT NOT NULL DEFAULT '',
    product_class TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE file_chunks (
    file_id BIGINT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, seq)
);

CREATE TABLE api_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE presets (
    name TEXT COLLATE "C" PRIMARY KEY,
    body JSONB NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE provisions (
    name TEXT COLLATE "C" PRIMARY KEY,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE virtual_parameters (
    name TEXT COLLATE "C" PRIMARY KEY,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE channel_faults (
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    channel TEXT COLLATE "C" NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    retries INT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    retry_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, channel)
);

-- Several ACS nodes (docs/operations.md) -------------------------------------------------

-- The database's clock, in Unix milliseconds: leases are compared against one clock, not
-- against the clocks of the nodes.
CREATE FUNCTION now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE
    AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;

-- Fencing tokens: every claim or take-over of a session gets a new, larger one.
CREATE SEQUENCE session_tokens;

-- A device's session: its lease (owner node, fencing token, expiry) and its checkpoint
-- (the session machine's state after the last step), one row per device. Claimed at the
-- Inform, updated (lease renewed, checkpoint replaced, token checked) at every step,
-- deleted when the session ends. The device row may be created in the same transaction
-- as the claim, hence the deferred foreign key.
CREATE TABLE cwmp_sessions (
    device_key TEXT COLLATE "C" PRIMARY KEY
        REFERENCES devices (device_key) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    session_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    client_ip TEXT,
    state JSONB,
    updated_at BIGINT NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX cwmp_sessions_client_ip ON cwmp_sessions (client_ip);

-- Moves whenever presets, scripts or files change; nodes poll it (the safety net under
-- LISTEN/NOTIFY, which drops notifications while a listener reconnects).
CREATE TABLE config_version (
    id INT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

-- Secrets every node shares (the Digest nonce key).
CREATE TABLE cluster_secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
