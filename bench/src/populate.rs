//! Registers many devices in the ACS's SQLite store quickly, with SQL straight into its
//! tables (the ACS is not running meanwhile): each device as if it had informed once,
//! with its Connection Request credentials set and the 15 parameters of its Inform stored.

use std::path::Path;
use std::time::Instant;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection as _, SqliteConnection};

use crate::cpe;

/// Devices per transaction.
const BATCH: u64 = 100_000;

/// Makes sure the store holds devices `1..=count`; returns how many were added and how long
/// it took.
pub async fn populate(db: &Path, count: u64) -> anyhow::Result<(u64, f64)> {
    // The ACS's own code creates (or migrates) the schema.
    drop(cwmp_acs::store::sqlite::SqliteStore::open(db, cwmp_acs::store::sqlite::Durability::Full).await?);
    let options = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-262144");
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE device_key LIKE ?")
        .bind(format!("{}-{}-%", cpe::OUI, cpe::PRODUCT_CLASS))
        .fetch_one(&mut conn)
        .await?;
    let have = have as u64;
    if have >= count {
        return Ok((0, 0.0));
    }
    let start = Instant::now();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut tx = conn.begin().await?;
    for path in cpe::INFORM_PARAMS {
        sqlx::query("INSERT OR IGNORE INTO paths (path) VALUES (?)").bind(path).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let in_list = cpe::INFORM_PARAMS.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(",");
    let mut from = have + 1;
    while from <= count {
        let to = (from + BATCH - 1).min(count);
        let mut tx = conn.begin().await?;
        sqlx::query(
            "WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
             INSERT INTO devices (device_key, oui, product_class, serial_number, manufacturer, created_at,
                                  last_inform, last_boot, last_events, cwmp_version, remote_addr, cr_url,
                                  cr_username, cr_password)
             SELECT ?3 || printf('BENCH%08d', n), ?4, ?5, printf('BENCH%08d', n), ?6, ?7, ?7, ?7,
                    '[\"1 BOOT\",\"2 PERIODIC\"]', '1.2', '127.0.0.1',
                    printf('http://10.%d.%d.%d:7547/cr/%d', (n >> 16) & 255, (n >> 8) & 255, n & 255, n),
                    'cr-' || n, 'secret-' || n
             FROM seq",
        )
        .bind(from as i64)
        .bind(to as i64)
        .bind(format!("{}-{}-", cpe::OUI, cpe::PRODUCT_CLASS))
        .bind(cpe::OUI)
        .bind(cpe::PRODUCT_CLASS)
        .bind(cpe::MANUFACTURER)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Values as `cpe::inform_value` gives them, in primary-key order.
        let sql = format!(
            "INSERT INTO params (device_id, path_id, value, type, object, value_ts)
             SELECT d.id, p.id,
                CASE p.path
                  WHEN 'Device.RootDataModelVersion' THEN '2.17'
                  WHEN 'Device.DeviceInfo.HardwareVersion' THEN 'HW-A1'
                  WHEN 'Device.DeviceInfo.SoftwareVersion' THEN
                    CASE WHEN CAST(substr(d.serial_number, 6) AS INTEGER) % 100 = 0 THEN '2.0' ELSE '1.0' END
                  WHEN 'Device.DeviceInfo.ModelName' THEN 'Bench Gateway 1'
                  WHEN 'Device.DeviceInfo.UpTime' THEN '1000'
                  WHEN 'Device.ManagementServer.ConnectionRequestURL' THEN d.cr_url
                  WHEN 'Device.ManagementServer.PeriodicInformInterval' THEN '3600'
                  WHEN 'Device.IP.Interface.1.IPv4Address.1.IPAddress' THEN
                    printf('100.%d.%d.%d', (d.id >> 16) & 255, (d.id >> 8) & 255, d.id & 255)
                  WHEN 'Device.WiFi.SSID.1.SSID' THEN 'home-' || CAST(substr(d.serial_number, 6) AS INTEGER)
                  WHEN 'Device.Ethernet.Interface.1.Status' THEN 'Up'
                  ELSE ''
                END,
                CASE WHEN p.path IN ('Device.DeviceInfo.UpTime', 'Device.ManagementServer.PeriodicInformInterval')
                     THEN 'xsd:unsignedInt' ELSE 'xsd:string' END,
                0, ?1
             FROM devices d JOIN paths p ON p.path IN ({in_list})
             WHERE d.device_key >= ?2 AND d.device_key <= ?3
             ORDER BY d.id, p.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(cpe::key(from))
            .bind(cpe::key(to))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        eprintln!("  registered devices up to {to} ({:.0} s)", start.elapsed().as_secs_f64());
        from = to + 1;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    Ok((count - have, start.elapsed().as_secs_f64()))
}

/// Bytes of the store on disk (database, WAL and shared-memory files).
pub fn store_size(db: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(&name).map_or(0, |m| m.len());
    }
    total
}
