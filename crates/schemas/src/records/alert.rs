//! Alerts: a pattern that matched on a well, with its evidence, on
//! `alerts`.

use flowline_core::{AssetId, Criticality, TagId, Timestamp};

use super::{put_criticality, read_criticality};
use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::schema::SchemaKind;
use crate::wire::WireRecord;

/// Fewest bytes an evidence item takes: five fields of at least one byte
/// (the value, eight).
const MIN_EVIDENCE_LEN: usize = 12;

/// A pattern match as `alerts` carries it. The processor builds it from
/// its pattern event and the catalog snapshot (the well's path); decoding
/// borrows the texts from the record's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord<'a> {
    /// The id of the pattern that matched.
    pub pattern: &'a str,
    /// The pattern's severity.
    pub severity: Criticality,
    /// The well it matched on.
    pub well: AssetId,
    /// The well's catalog path, such as `north/pad-1/w-01`.
    pub well_path: &'a str,
    /// Event time of the match.
    pub time: Timestamp,
    /// The readings that satisfied the pattern, in the order of its
    /// conditions.
    pub evidence: Vec<EvidenceRecord<'a>>,
}

/// One reading that made a pattern match.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceRecord<'a> {
    /// The part it played: `start`, `now`, `base`, `first`, `then` or
    /// `last` (the processor's names for its evidence roles).
    pub role: &'a str,
    /// The tag's path below the well, as the pattern names it.
    pub name: &'a str,
    /// The tag.
    pub tag: TagId,
    /// When it was read.
    pub time: Timestamp,
    /// The value in the tag's catalog unit (booleans 0 or 1).
    pub value: f64,
}

/// Appends one evidence item.
fn put_evidence(out: &mut Vec<u8>, evidence: &EvidenceRecord<'_>) {
    avro::put_string(out, evidence.role);
    avro::put_string(out, evidence.name);
    avro::put_long(out, i64::from(evidence.tag.0));
    avro::put_long(out, evidence.time.as_micros());
    avro::put_double(out, evidence.value);
}

/// Reads one evidence item.
fn read_evidence<'a>(reader: &mut Reader<'a>) -> Result<EvidenceRecord<'a>, DecodeError> {
    Ok(EvidenceRecord {
        role: reader.string("evidence.role")?,
        name: reader.string("evidence.name")?,
        tag: TagId(reader.u32_long("evidence.tag")?),
        time: Timestamp::from_micros(reader.long("evidence.time")?),
        value: reader.double("evidence.value")?,
    })
}

impl<'a> WireRecord<'a> for AlertRecord<'a> {
    const KIND: SchemaKind = SchemaKind::Alert;

    fn write(&self, out: &mut Vec<u8>) {
        avro::put_string(out, self.pattern);
        put_criticality(out, self.severity);
        avro::put_long(out, i64::from(self.well.0));
        avro::put_string(out, self.well_path);
        avro::put_long(out, self.time.as_micros());
        avro::put_array(out, &self.evidence, put_evidence);
    }

    fn read(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(AlertRecord {
            pattern: reader.string("pattern")?,
            severity: read_criticality(reader, "severity")?,
            well: AssetId(reader.u32_long("well")?),
            well_path: reader.string("well_path")?,
            time: Timestamp::from_micros(reader.long("time")?),
            evidence: reader.array("evidence", MIN_EVIDENCE_LEN, read_evidence)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Codec;

    #[test]
    fn an_alert_with_its_evidence_reads_back_borrowing_its_texts() {
        let alert = AlertRecord {
            pattern: "esp-gas-lock",
            severity: Criticality::Critical,
            well: AssetId(12),
            well_path: "north/pad-1/w-01",
            time: Timestamp::from_seconds(1_800_000_000),
            evidence: vec![
                EvidenceRecord {
                    role: "start",
                    name: "esp/motor-current",
                    tag: TagId(40),
                    time: Timestamp::from_seconds(1_799_999_880),
                    value: 24.5,
                },
                EvidenceRecord {
                    role: "now",
                    name: "esp/motor-current",
                    tag: TagId(40),
                    time: Timestamp::from_seconds(1_800_000_000),
                    value: 22.0,
                },
            ],
        };
        let mut bytes = Vec::new();
        Codec::embedded().encode(&alert, &mut bytes);
        let decoded: AlertRecord<'_> = Codec::embedded().decode(&bytes).unwrap();
        assert_eq!(decoded, alert);
        let pattern_at = decoded.pattern.as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(pattern_at, 6, "the pattern is a slice of the record");
    }
}
