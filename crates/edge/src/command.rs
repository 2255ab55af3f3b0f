//! Command write-back: checking, writing and confirming commands.
//!
//! The gateway carries out a [`SignedCommand`] only when the signature is
//! by a trusted control-service key, the command has not expired, was not
//! issued in the future, lives no longer than allowed, and its nonce has
//! not been seen before. It then writes the value through the tag's
//! device, reads it back, and reports a [`CommandOutcome`]: confirmed,
//! failed with the reason, timed out, or refused.
//!
//! Nonces are remembered until their command expires. A gateway that
//! restarts forgets them, so it also refuses every command issued before
//! it started: a command recorded before a restart cannot be replayed
//! after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use ed25519_dalek::{Signature, VerifyingKey};
use flowline_catalog::Snapshot;
use flowline_core::{CommandOutcome, Outcome, SignedCommand, Timestamp, Value};
use serde::{Deserialize, Serialize};

use crate::Gateway;

/// Settings of command write-back: `[gateway.commands]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandConfig {
    /// The control service's public keys: key id and 32-byte Ed25519 key
    /// in hexadecimal. Empty, the default, refuses every command.
    pub trusted_keys: BTreeMap<String, String>,
    /// The longest a command may live from issue to expiry, in seconds.
    /// The default is 300.
    pub max_lifetime_s: u64,
    /// Clock difference tolerated between the control service and the
    /// gateway, in milliseconds. The default is 2,000.
    pub clock_skew_ms: u64,
    /// How long to wait for the device to take a write and answer the
    /// read-back, in milliseconds. The default is 5,000.
    pub write_timeout_ms: u64,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            trusted_keys: BTreeMap::new(),
            max_lifetime_s: 300,
            clock_skew_ms: 2_000,
            write_timeout_ms: 5_000,
        }
    }
}

impl CommandConfig {
    /// These settings with `key` trusted under `key_id`, written as the
    /// configuration file writes it (64 hexadecimal digits).
    pub fn trusting(mut self, key_id: &str, key: &VerifyingKey) -> CommandConfig {
        let hex = key
            .to_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        self.trusted_keys.insert(key_id.to_owned(), hex);
        self
    }
}

/// Why a command is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No trusted key has this id.
    #[error("signed by unknown key `{0}`")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("signature does not verify against key `{0}`")]
    BadSignature(String),
    /// The command expired before it arrived.
    #[error("expired at {expires_at}, now {now}")]
    Expired {
        /// When it expired.
        expires_at: Timestamp,
        /// When it was checked.
        now: Timestamp,
    },
    /// Issued later than now, beyond the tolerated clock skew.
    #[error("issued in the future, at {issued_at}; now {now}")]
    FromTheFuture {
        /// When it claims to be issued.
        issued_at: Timestamp,
        /// When it was checked.
        now: Timestamp,
    },
    /// Issued before this gateway started: its nonce may have been seen.
    #[error("issued at {issued_at}, before this gateway started at {started}")]
    BeforeStart {
        /// When it was issued.
        issued_at: Timestamp,
        /// When the gateway started.
        started: Timestamp,
    },
    /// Expiry too far after issue.
    #[error("lives {lifetime_s} s, longer than the {max_s} s allowed")]
    TooLong {
        /// Its lifetime.
        lifetime_s: i64,
        /// The most allowed.
        max_s: u64,
    },
    /// The nonce was seen before: a replay.
    #[error("replays nonce {0:032x}, already used")]
    Replayed(u128),
    /// The tag is not one commands may write.
    #[error("tag {0} is not writable")]
    NotWritable(String),
}

/// A trusted key that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", self.key())]
pub struct KeyError {
    key_id: String,
    reason: String,
}

