//! Record keys, which decide partitions: what must be read together is
//! keyed alike.
//!
//! The processor keeps state per tag and per well (validation history,
//! compression, pattern windows), and one pipeline owns a partition, so
//! every sample of a well's tags must land in the partition that holds the
//! well's state. Samples, raw and processed, are therefore keyed by their
//! tag's well; a tag outside any well (a separator's, a tank's) by the
//! asset that holds it, which keeps an asset's tags together too. Alerts
//! are keyed by their well, so a well's alerts share a partition number
//! with its samples wherever the two topics have as many partitions.
//! Commands and their outcomes are keyed by their tag, so a tag's
//! commands and outcomes stay in order. A dead letter keeps the key of
//! the record it holds.
//!
//! A key is the id as four big-endian bytes: the layout of Kafka's
//! `IntegerSerializer`, so Kafka's own tools show it as a number.
//! [`flowline_bus::partition_for_key`] hashes it as Kafka does.

use flowline_core::{AssetId, TagId};

/// A record key: an asset's or a tag's id, big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKey([u8; 4]);

impl RecordKey {
    /// The key's bytes, as the record carries them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id a key holds; `None` unless it is four bytes.
    pub fn id(bytes: &[u8]) -> Option<u32> {
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }
}

/// The key of a sample, raw or processed, of a tag in `well` (if any),
/// held by `asset`: the well, else the asset. The one place this rule
/// lives: the gateway keys the samples it publishes by it, and the
/// processor's `partition_key` (which decides where a tag's state lives)
/// is this function, with the tag's well and asset from the catalog
/// snapshot.
pub fn sample_key(well: Option<AssetId>, asset: AssetId) -> RecordKey {
    RecordKey(well.unwrap_or(asset).0.to_be_bytes())
}

/// The key of an alert on `well`: the same bytes as its samples' keys.
pub fn well_key(well: AssetId) -> RecordKey {
    sample_key(Some(well), well)
}

/// The key of a command to `tag`, or of its outcome.
pub fn tag_key(tag: TagId) -> RecordKey {
    RecordKey(tag.0.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use flowline_bus::partition_for_key;

    use super::*;

    #[test]
    fn a_wells_samples_and_alerts_land_in_one_partition() {
        let well = AssetId(7);
        let esp = AssetId(70);
        for partitions in [1, 4, 12, 64] {
            let sample = partition_for_key(sample_key(Some(well), esp).as_bytes(), partitions);
            let alert = partition_for_key(well_key(well).as_bytes(), partitions);
            assert_eq!(sample, alert, "{partitions} partitions");
        }
    }

    #[test]
    fn a_tag_outside_wells_is_keyed_by_its_asset() {
        let separator = AssetId(300);
        assert_eq!(sample_key(None, separator).as_bytes(), [0, 0, 1, 44]);
        assert_eq!(
            RecordKey::id(sample_key(None, separator).as_bytes()),
            Some(300)
        );
        assert_eq!(RecordKey::id(b"abc"), None);
    }

    #[test]
    fn keys_are_big_endian_like_kafkas_integer_serializer() {
        assert_eq!(tag_key(TagId(0x0102_0304)).as_bytes(), [1, 2, 3, 4]);
        assert_eq!(well_key(AssetId(1)).as_bytes(), [0, 0, 0, 1]);
    }
}
