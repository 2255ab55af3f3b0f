//! The gateway's Modbus connector against a server nobody here wrote:
//! pymodbus, from the .venv that `scripts/python-env` makes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flowline_catalog::modbus::Point;
use flowline_catalog::{Asset, AssetSpec, Protocol, Snapshot, SourceBinding, Tag, TagSpec};
use flowline_core::{AssetId, AssetKind, DataType, NodePath, Quality, Sample, TagId, Value};
use flowline_edge::{ChannelPublisher, Gateway, GatewayConfig, ModbusEndpoint, TagWriteError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The longest a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

/// A pymodbus server serving the values listed in `peers/modbus_server.py`.
struct PymodbusServer {
    child: Child,
}

impl PymodbusServer {
    fn start(port: u16) -> PymodbusServer {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
        assert!(
            std::path::Path::new(python).exists(),
            "{python} is missing: run scripts/python-env to install the Python peers"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/modbus_server.py");
        let mut child = Command::new(python)
            .args([script, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the pymodbus server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("ready"),
            "the pymodbus server did not start"
        );
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        PymodbusServer { child }
    }
}

impl Drop for PymodbusServer {
    fn drop(&mut self) {
        // Closing standard input asks it to stop; kill it if it lingers.
        drop(self.child.stdin.take().map(|mut stdin| stdin.flush()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A catalog snapshot with one tag per (name, Modbus address), under one
/// well, and the gateway's points for them.
fn catalog(tags: &[(&str, &str)]) -> (Snapshot, Vec<Point>) {
    let asset = |id: u32, path: &str, kind: AssetKind| Asset {
        id: AssetId(id),
        version: 1,
        spec: AssetSpec {
            path: NodePath::parse(path).unwrap(),
            kind,
            description: String::new(),
            attributes: Default::default(),
        },
    };
    let assets = vec![
        asset(1, "north", AssetKind::Field),
        asset(2, "north/pad-1", AssetKind::Pad),
        asset(3, "north/pad-1/w-01", AssetKind::Well),
    ];
    let mut snapshot_tags = Vec::new();
    let mut points = Vec::new();
    for (index, (name, address)) in tags.iter().enumerate() {
        let path = NodePath::parse(&format!("north/pad-1/w-01/{name}")).unwrap();
        let parsed: flowline_catalog::modbus::ModbusAddress = address.parse().unwrap();
        let mut spec = TagSpec::new(path.clone());
        if parsed.table.is_bits() {
            spec.data_type = DataType::Boolean;
        }
        spec.source = Some(SourceBinding {
            protocol: Protocol::Modbus,
            address: (*address).to_owned(),
        });
        spec.writable = parsed.table.is_writable();
        snapshot_tags.push(Tag {
            id: TagId(index as u32 + 1),
            version: 1,
            spec,
        });
        points.push(Point {
            path,
            address: parsed,
            group: "default".to_owned(),
            line: None,
        });
    }
    (Snapshot::build(1, assets, snapshot_tags), points)
}

fn config(port: u16) -> GatewayConfig {
    GatewayConfig {
        modbus: vec![ModbusEndpoint {
            name: "pymodbus".to_owned(),
            address: format!("127.0.0.1:{port}"),
            units: Vec::new(),
        }],
        poll_groups: [("default".to_owned(), 100)].into(),
        request_timeout_ms: 500,
        connect_timeout_ms: 500,
        reconnect_max_ms: 200,
        ..GatewayConfig::default()
    }
}

/// A started gateway and the batches it publishes.
struct Running {
    gateway: Gateway,
    batches: mpsc::Receiver<Vec<Sample>>,
    shutdown: CancellationToken,
    snapshot: Snapshot,
}

impl Running {
    fn start(port: u16, tags: &[(&str, &str)]) -> Running {
        let (snapshot, points) = catalog(tags);
        let plan = flowline_edge::plan(&config(port), &snapshot, &points).unwrap();
        let (publisher, batches) = ChannelPublisher::new(64);
        let shutdown = CancellationToken::new();
        let gateway = Gateway::start(
            plan,
            config(port).timings(),
            Arc::new(publisher),
            shutdown.clone(),
        );
        Running {
            gateway,
            batches,
            shutdown,
            snapshot,
        }
    }

    fn tag(&self, name: &str) -> TagId {
        self.snapshot
            .tag_by_path(&format!("north/pad-1/w-01/{name}"))
            .unwrap()
            .tag
            .id
    }

    /// The next batch in which every sample satisfies `wanted`.
    async fn batch_where(&mut self, wanted: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let batch = self
                    .batches
                    .recv()
                    .await
                    .expect("the gateway stopped publishing");
                if wanted(&batch) {
                    return batch;
                }
            }
        })
        .await
        .expect("no batch as expected arrived in time")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.gateway.stopped().await;
    }
}

fn value_of(batch: &[Sample], tag: TagId) -> &Sample {
    batch
        .iter()
        .find(|sample| sample.tag == tag)
        .expect("a sample for every point")
}

#[tokio::test]
async fn every_type_and_word_order_reads_as_the_server_holds_it() {
    let port = free_port();
    let _server = PymodbusServer::start(port);
    let tags = [
        ("level", "holding=0;type=f32"),
        ("swapped", "holding=2;type=f32;order=cdab"),
        ("count", "input=0;type=i16"),
        ("total", "input=1;type=u32"),
        ("pump-a", "coil=0"),
        ("pump-b", "coil=1"),
        ("pump-c", "coil=2"),
        ("alarm", "discrete=1"),
    ];
    let mut running = Running::start(port, &tags);
    let batch = running
        .batch_where(|batch| batch.iter().all(|sample| sample.quality.is_good()))
        .await;
    assert_eq!(batch.len(), tags.len());
    let expected = [
        ("level", Value::Float(10.5)),
        ("swapped", Value::Float(-3.25)),
        ("count", Value::Integer(-7)),
        ("total", Value::Integer(70_000)),
        ("pump-a", Value::Boolean(true)),
        ("pump-b", Value::Boolean(false)),
        ("pump-c", Value::Boolean(true)),
        ("alarm", Value::Boolean(true)),
    ];
    for (name, value) in expected {
        let sample = value_of(&batch, running.tag(name));
        assert_eq!(sample.value, value, "{name}");
        assert!(sample.received >= sample.time);
    }
    running.stop().await;
}

#[tokio::test]
async fn what_cannot_be_read_is_missing_with_the_reason_never_zero() {
    let port = free_port();
    let _server = PymodbusServer::start(port);
    let tags = [
        ("good", "holding=10"),
        ("nan", "input=3;type=f32"),
        ("unmapped", "holding=20"),
        ("other-unit", "unit=7;holding=0"),
    ];
    let mut running = Running::start(port, &tags);
    let batch = running.batch_where(|batch| batch.len() == 4).await;
    assert_eq!(
        value_of(&batch, running.tag("good")).value,
        Value::Integer(4242)
    );
    for (name, quality) in [
        ("nan", Quality::BAD_SENSOR_FAILURE),
        ("unmapped", Quality::BAD_CONFIGURATION_ERROR),
        ("other-unit", Quality::BAD_DEVICE_FAILURE),
    ] {
        let sample = value_of(&batch, running.tag(name));
        assert!(sample.value.is_missing(), "{name}: {:?}", sample.value);
        assert_eq!(sample.quality, quality, "{name}");
    }
    running.stop().await;
}

#[tokio::test]
async fn an_outage_gives_bad_samples_and_polling_resumes_when_the_server_returns() {
    let port = free_port();
    let server = PymodbusServer::start(port);
    let mut running = Running::start(port, &[("level", "holding=0;type=f32")]);
    running
        .batch_where(|batch| batch[0].quality.is_good())
        .await;

    drop(server);
    let down = running.batch_where(|batch| batch[0].quality.is_bad()).await;
    assert_eq!(down[0].quality, Quality::BAD_COMMUNICATION_ERROR);
    assert!(down[0].value.is_missing());

    let _server = PymodbusServer::start(port);
    let back = running
        .batch_where(|batch| batch[0].quality.is_good())
        .await;
    assert_eq!(back[0].value, Value::Float(10.5));
    running.stop().await;
}

#[tokio::test]
async fn a_device_that_never_answered_is_reported_as_never_connected() {
    let port = free_port();
    let mut running = Running::start(port, &[("level", "holding=0;type=f32")]);
    let batch = running.batch_where(|_| true).await;
    assert_eq!(batch[0].quality, Quality::BAD_NO_COMMUNICATION);
    running.stop().await;
}

#[tokio::test]
async fn writes_are_read_back_and_bad_writes_refused() {
    let port = free_port();
    let _server = PymodbusServer::start(port);
    let tags = [
        ("setpoint", "holding=10"),
        ("count", "input=0;type=i16"),
        ("pump", "coil=1"),
    ];
    let mut running = Running::start(port, &tags);
    running
        .batch_where(|batch| batch.iter().all(|sample| sample.quality.is_good()))
        .await;

    let setpoint = running.tag("setpoint");
    let back = running
        .gateway
        .write(setpoint, Value::Integer(777))
        .await
        .unwrap();
    assert_eq!(back, Value::Integer(777));
    let after = running
        .batch_where(|batch| value_of(batch, setpoint).value == Value::Integer(777))
        .await;
    assert!(value_of(&after, setpoint).quality.is_good());
    let pump = running.tag("pump");
    assert_eq!(
        running
            .gateway
            .write(pump, Value::Boolean(true))
            .await
            .unwrap(),
        Value::Boolean(true)
    );

    let read_only = running
        .gateway
        .write(running.tag("count"), Value::Integer(1))
        .await
        .unwrap_err();
    assert_eq!(
        read_only.to_string(),
        "cannot write at unit=1;input=0;type=i16: the table is read-only"
    );
    let too_big = running
        .gateway
        .write(setpoint, Value::Integer(70_000))
        .await
        .unwrap_err();
    assert!(matches!(too_big, TagWriteError::Device(_)), "{too_big}");
    assert!(
        too_big.to_string().contains("outside 0 to 65535"),
        "{too_big}"
    );
    let unknown = running
        .gateway
        .write(TagId(999), Value::Integer(1))
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "tag 999 is not served by this gateway");
    running.stop().await;
}
