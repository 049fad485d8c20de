-- Provisioning: presets, provision scripts, virtual parameters, and faults per channel.
CREATE TABLE presets (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE provisions (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE virtual_parameters (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE channel_faults (
    device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    retries INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    retry_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, channel)
);
