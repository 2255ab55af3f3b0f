//! Killing a process that writes the embedded log with SIGKILL loses no
//! commit, duplicates nothing and shows nothing uncommitted.
//!
//! The parent test runs this same test binary again as a child, selecting
//! the ignored test [`crash_child`]. The child resumes from its group's
//! committed offset, as a processor does, and commits transactions in a
//! loop: transaction `k` writes records `10k..10k+10` to `processed-data`,
//! record `k` to `dlq`, and commits offset `k + 1` of its input with
//! metadata `after-k`. Beside it a plain producer sends numbered records
//! to `raw-sensor-data`. The child reports on stdout each commit and each
//! send that returned; once a line is written the parent has it, whatever
//! happens to the child. The parent kills the child at random moments,
//! opens the log itself, and checks it.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{numbered, read_all};
use flowline_bus::{
    Bus, BusConfig, CommitOffset, Consumer, EmbeddedBus, OffsetReset, Producer, Topic,
    TopicPartition, TransactionalProducer,
};
use rand::Rng;

/// Environment variable: the log's directory; its presence selects the
/// child.
const DIR_ENV: &str = "FLOWLINE_BUS_CRASH_DIR";
/// Environment variable: the child's round, which numbers its plain
/// sends.
const ROUND_ENV: &str = "FLOWLINE_BUS_CRASH_ROUND";
/// Records of `processed-data` in each transaction.
const PER_TRANSACTION: u64 = 10;
/// Where plain sends of a round are numbered from: round × this.
const ROUND_STRIDE: u64 = 1_000_000;
/// Children killed.
const KILLS: usize = 12;
/// The consumer group of the child's transactions.
const GROUP: &str = "crash";

/// The input partition whose offsets the transactions commit.
fn input() -> TopicPartition {
    TopicPartition::new(Topic::RawSensorData, 0)
}

/// The log of parent and child: every commit synced, small segments so
/// that kills land around segment rolls too.
fn config() -> BusConfig {
    BusConfig {
        partitions: 3,
        segment_bytes: 16 * 1024,
        max_transaction_bytes: 8 * 1024,
        ..BusConfig::default()
    }
}

/// Writes one line of the child's report to stdout, flushed.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("the parent reads stdout");
    stdout.flush().expect("the parent reads stdout");
}

/// The child: commits transactions and sends records until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the crash test, which runs it itself"]
async fn crash_child() {
    // Ends the line libtest started, so that every report has its own.
    report("");
    let dir = std::env::var(DIR_ENV).expect("run by the crash test, which sets the directory");
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let bus = EmbeddedBus::open(&dir, config()).unwrap();

    let plain = bus.producer().unwrap();
    tokio::spawn(async move {
        for n in round * ROUND_STRIDE.. {
            plain
                .send(Topic::RawSensorData, &numbered([n]))
                .await
                .unwrap();
            report(&format!("sent {n}"));
        }
    });

    let mut consumer = bus.consumer(GROUP, OffsetReset::Earliest).unwrap();
    consumer.assign(&[input()]).unwrap();
    let committed = consumer.committed(&[input()]).await.unwrap();
    let first = committed[0]
        .as_ref()
        .map_or(0, |committed| committed.offset);
    report("ready");
    let mut producer = bus.transactional_producer("crash-child").unwrap();
    for k in first.. {
        producer.begin().unwrap();
        let processed = numbered(k * PER_TRANSACTION..(k + 1) * PER_TRANSACTION);
        producer
            .send(Topic::ProcessedData, &processed)
            .await
            .unwrap();
        producer.send(Topic::Dlq, &numbered([k])).await.unwrap();
        let offset = CommitOffset {
            partition: input(),
            offset: k + 1,
            metadata: format!("after-{k}"),
        };
        producer.send_offsets(&consumer, &[offset]).await.unwrap();
        producer.commit().await.unwrap();
        report(&format!("committed {k}"));
    }
}

/// What one child said before it died.
#[derive(Debug, Default)]
struct Report {
    /// Transactions whose commit returned.
    committed: Vec<u64>,
    /// Plain sends that returned.
    sent: Vec<u64>,
}

