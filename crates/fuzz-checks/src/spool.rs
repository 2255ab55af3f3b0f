//! The gateway's store-and-forward spool, read back from files that a
//! crash, a failing disk or a careless operator damaged.
//!
//! The input is not the files themselves: it says which batches to append
//! through the public [`Spool`] API, how many to acknowledge, and how to
//! damage the files afterwards (flip, cut, extend or overwrite bytes,
//! delete files, plant files of any name and content). So the fuzzer
//! starts from valid segments, checksums included, and explores damage
//! from there, rather than spending its time guessing checksums.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_edge::{FsyncMode, Spool, SpoolConfig, SpoolError, SpooledBatch};

/// Most batches a case appends.
const MAX_BATCHES: usize = 12;
/// Most samples in one appended batch.
const MAX_SAMPLES: usize = 40;
/// Most characters of a string value.
const MAX_TEXT_CHARS: usize = 32;
/// Most damage done to one spool.
const MAX_DAMAGE: usize = 4;
/// Most bytes one damage writes.
const MAX_DAMAGE_BYTES: usize = 64;
/// Segment size: the smallest the spool takes, so that a dozen batches
/// fill several segments.
const SEGMENT_BYTES: u64 = 4096;
/// Bytes of a segment header, as `crates/edge/src/spool/format.rs` lays
/// it out: damage past it is damage to records.
const SEGMENT_HEADER_LEN: u64 = 24;
/// The lock file, which the spool holds open and damage leaves alone.
const LOCK_FILE: &str = "lock";

/// What one fuzz input does to a spool.
#[derive(Debug, Arbitrary)]
struct Case {
    /// Whether the spool syncs on an interval rather than every append.
    interval_sync: bool,
    /// Batches appended in order; empty ones are not stored.
    batches: Vec<Vec<SampleSeed>>,
    /// How many of the stored batches are acknowledged, modulo their
    /// number plus one.
    acknowledged: u8,
    /// What is done to the files once the spool is closed.
    damage: Vec<Damage>,
}

/// A sample to append.
#[derive(Debug, Arbitrary)]
struct SampleSeed {
    tag: u32,
    micros: i64,
    value: ValueSeed,
}

/// A value to append. Floats come from integers, so every value equals
/// itself and batches can be compared.
#[derive(Debug, Arbitrary)]
enum ValueSeed {
    Float(i32),
    Integer(i64),
    Boolean(bool),
    Text(String),
}

/// One way to damage the spool directory. `file` picks one of its files
/// (segments and cursor, in name order) modulo their number; offsets and
/// lengths are taken modulo the file's size.
#[derive(Debug, Arbitrary)]
enum Damage {
    /// Flips the bits of `mask` in the byte at `at`.
    Flip { file: u8, at: u32, mask: u8 },
    /// Cuts the file to `keep` bytes, as a crash mid-append does.
    Truncate { file: u8, keep: u32 },
    /// Appends bytes to the file.
    Extend { file: u8, bytes: Vec<u8> },
    /// Writes bytes over the file from `at`, extending it if they pass
    /// its end.
    Overwrite { file: u8, at: u32, bytes: Vec<u8> },
    /// Deletes the file.
    Remove { file: u8 },
    /// Writes a new file, or replaces one, with any content.
    Plant { name: Planted, bytes: Vec<u8> },
}

/// The name of a planted file.
#[derive(Debug, Arbitrary)]
enum Planted {
    /// A segment with this id.
    Segment(u64),
    /// The cursor.
    Cursor,
    /// A segment being created with this id, as a crash leaves it.
    Temporary(u64),
}