impl KeyError {
    /// The configuration key of the bad trusted key.
    pub fn key(&self) -> String {
        format!("gateway.commands.trusted_keys.{}", self.key_id)
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Checks commands: signature, time window and nonce.
#[derive(Debug)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
    max_lifetime_s: u64,
    clock_skew_ms: u64,
    started: Timestamp,
    /// Nonces seen, each until its command expires.
    seen: HashSet<u128>,
    expiries: BTreeMap<(Timestamp, u128), ()>,
}

impl Verifier {
    /// A verifier trusting `config`'s keys, started at `started`.
    pub fn new(config: &CommandConfig, started: Timestamp) -> Result<Verifier, KeyError> {
        let mut keys = HashMap::new();
        for (key_id, hex) in &config.trusted_keys {
            let error = |reason: String| KeyError {
                key_id: key_id.clone(),
                reason,
            };
            let bytes = decode_hex(hex).map_err(error)?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                error(format!(
                    "expected 32 bytes (64 hex digits), found {}",
                    bytes.len()
                ))
            })?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|e| error(e.to_string()))?;
            keys.insert(key_id.clone(), key);
        }
        Ok(Verifier {
            keys,
            max_lifetime_s: config.max_lifetime_s,
            clock_skew_ms: config.clock_skew_ms,
            started,
            seen: HashSet::new(),
            expiries: BTreeMap::new(),
        })
    }

    /// Accepts `signed` at `now` or says why not. An accepted command's
    /// nonce is remembered: the same command is refused the next time.
    pub fn check(&mut self, signed: &SignedCommand, now: Timestamp) -> Result<(), Refusal> {
        let command = &signed.command;
        let key = self
            .keys
            .get(&signed.key_id)
            .ok_or_else(|| Refusal::UnknownKey(signed.key_id.clone()))?;
        let signature = Signature::from_slice(&signed.signature)
            .map_err(|_| Refusal::BadSignature(signed.key_id.clone()))?;
        key.verify_strict(&command.signing_bytes(), &signature)
            .map_err(|_| Refusal::BadSignature(signed.key_id.clone()))?;

        let skew_us = (self.clock_skew_ms as i64).saturating_mul(1_000);
        if command.expires_at.saturating_add_micros(skew_us) < now {
            return Err(Refusal::Expired {
                expires_at: command.expires_at,
                now,
            });
        }
        if command.issued_at > now.saturating_add_micros(skew_us) {
            return Err(Refusal::FromTheFuture {
                issued_at: command.issued_at,
                now,
            });
        }
        if command.issued_at.saturating_add_micros(skew_us) < self.started {
            return Err(Refusal::BeforeStart {
                issued_at: command.issued_at,
                started: self.started,
            });
        }
        let lifetime_s = command.expires_at.micros_since(command.issued_at) / 1_000_000;
        if lifetime_s < 0 || lifetime_s as u64 > self.max_lifetime_s {
            return Err(Refusal::TooLong {
                lifetime_s,
                max_s: self.max_lifetime_s,
            });
        }

        self.forget_expired(now);
        if !self.seen.insert(command.nonce) {
            return Err(Refusal::Replayed(command.nonce));
        }
        let keep_until = command.expires_at.saturating_add_micros(skew_us);
        self.expiries.insert((keep_until, command.nonce), ());
        Ok(())
    }

    /// Drops nonces whose commands can no longer be accepted anyway.
    fn forget_expired(&mut self, now: Timestamp) {
        while let Some(((until, nonce), ())) = self.expiries.first_key_value() {
            if *until >= now {
                break;
            }
            self.seen.remove(nonce);
            let key = (*until, *nonce);
            self.expiries.remove(&key);
        }
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "expected an even number of hex digits, found {}",
            text.len()
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|index| {
            u8::from_str_radix(&text[index..index + 2], 16)
                .map_err(|_| format!("`{}` is not hexadecimal", &text[index..index + 2]))
        })
        .collect()
}

/// Carries out commands through a running gateway.
pub struct Executor<'a> {
    gateway: &'a Gateway,
    verifier: Verifier,
    write_timeout: Duration,
}

impl<'a> Executor<'a> {
    /// An executor writing through `gateway`, checking with `verifier`.
    pub fn new(gateway: &'a Gateway, verifier: Verifier, config: &CommandConfig) -> Self {
        Executor {
            gateway,
            verifier,
            write_timeout: Duration::from_millis(config.write_timeout_ms),
        }
    }

    /// Checks, writes and confirms one command against the catalog in
    /// `snapshot`; the outcome says what happened.
    pub async fn execute(&mut self, signed: &SignedCommand, snapshot: &Snapshot) -> CommandOutcome {
        let command = &signed.command;
        let outcome = match self.admit(signed, snapshot) {
            Err(refusal) => {
                super::command_events::refused(command, &refusal);
                Outcome::Refused {
                    reason: refusal.to_string(),
                }
            }
            Ok(()) => {
                let write = self.gateway.write(command.tag, command.value.clone());
                match tokio::time::timeout(self.write_timeout, write).await {
                    Err(_) => Outcome::TimedOut,
                    Ok(Err(error)) => Outcome::Failed {
                        reason: error.to_string(),
                    },
                    Ok(Ok(readback)) if confirms(&command.value, &readback) => {
                        Outcome::Confirmed { readback }
                    }
                    Ok(Ok(readback)) => Outcome::Failed {
                        reason: format!("wrote {} but read back {readback}", command.value),
                    },
                }
            }
        };
        let outcome = CommandOutcome {
            command_id: command.id.clone(),
            tag: command.tag,
            at: Timestamp::now(),
            outcome,
        };
        super::command_events::finished(&outcome);
        outcome
    }

    fn admit(&mut self, signed: &SignedCommand, snapshot: &Snapshot) -> Result<(), Refusal> {
        self.verifier.check(signed, Timestamp::now())?;
        let tag = signed.command.tag;
        match snapshot.tag(tag) {
            Some(entry) if entry.tag.spec.writable => Ok(()),
            Some(entry) => Err(Refusal::NotWritable(entry.tag.spec.path.to_string())),
            None => Err(Refusal::NotWritable(format!("{tag} (not in the catalog)"))),
        }
    }
}

