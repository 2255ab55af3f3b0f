//! Flowline's shared vocabulary.
//!
//! Every other crate speaks in these types: a [`Sample`] is one reading of
//! one tag at one [`Timestamp`], with the source's [`Quality`] and Flowline's
//! own [`DataQualityFlags`]; tags and assets are named by [`NodePath`]s in a
//! field → pad → well → equipment tree ([`AssetKind`]); numeric values carry
//! an engineering [`Unit`]. This crate depends on no other Flowline crate and
//! does no input or output, except reading a password a configuration names
//! ([`secret`]).

mod asset;
mod command;
mod flags;
mod path;
mod quality;
mod sample;
pub mod secret;
mod time;
pub mod unit;
mod value;

pub use asset::{
    AssetId, AssetKind, AssetKindError, Criticality, CriticalityError, EquipmentKind, TagId,
};
pub use command::{Command, CommandOutcome, Outcome, SignedCommand};
pub use flags::{DataQualityFlags, FlagError};
pub use path::{MAX_DEPTH, MAX_SEGMENT_LEN, NodePath, PathError};
pub use quality::{Limit, Quality, QualityError, Severity};
pub use sample::Sample;
pub use time::{Timestamp, TimestampError};
pub use unit::{Conversion, Quantity, Unit, UnitError};
pub use value::{DataType, DataTypeError, Value};
