//! The tag catalog and asset registry.
//!
//! The catalog is where Flowline keeps what it knows about the field: the
//! asset tree (field → pad → well → equipment) and every tag with its unit,
//! ranges, limits, criticality and source. Every change is versioned: who
//! made it, when, and what changed. It is stored in SQLite or PostgreSQL
//! through `flowline-db`, and read on the hot path from an in-memory
//! [`Snapshot`] that is swapped atomically when the catalog changes.
//!
//! Writes are checked in full before anything is applied ([`plan`]); a write
//! that is refused applies nothing. Imports read CSV or YAML ([`Document`]).

mod demo;
mod document;
mod error;
mod events;
pub mod modbus;
mod model;
mod plan;
mod snapshot;
mod store;
mod validate;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use flowline_core::{AssetKind, Criticality, DataType, NodePath, Timestamp, Unit};
use flowline_db::Database;
use serde::Serialize;

pub use demo::{DEMO_FIELD, DemoLayout, LiftMethod, MAX_PADS, demo_field};
pub use document::{Document, DocumentError, Entry, Format};
pub use error::{CatalogError, RowError};
pub use model::{
    Asset, AssetSpec, Attributes, Limits, Protocol, ProtocolError, SourceBinding, Tag, TagSpec,
};
pub use snapshot::{Snapshot, SnapshotHandle, TagEntry};
pub use validate::FieldError;

use plan::{Mode, Step};
use store::{Filter, Tree};

/// Serialises catalog writers on PostgreSQL ("catalog" in ASCII), so change
/// versions commit in order.
const CATALOG_LOCK_KEY: i64 = 0x63_6174_616C_6F67;

/// The tag catalog, backed by a database, with its current snapshot.
#[derive(Clone, Debug)]
pub struct Catalog {
    database: Database,
    snapshots: SnapshotHandle,
}

/// Whether an import with bad entries applies the good ones.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Any bad entry rejects the whole import. The default.
    #[default]
    AllOrNothing,
    /// Good entries are applied; bad ones are reported.
    SkipInvalid,
}

/// How many entries of one kind an import created, updated or left alone.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// New entries.
    pub created: usize,
    /// Existing entries that changed.
    pub updated: usize,
    /// Existing entries identical to the file.
    pub unchanged: usize,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Asset entries.
    pub assets: Counts,
    /// Tag entries.
    pub tags: Counts,
    /// Entries not applied, with why, sorted by line.
    pub rejected: Vec<RowError>,
    /// The catalog version after the import.
    pub version: u64,
}

/// The two things the catalog holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    /// An asset.
    Asset,
    /// A tag.
    Tag,
}

/// What a change did.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Made something new.
    Create,
    /// Changed something existing.
    Update,
    /// Removed something.
    Delete,
}

/// One versioned change to the catalog: who, when, and what.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The catalog version this change made; versions count up from 1.
    pub version: u64,
    /// When it was committed.
    pub at: Timestamp,
    /// Who made it: a user name, or `cli:NAME` from the command line.
    pub actor: String,
    /// What it did.
    pub operation: Operation,
    /// To what kind of thing.
    pub entity: Entity,
    /// The stable id of the asset or tag.
    pub entity_id: u32,
    /// Its path after the change (before it, for a deletion).
    pub path: NodePath,
    /// The top-level fields that differ between before and after.
    pub fields: Vec<String>,
    /// The spec before the change; absent for a creation.
    pub before: Option<serde_json::Value>,
    /// The spec after the change; absent for a deletion.
    pub after: Option<serde_json::Value>,
}

/// Which tags to list. Every field set narrows the list; the default lists all.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    /// Only tags at or below this path.
    pub within: Option<NodePath>,
    /// Only tags in this unit.
    pub unit: Option<Unit>,
    /// Only tags of this data type.
    pub data_type: Option<DataType>,
    /// Only tags of this criticality.
    pub criticality: Option<Criticality>,
    /// Only tags read over this protocol.
    pub protocol: Option<Protocol>,
    /// Only tags whose path or description contains this text, ignoring case.
    pub text: Option<String>,
    /// Only tags whose path sorts after this one: the cursor for the next page.
    pub after: Option<NodePath>,
    /// At most this many tags.
    pub limit: Option<u32>,
}

/// Which assets to list. Every field set narrows the list.
#[derive(Clone, Debug, Default)]
pub struct AssetFilter {
    /// Only assets at or below this path.
    pub within: Option<NodePath>,
    /// Only assets of this kind.
    pub kind: Option<AssetKind>,
    /// Only assets whose path or description contains this text, ignoring case.
    pub text: Option<String>,
    /// Only assets whose path sorts after this one.
    pub after: Option<NodePath>,
    /// At most this many assets.
    pub limit: Option<u32>,
}

