//! Commands and their outcomes, on `control-commands`: the types of
//! `flowline_core::command` as they are.

use flowline_core::{Command, CommandOutcome, Outcome, SignedCommand, TagId, Timestamp};

use super::{put_value, read_value};
use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::schema::SchemaKind;
use crate::wire::WireRecord;

impl WireRecord<'_> for SignedCommand {
    const KIND: SchemaKind = SchemaKind::Command;

    fn write(&self, out: &mut Vec<u8>) {
        let command = &self.command;
        avro::put_string(out, &command.id);
        avro::put_long(out, i64::from(command.tag.0));
        put_value(out, &command.value);
        avro::put_long(out, command.issued_at.as_micros());
        avro::put_long(out, command.expires_at.as_micros());
        out.extend_from_slice(&command.nonce.to_be_bytes());
        avro::put_string(out, &self.key_id);
        avro::put_bytes(out, &self.signature);
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let command = Command {
            id: reader.string("command.id")?.to_owned(),
            tag: TagId(reader.u32_long("command.tag")?),
            value: read_value(reader, "command.value")?,
            issued_at: Timestamp::from_micros(reader.long("command.issued_at")?),
            expires_at: Timestamp::from_micros(reader.long("command.expires_at")?),
            nonce: u128::from_be_bytes(reader.fixed("command.nonce")?),
        };
        Ok(SignedCommand {
            command,
            key_id: reader.string("key_id")?.to_owned(),
            signature: reader.bytes("signature")?.to_vec(),
        })
    }
}

/// Branches of the outcome union: confirmed, failed, timed out, refused.
const OUTCOME_BRANCHES: usize = 4;

impl WireRecord<'_> for CommandOutcome {
    const KIND: SchemaKind = SchemaKind::CommandOutcome;

    fn write(&self, out: &mut Vec<u8>) {
        avro::put_string(out, &self.command_id);
        avro::put_long(out, i64::from(self.tag.0));
        avro::put_long(out, self.at.as_micros());
        match &self.outcome {
            Outcome::Confirmed { readback } => {
                avro::put_index(out, 0);
                put_value(out, readback);
            }
            Outcome::Failed { reason } => {
                avro::put_index(out, 1);
                avro::put_string(out, reason);
            }
            Outcome::TimedOut => avro::put_index(out, 2),
            Outcome::Refused { reason } => {
                avro::put_index(out, 3);
                avro::put_string(out, reason);
            }
        }
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let command_id = reader.string("command_id")?.to_owned();
        let tag = TagId(reader.u32_long("tag")?);
        let at = Timestamp::from_micros(reader.long("at")?);
        let outcome = match reader.union_index("outcome", OUTCOME_BRANCHES)? {
            0 => Outcome::Confirmed {
                readback: read_value(reader, "outcome.readback")?,
            },
            1 => Outcome::Failed {
                reason: reader.string("outcome.reason")?.to_owned(),
            },
            2 => Outcome::TimedOut,
            _ => Outcome::Refused {
                reason: reader.string("outcome.reason")?.to_owned(),
            },
        };
        Ok(CommandOutcome {
            command_id,
            tag,
            at,
            outcome,
        })
    }
}
