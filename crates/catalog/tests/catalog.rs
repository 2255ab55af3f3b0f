//! The catalog against real databases: every test runs on SQLite and on
//! PostgreSQL.

mod common;

use std::collections::BTreeSet;

use common::TestDatabase;
use flowline_catalog::{
    AssetFilter, AssetSpec, Catalog, CatalogError, DemoLayout, Document, Entity, Format,
    HistoryFilter, ImportMode, Limits, Operation, TagFilter, TagSpec, demo_field,
};
use flowline_core::{AssetKind, Criticality, EquipmentKind, NodePath, TagId, Unit};

fn path(text: &str) -> NodePath {
    NodePath::parse(text).unwrap()
}

fn asset(text: &str, kind: AssetKind) -> AssetSpec {
    AssetSpec {
        path: path(text),
        kind,
        description: String::new(),
        attributes: Default::default(),
    }
}

fn pressure(text: &str) -> TagSpec {
    let mut spec = TagSpec::new(path(text));
    spec.unit = Some(Unit::Bar);
    spec.valid_range = Limits::new(0.0, 350.0);
    spec
}

/// A field with one pad and one well.
async fn small_field(catalog: &Catalog) {
    for (text, kind) in [
        ("north", AssetKind::Field),
        ("north/pad-1", AssetKind::Pad),
        ("north/pad-1/w-01", AssetKind::Well),
    ] {
        catalog
            .create_asset(asset(text, kind), "alice")
            .await
            .unwrap();
    }
}

fn messages(error: CatalogError) -> Vec<String> {
    match error {
        CatalogError::Rejected(rows) => rows.iter().map(ToString::to_string).collect(),
        other => panic!("expected a rejection, got {other}"),
    }
}

async fn tags_get_stable_ids_and_the_snapshot_follows(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    assert_eq!(catalog.snapshot().version(), 0);
    small_field(&catalog).await;
    let tag = catalog
        .create_tag(pressure("north/pad-1/w-01/tubing-pressure"), "alice")
        .await
        .unwrap();
    assert_eq!(tag.version, 4);

    let snapshot = catalog.snapshot();
    assert_eq!(snapshot.version(), 4);
    let entry = snapshot
        .tag(tag.id)
        .expect("the new tag is in the snapshot at once");
    assert_eq!(entry.tag, tag);
    let well = snapshot.asset_by_path("north/pad-1/w-01").unwrap();
    assert_eq!(entry.well, Some(well.id));
    assert_eq!(
        snapshot
            .tag_by_path("north/pad-1/w-01/tubing-pressure")
            .unwrap()
            .tag
            .id,
        tag.id
    );

    // A second process sees the tag after a refresh, under the same id.
    let other = Catalog::open(db.database.clone()).await.unwrap();
    assert_eq!(
        other.snapshot().tag(tag.id).unwrap().tag.spec.path,
        tag.spec.path
    );
}

