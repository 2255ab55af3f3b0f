//! Schema evolution: every version of every schema under `schemas/` must
//! read data written with every older version of it (Confluent's
//! BACKWARD_TRANSITIVE), so a consumer upgraded first never meets a
//! record it cannot read. apache-avro's schema compatibility checker
//! decides; a failure names the schema, both versions and the field.
//!
//! To change a schema, add `schemas/NAME/vN+1.avsc` (never edit a
//! released version), list it in `schemas/registry.toml` with a new id,
//! and teach the codec to write it and to read the older versions.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;

/// Every version of every schema on disk: name → (version, text), in
/// version order.
fn schemas_on_disk() -> BTreeMap<String, Vec<(u32, String)>> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas"));
    let mut schemas = BTreeMap::new();
    for directory in std::fs::read_dir(root).unwrap() {
        let directory = directory.unwrap().path();
        if !directory.is_dir() {
            continue;
        }
        let name = directory
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut versions = Vec::new();
        for file in std::fs::read_dir(&directory).unwrap() {
            let file = file.unwrap().path();
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let version = file_name
                .strip_prefix('v')
                .and_then(|rest| rest.strip_suffix(".avsc"))
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("{}: expected vN.avsc", file.display()));
            versions.push((version, std::fs::read_to_string(&file).unwrap()));
        }
        versions.sort();
        schemas.insert(name, versions);
    }
    schemas
}

/// An error with its causes, joined by colons.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why newer versions of schema `name` cannot read data written with
/// older ones: one line per pair of versions that fails, or a version
/// that does not parse.
fn incompatibilities(name: &str, versions: &[(u32, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for (version, text) in versions {
        match Schema::parse_str(text) {
            Ok(schema) => parsed.push((*version, schema)),
            Err(error) => problems.push(format!(
                "schemas/{name}/v{version}.avsc is not a valid Avro schema: {}",
                chain(&error)
            )),
        }
    }
    for (index, (newer, reader)) in parsed.iter().enumerate() {
        for (older, writer) in &parsed[..index] {
            if let Err(error) = SchemaCompatibility::can_read(writer, reader) {
                problems.push(format!(
                    "schemas/{name}: v{newer} cannot read data written with v{older}: {}",
                    chain(&error)
                ));
            }
        }
    }
    problems
}

#[test]
fn every_version_of_every_schema_reads_all_data_written_with_older_versions() {
    let schemas = schemas_on_disk();
    assert!(schemas.len() >= 6, "schemas under schemas/: {schemas:?}");
    let problems: Vec<String> = schemas
        .iter()
        .flat_map(|(name, versions)| incompatibilities(name, versions))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn versions_are_numbered_from_one_without_gaps() {
    for (name, versions) in schemas_on_disk() {
        let numbers: Vec<u32> = versions.iter().map(|(version, _)| *version).collect();
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(numbers, expected, "schemas/{name}");
    }
}

/// The raw sample's first version, and a second one changed by `change`
/// applied to its text.
fn raw_sample_with(change: impl Fn(&str) -> String) -> Vec<(u32, String)> {
    let v1 = schemas_on_disk()["raw-sample"][0].1.clone();
    let v2 = change(&v1);
    assert_ne!(v1, v2, "the change must change the schema");
    vec![(1, v1), (2, v2)]
}

/// The text of a new field inserted before `flags`.
fn with_field(text: &str, field: &str) -> String {
    text.replacen(
        "    {\n      \"name\": \"flags\"",
        &format!("    {field},\n    {{\n      \"name\": \"flags\""),
        1,
    )
}

#[test]
fn a_new_field_without_default_is_reported_naming_schema_versions_and_field() {
    let versions = raw_sample_with(|v1| with_field(v1, r#"{"name": "site", "type": "string"}"#));
    assert_eq!(
        incompatibilities("raw-sample", &versions),
        [
            "schemas/raw-sample: v2 cannot read data written with v1: Incompatible schemata! Field \
          'site' in reader schema must have a default value"
        ]
    );
}

#[test]
fn a_changed_field_type_is_reported_naming_the_field() {
    let versions =
        raw_sample_with(|v1| v1.replacen("\"type\": \"long\"", "\"type\": \"string\"", 1));
    let problems = incompatibilities("raw-sample", &versions);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("schemas/raw-sample: v2 cannot read data written with v1:")
            && problems[0].contains("Field 'tag'"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_new_field_with_a_default_and_a_removed_field_are_backward_compatible() {
    let versions = raw_sample_with(|v1| {
        let added = with_field(
            v1,
            r#"{"name": "site", "type": ["null", "string"], "default": null}"#,
        );
        added.replacen(
            "    {\n      \"name\": \"received\",\n      \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-micros\"},\n      \"doc\": \"When the gateway received the value, microseconds since the Unix epoch, UTC.\"\n    },\n",
            "",
            1,
        )
    });
    assert!(
        !versions[1].1.contains("\"received\""),
        "received was removed"
    );
    assert_eq!(
        incompatibilities("raw-sample", &versions),
        Vec::<String>::new()
    );
}
