//! The spool on real files: order, acknowledgment, reopening, recovery
//! from damaged tails, refusal of damage a crash cannot cause, the bound,
//! and a model-based property test.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_edge::{FsyncMode, Spool, SpoolConfig, SpoolError, SpooledBatch};
use proptest::prelude::*;

/// Bytes of a segment header.
const SEGMENT_HEADER_LEN: u64 = 24;
/// Bytes of a record header.
const RECORD_HEADER_LEN: u64 = 16;

/// Sample number `n`: its value is `n`, so order can be read back. Every
/// sample encodes to the same size, so every batch of a given length
/// does too.
fn sample(n: u64) -> Sample {
    Sample::new(
        TagId(7),
        Timestamp::from_micros(1_764_000_000_000_000),
        Value::Float(n as f64),
    )
}

/// `len` samples numbered from `first`.
fn batch(first: u64, len: u64) -> Vec<Sample> {
    (first..first + len).map(sample).collect()
}

/// The numbers of the samples in `batches`, batch by batch.
fn numbers(batches: &[SpooledBatch]) -> Vec<Vec<u64>> {
    batches
        .iter()
        .map(|batch| {
            batch
                .samples
                .iter()
                .map(|sample| sample.value.as_f64().expect("numeric") as u64)
                .collect()
        })
        .collect()
}

/// Every unacknowledged batch's numbers.
fn contents(spool: &mut Spool) -> Vec<Vec<u64>> {
    numbers(&spool.peek(usize::MAX).unwrap())
}

/// Small segments, so tests cross segment boundaries, and a bound that
/// never bites.
fn small_segments() -> SpoolConfig {
    SpoolConfig {
        segment_bytes: 4096,
        max_bytes: 1 << 30,
        ..SpoolConfig::default()
    }
}

/// The segment files in `dir`, oldest first.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    files.sort();
    files
}

/// The size of file `path`.
fn len_of(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn batches_come_back_oldest_first_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    assert!(spool.is_empty());
    assert!(spool.peek(10).unwrap().is_empty());

    spool.append(&batch(0, 3)).unwrap();
    spool.append(&batch(3, 2)).unwrap();
    spool.append(&batch(5, 4)).unwrap();
    spool.append(&[]).unwrap();
    assert_eq!((spool.len_samples(), spool.len_batches()), (9, 3));

    let all = spool.peek(usize::MAX).unwrap();
    assert_eq!(numbers(&all), [vec![0, 1, 2], vec![3, 4], vec![5, 6, 7, 8]]);
    assert_eq!(
        spool.peek(usize::MAX).unwrap(),
        all,
        "peeking removes nothing"
    );
    assert_eq!(
        numbers(&spool.peek(5).unwrap()),
        [vec![0, 1, 2], vec![3, 4]]
    );
    assert_eq!(numbers(&spool.peek(4).unwrap()), [vec![0, 1, 2]]);

    spool.acknowledge(all[0].end).unwrap();
    assert_eq!(contents(&mut spool), [vec![3, 4], vec![5, 6, 7, 8]]);
    assert_eq!((spool.len_samples(), spool.len_batches()), (6, 2));
    spool.acknowledge(all[0].end).unwrap();
    assert_eq!(
        spool.len_samples(),
        6,
        "acknowledging twice changes nothing"
    );

    spool.acknowledge(all[2].end).unwrap();
    assert!(spool.is_empty());
    assert_eq!(spool.len_samples(), 0);
    assert!(spool.peek(usize::MAX).unwrap().is_empty());
}

#[test]
fn the_first_batch_is_returned_even_when_it_alone_exceeds_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&batch(0, 10)).unwrap();
    spool.append(&batch(10, 1)).unwrap();
    assert_eq!(
        numbers(&spool.peek(3).unwrap()),
        [(0..10).collect::<Vec<_>>()]
    );
}

