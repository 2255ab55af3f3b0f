//! Samples: raw on `raw-sensor-data` (a [`Sample`] as it is), processed on
//! `processed-data` (a [`ProcessedRecord`]: the same six fields first,
//! then what the processor adds).

use std::sync::OnceLock;

use flowline_core::{
    AssetId, Criticality, DataQualityFlags, Quality, Sample, TagId, Timestamp, Unit,
};

use rustc_hash::FxHashMap;

use super::{put_criticality, put_value, read_criticality, read_value};
use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::schema::SchemaKind;
use crate::wire::WireRecord;

/// Appends the six fields a raw and a processed sample share.
fn put_sample(out: &mut Vec<u8>, sample: &Sample) {
    avro::put_long(out, i64::from(sample.tag.0));
    avro::put_long(out, sample.time.as_micros());
    avro::put_long(out, sample.received.as_micros());
    put_value(out, &sample.value);
    avro::put_long(out, i64::from(sample.quality.bits()));
    avro::put_int(out, i32::from(sample.flags.bits()));
}

/// Reads the six fields a raw and a processed sample share. Flags this
/// build does not know are kept.
fn read_sample(reader: &mut Reader<'_>) -> Result<Sample, DecodeError> {
    Ok(Sample {
        tag: TagId(reader.u32_long("tag")?),
        time: Timestamp::from_micros(reader.long("time")?),
        received: Timestamp::from_micros(reader.long("received")?),
        value: read_value(reader, "value")?,
        quality: Quality::from_bits(reader.u32_long("quality")?),
        flags: DataQualityFlags::from_bits_retain(reader.u16_int("flags")?),
    })
}

impl WireRecord<'_> for Sample {
    const KIND: SchemaKind = SchemaKind::RawSample;

    fn write(&self, out: &mut Vec<u8>) {
        put_sample(out, self);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_sample(reader)
    }
}

/// A processed sample as `processed-data` carries it: the sample with
/// what the processor found and where the tag sits, ids and names both,
/// so a sink needs no catalog to store it.
///
/// The processor builds it from its own processed sample and the catalog
/// snapshot the enrichment came from (the tag's path); decoding borrows
/// the path from the record's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedRecord<'a> {
    /// The sample: value in the tag's catalog unit and data type, source
    /// quality unchanged, Flowline's flags.
    pub sample: Sample,
    /// The tag's catalog path, such as `north/pad-1/w-01/esp/motor-current`.
    pub tag_path: &'a str,
    /// How far the value can be trusted, from 0 to 1.
    pub score: f32,
    /// The asset that holds the tag.
    pub asset: AssetId,
    /// The well above the tag, if any.
    pub well: Option<AssetId>,
    /// The pad above the tag, if any.
    pub pad: Option<AssetId>,
    /// The field at the top of the tag's branch, if any.
    pub field: Option<AssetId>,
    /// The tag's engineering unit, the value's unit; written as its
    /// symbol.
    pub unit: Option<Unit>,
    /// How much the tag matters.
    pub criticality: Criticality,
    /// The catalog version the enrichment came from.
    pub catalog_version: u64,
}

