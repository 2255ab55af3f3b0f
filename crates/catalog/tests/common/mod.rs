//! A fresh, private database for each test, on SQLite or PostgreSQL.
//!
//! PostgreSQL tests use the server named by `TEST_POSTGRES_URL` (default:
//! the local server at 127.0.0.1:5432, database `test`, trust auth). Each
//! test gets its own schema, dropped when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use flowline_db::{Database, sqlx};

/// The server PostgreSQL tests use unless `TEST_POSTGRES_URL` says otherwise.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDatabase {
    pub database: Database,
    _directory: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn sqlite() -> TestDatabase {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", directory.path().join("catalog.db").display());
        let database = Database::connect(&url, 4).await.expect("open SQLite");
        TestDatabase {
            database,
            _directory: Some(directory),
            schema: None,
        }
    }

    pub async fn postgres() -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let schema = format!(
            "flowline_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            flowline_core::Timestamp::now().as_micros() % 1_000_000
        );
        let admin = Database::connect(&base, 1)
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL for tests ({base}): {error}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(admin.pool())
            .await
            .expect("create test schema");
        admin.close().await;

        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options[search_path]={schema}");
        let database = Database::connect(&url, 4).await.expect("open PostgreSQL");
        TestDatabase {
            database,
            _directory: None,
            schema: Some((base, schema)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs outside any runtime the test may still hold; use our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = Database::connect(&base, 1).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(admin.pool())
                    .await?;
                admin.close().await;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test schema: {error}");
        }
    }
}

/// Runs each listed test once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test($crate::common::TestDatabase::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test($crate::common::TestDatabase::postgres().await).await
            })*
        }
    };
}
