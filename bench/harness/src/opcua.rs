//! Connect time and the time to read 100 tags over OPC UA: the gateway's
//! OPC UA client (an [`OpcUaConnector`] reconnecting as a device task does,
//! and reads decoded into samples) against asyncua's own client, reading the same nodes from the same
//! simulator, run after run in one go, without security and anonymous,
//! and over Basic256Sha256 SignAndEncrypt with a user name and password.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use flowline_catalog::{Document, demo_field};
use flowline_core::{DataType, TagId};
use flowline_edge::opcua::{
    ConnectError, Identity, NodeAddress, OpcUaConnector, OpcUaEndpoint, OpcUaPoint, SecurityMode,
    SecurityPolicy,
};
use flowline_sim::NAMESPACE_URI;
use serde::Deserialize;
use serde_json::json;

use crate::peer::PeerScript;
use crate::sim::{OPCUA_USER, SimProcess};
use crate::targets::{
    CONNECT_TARGET_MS, Figure, LatencyArgs, READ_TARGET_MS, RunDurations, alternate, check_samples,
    milliseconds, report, verdicts,
};

/// The password of the simulator's one user. A throwaway server on
/// loopback, for the length of one benchmark: nothing to keep secret.
const PASSWORD: &str = "bench-choke-and-valve";
/// The name the gateway's client gives the simulator in its errors.
const ENDPOINT_NAME: &str = "simulator";

/// How a client reaches the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// The endpoint without security, as an anonymous user.
    None,
    /// The Basic256Sha256 SignAndEncrypt endpoint, as [`OPCUA_USER`].
    Encrypted,
}

impl Security {
    /// Both settings, in the order of the table.
    const ALL: [Security; 2] = [Security::None, Security::Encrypted];

    /// The setting as the table names it.
    fn name(self) -> &'static str {
        match self {
            Security::None => "None, anonymous",
            Security::Encrypted => "Basic256Sha256 SignAndEncrypt, user",
        }
    }

    /// The gateway's settings for the server at `url`, with its PKI
    /// directory in `pki` and the password in `password_file`. The
    /// simulator's self-signed certificate is trusted on first use.
    fn endpoint(self, url: &str, pki: &Path, password_file: &Path) -> OpcUaEndpoint {
        let open = OpcUaEndpoint {
            pki_dir: pki.to_owned(),
            trust_unknown_servers: true,
            ..OpcUaEndpoint::new(ENDPOINT_NAME, url)
        };
        match self {
            Security::None => open,
            Security::Encrypted => OpcUaEndpoint {
                security_policy: SecurityPolicy::Basic256Sha256,
                security_mode: SecurityMode::SignAndEncrypt,
                identity: Identity::Username {
                    user: OPCUA_USER.to_owned(),
                    password_file: Some(password_file.to_owned()),
                    password_env: None,
                },
                ..open
            },
        }
    }

    /// The setting as the peer script takes it; its certificate and key
    /// are kept in `dir`.
    fn peer_job(self, dir: &Path) -> serde_json::Value {
        match self {
            Security::None => json!({"policy": "none"}),
            Security::Encrypted => json!({
                "policy": "basic256sha256", "user": OPCUA_USER, "password": PASSWORD,
                "cert": dir.join("client.der"), "key": dir.join("client.pem"),
            }),
        }
    }
}

/// Where both sides keep their files for the length of the benchmark.
struct Files {
    /// The directory, removed when dropped.
    dir: tempfile::TempDir,
    /// The user's password, read by the simulator and the gateway's client.
    password: PathBuf,
}

impl Files {
    /// A fresh directory holding the password file.
    fn new() -> anyhow::Result<Files> {
        let dir = tempfile::tempdir().context("cannot make a directory for the benchmark")?;
        let password = dir.path().join("bench.password");
        std::fs::write(&password, PASSWORD)
            .with_context(|| format!("cannot write {}", password.display()))?;
        Ok(Files { dir, password })
    }

    /// The gateway client's PKI directory.
    fn flowline_pki(&self) -> PathBuf {
        self.dir.path().join("flowline-pki")
    }

    /// Where the peer keeps its certificate and key.
    fn peer_dir(&self) -> PathBuf {
        self.dir.path().join("asyncua")
    }
}

/// What the peer script prints: per security setting, in the order they
/// were asked for, each timed duration in microseconds.
#[derive(Debug, Deserialize)]
struct PeerLatency {
    /// Each timed connect.
    connect_us: Vec<Vec<f64>>,
    /// Each timed read of every node.
    read_us: Vec<Vec<f64>>,
}

/// Runs the comparison and prints its table.
pub async fn compare(args: LatencyArgs) -> anyhow::Result<()> {
    args.check()?;
    let peer = PeerScript::new("asyncua", &args.python, &args.peer_script)?;
    let document = demo_field(args.field.layout());
    let tags = first_tags(&document, args.tags)?;
    let files = Files::new()?;
    let sim = SimProcess::start_with_opcua(&args.field, &files.password)?;
    let url = sim
        .opcua_url
        .clone()
        .context("bug: a simulator started with OPC UA has its URL")?;

    let runs = alternate(
        "opcua latency",
        args.runs,
        || Box::pin(flowline_run(&url, &files, &tags, &args)),
        || Box::pin(peer_run(&peer, &url, &files, &tags, &args)),
    )
    .await?;
    drop(sim);

    let figures = figures(args.tags);
    let report = report("asyncua", &figures, &runs);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", describe(&args, &document, &tags, &url))?;
    writeln!(stdout, "{}", report.render())?;
    writeln!(stdout, "{}", verdicts(&report, &figures))?;
    Ok(())
}