/// Reads an optional asset id, the union `["null", "long"]`.
fn read_asset(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<Option<AssetId>, DecodeError> {
    Ok(reader.optional_u32_long(field)?.map(AssetId))
}

/// Reads the unit symbol, the union `["null", "string"]`.
fn read_unit(reader: &mut Reader<'_>) -> Result<Option<Unit>, DecodeError> {
    let offset = reader.position();
    let Some(symbol) = reader.optional_string("unit")? else {
        return Ok(None);
    };
    unit_of(symbol)
        .map(Some)
        .ok_or_else(|| reader.unknown_name("unit", offset, "unit", symbol))
}

/// The unit whose symbol is `symbol`. Only symbols, as the schema says:
/// an alias the catalog accepts in files (`degC`) is not a symbol here,
/// so every unit has one spelling on the wire.
///
/// Fast path: a hash lookup rather than the catalog's scan of symbols
/// and aliases.
fn unit_of(symbol: &str) -> Option<Unit> {
    static SYMBOLS: OnceLock<FxHashMap<&'static str, Unit>> = OnceLock::new();
    let symbols = SYMBOLS.get_or_init(|| Unit::all().map(|unit| (unit.symbol(), unit)).collect());
    symbols.get(symbol).copied()
}

impl<'a> WireRecord<'a> for ProcessedRecord<'a> {
    const KIND: SchemaKind = SchemaKind::ProcessedSample;

    fn write(&self, out: &mut Vec<u8>) {
        put_sample(out, &self.sample);
        avro::put_string(out, self.tag_path);
        avro::put_float(out, self.score);
        avro::put_long(out, i64::from(self.asset.0));
        for asset in [self.well, self.pad, self.field] {
            avro::put_optional_long(out, asset.map(|asset| i64::from(asset.0)));
        }
        avro::put_optional_string(out, self.unit.map(Unit::symbol));
        put_criticality(out, self.criticality);
        let version = i64::try_from(self.catalog_version)
            .expect("bug: catalog versions are database integers, below 2^63");
        avro::put_long(out, version);
    }

    fn read(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ProcessedRecord {
            sample: read_sample(reader)?,
            tag_path: reader.string("tag_path")?,
            score: reader.float("score")?,
            asset: AssetId(reader.u32_long("asset")?),
            well: read_asset(reader, "well")?,
            pad: read_asset(reader, "pad")?,
            field: read_asset(reader, "field")?,
            unit: read_unit(reader)?,
            criticality: read_criticality(reader, "criticality")?,
            catalog_version: reader.u64_long("catalog_version")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::Value;

    use super::*;
    use crate::wire::Codec;

    /// A raw sample, and its bytes built by hand, field by field.
    #[test]
    fn a_raw_sample_is_laid_out_byte_by_byte_as_the_schema_says() {
        let sample = Sample {
            tag: TagId(3),
            time: Timestamp::from_micros(-1),
            received: Timestamp::from_micros(64),
            value: Value::Float(1.0),
            quality: Quality::from_bits(0x8000_0000),
            flags: DataQualityFlags::STUCK,
        };
        let mut bytes = Vec::new();
        Codec::embedded().encode(&sample, &mut bytes);
        let expected = [
            0x00, // magic byte
            0x00, 0x00, 0x00, 0x01, // schema id 1: raw-sample v1, big-endian
            0x06, // tag 3: zigzag 6
            0x01, // time -1: zigzag 1
            0x80, 0x01, // received 64: zigzag 128 in two varint bytes
            0x02, // value: union branch 1, double
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, // 1.0, little-endian
            0x80, 0x80, 0x80, 0x80,
            0x10, // quality 0x80000000: zigzag 2^32, bit 32 in the fifth group
            0x08, // flags: stuck, bit 2, 4, zigzag 8
        ];
        assert_eq!(bytes, expected);
        assert_eq!(Codec::embedded().decode::<Sample>(&bytes).unwrap(), sample);
    }

    #[test]
    fn a_missing_value_travels_as_null_and_comes_back_missing() {
        let sample = Sample::new(TagId(1), Timestamp::from_micros(0), Value::MISSING)
            .with_quality(Quality::BAD_SENSOR_FAILURE);
        let mut bytes = Vec::new();
        Codec::embedded().encode(&sample, &mut bytes);
        // tag, time, received, then branch 0 (null) with no bytes.
        assert_eq!(bytes[5..9], [0x02, 0x00, 0x00, 0x00]);
        let decoded = Codec::embedded().decode::<Sample>(&bytes).unwrap();
        assert!(decoded.value.is_missing());
        assert_eq!(decoded.quality, Quality::BAD_SENSOR_FAILURE);
    }

    #[test]
    fn a_tag_id_beyond_32_bits_is_out_of_range_naming_the_field() {
        let mut bytes = vec![0, 0, 0, 0, 1];
        avro::put_long(&mut bytes, 1 << 32);
        let error = Codec::embedded().decode::<Sample>(&bytes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "raw-sample record: `tag` at offset 5 is 4294967296; expected 0 to 4294967295"
        );
    }

    /// Found by fuzzing: reading the alias `F` and writing the symbol
    /// `°F` made a record longer, and gave a unit two spellings.
    #[test]
    fn units_read_by_their_symbol_only_never_by_an_alias() {
        assert_eq!(unit_of("bar"), Some(Unit::Bar));
        assert_eq!(unit_of("°C"), Some(Unit::Celsius));
        assert_eq!(unit_of("degC"), None);
        assert_eq!(unit_of("F"), None);
        assert_eq!(unit_of("BAR"), None);
        for unit in Unit::all() {
            assert_eq!(unit_of(unit.symbol()), Some(unit));
        }
    }

    #[test]
    fn an_unknown_unit_symbol_is_an_error_quoting_it() {
        let record = ProcessedRecord {
            sample: Sample::new(TagId(1), Timestamp::from_micros(0), Value::Float(2.0)),
            tag_path: "north/pad-1/w-01/tubing-pressure",
            score: 1.0,
            asset: AssetId(4),
            well: Some(AssetId(4)),
            pad: Some(AssetId(2)),
            field: Some(AssetId(1)),
            unit: Some(Unit::Bar),
            criticality: Criticality::High,
            catalog_version: 9,
        };
        let mut bytes = Vec::new();
        Codec::embedded().encode(&record, &mut bytes);
        let at = bytes
            .windows(3)
            .position(|window| window == b"bar")
            .unwrap();
        bytes[at..at + 3].copy_from_slice(b"baz");
        let error = Codec::embedded()
            .decode::<ProcessedRecord<'_>>(&bytes)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "processed-sample record: `unit` at offset {} is `baz`, not a known unit",
                at - 2
            )
        );
        assert_eq!(error.reason(), "unknown-name");
    }
}
