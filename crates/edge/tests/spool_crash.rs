//! Killing the gateway with SIGKILL loses nothing it accepted.
//!
//! The parent test runs this same test binary again as a child, selecting
//! the ignored test [`crash_child`]. The child publishes numbered batches
//! through store-and-forward and reports on stdout each batch it got `Ok`
//! for (`accepted N`), and each batch its bus accepted (`delivered` and
//! the sample numbers). The bus is a line on stdout: once the line is
//! written the parent has it, whatever happens to the child. The parent
//! kills the child at varied moments, opens the spool itself, and checks
//! every accepted batch is delivered or spooled, in order, with no
//! duplicate but at most the one forward in flight at the kill.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_edge::{
    ForwardConfig, PublishError, SamplePublisher, Spool, SpoolConfig, StoreAndForward,
};
use tokio_util::sync::CancellationToken;

/// Samples in each batch.
const BATCH: u64 = 4;
/// Environment variable: the spool directory; its presence selects the
/// child.
const DIR_ENV: &str = "FLOWLINE_SPOOL_CRASH_DIR";
/// Environment variable: the number of the child's first batch.
const FIRST_ENV: &str = "FLOWLINE_SPOOL_CRASH_FIRST";
/// Environment variable: milliseconds after the child starts before its
/// bus comes up; absent, the bus never does.
const BUS_UP_ENV: &str = "FLOWLINE_SPOOL_CRASH_BUS_UP_MS";
/// Environment variable: milliseconds the child waits between batches, as
/// a poller does between polls; absent, it does not wait.
const PAUSE_ENV: &str = "FLOWLINE_SPOOL_CRASH_PAUSE_MS";

/// The spool of both parent and child: small segments, so kills land
/// around segment changes too, and room enough that nothing is dropped.
fn spool_config() -> SpoolConfig {
    SpoolConfig {
        segment_bytes: 4096,
        max_bytes: 64 << 20,
        ..SpoolConfig::default()
    }
}

/// Batch number `n`: `BATCH` samples numbered from `n * BATCH`.
fn batch(n: u64) -> Vec<Sample> {
    (n * BATCH..(n + 1) * BATCH)
        .map(|value| {
            Sample::new(
                TagId(1),
                Timestamp::from_micros(value as i64),
                Value::Integer(value as i64),
            )
        })
        .collect()
}

/// The number of a sample made by [`batch`].
fn number(sample: &Sample) -> u64 {
    match sample.value {
        Value::Integer(n) => n as u64,
        ref other => panic!("unexpected value {other:?}"),
    }
}

/// The batch numbers of `samples`, checking that they are whole batches.
fn batch_numbers(samples: &[u64]) -> Vec<u64> {
    assert_eq!(
        samples.len() as u64 % BATCH,
        0,
        "whole batches only: {samples:?}"
    );
    samples
        .chunks(BATCH as usize)
        .map(|chunk| {
            let n = chunk[0] / BATCH;
            assert_eq!(
                chunk,
                (n * BATCH..(n + 1) * BATCH).collect::<Vec<_>>(),
                "batch intact"
            );
            n
        })
        .collect()
}

/// The child's bus: down until `up_at`, then it writes each batch to
/// stdout and accepts it.
#[derive(Debug)]
struct StdoutBus {
    /// When the bus comes up; never if `None`.
    up_at: Option<Instant>,
}

impl SamplePublisher for StdoutBus {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        if self.up_at.is_none_or(|up_at| Instant::now() < up_at) {
            return Err(PublishError("bus down (crash test)".to_owned()));
        }
        let numbers: Vec<String> = samples.iter().map(|s| number(s).to_string()).collect();
        report(&format!("delivered {}", numbers.join(" ")));
        Ok(())
    }
}

/// Writes one line of the child's report to stdout, flushed.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("the parent reads stdout");
    stdout.flush().expect("the parent reads stdout");
}

/// The child: publishes batches from `FLOWLINE_SPOOL_CRASH_FIRST` on,
/// pausing `FLOWLINE_SPOOL_CRASH_PAUSE_MS` between them, until it is
/// killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the crash tests, which run it themselves"]
async fn crash_child() {
    // Ends the line libtest started with `test crash_child ... `, so that
    // every report has a line of its own.
    report("");
    let dir = std::env::var(DIR_ENV).expect("run by the crash tests, which set the directory");
    let first: u64 = std::env::var(FIRST_ENV).unwrap().parse().unwrap();
    let up_at = std::env::var(BUS_UP_ENV)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms.parse().unwrap()));
    let pause = std::env::var(PAUSE_ENV).map_or(Duration::ZERO, |ms| {
        Duration::from_millis(ms.parse().unwrap())
    });

    let spool = Spool::open(&dir, spool_config()).unwrap();
    let config = ForwardConfig {
        retry_initial_ms: 1,
        retry_max_ms: 5,
        forward_max_samples: BATCH as usize,
        ..ForwardConfig::default()
    };
    let bus = StdoutBus { up_at };
    let publisher = StoreAndForward::start(bus, spool, config, CancellationToken::new()).unwrap();
    for n in first.. {
        publisher.publish(batch(n)).await.unwrap();
        report(&format!("accepted {n}"));
        tokio::time::sleep(pause).await;
    }
}

/// How one child runs before it is killed.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// Milliseconds before its bus comes up; never if `None`.
    bus_up_ms: Option<u64>,
    /// Milliseconds between its batches.
    pause_ms: u64,
    /// Milliseconds before it is killed.
    kill_after_ms: u64,
}

