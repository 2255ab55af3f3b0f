//! Flowline's relational data-access layer.
//!
//! Metadata (the tag catalog now; users, alarms and the command audit trail
//! later) lives in SQLite on a pilot and in PostgreSQL in production. One
//! [`Database`] opens either from a URL, and every crate that keeps tables
//! declares its schema as a list of [`Migration`]s that are applied at
//! start-up. Queries are written once, in the SQL both engines accept, with
//! `$1`-style placeholders.

mod migrate;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};
use url::Url;

pub use migrate::Migration;
pub use sqlx;

/// The engine behind a [`Database`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file, or memory: the embedded default.
    Sqlite,
    /// A PostgreSQL server: production.
    Postgres,
}

/// Why a database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL cannot name a database Flowline can use.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given, with any password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database did not accept a connection.
    #[error("cannot connect to database {url}: {error}")]
    Connect {
        /// The URL, with any password hidden.
        url: String,
        /// What the driver reported.
        error: sqlx::Error,
    },
    /// A migration failed; nothing of it was applied.
    #[error("migration {component}/{version} ({name}) failed: {error}")]
    Migration {
        /// The crate whose schema it is.
        component: String,
        /// The migration's version.
        version: u32,
        /// The migration's name.
        name: String,
        /// What the database reported.
        error: sqlx::Error,
    },
    /// An applied migration differs from the one this build carries.
    #[error(
        "migration {component}/{version} ({name}) was changed after it was applied to this \
         database; restore the original migration and add a new one instead"
    )]
    ChangedMigration {
        /// The crate whose schema it is.
        component: String,
        /// The migration's version.
        version: u32,
        /// The migration's name.
        name: String,
    },
    /// The database was migrated by a newer Flowline.
    #[error(
        "the database schema of {component} is at version {applied}, newer than this build \
         knows ({known}); run a Flowline at least as new as the one that migrated it"
    )]
    NewerSchema {
        /// The crate whose schema it is.
        component: String,
        /// The newest version applied to the database.
        applied: u32,
        /// The newest version this build carries.
        known: u32,
    },
    /// A query failed.
    #[error("{0}")]
    Query(sqlx::Error),
}

// The driver's errors are shown in the message, not chained as sources:
// sqlx repeats its source's text in its own message, and a chain would
// print it twice.
impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        DbError::Query(error)
    }
}

/// An open pool of connections to SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

