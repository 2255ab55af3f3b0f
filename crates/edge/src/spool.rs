//! Store-and-forward: the gateway keeps accepting samples while the bus is
//! unreachable, holds them in a bounded buffer on disk, and forwards them
//! in order when the bus returns.
//!
//! Connectors publish to a [`StoreAndForward`], which wraps the real
//! publisher. While the bus answers, batches pass straight through; when
//! it fails, batches go to a [`Spool`] in the gateway's data directory and
//! a background task forwards them, oldest first, until the spool is
//! empty again.
//!
//! # On disk
//!
//! A spool directory holds segment files named by a zero-padded id
//! (`00000000000000000001.seg`), a `cursor` file with the position of the
//! oldest unacknowledged batch, and a `lock` file. Each segment starts
//! with a versioned header; each record in it is one batch, framed by its
//! length, sample count and checksums. The byte layout is in `format.rs`.
//!
//! # What survives what
//!
//! - A batch [`Spool::append`] accepted survives a crash of the process
//!   (SIGKILL included); with [`FsyncMode::Always`], the default, it also
//!   survives a power cut. With [`FsyncMode::Interval`], a power cut may
//!   lose the batches of the last `fsync_interval_ms`.
//! - An acknowledgment is durable when [`Spool::acknowledge`] returns; a
//!   batch acknowledged is never delivered again by the spool.
//! - When the spool opens, a tail damaged by a crash is cut and logged
//!   with file and offset. Damage a crash cannot explain is an error
//!   naming file and offset, and the spool does not open.
//! - When an append would pass `max_bytes`, the oldest segments are
//!   deleted and their unforwarded samples counted in
//!   [`Spool::dropped_samples`] and
//!   `flowline_gateway_spool_dropped_samples_total`. A batch being
//!   forwarded from a segment deleted this way is counted as dropped even
//!   if the bus then accepts it.
//! - [`StoreAndForward`] delivers in order, once; after a crash it may send
//!   the last forward again, and nothing more (see its documentation).

mod config;
mod error;
mod events;
mod format;
mod forward;
mod queue;
mod segment;

pub use config::{ForwardConfig, FsyncMode, SpoolConfig};
pub use error::SpoolError;
pub use forward::StoreAndForward;
pub use queue::{Spool, SpoolPosition, SpooledBatch};
