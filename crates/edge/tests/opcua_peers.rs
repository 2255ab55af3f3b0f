//! The gateway's OPC UA connector against a server nobody here wrote:
//! asyncua, from the .venv that `scripts/python-env` makes, serving the
//! address space described in `peers/opcua_server.py`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowline_catalog::{Document, Format, Limits, Protocol};
use flowline_core::Value;
use flowline_core::{AssetKind, DataType, EquipmentKind, Quality, Sample, TagId, Timestamp, Unit};
use flowline_edge::ChannelPublisher;
use flowline_edge::opcua::{
    Acquisition, BrowseError, BrowseOptions, BrowseWarning, ConnectError, Identity, NodeAddress,
    OpcUaConnector, OpcUaDevice, OpcUaEndpoint, OpcUaHandle, OpcUaPoint, OpcUaSession,
    SecurityMode, SecurityPolicy, WriteFailure,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);
/// The namespace of the test server's nodes.
const NAMESPACE: &str = "urn:flowline:test:field";
/// The one user of the secured test server, and its password.
const USER: &str = "operator";
const PASSWORD: &str = "valve-7";

/// An asyncua server, stopped when dropped.
struct AsyncuaServer {
    child: Child,
}

impl AsyncuaServer {
    /// Starts the test server on `port` with the script's `options`.
    fn start(port: u16, options: &[&str]) -> AsyncuaServer {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
        assert!(
            Path::new(python).exists(),
            "{python} is missing: run scripts/python-env to install the Python peers"
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/opcua_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the asyncua server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("ready"),
            "the asyncua server did not start"
        );
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        AsyncuaServer { child }
    }
}

impl Drop for AsyncuaServer {
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

/// An endpoint for the test server on `port`, quick to notice and to
/// retry, with its PKI directory in `pki`.
fn endpoint(port: u16, pki: &Path) -> OpcUaEndpoint {
    OpcUaEndpoint {
        pki_dir: pki.to_path_buf(),
        sampling_interval_ms: 100,
        publishing_interval_ms: 100,
        request_timeout_ms: 2_000,
        reconnect_max_ms: 300,
        ..OpcUaEndpoint::new("asyncua", &format!("opc.tcp://127.0.0.1:{port}"))
    }
}

/// The same endpoint over Basic256Sha256, signed and encrypted, as the
/// test server's user with `password`.
fn secured(port: u16, pki: &Path, password: &str) -> OpcUaEndpoint {
    let password_file = pki.with_extension("password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    OpcUaEndpoint {
        security_policy: SecurityPolicy::Basic256Sha256,
        security_mode: SecurityMode::SignAndEncrypt,
        identity: Identity::Username {
            user: USER.to_owned(),
            password_file: Some(password_file),
            password_env: None,
        },
        ..endpoint(port, pki)
    }
}

/// The node of the test server with string id `id`, by namespace URI.
fn node(id: &str) -> NodeAddress {
    format!("nsu={NAMESPACE};s={id}").parse().unwrap()
}

fn point(tag: u32, address: NodeAddress) -> OpcUaPoint {
    OpcUaPoint {
        tag: TagId(tag),
        node: address,
        deadband: None,
    }
}

/// The points of well W-01, tags numbered from 1 in this order.
fn well_points() -> Vec<OpcUaPoint> {
    let ids = [
        "W-01.TubingPressure",
        "W-01.Temperature",
        "W-01.StrokeCount",
        "W-01.StatusWord",
        "W-01.Running",
        "W-01.Mode",
        "W-01.SensorFault",
        "W-01.LastService",
        "W-01.NoSuchNode",
    ];
    let mut points: Vec<OpcUaPoint> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| point(index as u32 + 1, node(id)))
        .collect();
    points.push(point(
        10,
        format!("nsu={NAMESPACE};i=1001").parse().unwrap(),
    ));
    points.push(point(11, "nsu=urn:elsewhere;s=X".parse().unwrap()));
    points
}

