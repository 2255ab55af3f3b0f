//! Planning a write: from specs to the steps that apply them.
//!
//! Every write to the catalog, one tag from the API or fifty thousand from a
//! file, goes through [`plan`]: it checks each entry on its own and against
//! the tree (the existing catalog plus what the same write creates), and
//! yields the steps to apply and the entries it rejects, each with its line.
//! Applying the steps ([`execute`]) then cannot fail for a reason a person
//! could have fixed.

use std::collections::{HashMap, HashSet};

use flowline_core::{AssetId, AssetKind, NodePath, Timestamp};
use flowline_db::sqlx::AnyConnection;
use serde::Serialize;

use crate::document::{Document, Entry};
use crate::error::{CatalogError, RowError};
use crate::model::{Asset, AssetSpec, Tag, TagSpec};
use crate::store::{self, Tree};
use crate::validate::{self, FieldError};
use crate::{Change, Entity, Operation};

/// What a write may do to entries that already exist.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every entry must be new.
    Create,
    /// Every entry must exist.
    Update,
    /// New entries are created, existing ones updated.
    Upsert,
}

/// One change to apply.
#[derive(Debug)]
pub(crate) enum Step {
    CreateAsset(AssetSpec),
    UpdateAsset { before: Asset, spec: AssetSpec },
    DeleteAsset(Asset),
    CreateTag(TagSpec),
    UpdateTag { before: Tag, spec: TagSpec },
    DeleteTag(Tag),
}

impl Step {
    /// The entity and operation names, for metrics.
    pub(crate) fn labels(&self) -> (&'static str, &'static str) {
        let (entity, operation) = match self {
            Step::CreateAsset(_) => (Entity::Asset, Operation::Create),
            Step::UpdateAsset { .. } => (Entity::Asset, Operation::Update),
            Step::DeleteAsset(_) => (Entity::Asset, Operation::Delete),
            Step::CreateTag(_) => (Entity::Tag, Operation::Create),
            Step::UpdateTag { .. } => (Entity::Tag, Operation::Update),
            Step::DeleteTag(_) => (Entity::Tag, Operation::Delete),
        };
        (entity.name(), operation.name())
    }
}

/// The outcome of planning.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The changes to apply, parents before children.
    pub(crate) steps: Vec<Step>,
    /// The entries refused, with why; sorted by line.
    pub(crate) rejected: Vec<RowError>,
    /// Asset entries identical to what the catalog holds.
    pub(crate) unchanged_assets: usize,
    /// Tag entries identical to what the catalog holds.
    pub(crate) unchanged_tags: usize,
}

/// Plans `document` against `tree`. `tree` must hold every existing asset
/// and tag at the paths of the document and at their parents' paths.
pub(crate) fn plan(tree: &Tree, document: &Document, mode: Mode) -> Plan {
    let mut plan = Plan {
        rejected: document.errors.clone(),
        ..Plan::default()
    };
    let (duplicate_assets, duplicate_tags) = find_duplicates(document, &mut plan.rejected);

    // Parents before children, so a file may list a well before its pad.
    let mut assets: Vec<(usize, &Entry<AssetSpec>)> = document.assets.iter().enumerate().collect();
    assets.sort_by_key(|(_, entry)| (entry.spec.path.depth(), entry.line));
    let mut accepted: HashMap<&NodePath, AssetKind> = HashMap::new();
    let mut refused: HashSet<&NodePath> = HashSet::new();
    for (index, entry) in assets {
        if duplicate_assets.contains(&index) {
            continue;
        }
        let spec = &entry.spec;
        let problems = check_asset(tree, &accepted, &refused, spec, mode);
        if !problems.is_empty() {
            refused.insert(&spec.path);
            reject(&mut plan.rejected, entry.line, &spec.path, problems);
            continue;
        }
        accepted.insert(&spec.path, spec.kind);
        match tree.assets.get(&spec.path) {
            Some(existing) if existing.spec == *spec => plan.unchanged_assets += 1,
            Some(existing) => plan.steps.push(Step::UpdateAsset {
                before: existing.clone(),
                spec: spec.clone(),
            }),
            None => plan.steps.push(Step::CreateAsset(spec.clone())),
        }
    }

    for (index, entry) in document.tags.iter().enumerate() {
        if duplicate_tags.contains(&index) {
            continue;
        }
        let spec = &entry.spec;
        let mut problems = field_problems(validate::check_tag(spec));
        if problems.is_empty() {
            problems.extend(check_tag_placement(tree, &accepted, &refused, spec));
            problems.extend(existence_problem(
                "tag",
                tree.tags.contains_key(&spec.path),
                mode,
            ));
        }
        if !problems.is_empty() {
            reject(&mut plan.rejected, entry.line, &spec.path, problems);
            continue;
        }
        match tree.tags.get(&spec.path) {
            Some(existing) if existing.spec == *spec => plan.unchanged_tags += 1,
            Some(existing) => plan.steps.push(Step::UpdateTag {
                before: existing.clone(),
                spec: spec.clone(),
            }),
            None => plan.steps.push(Step::CreateTag(spec.clone())),
        }
    }

    plan.rejected
        .sort_by_key(|error| error.line.unwrap_or(usize::MAX));
    plan
}

