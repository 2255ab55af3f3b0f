//! The peers' own clients, run by the scripts of `bench/peers` from
//! `.venv` ([`PeerScript`]); for Modbus, pymodbus's client reading exactly
//! the requests the Flowline connector plans and decoding every point, as
//! the connector does into samples.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flowline_catalog::modbus::WordOrder;
use flowline_edge::modbus::PollGroup;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One read request as the peer script takes it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRead {
    /// Unit id.
    unit: u8,
    /// `input`, `holding`, `coil` or `discrete`.
    table: &'static str,
    /// First address.
    start: u16,
    /// Registers or bits.
    count: u16,
    /// The points to decode from the answer.
    points: Vec<PeerPoint>,
}

/// One point in a read's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerPoint {
    /// Its first register or bit, counted from the read's start.
    offset: u16,
    /// Its value type, as in addresses (`f32`, `u16`, `bool`, …).
    #[serde(rename = "type")]
    value_type: &'static str,
}

/// The requests of `group` for the peer. Only what the peer decodes the
/// same way is accepted: big-endian word order, no scaling.
pub fn reads_of(group: &PollGroup) -> anyhow::Result<Vec<PeerRead>> {
    let mut reads = Vec::with_capacity(group.reads.len());
    for read in &group.reads {
        let mut points = Vec::with_capacity(read.points.len());
        for &index in &read.points {
            let address = &group.points[index].address;
            if address.order != WordOrder::Abcd || address.scale != 1.0 || address.offset != 0.0 {
                bail!("the peer decodes big-endian unscaled values only, not {address}");
            }
            points.push(PeerPoint {
                offset: address.address - read.start,
                value_type: address.value_type.name(),
            });
        }
        reads.push(PeerRead {
            unit: read.unit,
            table: read.table.name(),
            start: read.start,
            count: read.count,
            points,
        });
    }
    Ok(reads)
}

/// A peer's own client, run by a script of `bench/peers` with the Python
/// of `.venv`: one job in, one line of JSON out.
#[derive(Debug, Clone)]
pub struct PeerScript {
    /// The peer's name, for errors: `pymodbus`, `asyncua`.
    client: &'static str,
    /// `.venv/bin/python`.
    python: PathBuf,
    /// The script under `bench/peers`.
    script: PathBuf,
}

impl PeerScript {
    /// The peer `client` run by `python` from `script`; both must exist.
    pub fn new(client: &'static str, python: &Path, script: &Path) -> anyhow::Result<PeerScript> {
        for (what, path) in [("python", python), ("peer script", script)] {
            if !path.exists() {
                bail!(
                    "{what} {} is missing: run scripts/python-env to install the Python peers",
                    path.display()
                );
            }
        }
        Ok(PeerScript {
            client,
            python: python.to_owned(),
            script: script.to_owned(),
        })
    }

    /// Runs one job of the script: `job` is written to a file the script
    /// reads; the script's one line of JSON is the answer.
    pub async fn run<T: DeserializeOwned>(&self, job: &serde_json::Value) -> anyhow::Result<T> {
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(&serde_json::to_vec(job)?)?;
        file.flush()?;
        let output = tokio::process::Command::new(&self.python)
            .arg(&self.script)
            .arg(file.path())
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.python.display()))?;
        if !output.status.success() {
            bail!(
                "the {} client failed ({}): {}",
                self.client,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "expected one JSON object from the {} client, found {:?}",
                self.client,
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

/// pymodbus's client, `bench/peers/pymodbus_client.py`.
#[derive(Debug, Clone)]
pub struct Pymodbus(PeerScript);

impl Pymodbus {
    /// The peer run by `python` from `script`; both must exist.
    pub fn new(python: &Path, script: &Path) -> anyhow::Result<Pymodbus> {
        PeerScript::new("pymodbus", python, script).map(Pymodbus)
    }

    /// Runs one job of the script against `server`: `job` merged with the
    /// server's address.
    pub async fn run<T: DeserializeOwned>(
        &self,
        server: SocketAddr,
        mut job: serde_json::Value,
    ) -> anyhow::Result<T> {
        job["host"] = server.ip().to_string().into();
        job["port"] = server.port().into();
        self.0.run(&job).await
    }
}
