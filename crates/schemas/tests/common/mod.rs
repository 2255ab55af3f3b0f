//! What the interoperability tests share: random records of every
//! schema, with the texts they borrow leaked for the test's life, and
//! Flowline's encoding of them.

use flowline_bus::Topic;
use flowline_core::{
    AssetId, Command, CommandOutcome, Criticality, DataQualityFlags, Outcome, Quality, Sample,
    SignedCommand, TagId, Timestamp, Unit, Value,
};
use flowline_schemas::{
    AlertRecord, Codec, DeadLetter, EvidenceRecord, ProcessedRecord, WireRecord,
};
use proptest::prelude::*;

/// `text` for the life of the test process: random records borrow their
/// texts, as decoded ones do.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// Short texts, ASCII and beyond.
fn text() -> impl Strategy<Value = &'static str> {
    prop_oneof!["[a-z0-9/._-]{0,24}", "\\PC{0,6}"].prop_map(leak)
}

/// A sample value of any kind, finite numbers or missing.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-1e300_f64..1e300).prop_map(Value::Float),
        Just(Value::MISSING),
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        "\\PC{0,8}".prop_map(|text| Value::String(text.into())),
    ]
}

/// Any instant.
fn time() -> impl Strategy<Value = Timestamp> {
    any::<i64>().prop_map(Timestamp::from_micros)
}

/// A raw sample.
pub fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<u32>(),
        time(),
        time(),
        value(),
        any::<u32>(),
        any::<u16>(),
    )
        .prop_map(|(tag, time, received, value, quality, flags)| Sample {
            tag: TagId(tag),
            time,
            received,
            value,
            quality: Quality::from_bits(quality),
            flags: DataQualityFlags::from_bits_retain(flags),
        })
}

/// A criticality.
fn criticality() -> impl Strategy<Value = Criticality> {
    prop_oneof![
        Just(Criticality::Low),
        Just(Criticality::Medium),
        Just(Criticality::High),
        Just(Criticality::Critical),
    ]
}

/// An asset id or none.
fn asset() -> impl Strategy<Value = Option<AssetId>> {
    proptest::option::of(any::<u32>().prop_map(AssetId))
}

/// A processed sample.
pub fn processed() -> impl Strategy<Value = ProcessedRecord<'static>> {
    let units: Vec<Unit> = Unit::all().collect();
    (
        sample(),
        text(),
        -1e30_f32..1e30,
        any::<u32>(),
        (asset(), asset(), asset()),
        proptest::option::of(proptest::sample::select(units)),
        criticality(),
        0..=i64::MAX as u64,
    )
        .prop_map(
            |(sample, tag_path, score, asset, (well, pad, field), unit, criticality, version)| {
                ProcessedRecord {
                    sample,
                    tag_path,
                    score,
                    asset: AssetId(asset),
                    well,
                    pad,
                    field,
                    unit,
                    criticality,
                    catalog_version: version,
                }
            },
        )
}

/// An alert with up to four pieces of evidence.
pub fn alert() -> impl Strategy<Value = AlertRecord<'static>> {
    let evidence = (text(), text(), any::<u32>(), time(), -1e300_f64..1e300).prop_map(
        |(role, name, tag, time, value)| EvidenceRecord {
            role,
            name,
            tag: TagId(tag),
            time,
            value,
        },
    );
    (
        text(),
        criticality(),
        any::<u32>(),
        text(),
        time(),
        proptest::collection::vec(evidence, 0..4),
    )
        .prop_map(
            |(pattern, severity, well, well_path, time, evidence)| AlertRecord {
                pattern,
                severity,
                well: AssetId(well),
                well_path,
                time,
                evidence,
            },
        )
}

/// Bytes for the life of the test process.
fn bytes() -> impl Strategy<Value = &'static [u8]> {
    proptest::collection::vec(any::<u8>(), 0..40)
        .prop_map(|bytes| &*Box::leak(bytes.into_boxed_slice()))
}

/// A dead letter.
pub fn dead_letter() -> impl Strategy<Value = DeadLetter<'static>> {
    (
        text(),
        text(),
        proptest::sample::select(Topic::ALL.to_vec()),
        0..=i32::MAX as u32,
        0..=i64::MAX as u64,
        time(),
        bytes(),
        bytes(),
    )
        .prop_map(
            |(reason, message, topic, partition, offset, time, key, value)| DeadLetter {
                reason,
                message,
                source_topic: topic,
                source_partition: partition,
                source_offset: offset,
                time,
                original_key: key,
                original_value: value,
            },
        )
}

/// A signed command.
pub fn command() -> impl Strategy<Value = SignedCommand> {
    (
        text(),
        any::<u32>(),
        value(),
        time(),
        time(),
        any::<u128>(),
        text(),
        proptest::collection::vec(any::<u8>(), 0..70),
    )
        .prop_map(
            |(id, tag, value, issued_at, expires_at, nonce, key_id, signature)| SignedCommand {
                command: Command {
                    id: id.to_owned(),
                    tag: TagId(tag),
                    value,
                    issued_at,
                    expires_at,
                    nonce,
                },
                key_id: key_id.to_owned(),
                signature,
            },
        )
}

/// A command outcome of any kind.
pub fn outcome() -> impl Strategy<Value = CommandOutcome> {
    let outcome = prop_oneof![
        value().prop_map(|readback| Outcome::Confirmed { readback }),
        text().prop_map(|reason| Outcome::Failed {
            reason: reason.to_owned()
        }),
        Just(Outcome::TimedOut),
        text().prop_map(|reason| Outcome::Refused {
            reason: reason.to_owned()
        }),
    ];
    (text(), any::<u32>(), time(), outcome).prop_map(|(id, tag, at, outcome)| CommandOutcome {
        command_id: id.to_owned(),
        tag: TagId(tag),
        at,
        outcome,
    })
}

/// Flowline's encoding of `record`.
pub fn encode<'a, T: WireRecord<'a>>(record: &T) -> Vec<u8> {
    let mut out = Vec::new();
    Codec::embedded().encode(record, &mut out);
    out
}

/// Decodes a `T` with Flowline's codec and encodes it again: the bytes
/// of the record another implementation's bytes stand for.
pub fn reencode<'a, T: WireRecord<'a>>(bytes: &'a [u8]) -> Vec<u8> {
    let record: T = Codec::embedded().decode(bytes).unwrap_or_else(|error| {
        panic!("Flowline cannot read what another implementation wrote: {error}")
    });
    encode(&record)
}
