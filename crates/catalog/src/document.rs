//! Catalog files: import and export as CSV or YAML.
//!
//! Both formats carry assets and tags. A file is read in two stages: first
//! the file as a whole (a YAML syntax error or an unknown CSV column stops
//! everything, with its line), then entry by entry, where each bad entry is
//! kept as a [`RowError`] with its line so an import can report every problem
//! in one go.
//!
//! CSV has one row per asset or tag. The `kind` column says which: `tag`, or
//! an asset kind such as `field`, `pad`, `well` or `esp`. Tag settings have a
//! column each; attributes have a column each, named `attr.NAME`. YAML has
//! two lists, `assets` and `tags`, whose entries are written as the specs
//! serialise.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use flowline_core::{AssetKind, NodePath};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::error::RowError;
use crate::model::{AssetSpec, Attributes, Limits, SourceBinding, TagSpec};

/// A file format the catalog reads and writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// YAML with `assets` and `tags` lists.
    Yaml,
}

impl Format {
    /// The format a file name implies by its extension: `.csv`, `.yaml` or `.yml`.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "yaml" | "yml" => Ok(Format::Yaml),
            _ => Err(format!("unknown format `{text}`: expected csv or yaml")),
        }
    }
}

/// One asset or tag read from a file, with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry<T> {
    /// The line in the file, from 1; `None` for entries made in code.
    pub line: Option<usize>,
    /// What the entry says.
    pub spec: T,
}

/// Assets and tags to import, or exported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    /// The assets, in file order.
    pub assets: Vec<Entry<AssetSpec>>,
    /// The tags, in file order.
    pub tags: Vec<Entry<TagSpec>>,
    /// Entries that could not be read at all, with why.
    pub errors: Vec<RowError>,
}

/// A file that cannot be read as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|line| format!("line {line}: ")).unwrap_or_default())]
pub struct DocumentError {
    /// Where the problem is, if known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Document {
    /// A document of specs made in code, without lines.
    pub fn new(assets: Vec<AssetSpec>, tags: Vec<TagSpec>) -> Document {
        Document {
            assets: assets
                .into_iter()
                .map(|spec| Entry { line: None, spec })
                .collect(),
            tags: tags
                .into_iter()
                .map(|spec| Entry { line: None, spec })
                .collect(),
            errors: Vec::new(),
        }
    }

    /// The number of entries, readable or not.
    pub fn len(&self) -> usize {
        self.assets.len() + self.tags.len() + self.errors.len()
    }

    /// Whether the document has no entries at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a file's text.
    pub fn parse(text: &str, format: Format) -> Result<Document, DocumentError> {
        match format {
            Format::Csv => parse_csv(text),
            Format::Yaml => parse_yaml(text),
        }
    }

    /// Writes the document as a file's text; entries in their current order.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Csv => render_csv(self),
            Format::Yaml => render_yaml(self),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlFile {
    #[serde(default)]
    assets: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    tags: Vec<Spanned<serde_json::Value>>,
}

#[derive(Serialize)]
struct YamlOut<'a> {
    assets: Vec<&'a AssetSpec>,
    tags: Vec<&'a TagSpec>,
}

fn parse_yaml(text: &str) -> Result<Document, DocumentError> {
    let mut document = Document::default();
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Ok(document);
    }
    let file: YamlFile = serde_saphyr::from_str(text).map_err(|error| DocumentError {
        line: None,
        message: error.to_string(),
    })?;

    for item in file.assets {
        let line = Some(item.referenced.line() as usize);
        match typed_entry::<AssetSpec>(item.value) {
            Ok(spec) => document.assets.push(Entry { line, spec }),
            Err((path, message)) => document.errors.push(RowError::new(line, path, message)),
        }
    }
    for item in file.tags {
        let line = Some(item.referenced.line() as usize);
        match typed_entry::<TagSpec>(item.value) {
            Ok(spec) => document.tags.push(Entry { line, spec }),
            Err((path, message)) => document.errors.push(RowError::new(line, path, message)),
        }
    }
    Ok(document)
}

