//! Medians and spreads of runs, and the table every benchmark prints:
//! figure, Flowline, peer, ratio, as `bench/README.md` records them.

/// The median of `values`: the mean of the middle two for an even count.
/// Panics on an empty slice, which is a bug of the caller.
pub fn median(values: &[f64]) -> f64 {
    let sorted = sorted(values);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// The smallest value that at least `fraction` (0 to 1) of `values` do
/// not exceed (the nearest-rank percentile).
pub fn percentile(values: &[f64], fraction: f64) -> f64 {
    let sorted = sorted(values);
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(values: &[f64]) -> Vec<f64> {
    assert!(!values.is_empty(), "bug: statistics of no values");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// A figure measured in several runs: the median of the runs and the
/// lowest and highest run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median run.
    pub median: f64,
    /// The lowest run.
    pub low: f64,
    /// The highest run.
    pub high: f64,
}

impl Spread {
    /// The spread of one figure per run.
    pub fn of(runs: &[f64]) -> Spread {
        let sorted = sorted(runs);
        Spread {
            median: median(&sorted),
            low: sorted[0],
            high: sorted[sorted.len() - 1],
        }
    }
}

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A duration, given in milliseconds.
    Milliseconds,
    /// A rate, per second.
    PerSecond,
    /// CPU used, in cores (CPU seconds per wall-clock second).
    Cores,
}

impl Unit {
    /// `value` with its unit.
    fn show(self, value: f64) -> String {
        match self {
            Unit::Milliseconds => format!("{value:.3} ms"),
            Unit::PerSecond => format!("{}/s", thousands(value)),
            Unit::Cores => format!("{value:.3} cores"),
        }
    }

    /// `spread` as `median (low–high)`.
    fn show_spread(self, spread: Spread) -> String {
        let range = match self {
            Unit::Milliseconds => format!("{:.3}–{:.3}", spread.low, spread.high),
            Unit::PerSecond => format!("{}–{}", thousands(spread.low), thousands(spread.high)),
            Unit::Cores => format!("{:.3}–{:.3}", spread.low, spread.high),
        };
        format!("{} ({range})", self.show(spread.median))
    }
}

/// `value` rounded to a whole number, with commas between thousands.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// One row: a figure for Flowline and, where the peer has one, the peer.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// Flowline's runs.
    pub flowline: Spread,
    /// The peer's runs, if the peer has this figure.
    pub peer: Option<Spread>,
    /// How the figure is shown.
    pub unit: Unit,
}

/// A benchmark's table, rendered as Markdown.
#[derive(Debug, Clone)]
pub struct Table {
    /// The peer's name, for its column.
    pub peer: String,
    /// The rows, in order.
    pub rows: Vec<Row>,
}

impl Table {
    /// The table as Markdown, one line per row; the ratio is Flowline's
    /// median over the peer's.
    pub fn render(&self) -> String {
        let mut text = format!(
            "| figure | Flowline: median (min–max) | {}: median (min–max) | ratio Flowline ÷ {} |\n\
             | --- | --- | --- | --- |\n",
            self.peer, self.peer
        );
        for row in &self.rows {
            let (peer, ratio) = match row.peer {
                Some(peer) => (
                    row.unit.show_spread(peer),
                    format!("{:.2}", row.flowline.median / peer.median),
                ),
                None => ("–".to_owned(), "–".to_owned()),
            };
            let flowline = row.unit.show_spread(row.flowline);
            text.push_str(&format!(
                "| {} | {flowline} | {peer} | {ratio} |\n",
                row.figure
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn the_99th_percentile_of_a_hundred_values_is_the_99th_smallest() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 1.0), 100.0);
    }

    #[test]
    fn a_row_shows_median_and_range_of_both_sides_and_their_ratio() {
        let table = Table {
            peer: "pymodbus".to_owned(),
            rows: vec![
                Row {
                    figure: "read 100 tags".to_owned(),
                    flowline: Spread::of(&[0.2, 0.1, 0.3]),
                    peer: Some(Spread::of(&[0.4, 0.5, 0.6])),
                    unit: Unit::Milliseconds,
                },
                Row {
                    figure: "tags polled".to_owned(),
                    flowline: Spread::of(&[50_800.0, 1_234_567.0, 990.0]),
                    peer: None,
                    unit: Unit::PerSecond,
                },
            ],
        };
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "| read 100 tags | 0.200 ms (0.100–0.300) | 0.500 ms (0.400–0.600) | 0.40 |"
        );
        assert_eq!(
            lines[3],
            "| tags polled | 50,800/s (990–1,234,567) | – | – |"
        );
    }
}