async fn a_tag_under_a_missing_asset_is_rejected_and_nothing_is_written(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    let error = catalog
        .create_tag(pressure("north/pad-1/w-02/tubing-pressure"), "alice")
        .await
        .unwrap_err();
    assert_eq!(
        messages(error),
        [
            "north/pad-1/w-02/tubing-pressure: parent asset `north/pad-1/w-02` does not exist; \
             create it first, or in the same file"
        ]
    );
    assert!(
        catalog
            .tags(&TagFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(catalog.snapshot().version(), 3);
}

async fn the_tree_shape_is_enforced(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    let error = catalog
        .create_asset(asset("north/w-09", AssetKind::Well), "alice")
        .await
        .unwrap_err();
    assert_eq!(
        messages(error),
        ["north/w-09: a well cannot sit under the field `north`"]
    );
    let error = catalog
        .create_asset(asset("south/pad-1", AssetKind::Pad), "alice")
        .await
        .unwrap_err();
    assert!(messages(error)[0].contains("parent asset `south` does not exist"));
    let esp = AssetKind::Equipment(EquipmentKind::Esp);
    catalog
        .create_asset(asset("north/pad-1/w-01/esp", esp), "alice")
        .await
        .unwrap();
}

async fn duplicate_paths_are_rejected(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    catalog
        .create_tag(pressure("north/pad-1/w-01/tubing-pressure"), "alice")
        .await
        .unwrap();

    let error = catalog
        .create_tag(pressure("north/pad-1/w-01/tubing-pressure"), "bob")
        .await
        .unwrap_err();
    assert_eq!(
        messages(error),
        ["north/pad-1/w-01/tubing-pressure: tag already exists"]
    );
    let error = catalog
        .create_asset(asset("north/pad-1", AssetKind::Pad), "bob")
        .await
        .unwrap_err();
    assert_eq!(messages(error), ["north/pad-1: asset already exists"]);
    // A tag may not take an asset's path, nor an asset a tag's.
    let error = catalog
        .create_tag(pressure("north/pad-1/w-01"), "bob")
        .await
        .unwrap_err();
    assert!(
        messages(error).contains(&"north/pad-1/w-01: path is already used by an asset".to_owned())
    );
    let error = catalog
        .create_asset(
            asset(
                "north/pad-1/w-01/tubing-pressure",
                AssetKind::Equipment(EquipmentKind::Meter),
            ),
            "bob",
        )
        .await
        .unwrap_err();
    assert!(
        messages(error).contains(
            &"north/pad-1/w-01/tubing-pressure: path is already used by a tag".to_owned()
        )
    );
}

async fn every_change_is_versioned_with_who_when_and_what(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    let created = catalog
        .create_tag(pressure("north/pad-1/w-01/tubing-pressure"), "alice")
        .await
        .unwrap();

    let mut changed = created.spec.clone();
    changed.unit = Some(Unit::Psi);
    changed.valid_range = Limits::new(0.0, 5_000.0);
    let updated = catalog
        .update_tag(&created.spec.path, changed, "bob")
        .await
        .unwrap();
    assert_eq!(updated.id, created.id);
    assert!(updated.version > created.version);
    catalog
        .delete_tag(&created.spec.path, "carol")
        .await
        .unwrap();

    let filter = HistoryFilter {
        entity: Some(Entity::Tag),
        entity_id: Some(created.id.0),
        ..Default::default()
    };
    let history = catalog.history(&filter).await.unwrap();
    let summary: Vec<(Operation, &str, Vec<String>)> = history
        .iter()
        .map(|change| {
            (
                change.operation,
                change.actor.as_str(),
                change.fields.clone(),
            )
        })
        .collect();
    assert_eq!(summary[0].0, Operation::Create);
    assert_eq!(
        summary[1],
        (
            Operation::Update,
            "bob",
            vec!["unit".to_owned(), "valid_range".to_owned()]
        )
    );
    assert_eq!(summary[2].0, Operation::Delete);
    assert_eq!(summary[2].1, "carol");
    assert_eq!(history[1].before.as_ref().unwrap()["unit"], "bar");
    assert_eq!(history[1].after.as_ref().unwrap()["unit"], "psi");
    assert!(history[0].at <= history[2].at);
    assert!(
        history
            .windows(2)
            .all(|pair| pair[0].version < pair[1].version)
    );
    assert!(catalog.snapshot().tag(created.id).is_none());
}

async fn renaming_a_tag_keeps_its_id(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    catalog
        .create_asset(asset("north/pad-1/w-02", AssetKind::Well), "alice")
        .await
        .unwrap();
    let tag = catalog
        .create_tag(pressure("north/pad-1/w-01/casing-pressure"), "alice")
        .await
        .unwrap();

    let mut moved = tag.spec.clone();
    moved.path = path("north/pad-1/w-02/casing-pressure");
    let after = catalog
        .update_tag(&tag.spec.path, moved, "alice")
        .await
        .unwrap();
    let by_id = catalog.tag_by_id(tag.id).await.unwrap().unwrap();
    assert_eq!(by_id.spec.path.as_str(), "north/pad-1/w-02/casing-pressure");
    let old_path = catalog.tag(&tag.spec.path).await.unwrap();
    assert!(old_path.is_none(), "the old path is free");
    assert_eq!(after.id, tag.id);
    let entry = catalog.snapshot().tag(tag.id).unwrap().clone();
    assert_eq!(
        entry.tag.spec.path.as_str(),
        "north/pad-1/w-02/casing-pressure"
    );
    assert_eq!(
        Some(entry.asset),
        catalog
            .snapshot()
            .asset_by_path("north/pad-1/w-02")
            .map(|a| a.id)
    );

    let mut nowhere = after.spec.clone();
    nowhere.path = path("north/pad-1/w-03/casing-pressure");
    let error = catalog
        .update_tag(&after.spec.path, nowhere, "alice")
        .await
        .unwrap_err();
    assert!(messages(error)[0].contains("parent asset `north/pad-1/w-03` does not exist"));
    let missing = catalog
        .update_tag(
            &path("north/pad-1/w-01/nothing"),
            pressure("north/pad-1/w-01/nothing"),
            "alice",
        )
        .await;
    assert!(matches!(
        missing,
        Err(CatalogError::NotFound { what: "tag", .. })
    ));
}

async fn deleting_an_asset_that_holds_tags_is_refused(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&catalog).await;
    catalog
        .create_tag(pressure("north/pad-1/w-01/tubing-pressure"), "alice")
        .await
        .unwrap();
    let error = catalog
        .delete_asset(&path("north/pad-1/w-01"), "alice")
        .await
        .unwrap_err();
    assert_eq!(
        messages(error),
        ["north/pad-1/w-01: asset holds 0 assets and 1 tags; delete or move them first"]
    );
    let error = catalog
        .delete_asset(&path("north/pad-1"), "alice")
        .await
        .unwrap_err();
    assert!(messages(error)[0].contains("holds 1 assets and 0 tags"));

    catalog
        .delete_tag(&path("north/pad-1/w-01/tubing-pressure"), "alice")
        .await
        .unwrap();
    catalog
        .delete_asset(&path("north/pad-1/w-01"), "alice")
        .await
        .unwrap();
    assert!(
        catalog
            .snapshot()
            .asset_by_path("north/pad-1/w-01")
            .is_none()
    );
}

async fn import_is_all_or_nothing_and_reports_every_bad_row(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    let csv = "kind,path,unit,valid_lo,valid_hi,criticality\n\
               field,north,,,,\n\
               pad,north/pad-1,,,,\n\
               well,north/pad-1/w-01,,,,\n\
               tag,north/pad-1/w-01/tubing-pressure,bar,0,350,high\n\
               tag,north/pad-1/w-01/casing-pressure,bar,350,0,high\n\
               tag,north/pad-1/w-01/flowline-temperature,degrees,,,\n\
               tag,north/pad-1/w-09/tubing-pressure,bar,,,\n\
               tag,north/pad-1/w-01/tubing-pressure,bar,,,\n";
    let document = Document::parse(csv, Format::Csv).unwrap();
    let error = catalog
        .import(&document, ImportMode::AllOrNothing, "alice")
        .await
        .unwrap_err();
    let problems = messages(error);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert_eq!(
        problems[0],
        "line 6: north/pad-1/w-01/casing-pressure: valid_range: lo 350 is greater than hi 0"
    );
    assert!(problems[1].starts_with(
        "line 7: north/pad-1/w-01/flowline-temperature: unit: unknown unit `degrees`"
    ));
    assert!(problems[2].starts_with(
        "line 8: north/pad-1/w-09/tubing-pressure: parent asset `north/pad-1/w-09` does not exist"
    ));
    assert_eq!(
        problems[3],
        "line 9: north/pad-1/w-01/tubing-pressure: duplicate path: already defined at line 5"
    );

    assert!(
        catalog
            .assets(&AssetFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "nothing was applied"
    );
    assert_eq!(catalog.snapshot().version(), 0);

    let report = catalog
        .import(&document, ImportMode::SkipInvalid, "alice")
        .await
        .unwrap();
    assert_eq!((report.assets.created, report.tags.created), (3, 1));
    assert_eq!(report.rejected.len(), 4);
    assert_eq!(report.version, 4);
    assert_eq!(
        catalog.tags(&TagFilter::default()).await.unwrap()[0]
            .spec
            .path
            .as_str(),
        "north/pad-1/w-01/tubing-pressure"
    );
}

async fn a_rejected_parent_rejects_its_children(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    let yaml = "assets:\n  - {path: north, kind: field}\n  - {path: north/pad-1, kind: well}\n\
                tags:\n  - {path: north/pad-1/pressure, unit: bar}\n";
    let document = Document::parse(yaml, Format::Yaml).unwrap();
    let report = catalog
        .import(&document, ImportMode::SkipInvalid, "alice")
        .await
        .unwrap();
    let problems: Vec<String> = report.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "line 3: north/pad-1: a well cannot sit under the field `north`",
            "line 5: north/pad-1/pressure: its parent asset `north/pad-1` was rejected",
        ]
    );
    assert_eq!(report.assets.created, 1);
}

