//! CPU time a process has used, from `/proc/PID/stat`: user plus system
//! time over all its threads, in the kernel's clock ticks (10 ms on most
//! machines), so a window of a few seconds measures it to a percent.

use anyhow::{Context, bail};

/// The `/proc/PID/stat` fields after the command name: `utime` is field
/// 14 of the file, so index 11 of what follows the closing parenthesis.
const UTIME_INDEX: usize = 11;
/// `stime`, field 15 of the file.
const STIME_INDEX: usize = 12;
/// Clock ticks per second if `getconf` cannot say.
const DEFAULT_TICKS_PER_SECOND: f64 = 100.0;

/// Reads processes' CPU time.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    /// The kernel's clock ticks per second (`getconf CLK_TCK`).
    ticks_per_second: f64,
}

impl CpuClock {
    /// A clock that knows this machine's tick length.
    pub fn new() -> CpuClock {
        let ticks_per_second = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(DEFAULT_TICKS_PER_SECOND);
        CpuClock { ticks_per_second }
    }

    /// Seconds of CPU the process `pid` has used since it started.
    pub fn seconds(&self, pid: u32) -> anyhow::Result<f64> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let Some((_, fields)) = text.rsplit_once(')') else {
            bail!("{path}: expected `PID (NAME) FIELDS`, found {text:?}");
        };
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let tick = |index: usize| -> anyhow::Result<f64> {
            let field = fields
                .get(index)
                .with_context(|| format!("{path}: expected at least {} fields", STIME_INDEX + 3))?;
            Ok(field.parse::<u64>()? as f64)
        };
        Ok((tick(UTIME_INDEX)? + tick(STIME_INDEX)?) / self.ticks_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_loop_shows_up_as_cpu_time_of_this_process() {
        // The machine is shared, so spin until the kernel has counted a
        // fifth of a second, and fail only if that never happens.
        let clock = CpuClock::new();
        let pid = std::process::id();
        let before = clock.seconds(pid).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut spin = 0_u64;
        while clock.seconds(pid).unwrap() - before < 0.2 {
            for _ in 0..1_000_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
        }
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error_naming_its_file() {
        let error = CpuClock::new().seconds(u32::MAX).unwrap_err().to_string();
        assert!(error.contains("/proc/4294967295/stat"), "{error}");
    }
}
