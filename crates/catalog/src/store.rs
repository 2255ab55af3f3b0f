//! The catalog's tables: reading rows into the model and writing it back.
//!
//! Every function takes a connection (usually a transaction) so that the
//! caller decides what commits together. The SQL is the dialect SQLite and
//! PostgreSQL share; see the migrations under `migrations/`.

use std::collections::HashMap;
use std::str::FromStr;

use flowline_core::{AssetId, NodePath, TagId, Timestamp};
use flowline_db::Migration;
use flowline_db::sqlx::any::AnyRow;
use flowline_db::sqlx::{self, AnyConnection, AssertSqlSafe, Row};

use crate::error::CatalogError;
use crate::model::{Asset, AssetSpec, Attributes, Limits, SourceBinding, Tag, TagSpec};
use crate::{Change, Entity, Operation};

/// The catalog's schema, for [`flowline_db::Database::migrate`].
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "create catalog",
        sqlite: include_str!("../migrations/sqlite/0001_catalog.sql"),
        postgres: include_str!("../migrations/postgres/0001_catalog.sql"),
    },
    Migration {
        version: 2,
        name: "writable tags",
        sqlite: include_str!("../migrations/sqlite/0002_writable_tags.sql"),
        postgres: include_str!("../migrations/postgres/0002_writable_tags.sql"),
    },
];

macro_rules! asset_columns {
    () => {
        "id, path, kind, description, attributes, version"
    };
}

macro_rules! tag_columns {
    () => {
        "id, path, description, unit, data_type, valid_lo, valid_hi, engineering_lo, \
         engineering_hi, max_change_per_s, deadband, criticality, protocol, address, \
         writable, attributes, version"
    };
}

macro_rules! change_columns {
    () => {
        "version, at_us, actor, operation, entity, entity_id, path, fields, before_json, \
         after_json"
    };
}

/// Assets and tags by path: the part of the tree a write needs to see.
#[derive(Default)]
pub(crate) struct Tree {
    pub(crate) assets: HashMap<NodePath, Asset>,
    pub(crate) tags: HashMap<NodePath, Tag>,
}

/// The version of the newest change; 0 for a catalog never written.
pub(crate) async fn current_version(conn: &mut AnyConnection) -> Result<u64, CatalogError> {
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM catalog_changes")
        .fetch_one(conn)
        .await?;
    Ok(version.map_or(0, |version| version as u64))
}

