//! The field both sides read: the demo field at a chosen size, as the
//! simulator serves it, as the gateway's catalog snapshot knows it, and
//! as the points a benchmark picks from it.

use anyhow::bail;
use flowline_catalog::modbus::{Point, Table};
use flowline_catalog::{Asset, Document, Snapshot, Tag};
use flowline_core::{AssetId, TagId};
use flowline_edge::modbus::PolledPoint;

/// The catalog snapshot of `document`, as if it had been imported into
/// an empty catalog: ids from 1 in document order, version 1.
pub fn snapshot(document: &Document) -> Snapshot {
    let assets = document
        .assets
        .iter()
        .zip(1..)
        .map(|(entry, id)| Asset {
            id: AssetId(id),
            version: 1,
            spec: entry.spec.clone(),
        })
        .collect();
    let tags = document
        .tags
        .iter()
        .zip(1..)
        .map(|(entry, id)| Tag {
            id: TagId(id),
            version: 1,
            spec: entry.spec.clone(),
        })
        .collect();
    Snapshot::build(1, assets, tags)
}

/// The first `count` points of unit `unit` that sit in one of `tables`,
/// in point-list order; an error if the unit has fewer.
pub fn first_points(
    points: &[Point],
    unit: u8,
    tables: &[Table],
    count: usize,
) -> anyhow::Result<Vec<Point>> {
    let chosen: Vec<Point> = points
        .iter()
        .filter(|point| point.address.unit == unit && tables.contains(&point.address.table))
        .take(count)
        .cloned()
        .collect();
    if chosen.len() < count {
        bail!(
            "expected {count} points in unit {unit}, found {}; make the pads larger",
            chosen.len()
        );
    }
    Ok(chosen)
}

/// `points` as the gateway polls them; each tag id is the point's
/// position, from 1.
pub fn polled(points: &[Point]) -> Vec<PolledPoint> {
    points
        .iter()
        .zip(1..)
        .map(|(point, id)| PolledPoint {
            tag: TagId(id),
            address: point.address,
        })
        .collect()
}

/// How many points of each table `points` has, as `N input, M holding`.
pub fn describe_tables(points: &[Point]) -> String {
    let mut parts = Vec::new();
    for table in [
        Table::InputRegister,
        Table::HoldingRegister,
        Table::DiscreteInput,
        Table::Coil,
    ] {
        let count = points
            .iter()
            .filter(|point| point.address.table == table)
            .count();
        if count > 0 {
            parts.push(format!("{count} {}", table.name()));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use flowline_catalog::{DemoLayout, demo_field};
    use flowline_sim::point_list;

    use super::*;

    #[test]
    fn the_snapshot_knows_every_tag_of_the_document_by_path() {
        let document = demo_field(DemoLayout::default());
        let snapshot = snapshot(&document);
        for entry in &document.tags {
            assert!(
                snapshot.tag_by_path(entry.spec.path.as_str()).is_some(),
                "{}",
                entry.spec.path
            );
        }
    }

    #[test]
    fn the_first_points_come_from_the_unit_and_tables_asked_for() {
        let document = demo_field(DemoLayout {
            pads: 2,
            wells_per_pad: 12,
        });
        let points = point_list(&document).unwrap();
        let registers = [Table::InputRegister, Table::HoldingRegister];
        let chosen = first_points(&points, 2, &registers, 100).unwrap();
        assert_eq!(chosen.len(), 100);
        assert!(chosen.iter().all(|point| point.address.unit == 2));
        assert!(chosen.iter().all(|point| !point.address.table.is_bits()));
        assert!(describe_tables(&chosen).starts_with("8"), "mostly input");

        let error = first_points(&points, 1, &registers, 1_000).unwrap_err();
        assert!(error.to_string().contains("expected 1000 points in unit 1"));
    }
}
