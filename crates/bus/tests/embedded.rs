//! The embedded log on real files: what it keeps across reopening,
//! segment rolls and retention, and what it does with files it did not
//! write or that were damaged.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{numbered, numbered_in, open, read_all, small_config};
use flowline_bus::disk::DiskError;
use flowline_bus::{
    Bus, BusConfig, BusError, ConsumedBatch, Consumer, EmbeddedBus, OffsetReset, Polled, Producer,
    Topic, TopicPartition,
};

/// The directory of partition `partition` of `topic` in the log at `dir`.
fn partition_dir(dir: &Path, topic: Topic, partition: u32) -> PathBuf {
    dir.join(format!("flowline.{}-{partition}", topic.base_name()))
}

/// The files of `dir` ending in `extension`, sorted.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

/// Sends `numbers` to partition 0 of `raw-sensor-data`, in batches of 50.
async fn fill(bus: &EmbeddedBus, numbers: std::ops::Range<u64>) {
    let producer = bus.producer().unwrap();
    let mut start = numbers.start;
    while start < numbers.end {
        let end = (start + 50).min(numbers.end);
        producer
            .send(Topic::RawSensorData, &numbered_in(start..end, Some(0)))
            .await
            .unwrap();
        start = end;
    }
}

#[tokio::test]
async fn records_survive_reopening_and_new_offsets_follow_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(2);
    {
        let bus = open(dir.path(), &config);
        bus.producer()
            .unwrap()
            .send(Topic::RawSensorData, &numbered(0..30))
            .await
            .unwrap();
    }
    let bus = open(dir.path(), &config);
    bus.producer()
        .unwrap()
        .send(Topic::RawSensorData, &numbered(30..60))
        .await
        .unwrap();
    let read = read_all(&bus, Topic::RawSensorData).await;
    let mut numbers: Vec<u64> = read.iter().map(|r| r.number).collect();
    numbers.sort();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>());
    for partition in 0..2 {
        let offsets: Vec<u64> = read
            .iter()
            .filter(|r| r.partition.partition == partition)
            .map(|r| r.offset)
            .collect();
        assert_eq!(offsets, (0..offsets.len() as u64).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_full_segment_rolls_with_an_index_and_reads_continue_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1);
    {
        let bus = open(dir.path(), &config);
        fill(&bus, 0..1000).await;
    }
    let partition = partition_dir(dir.path(), Topic::RawSensorData, 0);
    let segments = files(&partition, "seg");
    let indexes = files(&partition, "idx");
    assert!(segments.len() >= 5, "{segments:?}");
    assert_eq!(
        indexes.len(),
        segments.len() - 1,
        "every closed segment is indexed"
    );
    for segment in &segments[..segments.len() - 1] {
        assert!(fs::metadata(segment).unwrap().len() <= 16 * 1024);
    }

    let bus = open(dir.path(), &config);
    let numbers: Vec<u64> = read_all(&bus, Topic::RawSensorData)
        .await
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, (0..1000).collect::<Vec<_>>());

    // A seek into the middle of a closed segment finds its record through
    // the index.
    let mut consumer = bus.consumer("seeker", OffsetReset::Error).unwrap();
    let tp = TopicPartition::new(Topic::RawSensorData, 0);
    consumer.assign(&[]).unwrap();
    assert!(matches!(
        consumer.assign(&[tp]),
        Err(BusError::NoCommittedOffset { .. })
    ));
    let mut consumer = bus.consumer("seeker", OffsetReset::Earliest).unwrap();
    consumer.assign(&[tp]).unwrap();
    consumer.seek(tp, 777).unwrap();
    let mut batch = ConsumedBatch::new();
    consumer
        .poll(&mut batch, 3, Duration::from_secs(1))
        .await
        .unwrap();
    let got: Vec<(u64, u64)> = batch
        .iter()
        .map(|r| (r.offset, common::number_of(r.value)))
        .collect();
    assert_eq!(got, [(777, 777), (778, 778), (779, 779)]);
}

#[tokio::test]
async fn a_missing_or_stale_index_is_rebuilt_from_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1);
    {
        let bus = open(dir.path(), &config);
        fill(&bus, 0..600).await;
    }
    let partition = partition_dir(dir.path(), Topic::RawSensorData, 0);
    let indexes = files(&partition, "idx");
    let kept = fs::read(&indexes[1]).unwrap();
    fs::remove_file(&indexes[0]).unwrap();
    fs::write(&indexes[1], b"FLWBUSIX but cut short").unwrap();

    let bus = open(dir.path(), &config);
    assert_eq!(fs::read(&indexes[1]).unwrap(), kept, "rewritten as it was");
    assert!(indexes[0].exists());
    let numbers: Vec<u64> = read_all(&bus, Topic::RawSensorData)
        .await
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, (0..600).collect::<Vec<_>>());
}

#[tokio::test]
async fn retention_by_size_deletes_the_oldest_segments_and_a_consumer_behind_them_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let config = BusConfig {
        retention_bytes: 40 * 1024,
        ..small_config(1)
    };
    let bus = open(dir.path(), &config);
    let tp = TopicPartition::new(Topic::RawSensorData, 0);
    let mut strict = bus.consumer("strict", OffsetReset::Error).unwrap();
    strict
        .commit(&[flowline_bus::CommitOffset {
            partition: tp,
            offset: 0,
            metadata: String::new(),
        }])
        .await
        .unwrap();
    strict.assign(&[tp]).unwrap();
    let mut lenient = bus.consumer("lenient", OffsetReset::Earliest).unwrap();
    lenient.assign(&[tp]).unwrap();

    fill(&bus, 0..2000).await;
    let partition = partition_dir(dir.path(), Topic::RawSensorData, 0);
    let held: u64 = files(&partition, "seg")
        .iter()
        .map(|segment| fs::metadata(segment).unwrap().len())
        .sum();
    // Retention runs when a segment rolls: the newest may have grown since.
    assert!(held <= (40 + 16) * 1024, "{held} bytes held");
    let (earliest, latest) = bus.offsets(tp).unwrap();
    assert!(earliest > 0);
    assert_eq!(latest, 2000);

    let mut batch = ConsumedBatch::new();
    let error = strict
        .poll(&mut batch, 10, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "offset 0 of raw-sensor-data-0 is out of range: the partition holds offsets \
             {earliest} to 2000 (earliest is {earliest})"
        )
    );
    let polled = lenient
        .poll(&mut batch, 10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(polled, Polled::Records(10));
    assert_eq!(batch.iter().next().unwrap().offset, earliest);
}