/// Which changes to list, oldest first. Every field set narrows the list.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    /// Only changes to paths at or below this one.
    pub within: Option<NodePath>,
    /// Only changes to assets, or to tags.
    pub entity: Option<Entity>,
    /// Only the changes of the asset or tag with this id (with `entity`).
    pub entity_id: Option<u32>,
    /// Only changes after this version.
    pub after_version: Option<u64>,
    /// At most this many changes.
    pub limit: Option<u32>,
}

impl Catalog {
    /// Opens the catalog in `database`, applying its migrations, and loads
    /// the first snapshot.
    pub async fn open(database: Database) -> Result<Catalog, CatalogError> {
        database.migrate("catalog", store::MIGRATIONS).await?;
        let catalog = Catalog {
            database,
            snapshots: SnapshotHandle::default(),
        };
        let started = Instant::now();
        if !catalog.refresh().await? {
            // A catalog never written is the empty default snapshot.
            events::snapshot_installed(&catalog.snapshots.load(), started.elapsed());
        }
        Ok(catalog)
    }

    /// The database the catalog lives in.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// A handle on the current snapshot, for services that read the
    /// catalog on their hot path.
    pub fn snapshots(&self) -> SnapshotHandle {
        self.snapshots.clone()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.load_full()
    }

    /// Loads a new snapshot if the database holds a newer version than the
    /// current one, as after a change made by another process. Returns
    /// whether a new snapshot was installed.
    pub async fn refresh(&self) -> Result<bool, CatalogError> {
        let started = Instant::now();
        let mut transaction = self.database.begin_read().await?;
        let version = store::current_version(&mut transaction).await?;
        let current = self.snapshots.load();
        if version == current.version() {
            return Ok(false);
        }
        let (assets, tags) = store::load_all(&mut transaction).await?;
        transaction.commit().await?;

        let snapshot = Snapshot::build(version, assets, tags);
        let installed = self.snapshots.store_if_newer(snapshot);
        if installed {
            events::snapshot_installed(&self.snapshots.load(), started.elapsed());
        }
        Ok(installed)
    }

    /// Creates an asset. Its parent must exist and may hold its kind.
    pub async fn create_asset(&self, spec: AssetSpec, actor: &str) -> Result<Asset, CatalogError> {
        let path = spec.path.clone();
        self.write_document(Document::new(vec![spec], Vec::new()), Mode::Create, actor)
            .await?;
        self.asset(&path).await?.ok_or_else(|| bug_vanished(&path))
    }

    /// Replaces the description and attributes of the asset at
    /// `spec.path`. Its kind cannot change; assets cannot be renamed.
    pub async fn update_asset(&self, spec: AssetSpec, actor: &str) -> Result<Asset, CatalogError> {
        let path = spec.path.clone();
        self.write_document(Document::new(vec![spec], Vec::new()), Mode::Update, actor)
            .await?;
        self.asset(&path).await?.ok_or_else(|| bug_vanished(&path))
    }

    /// Deletes the asset at `path`, which must hold no assets or tags.
    pub async fn delete_asset(&self, path: &NodePath, actor: &str) -> Result<(), CatalogError> {
        let mut transaction = self.database.begin_write(CATALOG_LOCK_KEY).await?;
        let tree = store::load_paths(&mut transaction, &[path]).await?;
        let asset = tree
            .assets
            .get(path)
            .ok_or_else(|| not_found("asset", path))?;
        let (assets, tags) = store::count_children(&mut transaction, asset).await?;
        if assets + tags > 0 {
            let problem =
                format!("asset holds {assets} assets and {tags} tags; delete or move them first");
            return Err(CatalogError::Rejected(vec![RowError::new(
                None,
                Some(path.to_string()),
                problem,
            )]));
        }
        let steps = [Step::DeleteAsset(asset.clone())];
        self.commit(transaction, &tree, &steps, actor).await?;
        Ok(())
    }

    /// Creates a tag. Its asset must exist.
    pub async fn create_tag(&self, spec: TagSpec, actor: &str) -> Result<Tag, CatalogError> {
        let path = spec.path.clone();
        self.write_document(Document::new(Vec::new(), vec![spec]), Mode::Create, actor)
            .await?;
        self.tag(&path).await?.ok_or_else(|| bug_vanished(&path))
    }