async fn export_and_import_round_trip_into_a_fresh_catalog(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    let demo = demo_field(DemoLayout::default());
    let report = catalog
        .import(&demo, ImportMode::AllOrNothing, "setup")
        .await
        .unwrap();
    assert!(report.rejected.is_empty());
    let exported = catalog.export().await.unwrap();
    assert_eq!(exported.tags.len(), demo.tags.len());

    for format in [Format::Csv, Format::Yaml] {
        let text = exported.render(format);
        let fresh_db = if format == Format::Csv {
            TestDatabase::sqlite().await
        } else {
            TestDatabase::postgres().await
        };
        let fresh = Catalog::open(fresh_db.database.clone()).await.unwrap();
        let document = Document::parse(&text, format).unwrap();
        let report = fresh
            .import(&document, ImportMode::AllOrNothing, "copy")
            .await
            .unwrap();
        assert_eq!(report.tags.created, demo.tags.len());
        assert_eq!(
            fresh.export().await.unwrap().render(format),
            text,
            "{format:?} export differs after a round trip"
        );

        // Importing the same file again changes nothing and adds no version.
        let again = fresh
            .import(&document, ImportMode::AllOrNothing, "copy")
            .await
            .unwrap();
        assert_eq!(
            (again.tags.unchanged, again.tags.created, again.tags.updated),
            (demo.tags.len(), 0, 0)
        );
        assert_eq!(again.version, report.version);
    }

    // An edited file updates only what changed.
    let mut edited = exported.clone();
    edited.tags[0].spec.description.push_str(" (recalibrated)");
    let report = catalog
        .import(&edited, ImportMode::AllOrNothing, "bob")
        .await
        .unwrap();
    assert_eq!(
        (report.tags.updated, report.tags.unchanged),
        (1, demo.tags.len() - 1)
    );
}

