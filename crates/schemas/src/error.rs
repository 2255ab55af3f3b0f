//! What can go wrong decoding a record, listing schemas, or talking to a
//! Schema Registry.
//!
//! A [`DecodeError`] names the schema, the field and the offset from the
//! record value's first byte (the magic byte is offset 0), and says what
//! was expected and what was found; its [`reason`](DecodeError::reason) is
//! the short label a dead letter carries.

use flowline_bus::Topic;

use crate::schema::SchemaKind;
use crate::wire::HEADER_LEN;

/// Why a record's bytes could not be decoded. Every variant is a record
/// for the dead-letter queue, never a reason to stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the magic byte and schema id.
    #[error(
        "record of {len} bytes is shorter than the {HEADER_LEN}-byte header (magic byte and \
         schema id)"
    )]
    NoHeader {
        /// The record's length.
        len: usize,
    },
    /// The first byte is not the Confluent wire format's magic byte.
    #[error("unknown magic byte: expected 0x00, found {found:#04x} at offset 0")]
    UnknownMagic {
        /// The byte found.
        found: u8,
    },
    /// A schema id this installation does not know.
    #[error("unknown schema id {id} at offset 1")]
    UnknownSchemaId {
        /// The id found.
        id: u32,
    },
    /// A schema id of another schema than the one expected, such as an
    /// alert on `raw-sensor-data`.
    #[error("schema id {id} is {found} v{version}; expected {expected}")]
    WrongSchema {
        /// The id found.
        id: u32,
        /// The schema it stands for.
        found: SchemaKind,
        /// Its version.
        version: u32,
        /// The schema expected.
        expected: SchemaKind,
    },
    /// A version of the right schema that this build has no reader for:
    /// an older version, listed with its id, that the record type has not
    /// learned to read.
    #[error("schema id {id} is {schema} v{version}, which this build cannot read")]
    UnsupportedVersion {
        /// The id found.
        id: u32,
        /// Its schema.
        schema: SchemaKind,
        /// Its version.
        version: u32,
    },
    /// The record ends inside a field.
    #[error(
        "truncated {schema} record: expected {expected} bytes for `{field}` at offset \
         {offset}, found {found}"
    )]
    Truncated {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the field (or its part) starts.
        offset: usize,
        /// Bytes it needs from there (at least).
        expected: usize,
        /// Bytes left from there.
        found: usize,
    },
    /// A variable-length integer longer than ten bytes or wider than 64
    /// bits.
    #[error(
        "{schema} record: `{field}` at offset {offset} is not a valid variable-length \
         integer (more than 10 bytes or 64 bits)"
    )]
    BadVarint {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the integer starts.
        offset: usize,
    },
    /// A union's branch index outside its branches.
    #[error(
        "{schema} record: `{field}` at offset {offset} has union branch {index}; expected 0 \
         to {}",
        branches - 1
    )]
    BadUnionIndex {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the index is.
        offset: usize,
        /// The index found.
        index: i64,
        /// How many branches the union has.
        branches: usize,
    },
    /// An enum's symbol index outside its symbols.
    #[error(
        "{schema} record: `{field}` at offset {offset} has enum symbol {index}; expected 0 \
         to {}",
        symbols - 1
    )]
    BadEnumIndex {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the index is.
        offset: usize,
        /// The index found.
        index: i64,
        /// How many symbols the enum has.
        symbols: usize,
    },
    /// A string that is not UTF-8.
    #[error("{schema} record: `{field}` is not valid UTF-8 from offset {offset}")]
    InvalidUtf8 {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// The first byte that is not part of a valid character.
        offset: usize,
    },
    /// A number outside what its field may hold, such as a negative tag
    /// id.
    #[error("{schema} record: `{field}` at offset {offset} is {value}; expected {min} to {max}")]
    OutOfRange {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the number is.
        offset: usize,
        /// The number found.
        value: i64,
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
    },
    /// A length of bytes or a string below zero.
    #[error("{schema} record: `{field}` at offset {offset} has negative length {length}")]
    NegativeLength {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the length is.
        offset: usize,
        /// The length found.
        length: i64,
    },
    /// A boolean byte other than 0 and 1.
    #[error("{schema} record: `{field}` at offset {offset} is {found:#04x}; expected 0 or 1")]
    BadBoolean {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the byte is.
        offset: usize,
        /// The byte found.
        found: u8,
    },
    /// A name Flowline does not know, such as a unit symbol or a topic.
    #[error("{schema} record: `{field}` at offset {offset} is `{found}`, not a known {what}")]
    UnknownName {
        /// The schema being read.
        schema: SchemaKind,
        /// The field being read.
        field: &'static str,
        /// Where the string starts.
        offset: usize,
        /// What it should name: "unit", "topic".
        what: &'static str,
        /// The text found.
        found: String,
    },
    /// Bytes after the end of the record's schema.
    #[error("{schema} record ends at offset {end}, but the value has {len} bytes")]
    TrailingBytes {
        /// The schema read.
        schema: SchemaKind,
        /// Where the schema's last field ended.
        end: usize,
        /// The value's length.
        len: usize,
    },
    /// A record without a `correlation-id` header holding a UUID.
    #[error("record has no valid correlation-id header")]
    MissingCorrelationId,
}