    /// Replaces the tag at `path` with `spec`. If `spec.path` differs the tag
    /// moves there, keeping its id; its new asset must exist.
    pub async fn update_tag(
        &self,
        path: &NodePath,
        spec: TagSpec,
        actor: &str,
    ) -> Result<Tag, CatalogError> {
        let new_path = spec.path.clone();
        let mut transaction = self.database.begin_write(CATALOG_LOCK_KEY).await?;
        let parent = new_path.parent();
        let mut paths = vec![path, &new_path];
        paths.extend(parent.as_ref());
        let tree = store::load_paths(&mut transaction, &paths).await?;
        let before = tree.tags.get(path).ok_or_else(|| not_found("tag", path))?;
        if let Some(step) = plan::plan_tag_update(&tree, before, spec)? {
            self.commit(transaction, &tree, &[step], actor).await?;
        }
        self.tag(&new_path)
            .await?
            .ok_or_else(|| bug_vanished(&new_path))
    }

    /// Deletes the tag at `path`. Its history stays.
    pub async fn delete_tag(&self, path: &NodePath, actor: &str) -> Result<(), CatalogError> {
        let mut transaction = self.database.begin_write(CATALOG_LOCK_KEY).await?;
        let tree = store::load_paths(&mut transaction, &[path]).await?;
        let tag = tree.tags.get(path).ok_or_else(|| not_found("tag", path))?;
        let steps = [Step::DeleteTag(tag.clone())];
        self.commit(transaction, &tree, &steps, actor).await?;
        Ok(())
    }

    /// The asset at `path`, read from the database.
    pub async fn asset(&self, path: &NodePath) -> Result<Option<Asset>, CatalogError> {
        let mut connection = self.database.pool().acquire().await?;
        Ok(store::load_paths(&mut connection, &[path])
            .await?
            .assets
            .remove(path))
    }

    /// The tag at `path`, read from the database.
    pub async fn tag(&self, path: &NodePath) -> Result<Option<Tag>, CatalogError> {
        let mut connection = self.database.pool().acquire().await?;
        Ok(store::load_paths(&mut connection, &[path])
            .await?
            .tags
            .remove(path))
    }

    /// The tag with stable id `id`, read from the database.
    pub async fn tag_by_id(&self, id: flowline_core::TagId) -> Result<Option<Tag>, CatalogError> {
        let mut connection = self.database.pool().acquire().await?;
        store::tag_by_id(&mut connection, id).await
    }

    /// The assets that pass `filter`, ordered by path.
    pub async fn assets(&self, filter: &AssetFilter) -> Result<Vec<Asset>, CatalogError> {
        let mut sql = Filter::default();
        if let Some(within) = &filter.within {
            sql.within("path", within);
        }
        if let Some(kind) = filter.kind {
            sql.equals("kind", kind.name());
        }
        if let Some(text) = &filter.text {
            sql.contains(&["path", "description"], text);
        }
        if let Some(after) = &filter.after {
            sql.after("path", after);
        }
        let mut connection = self.database.pool().acquire().await?;
        store::list_assets(&mut connection, &sql, filter.limit).await
    }

    /// The tags that pass `filter`, ordered by path.
    pub async fn tags(&self, filter: &TagFilter) -> Result<Vec<Tag>, CatalogError> {
        let mut sql = Filter::default();
        if let Some(within) = &filter.within {
            sql.within("path", within);
        }
        if let Some(unit) = filter.unit {
            sql.equals("unit", unit.symbol());
        }
        if let Some(data_type) = filter.data_type {
            sql.equals("data_type", data_type.name());
        }
        if let Some(criticality) = filter.criticality {
            sql.equals("criticality", criticality.name());
        }
        if let Some(protocol) = filter.protocol {
            sql.equals("protocol", protocol.name());
        }
        if let Some(text) = &filter.text {
            sql.contains(&["path", "description"], text);
        }
        if let Some(after) = &filter.after {
            sql.after("path", after);
        }
        let mut connection = self.database.pool().acquire().await?;
        store::list_tags(&mut connection, &sql, filter.limit).await
    }

    /// The changes that pass `filter`, oldest first.
    pub async fn history(&self, filter: &HistoryFilter) -> Result<Vec<Change>, CatalogError> {
        let mut sql = Filter::default();
        if let Some(within) = &filter.within {
            sql.within("path", within);
        }
        if let Some(entity) = filter.entity {
            sql.equals("entity", entity.name());
        }
        if let Some(id) = filter.entity_id {
            sql.equals_integer("entity_id", i64::from(id));
        }
        if let Some(version) = filter.after_version {
            sql.greater_than("version", version as i64);
        }
        let mut connection = self.database.pool().acquire().await?;
        store::list_changes(&mut connection, &sql, filter.limit).await
    }

