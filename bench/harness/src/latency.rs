//! Connect time and the time to read 100 tags: the gateway's Modbus
//! connector (its request plan, tokio-modbus client, decoding and sample
//! rules, through [`Poller`]) against pymodbus's own client, reading the
//! same requests from the same simulator, run after run in one go.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use flowline_catalog::demo_field;
use flowline_catalog::modbus::{Point, Table};
use flowline_edge::modbus::{PollGroup, Poller, Timings};
use flowline_sim::point_list;
use serde::Deserialize;
use serde_json::json;

use crate::events;
use crate::field::{describe_tables, first_points, polled};
use crate::peer::{Pymodbus, reads_of};
use crate::sim::{SimArgs, SimProcess};
use crate::stats::{Row, Spread, Table as Report, Unit, median, percentile};

/// The pad whose points are read: unit 1.
const UNIT: u8 = 1;
/// Acceptance floor of the issue: connect and read 100 tags in 2 s each.
const FLOOR_MS: f64 = 2_000.0;
/// Target on loopback: connect in 10 ms.
const CONNECT_TARGET_MS: f64 = 10.0;
/// Target on loopback: read 100 tags in 5 ms.
const READ_TARGET_MS: f64 = 5.0;

/// What to measure, and how often.
#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// The simulated field (one pad must hold `--tags` register points).
    #[command(flatten)]
    pub field: SimArgs,
    /// Runs of each side; the table shows the median run and the range.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Timed connects per run.
    #[arg(long, default_value_t = 500)]
    pub connects: usize,
    /// Timed reads of each case per run.
    #[arg(long, default_value_t = 2_000)]
    pub reads: usize,
    /// Untimed connects and reads before the timed ones, in every run.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Tags in the main case.
    #[arg(long, default_value_t = 100)]
    pub tags: usize,
    /// The Python of `.venv`, with pymodbus.
    #[arg(long)]
    pub python: PathBuf,
    /// `bench/peers/pymodbus_client.py`.
    #[arg(long)]
    pub peer_script: PathBuf,
}

/// One set of points read together, and how both sides read it.
struct Case {
    /// The figure's name.
    name: String,
    /// The points, in point-list order.
    points: Vec<Point>,
    /// The connector's poll group of the points.
    group: PollGroup,
}

impl Case {
    fn new(name: String, points: Vec<Point>) -> Case {
        // The interval is the device task's business; a poll here is one
        // call, so any interval will do.
        let group = PollGroup::new(&name, Duration::from_secs(1), polled(&points), 0);
        Case {
            name,
            points,
            group,
        }
    }
}

/// One run of one side: every timed duration, in milliseconds.
#[derive(Debug, Default)]
struct RunDurations {
    /// Each timed connect.
    connect: Vec<f64>,
    /// Each timed read, per case.
    cases: Vec<Vec<f64>>,
}

/// What the peer script prints for a latency job.
#[derive(Debug, Deserialize)]
struct PeerLatency {
    connect_us: Vec<f64>,
    cases: Vec<Vec<f64>>,
}

/// Runs the comparison and prints its table.
pub async fn compare(args: LatencyArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.reads == 0 || args.connects == 0 {
        bail!("expected at least one run, read and connect");
    }
    let peer = Pymodbus::new(&args.python, &args.peer_script)?;
    let document = demo_field(args.field.layout());
    let points = point_list(&document)?;
    let cases = cases(&points, args.tags)?;
    let sim = SimProcess::start(&args.field)?;

    let mut flowline_runs = Vec::new();
    let mut peer_runs = Vec::new();
    for run in 0..args.runs {
        // Alternate who goes first, so drift in the machine's load does
        // not favour one side.
        if run % 2 == 0 {
            flowline_runs.push(flowline_run(sim.address, &cases, &args).await?);
            peer_runs.push(peer_run(&peer, sim.address, &cases, &args).await?);
        } else {
            peer_runs.push(peer_run(&peer, sim.address, &cases, &args).await?);
            flowline_runs.push(flowline_run(sim.address, &cases, &args).await?);
        }
        events::run_finished("modbus latency", run + 1, args.runs);
    }
    drop(sim);

    let report = report(&cases, &flowline_runs, &peer_runs);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", describe(&args, document.tags.len(), &cases))?;
    writeln!(stdout, "{}", report.render())?;
    writeln!(stdout, "{}", verdicts(&report))?;
    Ok(())
}

/// The two cases: `tags` register points of unit 1 in point-list order
/// (input and holding registers, as the demo lays them out), and `tags`
/// registers' worth of input-register points, one request.
fn cases(points: &[Point], tags: usize) -> anyhow::Result<Vec<Case>> {
    let registers = [Table::InputRegister, Table::HoldingRegister];
    let mixed = first_points(points, UNIT, &registers, tags)?;
    let inputs: Vec<Point> = first_points(points, UNIT, &[Table::InputRegister], tags)?
        .into_iter()
        .scan(0_usize, |width, point| {
            *width += usize::from(point.address.width());
            (*width <= tags).then_some(point)
        })
        .collect();
    let inputs_name = format!("read {tags} input registers ({} tags)", inputs.len());
    Ok(vec![
        Case::new(format!("read {tags} tags"), mixed),
        Case::new(inputs_name, inputs),
    ])
}

