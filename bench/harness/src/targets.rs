//! What the connect-and-read comparisons share, whatever the protocol:
//! runs of both sides in alternating order, the table of each figure's
//! median and 99th percentile over the runs, and the verdicts against the
//! issue's floor, its targets on loopback and the peer.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use flowline_core::Sample;

use crate::events;
use crate::sim::SimArgs;
use crate::stats::{Row, Spread, Table as Report, Unit, median, percentile};

/// Acceptance floor of the issue: connect and read 100 tags in 2 s each.
pub const FLOOR_MS: f64 = 2_000.0;
/// Target on loopback: connect in 10 ms.
pub const CONNECT_TARGET_MS: f64 = 10.0;
/// Target on loopback: read 100 tags in 5 ms.
pub const READ_TARGET_MS: f64 = 5.0;

/// What to measure, and how often: the options of both connect-and-read
/// comparisons.
#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// The simulated field (one pad must hold `--tags` register points for
    /// Modbus; the field `--tags` tags for OPC UA).
    #[command(flatten)]
    pub field: SimArgs,
    /// Runs of each side; the table shows the median run and the range.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Timed connects per run (of each security setting, for OPC UA).
    #[arg(long, default_value_t = 500)]
    pub connects: usize,
    /// Timed reads of each case per run.
    #[arg(long, default_value_t = 2_000)]
    pub reads: usize,
    /// Untimed connects and reads before the timed ones, in every run.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Tags read together in the main case.
    #[arg(long, default_value_t = 100)]
    pub tags: usize,
    /// The Python of `.venv`, with the peer's client library.
    #[arg(long)]
    pub python: PathBuf,
    /// The peer's script under `bench/peers`.
    #[arg(long)]
    pub peer_script: PathBuf,
}

impl LatencyArgs {
    /// An error unless there is something to time.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.runs == 0 || self.reads == 0 || self.connects == 0 {
            bail!(
                "expected at least one run, read and connect, found --runs {} --reads {} \
                 --connects {}",
                self.runs,
                self.reads,
                self.connects
            );
        }
        Ok(())
    }
}

/// One figure of a comparison: what is timed, and the target it has.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Its name in the table, such as `connect`.
    pub name: String,
    /// The target on loopback, in milliseconds; `None` for a
    /// figure shown for context only.
    pub target_ms: Option<f64>,
}

/// One run of one side: every timed duration of each figure, in
/// milliseconds, in the order of the figures.
#[derive(Debug, Default)]
pub struct RunDurations(pub Vec<Vec<f64>>);

/// Runs of both sides, in the order they were made.
#[derive(Debug, Default)]
pub struct Runs {
    /// Flowline's runs.
    pub flowline: Vec<RunDurations>,
    /// The peer's runs.
    pub peer: Vec<RunDurations>,
}

/// One run of one side, still to be awaited.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<RunDurations>> + Send + 'a>>;

/// Makes `runs` runs of each side; who goes first alternates from run to
/// run, so that drift in the machine's load favours neither. The first
/// failure of either side ends the comparison.
pub async fn alternate<'a>(
    benchmark: &str,
    runs: usize,
    mut flowline: impl FnMut() -> RunFuture<'a>,
    mut peer: impl FnMut() -> RunFuture<'a>,
) -> anyhow::Result<Runs> {
    let mut made = Runs::default();
    for run in 0..runs {
        if run % 2 == 0 {
            made.flowline.push(flowline().await?);
            made.peer.push(peer().await?);
        } else {
            made.peer.push(peer().await?);
            made.flowline.push(flowline().await?);
        }
        events::run_finished(benchmark, run + 1, runs);
    }
    Ok(made)
}

