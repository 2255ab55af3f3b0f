//! The codec against fastavro, the Python Avro implementation (from the
//! .venv that `scripts/python-env` makes), reading the `.avsc` files
//! under `schemas/`: for a hundred random records of every schema,
//! fastavro decodes what Flowline encodes to the same values, and encodes
//! the same values to the very same bytes, which Flowline decodes back.

mod common;

use common::{encode, reencode};

use std::io::Write;
use std::process::{Command as Process, Stdio};

use flowline_core::{AssetId, CommandOutcome, Outcome, Sample, SignedCommand, Value};
use flowline_schemas::{AlertRecord, DeadLetter, HEADER_LEN, ProcessedRecord, SchemaKind};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value as Json, json};

/// Records of each schema checked.
const RECORDS: usize = 100;

/// The Python of the .venv.
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");

/// `RECORDS` records from `strategy`, the same on every run.
fn records<S: Strategy>(strategy: S) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..RECORDS)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes of `hex`.
fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

/// One schema's records, as the check needs them.
struct Case {
    /// The schema.
    kind: SchemaKind,
    /// Flowline's encoding of each record, wire header included.
    ours: Vec<Vec<u8>>,
    /// Each record as fastavro should read it.
    plain: Vec<Json>,
    /// Each record as fastavro should write it (union branches named).
    named: Vec<Json>,
    /// Decodes a value with Flowline's codec and encodes it again.
    reencode: fn(&[u8]) -> Vec<u8>,
}

/// The case of `records` of `kind`, with their JSON forms.
fn case<T>(
    kind: SchemaKind,
    records: &[T],
    encode: impl Fn(&T) -> Vec<u8>,
    json: impl Fn(&T, bool) -> Json,
    reencode: fn(&[u8]) -> Vec<u8>,
) -> Case {
    Case {
        kind,
        ours: records.iter().map(&encode).collect(),
        plain: records.iter().map(|record| json(record, false)).collect(),
        named: records.iter().map(|record| json(record, true)).collect(),
        reencode,
    }
}

/// Runs the fastavro peer on `cases`, returning its report.
fn fastavro(cases: &[Case]) -> Json {
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run scripts/python-env to install fastavro"
    );
    let plan: Vec<Json> = cases
        .iter()
        .map(|case| {
            json!({
                "schema": case.kind.versions().last().unwrap(),
                "decode": case.ours.iter().map(|bytes| hex(&bytes[HEADER_LEN..])).collect::<Vec<_>>(),
                "encode": case.named,
            })
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/fastavro_peer.py");
    let mut child = Process::new(PYTHON)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the fastavro peer");
    let input = serde_json::to_vec(&plan).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "the fastavro peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn fastavro_reads_and_writes_every_schema_as_flowline_does() {
    let samples = records(common::sample());
    let processed = records(common::processed());
    let alerts = records(common::alert());
    let letters = records(common::dead_letter());
    let commands = records(common::command());
    let outcomes = records(common::outcome());
    let cases = [
        case(
            SchemaKind::RawSample,
            &samples,
            common::encode,
            json_sample,
            |b| reencode::<Sample>(b),
        ),
        case(
            SchemaKind::ProcessedSample,
            &processed,
            encode,
            json_processed,
            |b| reencode::<ProcessedRecord<'_>>(b),
        ),
        case(
            SchemaKind::Alert,
            &alerts,
            encode,
            |alert, _| json_alert(alert),
            |b| reencode::<AlertRecord<'_>>(b),
        ),
        case(
            SchemaKind::DeadLetter,
            &letters,
            encode,
            |letter, _| json_dead_letter(letter),
            |b| reencode::<DeadLetter<'_>>(b),
        ),
        case(
            SchemaKind::Command,
            &commands,
            common::encode,
            json_command,
            |b| reencode::<SignedCommand>(b),
        ),
        case(
            SchemaKind::CommandOutcome,
            &outcomes,
            encode,
            json_outcome,
            |b| reencode::<CommandOutcome>(b),
        ),
    ];

    let report = fastavro(&cases);
    for (case, answer) in cases.iter().zip(report.as_array().unwrap()) {
        let kind = case.kind;
        for (index, decoded) in answer["decoded"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                decoded["left"], 0,
                "{kind} #{index}: fastavro left bytes unread"
            );
            assert_eq!(
                decoded["record"], case.plain[index],
                "{kind} #{index}: fastavro read other values"
            );
        }
        for (index, written) in answer["encoded"].as_array().unwrap().iter().enumerate() {
            let ours = &case.ours[index];
            let body = unhex(written.as_str().unwrap());
            assert_eq!(
                hex(&body),
                hex(&ours[HEADER_LEN..]),
                "{kind} #{index}: fastavro wrote other bytes"
            );
            let mut framed = ours[..HEADER_LEN].to_vec();
            framed.extend_from_slice(&body);
            assert_eq!(
                &(case.reencode)(&framed),
                ours,
                "{kind} #{index}: Flowline read other values"
            );
        }
    }
}

// How fastavro sees the records.
//
// Records are JSON objects of their fields, in the conventions of
// `peers/fastavro_peer.py`: bytes and doubles in hex, so nothing is lost.
// fastavro reads a union of primitive types as the bare value (a double
// is told from a long by its form), a union of records as (name, record)
// with `return_record_name`. To write, every union branch must be named,
// {"__union__": [branch, value]}, since fastavro would write an integer
// as a double.

