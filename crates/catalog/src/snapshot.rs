//! The read-optimised catalog for the hot path.
//!
//! The processor looks a tag up for every sample it handles, a million times
//! a second at full rate, so it never asks the database. It reads a
//! [`Snapshot`]: an immutable copy of the whole catalog, indexed by tag id
//! (a slot array: one bounds check and one load) and by path (a hash map).
//! When the catalog changes a new snapshot is built and swapped in
//! atomically; readers holding the old one finish with it undisturbed.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use flowline_core::{AssetId, AssetKind, NodePath, TagId};
use rustc_hash::FxHashMap;

use crate::Document;
use crate::model::{Asset, Tag};

/// A tag with what the processor adds to every sample of it: where it sits.
#[derive(Clone, Debug, PartialEq)]
pub struct TagEntry {
    /// The tag as the catalog keeps it.
    pub tag: Tag,
    /// The asset that holds the tag.
    pub asset: AssetId,
    /// The well above the tag, if any.
    pub well: Option<AssetId>,
    /// The pad above the tag, if any.
    pub pad: Option<AssetId>,
    /// The field at the top of the tag's branch.
    pub field: Option<AssetId>,
}

/// An immutable copy of the catalog at one version.
#[derive(Debug, Default)]
pub struct Snapshot {
    version: u64,
    /// Index into `tags` by tag id; [`NO_SLOT`] where no tag has that id.
    slots: Vec<u32>,
    tags: Vec<TagEntry>,
    tags_by_path: FxHashMap<NodePath, u32>,
    assets: Vec<Asset>,
    assets_by_path: FxHashMap<NodePath, u32>,
}

const NO_SLOT: u32 = u32::MAX;

/// The well, pad and field an asset sits in (or is).
#[derive(Copy, Clone, Debug, Default)]
struct Lineage {
    well: Option<AssetId>,
    pad: Option<AssetId>,
    field: Option<AssetId>,
}

impl Lineage {
    /// The lineage of `asset`, given the one of its parent in `self`.
    fn with(mut self, asset: &Asset) -> Lineage {
        match asset.spec.kind {
            AssetKind::Field => self.field = Some(asset.id),
            AssetKind::Pad => self.pad = Some(asset.id),
            AssetKind::Well => self.well = Some(asset.id),
            AssetKind::Equipment(_) => {}
        }
        self
    }
}

impl Snapshot {
    /// Builds a snapshot of `assets` and `tags` at catalog `version`.
    pub fn build(version: u64, mut assets: Vec<Asset>, tags: Vec<Tag>) -> Snapshot {
        // Parents sort before their children, so one pass down the sorted
        // list finds each asset's well, pad and field from its parent's.
        assets.sort_by(|a, b| a.spec.path.cmp(&b.spec.path));
        let mut assets_by_path: FxHashMap<NodePath, u32> = FxHashMap::default();
        let mut lineages: Vec<Lineage> = Vec::with_capacity(assets.len());
        for (index, asset) in assets.iter().enumerate() {
            let parent = asset.spec.path.parent();
            let inherited = parent
                .and_then(|parent| assets_by_path.get(parent.as_str()))
                .map_or_else(Lineage::default, |parent| lineages[*parent as usize]);
            lineages.push(inherited.with(asset));
            assets_by_path.insert(asset.spec.path.clone(), index as u32);
        }

        let max_id = tags
            .iter()
            .map(|tag| tag.id.0 as usize)
            .max()
            .map_or(0, |max| max + 1);
        let mut slots = vec![NO_SLOT; max_id];
        let mut tags_by_path = FxHashMap::default();
        let mut entries = Vec::with_capacity(tags.len());
        for tag in tags {
            let path = &tag.spec.path;
            let parent = path.parent().expect("bug: stored tags sit below an asset");
            let Some(&asset_index) = assets_by_path.get(parent.as_str()) else {
                panic!("bug: stored tag {path} has no stored parent asset {parent}")
            };
            let lineage = lineages[asset_index as usize];
            let entry = TagEntry {
                asset: assets[asset_index as usize].id,
                well: lineage.well,
                pad: lineage.pad,
                field: lineage.field,
                tag,
            };
            let index = entries.len() as u32;
            slots[entry.tag.id.0 as usize] = index;
            tags_by_path.insert(entry.tag.spec.path.clone(), index);
            entries.push(entry);
        }
        Snapshot {
            version,
            slots,
            tags: entries,
            tags_by_path,
            assets,
            assets_by_path,
        }
    }