/// A running device task and the samples it published.
struct Running {
    batches: mpsc::Receiver<Vec<Sample>>,
    handle: OpcUaHandle,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Running {
    fn start(endpoint: OpcUaEndpoint, points: Vec<OpcUaPoint>) -> Running {
        let (publisher, batches) = ChannelPublisher::new(256);
        let shutdown = CancellationToken::new();
        let device = OpcUaDevice { endpoint, points };
        let (handle, task) =
            flowline_edge::opcua::spawn(device, Arc::new(publisher), shutdown.clone());
        Running {
            batches,
            handle,
            task,
            shutdown,
        }
    }

    /// The latest sample of every tag, once they satisfy `wanted`.
    async fn until(
        &mut self,
        wanted: impl Fn(&HashMap<TagId, Sample>) -> bool,
    ) -> HashMap<TagId, Sample> {
        let mut latest = HashMap::new();
        tokio::time::timeout(PATIENCE, async {
            while !wanted(&latest) {
                let batch = self
                    .batches
                    .recv()
                    .await
                    .expect("the task stopped publishing");
                for sample in batch {
                    latest.insert(sample.tag, sample);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no samples as expected in time; latest: {latest:?}"));
        latest
    }

    /// Every sample of `tag`, in order, until `count` arrived.
    async fn series(&mut self, tag: TagId, count: usize) -> Vec<Sample> {
        let mut series = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            while series.len() < count {
                let batch = self
                    .batches
                    .recv()
                    .await
                    .expect("the task stopped publishing");
                series.extend(batch.into_iter().filter(|sample| sample.tag == tag));
            }
        })
        .await
        .expect("not enough samples in time");
        series
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// Whether every tag from 1 to `count` has a sample.
fn all_of(count: u32) -> impl Fn(&HashMap<TagId, Sample>) -> bool {
    move |latest| (1..=count).all(|tag| latest.contains_key(&TagId(tag)))
}

/// What the test server serves on W-01, checked in `latest`.
fn assert_the_well(latest: &HashMap<TagId, Sample>) {
    let value = |tag: u32| latest[&TagId(tag)].value.clone();
    assert_eq!(value(1), Value::Float(42.5));
    assert_eq!(value(2), Value::Float(61.25));
    assert_eq!(value(3), Value::Integer(-7));
    assert_eq!(value(4), Value::Integer(513));
    assert_eq!(value(5), Value::Boolean(true));
    assert_eq!(value(6), Value::String("auto".into()));
    assert_eq!(value(10), Value::Float(31.5));
    for tag in [1, 2, 3, 4, 5, 6, 10] {
        assert!(latest[&TagId(tag)].quality.is_good(), "tag {tag}");
    }

    // The server's source timestamp is the sample's time; the receive time
    // is the gateway's.
    let pressure = &latest[&TagId(1)];
    let source: Timestamp = "2024-05-01T06:30:00.250Z".parse().unwrap();
    assert_eq!(pressure.time, source);
    assert!(pressure.received > source);
    assert!(pressure.received.micros_since(Timestamp::now()).abs() < 60_000_000);

    // A Bad status arrives bit for bit, without a value.
    let fault = &latest[&TagId(7)];
    assert!(fault.value.is_missing(), "never a silent zero");
    assert_eq!(fault.quality, Quality::BAD_SENSOR_FAILURE);
    // A value Flowline cannot hold, a node the server does not have, and a
    // namespace it does not have: missing, with why.
    assert_eq!(latest[&TagId(8)].quality, Quality::BAD_TYPE_MISMATCH);
    assert!(latest[&TagId(8)].value.is_missing());
    assert_eq!(latest[&TagId(9)].quality, Quality::BAD_NODE_ID_UNKNOWN);
    assert_eq!(latest[&TagId(11)].quality, Quality::BAD_NODE_ID_UNKNOWN);
}

#[tokio::test]
async fn subscriptions_deliver_values_with_the_source_time_and_the_servers_quality() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let mut running = Running::start(endpoint(port, pki.path()), well_points());
    let latest = running.until(all_of(11)).await;
    assert_the_well(&latest);
    running.stop().await;
}

#[tokio::test]
async fn polling_reads_the_same_values_as_subscribing() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let endpoint = OpcUaEndpoint {
        acquisition: Acquisition::Poll,
        ..endpoint(port, pki.path())
    };
    let mut running = Running::start(endpoint, well_points());
    let latest = running.until(all_of(11)).await;
    assert_the_well(&latest);
    running.stop().await;
}

#[tokio::test]
async fn a_server_that_refuses_subscriptions_is_read_periodically_instead() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &["--no-subscriptions"]);
    let pki = tempfile::tempdir().unwrap();
    let mut running = Running::start(endpoint(port, pki.path()), well_points());
    let latest = running.until(all_of(11)).await;
    assert_the_well(&latest);
    // The ticker counts up every 100 ms; reads see it move.
    let ticker = TagId(20);
    running.stop().await;

    let mut running = Running::start(
        endpoint(port, pki.path()),
        vec![point(ticker.0, node("W-01.Ticker"))],
    );
    let series = running.series(ticker, 4).await;
    let first = series.first().unwrap().value.as_f64().unwrap();
    let last = series.last().unwrap().value.as_f64().unwrap();
    assert!(last > first, "{series:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_deadband_holds_back_changes_smaller_than_the_tags_deadband() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let ticker = OpcUaPoint {
        deadband: Some(2.5),
        ..point(1, node("W-01.Ticker"))
    };
    let mut running = Running::start(endpoint(port, pki.path()), vec![ticker]);
    // The ticker steps by 1 and by 4 in turn: without the deadband every
    // step of 1 would arrive too.
    let series = running.series(TagId(1), 5).await;
    for pair in series.windows(2) {
        let step = pair[1].value.as_f64().unwrap() - pair[0].value.as_f64().unwrap();
        assert!(
            step > 2.5,
            "a change of {step} passed a deadband of 2.5: {series:?}"
        );
        // The ticker stamps each value; the samples carry its stamps.
        assert!(pair[1].time > pair[0].time);
    }
    running.stop().await;
}

#[tokio::test]
async fn a_server_that_stops_gives_bad_samples_and_reading_resumes_when_it_returns() {
    let port = free_port();
    let server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let mut running = Running::start(
        endpoint(port, pki.path()),
        vec![point(1, node("W-01.TubingPressure"))],
    );
    let good = |latest: &HashMap<TagId, Sample>| {
        latest
            .get(&TagId(1))
            .is_some_and(|sample| sample.quality.is_good())
    };
    running.until(good).await;

    drop(server);
    let down = running
        .until(|latest| {
            latest
                .get(&TagId(1))
                .is_some_and(|sample| sample.quality.is_bad())
        })
        .await;
    assert_eq!(down[&TagId(1)].quality, Quality::BAD_COMMUNICATION_ERROR);
    assert!(down[&TagId(1)].value.is_missing());

    let _server = AsyncuaServer::start(port, &[]);
    let back = running.until(good).await;
    assert_eq!(back[&TagId(1)].value, Value::Float(42.5));
    running.stop().await;
}

#[tokio::test]
async fn a_server_never_reached_is_reported_as_no_communication() {
    let port = free_port();
    let pki = tempfile::tempdir().unwrap();
    let mut running = Running::start(
        endpoint(port, pki.path()),
        vec![point(1, node("W-01.TubingPressure"))],
    );
    let latest = running.until(all_of(1)).await;
    assert_eq!(latest[&TagId(1)].quality, Quality::BAD_NO_COMMUNICATION);
    assert!(latest[&TagId(1)].value.is_missing());

    let refused = running
        .handle
        .write(node("W-01.ChokeSetpoint"), Value::Float(1.0))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WriteFailure::NotConnected { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("`asyncua` is not connected"),
        "{refused}"
    );
    running.stop().await;
}

#[tokio::test]
async fn writes_are_read_back_and_a_read_only_node_refuses_with_its_status() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let setpoint = node("W-01.ChokeSetpoint");
    let mut running = Running::start(endpoint(port, pki.path()), vec![point(1, setpoint.clone())]);
    running.until(all_of(1)).await;