impl DecodeError {
    /// The short, stable label of this kind of error, for a dead letter's
    /// `reason` and for metrics, such as `truncated`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NoHeader { .. } => "no-header",
            DecodeError::UnknownMagic { .. } => "unknown-magic-byte",
            DecodeError::UnknownSchemaId { .. } => "unknown-schema-id",
            DecodeError::WrongSchema { .. } => "wrong-schema",
            DecodeError::UnsupportedVersion { .. } => "unsupported-version",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadVarint { .. } => "bad-varint",
            DecodeError::BadUnionIndex { .. } => "bad-union-index",
            DecodeError::BadEnumIndex { .. } => "bad-enum-index",
            DecodeError::InvalidUtf8 { .. } => "invalid-utf8",
            DecodeError::OutOfRange { .. } => "out-of-range",
            DecodeError::NegativeLength { .. } => "negative-length",
            DecodeError::BadBoolean { .. } => "bad-boolean",
            DecodeError::UnknownName { .. } => "unknown-name",
            DecodeError::TrailingBytes { .. } => "trailing-bytes",
            DecodeError::MissingCorrelationId => "missing-correlation-id",
        }
    }

    /// Where in the record value the problem is, from its first byte;
    /// `None` for a record without header or without correlation id.
    pub fn offset(&self) -> Option<usize> {
        match self {
            DecodeError::NoHeader { .. } | DecodeError::MissingCorrelationId => None,
            DecodeError::UnknownMagic { .. } => Some(0),
            DecodeError::UnknownSchemaId { .. }
            | DecodeError::WrongSchema { .. }
            | DecodeError::UnsupportedVersion { .. } => Some(1),
            DecodeError::Truncated { offset, .. }
            | DecodeError::BadVarint { offset, .. }
            | DecodeError::BadUnionIndex { offset, .. }
            | DecodeError::BadEnumIndex { offset, .. }
            | DecodeError::InvalidUtf8 { offset, .. }
            | DecodeError::OutOfRange { offset, .. }
            | DecodeError::NegativeLength { offset, .. }
            | DecodeError::BadBoolean { offset, .. }
            | DecodeError::UnknownName { offset, .. } => Some(*offset),
            DecodeError::TrailingBytes { end, .. } => Some(*end),
        }
    }
}

/// A list of schema ids that cannot work: `schemas/registry.toml`, or
/// what a Schema Registry answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The file is not TOML of the expected form.
    #[error("schemas/registry.toml: {0}")]
    Registry(String),
    /// A schema name with no directory under `schemas/`.
    #[error("unknown schema `{name}`: expected one of {}", schema_names())]
    UnknownName {
        /// The name found.
        name: String,
    },
    /// A schema listed with another topic than its own.
    #[error("schema {kind} travels on topic {expected}, not {found}")]
    WrongTopic {
        /// The schema.
        kind: SchemaKind,
        /// Its topic.
        expected: Topic,
        /// The topic listed.
        found: String,
    },
    /// A version this build has no schema text for.
    #[error(
        "{kind} v{version} is not built in: this build has versions 1 to {newest} \
         (schemas/{kind}/vN.avsc)"
    )]
    UnknownVersion {
        /// The schema.
        kind: SchemaKind,
        /// The version listed.
        version: u32,
        /// The newest version built in.
        newest: u32,
    },
    /// One id for two versions.
    #[error("schema id {id} is given to both {} v{} and {} v{}", first.0, first.1, second.0, second.1)]
    DuplicateId {
        /// The id.
        id: u32,
        /// The first version listed with it.
        first: (SchemaKind, u32),
        /// The second.
        second: (SchemaKind, u32),
    },
    /// One version listed twice.
    #[error("{kind} v{version} is listed twice")]
    DuplicateVersion {
        /// The schema.
        kind: SchemaKind,
        /// The version.
        version: u32,
    },
    /// The version the codec writes has no id.
    #[error("{kind} v{version}, the version this build writes, has no schema id")]
    MissingNewest {
        /// The schema.
        kind: SchemaKind,
        /// Its newest version.
        version: u32,
    },
}

/// The names of the schemas, for messages.
fn schema_names() -> String {
    let names: Vec<&str> = SchemaKind::ALL.iter().map(|kind| kind.name()).collect();
    names.join(", ")
}

/// Why a Schema Registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The client cannot be set up: the URL is not usable, or the
    /// system's trust store cannot be read.
    #[error("cannot set up the schema registry client for `{url}`: {reason}")]
    Setup {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request did not get an answer: refused, timed out, TLS failed.
    #[error("schema registry request {method} {url} failed: {source}")]
    Transport {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// What the HTTP client said.
        source: reqwest::Error,
    },
    /// The registry answered with an error.
    #[error(
        "schema registry answered {method} {url} with HTTP {status}, error code {error_code}: \
         {message}"
    )]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's own error code, such as 40401 (subject not
        /// found) or 409 (incompatible schema); the HTTP status when the
        /// body has none.
        error_code: u32,
        /// The registry's message, or the body as text.
        message: String,
    },
    /// The registry's answer is not what the Confluent API documents.
    #[error("schema registry answered {method} {url} with an unexpected body ({reason}): {body}")]
    Body {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// What did not match.
        reason: String,
        /// The body, cut to 200 bytes.
        body: String,
    },
    /// The ids the registry gave do not make a usable list.
    #[error("the schema registry's ids cannot be used: {0}")]
    Ids(#[from] SchemaError),
}
