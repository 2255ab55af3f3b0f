//! Which schemas there are, their versions, and the ids records carry.
//!
//! Every schema lives under `schemas/NAME/vN.avsc` at the repository root,
//! built into the binary so that it can register them and never depends on
//! files beside it. `schemas/registry.toml` lists each version with the
//! schema id it has in embedded mode; in Kafka mode the ids come from the
//! Schema Registry instead ([`crate::registry::resolve_ids`]). Either way
//! the result is a [`SchemaIds`], which the [`Codec`](crate::Codec) reads
//! and writes by.

use std::fmt;

use flowline_bus::Topic;
use serde::Deserialize;

use crate::error::SchemaError;

/// One of Flowline's record schemas, whatever its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SchemaKind {
    /// A sample as the gateway read it, on `raw-sensor-data`.
    RawSample,
    /// A sample the processor cleaned, validated and enriched, on
    /// `processed-data`.
    ProcessedSample,
    /// A pattern match on a well, on `alerts`.
    Alert,
    /// A record set aside with the reason, on `dlq`.
    DeadLetter,
    /// A signed command to the field, on `control-commands`.
    Command,
    /// What became of a command, on `control-commands`.
    CommandOutcome,
}

/// Every version of every schema, as built into the binary: for each kind,
/// the text of `v1.avsc`, `v2.avsc`, … in order.
const TEXTS: [(SchemaKind, &[&str]); 6] = [
    (
        SchemaKind::RawSample,
        &[include_str!("../../../schemas/raw-sample/v1.avsc")],
    ),
    (
        SchemaKind::ProcessedSample,
        &[include_str!("../../../schemas/processed-sample/v1.avsc")],
    ),
    (
        SchemaKind::Alert,
        &[include_str!("../../../schemas/alert/v1.avsc")],
    ),
    (
        SchemaKind::DeadLetter,
        &[include_str!("../../../schemas/dead-letter/v1.avsc")],
    ),
    (
        SchemaKind::Command,
        &[include_str!("../../../schemas/command/v1.avsc")],
    ),
    (
        SchemaKind::CommandOutcome,
        &[include_str!("../../../schemas/command-outcome/v1.avsc")],
    ),
];

/// `schemas/registry.toml`: the ids of embedded mode.
const REGISTRY: &str = include_str!("../../../schemas/registry.toml");

impl SchemaKind {
    /// Every schema, in a fixed order (that of [`SchemaKind::index`]).
    pub const ALL: [SchemaKind; 6] = [
        SchemaKind::RawSample,
        SchemaKind::ProcessedSample,
        SchemaKind::Alert,
        SchemaKind::DeadLetter,
        SchemaKind::Command,
        SchemaKind::CommandOutcome,
    ];

    /// The schema's place in [`SchemaKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The schema's directory under `schemas/`, such as `raw-sample`.
    pub const fn name(self) -> &'static str {
        match self {
            SchemaKind::RawSample => "raw-sample",
            SchemaKind::ProcessedSample => "processed-sample",
            SchemaKind::Alert => "alert",
            SchemaKind::DeadLetter => "dead-letter",
            SchemaKind::Command => "command",
            SchemaKind::CommandOutcome => "command-outcome",
        }
    }

    /// The schema whose directory is `name`.
    pub fn from_name(name: &str) -> Option<SchemaKind> {
        SchemaKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The full name of its record type, as the `.avsc` declares it.
    pub const fn record_name(self) -> &'static str {
        match self {
            SchemaKind::RawSample => "flowline.RawSample",
            SchemaKind::ProcessedSample => "flowline.ProcessedSample",
            SchemaKind::Alert => "flowline.Alert",
            SchemaKind::DeadLetter => "flowline.DeadLetter",
            SchemaKind::Command => "flowline.SignedCommand",
            SchemaKind::CommandOutcome => "flowline.CommandOutcome",
        }
    }

    /// The topic its records travel on.
    pub const fn topic(self) -> Topic {
        match self {
            SchemaKind::RawSample => Topic::RawSensorData,
            SchemaKind::ProcessedSample => Topic::ProcessedData,
            SchemaKind::Alert => Topic::Alerts,
            SchemaKind::DeadLetter => Topic::Dlq,
            SchemaKind::Command | SchemaKind::CommandOutcome => Topic::ControlCommands,
        }
    }

    /// Its subject in a Schema Registry under the topic prefix `prefix`:
    /// the topic's full name, a dash and the record's full name (what
    /// Confluent calls TopicRecordNameStrategy, which lets commands and
    /// their outcomes share a topic), such as
    /// `flowline.raw-sensor-data-flowline.RawSample`.
    pub fn subject(self, prefix: &str) -> String {
        format!("{}-{}", self.topic().name_with(prefix), self.record_name())
    }

    /// The text of every version, `v1.avsc` first.
    pub fn versions(self) -> &'static [&'static str] {
        TEXTS[self.index()].1
    }

    /// The newest version, the one the codec writes.
    pub fn newest_version(self) -> u32 {
        self.versions().len() as u32
    }

    /// The text of `version`, if there is one.
    pub fn text(self, version: u32) -> Option<&'static str> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        self.versions().get(index).copied()
    }
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A version of a schema and the id records written with it carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaEntry {
    /// The schema.
    pub kind: SchemaKind,
    /// Its version, from 1.
    pub version: u32,
    /// The id in the wire format's header.
    pub id: u32,
}

