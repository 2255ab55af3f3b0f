//! The codec against apache-avro, an Avro implementation nobody here
//! wrote, reading the `.avsc` files under `schemas/`: for random records
//! of every schema, what Flowline encodes apache-avro decodes to the same
//! values, what apache-avro encodes is the very same bytes, and Flowline
//! decodes those back to the same record. That proves the hand-written
//! layouts match the newest version of each schema, field by field.

mod common;

use common::{encode, reencode};

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use flowline_core::{
    AssetId, CommandOutcome, Criticality, Outcome, Sample, SignedCommand, Timestamp, Value,
};
use flowline_schemas::{AlertRecord, Codec, DeadLetter, HEADER_LEN, ProcessedRecord, SchemaKind};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The newest version of `kind`'s schema, as apache-avro reads it.
fn newest(kind: SchemaKind) -> Schema {
    let text = kind.versions().last().expect("every schema has a version");
    Schema::parse_str(text).unwrap_or_else(|error| panic!("{kind}: {error}"))
}

/// Checks one record both ways. `ours` is Flowline's encoding of it,
/// `theirs` the record as an apache-avro value, and `reencode` decodes a
/// wire-format value with Flowline's codec and encodes it again.
fn both_ways(
    kind: SchemaKind,
    ours: &[u8],
    theirs: Avro,
    reencode: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<(), TestCaseError> {
    let codec = Codec::embedded();
    let (header, body) = ours.split_at(HEADER_LEN);
    let mut expected_header = vec![0];
    expected_header.extend_from_slice(&codec.ids().newest_id(kind).to_be_bytes());
    prop_assert_eq!(header, &expected_header[..]);

    let schema = newest(kind);
    let mut rest = body;
    let decoded = apache_avro::from_avro_datum(&schema, &mut rest, None)
        .map_err(|error| TestCaseError::fail(format!("apache-avro cannot read {kind}: {error}")))?;
    prop_assert_eq!(&decoded, &theirs, "apache-avro read other values");
    prop_assert!(rest.is_empty(), "apache-avro left {} bytes", rest.len());

    let written = apache_avro::to_avro_datum(&schema, theirs).map_err(|error| {
        TestCaseError::fail(format!("apache-avro cannot write {kind}: {error}"))
    })?;
    prop_assert_eq!(&written[..], body, "apache-avro wrote other bytes");
    let mut framed = header.to_vec();
    framed.extend_from_slice(&written);
    prop_assert_eq!(reencode(&framed), ours, "Flowline read other values");
    Ok(())
}

proptest! {
    #[test]
    fn raw_samples_are_real_avro(sample in common::sample()) {
        both_ways(SchemaKind::RawSample, &encode(&sample), avro_sample(&sample), |bytes| reencode::<Sample>(bytes))?;
    }

    #[test]
    fn processed_samples_are_real_avro(record in common::processed()) {
        both_ways(
            SchemaKind::ProcessedSample,
            &encode(&record),
            avro_processed(&record),
            |bytes| reencode::<ProcessedRecord<'_>>(bytes),
        )?;
    }

    #[test]
    fn alerts_are_real_avro(alert in common::alert()) {
        both_ways(SchemaKind::Alert, &encode(&alert), avro_alert(&alert), |bytes| reencode::<AlertRecord<'_>>(bytes))?;
    }

    #[test]
    fn dead_letters_are_real_avro(letter in common::dead_letter()) {
        both_ways(
            SchemaKind::DeadLetter,
            &encode(&letter),
            avro_dead_letter(&letter),
            |bytes| reencode::<DeadLetter<'_>>(bytes),
        )?;
    }

    #[test]
    fn commands_are_real_avro(command in common::command()) {
        both_ways(SchemaKind::Command, &encode(&command), avro_command(&command), |bytes| reencode::<SignedCommand>(bytes))?;
    }

    #[test]
    fn command_outcomes_are_real_avro(outcome in common::outcome()) {
        both_ways(
            SchemaKind::CommandOutcome,
            &encode(&outcome),
            avro_outcome(&outcome),
            |bytes| reencode::<CommandOutcome>(bytes),
        )?;
    }
}

/// A record that apache-avro wrote as a negative block count, which a
/// writer may use for arrays: Flowline reads it like any other.
#[test]
fn an_alert_whose_evidence_comes_in_a_sized_block_reads_the_same() {
    let alert = AlertRecord {
        pattern: "p",
        severity: Criticality::Low,
        well: AssetId(1),
        well_path: "f/p/w",
        time: Timestamp::from_micros(5),
        evidence: Vec::new(),
    };
    let mut bytes = encode(&alert);
    // Replace the empty array (a count of 0) by a block of -1 item of 12
    // bytes, one evidence item, and the end.
    bytes.pop();
    let item = [
        0x02, b'a', // role "a"
        0x02, b'b', // name "b"
        0x04, // tag 2
        0x06, // time 3
        0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // value 1.0
    ];
    bytes.extend_from_slice(&[0x01, item.len() as u8 * 2]);
    bytes.extend_from_slice(&item);
    bytes.push(0);
    let decoded: AlertRecord<'_> = Codec::embedded().decode(&bytes).unwrap();
    assert_eq!(decoded.evidence.len(), 1);
    assert_eq!(
        (decoded.evidence[0].role, decoded.evidence[0].value),
        ("a", 1.0)
    );
    let schema = newest(SchemaKind::Alert);
    let theirs = apache_avro::from_avro_datum(&schema, &mut &bytes[HEADER_LEN..], None).unwrap();
    assert_eq!(theirs, avro_alert(&decoded));
}

/// A record of named fields.
fn record(fields: Vec<(&str, Avro)>) -> Avro {
    Avro::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// A value as the union `["null", "double", "long", "boolean", "string"]`.
fn avro_value(value: &Value) -> Avro {
    match value {
        Value::Float(number) if number.is_nan() => Avro::Union(0, Box::new(Avro::Null)),
        Value::Float(number) => Avro::Union(1, Box::new(Avro::Double(*number))),
        Value::Integer(number) => Avro::Union(2, Box::new(Avro::Long(*number))),
        Value::Boolean(state) => Avro::Union(3, Box::new(Avro::Boolean(*state))),
        Value::String(text) => Avro::Union(4, Box::new(Avro::String(text.to_string()))),
    }
}

/// An instant as `timestamp-micros`.
fn avro_time(time: Timestamp) -> Avro {
    Avro::TimestampMicros(time.as_micros())
}

/// A criticality as the `Criticality` enum.
fn avro_criticality(criticality: Criticality) -> Avro {
    let symbols = ["low", "medium", "high", "critical"];
    let index = symbols
        .iter()
        .position(|symbol| *symbol == criticality.name())
        .unwrap();
    Avro::Enum(index as u32, symbols[index].to_owned())
}

/// An optional id as the union `["null", "long"]`.
fn avro_optional_id(id: Option<AssetId>) -> Avro {
    match id {
        None => Avro::Union(0, Box::new(Avro::Null)),
        Some(id) => Avro::Union(1, Box::new(Avro::Long(i64::from(id.0)))),
    }
}

/// The six fields of a sample.
fn avro_sample_fields(sample: &Sample) -> Vec<(&'static str, Avro)> {
    vec![
        ("tag", Avro::Long(i64::from(sample.tag.0))),
        ("time", avro_time(sample.time)),
        ("received", avro_time(sample.received)),
        ("value", avro_value(&sample.value)),
        ("quality", Avro::Long(i64::from(sample.quality.bits()))),
        ("flags", Avro::Int(i32::from(sample.flags.bits()))),
    ]
}

/// A raw sample.
fn avro_sample(sample: &Sample) -> Avro {
    record(avro_sample_fields(sample))
}

/// A processed sample.
fn avro_processed(processed: &ProcessedRecord<'_>) -> Avro {
    let mut fields = avro_sample_fields(&processed.sample);
    fields.extend([
        ("tag_path", Avro::String(processed.tag_path.to_owned())),
        ("score", Avro::Float(processed.score)),
        ("asset", Avro::Long(i64::from(processed.asset.0))),
        ("well", avro_optional_id(processed.well)),
        ("pad", avro_optional_id(processed.pad)),
        ("field", avro_optional_id(processed.field)),
        (
            "unit",
            match processed.unit {
                None => Avro::Union(0, Box::new(Avro::Null)),
                Some(unit) => Avro::Union(1, Box::new(Avro::String(unit.symbol().to_owned()))),
            },
        ),
        ("criticality", avro_criticality(processed.criticality)),
        (
            "catalog_version",
            Avro::Long(processed.catalog_version as i64),
        ),
    ]);
    record(fields)
}

/// An alert.
fn avro_alert(alert: &AlertRecord<'_>) -> Avro {
    let evidence = alert
        .evidence
        .iter()
        .map(|evidence| {
            record(vec![
                ("role", Avro::String(evidence.role.to_owned())),
                ("name", Avro::String(evidence.name.to_owned())),
                ("tag", Avro::Long(i64::from(evidence.tag.0))),
                ("time", avro_time(evidence.time)),
                ("value", Avro::Double(evidence.value)),
            ])
        })
        .collect();
    record(vec![
        ("pattern", Avro::String(alert.pattern.to_owned())),
        ("severity", avro_criticality(alert.severity)),
        ("well", Avro::Long(i64::from(alert.well.0))),
        ("well_path", Avro::String(alert.well_path.to_owned())),
        ("time", avro_time(alert.time)),
        ("evidence", Avro::Array(evidence)),
    ])
}

/// A dead letter.
fn avro_dead_letter(letter: &DeadLetter<'_>) -> Avro {
    record(vec![
        ("reason", Avro::String(letter.reason.to_owned())),
        ("message", Avro::String(letter.message.to_owned())),
        (
            "source_topic",
            Avro::String(letter.source_topic.base_name().to_owned()),
        ),
        (
            "source_partition",
            Avro::Int(letter.source_partition as i32),
        ),
        ("source_offset", Avro::Long(letter.source_offset as i64)),
        ("time", avro_time(letter.time)),
        ("original_key", Avro::Bytes(letter.original_key.to_vec())),
        (
            "original_value",
            Avro::Bytes(letter.original_value.to_vec()),
        ),
    ])
}

/// A signed command.
fn avro_command(signed: &SignedCommand) -> Avro {
    let command = &signed.command;
    record(vec![
        (
            "command",
            record(vec![
                ("id", Avro::String(command.id.clone())),
                ("tag", Avro::Long(i64::from(command.tag.0))),
                ("value", avro_value(&command.value)),
                ("issued_at", avro_time(command.issued_at)),
                ("expires_at", avro_time(command.expires_at)),
                (
                    "nonce",
                    Avro::Fixed(16, command.nonce.to_be_bytes().to_vec()),
                ),
            ]),
        ),
        ("key_id", Avro::String(signed.key_id.clone())),
        ("signature", Avro::Bytes(signed.signature.clone())),
    ])
}

/// A command outcome.
fn avro_outcome(outcome: &CommandOutcome) -> Avro {
    let (index, branch) = match &outcome.outcome {
        Outcome::Confirmed { readback } => (0, record(vec![("readback", avro_value(readback))])),
        Outcome::Failed { reason } => (1, record(vec![("reason", Avro::String(reason.clone()))])),
        Outcome::TimedOut => (2, record(vec![])),
        Outcome::Refused { reason } => (3, record(vec![("reason", Avro::String(reason.clone()))])),
    };
    record(vec![
        ("command_id", Avro::String(outcome.command_id.clone())),
        ("tag", Avro::Long(i64::from(outcome.tag.0))),
        ("at", avro_time(outcome.at)),
        ("outcome", Avro::Union(index, Box::new(branch))),
    ])
}