    /// Applies a document: new paths are created, existing ones updated,
    /// identical ones left alone. Under [`ImportMode::AllOrNothing`] any bad
    /// entry rejects the whole document with every problem listed.
    pub async fn import(
        &self,
        document: &Document,
        mode: ImportMode,
        actor: &str,
    ) -> Result<ImportReport, CatalogError> {
        let mut transaction = self.database.begin_write(CATALOG_LOCK_KEY).await?;
        let tree = store::load_tree(&mut transaction).await?;
        let plan = plan::plan(&tree, document, Mode::Upsert);
        if !plan.rejected.is_empty() && mode == ImportMode::AllOrNothing {
            return Err(CatalogError::Rejected(plan.rejected));
        }

        let mut report = ImportReport {
            assets: Counts {
                unchanged: plan.unchanged_assets,
                ..Counts::default()
            },
            tags: Counts {
                unchanged: plan.unchanged_tags,
                ..Counts::default()
            },
            rejected: plan.rejected,
            version: store::current_version(&mut transaction).await?,
        };
        for step in &plan.steps {
            match step {
                Step::CreateAsset(_) => report.assets.created += 1,
                Step::UpdateAsset { .. } => report.assets.updated += 1,
                Step::CreateTag(_) => report.tags.created += 1,
                Step::UpdateTag { .. } => report.tags.updated += 1,
                Step::DeleteAsset(_) | Step::DeleteTag(_) => {
                    unreachable!("bug: imports never delete")
                }
            }
        }
        if !plan.steps.is_empty() {
            report.version = self.commit(transaction, &tree, &plan.steps, actor).await?;
        }
        Ok(report)
    }

    /// Everything in the catalog as a document, ordered by path.
    pub async fn export(&self) -> Result<Document, CatalogError> {
        let mut transaction = self.database.begin_read().await?;
        let (assets, tags) = store::load_all(&mut transaction).await?;
        transaction.commit().await?;
        Ok(Document::new(
            assets.into_iter().map(|asset| asset.spec).collect(),
            tags.into_iter().map(|tag| tag.spec).collect(),
        ))
    }

    /// Plans and applies a small document in `mode`, refusing it whole if
    /// any entry is bad.
    async fn write_document(
        &self,
        document: Document,
        mode: Mode,
        actor: &str,
    ) -> Result<(), CatalogError> {
        let mut transaction = self.database.begin_write(CATALOG_LOCK_KEY).await?;
        let mut paths: Vec<NodePath> = Vec::new();
        for path in document
            .assets
            .iter()
            .map(|e| &e.spec.path)
            .chain(document.tags.iter().map(|e| &e.spec.path))
        {
            paths.push(path.clone());
            paths.extend(path.parent());
        }
        let tree = store::load_paths(&mut transaction, &paths.iter().collect::<Vec<_>>()).await?;
        let plan = plan::plan(&tree, &document, mode);
        if !plan.rejected.is_empty() {
            return Err(CatalogError::Rejected(plan.rejected));
        }
        if !plan.steps.is_empty() {
            self.commit(transaction, &tree, &plan.steps, actor).await?;
        }
        Ok(())
    }

    /// Applies `steps`, commits, and installs the new snapshot.
    async fn commit(
        &self,
        mut transaction: flowline_db::sqlx::Transaction<'static, flowline_db::sqlx::Any>,
        tree: &Tree,
        steps: &[Step],
        actor: &str,
    ) -> Result<u64, CatalogError> {
        let version = plan::execute(&mut transaction, tree, steps, actor).await?;
        transaction.commit().await?;
        events::changes_committed(actor, steps, version);
        self.refresh().await?;
        Ok(version)
    }
}

fn not_found(what: &'static str, path: &NodePath) -> CatalogError {
    CatalogError::NotFound {
        what,
        key: path.to_string(),
    }
}

fn bug_vanished(path: &NodePath) -> CatalogError {
    CatalogError::Corrupt {
        what: path.to_string(),
        reason: "vanished right after it was written".into(),
    }
}

impl Entity {
    /// The lowercase name stored in the history.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Asset => "asset",
            Entity::Tag => "tag",
        }
    }
}

impl FromStr for Entity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "asset" => Ok(Entity::Asset),
            "tag" => Ok(Entity::Tag),
            _ => Err(format!("unknown entity `{text}`: expected asset or tag")),
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Operation {
    /// The lowercase name stored in the history.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "create" => Ok(Operation::Create),
            "update" => Ok(Operation::Update),
            "delete" => Ok(Operation::Delete),
            _ => Err(format!(
                "unknown operation `{text}`: expected create, update or delete"
            )),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