/// Runs a child for `round` on `dir` and kills it with SIGKILL
/// `kill_after` after it is ready.
fn run_child(dir: &Path, round: u64, kill_after: Duration) -> Report {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_sender, ready) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut report = Report::default();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "ready" {
                ready_sender.send(()).unwrap();
            } else if let Some(k) = line.strip_prefix("committed ") {
                report.committed.push(k.parse().unwrap());
            } else if let Some(n) = line.strip_prefix("sent ") {
                report.sent.push(n.parse().unwrap());
            }
        }
        report
    });

    ready
        .recv_timeout(Duration::from_secs(60))
        .expect("the child opened the log and said so");
    thread::sleep(kill_after);
    let killed = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL failed");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    reader.join().unwrap()
}

/// What the log holds after a kill, as the next start sees it.
#[derive(Debug)]
struct Found {
    /// The group's committed offset of the input: transactions committed.
    committed: u64,
    /// Its metadata.
    metadata: String,
    /// Numbers in `processed-data`, sorted.
    processed: Vec<u64>,
    /// Numbers in `dlq`, sorted.
    dlq: Vec<u64>,
    /// Numbers in `raw-sensor-data`, sorted.
    raw: Vec<u64>,
}

/// Opens the log at `dir` and reads everything visible.
async fn found(dir: &Path) -> Found {
    let bus = EmbeddedBus::open(dir, config()).unwrap();
    let consumer = bus.consumer(GROUP, OffsetReset::Earliest).unwrap();
    let committed = consumer.committed(&[input()]).await.unwrap().remove(0);
    let numbers = |reads: Vec<common::Read>| {
        let mut numbers: Vec<u64> = reads.iter().map(|read| read.number).collect();
        numbers.sort_unstable();
        numbers
    };
    Found {
        committed: committed.as_ref().map_or(0, |c| c.offset),
        metadata: committed.map(|c| c.metadata).unwrap_or_default(),
        processed: numbers(read_all(&bus, Topic::ProcessedData).await),
        dlq: numbers(read_all(&bus, Topic::Dlq).await),
        raw: numbers(read_all(&bus, Topic::RawSensorData).await),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_at_random_keeps_every_commit_once_and_nothing_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut acknowledged_sends = BTreeSet::new();
    let mut last_committed = 0;
    for round in 0..KILLS as u64 {
        let kill_after = Duration::from_millis(rng.random_range(5..400));
        let report = run_child(dir.path(), round, kill_after);
        let found = found(dir.path()).await;
        let context = format!("round {round}, killed {kill_after:?} after ready");

        let transactions = found.committed;
        assert!(
            transactions >= last_committed,
            "{context}: commits went back"
        );
        if let Some(&last) = report.committed.last() {
            assert!(
                transactions == last + 1 || transactions == last + 2,
                "{context}: commit {last} returned, but the group committed {transactions} \
                 transactions (at most one more may have committed before the kill)"
            );
        }
        if transactions > 0 {
            assert_eq!(
                found.metadata,
                format!("after-{}", transactions - 1),
                "{context}"
            );
        }
        assert_eq!(
            found.dlq,
            (0..transactions).collect::<Vec<_>>(),
            "{context}: dlq holds exactly the committed transactions, once"
        );
        assert_eq!(
            found.processed,
            (0..transactions * PER_TRANSACTION).collect::<Vec<_>>(),
            "{context}: processed-data holds exactly the committed records, once"
        );

        acknowledged_sends.extend(report.sent);
        let raw: BTreeSet<u64> = found.raw.iter().copied().collect();
        assert_eq!(
            raw.len(),
            found.raw.len(),
            "{context}: a plain send duplicated"
        );
        let lost: Vec<&u64> = acknowledged_sends.difference(&raw).collect();
        assert!(
            lost.is_empty(),
            "{context}: acknowledged sends lost: {lost:?}"
        );
        last_committed = transactions;
    }
    assert!(
        last_committed >= KILLS as u64,
        "the children committed {last_committed} transactions in {KILLS} rounds"
    );
}
