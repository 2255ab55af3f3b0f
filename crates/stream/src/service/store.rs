//! Where the pipelines' checkpoints live between a commit and the restart
//! that resumes from it: one file per partition and generation, synced
//! before the transaction that refers to it commits.
//!
//! ```text
//! data/processor/                                  state_dir
//!   flowline-processor/                            the consumer group
//!     raw-sensor-data-0/                           one directory a partition
//!       00000000000000120000.ckpt                  the state after offset 119,999
//! ```
//!
//! A file's generation is the input offset its state runs up to: the
//! offset committed with it, so the state after records `0..g` is
//! `g.ckpt`. The committed offset's metadata names the generation, the
//! length and the CRC-32 of the file ([`Saved::metadata`]), so a restart
//! reads exactly the state that matches the offsets it resumes from and
//! detects a file that is not it. A file is written to a temporary name,
//! synced, renamed and its directory synced, so a crash never leaves a
//! torn file under a generation's name; files of generations that were
//! never committed, or that a newer commit superseded, are deleted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flowline_bus::TopicPartition;

use super::error::ProcessorError;

/// The extension of a checkpoint file.
const EXTENSION: &str = "ckpt";

/// The extension of a checkpoint file being written.
const PARTIAL_EXTENSION: &str = "ckpt.partial";

/// What a committed offset's metadata starts with, and the version of
/// what follows.
const METADATA_PREFIX: &str = "flowline-checkpoint/1";

/// A checkpoint on disk, as the committed offset's metadata describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Saved {
    /// The input offset its state runs up to (exclusive).
    pub(crate) generation: u64,
    /// Its length in bytes.
    pub(crate) bytes: u64,
    /// The CRC-32 of its bytes.
    pub(crate) crc32: u32,
}

impl Saved {
    /// The metadata committed with the offset:
    /// `flowline-checkpoint/1 generation=G bytes=N crc32=XXXXXXXX`.
    pub(crate) fn metadata(&self) -> String {
        format!(
            "{METADATA_PREFIX} generation={} bytes={} crc32={:08x}",
            self.generation, self.bytes, self.crc32
        )
    }

    /// Reads metadata written by [`Saved::metadata`]; `None` if it is not
    /// such metadata.
    pub(crate) fn parse(metadata: &str) -> Option<Saved> {
        let mut words = metadata.split(' ');
        if words.next()? != METADATA_PREFIX {
            return None;
        }
        let mut field = |name: &str| words.next()?.strip_prefix(name)?.strip_prefix('=');
        let generation = field("generation")?.parse().ok()?;
        let bytes = field("bytes")?.parse().ok()?;
        let crc32 = u32::from_str_radix(field("crc32")?, 16).ok()?;
        words.next().is_none().then_some(Saved {
            generation,
            bytes,
            crc32,
        })
    }
}

/// The checkpoint files of one consumer group.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStore {
    /// `state_dir/GROUP`.
    dir: PathBuf,
}

impl CheckpointStore {
    /// The files of `group` under `state_dir`.
    pub(crate) fn new(state_dir: &Path, group: &str) -> Self {
        CheckpointStore {
            dir: state_dir.join(group),
        }
    }

    /// The directory of `partition`'s files.
    fn partition_dir(&self, partition: TopicPartition) -> PathBuf {
        self.dir.join(partition.to_string())
    }

    /// The file of `partition`'s checkpoint at `generation`.
    pub(crate) fn path(&self, partition: TopicPartition, generation: u64) -> PathBuf {
        self.partition_dir(partition)
            .join(format!("{generation:020}.{EXTENSION}"))
    }