    let back = running
        .handle
        .write(setpoint.clone(), Value::Float(47.5))
        .await
        .unwrap();
    assert_eq!(back, Value::Float(47.5));
    // The subscription sees the new value too.
    running
        .until(|latest| {
            latest
                .get(&TagId(1))
                .is_some_and(|s| s.value == Value::Float(47.5))
        })
        .await;
    // An integer is written as the node's Double.
    assert_eq!(
        running
            .handle
            .write(setpoint.clone(), Value::Integer(40))
            .await
            .unwrap(),
        Value::Float(40.0)
    );

    let read_only = running
        .handle
        .write(node("W-01.StrokeCount"), Value::Integer(3))
        .await
        .unwrap_err();
    assert!(
        matches!(read_only, WriteFailure::Refused { .. }),
        "{read_only}"
    );
    let shown = read_only.to_string();
    assert!(shown.contains("W-01.StrokeCount"), "{shown}");
    assert!(shown.contains("BadUserAccessDenied"), "{shown}");

    let out_of_range = running
        .handle
        .write(node("W-01.StatusWord"), Value::Integer(70_000))
        .await
        .unwrap_err();
    assert_eq!(
        out_of_range.to_string(),
        format!(
            "cannot write 70000 to nsu={NAMESPACE};s=W-01.StatusWord on `asyncua`: \
             a UInt16 node takes whole numbers from 0 to 65535, not 70000"
        )
    );
    let wrong_type = running
        .handle
        .write(setpoint, Value::String("open".into()))
        .await
        .unwrap_err();
    assert!(
        wrong_type
            .to_string()
            .contains("a Double node takes numbers"),
        "{wrong_type}"
    );
    running.stop().await;
}