    /// A snapshot of `document`'s assets and tags alone, numbered from 1 in
    /// document order, at catalog `version`: for tests, benchmarks and
    /// tools that need a catalog without a database. The document must be
    /// one the catalog would accept, such as the demo field.
    pub fn of_document(version: u64, document: &Document) -> Snapshot {
        let number = |index: usize| u32::try_from(index + 1).expect("bug: under 2^32 entries");
        let assets = document
            .assets
            .iter()
            .enumerate()
            .map(|(index, entry)| Asset {
                id: AssetId(number(index)),
                version,
                spec: entry.spec.clone(),
            })
            .collect();
        let tags = document
            .tags
            .iter()
            .enumerate()
            .map(|(index, entry)| Tag {
                id: TagId(number(index)),
                version,
                spec: entry.spec.clone(),
            })
            .collect();
        Snapshot::build(version, assets, tags)
    }

    /// The catalog version this snapshot shows; 0 for an empty catalog.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The tag with this id. The hot path: no hashing, no allocation.
    #[inline]
    pub fn tag(&self, id: TagId) -> Option<&TagEntry> {
        match self.slots.get(id.0 as usize) {
            Some(&slot) if slot != NO_SLOT => Some(&self.tags[slot as usize]),
            _ => None,
        }
    }

    /// The tag at this path.
    pub fn tag_by_path(&self, path: &str) -> Option<&TagEntry> {
        self.tags_by_path
            .get(path)
            .map(|index| &self.tags[*index as usize])
    }

    /// The asset at this path.
    pub fn asset_by_path(&self, path: &str) -> Option<&Asset> {
        self.assets_by_path
            .get(path)
            .map(|index| &self.assets[*index as usize])
    }

    /// The asset with this id.
    pub fn asset(&self, id: AssetId) -> Option<&Asset> {
        // Assets are few next to tags; a scan keeps the snapshot small.
        self.assets.iter().find(|asset| asset.id == id)
    }

    /// Every tag, ordered by path.
    pub fn tags(&self) -> impl ExactSizeIterator<Item = &TagEntry> {
        self.tags.iter()
    }

    /// Every asset, ordered by path.
    pub fn assets(&self) -> impl ExactSizeIterator<Item = &Asset> {
        self.assets.iter()
    }
}

/// A shared handle on the current snapshot, cheap to clone; every service
/// that reads the catalog holds one.
#[derive(Clone, Debug, Default)]
pub struct SnapshotHandle(Arc<ArcSwap<Snapshot>>);

impl SnapshotHandle {
    /// A handle on `snapshot` alone, for services, tests and benchmarks
    /// that read a fixed catalog without a database.
    pub fn new(snapshot: Snapshot) -> Self {
        SnapshotHandle(Arc::new(ArcSwap::from_pointee(snapshot)))
    }

