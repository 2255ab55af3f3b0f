//! Connect time and the time to read 100 tags: the gateway's Modbus
//! connector (its request plan, tokio-modbus client, decoding and sample
//! rules, through [`Poller`]) against pymodbus's own client, reading the
//! same requests from the same simulator, run after run in one go.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use flowline_catalog::demo_field;
use flowline_catalog::modbus::{Point, Table};
use flowline_edge::modbus::{PollGroup, Poller, Timings};
use flowline_sim::point_list;
use serde::Deserialize;
use serde_json::json;

use crate::field::{describe_tables, first_points, polled};
use crate::peer::{Pymodbus, reads_of};
use crate::sim::SimProcess;
use crate::targets::{
    CONNECT_TARGET_MS, Figure, LatencyArgs, READ_TARGET_MS, RunDurations, alternate, check_samples,
    milliseconds, report, verdicts,
};

/// The pad whose points are read: unit 1.
const UNIT: u8 = 1;

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

/// What the peer script prints for a latency job.
#[derive(Debug, Deserialize)]
struct PeerLatency {
    connect_us: Vec<f64>,
    cases: Vec<Vec<f64>>,
}

/// Runs the comparison and prints its table.
pub async fn compare(args: LatencyArgs) -> anyhow::Result<()> {
    args.check()?;
    let peer = Pymodbus::new(&args.python, &args.peer_script)?;
    let document = demo_field(args.field.layout());
    let points = point_list(&document)?;
    let cases = cases(&points, args.tags)?;
    let sim = SimProcess::start(&args.field)?;

    let runs = alternate(
        "modbus latency",
        args.runs,
        || Box::pin(flowline_run(sim.address, &cases, &args)),
        || Box::pin(peer_run(&peer, sim.address, &cases, &args)),
    )
    .await?;
    drop(sim);

    let figures = figures(&cases);
    let report = report("pymodbus", &figures, &runs);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", describe(&args, document.tags.len(), &cases))?;
    writeln!(stdout, "{}", report.render())?;
    writeln!(stdout, "{}", verdicts(&report, &figures))?;
    Ok(())
}

/// The figures, in the order of each run's durations: connect, then the
/// cases; the first case is the one the read target is for.
fn figures(cases: &[Case]) -> Vec<Figure> {
    let mut figures = vec![Figure {
        name: "connect".to_owned(),
        target_ms: Some(CONNECT_TARGET_MS),
    }];
    for (index, case) in cases.iter().enumerate() {
        figures.push(Figure {
            name: case.name.clone(),
            target_ms: (index == 0).then_some(READ_TARGET_MS),
        });
    }
    figures
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
    let mut connects = Vec::with_capacity(args.connects);
    for index in 0..args.warmup + args.connects {
        poller.disconnect();
        let started = Instant::now();
        poller
            .connect()
            .await
            .map_err(|failure| anyhow::anyhow!("cannot connect to {server}: {failure}"))?;
        if index >= args.warmup {
            connects.push(milliseconds(started.elapsed()));
        }
    }
    let mut durations = RunDurations(vec![connects]);
    for case in cases {
        let mut reads = Vec::with_capacity(args.reads);
        for index in 0..args.warmup + args.reads {
            let started = Instant::now();
            let samples = poller.poll(&case.group).await;
            let took = started.elapsed();
            check_samples(&case.name, case.points.len(), &samples)?;
            if index >= args.warmup {
                reads.push(milliseconds(took));
            }
        }
        durations.0.push(reads);
    }
    Ok(durations)
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
    let figures = std::iter::once(answer.connect_us).chain(answer.cases);
    Ok(RunDurations(figures.map(to_ms).collect()))
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