/// What one child said before it died.
#[derive(Debug, Default)]
struct Report {
    /// Batches it got `Ok` for.
    accepted: Vec<u64>,
    /// Sample numbers its bus accepted, in order.
    delivered: Vec<u64>,
}

/// Runs a child on `dir` from batch `first` as `round` says and kills it
/// with SIGKILL.
fn run_child(dir: &Path, first: u64, round: Round) -> Report {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(FIRST_ENV, first.to_string())
        .env(PAUSE_ENV, round.pause_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(ms) = round.bus_up_ms {
        command.env(BUS_UP_ENV, ms.to_string());
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut report = Report::default();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("accepted ") {
                report.accepted.push(n.parse().unwrap());
            } else if let Some(numbers) = line.strip_prefix("delivered ") {
                report
                    .delivered
                    .extend(numbers.split(' ').map(|n| n.parse::<u64>().unwrap()));
            }
        }
        report
    });

    thread::sleep(Duration::from_millis(round.kill_after_ms));
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

/// The batch numbers left in the spool at `dir`, opened as the next start
/// of the gateway would.
fn spooled(dir: &Path) -> Vec<u64> {
    let mut spool = Spool::open(dir, spool_config()).unwrap();
    let samples: Vec<u64> = spool
        .peek(usize::MAX)
        .unwrap()
        .iter()
        .flat_map(|batch| batch.samples.iter().map(number))
        .collect();
    batch_numbers(&samples)
}

/// Asserts `numbers` count up by one.
fn assert_consecutive(numbers: &[u64], what: &str) {
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "{what} out of order or duplicated: {numbers:?}"
        );
    }
}

#[test]
fn a_gateway_killed_during_an_outage_loses_no_batch_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool_end = 0;
    let mut rounds_with_accepts = 0;
    for kill_after_ms in [40, 250, 5, 120, 400, 15, 80] {
        let round = Round {
            bus_up_ms: None,
            pause_ms: 0,
            kill_after_ms,
        };
        let report = run_child(dir.path(), spool_end, round);
        assert!(report.delivered.is_empty(), "the bus never came up");

        let spooled = spooled(dir.path());
        assert_consecutive(&spooled, "spooled batches");
        assert_eq!(
            spooled.first().copied().unwrap_or(0),
            0,
            "nothing lost at the front"
        );
        assert_consecutive(&report.accepted, "accepted batches");
        let new_end = spooled.last().map_or(0, |last| last + 1);
        if let Some(&last_accepted) = report.accepted.last() {
            rounds_with_accepts += 1;
            assert_eq!(
                report.accepted[0], spool_end,
                "the child went on from the spool's end"
            );
            assert!(
                new_end > last_accepted,
                "accepted batch {last_accepted} is not spooled"
            );
            assert!(
                new_end <= last_accepted + 2,
                "at most one batch spooled but not yet reported: {new_end} after {last_accepted}"
            );
        } else {
            assert!(
                new_end <= spool_end + 1,
                "at most one batch spooled but not yet reported"
            );
        }
        spool_end = new_end;
    }
    assert!(
        rounds_with_accepts >= 4,
        "most children lived long enough to spool something"
    );
}

#[test]
fn a_gateway_killed_while_forwarding_sends_again_at_most_the_batch_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut delivered_batches: Vec<u64> = Vec::new();
    let mut next = 0;
    // (bus up after, pause between batches, kill after), in milliseconds:
    // kills land while spooling, while draining, and once publishing
    // straight through again.
    let plan = [
        (30, 0, 150),
        (0, 2, 60),
        (100, 1, 300),
        (20, 0, 45),
        (0, 3, 200),
        (60, 2, 250),
        (10, 5, 90),
    ];
    for (bus_up_ms, pause_ms, kill_after_ms) in plan {
        let round = Round {
            bus_up_ms: Some(bus_up_ms),
            pause_ms,
            kill_after_ms,
        };
        let report = run_child(dir.path(), next, round);

        let round = batch_numbers(&report.delivered);
        assert_consecutive(&round, "batches delivered by one child");
        if let (Some(&first), Some(&last_before)) = (round.first(), delivered_batches.last()) {
            assert!(
                first == last_before + 1 || first == last_before,
                "a child delivered batch {first} after batch {last_before}"
            );
            if first == last_before {
                delivered_batches.pop();
            }
        }
        delivered_batches.extend(&round);
        assert_consecutive(&delivered_batches, "batches delivered");
        assert_eq!(delivered_batches.first().copied().unwrap_or(0), 0);

        let spooled = spooled(dir.path());
        assert_consecutive(&spooled, "spooled batches");
        let delivered_end = delivered_batches.last().map_or(0, |last| last + 1);
        if let Some(&first_spooled) = spooled.first() {
            assert!(
                first_spooled <= delivered_end,
                "batches {delivered_end} to {first_spooled} were neither delivered nor spooled"
            );
            assert!(
                first_spooled + 1 >= delivered_end,
                "more than the batch in flight is both delivered and spooled: spool starts at \
                 {first_spooled}, delivered up to {delivered_end}"
            );
        }
        let end = spooled
            .last()
            .map_or(delivered_end, |last| (last + 1).max(delivered_end));
        if let Some(&last_accepted) = report.accepted.last() {
            assert!(
                end > last_accepted,
                "accepted batch {last_accepted} is lost"
            );
        }
        next = end;
    }
    assert!(next > 0, "the children published something");
}