    /// Writes `bytes` as `partition`'s checkpoint at `generation` and
    /// syncs it and its directory: durable when this returns. Blocks.
    pub(crate) fn write(
        &self,
        partition: TopicPartition,
        generation: u64,
        bytes: &[u8],
    ) -> Result<Saved, ProcessorError> {
        let path = self.path(partition, generation);
        let failed = |source| ProcessorError::CheckpointIo {
            operation: "write",
            path: path.clone(),
            source,
        };
        let dir = self.partition_dir(partition);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(failed)?;
            sync_dir(dir.parent().unwrap_or(&dir)).map_err(failed)?;
        }
        let partial = path.with_extension(PARTIAL_EXTENSION);
        let mut file = File::create(&partial).map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        drop(file);
        fs::rename(&partial, &path).map_err(failed)?;
        sync_dir(&dir).map_err(failed)?;
        Ok(Saved {
            generation,
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        })
    }

    /// Reads `partition`'s checkpoint that `saved` describes, checking its
    /// length and checksum. Blocks.
    pub(crate) fn read(
        &self,
        partition: TopicPartition,
        saved: &Saved,
    ) -> Result<Vec<u8>, ProcessorError> {
        let path = self.path(partition, saved.generation);
        let bytes = fs::read(&path).map_err(|source| ProcessorError::CheckpointIo {
            operation: "read",
            path: path.clone(),
            source,
        })?;
        let crc32 = crc32fast::hash(&bytes);
        if bytes.len() as u64 != saved.bytes || crc32 != saved.crc32 {
            return Err(ProcessorError::CheckpointMismatch {
                partition,
                path,
                expected: format!("{} bytes with CRC-32 {:08x}", saved.bytes, saved.crc32),
                found: format!("{} bytes with CRC-32 {crc32:08x}", bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// Deletes `partition`'s checkpoint at `generation`, if it is there.
    /// Blocks.
    pub(crate) fn remove(
        &self,
        partition: TopicPartition,
        generation: u64,
    ) -> Result<(), ProcessorError> {
        let path = self.path(partition, generation);
        remove_if_there(&path)
    }

    /// Deletes every file of `partition` but the checkpoint at `keep`:
    /// generations never committed, superseded ones, and partial writes.
    /// Returns how many it deleted. Blocks.
    pub(crate) fn clean(
        &self,
        partition: TopicPartition,
        keep: Option<u64>,
    ) -> Result<usize, ProcessorError> {
        let dir = self.partition_dir(partition);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(ProcessorError::CheckpointIo {
                    operation: "list",
                    path: dir,
                    source,
                });
            }
        };
        let kept = keep.map(|generation| self.path(partition, generation));
        let mut deleted = 0;
        for entry in entries {
            let path = entry
                .map_err(|source| ProcessorError::CheckpointIo {
                    operation: "list",
                    path: dir.clone(),
                    source,
                })?
                .path();
            let ours = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.ends_with(&format!(".{EXTENSION}"))
                        || name.ends_with(&format!(".{PARTIAL_EXTENSION}"))
                });
            if ours && kept.as_ref() != Some(&path) {
                remove_if_there(&path)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// Deletes the file at `path`; one already gone is fine.
fn remove_if_there(path: &Path) -> Result<(), ProcessorError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ProcessorError::CheckpointIo {
            operation: "delete",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Syncs the directory at `path`, so that names created or renamed in it
/// survive a power cut.
fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use flowline_bus::Topic;

    use super::*;

    const PARTITION: TopicPartition = TopicPartition::new(Topic::RawSensorData, 2);

    #[test]
    fn metadata_names_generation_length_and_checksum_and_reads_back() {
        let saved = Saved {
            generation: 120_000,
            bytes: 5_321,
            crc32: 0x0a0b_0c0d,
        };
        let metadata = saved.metadata();
        assert_eq!(
            metadata,
            "flowline-checkpoint/1 generation=120000 bytes=5321 crc32=0a0b0c0d"
        );
        assert_eq!(Saved::parse(&metadata), Some(saved));
        for other in [
            "",
            "flowline-checkpoint/2 generation=1 bytes=1 crc32=0",
            "flowline-checkpoint/1 generation=1 bytes=1",
            "flowline-checkpoint/1 generation=1 bytes=1 crc32=0 more",
            "flowline-checkpoint/1 bytes=1 generation=1 crc32=0",
        ] {
            assert_eq!(Saved::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_written_checkpoint_reads_back_and_a_changed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "group");
        let saved = store.write(PARTITION, 7, b"state after 7").unwrap();
        assert_eq!(
            store.path(PARTITION, 7),
            dir.path()
                .join("group/raw-sensor-data-2/00000000000000000007.ckpt")
        );
        assert_eq!(store.read(PARTITION, &saved).unwrap(), b"state after 7");

        fs::write(store.path(PARTITION, 7), b"state after 8").unwrap();
        let error = store.read(PARTITION, &saved).unwrap_err();
        assert!(
            error.to_string().contains("13 bytes with CRC-32"),
            "{error}"
        );
        store.remove(PARTITION, 7).unwrap();
        store.remove(PARTITION, 7).unwrap();
        let error = store.read(PARTITION, &saved).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot read checkpoint"),
            "{error}"
        );
    }

    #[test]
    fn cleaning_keeps_only_the_committed_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), "group");
        for generation in [3, 9, 12] {
            store.write(PARTITION, generation, b"x").unwrap();
        }
        let partial = store.path(PARTITION, 15).with_extension(PARTIAL_EXTENSION);
        fs::write(&partial, b"torn").unwrap();
        fs::write(dir.path().join("group/raw-sensor-data-2/notes.txt"), b"").unwrap();

        assert_eq!(store.clean(PARTITION, Some(9)).unwrap(), 3);
        let mut left: Vec<String> = fs::read_dir(dir.path().join("group/raw-sensor-data-2"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["00000000000000000009.ckpt", "notes.txt"]);
        assert_eq!(
            store
                .clean(TopicPartition::new(Topic::RawSensorData, 3), None)
                .unwrap(),
            0
        );
    }
}