/// Reads one YAML entry as a spec; on failure, the entry's path if it has a
/// readable one, and the message with the field that failed.
fn typed_entry<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (Option<String>, String)> {
    let path = value
        .get("path")
        .and_then(|path| path.as_str())
        .map(str::to_owned);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = error.path().to_string();
        let message = if field == "." {
            error.inner().to_string()
        } else {
            format!("{field}: {}", error.inner())
        };
        (path, message)
    })
}

fn render_yaml(document: &Document) -> String {
    let out = YamlOut {
        assets: document.assets.iter().map(|entry| &entry.spec).collect(),
        tags: document.tags.iter().map(|entry| &entry.spec).collect(),
    };
    let body = serde_saphyr::to_string(&out).expect("bug: catalog specs always serialise");
    format!("# Flowline tag catalog: assets, then tags.\n{body}")
}

/// The CSV columns, in the order they are written.
const COLUMNS: &[&str] = &[
    "kind",
    "path",
    "description",
    "unit",
    "data_type",
    "valid_lo",
    "valid_hi",
    "engineering_lo",
    "engineering_hi",
    "max_change_per_s",
    "deadband",
    "criticality",
    "protocol",
    "address",
    "writable",
];
/// How many leading columns of [`COLUMNS`] assets use; tags use them all.
const ASSET_COLUMNS: usize = 3;
const ATTRIBUTE_PREFIX: &str = "attr.";

/// The value of a `kind` cell that marks a tag.
const TAG_KIND: &str = "tag";

fn parse_csv(text: &str) -> Result<Document, DocumentError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| DocumentError {
            line: Some(1),
            message: error.to_string(),
        })?
        .clone();
    check_headers(&headers)?;

    let mut document = Document::default();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map(|position| position.line() as usize);
                read_row(&headers, &record, line, &mut document);
            }
            Err(error) => {
                let line = error.position().map(|position| position.line() as usize);
                document
                    .errors
                    .push(RowError::new(line, None, csv_problem(&error)));
            }
        }
    }
    Ok(document)
}

fn csv_problem(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields as in the header, found {len}")
        }
        _ => error.to_string(),
    }
}

fn check_headers(headers: &csv::StringRecord) -> Result<(), DocumentError> {
    let mut seen = BTreeSet::new();
    for header in headers {
        let known = COLUMNS.contains(&header)
            || header
                .strip_prefix(ATTRIBUTE_PREFIX)
                .is_some_and(|name| !name.is_empty());
        if !known {
            return Err(DocumentError {
                line: Some(1),
                message: format!(
                    "unknown column `{header}`; expected {} or attr.NAME",
                    COLUMNS.join(", ")
                ),
            });
        }
        if !seen.insert(header) {
            return Err(DocumentError {
                line: Some(1),
                message: format!("column `{header}` appears twice"),
            });
        }
    }
    for required in ["kind", "path"] {
        if !seen.contains(required) {
            return Err(DocumentError {
                line: Some(1),
                message: format!("missing column `{required}`"),
            });
        }
    }
    Ok(())
}

/// One CSV row being read: its cells by column, and what is wrong so far.
struct Row<'a> {
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
    problems: Vec<String>,
}

impl Row<'_> {
    fn cell(&self, column: &str) -> &str {
        self.headers
            .iter()
            .position(|header| header == column)
            .and_then(|index| self.record.get(index))
            .unwrap_or_default()
    }

    /// The cell parsed as `T`, `None` when empty; a problem when unreadable.
    fn parse<T: FromStr>(&mut self, column: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        let cell = self.cell(column);
        if cell.is_empty() {
            return None;
        }
        match cell.parse() {
            Ok(value) => Some(value),
            Err(error) => {
                self.problems.push(format!("{column}: {error}"));
                None
            }
        }
    }

    fn number(&mut self, column: &str) -> Option<f64> {
        let cell = self.cell(column);
        if cell.is_empty() {
            return None;
        }
        match cell.parse::<f64>() {
            Ok(value) => Some(value),
            Err(_) => {
                self.problems
                    .push(format!("{column}: expected a number, found `{cell}`"));
                None
            }
        }
    }

    fn attributes(&self) -> Attributes {
        self.headers
            .iter()
            .zip(self.record.iter())
            .filter_map(|(header, value)| Some((header.strip_prefix(ATTRIBUTE_PREFIX)?, value)))
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }
}