/// The paths of the first `count` tags of `document`, in catalog order;
/// an error if it has fewer.
fn first_tags(document: &Document, count: usize) -> anyhow::Result<Vec<String>> {
    if document.tags.len() < count {
        bail!(
            "expected at least {count} tags in the field, found {}; make the field larger",
            document.tags.len()
        );
    }
    Ok(document.tags[..count]
        .iter()
        .map(|entry| entry.spec.path.as_str().to_owned())
        .collect())
}

/// The figures, in the order of each run's durations: the connects of
/// each security setting, then the reads.
fn figures(tags: usize) -> Vec<Figure> {
    let connects = Security::ALL.map(|security| Figure {
        name: format!("connect ({})", security.name()),
        target_ms: Some(CONNECT_TARGET_MS),
    });
    let reads = Security::ALL.map(|security| Figure {
        name: format!("read {tags} tags ({})", security.name()),
        target_ms: Some(READ_TARGET_MS),
    });
    connects.into_iter().chain(reads).collect()
}

/// The gateway's points for `tags`: each one's node in the simulator's
/// namespace, its tag id its position from 1.
fn points(tags: &[String]) -> anyhow::Result<Vec<OpcUaPoint>> {
    tags.iter()
        .zip(1..)
        .map(|(path, id)| {
            let node: NodeAddress = format!("nsu={NAMESPACE_URI};s={path}").parse()?;
            Ok(OpcUaPoint {
                tag: TagId(id),
                node,
                deadband: None,
            })
        })
        .collect()
}

/// One run of the gateway's client: for each security setting, connects
/// of one connector (each session closed before the next, untimed; the
/// first, untimed, also asks the server for its endpoints), then reads of
/// every point over one session.
async fn flowline_run(
    url: &str,
    files: &Files,
    tags: &[String],
    args: &LatencyArgs,
) -> anyhow::Result<RunDurations> {
    let points = points(tags)?;
    let mut connects = Vec::new();
    let mut reads = Vec::new();
    for security in Security::ALL {
        let endpoint = security.endpoint(url, &files.flowline_pki(), &files.password);
        let mut connector = OpcUaConnector::new(endpoint);
        let failed = |error: ConnectError| anyhow!("{}: {error}", security.name());

        let mut timed = Vec::with_capacity(args.connects);
        for index in 0..args.warmup + args.connects {
            let started = Instant::now();
            let session = connector.connect().await.map_err(failed)?;
            let took = started.elapsed();
            session.close().await;
            if index >= args.warmup {
                timed.push(milliseconds(took));
            }
        }
        connects.push(timed);

        let figure = format!("read {} tags ({})", tags.len(), security.name());
        let session = connector.connect().await.map_err(failed)?;
        let mut timed = Vec::with_capacity(args.reads);
        for index in 0..args.warmup + args.reads {
            let started = Instant::now();
            let samples = session.read(&points).await;
            let took = started.elapsed();
            check_samples(&figure, points.len(), &samples)?;
            if index >= args.warmup {
                timed.push(milliseconds(took));
            }
        }
        session.close().await;
        reads.push(timed);
    }
    connects.append(&mut reads);
    Ok(RunDurations(connects))
}

/// One run of asyncua's client over the same nodes, in the same order.
async fn peer_run(
    peer: &PeerScript,
    url: &str,
    files: &Files,
    tags: &[String],
    args: &LatencyArgs,
) -> anyhow::Result<RunDurations> {
    let peer_dir = files.peer_dir();
    let securities: Vec<serde_json::Value> = Security::ALL
        .iter()
        .map(|security| security.peer_job(&peer_dir))
        .collect();
    let job = json!({
        "url": url,
        "namespace": NAMESPACE_URI,
        "nodes": tags,
        "securities": securities,
        "connects": args.connects,
        "reads": args.reads,
        "warmup": args.warmup,
    });
    let answer: PeerLatency = peer.run(&job).await?;
    if answer.connect_us.len() != Security::ALL.len() || answer.read_us.len() != Security::ALL.len()
    {
        bail!(
            "expected the asyncua client to time {} security settings, found {} connect and {} \
             read series",
            Security::ALL.len(),
            answer.connect_us.len(),
            answer.read_us.len()
        );
    }
    let to_ms = |micros: Vec<f64>| micros.into_iter().map(|us| us / 1_000.0).collect();
    let series = answer.connect_us.into_iter().chain(answer.read_us);
    Ok(RunDurations(series.map(to_ms).collect()))
}

/// What was read, for the record.
fn describe(args: &LatencyArgs, document: &Document, tags: &[String], url: &str) -> String {
    let mut doubles = 0;
    let mut booleans = 0;
    for entry in document.tags.iter().take(tags.len()) {
        match entry.spec.data_type {
            DataType::Boolean => booleans += 1,
            _ => doubles += 1,
        }
    }
    format!(
        "input: demo field of {} pads x {} wells ({} tags), stepped every {} ms by \
         flowline-sim, served over OPC UA at {url}; {} runs per side, each {} connects and {} \
         reads per security setting after {} untimed\n\
         read {} tags: one Read request for the Value attribute of the field's first {} \
         variables ({doubles} Double, {booleans} Boolean; {} to {}), source timestamps",
        args.field.pads,
        args.field.wells_per_pad,
        document.tags.len(),
        args.field.step_interval_ms,
        args.runs,
        args.connects,
        args.reads,
        args.warmup,
        tags.len(),
        tags.len(),
        tags.first().map_or("", String::as_str),
        tags.last().map_or("", String::as_str),
    )
}