/// Whether `readback` shows that `written` took effect. Floats compare
/// within the precision of a 32-bit register value.
fn confirms(written: &Value, readback: &Value) -> bool {
    match (written.as_f64(), readback.as_f64()) {
        (Some(written), Some(readback)) => {
            (written - readback).abs() <= 1e-6 * written.abs().max(1.0)
        }
        _ => written == readback,
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use flowline_core::{Command, TagId};

    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn config() -> CommandConfig {
        CommandConfig::default().trusting("control-1", &key().verifying_key())
    }

    fn signed(issued_s: i64, expires_s: i64, nonce: u128) -> SignedCommand {
        let command = Command {
            id: format!("c-{nonce}"),
            tag: TagId(1),
            value: Value::Float(55.0),
            issued_at: Timestamp::from_seconds(issued_s),
            expires_at: Timestamp::from_seconds(expires_s),
            nonce,
        };
        let signature = key().sign(&command.signing_bytes()).to_bytes().to_vec();
        SignedCommand {
            command,
            key_id: "control-1".to_owned(),
            signature,
        }
    }

    fn verifier() -> Verifier {
        Verifier::new(&config(), Timestamp::from_seconds(1_000)).unwrap()
    }

    #[test]
    fn a_fresh_signed_command_is_accepted_once() {
        let mut verifier = verifier();
        let command = signed(1_010, 1_070, 1);
        assert_eq!(
            verifier.check(&command, Timestamp::from_seconds(1_020)),
            Ok(())
        );
        assert_eq!(
            verifier.check(&command, Timestamp::from_seconds(1_021)),
            Err(Refusal::Replayed(1))
        );
    }

    #[test]
    fn tampered_unsigned_and_foreign_commands_are_refused() {
        let mut verifier = verifier();
        let now = Timestamp::from_seconds(1_020);
        let mut tampered = signed(1_010, 1_070, 2);
        tampered.command.value = Value::Float(100.0);
        assert_eq!(
            verifier.check(&tampered, now),
            Err(Refusal::BadSignature("control-1".into()))
        );
        let mut unsigned = signed(1_010, 1_070, 3);
        unsigned.signature.clear();
        assert_eq!(
            verifier.check(&unsigned, now),
            Err(Refusal::BadSignature("control-1".into()))
        );
        let mut foreign = signed(1_010, 1_070, 4);
        foreign.key_id = "someone".to_owned();
        assert_eq!(
            verifier.check(&foreign, now),
            Err(Refusal::UnknownKey("someone".into()))
        );
    }

    #[test]
    fn commands_outside_their_time_window_are_refused() {
        let mut verifier = verifier();
        let now = Timestamp::from_seconds(1_100);
        assert!(matches!(
            verifier.check(&signed(1_010, 1_070, 5), now),
            Err(Refusal::Expired { .. })
        ));
        assert!(matches!(
            verifier.check(&signed(1_200, 1_260, 6), now),
            Err(Refusal::FromTheFuture { .. })
        ));
        assert!(matches!(
            verifier.check(&signed(990, 1_150, 7), now),
            Err(Refusal::BeforeStart { .. })
        ));
        assert!(matches!(
            verifier.check(&signed(1_090, 2_000, 8), now),
            Err(Refusal::TooLong { .. })
        ));
    }

    #[test]
    fn a_nonce_is_forgotten_only_after_its_command_expired() {
        let mut verifier = verifier();
        verifier
            .check(&signed(1_010, 1_070, 9), Timestamp::from_seconds(1_020))
            .unwrap();
        // A later command with another nonce prunes expired ones.
        verifier
            .check(&signed(1_100, 1_150, 10), Timestamp::from_seconds(1_110))
            .unwrap();
        assert!(!verifier.seen.contains(&9));
        assert!(verifier.seen.contains(&10));
    }

    #[test]
    fn malformed_trusted_keys_are_named() {
        let bad = CommandConfig {
            trusted_keys: [("k".to_owned(), "abc".to_owned())].into(),
            ..CommandConfig::default()
        };
        let error = Verifier::new(&bad, Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(
            error.to_string(),
            "gateway.commands.trusted_keys.k: expected an even number of hex digits, found 3"
        );
        let short = CommandConfig {
            trusted_keys: [("k".to_owned(), "ab".to_owned())].into(),
            ..CommandConfig::default()
        };
        let error = Verifier::new(&short, Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("expected 32 bytes (64 hex digits), found 1"),
            "{error}"
        );
    }

    #[test]
    fn read_backs_confirm_within_register_precision() {
        assert!(confirms(
            &Value::Float(55.1),
            &Value::Float(f64::from(55.1f32))
        ));
        assert!(!confirms(&Value::Float(55.0), &Value::Float(54.0)));
        assert!(confirms(&Value::Boolean(true), &Value::Boolean(true)));
        assert!(!confirms(&Value::Boolean(true), &Value::Boolean(false)));
    }
}