/// A server certificate directory and a client PKI directory.
struct Secured {
    _server: AsyncuaServer,
    server_dir: tempfile::TempDir,
    pki: tempfile::TempDir,
    port: u16,
}

impl Secured {
    fn start(options: &[&str]) -> Secured {
        let port = free_port();
        let server_dir = tempfile::tempdir().unwrap();
        let dir = server_dir.path().to_str().unwrap();
        let mut all = vec!["--secure", dir];
        all.extend_from_slice(options);
        let server = AsyncuaServer::start(port, &all);
        Secured {
            _server: server,
            server_dir,
            pki: tempfile::tempdir().unwrap(),
            port,
        }
    }

    /// Puts the server's certificate in the trust list, under the name an
    /// operator might give it.
    fn trust(&self) {
        let trusted = self.pki.path().join("trusted");
        std::fs::create_dir_all(&trusted).unwrap();
        std::fs::copy(
            self.server_dir.path().join("server.der"),
            trusted.join("field-server.der"),
        )
        .unwrap();
    }

    fn endpoint(&self, password: &str) -> OpcUaEndpoint {
        secured(self.port, self.pki.path(), password)
    }

    fn rejected(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.pki.path().join("rejected"))
            .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn an_unknown_server_is_refused_until_its_certificate_is_trusted() {
    let secured = Secured::start(&[]);
    let error = OpcUaSession::connect(&secured.endpoint(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::UntrustedServer { .. }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(shown.contains("is not in the trust list"), "{shown}");
    assert!(shown.contains("copy it into the trust list"), "{shown}");
    let rejected = secured.rejected();
    assert_eq!(
        rejected.len(),
        1,
        "the refused certificate is kept for review"
    );
    assert!(
        shown.contains(&rejected[0].display().to_string()),
        "{shown}"
    );
    // The gateway made its own certificate on first use.
    assert!(secured.pki.path().join("own/cert.der").exists());

    secured.trust();
    let started = Instant::now();
    let session = OpcUaSession::connect(&secured.endpoint(PASSWORD))
        .await
        .unwrap();
    let took = started.elapsed();
    let samples = session.read(&well_points()).await;
    let latest: HashMap<TagId, Sample> = samples
        .into_iter()
        .map(|sample| (sample.tag, sample))
        .collect();
    assert_the_well(&latest);
    assert!(
        secured.rejected().is_empty(),
        "trusting it clears the refusal"
    );
    assert!(took < PATIENCE);
    session.close().await;
}

#[tokio::test]
async fn a_wrong_password_or_anonymous_access_is_refused_clearly() {
    let secured = Secured::start(&[]);
    secured.trust();
    let error = OpcUaSession::connect(&secured.endpoint("valve-8"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::IdentityRejected { .. }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(shown.contains("refused user `operator`"), "{shown}");
    assert!(
        shown.contains("check the user name and password"),
        "{shown}"
    );

    let anonymous = OpcUaEndpoint {
        identity: Identity::Anonymous,
        ..secured.endpoint(PASSWORD)
    };
    let error = OpcUaSession::connect(&anonymous).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::NoMatchingEndpoint { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(
            "offers no endpoint with security basic256sha256/sign_and_encrypt and anonymous \
             users; it offers Basic256Sha256/SignAndEncrypt (username)"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_reconnect_to_a_server_with_a_new_certificate_reports_it_untrusted() {
    let port = free_port();
    let pki = tempfile::tempdir().unwrap();
    let first_dir = tempfile::tempdir().unwrap();
    let first = AsyncuaServer::start(port, &["--secure", first_dir.path().to_str().unwrap()]);
    let trusted = pki.path().join("trusted");
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::copy(
        first_dir.path().join("server.der"),
        trusted.join("field-server.der"),
    )
    .unwrap();
    let mut connector = OpcUaConnector::new(secured(port, pki.path(), PASSWORD));
    connector.connect().await.unwrap().close().await;

    // The same address now answers with a certificate nobody trusted: the
    // reconnect with the endpoint kept from the first connect fails, and
    // starting again from the start says why.
    drop(first);
    let second_dir = tempfile::tempdir().unwrap();
    let _second = AsyncuaServer::start(port, &["--secure", second_dir.path().to_str().unwrap()]);
    let error = connector.connect().await.unwrap_err();
    assert!(
        matches!(error, ConnectError::UntrustedServer { .. }),
        "{error}"
    );
    let rejected: Vec<PathBuf> = std::fs::read_dir(pki.path().join("rejected"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(rejected.len(), 1, "the new certificate is kept for review");
}

#[tokio::test]
async fn a_reconnect_to_a_server_that_dropped_the_open_endpoint_says_what_it_offers() {
    let port = free_port();
    let pki = tempfile::tempdir().unwrap();
    let open = AsyncuaServer::start(port, &[]);
    let mut connector = OpcUaConnector::new(endpoint(port, pki.path()));
    connector.connect().await.unwrap().close().await;

    // The endpoint kept from the first connect is gone: the reconnect
    // fails with it, and starting again from the start says why.
    drop(open);
    let server_dir = tempfile::tempdir().unwrap();
    let _secured = AsyncuaServer::start(port, &["--secure", server_dir.path().to_str().unwrap()]);
    let started = Instant::now();
    let error = connector.connect().await.unwrap_err();
    assert!(
        matches!(error, ConnectError::NoMatchingEndpoint { .. }),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refused endpoint is no timeout"
    );
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused_with_its_dates() {
    let secured = Secured::start(&["--expired"]);
    secured.trust();
    let error = OpcUaSession::connect(&secured.endpoint(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::CertificateTime { .. }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("is not valid now: it is valid from"),
        "{shown}"
    );
    assert!(shown.contains("BadCertificateTimeInvalid"), "{shown}");
}

#[tokio::test]
async fn a_device_task_reads_a_secured_server_once_it_is_trusted() {
    let secured = Secured::start(&[]);
    let points = vec![point(1, node("W-01.TubingPressure"))];
    let mut running = Running::start(secured.endpoint(PASSWORD), points);
    let refused = running.until(all_of(1)).await;
    assert_eq!(refused[&TagId(1)].quality, Quality::BAD_NO_COMMUNICATION);

    secured.trust();
    let good = running
        .until(|latest| latest.get(&TagId(1)).is_some_and(|s| s.quality.is_good()))
        .await;
    assert_eq!(good[&TagId(1)].value, Value::Float(42.5));
    running.stop().await;
}

#[tokio::test]
async fn browse_imports_the_field_tree_with_units_ranges_and_bindings() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &[]);
    let pki = tempfile::tempdir().unwrap();
    let report =
        flowline_edge::opcua::browse(&endpoint(port, pki.path()), &BrowseOptions::default())
            .await
            .unwrap();
    let document = &report.document;

    let assets: Vec<(String, AssetKind)> = document
        .assets
        .iter()
        .map(|entry| (entry.spec.path.to_string(), entry.spec.kind))
        .collect();
    assert_eq!(
        assets,
        [
            ("north".to_owned(), AssetKind::Field),
            ("north/pad-1".to_owned(), AssetKind::Pad),
            (
                "north/pad-1/separator".to_owned(),
                AssetKind::Equipment(EquipmentKind::Separator)
            ),
            ("north/pad-1/w-01".to_owned(), AssetKind::Well),
            (
                "north/pad-1/w-01/esp".to_owned(),
                AssetKind::Equipment(EquipmentKind::Esp)
            ),
        ]
    );

    let tag = |path: &str| {
        document
            .tags
            .iter()
            .find(|entry| entry.spec.path.as_str() == path)
            .map(|entry| &entry.spec)
            .unwrap_or_else(|| panic!("no tag {path}"))
    };
    let pressure = tag("north/pad-1/w-01/tubing-pressure");
    assert_eq!(pressure.data_type, DataType::Float);
    assert_eq!(pressure.unit, Some(Unit::Bar));
    assert_eq!(pressure.engineering_range, Limits::new(0.0, 200.0));
    assert!(!pressure.writable);
    let source = pressure.source.as_ref().unwrap();
    assert_eq!(source.protocol, Protocol::OpcUa);
    assert_eq!(
        source.address,
        format!("nsu={NAMESPACE};s=W-01.TubingPressure")
    );
    assert_eq!(pressure.attributes["opcua_endpoint"], "asyncua");

    let temperature = tag("north/pad-1/w-01/temperature");
    assert_eq!(temperature.unit, Some(Unit::Celsius));
    assert_eq!(temperature.valid_range, Limits::new(-40.0, 200.0));
    let choke = tag("north/pad-1/w-01/choke-setpoint");
    assert!(choke.writable);
    assert_eq!(choke.unit, Some(Unit::Percent));
    assert_eq!(
        tag("north/pad-1/w-01/stroke-count").data_type,
        DataType::Integer
    );
    assert_eq!(
        tag("north/pad-1/w-01/status-word").data_type,
        DataType::Integer
    );
    assert_eq!(tag("north/pad-1/w-01/running").data_type, DataType::Boolean);
    assert_eq!(tag("north/pad-1/w-01/mode").data_type, DataType::String);
    let current = tag("north/pad-1/w-01/esp/motor-current");
    assert_eq!(current.unit, Some(Unit::Ampere));
    assert_eq!(
        current.source.as_ref().unwrap().address,
        format!("nsu={NAMESPACE};i=1001")
    );
    let level = tag("north/pad-1/separator/level");
    assert_eq!(level.unit, None);
    assert_eq!(level.attributes["opcua_unit"], "furlong");
    // "Gas Rate" and "GasRate" both want gas-rate: numbered by node id.
    assert_eq!(
        tag("north/pad-1/separator/gas-rate")
            .source
            .as_ref()
            .unwrap()
            .address,
        format!("nsu={NAMESPACE};s=Separator.Gas Rate")
    );
    tag("north/pad-1/separator/gas-rate-2");
    assert_eq!(document.tags.len(), 13);

    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert!(
        report.warnings.iter().any(|warning| matches!(
            warning,
            BrowseWarning::UnsupportedType { node, .. } if node.ends_with("W-01.LastService")
        )),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|warning| warning.contains("are all named `gas-rate`")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|warning| warning.contains("unit `furlong`")),
        "{warnings:#?}"
    );

    // The document survives the catalog's own file format unchanged.
    let text = document.render(Format::Yaml);
    let read = Document::parse(&text, Format::Yaml).unwrap();
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    let specs = |document: &Document| {
        let tags: Vec<_> = document
            .tags
            .iter()
            .map(|entry| entry.spec.clone())
            .collect();
        let assets: Vec<_> = document
            .assets
            .iter()
            .map(|entry| entry.spec.clone())
            .collect();
        (assets, tags)
    };
    assert_eq!(specs(&read), specs(document));
}

#[tokio::test]
async fn a_browse_of_ten_thousand_variables_stops_at_the_node_limit_in_bounded_time() {
    let port = free_port();
    let _server = AsyncuaServer::start(port, &["--bulk", "10000"]);
    let pki = tempfile::tempdir().unwrap();
    let endpoint = endpoint(port, pki.path());

    let started = Instant::now();
    let error = flowline_edge::opcua::browse(&endpoint, &BrowseOptions::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < PATIENCE, "took {:?}", started.elapsed());
    assert!(
        matches!(error, BrowseError::TooManyNodes { limit: 5_000, .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "browse of `asyncua` stopped: more than 5000 objects and variables below the Objects \
         folder; browse from a narrower start object or raise max_nodes"
    );

    // Browsing from one well instead imports it, as the field.
    let narrower = BrowseOptions {
        root: Some(node("W-01")),
        ..BrowseOptions::default()
    };
    let report = flowline_edge::opcua::browse(&endpoint, &narrower)
        .await
        .unwrap();
    let assets: Vec<String> = report
        .document
        .assets
        .iter()
        .map(|entry| entry.spec.path.to_string())
        .collect();
    assert_eq!(assets, ["w-01", "w-01/esp"]);
    assert_eq!(report.document.tags.len(), 10);
}