    /// The current snapshot, for a short read such as one batch of samples.
    /// A few nanoseconds and no reference-count traffic in the common case.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.0.load()
    }

    /// The current snapshot, to keep for a long time.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Installs `snapshot` unless one at least as new is already installed,
    /// so that racing refreshes never go back in time. Returns whether it
    /// was installed.
    pub(crate) fn store_if_newer(&self, snapshot: Snapshot) -> bool {
        let version = snapshot.version();
        let snapshot = Arc::new(snapshot);
        let previous = self.0.rcu(|current| {
            if current.version() >= version {
                Arc::clone(current)
            } else {
                Arc::clone(&snapshot)
            }
        });
        previous.version() < version
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::AssetKind;

    use super::*;
    use crate::model::{AssetSpec, TagSpec};

    fn asset(id: u32, path: &str, kind: AssetKind) -> Asset {
        Asset {
            id: AssetId(id),
            version: 1,
            spec: AssetSpec {
                path: NodePath::parse(path).unwrap(),
                kind,
                description: String::new(),
                attributes: Default::default(),
            },
        }
    }

    fn tag(id: u32, path: &str) -> Tag {
        Tag {
            id: TagId(id),
            version: 1,
            spec: TagSpec::new(NodePath::parse(path).unwrap()),
        }
    }

    fn field() -> Snapshot {
        let esp = AssetKind::Equipment(flowline_core::EquipmentKind::Esp);
        let assets = vec![
            asset(1, "north", AssetKind::Field),
            asset(2, "north/pad-1", AssetKind::Pad),
            asset(3, "north/pad-1/w-01", AssetKind::Well),
            asset(4, "north/pad-1/w-01/esp", esp),
        ];
        let tags = vec![
            tag(7, "north/pad-1/w-01/esp/motor-current"),
            tag(2, "north/pad-1/pressure"),
        ];
        Snapshot::build(9, assets, tags)
    }

    #[test]
    fn tags_are_found_by_id_and_path_with_their_place_in_the_tree() {
        let snapshot = field();
        let current = snapshot.tag(TagId(7)).unwrap();
        assert_eq!(
            current.tag.spec.path.as_str(),
            "north/pad-1/w-01/esp/motor-current"
        );
        assert_eq!(current.asset, AssetId(4));
        assert_eq!(
            (current.well, current.pad, current.field),
            (Some(AssetId(3)), Some(AssetId(2)), Some(AssetId(1)))
        );
        let pad_pressure = snapshot.tag_by_path("north/pad-1/pressure").unwrap();
        assert_eq!(pad_pressure.tag.id, TagId(2));
        assert_eq!(pad_pressure.well, None);
    }

    #[test]
    fn unknown_ids_and_paths_are_absent() {
        let snapshot = field();
        for id in [0, 1, 3, 6, 8, u32::MAX] {
            assert!(snapshot.tag(TagId(id)).is_none(), "id {id}");
        }
        assert!(snapshot.tag_by_path("north/pad-1/w-02/pressure").is_none());
        assert_eq!(
            snapshot.asset_by_path("north/pad-1").unwrap().id,
            AssetId(2)
        );
        let well = snapshot.asset(AssetId(3)).unwrap();
        assert_eq!(well.spec.path.as_str(), "north/pad-1/w-01");
        assert!(snapshot.asset(AssetId(99)).is_none());
    }

    #[test]
    fn a_document_becomes_a_snapshot_numbered_in_document_order() {
        let document = crate::demo_field(crate::DemoLayout::default());
        let snapshot = Snapshot::of_document(4, &document);
        assert_eq!(snapshot.version(), 4);
        assert_eq!(snapshot.tags().len(), document.tags.len());
        let first = snapshot.tag(TagId(1)).unwrap();
        assert_eq!(first.tag.spec, document.tags[0].spec);
        let current = snapshot
            .tag_by_path("north/pad-1/w-01/esp/motor-current")
            .unwrap();
        let well = snapshot.asset(current.well.unwrap()).unwrap();
        assert_eq!(well.spec.path.as_str(), "north/pad-1/w-01");
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let handle = SnapshotHandle::default();
        assert!(handle.store_if_newer(field()));
        assert!(!handle.store_if_newer(Snapshot::build(3, Vec::new(), Vec::new())));
        assert_eq!(handle.load().version(), 9);
        assert!(handle.store_if_newer(Snapshot::build(10, Vec::new(), Vec::new())));
        assert_eq!(handle.load().tags().len(), 0);
    }
}