/// The schema ids of one installation: which id each version has, and
/// which version each id is. Always holds the newest version of every
/// schema, since that is what the codec writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIds {
    /// Every known version, in the order given.
    entries: Vec<SchemaEntry>,
    /// The id of each schema's newest version, by [`SchemaKind::index`].
    newest: [u32; SchemaKind::ALL.len()],
}

/// A line of `schemas/registry.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryLine {
    /// The schema's directory.
    name: String,
    /// Its topic, without prefix.
    topic: String,
    /// Its version.
    version: u32,
    /// Its id in embedded mode.
    id: u32,
}

/// `schemas/registry.toml` as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    /// Its lines.
    schema: Vec<RegistryLine>,
}

impl SchemaIds {
    /// The ids of embedded mode, from `schemas/registry.toml` as built in.
    pub fn embedded() -> SchemaIds {
        SchemaIds::from_registry_toml(REGISTRY)
            .expect("bug: schemas/registry.toml is checked by the tests")
    }

    /// The ids a file in the form of `schemas/registry.toml` lists; an
    /// error names the line at fault.
    pub fn from_registry_toml(text: &str) -> Result<SchemaIds, SchemaError> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|error| SchemaError::Registry(error.to_string()))?;
        let mut entries = Vec::with_capacity(file.schema.len());
        for line in file.schema {
            let kind =
                SchemaKind::from_name(&line.name).ok_or_else(|| SchemaError::UnknownName {
                    name: line.name.clone(),
                })?;
            if line.topic != kind.topic().base_name() {
                return Err(SchemaError::WrongTopic {
                    kind,
                    expected: kind.topic(),
                    found: line.topic,
                });
            }
            entries.push(SchemaEntry {
                kind,
                version: line.version,
                id: line.id,
            });
        }
        SchemaIds::from_entries(entries)
    }

    /// The ids `entries` give. Fails when a version has no schema text in
    /// this build, when an id or a version is listed twice, or when the
    /// newest version of a schema has no id.
    pub fn from_entries(entries: Vec<SchemaEntry>) -> Result<SchemaIds, SchemaError> {
        for (index, entry) in entries.iter().enumerate() {
            if entry.kind.text(entry.version).is_none() {
                return Err(SchemaError::UnknownVersion {
                    kind: entry.kind,
                    version: entry.version,
                    newest: entry.kind.newest_version(),
                });
            }
            for earlier in &entries[..index] {
                if earlier.id == entry.id {
                    return Err(SchemaError::DuplicateId {
                        id: entry.id,
                        first: (earlier.kind, earlier.version),
                        second: (entry.kind, entry.version),
                    });
                }
                if (earlier.kind, earlier.version) == (entry.kind, entry.version) {
                    return Err(SchemaError::DuplicateVersion {
                        kind: entry.kind,
                        version: entry.version,
                    });
                }
            }
        }

        let mut newest = [0; SchemaKind::ALL.len()];
        for kind in SchemaKind::ALL {
            let version = kind.newest_version();
            newest[kind.index()] = entries
                .iter()
                .find(|entry| entry.kind == kind && entry.version == version)
                .map(|entry| entry.id)
                .ok_or(SchemaError::MissingNewest { kind, version })?;
        }
        Ok(SchemaIds { entries, newest })
    }

    /// Every known version with its id.
    pub fn entries(&self) -> &[SchemaEntry] {
        &self.entries
    }

    /// The id of the newest version of `kind`, which the codec writes.
    pub fn newest_id(&self, kind: SchemaKind) -> u32 {
        self.newest[kind.index()]
    }

    /// The schema and version that `id` stands for.
    ///
    /// Fast path: a scan of a handful of entries, cheaper than hashing.
    pub fn lookup(&self, id: u32) -> Option<SchemaEntry> {
        self.entries.iter().copied().find(|entry| entry.id == id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The `schemas/` directory at the repository root.
    fn schemas_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas"))
    }

    #[test]
    fn the_built_in_schemas_are_exactly_the_files_under_schemas() {
        let mut on_disk = BTreeSet::new();
        for directory in std::fs::read_dir(schemas_dir()).unwrap() {
            let directory = directory.unwrap().path();
            if !directory.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&directory).unwrap() {
                let file = file.unwrap().path();
                let name = directory
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
                on_disk.insert((name, file_name, std::fs::read_to_string(&file).unwrap()));
            }
        }
        let mut built_in = BTreeSet::new();
        for kind in SchemaKind::ALL {
            for (index, text) in kind.versions().iter().enumerate() {
                built_in.insert((
                    kind.name().to_owned(),
                    format!("v{}.avsc", index + 1),
                    (*text).to_owned(),
                ));
            }
        }
        assert_eq!(on_disk, built_in);
    }

    #[test]
    fn every_schema_file_declares_the_record_name_the_code_expects() {
        for kind in SchemaKind::ALL {
            for (index, text) in kind.versions().iter().enumerate() {
                let json: serde_json::Value = serde_json::from_str(text).unwrap();
                let full_name = format!("{}.{}", json["namespace"], json["name"]);
                assert_eq!(
                    full_name.replace('"', ""),
                    kind.record_name(),
                    "{kind} v{}",
                    index + 1
                );
            }
        }
    }

    #[test]
    fn the_registry_file_lists_every_version_once_with_distinct_ids() {
        let ids = SchemaIds::embedded();
        for kind in SchemaKind::ALL {
            for version in 1..=kind.newest_version() {
                assert!(
                    ids.entries()
                        .iter()
                        .any(|entry| entry.kind == kind && entry.version == version),
                    "schemas/registry.toml does not list {kind} v{version}"
                );
            }
        }
        assert_eq!(
            ids.entries().len(),
            SchemaKind::ALL
                .iter()
                .map(|kind| kind.versions().len())
                .sum::<usize>()
        );
        assert_eq!(
            ids.lookup(1),
            Some(SchemaEntry {
                kind: SchemaKind::RawSample,
                version: 1,
                id: 1
            })
        );
        assert_eq!(ids.newest_id(SchemaKind::CommandOutcome), 6);
        assert_eq!(ids.lookup(0), None);
    }

    #[test]
    fn a_registry_file_with_a_reused_id_is_refused_naming_both_schemas() {
        let text = REGISTRY.replace("id = 2", "id = 1");
        let error = SchemaIds::from_registry_toml(&text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "schema id 1 is given to both raw-sample v1 and processed-sample v1"
        );
    }

    #[test]
    fn a_registry_file_naming_a_version_this_build_lacks_is_refused() {
        let text = format!(
            "{REGISTRY}\n[[schema]]\nname = \"alert\"\ntopic = \"alerts\"\nversion = 9\nid = 99\n"
        );
        let error = SchemaIds::from_registry_toml(&text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "alert v9 is not built in: this build has versions 1 to 1 (schemas/alert/vN.avsc)"
        );
        let text = REGISTRY.replace("name = \"alert\"", "name = \"alarm\"");
        let error = SchemaIds::from_registry_toml(&text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown schema `alarm`: expected one of raw-sample, processed-sample, alert, \
             dead-letter, command, command-outcome"
        );
        let text = REGISTRY.replace("topic = \"alerts\"", "topic = \"dlq\"");
        let error = SchemaIds::from_registry_toml(&text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "schema alert travels on topic alerts, not dlq"
        );
    }

    #[test]
    fn subjects_follow_the_topic_record_name_strategy() {
        assert_eq!(
            SchemaKind::RawSample.subject("flowline."),
            "flowline.raw-sensor-data-flowline.RawSample"
        );
        assert_eq!(
            SchemaKind::CommandOutcome.subject("site-a."),
            "site-a.control-commands-flowline.CommandOutcome"
        );
    }
}
