//! Gateway throughput: the real gateway (`plan`, `Gateway::start`, one
//! device task per endpoint) polling every Modbus tag of a simulated field
//! of about 50,000 tags into a [`ChannelPublisher`] whose receiver counts
//! the samples, with the CPU the gateway's process and the simulator's
//! process use while it does. pymodbus's client reading the same requests
//! as fast as it can is the peer.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use flowline_catalog::modbus::{DEFAULT_GROUP, Point};
use flowline_catalog::{Snapshot, demo_field};
use flowline_core::Sample;
use flowline_edge::{ChannelPublisher, Gateway, GatewayConfig, ModbusEndpoint, catalog_points};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cpu::CpuClock;
use crate::events;
use crate::peer::{Pymodbus, reads_of};
use crate::sim::{SimArgs, SimProcess};
use crate::stats::{Row, Spread, Table as Report, Unit};

/// Batches in flight between the gateway and the counter, as `flowline
/// gateway` has them.
const SAMPLE_QUEUE_BATCHES: usize = 256;
/// The poll interval of the flat-out case: every poll overruns it, so the
/// device task polls again at once.
const FLAT_OUT_INTERVAL_MS: u64 = 1;
/// The longest wait for the first complete poll.
const FIRST_POLL_PATIENCE: Duration = Duration::from_secs(60);
/// The gateway requirement: tags per second on two cores.
const GATEWAY_TARGET_TAGS_PER_S: f64 = 50_000.0;
/// The simulator requirement: at most one core at 1 Hz.
const SIM_TARGET_CORES: f64 = 1.0;

/// The field, the windows and the peer.
#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// The simulated field; `--pads 200 --wells-per-pad 25` is about
    /// 50,000 tags.
    #[command(flatten)]
    pub field: SimArgs,
    /// Runs of each case.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Length of each measuring window, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of polling before each window, after the first complete
    /// poll.
    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,
    /// The gateway's poll interval in the rated case, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub interval_ms: u64,
    /// The Python of `.venv`, with pymodbus.
    #[arg(long)]
    pub python: PathBuf,
    /// `bench/peers/pymodbus_client.py`.
    #[arg(long)]
    pub peer_script: PathBuf,
}

/// What one measuring window found.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// Samples received per second.
    tags_per_second: f64,
    /// CPU of the client's process, in cores.
    client_cores: f64,
    /// CPU of the simulator's process, in cores.
    sim_cores: f64,
    /// Samples without a good value.
    bad_samples: u64,
}

/// Samples the receiver has counted.
#[derive(Debug, Default)]
struct Counter {
    samples: AtomicU64,
    bad: AtomicU64,
}

/// A moment's counters and CPU clocks.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    samples: u64,
    bad: u64,
    own_cpu_s: f64,
    sim_cpu_s: f64,
}