/// Appends batches, acknowledges some, closes the spool, damages its
/// files, and opens it again. A spool that opens hands out whole batches
/// in order and opens again to the same batches; one that does not names
/// the damaged file. Damage a crash can cause (a cut tail, or any damage
/// to the tail of the newest segment under interval fsync) never stops
/// it from opening, and loses only batches from the end.
pub fn spool(data: &[u8]) {
    let Ok(case) = Case::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let dir = tempfile::tempdir().expect("bug: cannot make a temporary directory");
    let dir = dir.path();
    let config = SpoolConfig {
        segment_bytes: SEGMENT_BYTES,
        max_bytes: 1 << 30,
        fsync: if case.interval_sync {
            FsyncMode::Interval
        } else {
            FsyncMode::Always
        },
        ..SpoolConfig::default()
    };

    let batches: Vec<Vec<Sample>> = case
        .batches
        .iter()
        .take(MAX_BATCHES)
        .map(|batch| {
            batch
                .iter()
                .take(MAX_SAMPLES)
                .map(SampleSeed::sample)
                .collect()
        })
        .collect();
    let expected = fill(dir, &config, &batches, case.acknowledged);

    let mut crash_like = true;
    let mut flips = 0;
    for damage in case.damage.iter().take(MAX_DAMAGE) {
        flips += usize::from(matches!(damage, Damage::Flip { .. }));
        crash_like &= apply(dir, damage, case.interval_sync);
    }
    // Two flips could, in theory, leave a record whose checksums match.
    crash_like &= flips <= 1;

    let opened = Spool::open(dir, config.clone());
    let read = opened.and_then(|mut spool| Ok((spool.peek(usize::MAX)?, spool)));
    let (found, spool) = match read {
        Ok(read) => read,
        Err(error) => {
            assert!(
                !crash_like,
                "damage a crash can cause stops the spool: {error}"
            );
            assert_names_damaged_file(&error, dir);
            return;
        }
    };
    assert_eq!(spool.dropped_samples(), 0);
    let samples: usize = found.iter().map(|batch| batch.samples.len()).sum();
    assert_eq!(spool.len_samples(), samples as u64);
    assert_eq!(spool.len_batches(), found.len() as u64);
    if crash_like {
        let found: Vec<&Vec<Sample>> = found.iter().map(|batch| &batch.samples).collect();
        let prefix: Vec<&Vec<Sample>> = expected.iter().take(found.len()).collect();
        assert_eq!(found, prefix, "a torn tail lost batches before its end");
    }
    reopen_after_append(spool, dir, &config, &found);
}

impl SampleSeed {
    /// The sample this seed stands for.
    fn sample(&self) -> Sample {
        let value = match &self.value {
            ValueSeed::Float(number) => Value::Float(f64::from(*number)),
            ValueSeed::Integer(number) => Value::Integer(*number),
            ValueSeed::Boolean(on) => Value::Boolean(*on),
            ValueSeed::Text(text) => {
                let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
                Value::String(text.into())
            }
        };
        Sample::new(TagId(self.tag), Timestamp::from_micros(self.micros), value)
    }
}

/// Appends the non-empty `batches` to a new spool in `dir`, acknowledges
/// the first `acknowledged` of them (modulo their number plus one) and
/// closes it. Returns the batches left to forward.
fn fill(
    dir: &Path,
    config: &SpoolConfig,
    batches: &[Vec<Sample>],
    acknowledged: u8,
) -> Vec<Vec<Sample>> {
    let mut spool = Spool::open(dir, config.clone()).expect("an empty spool opens");
    let mut stored: Vec<Vec<Sample>> = batches
        .iter()
        .filter(|batch| !batch.is_empty())
        .cloned()
        .collect();
    for batch in &stored {
        spool
            .append(batch)
            .expect("a batch smaller than a segment is stored");
    }
    let acknowledged = usize::from(acknowledged) % (stored.len() + 1);
    let all = spool.peek(usize::MAX).expect("an undamaged spool reads");
    let read: Vec<&Vec<Sample>> = all.iter().map(|batch| &batch.samples).collect();
    assert_eq!(read, stored.iter().collect::<Vec<_>>(), "appended batches");
    if acknowledged > 0 {
        spool
            .acknowledge(all[acknowledged - 1].end)
            .expect("acknowledge");
    }
    spool.close().expect("close");
    stored.split_off(acknowledged)
}

/// The segment and cursor files of the spool in `dir`, in name order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("bug: the spool directory lists")
        .map(|entry| entry.expect("bug: the spool directory lists").path())
        .filter(|path| path.file_name().is_some_and(|name| name != LOCK_FILE))
        .collect();
    files.sort();
    files
}