/// One run of the Flowline connector: connects, then reads of each case.
async fn flowline_run(
    server: SocketAddr,
    cases: &[Case],
    args: &LatencyArgs,
) -> anyhow::Result<RunDurations> {
    let mut poller = Poller::new("simulator", server, Timings::default());
    let mut durations = RunDurations::default();
    for index in 0..args.warmup + args.connects {
        poller.disconnect();
        let started = Instant::now();
        poller
            .connect()
            .await
            .map_err(|failure| anyhow::anyhow!("cannot connect to {server}: {failure}"))?;
        if index >= args.warmup {
            durations.connect.push(milliseconds(started.elapsed()));
        }
    }
    for case in cases {
        let mut reads = Vec::with_capacity(args.reads);
        for index in 0..args.warmup + args.reads {
            let started = Instant::now();
            let samples = poller.poll(&case.group).await;
            let took = started.elapsed();
            check_samples(case, &samples)?;
            if index >= args.warmup {
                reads.push(milliseconds(took));
            }
        }
        durations.cases.push(reads);
    }
    Ok(durations)
}

/// Refuses a poll that did not give one good sample per point: timing
/// failures would be meaningless.
fn check_samples(case: &Case, samples: &[flowline_core::Sample]) -> anyhow::Result<()> {
    if samples.len() != case.points.len() {
        bail!(
            "{}: expected {} samples, the poll gave {}",
            case.name,
            case.points.len(),
            samples.len()
        );
    }
    if let Some(bad) = samples.iter().find(|sample| !sample.quality.is_good()) {
        bail!(
            "{}: tag {} read with quality {}",
            case.name,
            bad.tag.0,
            bad.quality
        );
    }
    Ok(())
}

/// One run of the pymodbus client over the same requests.
async fn peer_run(
    peer: &Pymodbus,
    server: SocketAddr,
    cases: &[Case],
    args: &LatencyArgs,
) -> anyhow::Result<RunDurations> {
    let mut job_cases = Vec::new();
    for case in cases {
        job_cases.push(json!({"name": case.name, "reads": reads_of(&case.group)?}));
    }
    let job = json!({
        "mode": "latency",
        "connects": args.connects,
        "reads": args.reads,
        "warmup": args.warmup,
        "cases": job_cases,
    });
    let answer: PeerLatency = peer.run(server, job).await?;
    let to_ms = |micros: Vec<f64>| micros.into_iter().map(|us| us / 1_000.0).collect();
    Ok(RunDurations {
        connect: to_ms(answer.connect_us),
        cases: answer.cases.into_iter().map(to_ms).collect(),
    })
}

/// The table: median and 99th percentile of each figure, per run, over
/// the runs.
fn report(cases: &[Case], flowline: &[RunDurations], peer: &[RunDurations]) -> Report {
    let mut rows = Vec::new();
    let mut add = |figure: &str, pick: &dyn Fn(&RunDurations) -> &[f64]| {
        for (statistic, of_run) in [
            ("median", median as fn(&[f64]) -> f64),
            ("99th percentile", |values: &[f64]| percentile(values, 0.99)),
        ] {
            let spread = |runs: &[RunDurations]| {
                let per_run: Vec<f64> = runs.iter().map(|run| of_run(pick(run))).collect();
                Spread::of(&per_run)
            };
            rows.push(Row {
                figure: format!("{figure}, {statistic}"),
                flowline: spread(flowline),
                peer: Some(spread(peer)),
                unit: Unit::Milliseconds,
            });
        }
    };
    add("connect", &|run| &run.connect);
    for (index, case) in cases.iter().enumerate() {
        add(&case.name, &|run| &run.cases[index]);
    }
    Report {
        peer: "pymodbus".to_owned(),
        rows,
    }
}

/// What was read, for the record.
fn describe(args: &LatencyArgs, tags: usize, cases: &[Case]) -> String {
    let mut text = format!(
        "input: demo field of {} pads x {} wells ({tags} tags), stepped every {} ms by \
         flowline-sim on {}; {} runs per side, each {} connects and {} reads per case after \
         {} untimed",
        args.field.pads,
        args.field.wells_per_pad,
        args.field.step_interval_ms,
        args.field.listen.ip(),
        args.runs,
        args.connects,
        args.reads,
        args.warmup,
    );
    for case in cases {
        text.push_str(&format!(
            "\n{}: unit {UNIT}, {} points ({}), all f32, in {} requests",
            case.name,
            case.points.len(),
            describe_tables(&case.points),
            case.group.reads.len()
        ));
    }
    text
}

/// The floor and targets against the medians.
fn verdicts(report: &Report) -> String {
    let find = |prefix: &str| {
        report
            .rows
            .iter()
            .find(|row| row.figure.starts_with(prefix) && row.figure.ends_with("median"))
            .context("bug: the report has every figure")
    };
    let (Ok(connect), Ok(read)) = (find("connect"), find("read ")) else {
        return "bug: a figure is missing".to_owned();
    };
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let lines = [
        (
            "floor: connect <= 2 s and read <= 2 s",
            connect.flowline.median <= FLOOR_MS && read.flowline.median <= FLOOR_MS,
        ),
        (
            "target: connect <= 10 ms",
            connect.flowline.median <= CONNECT_TARGET_MS,
        ),
        (
            "target: read 100 tags <= 5 ms",
            read.flowline.median <= READ_TARGET_MS,
        ),
    ];
    let mut text = String::new();
    for (what, met) in lines {
        text.push_str(&format!("{what}: {}\n", verdict(met)));
    }
    for row in [connect, read] {
        let peer = row.peer.expect("bug: every latency row has the peer");
        text.push_str(&format!(
            "target: {} no slower than pymodbus: {} (ratio {:.2})\n",
            row.figure,
            verdict(row.flowline.median <= peer.median),
            row.flowline.median / peer.median
        ));
    }
    text
}

/// A duration in milliseconds.
fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