/// Plans changing the tag `before` to `spec`, which may move it to another
/// path. `tree` must hold what exists at the new path and its parent.
pub(crate) fn plan_tag_update(
    tree: &Tree,
    before: &Tag,
    spec: TagSpec,
) -> Result<Option<Step>, CatalogError> {
    let mut problems = field_problems(validate::check_tag(&spec));
    if problems.is_empty() {
        let nothing = HashMap::new();
        problems.extend(check_tag_placement(tree, &nothing, &HashSet::new(), &spec));
        let taken = tree
            .tags
            .get(&spec.path)
            .is_some_and(|other| other.id != before.id);
        if taken {
            problems.push("path is already used by another tag".to_owned());
        }
    }
    if !problems.is_empty() {
        let mut rejected = Vec::new();
        reject(&mut rejected, None, &spec.path, problems);
        return Err(CatalogError::Rejected(rejected));
    }
    if before.spec == spec {
        return Ok(None);
    }
    Ok(Some(Step::UpdateTag {
        before: before.clone(),
        spec,
    }))
}

/// Marks every entry whose path an earlier entry of the document already
/// used, and returns their indexes among the assets and among the tags.
fn find_duplicates(
    document: &Document,
    rejected: &mut Vec<RowError>,
) -> (HashSet<usize>, HashSet<usize>) {
    let mut entries: Vec<(Option<usize>, &NodePath, bool, usize)> = Vec::new();
    entries.extend(
        document
            .assets
            .iter()
            .enumerate()
            .map(|(i, e)| (e.line, &e.spec.path, true, i)),
    );
    entries.extend(
        document
            .tags
            .iter()
            .enumerate()
            .map(|(i, e)| (e.line, &e.spec.path, false, i)),
    );
    entries.sort_by_key(|(line, _, _, _)| line.unwrap_or(usize::MAX));

    let mut first: HashMap<&NodePath, Option<usize>> = HashMap::new();
    let (mut assets, mut tags) = (HashSet::new(), HashSet::new());
    for (line, path, is_asset, index) in entries {
        match first.get(path) {
            Some(earlier) => {
                let at = earlier
                    .map(|line| format!(" at line {line}"))
                    .unwrap_or_default();
                rejected.push(RowError::new(
                    line,
                    Some(path.to_string()),
                    format!("duplicate path: already defined{at}"),
                ));
                if is_asset {
                    assets.insert(index)
                } else {
                    tags.insert(index)
                };
            }
            None => {
                first.insert(path, line);
            }
        }
    }
    (assets, tags)
}

fn check_asset(
    tree: &Tree,
    accepted: &HashMap<&NodePath, AssetKind>,
    refused: &HashSet<&NodePath>,
    spec: &AssetSpec,
    mode: Mode,
) -> Vec<String> {
    let mut problems = field_problems(validate::check_asset(spec));
    if !problems.is_empty() {
        return problems;
    }
    if tree.tags.contains_key(&spec.path) {
        problems.push("path is already used by a tag".to_owned());
    }
    if let Some(parent) = spec.path.parent() {
        match parent_kind(tree, accepted, refused, &parent) {
            Ok(parent_kind) if !parent_kind.may_contain(spec.kind) => problems.push(format!(
                "a {} cannot sit under the {parent_kind} `{parent}`",
                spec.kind
            )),
            Ok(_) => {}
            Err(problem) => problems.push(problem),
        }
    }
    let existing = tree.assets.get(&spec.path);
    problems.extend(existence_problem("asset", existing.is_some(), mode));
    if let Some(existing) = existing.filter(|existing| existing.spec.kind != spec.kind) {
        problems.push(format!(
            "kind: an existing asset cannot change kind (it is a {}); \
             delete it and create it again",
            existing.spec.kind
        ));
    }
    problems
}

fn check_tag_placement(
    tree: &Tree,
    accepted: &HashMap<&NodePath, AssetKind>,
    refused: &HashSet<&NodePath>,
    spec: &TagSpec,
) -> Vec<String> {
    let mut problems = Vec::new();
    if tree.assets.contains_key(&spec.path) || accepted.contains_key(&spec.path) {
        problems.push("path is already used by an asset".to_owned());
    }
    if let Some(parent) = spec.path.parent()
        && let Err(problem) = parent_kind(tree, accepted, refused, &parent)
    {
        problems.push(problem);
    }
    problems
}

/// The kind of the asset at `parent`, from this write or the catalog.
fn parent_kind(
    tree: &Tree,
    accepted: &HashMap<&NodePath, AssetKind>,
    refused: &HashSet<&NodePath>,
    parent: &NodePath,
) -> Result<AssetKind, String> {
    if let Some(kind) = accepted.get(parent) {
        return Ok(*kind);
    }
    if let Some(asset) = tree.assets.get(parent) {
        return Ok(asset.spec.kind);
    }
    if refused.contains(parent) {
        Err(format!("its parent asset `{parent}` was rejected"))
    } else {
        Err(format!(
            "parent asset `{parent}` does not exist; create it first, or in the same file"
        ))
    }
}