async fn lists_filter_by_subtree_unit_criticality_and_text(db: TestDatabase) {
    let catalog = Catalog::open(db.database.clone()).await.unwrap();
    catalog
        .import(
            &demo_field(DemoLayout::default()),
            ImportMode::AllOrNothing,
            "setup",
        )
        .await
        .unwrap();

    let within = TagFilter {
        within: Some(path("north/pad-2")),
        ..Default::default()
    };
    let tags = catalog.tags(&within).await.unwrap();
    assert!(!tags.is_empty());
    assert!(
        tags.iter()
            .all(|tag| tag.spec.path.as_str().starts_with("north/pad-2/"))
    );

    let amps = TagFilter {
        unit: Some(Unit::Ampere),
        ..Default::default()
    };
    assert_eq!(
        catalog.tags(&amps).await.unwrap().len(),
        3,
        "three ESP wells, one motor current each"
    );

    let critical = TagFilter {
        criticality: Some(Criticality::Critical),
        within: Some(path("north/pad-1")),
        ..Default::default()
    };
    let paths: BTreeSet<String> = catalog
        .tags(&critical)
        .await
        .unwrap()
        .iter()
        .map(|tag| tag.spec.path.to_string())
        .collect();
    assert!(paths.contains("north/pad-1/separator/level"));

    let text = TagFilter {
        text: Some("WINDING".into()),
        ..Default::default()
    };
    assert_eq!(catalog.tags(&text).await.unwrap().len(), 3);
    let underscore = TagFilter {
        text: Some("_".into()),
        ..Default::default()
    };
    assert!(
        catalog.tags(&underscore).await.unwrap().is_empty(),
        "LIKE wildcards are matched literally"
    );

    // Paging by cursor visits every tag once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = catalog
            .tags(&TagFilter {
                after: after.clone(),
                limit: Some(50),
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.spec.path.clone());
        seen.extend(page.into_iter().map(|tag| tag.id));
    }
    assert_eq!(seen.len(), catalog.snapshot().tags().len());

    let wells = AssetFilter {
        kind: Some(AssetKind::Well),
        ..Default::default()
    };
    assert_eq!(catalog.assets(&wells).await.unwrap().len(), 12);
}

async fn concurrent_writers_get_gapless_ordered_versions(db: TestDatabase) {
    let first = Catalog::open(db.database.clone()).await.unwrap();
    small_field(&first).await;
    let second = Catalog::open(db.database.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..16 {
        let catalog = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            catalog
                .create_tag(pressure(&format!("north/pad-1/w-01/p-{n}")), "load")
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let versions: Vec<u64> = first
        .history(&HistoryFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|c| c.version)
        .collect();
    assert_eq!(versions, (1..=19).collect::<Vec<u64>>());
    second.refresh().await.unwrap();
    assert_eq!(second.snapshot().version(), 19);
    assert_eq!(second.snapshot().tags().len(), 16);
    assert!(second.snapshot().tag(TagId(u32::MAX)).is_none());
}

on_both_backends!(
    tags_get_stable_ids_and_the_snapshot_follows,
    a_tag_under_a_missing_asset_is_rejected_and_nothing_is_written,
    the_tree_shape_is_enforced,
    duplicate_paths_are_rejected,
    every_change_is_versioned_with_who_when_and_what,
    renaming_a_tag_keeps_its_id,
    deleting_an_asset_that_holds_tags_is_refused,
    import_is_all_or_nothing_and_reports_every_bad_row,
    a_rejected_parent_rejects_its_children,
    export_and_import_round_trip_into_a_fresh_catalog,
    lists_filter_by_subtree_unit_criticality_and_text,
    concurrent_writers_get_gapless_ordered_versions,
);