#[test]
fn reopening_keeps_unacknowledged_batches_and_forgets_acknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    for n in 0..40 {
        spool.append(&batch(n * 10, 10)).unwrap();
    }
    assert!(
        segment_files(dir.path()).len() > 2,
        "the batches span several segments"
    );
    let all = spool.peek(usize::MAX).unwrap();
    spool.acknowledge(all[24].end).unwrap();
    let first_kept = segment_files(dir.path())[0].clone();
    spool.close().unwrap();

    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    let expected: Vec<Vec<u64>> = (25..40).map(|n| (n * 10..n * 10 + 10).collect()).collect();
    assert_eq!(contents(&mut spool), expected);
    assert_eq!((spool.len_samples(), spool.len_batches()), (150, 15));
    assert_eq!(
        segment_files(dir.path())[0],
        first_kept,
        "acknowledged segments are gone"
    );

    spool.append(&batch(400, 1)).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    assert_eq!(contents(&mut spool).last().unwrap(), &vec![400]);
    assert_eq!(spool.len_batches(), 16);
}

#[test]
fn a_fully_acknowledged_spool_reopens_empty_and_takes_new_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    for n in 0..30 {
        spool.append(&batch(n, 1)).unwrap();
    }
    let all = spool.peek(usize::MAX).unwrap();
    spool.acknowledge(all.last().unwrap().end).unwrap();
    drop(spool);

    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    assert!(spool.is_empty());
    spool.append(&batch(100, 2)).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    assert_eq!(contents(&mut spool), [vec![100, 101]]);
}

#[test]
fn a_record_cut_short_by_a_crash_is_cut_and_earlier_batches_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    for n in 0..3 {
        spool.append(&batch(n * 4, 4)).unwrap();
    }
    drop(spool);
    let file = &segment_files(dir.path())[0];
    let full = len_of(file);
    let record = (full - SEGMENT_HEADER_LEN) / 3;
    OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(full - 5)
        .unwrap();

    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    assert_eq!(contents(&mut spool), [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    assert_eq!(
        len_of(file),
        SEGMENT_HEADER_LEN + 2 * record,
        "the partial record is cut off"
    );

    spool.append(&batch(100, 1)).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    assert_eq!(
        contents(&mut spool),
        [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![100]],
        "the repaired segment reads cleanly once it is no longer the newest"
    );
}

#[test]
fn garbage_or_zeros_after_the_last_record_are_cut() {
    let tails: [(&str, Vec<u8>); 3] = [
        ("garbage", (0..37).map(|n| n * 7 + 3).collect()),
        ("zeros the size of a record header and more", vec![0; 300]),
        ("a few bytes, less than a record header", vec![0xff; 5]),
    ];
    for (what, tail) in tails {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
        spool.append(&batch(0, 2)).unwrap();
        spool.append(&batch(2, 2)).unwrap();
        drop(spool);
        let file = &segment_files(dir.path())[0];
        let intact = len_of(file);
        OpenOptions::new()
            .append(true)
            .open(file)
            .unwrap()
            .write_all(&tail)
            .unwrap();

        let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
        assert_eq!(contents(&mut spool), [vec![0, 1], vec![2, 3]], "{what}");
        assert_eq!(len_of(file), intact, "{what}");
    }
}

#[test]
fn damage_followed_by_intact_records_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    for n in 0..3 {
        spool.append(&batch(n * 4, 4)).unwrap();
    }
    drop(spool);
    let file = &segment_files(dir.path())[0];
    let mut bytes = fs::read(file).unwrap();
    let first_payload = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN) as usize;
    bytes[first_payload + 3] ^= 0x10;
    fs::write(file, &bytes).unwrap();

    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    let SpoolError::Corrupt { path, offset, .. } = &error else {
        panic!("expected corruption, found {error}");
    };
    assert_eq!((path, *offset), (file, SEGMENT_HEADER_LEN));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{} is corrupt at offset 24: expected payload checksum",
            file.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("followed by 2 intact records, so not a torn tail"),
        "{message}"
    );
    assert_eq!(fs::read(file).unwrap(), bytes, "nothing was cut");
}

#[test]
fn damage_in_a_segment_closed_before_a_newer_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&batch(0, 4)).unwrap();
    spool.append(&batch(4, 4)).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&batch(8, 4)).unwrap();
    drop(spool);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2, "a reopened spool appends to a new segment");
    let closed = &files[0];
    OpenOptions::new()
        .write(true)
        .open(closed)
        .unwrap()
        .set_len(len_of(closed) - 3)
        .unwrap();

    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{} is corrupt at offset", closed.display())),
        "{message}"
    );
    assert!(
        message.ends_with("in a segment that was closed and synced before a newer one"),
        "{message}"
    );
}

