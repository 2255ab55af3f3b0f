//! Commands to the field and their outcomes.
//!
//! A command sets one writable tag (a choke setpoint, an ESP frequency, a
//! pump's run state). The control service issues it after its approval
//! workflow and signs it with its Ed25519 key; the gateway checks the
//! signature, the expiry and the nonce before it writes anything, writes
//! through the tag's protocol, reads back, and reports a
//! [`CommandOutcome`]. This module defines what both sides agree on: the
//! command, the exact bytes that are signed, and the outcome.

use serde::{Deserialize, Serialize};

use crate::{TagId, Timestamp, Value};

/// Prefix of the signed bytes, so a command signature can never be taken
/// for the signature of anything else, and the format can change.
const SIGNING_DOMAIN: &[u8] = b"flowline/command/v1\n";

/// A request to write one value to one writable tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Unique id, chosen by the control service; outcomes carry it.
    pub id: String,
    /// The tag to write.
    pub tag: TagId,
    /// The value to write, in the tag's unit.
    pub value: Value,
    /// When the command was issued.
    pub issued_at: Timestamp,
    /// After this instant the command must not be carried out.
    pub expires_at: Timestamp,
    /// 128 random bits, never used twice: a command seen before is a replay.
    pub nonce: u128,
}

/// A command with the signature of the control service's key `key_id`
/// over [`Command::signing_bytes`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedCommand {
    /// The command.
    pub command: Command,
    /// Which trusted key signed it.
    pub key_id: String,
    /// The Ed25519 signature, 64 bytes.
    pub signature: Vec<u8>,
}

impl Command {
    /// The bytes the control service signs and the gateway verifies: a
    /// domain prefix, then the command in postcard's stable binary form.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        let body = postcard::to_allocvec(self).expect("bug: a command always serialises");
        bytes.extend_from_slice(&body);
        bytes
    }
}

/// What became of a command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Written, and the read-back matches.
    Confirmed {
        /// What the device holds after the write.
        readback: Value,
    },
    /// Not carried out, or carried out but not confirmed.
    Failed {
        /// Why, naming the tag, the address and what happened.
        reason: String,
    },
    /// No answer from the device in time; the write may or may not have
    /// happened.
    TimedOut,
    /// Refused before anything was written: bad signature, expired,
    /// replayed, or a tag that is not writable.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The outcome of one command, as the gateway reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// The command's id.
    pub command_id: String,
    /// The tag it targeted.
    pub tag: TagId,
    /// When the outcome was known.
    pub at: Timestamp,
    /// What happened.
    pub outcome: Outcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Command {
        Command {
            id: "c-1".to_owned(),
            tag: TagId(7),
            value: Value::Float(42.5),
            issued_at: Timestamp::from_seconds(100),
            expires_at: Timestamp::from_seconds(160),
            nonce: 0x1234,
        }
    }

    #[test]
    fn every_field_is_covered_by_the_signed_bytes() {
        let original = command().signing_bytes();
        assert!(original.starts_with(SIGNING_DOMAIN));
        let mut changed = vec![command(); 6];
        changed[0].id = "c-2".to_owned();
        changed[1].tag = TagId(8);
        changed[2].value = Value::Float(42.6);
        changed[3].issued_at = Timestamp::from_seconds(101);
        changed[4].expires_at = Timestamp::from_seconds(161);
        changed[5].nonce = 0x1235;
        for other in changed {
            assert_ne!(other.signing_bytes(), original, "{other:?}");
        }
    }

    #[test]
    fn outcomes_read_as_json_with_their_kind() {
        let outcome = Outcome::Refused {
            reason: "expired".to_owned(),
        };
        let json = serde_json::to_string(&outcome).unwrap();
        assert_eq!(json, r#"{"outcome":"refused","reason":"expired"}"#);
    }
}