fn read_row(
    headers: &csv::StringRecord,
    record: &csv::StringRecord,
    line: Option<usize>,
    document: &mut Document,
) {
    let mut row = Row {
        headers,
        record,
        problems: Vec::new(),
    };
    let path_text = row.cell("path").to_owned();
    let shown_path = (!path_text.is_empty()).then(|| path_text.clone());
    let path = match NodePath::parse(&path_text) {
        Ok(path) => Some(path),
        Err(error) => {
            row.problems.push(format!("path: {error}"));
            None
        }
    };

    let kind = row.cell("kind").to_owned();
    if kind.eq_ignore_ascii_case(TAG_KIND) {
        let spec = read_tag(&mut row, path);
        push_row(
            document,
            line,
            shown_path,
            row.problems,
            spec,
            |document, entry| document.tags.push(entry),
        );
    } else {
        let kind = match kind.as_str() {
            "" => {
                row.problems
                    .push("kind: empty; expected `tag` or an asset kind".to_owned());
                None
            }
            _ => row.parse::<AssetKind>("kind"),
        };
        for column in &COLUMNS[ASSET_COLUMNS..] {
            if !row.cell(column).is_empty() {
                row.problems
                    .push(format!("{column}: applies to tags only, not to assets"));
            }
        }
        let attributes = row.attributes();
        let description = row.cell("description").to_owned();
        let spec = path.zip(kind).map(|(path, kind)| AssetSpec {
            path,
            kind,
            description,
            attributes,
        });
        push_row(
            document,
            line,
            shown_path,
            row.problems,
            spec,
            |document, entry| document.assets.push(entry),
        );
    }
}

fn read_tag(row: &mut Row, path: Option<NodePath>) -> Option<TagSpec> {
    let unit = row.parse("unit");
    let data_type = row.parse("data_type").unwrap_or_default();
    let valid_range = Limits {
        lo: row.number("valid_lo"),
        hi: row.number("valid_hi"),
    };
    let engineering_range = Limits {
        lo: row.number("engineering_lo"),
        hi: row.number("engineering_hi"),
    };
    let max_change_per_s = row.number("max_change_per_s");
    let deadband = row.number("deadband");
    let criticality = row.parse("criticality").unwrap_or_default();
    let protocol = row.parse("protocol");
    let address = row.cell("address").to_owned();
    if protocol.is_none() && !address.is_empty() {
        row.problems
            .push("address: given without a protocol".to_owned());
    }
    let writable = row.parse::<bool>("writable").unwrap_or(false);
    Some(TagSpec {
        path: path?,
        description: row.cell("description").to_owned(),
        unit,
        data_type,
        valid_range,
        engineering_range,
        max_change_per_s,
        deadband,
        criticality,
        source: protocol.map(|protocol| SourceBinding { protocol, address }),
        writable,
        attributes: row.attributes(),
    })
}

fn push_row<T>(
    document: &mut Document,
    line: Option<usize>,
    path: Option<String>,
    problems: Vec<String>,
    spec: Option<T>,
    push: impl FnOnce(&mut Document, Entry<T>),
) {
    match spec {
        Some(spec) if problems.is_empty() => push(document, Entry { line, spec }),
        _ => {
            for problem in problems {
                document
                    .errors
                    .push(RowError::new(line, path.clone(), problem));
            }
        }
    }
}

