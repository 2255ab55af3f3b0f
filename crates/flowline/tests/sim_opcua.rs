//! The gateway's OPC UA connector against the simulator's OPC UA server,
//! signed and encrypted, as a user: the two Flowline services meet only
//! here, where the binary wires them, never in each other's crates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::{Quality, Sample, TagId, Timestamp, Value};
use flowline_edge::ChannelPublisher;
use flowline_edge::opcua::{
    ConnectError, Identity, NodeAddress, OpcUaDevice, OpcUaEndpoint, OpcUaPoint, OpcUaSession,
    SecurityMode, SecurityPolicy, WriteFailure,
};
use flowline_sim::{
    FaultSpec, NAMESPACE_URI, OpcUaConfig, OpcUaServer, OpcUaUser, SimConfig, Simulator,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The longest a test waits for something that should take a second.
const PATIENCE: Duration = Duration::from_secs(30);
const USER: &str = "operator";
const PASSWORD: &str = "choke-and-valve-7";

const PRESSURE: &str = "north/pad-1/w-01/tubing-pressure";
const CASING: &str = "north/pad-1/w-01/casing-pressure";
const CHOKE: &str = "north/pad-1/w-01/choke/setpoint";
const CHOKE_POSITION: &str = "north/pad-1/w-01/choke/position";

/// The node of the simulator's tag at `path`, by namespace URI as the
/// catalog binds it.
fn node(path: &str) -> NodeAddress {
    format!("nsu={NAMESPACE_URI};s={path}").parse().unwrap()
}

/// The simulator, serving only its secure endpoint to one user and
/// trusting no unknown client, stepping every 100 ms, with a bad-quality
/// fault on W-01's casing pressure.
struct Field {
    sim: Arc<Simulator>,
    url: String,
    pki: PathBuf,
    cancel: CancellationToken,
}

impl Field {
    async fn start(root: &Path) -> Field {
        let document = demo_field(DemoLayout::default());
        let config = SimConfig {
            step_interval_ms: 100,
            faults: vec![
                format!("{CASING}:bad-quality")
                    .parse::<FaultSpec>()
                    .unwrap(),
            ],
            ..SimConfig::default()
        };
        let sim = Arc::new(Simulator::new(&document, config, Timestamp::now()).unwrap());
        let password = root.join("sim-operator.password");
        std::fs::write(&password, PASSWORD).unwrap();
        let opcua = OpcUaConfig {
            pki_dir: root.join("sim-pki"),
            security_none: false,
            trust_unknown_clients: false,
            users: vec![OpcUaUser {
                user: USER.to_owned(),
                password_file: Some(password),
                password_env: None,
            }],
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = OpcUaServer::new(Arc::clone(&sim), &document, &opcua, listener).unwrap();
        let url = server.url().to_owned();
        let cancel = CancellationToken::new();
        tokio::spawn({
            let cancel = cancel.clone();
            async move { server.serve(cancel).await.unwrap() }
        });
        // Stepped by the simulator's own loop, ten times a second.
        let modbus = TcpListener::bind("127.0.0.1:0").await.unwrap();
        tokio::spawn(flowline_sim::run(Arc::clone(&sim), modbus, cancel.clone()));
        Field {
            sim,
            url,
            pki: opcua.pki_dir,
            cancel,
        }
    }

    fn number(&self, path: &str) -> f64 {
        match self.sim.reading(path).unwrap().value {
            Some(Value::Float(value)) => value,
            other => panic!("{path} reads {other:?}"),
        }
    }
}

impl Drop for Field {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The gateway's endpoint for the simulator: Basic256Sha256, signed and
/// encrypted, as the user with `password`.
fn endpoint(field: &Field, pki: &Path, password: &str) -> OpcUaEndpoint {
    let password_file = pki.with_extension("password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    OpcUaEndpoint {
        pki_dir: pki.to_path_buf(),
        security_policy: SecurityPolicy::Basic256Sha256,
        security_mode: SecurityMode::SignAndEncrypt,
        identity: Identity::Username {
            user: USER.to_owned(),
            password_file: Some(password_file),
            password_env: None,
        },
        sampling_interval_ms: 100,
        publishing_interval_ms: 100,
        reconnect_max_ms: 300,
        ..OpcUaEndpoint::new("simulator", &field.url)
    }
}

fn points() -> Vec<OpcUaPoint> {
    [PRESSURE, CASING, CHOKE]
        .iter()
        .enumerate()
        .map(|(index, path)| OpcUaPoint {
            tag: TagId(index as u32 + 1),
            node: node(path),
            deadband: None,
        })
        .collect()
}

/// The only file in `dir`.
fn only_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_reads_and_writes_the_simulator_securely_once_each_trusts_the_other() {
    let root = tempfile::tempdir().unwrap();
    let field = Field::start(root.path()).await;
    let gateway_pki = root.path().join("gateway-pki");
    let secured = endpoint(&field, &gateway_pki, PASSWORD);

    // The simulator does not know the gateway's certificate: refused, and
    // kept for review; trusting it is moving the file.
    let error = OpcUaSession::connect(&secured).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::GatewayUntrusted { .. }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("add it to the server's trust list"),
        "{shown}"
    );
    let refused = only_file(&field.pki.join("rejected"));
    std::fs::rename(
        &refused,
        field.pki.join("trusted").join(refused.file_name().unwrap()),
    )
    .unwrap();

    // Nor the gateway the simulator's: refused until copied into its list.
    let error = OpcUaSession::connect(&secured).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::UntrustedServer { .. }),
        "{error}"
    );
    std::fs::copy(
        field.pki.join("own/cert.der"),
        gateway_pki.join("trusted/simulator.der"),
    )
    .unwrap();

    // A wrong password is refused as such.
    let wrong = endpoint(&field, &gateway_pki, "valve-8");
    let error = OpcUaSession::connect(&wrong).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::IdentityRejected { .. }),
        "{error}"
    );

    // One read: values stamped with the time of their step, and a faulty
    // sensor's status without a number.
    let secured = endpoint(&field, &gateway_pki, PASSWORD);
    let session = OpcUaSession::connect(&secured).await.unwrap();
    let samples: HashMap<TagId, Sample> = session
        .read(&points())
        .await
        .into_iter()
        .map(|sample| (sample.tag, sample))
        .collect();
    let pressure = &samples[&TagId(1)];
    assert!(pressure.quality.is_good(), "{pressure:?}");
    assert!(pressure.value.as_f64().unwrap() > 0.0, "{pressure:?}");
    let step = field.sim.status().time;
    assert!(
        pressure.time.micros_since(step).abs() <= 1_000_000,
        "{pressure:?}"
    );
    assert!(pressure.received >= pressure.time, "{pressure:?}");
    let casing = &samples[&TagId(2)];
    assert_eq!(casing.quality, Quality::BAD_SENSOR_FAILURE);
    assert!(casing.value.is_missing(), "never a silent zero");
    session.close().await;

    // The device task subscribes and sees every step.
    let (publisher, mut batches) = ChannelPublisher::new(256);
    let shutdown = CancellationToken::new();
    let device = OpcUaDevice {
        endpoint: secured,
        points: points(),
    };
    let (handle, task) = flowline_edge::opcua::spawn(device, Arc::new(publisher), shutdown.clone());
    let mut times = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while times.len() < 3 {
            let batch = batches.recv().await.unwrap();
            times.extend(batch.iter().filter(|s| s.tag == TagId(1)).map(|s| s.time));
        }
    })
    .await
    .expect("the subscription delivers the steps");
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");

    // Write-back: confirmed by reading back, and the physics follows.
    let back = handle.write(node(CHOKE), Value::Float(80.0)).await.unwrap();
    assert_eq!(back, Value::Float(80.0));
    let refused = handle
        .write(node(CHOKE), Value::Float(150.0))
        .await
        .unwrap_err();
    assert!(matches!(refused, WriteFailure::Refused { .. }), "{refused}");
    assert!(refused.to_string().contains("BadOutOfRange"), "{refused}");
    let read_only = handle
        .write(node(PRESSURE), Value::Float(10.0))
        .await
        .unwrap_err();
    assert!(
        read_only.to_string().contains("BadNotWritable"),
        "{read_only}"
    );
    let deadline = Instant::now() + PATIENCE;
    while (field.number(CHOKE_POSITION) - 80.0).abs() > 0.5 {
        assert!(Instant::now() < deadline, "the choke did not follow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    shutdown.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}