#[tokio::test]
async fn retention_by_age_deletes_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let config = BusConfig {
        retention_ms: 1,
        ..small_config(1)
    };
    let bus = open(dir.path(), &config);
    fill(&bus, 0..500).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    bus.enforce_retention().unwrap();
    let partition = partition_dir(dir.path(), Topic::RawSensorData, 0);
    assert_eq!(files(&partition, "seg").len(), 1, "only the newest is kept");
    let (earliest, latest) = bus
        .offsets(TopicPartition::new(Topic::RawSensorData, 0))
        .unwrap();
    assert!(earliest > 0 && latest == 500, "{earliest}..{latest}");
    let numbers: Vec<u64> = read_all(&bus, Topic::RawSensorData)
        .await
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, (earliest..500).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _bus = open(dir.path(), &small_config(1));
    let error = EmbeddedBus::open(dir.path(), small_config(1)).unwrap_err();
    assert!(
        matches!(error, BusError::Disk(DiskError::Locked { .. })),
        "{error}"
    );
}

#[tokio::test]
async fn fewer_partitions_than_the_log_holds_are_refused_by_key_and_more_are_added() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), &small_config(3)));
    let error = EmbeddedBus::open(dir.path(), small_config(2)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid bus configuration: partitions: expected at least 3 partitions of \
             flowline.raw-sensor-data, as the log in {} holds; partitions can be added but not \
             removed, found 2",
            dir.path().display()
        )
    );
    let bus = open(dir.path(), &small_config(4));
    assert_eq!(bus.partitions(Topic::Alerts), 4);
}

/// Sends 30 records to partition 0 and returns the log's directory and
/// the path of its segment.
async fn log_of_thirty() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), &small_config(1));
    fill(&bus, 0..30).await;
    drop(bus);
    let segment =
        partition_dir(dir.path(), Topic::RawSensorData, 0).join("00000000000000000000.seg");
    (dir, segment)
}

#[tokio::test]
async fn garbage_or_zeros_at_a_segment_tail_are_cut_and_nothing_before_them_lost() {
    for tail in [
        vec![0_u8; 300],
        b"\x13\x00\x00\x00 not a record at all".to_vec(),
    ] {
        let (dir, segment) = log_of_thirty().await;
        let len = fs::metadata(&segment).unwrap().len();
        let file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all_at(&tail, len).unwrap();

        let bus = open(dir.path(), &small_config(1));
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            len,
            "the tail is cut"
        );
        assert_eq!(read_all(&bus, Topic::RawSensorData).await.len(), 30);
        fill(&bus, 30..31).await;
        assert_eq!(read_all(&bus, Topic::RawSensorData).await.len(), 31);
    }
}

#[tokio::test]
async fn a_damaged_length_in_the_middle_is_an_error_naming_file_and_offset() {
    let (dir, segment) = log_of_thirty().await;
    let before = fs::read(&segment).unwrap();
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.write_all_at(&[0x7f], 24 + 1).unwrap(); // first record's payload_len

    let error = EmbeddedBus::open(dir.path(), small_config(1)).unwrap_err();
    let BusError::Disk(DiskError::Corrupt {
        path,
        offset,
        reason,
    }) = &error
    else {
        panic!("expected corruption, found {error}");
    };
    assert_eq!(path, &segment);
    assert_eq!(*offset, 24);
    assert!(
        reason.ends_with("followed by 29 intact records, so not a torn tail"),
        "{reason}"
    );
    let mut expected = before;
    expected[25] = 0x7f;
    assert_eq!(fs::read(&segment).unwrap(), expected, "nothing was cut");
}

#[tokio::test]
async fn a_file_of_someone_else_named_like_a_segment_is_refused_and_others_are_left_alone() {
    let (dir, segment) = log_of_thirty().await;
    let partition = segment.parent().unwrap();
    fs::write(partition.join("notes.txt"), b"someone's notes").unwrap();
    let bus = open(dir.path(), &small_config(1));
    assert_eq!(read_all(&bus, Topic::RawSensorData).await.len(), 30);
    drop(bus);
    assert!(partition.join("notes.txt").exists());

    let foreign = partition.join("00000000000000000030.seg");
    fs::write(&foreign, b"PK\x03\x04 a zip archive").unwrap();
    let error = EmbeddedBus::open(dir.path(), small_config(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not a Flowline bus segment: expected magic \"FLWBUSLG\" at offset 0, found \
             \"PK\\u{{3}}\\u{{4}} a z\"",
            foreign.display()
        )
    );
}

#[tokio::test]
async fn a_segment_of_a_newer_format_version_is_refused() {
    let (dir, segment) = log_of_thirty().await;
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.write_all_at(&[2], 8).unwrap(); // format version 2
    let error = EmbeddedBus::open(dir.path(), small_config(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is in bus format version 2; this build reads version 1 only",
            segment.display()
        )
    );
}