fn render_csv(document: &Document) -> String {
    let attribute_names: BTreeSet<&str> = document
        .assets
        .iter()
        .flat_map(|entry| entry.spec.attributes.keys())
        .chain(
            document
                .tags
                .iter()
                .flat_map(|entry| entry.spec.attributes.keys()),
        )
        .map(String::as_str)
        .collect();

    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = COLUMNS.iter().map(|column| (*column).to_owned()).collect();
    header.extend(
        attribute_names
            .iter()
            .map(|name| format!("{ATTRIBUTE_PREFIX}{name}")),
    );
    write_record(&mut writer, &header);

    let attributes = |attributes: &Attributes| -> Vec<String> {
        attribute_names
            .iter()
            .map(|name| attributes.get(*name).cloned().unwrap_or_default())
            .collect()
    };
    for entry in &document.assets {
        let spec = &entry.spec;
        let mut record = vec![
            spec.kind.name().to_owned(),
            spec.path.to_string(),
            spec.description.clone(),
        ];
        debug_assert_eq!(record.len(), ASSET_COLUMNS);
        record.resize(COLUMNS.len(), String::new());
        record.extend(attributes(&spec.attributes));
        write_record(&mut writer, &record);
    }
    for entry in &document.tags {
        let spec = &entry.spec;
        let number = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
        let mut record = vec![
            TAG_KIND.to_owned(),
            spec.path.to_string(),
            spec.description.clone(),
            spec.unit
                .map(|unit| unit.symbol().to_owned())
                .unwrap_or_default(),
            spec.data_type.name().to_owned(),
            number(spec.valid_range.lo),
            number(spec.valid_range.hi),
            number(spec.engineering_range.lo),
            number(spec.engineering_range.hi),
            number(spec.max_change_per_s),
            number(spec.deadband),
            spec.criticality.name().to_owned(),
            spec.source
                .as_ref()
                .map(|source| source.protocol.name().to_owned())
                .unwrap_or_default(),
            spec.source
                .as_ref()
                .map(|source| source.address.clone())
                .unwrap_or_default(),
            if spec.writable { "true" } else { "" }.to_owned(),
        ];
        record.extend(attributes(&spec.attributes));
        write_record(&mut writer, &record);
    }
    let bytes = writer
        .into_inner()
        .expect("bug: writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("bug: CSV of UTF-8 cells is UTF-8")
}

fn write_record(writer: &mut csv::Writer<Vec<u8>>, record: &[String]) {
    writer
        .write_record(record)
        .expect("bug: writing CSV to memory cannot fail");
}

#[cfg(test)]
mod tests {
    use flowline_core::{Criticality, DataType, Unit};

    use super::*;
    use crate::model::Protocol;

    fn sample_document() -> Document {
        let mut tag = TagSpec::new(NodePath::parse("north/pad-1/w-01/tubing-pressure").unwrap());
        tag.description = "Tubing pressure, \"upstream\" of the choke".into();
        tag.unit = Some(Unit::Bar);
        tag.valid_range = Limits::new(0.0, 350.0);
        tag.engineering_range = Limits {
            lo: Some(0.0),
            hi: None,
        };
        tag.max_change_per_s = Some(2.5);
        tag.deadband = Some(0.1);
        tag.criticality = Criticality::High;
        tag.source = Some(SourceBinding {
            protocol: Protocol::Modbus,
            address: "unit=1;holding=4;type=f32".into(),
        });
        tag.writable = true;
        tag.attributes.insert("loop".into(), "PT-101".into());
        let mut running = TagSpec::new(NodePath::parse("north/pad-1/w-01/running").unwrap());
        running.data_type = DataType::Boolean;
        let mut well = AssetSpec {
            path: NodePath::parse("north/pad-1/w-01").unwrap(),
            kind: AssetKind::Well,
            description: "Well 1, ESP".into(),
            attributes: Attributes::new(),
        };
        well.attributes
            .insert("api-number".into(), "42-501-20130".into());
        let field = AssetSpec {
            path: NodePath::parse("north").unwrap(),
            kind: AssetKind::Field,
            description: String::new(),
            attributes: Attributes::new(),
        };
        Document::new(vec![field, well], vec![tag, running])
    }

    fn without_lines(mut document: Document) -> Document {
        document
            .assets
            .iter_mut()
            .for_each(|entry| entry.line = None);
        document.tags.iter_mut().for_each(|entry| entry.line = None);
        document
    }

    #[test]
    fn csv_round_trip_keeps_every_setting() {
        let document = sample_document();
        let text = document.render(Format::Csv);
        let back = Document::parse(&text, Format::Csv).unwrap();
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!(without_lines(back), document);
    }

    #[test]
    fn yaml_round_trip_keeps_every_setting() {
        let document = sample_document();
        let text = document.render(Format::Yaml);
        let back = Document::parse(&text, Format::Yaml).unwrap();
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!(without_lines(back), document);
    }

    #[test]
    fn csv_rows_with_problems_are_reported_with_line_and_column() {
        let text = "kind,path,unit,valid_lo,valid_hi\n\
                    field,north,,,\n\
                    tag,north/t1,furlongs,0,10\n\
                    tag,north/T2,bar,abc,10\n\
                    rig,north/x,,,\n\
                    well,north/w-1,bar,,\n\
                    tag,north/t3,bar\n";
        let document = Document::parse(text, Format::Csv).unwrap();
        assert_eq!(document.assets.len(), 1);
        assert!(document.tags.is_empty());
        let errors: Vec<String> = document.errors.iter().map(ToString::to_string).collect();
        assert!(
            errors[0].starts_with("line 3: north/t1: unit: unknown unit `furlongs`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("line 4: north/T2: path: invalid path `north/T2`"),
            "{errors:?}"
        );
        assert_eq!(
            errors[2],
            "line 4: north/T2: valid_lo: expected a number, found `abc`"
        );
        assert!(
            errors[3].starts_with("line 5: north/x: kind: unknown asset kind `rig`"),
            "{errors:?}"
        );
        assert_eq!(
            errors[4],
            "line 6: north/w-1: unit: applies to tags only, not to assets"
        );
        assert_eq!(
            errors[5],
            "line 7: expected 5 fields as in the header, found 3"
        );
        assert_eq!(errors.len(), 6);
    }

    #[test]
    fn unknown_csv_columns_stop_the_whole_file() {
        let error = Document::parse("kind,path,unti\n", Format::Csv).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("line 1: unknown column `unti`"),
            "{error}"
        );
        let error = Document::parse("path,unit\n", Format::Csv).unwrap_err();
        assert_eq!(error.to_string(), "line 1: missing column `kind`");
    }

    #[test]
    fn yaml_entries_with_problems_are_reported_with_their_line() {
        let text = "assets:\n  - path: north\n    kind: field\n\
                    tags:\n  - path: north/t1\n    unti: bar\n\
                    \x20 - path: north/t2\n    valid_range: {lo: x}\n";
        let document = Document::parse(text, Format::Yaml).unwrap();
        let errors: Vec<String> = document.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("line 5: north/t1: unti: unknown field `unti`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("line 7: north/t2: valid_range.lo:"),
            "{errors:?}"
        );
    }

    #[test]
    fn yaml_syntax_errors_stop_the_whole_file() {
        let error = Document::parse("assets: [\n  - path: north\n", Format::Yaml).unwrap_err();
        assert!(!error.message.is_empty());
        let error = Document::parse("tag:\n  - path: north/t1\n", Format::Yaml).unwrap_err();
        assert!(error.to_string().contains("unknown field `tag`"), "{error}");
    }

    #[test]
    fn formats_follow_file_names() {
        assert_eq!(Format::from_file_name("field.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_file_name("field.yml"), Some(Format::Yaml));
        assert_eq!(Format::from_file_name("field.json"), None);
    }
}
