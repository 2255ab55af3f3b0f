//! How Flowline's records are encoded: the Avro schemas under `schemas/`
//! at the repository root, a codec written by hand for them, the keys
//! that decide partitions, and a client of the Schema Registry for Kafka
//! mode.
//!
//! Every record value on every topic is Avro in the Confluent wire format,
//! so any Confluent-compatible consumer (Kafka Connect, ksqlDB, a Python
//! script with fastavro) can read Flowline's topics:
//!
//! ```text
//!  offset  0        1        2        3        4        5 ...
//!        +--------+--------+--------+--------+--------+------------------+
//!        | magic  |        schema id           |  Avro binary body |
//!        |  0x00  |  u32, big-endian           |  (no header, no   |
//!        |        |  (embedded: registry.toml; |   sync markers)   |
//!        |        |   Kafka: the registry's)   |                   |
//!        +--------+--------+--------+--------+--------+------------------+
//! ```
//!
//! A raw sample of tag 3 measured at -1 µs, received at 64 µs, value 1.0,
//! quality `0x80000000`, flagged stuck, is 24 bytes:
//!
//! ```text
//!  00                        magic byte
//!  00 00 00 01               schema id 1 (raw-sample v1)
//!  06                        tag: long 3, zigzag 6
//!  01                        time: long -1, zigzag 1
//!  80 01                     received: long 64, zigzag 128, two varint bytes
//!  02                        value: union branch 1 (double), zigzag 2
//!  00 00 00 00 00 00 f0 3f   1.0 as a little-endian IEEE 754 double
//!  80 80 80 80 10            quality: long 2^31, zigzag 2^32: 0x10 in the 5th group
//!  08                        flags: int 4 (stuck), zigzag 8
//! ```
//!
//! Avro's binary encoding: `long` and `int` are zigzag-encoded
//! variable-length integers (seven bits a byte, low first); `float` and
//! `double` little-endian IEEE 754; `boolean` one byte; `string` and
//! `bytes` a `long` length then the bytes; `fixed` just the bytes; a union
//! a `long` branch index then the branch; an enum an `int` symbol index;
//! an array counted blocks of items ending with a count of 0.
//!
//! - [`SchemaKind`], [`SchemaIds`]: the schemas, their versions and ids.
//! - [`Codec`]: encodes the newest version of a schema into a reused
//!   buffer and decodes any version this build reads, borrowing strings
//!   and bytes from the input; [`DecodeError`] names the field, the offset
//!   and what was expected, and its `reason` is a dead letter's label.
//! - [`RecordEncoder`]: what producers use: a record with its key,
//!   timestamp and correlation id, into a `RecordBatch`.
//! - The records: [`Sample`](flowline_core::Sample) (raw),
//!   [`ProcessedRecord`], [`AlertRecord`], [`DeadLetter`],
//!   [`SignedCommand`](flowline_core::SignedCommand) and
//!   [`CommandOutcome`](flowline_core::CommandOutcome).
//! - [`key`]: which key each record gets, so a well's samples and state
//!   share a partition.
//! - [`registry`]: the Schema Registry of Kafka mode.
//!
//! Keys are not Avro: a key is an id as four big-endian bytes (see
//! [`key`]).

mod avro;
mod error;
pub mod key;
mod records;
pub mod registry;
mod schema;
mod wire;

pub use avro::Reader;
pub use error::{DecodeError, RegistryError, SchemaError};
pub use key::RecordKey;
pub use records::{AlertRecord, DeadLetter, EvidenceRecord, ProcessedRecord};
pub use registry::{ConfluentRegistry, SchemaRegistry};
pub use schema::{SchemaEntry, SchemaIds, SchemaKind};
pub use wire::{Codec, Decoded, HEADER_LEN, MAGIC, RecordEncoder, WireRecord};
