//! PostgreSQL for tests: `CWMP_TEST_POSTGRES_URL` names a database (CI: PostgreSQL on
//! 127.0.0.1:5432, trust authentication, database `test`); every test gets a schema of its
//! own, dropped when the test ends (also when it fails). Without the variable the tests that
//! need PostgreSQL say so and skip (fail under `CWMP_TEST_REQUIRE_ALL=1`).

#![allow(dead_code)] // each test binary uses a different part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cwmp_acs::store::postgres::{PgStore, PostgresConfig};
use sqlx::Connection;

pub const URL_VAR: &str = "CWMP_TEST_POSTGRES_URL";

/// The database URL, or `None` after [`cwmp_test_support::skip`].
pub fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            cwmp_test_support::skip(&format!("{URL_VAR} not set"));
            None
        }
    }
}

/// A schema that exists for one test.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    /// A fresh schema, or `None` (skip) when no database is configured.
    pub async fn create() -> Option<PgSchema> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let url = url()?;
        use rand::RngExt as _;
        let name = format!(
            "cwmp_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::rng().random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect to CWMP_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\""))).execute(&mut conn).await.expect("schema");
        conn.close().await.ok();
        Some(PgSchema { url, name })
    }

    /// Settings for a store (or node) in this schema, with a small pool: several nodes and
    /// tests share the server's connections.
    pub fn config(&self, pool_size: u32) -> PostgresConfig {
        PostgresConfig {
            schema: Some(self.name.clone()),
            pool_size,
            writers: 2,
            acquire_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            ..PostgresConfig::default()
        }
    }

    pub async fn store(&self) -> PgStore {
        PgStore::connect(&self.url, &self.config(6)).await.expect("PostgreSQL store")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}