fn existence_problem(what: &str, exists: bool, mode: Mode) -> Option<String> {
    match (mode, exists) {
        (Mode::Create, true) => Some(format!("{what} already exists")),
        (Mode::Update, false) => Some(format!("{what} does not exist")),
        _ => None,
    }
}

fn field_problems(errors: Vec<FieldError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn reject(
    rejected: &mut Vec<RowError>,
    line: Option<usize>,
    path: &NodePath,
    problems: Vec<String>,
) {
    for problem in problems {
        rejected.push(RowError::new(line, Some(path.to_string()), problem));
    }
}

/// Applies `steps` inside the caller's transaction, recording one change
/// per step, and returns the catalog version after the last one.
pub(crate) async fn execute(
    conn: &mut AnyConnection,
    tree: &Tree,
    steps: &[Step],
    actor: &str,
) -> Result<u64, CatalogError> {
    let mut version = store::current_version(conn).await?;
    let recorder = Recorder {
        at: Timestamp::now(),
        actor,
    };
    let mut asset_ids: HashMap<NodePath, AssetId> = tree
        .assets
        .values()
        .map(|asset| (asset.spec.path.clone(), asset.id))
        .collect();

    for step in steps {
        version += 1;
        let change = match step {
            Step::CreateAsset(spec) => {
                let id = store::insert_asset(conn, spec, version).await?;
                asset_ids.insert(spec.path.clone(), id);
                recorder.change(version, id.0, None, Some(spec))
            }
            Step::UpdateAsset { before, spec } => {
                store::update_asset(conn, before.id, spec, version).await?;
                recorder.change(version, before.id.0, Some(&before.spec), Some(spec))
            }
            Step::DeleteAsset(asset) => {
                store::delete_asset(conn, asset.id).await?;
                recorder.change(version, asset.id.0, Some(&asset.spec), None)
            }
            Step::CreateTag(spec) => {
                let asset = parent_id(conn, &mut asset_ids, &spec.path).await?;
                let id = store::insert_tag(conn, spec, asset, version).await?;
                recorder.change(version, id.0, None, Some(spec))
            }
            Step::UpdateTag { before, spec } => {
                let asset = parent_id(conn, &mut asset_ids, &spec.path).await?;
                store::update_tag(conn, before.id, spec, asset, version).await?;
                recorder.change(version, before.id.0, Some(&before.spec), Some(spec))
            }
            Step::DeleteTag(tag) => {
                store::delete_tag(conn, tag.id).await?;
                recorder.change(version, tag.id.0, Some(&tag.spec), None)
            }
        };
        store::record_change(conn, &change).await?;
    }
    Ok(version)
}

/// The id of the asset that holds the tag at `path`.
async fn parent_id(
    conn: &mut AnyConnection,
    known: &mut HashMap<NodePath, AssetId>,
    path: &NodePath,
) -> Result<AssetId, CatalogError> {
    let parent = path
        .parent()
        .expect("bug: planned tags have a parent asset");
    if let Some(id) = known.get(&parent) {
        return Ok(*id);
    }
    let id = store::asset_id(conn, &parent)
        .await?
        .unwrap_or_else(|| panic!("bug: planned tag {path} has no parent asset {parent}"));
    known.insert(parent, id);
    Ok(id)
}

/// A spec whose changes are recorded in the history.
trait Recorded: Serialize {
    const ENTITY: Entity;
    fn path(&self) -> &NodePath;
}

impl Recorded for AssetSpec {
    const ENTITY: Entity = Entity::Asset;
    fn path(&self) -> &NodePath {
        &self.path
    }
}

impl Recorded for TagSpec {
    const ENTITY: Entity = Entity::Tag;
    fn path(&self) -> &NodePath {
        &self.path
    }
}

/// Who makes the changes of one write, and when.
struct Recorder<'a> {
    at: Timestamp,
    actor: &'a str,
}

impl Recorder<'_> {
    /// The record of one change: both sides, and which top-level fields differ.
    fn change<T: Recorded>(
        &self,
        version: u64,
        entity_id: u32,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Change {
        let path = after
            .or(before)
            .expect("bug: a change has a before or an after")
            .path()
            .clone();
        let json = |spec: Option<&T>| {
            spec.map(|spec| serde_json::to_value(spec).expect("bug: specs always serialise"))
        };
        let (before, after) = (json(before), json(after));
        let operation = match (&before, &after) {
            (None, _) => Operation::Create,
            (Some(_), Some(_)) => Operation::Update,
            (Some(_), None) => Operation::Delete,
        };
        Change {
            version,
            at: self.at,
            actor: self.actor.to_owned(),
            operation,
            entity: T::ENTITY,
            entity_id,
            path,
            fields: changed_fields(before.as_ref(), after.as_ref()),
            before,
            after,
        }
    }
}

/// The top-level keys whose values differ between two JSON objects, sorted.
fn changed_fields(
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> Vec<String> {
    let object = |value: Option<&serde_json::Value>| {
        value
            .and_then(|value| value.as_object().cloned())
            .unwrap_or_default()
    };
    let (before, after) = (object(before), object(after));
    let mut fields: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    fields
}