/// The longest a caller waits for a pooled connection before an error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// Opens the database that `url` names, with at most `max_connections`
    /// connections.
    ///
    /// Accepted are `sqlite://PATH` (relative or absolute; the file is
    /// created when missing, its directory must exist), `sqlite::memory:`,
    /// and `postgres://` or `postgresql://` URLs, including
    /// `?options[search_path]=SCHEMA` to keep Flowline's tables in a schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database, DbError> {
        sqlx::any::install_default_drivers();
        let shown = redact(url);
        let (backend, url) = check_url(url)?;
        let options: AnyConnectOptions =
            url.parse()
                .map_err(|error: sqlx::Error| DbError::InvalidUrl {
                    url: shown.clone(),
                    reason: error.to_string(),
                })?;

        // One direct attempt first: the pool would retry a refused
        // connection until its timeout, where a person wants the error now.
        let probe = AnyConnection::connect_with(&options)
            .await
            .map_err(|error| DbError::Connect {
                url: shown.clone(),
                error,
            })?;
        drop(probe);

        // An in-memory SQLite database lives and dies with its connection,
        // so the pool keeps exactly one, forever.
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let pool_options = if in_memory {
            AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            AnyPoolOptions::new().max_connections(max_connections.max(1))
        };
        let pool = pool_options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|error| DbError::Connect {
                url: shown.clone(),
                error,
            })?;
        Ok(Database {
            pool,
            backend,
            url: shown,
        })
    }

    /// The engine behind this database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this database was opened with, with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write, serialised with every other
    /// writer that passes the same `lock_key`.
    ///
    /// Serialising means that numbers the writers draw from a sequence
    /// commit in number order, so a reader that has seen number N has seen
    /// everything before it. On SQLite the write lock is taken at once
    /// (`BEGIN IMMEDIATE`), which serialises all writers and spares a
    /// read-then-write transaction from failing when another commits in
    /// between; on PostgreSQL a transaction-scoped advisory lock on
    /// `lock_key` does it.
    pub async fn begin_write(&self, lock_key: i64) -> Result<Transaction<'static, Any>, DbError> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut transaction = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_key)
                    .execute(&mut *transaction)
                    .await?;
                Ok(transaction)
            }
        }
    }

    /// Starts a transaction that reads one consistent state of the
    /// database across all its statements.
    pub async fn begin_read(&self) -> Result<Transaction<'static, Any>, DbError> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin().await?),
            Backend::Postgres => Ok(self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?),
        }
    }

    /// Applies the migrations of `component` that this database lacks, in
    /// version order, each in its own transaction. See [`Migration`].
    pub async fn migrate(&self, component: &str, migrations: &[Migration]) -> Result<(), DbError> {
        migrate::run(self, component, migrations).await
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Checks that `url` names a database Flowline can open, without opening
/// it, and returns its backend. For configuration checks.
pub fn check(url: &str) -> Result<Backend, DbError> {
    check_url(url).map(|(backend, _)| backend)
}

/// Checks the scheme and shape of `url` and returns the backend it names and
/// the URL to hand to the driver.
fn check_url(url: &str) -> Result<(Backend, String), DbError> {
    let invalid = |reason: &str| DbError::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .unwrap_or_default();
    match scheme {
        "sqlite" => {
            if url.contains(":memory:") {
                return Ok((Backend::Sqlite, url.to_owned()));
            }
            let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split_once('?').map_or(path, |(path, _)| path);
            if path.is_empty() {
                return Err(invalid(
                    "it names no file; expected sqlite://PATH or sqlite::memory:",
                ));
            }
            let directory = std::path::Path::new(path)
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty());
            if let Some(directory) = directory.filter(|dir| !dir.is_dir()) {
                return Err(invalid(&format!(
                    "directory {} does not exist",
                    directory.display()
                )));
            }
            // Create the file on first use unless the URL chose a mode.
            let url = if url.contains("mode=") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            Ok((Backend::Sqlite, url))
        }
        "postgres" | "postgresql" => {
            let parsed = Url::parse(url).map_err(|error| invalid(&error.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) && !url.contains("host=") {
                return Err(invalid(
                    "it names no host; expected postgres://USER@HOST:PORT/DATABASE",
                ));
            }
            Ok((Backend::Postgres, url.to_owned()))
        }
        "" => Err(invalid(
            "it has no scheme; expected sqlite://PATH or postgres://HOST/DATABASE",
        )),
        other => Err(invalid(&format!(
            "unsupported scheme `{other}`; expected sqlite://PATH or postgres://HOST/DATABASE"
        ))),
    }
}

/// `url` with any password replaced by `***`, fit for logs and errors.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password fails only for URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_schemes_are_named() {
        let error = check_url("mysql://root@localhost/flowline").unwrap_err();
        assert!(
            error.to_string().contains("unsupported scheme `mysql`"),
            "{error}"
        );
        let error = check_url("flowline.db").unwrap_err();
        assert!(error.to_string().contains("no scheme"), "{error}");
    }

    #[test]
    fn sqlite_urls_name_a_file_in_an_existing_directory() {
        let error = check_url("sqlite:///no/such/directory/flowline.db").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("directory /no/such/directory does not exist"),
            "{error}"
        );
        assert!(check_url("sqlite://").is_err());
        let (backend, url) = check_url("sqlite://flowline.db").unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!(url, "sqlite://flowline.db?mode=rwc");
    }

    #[test]
    fn postgres_urls_need_a_host_and_passwords_are_hidden() {
        assert!(check_url("postgres:///flowline").is_err());
        assert_eq!(
            check_url("postgresql://db.site/flowline").unwrap().0,
            Backend::Postgres
        );
        assert_eq!(
            redact("postgres://flowline:s3cret@db/flowline"),
            "postgres://flowline:***@db/flowline"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_with_its_url() {
        // Port 1 on loopback is closed on any ordinary machine.
        let error = Database::connect("postgres://flowline:pw@127.0.0.1:1/flowline", 1)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(
                "cannot connect to database postgres://flowline:***@127.0.0.1:1/flowline"
            ),
            "{message}"
        );
    }
}