#[test]
fn with_interval_fsync_everything_from_the_first_damage_is_cut() {
    let config = SpoolConfig {
        fsync: FsyncMode::Interval,
        ..SpoolConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), config.clone()).unwrap();
    for n in 0..4 {
        spool.append(&batch(n * 4, 4)).unwrap();
    }
    drop(spool);
    let file = &segment_files(dir.path())[0];
    let record = (len_of(file) - SEGMENT_HEADER_LEN) / 4;
    let mut bytes = fs::read(file).unwrap();
    let second_payload = (SEGMENT_HEADER_LEN + record + RECORD_HEADER_LEN) as usize;
    bytes[second_payload] ^= 0x01;
    fs::write(file, &bytes).unwrap();

    let mut spool = Spool::open(dir.path(), config).unwrap();
    assert_eq!(
        contents(&mut spool),
        [vec![0, 1, 2, 3]],
        "an unsynced tail may be persisted out of order, so intact records after damage go too"
    );
    assert_eq!(len_of(file), SEGMENT_HEADER_LEN + record);
}

#[test]
fn a_full_spool_drops_the_oldest_segment_and_counts_its_unacknowledged_samples() {
    let config = SpoolConfig {
        segment_bytes: 4096,
        max_bytes: 3 * 4096,
        ..SpoolConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), config).unwrap();
    spool.append(&batch(0, 10)).unwrap();
    let record = len_of(&segment_files(dir.path())[0]) - SEGMENT_HEADER_LEN;
    let per_segment = (4096 - SEGMENT_HEADER_LEN) / record;

    let mut appended = 1;
    let mut stale = None;
    while segment_files(dir.path()).len() < 3 || spool.dropped_samples() == 0 {
        if appended == 3 {
            let oldest = spool.peek(30).unwrap();
            spool.acknowledge(oldest[1].end).unwrap();
            stale = Some(oldest[2].end);
        }
        spool.append(&batch(appended * 10, 10)).unwrap();
        appended += 1;
        assert!(
            spool.bytes() <= 3 * 4096,
            "the spool stays within max_bytes"
        );
        assert!(appended < 1000, "the spool never dropped anything");
    }

    assert_eq!(
        spool.dropped_samples(),
        (per_segment - 2) * 10,
        "the first segment's batches, less the two acknowledged"
    );
    let left = contents(&mut spool);
    assert_eq!(
        left.first().unwrap()[0],
        per_segment * 10,
        "the oldest batches went first"
    );
    assert_eq!(
        left.last().unwrap()[0],
        (appended - 1) * 10,
        "the newest batch is kept"
    );
    assert_eq!(
        left.len() as u64,
        appended - per_segment,
        "nothing else went missing"
    );
    for pair in left.windows(2) {
        assert_eq!(pair[1][0], pair[0][0] + 10, "what is left is in order");
    }
    assert_eq!(
        spool.len_samples() + spool.dropped_samples() + 20,
        appended * 10
    );

    spool.acknowledge(stale.unwrap()).unwrap();
    assert_eq!(
        contents(&mut spool),
        left,
        "acknowledging a dropped batch changes nothing"
    );
}

#[test]
fn a_file_of_someone_else_in_the_spool_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("00000000000000000001.seg");
    fs::write(&file, b"these are not the samples you are looking for").unwrap();
    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    assert!(matches!(error, SpoolError::Foreign { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not a Flowline spool segment: expected magic \"FLWSPOOL\" at offset 0, \
             found \"these ar\"",
            file.display()
        )
    );
}

#[test]
fn a_segment_named_with_the_largest_id_is_an_error_not_an_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{}.seg", u64::MAX));
    fs::write(&file, b"FLWSPOOL").unwrap();
    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is corrupt at offset 0: expected a segment id below 18446744073709551615, \
             found 18446744073709551615: no id is left for the next segment",
            file.display()
        )
    );
}

#[test]
fn a_segment_from_a_newer_format_is_refused_by_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&batch(0, 1)).unwrap();
    drop(spool);
    let file = &segment_files(dir.path())[0];
    let mut bytes = fs::read(file).unwrap();
    bytes[8] = 9; // format version 9
    fs::write(file, &bytes).unwrap();
    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is in spool format version 9; this build reads version 1 only",
            file.display()
        )
    );
}