/// Bytes as the fastavro script passes them.
fn json_bytes(bytes: &[u8]) -> Json {
    json!({ "__bytes__": hex(bytes) })
}

/// A double (or a float, widened) as its eight bytes, so no digit is lost
/// in JSON.
fn json_double(number: f64) -> Json {
    json!({ "__double__": hex(&number.to_le_bytes()) })
}

/// A union value, the branch named when `named`.
fn json_union(branch: &str, value: Json, named: bool) -> Json {
    if named {
        json!({ "__union__": [branch, value] })
    } else {
        value
    }
}

/// A value of the value union.
fn json_value(value: &Value, named: bool) -> Json {
    match value {
        Value::Float(number) if number.is_nan() => json_union("null", Json::Null, named),
        Value::Float(number) => json_union("double", json_double(*number), named),
        Value::Integer(number) => json_union("long", json!(number), named),
        Value::Boolean(state) => json_union("boolean", json!(state), named),
        Value::String(text) => json_union("string", json!(text.as_ref()), named),
    }
}

/// An optional id.
fn json_optional_id(id: Option<AssetId>, named: bool) -> Json {
    match id {
        None => json_union("null", Json::Null, named),
        Some(id) => json_union("long", json!(id.0), named),
    }
}

/// The six fields of a sample.
fn json_sample_fields(sample: &Sample, named: bool) -> serde_json::Map<String, Json> {
    let Json::Object(fields) = json!({
        "tag": sample.tag.0,
        "time": sample.time.as_micros(),
        "received": sample.received.as_micros(),
        "value": json_value(&sample.value, named),
        "quality": sample.quality.bits(),
        "flags": sample.flags.bits(),
    }) else {
        unreachable!()
    };
    fields
}

/// A raw sample.
fn json_sample(sample: &Sample, named: bool) -> Json {
    Json::Object(json_sample_fields(sample, named))
}

/// A processed sample.
fn json_processed(processed: &ProcessedRecord<'_>, named: bool) -> Json {
    let mut fields = json_sample_fields(&processed.sample, named);
    let unit = match processed.unit {
        None => json_union("null", Json::Null, named),
        Some(unit) => json_union("string", json!(unit.symbol()), named),
    };
    fields.extend([
        ("tag_path".to_owned(), json!(processed.tag_path)),
        ("score".to_owned(), json_double(f64::from(processed.score))),
        ("asset".to_owned(), json!(processed.asset.0)),
        ("well".to_owned(), json_optional_id(processed.well, named)),
        ("pad".to_owned(), json_optional_id(processed.pad, named)),
        ("field".to_owned(), json_optional_id(processed.field, named)),
        ("unit".to_owned(), unit),
        (
            "criticality".to_owned(),
            json!(processed.criticality.name()),
        ),
        (
            "catalog_version".to_owned(),
            json!(processed.catalog_version),
        ),
    ]);
    Json::Object(fields)
}

/// An alert.
fn json_alert(alert: &AlertRecord<'_>) -> Json {
    let evidence: Vec<Json> = alert
        .evidence
        .iter()
        .map(|evidence| {
            json!({
                "role": evidence.role,
                "name": evidence.name,
                "tag": evidence.tag.0,
                "time": evidence.time.as_micros(),
                "value": json_double(evidence.value),
            })
        })
        .collect();
    json!({
        "pattern": alert.pattern,
        "severity": alert.severity.name(),
        "well": alert.well.0,
        "well_path": alert.well_path,
        "time": alert.time.as_micros(),
        "evidence": evidence,
    })
}

/// A dead letter.
fn json_dead_letter(letter: &DeadLetter<'_>) -> Json {
    json!({
        "reason": letter.reason,
        "message": letter.message,
        "source_topic": letter.source_topic.base_name(),
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "time": letter.time.as_micros(),
        "original_key": json_bytes(letter.original_key),
        "original_value": json_bytes(letter.original_value),
    })
}

/// A signed command.
fn json_command(signed: &SignedCommand, named: bool) -> Json {
    let command = &signed.command;
    json!({
        "command": {
            "id": command.id,
            "tag": command.tag.0,
            "value": json_value(&command.value, named),
            "issued_at": command.issued_at.as_micros(),
            "expires_at": command.expires_at.as_micros(),
            "nonce": json_bytes(&command.nonce.to_be_bytes()),
        },
        "key_id": signed.key_id,
        "signature": json_bytes(&signed.signature),
    })
}

/// A command outcome; its outcome, a union of records, is always named.
fn json_outcome(outcome: &CommandOutcome, named: bool) -> Json {
    let (name, branch) = match &outcome.outcome {
        Outcome::Confirmed { readback } => (
            "flowline.Confirmed",
            json!({ "readback": json_value(readback, named) }),
        ),
        Outcome::Failed { reason } => ("flowline.Failed", json!({ "reason": reason })),
        Outcome::TimedOut => ("flowline.TimedOut", json!({})),
        Outcome::Refused { reason } => ("flowline.Refused", json!({ "reason": reason })),
    };
    json!({
        "command_id": outcome.command_id,
        "tag": outcome.tag.0,
        "at": outcome.at.as_micros(),
        "outcome": json_union(name, branch, true),
    })
}