/// Does `damage` to the files in `dir`. Returns whether a crash could
/// have done the same: cut the newest segment after its header, or (when
/// `interval_sync`) flip bits after its header.
fn apply(dir: &Path, damage: &Damage, interval_sync: bool) -> bool {
    let files = files(dir);
    let newest = files
        .iter()
        .rfind(|path| path.extension().is_some_and(|extension| extension == "seg"));
    let pick = |file: u8| files.get(usize::from(file) % files.len().max(1));
    let length = |path: &Path| fs::metadata(path).map_or(0, |metadata| metadata.len());
    let tail_of_newest = |path: &PathBuf, from: u64| {
        Some(path) == newest && from >= SEGMENT_HEADER_LEN && interval_sync
    };

    match damage {
        Damage::Flip { file, at, mask } => {
            let Some(path) = pick(*file) else { return true };
            let mut bytes = fs::read(path).expect("read a spool file");
            if bytes.is_empty() {
                return true;
            }
            let at = *at as usize % bytes.len();
            bytes[at] ^= mask;
            fs::write(path, &bytes).expect("write a spool file");
            *mask == 0 || tail_of_newest(path, at as u64)
        }
        Damage::Truncate { file, keep } => {
            let Some(path) = pick(*file) else { return true };
            let keep = u64::from(*keep) % (length(path) + 1);
            let file = OpenOptions::new().write(true).open(path);
            file.and_then(|file| file.set_len(keep))
                .expect("cut a spool file");
            Some(path) == newest && keep >= SEGMENT_HEADER_LEN
        }
        Damage::Extend { file, bytes } => {
            let Some(path) = pick(*file) else { return true };
            overwrite(path, length(path), bytes);
            // Bytes a crash never wrote may spell a record that checks out.
            bytes.is_empty()
        }
        Damage::Overwrite { file, at, bytes } => {
            let Some(path) = pick(*file) else { return true };
            let at = u64::from(*at) % (length(path) + 1);
            overwrite(path, at, bytes);
            false
        }
        Damage::Remove { file } => {
            let Some(path) = pick(*file) else { return true };
            fs::remove_file(path).expect("remove a spool file");
            false
        }
        Damage::Plant { name, bytes } => {
            let name = match name {
                Planted::Segment(id) => format!("{id:020}.seg"),
                Planted::Cursor => "cursor".to_owned(),
                Planted::Temporary(id) => format!("{id:020}.seg.tmp"),
            };
            fs::write(dir.join(name), &bytes[..bytes.len().min(MAX_DAMAGE_BYTES)])
                .expect("plant a file");
            false
        }
    }
}

/// Writes at most [`MAX_DAMAGE_BYTES`] of `bytes` over `path` from `at`.
fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open a spool file");
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.write_all(&bytes[..bytes.len().min(MAX_DAMAGE_BYTES)]))
        .expect("write a spool file");
}

/// An error about damage names a file of the spool, and an offset within
/// it; it is never an I/O failure or anything else.
fn assert_names_damaged_file(error: &SpoolError, dir: &Path) {
    let path = match error {
        SpoolError::Corrupt { path, offset, .. } => {
            if let Ok(metadata) = fs::metadata(path) {
                assert!(*offset <= metadata.len(), "offset past the end: {error}");
            }
            path
        }
        SpoolError::Foreign { path, .. } | SpoolError::UnsupportedVersion { path, .. } => path,
        other => panic!("damage must be reported as damage, not as: {other}"),
    };
    assert_eq!(path.parent(), Some(dir), "{error}");
    assert!(error.to_string().contains(&path.display().to_string()));
}

/// Appends a marker batch to a spool that opened and read as `found`,
/// then opens it again: recovery is done once, so it opens and hands out
/// the same batches, and the marker after them.
fn reopen_after_append(mut spool: Spool, dir: &Path, config: &SpoolConfig, found: &[SpooledBatch]) {
    let marker = vec![Sample::new(
        TagId(u32::MAX),
        Timestamp::from_micros(0),
        Value::Integer(-1),
    )];
    spool
        .append(&marker)
        .expect("a recovered spool takes appends");
    spool.close().expect("close");

    let mut spool = Spool::open(dir, config.clone())
        .unwrap_or_else(|error| panic!("a recovered spool does not open again: {error}"));
    let again = spool
        .peek(usize::MAX)
        .unwrap_or_else(|error| panic!("a recovered spool does not read again: {error}"));
    let mut expected: Vec<&Vec<Sample>> = found.iter().map(|batch| &batch.samples).collect();
    expected.push(&marker);
    let again: Vec<&Vec<Sample>> = again.iter().map(|batch| &batch.samples).collect();
    // Compared as printed: a record forged to pass its checksums may hold
    // a not-a-number, which equals nothing.
    assert_eq!(format!("{again:?}"), format!("{expected:?}"));
}