/// Every asset and tag, ordered by path.
pub(crate) async fn load_all(
    conn: &mut AnyConnection,
) -> Result<(Vec<Asset>, Vec<Tag>), CatalogError> {
    let assets = sqlx::query(concat!(
        "SELECT ",
        asset_columns!(),
        " FROM catalog_assets ORDER BY path"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(asset_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let tags = sqlx::query(concat!(
        "SELECT ",
        tag_columns!(),
        " FROM catalog_tags ORDER BY path"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(tag_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    Ok((assets, tags))
}

/// Every asset and tag, as a tree for planning a large write.
pub(crate) async fn load_tree(conn: &mut AnyConnection) -> Result<Tree, CatalogError> {
    let (assets, tags) = load_all(conn).await?;
    Ok(Tree {
        assets: assets
            .into_iter()
            .map(|asset| (asset.spec.path.clone(), asset))
            .collect(),
        tags: tags
            .into_iter()
            .map(|tag| (tag.spec.path.clone(), tag))
            .collect(),
    })
}

/// The assets and tags at exactly these paths, for planning a small write.
pub(crate) async fn load_paths(
    conn: &mut AnyConnection,
    paths: &[&NodePath],
) -> Result<Tree, CatalogError> {
    let mut tree = Tree::default();
    if paths.is_empty() {
        return Ok(tree);
    }
    let placeholders: Vec<String> = (1..=paths.len()).map(|n| format!("${n}")).collect();
    let list = placeholders.join(", ");

    // SAFETY of the SQL text: only numbered placeholders are interpolated.
    let sql = format!(
        concat!(
            "SELECT ",
            asset_columns!(),
            " FROM catalog_assets WHERE path IN ({})"
        ),
        list
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for path in paths {
        query = query.bind(path.as_str());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let asset = asset_from_row(&row)?;
        tree.assets.insert(asset.spec.path.clone(), asset);
    }

    let sql = format!(
        concat!(
            "SELECT ",
            tag_columns!(),
            " FROM catalog_tags WHERE path IN ({})"
        ),
        list
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for path in paths {
        query = query.bind(path.as_str());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let tag = tag_from_row(&row)?;
        tree.tags.insert(tag.spec.path.clone(), tag);
    }
    Ok(tree)
}

/// The id of the asset at `path`, if there is one.
pub(crate) async fn asset_id(
    conn: &mut AnyConnection,
    path: &NodePath,
) -> Result<Option<AssetId>, CatalogError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM catalog_assets WHERE path = $1")
        .bind(path.as_str())
        .fetch_optional(conn)
        .await?;
    id.map(|id| to_u32(id, "asset id").map(AssetId)).transpose()
}

pub(crate) async fn insert_asset(
    conn: &mut AnyConnection,
    spec: &AssetSpec,
    version: u64,
) -> Result<AssetId, CatalogError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO catalog_assets (path, kind, description, attributes, version)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(spec.path.as_str())
    .bind(spec.kind.name())
    .bind(spec.description.as_str())
    .bind(attributes_json(&spec.attributes))
    .bind(version as i64)
    .fetch_one(conn)
    .await?;
    Ok(AssetId(to_u32(id, "asset id")?))
}

pub(crate) async fn update_asset(
    conn: &mut AnyConnection,
    id: AssetId,
    spec: &AssetSpec,
    version: u64,
) -> Result<(), CatalogError> {
    sqlx::query(
        "UPDATE catalog_assets SET path = $1, kind = $2, description = $3, attributes = $4,
         version = $5 WHERE id = $6",
    )
    .bind(spec.path.as_str())
    .bind(spec.kind.name())
    .bind(spec.description.as_str())
    .bind(attributes_json(&spec.attributes))
    .bind(version as i64)
    .bind(i64::from(id.0))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete_asset(
    conn: &mut AnyConnection,
    id: AssetId,
) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM catalog_assets WHERE id = $1")
        .bind(i64::from(id.0))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many assets and tags sit directly below the asset at `path`.
pub(crate) async fn count_children(
    conn: &mut AnyConnection,
    asset: &Asset,
) -> Result<(u64, u64), CatalogError> {
    let prefix = format!("{}/", asset.spec.path);
    let assets: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM catalog_assets WHERE substr(path, 1, CAST($1 AS INTEGER)) = $2",
    )
    .bind(prefix.len() as i64)
    .bind(prefix.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let tags: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM catalog_tags WHERE asset_id = $1")
        .bind(i64::from(asset.id.0))
        .fetch_one(&mut *conn)
        .await?;
    Ok((assets as u64, tags as u64))
}

pub(crate) async fn insert_tag(
    conn: &mut AnyConnection,
    spec: &TagSpec,
    asset: AssetId,
    version: u64,
) -> Result<TagId, CatalogError> {
    let query = sqlx::query(
        "INSERT INTO catalog_tags (asset_id, path, description, unit, data_type, valid_lo,
         valid_hi, engineering_lo, engineering_hi, max_change_per_s, deadband, criticality,
         protocol, address, writable, attributes, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING id",
    );
    let row = bind_tag(query.bind(i64::from(asset.0)), spec)
        .bind(version as i64)
        .fetch_one(conn)
        .await?;
    Ok(TagId(to_u32(row.try_get::<i64, _>(0)?, "tag id")?))
}

pub(crate) async fn update_tag(
    conn: &mut AnyConnection,
    id: TagId,
    spec: &TagSpec,
    asset: AssetId,
    version: u64,
) -> Result<(), CatalogError> {
    let query = sqlx::query(
        "UPDATE catalog_tags SET asset_id = $1, path = $2, description = $3, unit = $4,
         data_type = $5, valid_lo = $6, valid_hi = $7, engineering_lo = $8,
         engineering_hi = $9, max_change_per_s = $10, deadband = $11, criticality = $12,
         protocol = $13, address = $14, writable = $15, attributes = $16, version = $17
         WHERE id = $18",
    );
    bind_tag(query.bind(i64::from(asset.0)), spec)
        .bind(version as i64)
        .bind(i64::from(id.0))
        .execute(conn)
        .await?;
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds the fifteen columns of a tag that follow `asset_id`, in table order.
fn bind_tag<'q>(query: AnyQuery<'q>, spec: &'q TagSpec) -> AnyQuery<'q> {
    let source = spec.source.as_ref();
    query
        .bind(spec.path.as_str())
        .bind(spec.description.as_str())
        .bind(spec.unit.map(|unit| unit.symbol()))
        .bind(spec.data_type.name())
        .bind(spec.valid_range.lo)
        .bind(spec.valid_range.hi)
        .bind(spec.engineering_range.lo)
        .bind(spec.engineering_range.hi)
        .bind(spec.max_change_per_s)
        .bind(spec.deadband)
        .bind(spec.criticality.name())
        .bind(source.map(|source| source.protocol.name()))
        .bind(source.map(|source| source.address.as_str()))
        .bind(i64::from(spec.writable))
        .bind(attributes_json(&spec.attributes))
}

pub(crate) async fn delete_tag(conn: &mut AnyConnection, id: TagId) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM catalog_tags WHERE id = $1")
        .bind(i64::from(id.0))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn tag_by_id(
    conn: &mut AnyConnection,
    id: TagId,
) -> Result<Option<Tag>, CatalogError> {
    sqlx::query(concat!(
        "SELECT ",
        tag_columns!(),
        " FROM catalog_tags WHERE id = $1"
    ))
    .bind(i64::from(id.0))
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(tag_from_row)
    .transpose()
}

pub(crate) async fn record_change(
    conn: &mut AnyConnection,
    change: &Change,
) -> Result<(), CatalogError> {
    let json = |value: &Option<serde_json::Value>| value.as_ref().map(serde_json::Value::to_string);
    sqlx::query(concat!(
        "INSERT INTO catalog_changes (",
        change_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(change.version as i64)
    .bind(change.at.as_micros())
    .bind(change.actor.as_str())
    .bind(change.operation.name())
    .bind(change.entity.name())
    .bind(i64::from(change.entity_id))
    .bind(change.path.as_str())
    .bind(change.fields.join(","))
    .bind(json(&change.before))
    .bind(json(&change.after))
    .execute(conn)
    .await?;
    Ok(())
}

/// A WHERE clause built from optional filters, with its parameters.
#[derive(Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    params: Vec<Param>,
}

enum Param {
    Text(String),
    Integer(i64),
}

impl Filter {
    fn next(&self) -> usize {
        self.params.len() + 1
    }

    /// Keeps rows whose `column` equals `value`.
    pub(crate) fn equals(&mut self, column: &'static str, value: impl Into<String>) {
        self.clauses.push(format!("{column} = ${}", self.next()));
        self.params.push(Param::Text(value.into()));
    }

    /// Keeps rows whose integer `column` equals `value`.
    pub(crate) fn equals_integer(&mut self, column: &'static str, value: i64) {
        self.clauses.push(format!("{column} = ${}", self.next()));
        self.params.push(Param::Integer(value));
    }

    /// Keeps rows whose integer `column` is greater than `value`.
    pub(crate) fn greater_than(&mut self, column: &'static str, value: i64) {
        self.clauses.push(format!("{column} > ${}", self.next()));
        self.params.push(Param::Integer(value));
    }

    /// Keeps rows whose path `column` is greater than `value`, for paging.
    pub(crate) fn after(&mut self, column: &'static str, value: &NodePath) {
        self.clauses.push(format!("{column} > ${}", self.next()));
        self.params.push(Param::Text(value.to_string()));
    }

    /// Keeps rows whose path `column` is `path` or lies below it.
    pub(crate) fn within(&mut self, column: &'static str, path: &NodePath) {
        let prefix = format!("{path}/");
        let n = self.next();
        self.clauses.push(format!(
            "({column} = ${n} OR substr({column}, 1, CAST(${} AS INTEGER)) = ${})",
            n + 1,
            n + 2
        ));
        self.params.push(Param::Text(path.to_string()));
        self.params.push(Param::Integer(prefix.len() as i64));
        self.params.push(Param::Text(prefix));
    }

    /// Keeps rows where any of `columns` contains `text`, ignoring case.
    pub(crate) fn contains(&mut self, columns: &[&'static str], text: &str) {
        let n = self.next();
        let any: Vec<String> = columns
            .iter()
            .map(|column| format!("LOWER({column}) LIKE ${n} ESCAPE '\\'"))
            .collect();
        self.clauses.push(format!("({})", any.join(" OR ")));
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        self.params.push(Param::Text(format!("%{escaped}%")));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    async fn fetch(
        &self,
        select: &str,
        order: &str,
        limit: Option<u32>,
        conn: &mut AnyConnection,
    ) -> Result<Vec<AnyRow>, CatalogError> {
        let limit = limit
            .map(|limit| format!(" LIMIT {limit}"))
            .unwrap_or_default();
        // SAFETY of the SQL text: columns and clauses are static strings of
        // this module; every value is a bound parameter.
        let sql = format!("{select}{}{order}{limit}", self.sql());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for param in &self.params {
            query = match param {
                Param::Text(text) => query.bind(text.clone()),
                Param::Integer(value) => query.bind(*value),
            };
        }
        Ok(query.fetch_all(conn).await?)
    }
}

pub(crate) async fn list_assets(
    conn: &mut AnyConnection,
    filter: &Filter,
    limit: Option<u32>,
) -> Result<Vec<Asset>, CatalogError> {
    let select = concat!("SELECT ", asset_columns!(), " FROM catalog_assets");
    let rows = filter.fetch(select, " ORDER BY path", limit, conn).await?;
    rows.iter().map(asset_from_row).collect()
}

pub(crate) async fn list_tags(
    conn: &mut AnyConnection,
    filter: &Filter,
    limit: Option<u32>,
) -> Result<Vec<Tag>, CatalogError> {
    let select = concat!("SELECT ", tag_columns!(), " FROM catalog_tags");
    let rows = filter.fetch(select, " ORDER BY path", limit, conn).await?;
    rows.iter().map(tag_from_row).collect()
}

pub(crate) async fn list_changes(
    conn: &mut AnyConnection,
    filter: &Filter,
    limit: Option<u32>,
) -> Result<Vec<Change>, CatalogError> {
    let select = concat!("SELECT ", change_columns!(), " FROM catalog_changes");
    let rows = filter
        .fetch(select, " ORDER BY version", limit, conn)
        .await?;
    rows.iter().map(change_from_row).collect()
}

fn attributes_json(attributes: &Attributes) -> String {
    serde_json::to_string(attributes).expect("bug: a string map always serialises")
}

fn to_u32(value: i64, what: &str) -> Result<u32, CatalogError> {
    u32::try_from(value).map_err(|_| CatalogError::Corrupt {
        what: what.to_owned(),
        reason: format!("{value} does not fit in 32 bits"),
    })
}

/// Reads a text column and parses it, naming the row when it cannot.
fn parse_column<T: FromStr>(
    row: &AnyRow,
    column: &str,
    what: &dyn Fn() -> String,
) -> Result<T, CatalogError>
where
    T::Err: std::fmt::Display,
{
    optional_column(row, column, what)?.ok_or_else(|| CatalogError::Corrupt {
        what: what(),
        reason: format!("{column}: empty"),
    })
}

/// Reads a nullable text column and parses it, naming the row when it
/// cannot.
fn optional_column<T: FromStr>(
    row: &AnyRow,
    column: &str,
    what: &dyn Fn() -> String,
) -> Result<Option<T>, CatalogError>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        text.parse().map_err(|error: T::Err| CatalogError::Corrupt {
            what: what(),
            reason: format!("{column}: {error}"),
        })
    })
    .transpose()
}

fn attributes_column(row: &AnyRow, what: &dyn Fn() -> String) -> Result<Attributes, CatalogError> {
    let text: String = row.try_get("attributes")?;
    serde_json::from_str(&text).map_err(|error| CatalogError::Corrupt {
        what: what(),
        reason: format!("attributes: {error}"),
    })
}

fn asset_from_row(row: &AnyRow) -> Result<Asset, CatalogError> {
    let id: i64 = row.try_get("id")?;
    let what = || format!("asset {id}");
    Ok(Asset {
        id: AssetId(to_u32(id, "asset id")?),
        version: row.try_get::<i64, _>("version")? as u64,
        spec: AssetSpec {
            path: parse_column(row, "path", &what)?,
            kind: parse_column(row, "kind", &what)?,
            description: row.try_get("description")?,
            attributes: attributes_column(row, &what)?,
        },
    })
}

fn tag_from_row(row: &AnyRow) -> Result<Tag, CatalogError> {
    let id: i64 = row.try_get("id")?;
    let what = || format!("tag {id}");
    let protocol = optional_column(row, "protocol", &what)?;
    let address: Option<String> = row.try_get("address")?;
    Ok(Tag {
        id: TagId(to_u32(id, "tag id")?),
        version: row.try_get::<i64, _>("version")? as u64,
        spec: TagSpec {
            path: parse_column(row, "path", &what)?,
            description: row.try_get("description")?,
            unit: optional_column(row, "unit", &what)?,
            data_type: parse_column(row, "data_type", &what)?,
            valid_range: Limits {
                lo: row.try_get("valid_lo")?,
                hi: row.try_get("valid_hi")?,
            },
            engineering_range: Limits {
                lo: row.try_get("engineering_lo")?,
                hi: row.try_get("engineering_hi")?,
            },
            max_change_per_s: row.try_get("max_change_per_s")?,
            deadband: row.try_get("deadband")?,
            criticality: parse_column(row, "criticality", &what)?,
            source: protocol.map(|protocol| SourceBinding {
                protocol,
                address: address.unwrap_or_default(),
            }),
            writable: row.try_get::<i64, _>("writable")? != 0,
            attributes: attributes_column(row, &what)?,
        },
    })
}

fn change_from_row(row: &AnyRow) -> Result<Change, CatalogError> {
    let version: i64 = row.try_get("version")?;
    let what = || format!("change {version}");
    let json = |column: &str| -> Result<Option<serde_json::Value>, CatalogError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|text| {
            serde_json::from_str(&text).map_err(|error| CatalogError::Corrupt {
                what: what(),
                reason: format!("{column}: {error}"),
            })
        })
        .transpose()
    };
    let fields: String = row.try_get("fields")?;
    Ok(Change {
        version: version as u64,
        at: Timestamp::from_micros(row.try_get("at_us")?),
        actor: row.try_get("actor")?,
        operation: parse_column::<Operation>(row, "operation", &what)?,
        entity: parse_column::<Entity>(row, "entity", &what)?,
        entity_id: to_u32(row.try_get("entity_id")?, "entity id")?,
        path: parse_column(row, "path", &what)?,
        fields: fields
            .split(',')
            .filter(|field| !field.is_empty())
            .map(str::to_owned)
            .collect(),
        before: json("before_json")?,
        after: json("after_json")?,
    })
}
