//! Schema migrations.
//!
//! Each crate that keeps tables lists its schema changes as [`Migration`]s,
//! numbered from 1, with one SQL text per engine. At start-up the pending
//! ones are applied in a single transaction, so a failed upgrade leaves the
//! schema as it was. The table `flowline_migrations` records what was applied,
//! per component, with a checksum that catches a migration edited after the
//! fact.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Backend, Database, DbError};

/// One step of a component's schema, for both engines.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Position in the component's history, from 1, without gaps.
    pub version: u32,
    /// A short name, such as `create tags`.
    pub name: &'static str,
    /// The statements for SQLite, separated by semicolons.
    pub sqlite: &'static str,
    /// The statements for PostgreSQL, separated by semicolons.
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }

    fn checksum(&self, backend: Backend) -> String {
        let digest = Sha256::digest(self.sql(backend).as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS flowline_migrations (
    component TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at_us BIGINT NOT NULL,
    PRIMARY KEY (component, version)
)";

/// Serialises migrations from several processes starting at once against
/// one PostgreSQL server ("flowline" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x666C_6F77_6C69_6E65;

pub(crate) async fn run(
    database: &Database,
    component: &str,
    migrations: &[Migration],
) -> Result<(), DbError> {
    for (index, migration) in migrations.iter().enumerate() {
        assert_eq!(
            migration.version as usize,
            index + 1,
            "bug: migrations of {component} must be numbered 1, 2, 3 … in order"
        );
    }

    let backend = database.backend();
    let mut transaction = database.begin_write(MIGRATION_LOCK_KEY).await?;
    sqlx::raw_sql(CREATE_TABLE)
        .execute(&mut *transaction)
        .await?;

    let applied = sqlx::query(
        "SELECT version, checksum FROM flowline_migrations WHERE component = $1 ORDER BY version",
    )
    .bind(component)
    .fetch_all(&mut *transaction)
    .await?;
    let mut applied_versions = Vec::with_capacity(applied.len());
    for row in &applied {
        let version = u32::try_from(row.try_get::<i64, _>("version")?).unwrap_or(u32::MAX);
        let checksum: String = row.try_get("checksum")?;
        let Some(migration) = migrations.get(version as usize - 1) else {
            return Err(DbError::NewerSchema {
                component: component.to_owned(),
                applied: version,
                known: migrations.len() as u32,
            });
        };
        if migration.checksum(backend) != checksum {
            return Err(DbError::ChangedMigration {
                component: component.to_owned(),
                version,
                name: migration.name.to_owned(),
            });
        }
        applied_versions.push(version);
    }

    for migration in migrations
        .iter()
        .filter(|m| !applied_versions.contains(&m.version))
    {
        let failed = |error| DbError::Migration {
            component: component.to_owned(),
            version: migration.version,
            name: migration.name.to_owned(),
            error,
        };
        sqlx::raw_sql(migration.sql(backend))
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO flowline_migrations (component, version, name, checksum, applied_at_us)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(component)
        .bind(i64::from(migration.version))
        .bind(migration.name)
        .bind(migration.checksum(backend))
        .bind(flowline_core::Timestamp::now().as_micros())
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
    }
    transaction.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Migration = Migration {
        version: 1,
        name: "create wells",
        sqlite: "CREATE TABLE wells (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        postgres: "CREATE TABLE wells (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    };
    const SECOND: Migration = Migration {
        version: 2,
        name: "add pad",
        sqlite: "ALTER TABLE wells ADD COLUMN pad TEXT",
        postgres: "ALTER TABLE wells ADD COLUMN pad TEXT",
    };

    async fn sqlite() -> (tempfile::TempDir, Database) {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("test.db").display());
        let database = Database::connect(&url, 2).await.unwrap();
        (directory, database)
    }

    #[tokio::test]
    async fn pending_migrations_are_applied_once() {
        let (_directory, database) = sqlite().await;
        database.migrate("test", &[FIRST]).await.unwrap();
        database.migrate("test", &[FIRST, SECOND]).await.unwrap();
        database.migrate("test", &[FIRST, SECOND]).await.unwrap();
        sqlx::query("INSERT INTO wells (id, name, pad) VALUES (1, 'w-1', 'pad-1')")
            .execute(database.pool())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failed_migration_applies_nothing() {
        let (_directory, database) = sqlite().await;
        let broken = Migration {
            version: 2,
            name: "broken",
            sqlite: "ALTER TABLE nowhere ADD x INT",
            ..SECOND
        };
        let error = database
            .migrate("test", &[FIRST, broken])
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("migration test/2 (broken) failed"),
            "{error}"
        );
        // The first migration was rolled back with the second.
        let tables = sqlx::query("SELECT name FROM sqlite_master WHERE name = 'wells'")
            .fetch_all(database.pool())
            .await
            .unwrap();
        assert!(tables.is_empty());
    }

    #[tokio::test]
    async fn an_edited_migration_is_refused() {
        let (_directory, database) = sqlite().await;
        database.migrate("test", &[FIRST]).await.unwrap();
        let edited = Migration {
            sqlite: "CREATE TABLE wells (id INTEGER PRIMARY KEY)",
            ..FIRST
        };
        let error = database.migrate("test", &[edited]).await.unwrap_err();
        assert!(
            matches!(error, DbError::ChangedMigration { version: 1, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_schema_from_a_newer_build_is_refused() {
        let (_directory, database) = sqlite().await;
        database.migrate("test", &[FIRST, SECOND]).await.unwrap();
        let error = database.migrate("test", &[FIRST]).await.unwrap_err();
        assert!(
            matches!(
                error,
                DbError::NewerSchema {
                    applied: 2,
                    known: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn components_have_separate_histories() {
        let (_directory, database) = sqlite().await;
        database.migrate("test", &[FIRST]).await.unwrap();
        let other = Migration {
            name: "create pads",
            sqlite: "CREATE TABLE pads (id INTEGER)",
            ..FIRST
        };
        database.migrate("other", &[other]).await.unwrap();
    }
}
