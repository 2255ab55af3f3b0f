//! What can go wrong in the simulator, as typed errors.
//!
//! Each error names the thing at fault (a tag, a well, a fault entry, a
//! configuration key) and says what was expected and what was found, so the
//! message alone is enough to fix the input.

use std::path::PathBuf;

use flowline_catalog::modbus::ModbusError;
use flowline_core::NodePath;
use flowline_core::secret::PasswordError;

/// A document the simulator cannot model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// An asset cannot be simulated as it stands.
    #[error("asset `{asset}`: {reason}")]
    Asset {
        /// The asset's path.
        asset: NodePath,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag cannot be simulated as it stands.
    #[error("tag `{tag}`: {reason}")]
    Tag {
        /// The tag's path.
        tag: NodePath,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag's Modbus address does not parse.
    #[error("tag `{tag}`: {source}")]
    Binding {
        /// The tag's path.
        tag: NodePath,
        /// Why the address is refused.
        source: ModbusError,
    },
    /// Two tags share Modbus registers.
    #[error("Modbus bindings overlap: {0}")]
    Overlap(String),
}

/// A setpoint or command write the simulator refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No tag has this path.
    #[error("unknown tag `{0}`")]
    UnknownTag(String),
    /// The tag is a measurement or state, not a setpoint or command.
    #[error("tag `{0}` is read-only; only setpoints and run commands may be written")]
    ReadOnly(NodePath),
    /// The value is of the wrong type.
    #[error("tag `{tag}` expects {expected}, found `{found}`")]
    WrongType {
        /// The tag's path.
        tag: NodePath,
        /// What the tag takes: "a finite number" or "a boolean".
        expected: &'static str,
        /// The value that was given.
        found: String,
    },
    /// The value lies outside the tag's valid range.
    #[error("tag `{tag}` takes {low} to {high}, found {found}")]
    OutOfRange {
        /// The tag's path.
        tag: NodePath,
        /// The lowest value allowed, in the tag's unit.
        low: f64,
        /// The highest value allowed, in the tag's unit.
        high: f64,
        /// The value that was given.
        found: f64,
    },
}

/// A fault that cannot be injected or cleared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// The target names neither a well nor a tag of the field.
    #[error("no well or tag `{0}` in the simulated field")]
    UnknownTarget(NodePath),
    /// The fault does not apply to the target.
    #[error("fault `{kind}` cannot apply to `{target}`: {reason}")]
    NotApplicable {
        /// The target's path.
        target: NodePath,
        /// The fault's name.
        kind: &'static str,
        /// Why not, and what it needs.
        reason: String,
    },
    /// No fault has this id, or it has already ended.
    #[error("no scheduled or active fault with id {0}")]
    UnknownFault(u64),
}

/// One schedule entry that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{text}`: {reason}")]
pub struct FaultSpecError {
    /// The entry as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A schedule with an entry that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault schedule entry {entry} `{}`: {}", source.text, source.reason)]
pub struct ScheduleError {
    /// The entry's number, counting non-blank entries from 1.
    pub entry: usize,
    /// The entry's own error.
    pub source: FaultSpecError,
}

/// A configuration value outside what the simulator accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("simulator configuration `{key}`: expected {expected}, found {found}")]
pub struct ConfigError {
    /// The key, as written in the configuration file.
    pub key: &'static str,
    /// What the key accepts.
    pub expected: String,
    /// What it was given.
    pub found: String,
}

/// Why the OPC UA server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OpcUaError {
    /// A setting is unusable.
    #[error("OPC UA server: `{key}`: {problem}")]
    Config {
        /// The key, as written in the configuration file.
        key: String,
        /// What was expected and what was found.
        problem: String,
    },
    /// A user's password could not be read.
    #[error("OPC UA server: user `{user}`: {source}")]
    Password {
        /// The user.
        user: String,
        /// Where it was looked for and why it was not found.
        source: PasswordError,
    },
    /// The PKI directory, or the certificate and key in it, cannot be used.
    #[error("OPC UA server: PKI directory {}: {reason}", dir.display())]
    Pki {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The address space cannot be built from the field's document.
    #[error("OPC UA server: {0}")]
    AddressSpace(BuildError),
    /// The server refused its configuration or stopped with an error.
    #[error("OPC UA server on {address}: {reason}")]
    Server {
        /// The address it listened on, or `unknown`.
        address: String,
        /// What the OPC UA stack said.
        reason: String,
    },
}

/// Why the simulator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The field document cannot be simulated.
    #[error("cannot simulate the field: {0}")]
    Build(#[from] BuildError),
    /// A scheduled fault cannot be injected.
    #[error("scheduled fault `{entry}`: {source}")]
    Schedule {
        /// The schedule entry as text.
        entry: String,
        /// Why it was refused.
        source: FaultError,
    },
    /// The Modbus server's listener failed.
    #[error("Modbus server on {address}: {source}")]
    Modbus {
        /// The address it listened on, or `unknown`.
        address: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The OPC UA server could not start or stopped.
    #[error(transparent)]
    OpcUa(#[from] OpcUaError),
    /// A step of the model panicked: a bug.
    #[error("bug: a simulation step panicked: {0}")]
    StepPanicked(String),
}