/// The table: the median and the 99th percentile of each figure within a
/// run, as the median and range over the runs.
pub fn report(peer: &str, figures: &[Figure], runs: &Runs) -> Report {
    let mut rows = Vec::new();
    for (index, figure) in figures.iter().enumerate() {
        for (statistic, of_run) in [
            ("median", median as fn(&[f64]) -> f64),
            ("99th percentile", |values: &[f64]| percentile(values, 0.99)),
        ] {
            let spread = |side: &[RunDurations]| {
                let per_run: Vec<f64> = side.iter().map(|run| of_run(&run.0[index])).collect();
                Spread::of(&per_run)
            };
            rows.push(Row {
                figure: format!("{}, {statistic}", figure.name),
                flowline: spread(&runs.flowline),
                peer: Some(spread(&runs.peer)),
                unit: Unit::Milliseconds,
            });
        }
    }
    Report {
        peer: peer.to_owned(),
        rows,
    }
}

/// The floor, each figure's target and the peer, against the medians of
/// the figures that have a target.
pub fn verdicts(report: &Report, figures: &[Figure]) -> String {
    let targeted: Vec<(&str, &Row, f64)> = figures
        .iter()
        .filter_map(|figure| {
            let target = figure.target_ms?;
            let name = format!("{}, median", figure.name);
            let row = report
                .rows
                .iter()
                .find(|row| row.figure == name)
                .expect("bug: the report has a row for every figure");
            Some((figure.name.as_str(), row, target))
        })
        .collect();
    let verdict = |met: bool| if met { "met" } else { "NOT met" };

    let floor = targeted
        .iter()
        .all(|(_, row, _)| row.flowline.median <= FLOOR_MS);
    let mut text = format!(
        "floor: connect <= 2 s and read <= 2 s: {}\n",
        verdict(floor)
    );
    for (name, row, target) in &targeted {
        text.push_str(&format!(
            "target: {name} <= {target} ms: {}\n",
            verdict(row.flowline.median <= *target)
        ));
    }
    for (_, row, _) in &targeted {
        let peer = row.peer.expect("bug: every latency row has the peer");
        text.push_str(&format!(
            "target: {} no slower than {}: {} (ratio {:.2})\n",
            row.figure,
            report.peer,
            verdict(row.flowline.median <= peer.median),
            row.flowline.median / peer.median
        ));
    }
    text
}

/// Refuses a read that did not give one good sample with a value per
/// point: timing failures would be meaningless.
pub fn check_samples(figure: &str, points: usize, samples: &[Sample]) -> anyhow::Result<()> {
    if samples.len() != points {
        bail!(
            "{figure}: expected {points} samples, the read gave {}",
            samples.len()
        );
    }
    let bad = samples
        .iter()
        .find(|sample| !sample.quality.is_good() || sample.value.is_missing());
    if let Some(bad) = bad {
        bail!(
            "{figure}: expected a good value for every tag, tag {} read {} with quality {}",
            bad.tag.0,
            bad.value,
            bad.quality
        );
    }
    Ok(())
}

/// A duration in milliseconds.
pub fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(name: &str, target_ms: Option<f64>) -> Figure {
        Figure {
            name: name.to_owned(),
            target_ms,
        }
    }

    #[test]
    fn each_targeted_figure_is_judged_against_its_target_and_the_peer() {
        let figures = [
            figure("connect", Some(CONNECT_TARGET_MS)),
            figure("read 100 input registers", None),
            figure("read 100 tags", Some(READ_TARGET_MS)),
        ];
        let run = |connect: f64, read: f64| {
            RunDurations(vec![vec![connect, connect], vec![0.1], vec![read]])
        };
        let runs = Runs {
            flowline: vec![run(12.0, 0.2), run(11.0, 0.3), run(13.0, 0.1)],
            peer: vec![run(20.0, 0.1), run(24.0, 0.1), run(22.0, 0.1)],
        };
        let report = report("asyncua", &figures, &runs);
        assert_eq!(report.rows.len(), 6);
        assert_eq!(report.rows[0].figure, "connect, median");
        assert_eq!(report.rows[0].flowline.median, 12.0);

        assert_eq!(
            verdicts(&report, &figures),
            "floor: connect <= 2 s and read <= 2 s: met\n\
             target: connect <= 10 ms: NOT met\n\
             target: read 100 tags <= 5 ms: met\n\
             target: connect, median no slower than asyncua: met (ratio 0.55)\n\
             target: read 100 tags, median no slower than asyncua: NOT met (ratio 2.00)\n"
        );
    }
}