/// What the peer script prints for a throughput job.
#[derive(Debug, Deserialize)]
struct PeerThroughput {
    tags: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// Everything the measurement needs, made once.
struct Bench {
    args: ThroughputArgs,
    snapshot: Snapshot,
    points: Vec<Point>,
    sim: SimProcess,
    clock: CpuClock,
}

/// Runs every case and prints the table.
pub async fn measure(args: ThroughputArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.seconds == 0 {
        bail!("expected at least one run of at least one second");
    }
    let peer = Pymodbus::new(&args.python, &args.peer_script)?;
    let document = demo_field(args.field.layout());
    let snapshot = crate::field::snapshot(&document);
    let points = catalog_points(&snapshot)?;
    let sim = SimProcess::start(&args.field)?;
    let bench = Bench {
        args,
        snapshot,
        points,
        sim,
        clock: CpuClock::new(),
    };

    let mut idle = Vec::new();
    let mut rated = Vec::new();
    let mut flat_out = Vec::new();
    let mut peer_windows = Vec::new();
    for run in 1..=bench.args.runs {
        idle.push(bench.idle_window().await?);
        rated.push(bench.gateway_window(bench.args.interval_ms, run).await?);
        flat_out.push(bench.gateway_window(FLAT_OUT_INTERVAL_MS, run).await?);
        peer_windows.push(bench.peer_window(&peer, run).await?);
        events::run_finished("gateway throughput", run, bench.args.runs);
    }

    let windows = Windows {
        idle,
        rated,
        flat_out,
        peer: peer_windows,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", bench.describe(document.tags.len()))?;
    writeln!(stdout, "{}", windows.report(&bench).render())?;
    writeln!(stdout, "{}", windows.verdicts(&bench))?;
    Ok(())
}

impl Bench {
    /// The simulator stepping with no client connected.
    async fn idle_window(&self) -> anyhow::Result<Window> {
        let counter = Counter::default();
        let start = self.reading(&counter)?;
        tokio::time::sleep(Duration::from_secs(self.args.seconds)).await;
        let end = self.reading(&counter)?;
        Ok(Window {
            sim_cores: (end.sim_cpu_s - start.sim_cpu_s) / seconds_between(&start, &end),
            ..Window::default()
        })
    }

    /// A fresh gateway polling every point every `interval_ms`, measured
    /// over one window after its first complete poll and a warm-up.
    async fn gateway_window(&self, interval_ms: u64, run: usize) -> anyhow::Result<Window> {
        let config = self.config(interval_ms);
        let plan = flowline_edge::plan(&config, &self.snapshot, &self.points)?;
        let (publisher, receiver) = ChannelPublisher::new(SAMPLE_QUEUE_BATCHES);
        let counter = Arc::new(Counter::default());
        let counting = tokio::spawn(count(receiver, Arc::clone(&counter)));
        let shutdown = CancellationToken::new();
        let gateway = Gateway::start(
            plan,
            config.timings(),
            Arc::new(publisher),
            shutdown.clone(),
        );

        self.first_complete_poll(&counter).await?;
        tokio::time::sleep(Duration::from_secs(self.args.warmup_seconds)).await;
        let start = self.reading(&counter)?;
        tokio::time::sleep(Duration::from_secs(self.args.seconds)).await;
        let end = self.reading(&counter)?;

        shutdown.cancel();
        gateway.stopped().await;
        counting.await?;
        let window = window_between(&start, &end);
        let case = format!("gateway, interval {interval_ms} ms");
        if window.bad_samples > 0 {
            events::bad_samples(&case, window.bad_samples);
        }
        events::window_finished("gateway throughput", &case, run, window.tags_per_second);
        Ok(window)
    }

    /// The gateway's settings: one endpoint, the simulator, for every
    /// unit, and every point in the default group at `interval_ms`.
    fn config(&self, interval_ms: u64) -> GatewayConfig {
        GatewayConfig {
            modbus: vec![ModbusEndpoint {
                name: "simulator".to_owned(),
                address: self.sim.address.to_string(),
                units: Vec::new(),
            }],
            poll_groups: BTreeMap::from([(DEFAULT_GROUP.to_owned(), interval_ms)]),
            ..GatewayConfig::default()
        }
    }

    /// Waits until the counter has seen a sample of every point.
    async fn first_complete_poll(&self, counter: &Counter) -> anyhow::Result<()> {
        let deadline = Instant::now() + FIRST_POLL_PATIENCE;
        while counter.samples.load(Ordering::Relaxed) < self.points.len() as u64 {
            if Instant::now() > deadline {
                bail!("the gateway did not poll every point within {FIRST_POLL_PATIENCE:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// pymodbus reading the requests of the gateway's plan, flat out.
    async fn peer_window(&self, peer: &Pymodbus, run: usize) -> anyhow::Result<Window> {
        let plan = flowline_edge::plan(
            &self.config(FLAT_OUT_INTERVAL_MS),
            &self.snapshot,
            &self.points,
        )?;
        let mut reads = Vec::new();
        for device in &plan.devices {
            for group in &device.groups {
                reads.extend(reads_of(group)?);
            }
        }
        let job = json!({"mode": "throughput", "seconds": self.args.seconds, "reads": reads});
        let answer: PeerThroughput = peer.run(self.sim.address, job).await?;
        let window = Window {
            tags_per_second: answer.tags as f64 / answer.seconds,
            client_cores: answer.cpu_seconds / answer.seconds,
            ..Window::default()
        };
        events::window_finished(
            "gateway throughput",
            "pymodbus",
            run,
            window.tags_per_second,
        );
        Ok(window)
    }

    /// The counters and both processes' CPU clocks now.
    fn reading(&self, counter: &Counter) -> anyhow::Result<Reading> {
        Ok(Reading {
            at: Instant::now(),
            samples: counter.samples.load(Ordering::Relaxed),
            bad: counter.bad.load(Ordering::Relaxed),
            own_cpu_s: self.clock.seconds(std::process::id())?,
            sim_cpu_s: self
                .clock
                .seconds(self.sim.pid())
                .context("reading the simulator's CPU time")?,
        })
    }

    /// What was measured, for the record.
    fn describe(&self, tags: usize) -> String {
        let args = &self.args;
        format!(
            "input: demo field of {} pads x {} wells ({tags} tags, {} on Modbus), stepped every \
             {} ms by flowline-sim (its own process) on {}; the gateway in this process on a \
             tokio runtime of 2 worker threads, one endpoint for every unit; {} runs, windows of \
             {} s after {} s of warm-up; machine: {} cores",
            args.field.pads,
            args.field.wells_per_pad,
            self.points.len(),
            args.field.step_interval_ms,
            self.sim.address,
            args.runs,
            args.seconds,
            args.warmup_seconds,
            std::thread::available_parallelism().map_or(0, |cores| cores.get()),
        )
    }
}

/// Counts the samples of every batch until the gateway stops.
async fn count(mut receiver: mpsc::Receiver<Vec<Sample>>, counter: Arc<Counter>) {
    while let Some(batch) = receiver.recv().await {
        let bad = batch
            .iter()
            .filter(|sample| !sample.quality.is_good())
            .count();
        counter
            .samples
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        counter.bad.fetch_add(bad as u64, Ordering::Relaxed);
    }
}

/// Seconds from `start` to `end`.
fn seconds_between(start: &Reading, end: &Reading) -> f64 {
    end.at.duration_since(start.at).as_secs_f64()
}

/// The rates between two readings.
fn window_between(start: &Reading, end: &Reading) -> Window {
    let seconds = seconds_between(start, end);
    Window {
        tags_per_second: (end.samples - start.samples) as f64 / seconds,
        client_cores: (end.own_cpu_s - start.own_cpu_s) / seconds,
        sim_cores: (end.sim_cpu_s - start.sim_cpu_s) / seconds,
        bad_samples: end.bad - start.bad,
    }
}

/// Every window of every run.
struct Windows {
    idle: Vec<Window>,
    rated: Vec<Window>,
    flat_out: Vec<Window>,
    peer: Vec<Window>,
}

/// The spread of one figure of `windows`.
fn spread(windows: &[Window], figure: fn(&Window) -> f64) -> Spread {
    Spread::of(&windows.iter().map(figure).collect::<Vec<f64>>())
}

impl Windows {
    /// The table.
    fn report(&self, bench: &Bench) -> Report {
        let tags = bench.points.len() as f64;
        let rated = format!("at {} ms", bench.args.interval_ms);
        let row = |figure: String, flowline: Spread, peer: Option<Spread>, unit| Row {
            figure,
            flowline,
            peer,
            unit,
        };
        let poll_ms = |window: &Window| 1_000.0 * tags / window.tags_per_second;
        let rows = vec![
            row(
                format!("tags polled, {rated}"),
                spread(&self.rated, |w| w.tags_per_second),
                None,
                Unit::PerSecond,
            ),
            row(
                format!("gateway process CPU, {rated}"),
                spread(&self.rated, |w| w.client_cores),
                None,
                Unit::Cores,
            ),
            row(
                format!("simulator CPU, serving the gateway {rated}"),
                spread(&self.rated, |w| w.sim_cores),
                None,
                Unit::Cores,
            ),
            row(
                "simulator CPU, stepping with no client".to_owned(),
                spread(&self.idle, |w| w.sim_cores),
                None,
                Unit::Cores,
            ),
            row(
                "tags polled, flat out".to_owned(),
                spread(&self.flat_out, |w| w.tags_per_second),
                Some(spread(&self.peer, |w| w.tags_per_second)),
                Unit::PerSecond,
            ),
            row(
                format!("one poll of all {} tags, flat out", bench.points.len()),
                Spread::of(&self.flat_out.iter().map(poll_ms).collect::<Vec<_>>()),
                Some(Spread::of(
                    &self.peer.iter().map(poll_ms).collect::<Vec<_>>(),
                )),
                Unit::Milliseconds,
            ),
            row(
                "client process CPU, flat out".to_owned(),
                spread(&self.flat_out, |w| w.client_cores),
                Some(spread(&self.peer, |w| w.client_cores)),
                Unit::Cores,
            ),
            row(
                "simulator CPU, serving the gateway flat out".to_owned(),
                spread(&self.flat_out, |w| w.sim_cores),
                None,
                Unit::Cores,
            ),
        ];
        Report {
            peer: "pymodbus".to_owned(),
            rows,
        }
    }

    /// The requirements against the medians.
    fn verdicts(&self, bench: &Bench) -> String {
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        let rated = spread(&self.rated, |w| w.tags_per_second).median;
        let flat_out = spread(&self.flat_out, |w| w.tags_per_second).median;
        let sim = spread(&self.rated, |w| w.sim_cores).median;
        let bad: u64 = self
            .rated
            .iter()
            .chain(&self.flat_out)
            .map(|w| w.bad_samples)
            .sum();
        let expected = bench.points.len() as f64 * 1_000.0 / bench.args.interval_ms as f64;
        format!(
            "gateway: at least 50,000 tags/s on two cores: {} ({:.0}/s flat out)\n\
             gateway: keeps its {} ms interval for all {} tags: {} ({:.0} of {:.0} tags/s)\n\
             simulator: serves {} tags at 1 Hz using at most one core: {} ({sim:.3} cores)\n\
             samples without a good value while measuring: {bad}",
            verdict(flat_out >= GATEWAY_TARGET_TAGS_PER_S),
            flat_out,
            bench.args.interval_ms,
            bench.points.len(),
            verdict(rated >= 0.99 * expected),
            rated,
            expected,
            bench.points.len(),
            verdict(sim <= SIM_TARGET_CORES),
        )
    }
}