#[test]
fn a_damaged_cursor_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&batch(0, 1)).unwrap();
    spool.append(&batch(1, 1)).unwrap();
    let first = spool.peek(1).unwrap();
    spool.acknowledge(first[0].end).unwrap();
    drop(spool);
    let cursor = dir.path().join("cursor");
    let mut bytes = fs::read(&cursor).unwrap();
    bytes[20] ^= 0x01; // the offset
    fs::write(&cursor, &bytes).unwrap();
    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "{} is corrupt at offset 0: expected cursor checksum",
            cursor.display()
        )),
        "{error}"
    );
}

#[test]
fn a_second_spool_cannot_open_a_directory_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let error = Spool::open(dir.path(), SpoolConfig::default()).unwrap_err();
    assert!(matches!(error, SpoolError::Locked { .. }), "{error}");
    drop(spool);
    Spool::open(dir.path(), SpoolConfig::default()).unwrap();
}

#[test]
fn a_batch_larger_than_a_segment_is_refused_and_the_spool_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small_segments()).unwrap();
    let error = spool.append(&batch(0, 1000)).unwrap_err();
    assert!(
        matches!(error, SpoolError::BatchTooLarge { samples: 1000, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("a segment holds records of at most 4072 bytes (segment_bytes)"),
        "{error}"
    );
    spool.append(&batch(0, 1)).unwrap();
    assert_eq!(contents(&mut spool), [vec![0]]);
}

#[test]
fn leftover_temporary_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir.path().join("00000000000000000003.seg.tmp");
    fs::write(&leftover, b"FLWSP").unwrap();
    fs::write(dir.path().join("cursor.tmp"), b"FLW").unwrap();
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    assert!(spool.is_empty());
    assert!(!leftover.exists());
    assert!(!dir.path().join("cursor.tmp").exists());
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// Append a batch of this many samples.
    Append(u64),
    /// Acknowledge this many of the oldest batches, if there are as many.
    Acknowledge(usize),
    /// Peek at most this many samples.
    Peek(usize),
    /// Close and open the spool again.
    Reopen,
}

/// Random runs of steps, appends the most frequent so that the spool grows
/// across several segments.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (1_u64..=30).prop_map(Step::Append),
        2 => (1_usize..=4).prop_map(Step::Acknowledge),
        1 => (1_usize..=40).prop_map(Step::Peek),
        1 => Just(Step::Reopen),
    ];
    proptest::collection::vec(step, 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the appends, acknowledgments and reopenings, the spool
    /// holds what a plain queue would, in the same order.
    #[test]
    fn the_spool_behaves_like_a_queue_across_reopens(steps in steps()) {
        // Interval fsync keeps the test fast; what it checks does not
        // depend on when bytes reach the disk.
        let config = SpoolConfig {
            segment_bytes: 4096,
            max_bytes: 1 << 30,
            fsync: FsyncMode::Interval,
            ..SpoolConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), config.clone()).unwrap();
        let mut model: VecDeque<Vec<u64>> = VecDeque::new();
        let mut next = 0;

        for step in steps {
            match step {
                Step::Append(len) => {
                    spool.append(&batch(next, len)).unwrap();
                    model.push_back((next..next + len).collect());
                    next += len;
                }
                Step::Acknowledge(count) => {
                    let batches = spool.peek(usize::MAX).unwrap();
                    if let Some(last) = batches.get(count - 1) {
                        spool.acknowledge(last.end).unwrap();
                        model.drain(..count);
                    }
                }
                Step::Peek(max) => {
                    let peeked = numbers(&spool.peek(max).unwrap());
                    let mut expected = Vec::new();
                    let mut taken = 0;
                    for batch in &model {
                        if !expected.is_empty() && taken + batch.len() > max {
                            break;
                        }
                        taken += batch.len();
                        expected.push(batch.clone());
                        if taken >= max {
                            break;
                        }
                    }
                    prop_assert_eq!(peeked, expected);
                }
                Step::Reopen => {
                    drop(spool);
                    spool = Spool::open(dir.path(), config.clone()).unwrap();
                }
            }
            prop_assert_eq!(contents(&mut spool), Vec::from(model.clone()));
            let samples: usize = model.iter().map(Vec::len).sum();
            prop_assert_eq!(spool.len_samples(), samples as u64);
            prop_assert_eq!(spool.len_batches(), model.len() as u64);
            prop_assert_eq!(spool.is_empty(), model.is_empty());
        }
    }
}
