//! Interoperability with an OPC UA client nobody here wrote: asyncua
//! (`opcua_client.py`, from the .venv that `scripts/python-env` makes)
//! browses the simulator's OPC UA server, reads values, units and ranges,
//! subscribes, and writes setpoints that the model then obeys, over the
//! endpoint without security and over Basic256Sha256 with a password.

mod python;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowline_catalog::{DemoLayout, Document, TagSpec, demo_field};
use flowline_core::{NodePath, Timestamp, Value};
use flowline_sim::{FaultSpec, OpcUaConfig, OpcUaServer, OpcUaUser, SimConfig, Simulator};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z: the simulated clock starts here, far from the
/// wall clock, so a timestamp shows which of the two it came from.
const START_S: i64 = 1_767_225_600;
/// The longest a test waits for the physics to follow a write.
const PATIENCE: Duration = Duration::from_secs(30);
/// The user of the secure endpoint, and its password.
const USER: &str = "operator";
const PASSWORD: &str = "choke-and-valve-7";

const PRESSURE: &str = "north/pad-1/w-01/tubing-pressure";
const CASING: &str = "north/pad-1/w-01/casing-pressure";
const TEMPERATURE: &str = "north/pad-1/w-01/flowline-temperature";
const CHOKE: &str = "north/pad-1/w-01/choke/setpoint";
const CHOKE_POSITION: &str = "north/pad-1/w-01/choke/position";
const ROD_PUMP_RUN: &str = "north/pad-1/w-03/rod-pump/run";
const ROD_PUMP_SPEED: &str = "north/pad-1/w-03/rod-pump/speed";

/// A simulator served over OPC UA, stepping one simulated second every
/// 100 ms; stopped when dropped.
struct Served {
    sim: Arc<Simulator>,
    document: Document,
    url: String,
    pki: PathBuf,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Served {
    /// Serves the demo field as `config` says, with a bad-quality fault on
    /// the casing pressure and a dropout on the flowline temperature of
    /// W-01.
    async fn start(config: OpcUaConfig) -> Served {
        let document = demo_field(DemoLayout::default());
        let start = Timestamp::from_seconds(START_S);
        let faults = [
            format!("{CASING}:bad-quality"),
            format!("{TEMPERATURE}:dropout"),
        ];
        let sim_config = SimConfig {
            faults: faults
                .iter()
                .map(|fault| fault.parse::<FaultSpec>().unwrap())
                .collect(),
            ..SimConfig::default()
        };
        let sim = Arc::new(Simulator::new(&document, sim_config, start).unwrap());
        sim.step(start.saturating_add_micros(1_000_000));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pki = config.pki_dir.clone();
        let server = OpcUaServer::new(Arc::clone(&sim), &document, &config, listener).unwrap();
        let url = server.url().to_owned();
        let cancel = CancellationToken::new();
        let serving = tokio::spawn({
            let cancel = cancel.clone();
            async move { server.serve(cancel).await.unwrap() }
        });
        let stepping = tokio::spawn({
            let sim = Arc::clone(&sim);
            let cancel = cancel.clone();
            async move {
                let mut ticks = tokio::time::interval(Duration::from_millis(100));
                for second in 2.. {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        _ = ticks.tick() => {}
                    }
                    sim.step(start.saturating_add_micros(second * 1_000_000));
                }
            }
        });
        Served {
            sim,
            document,
            url,
            pki,
            cancel,
            tasks: vec![serving, stepping],
        }
    }

    fn spec(&self, path: &str) -> &TagSpec {
        &self
            .document
            .tags
            .iter()
            .find(|entry| entry.spec.path.as_str() == path)
            .unwrap()
            .spec
    }

    fn number(&self, path: &str) -> f64 {
        match self.sim.reading(path).unwrap().value {
            Some(Value::Float(value)) => value,
            other => panic!("{path} reads {other:?}"),
        }
    }

    /// Waits until the tag at `path` reads what `wanted` accepts.
    async fn until(&self, path: &str, wanted: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.number(path);
            if wanted(value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{path} stayed at {value}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        for task in self.tasks {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("the server stops when cancelled")
                .unwrap();
        }
    }
}

/// Settings with the PKI in a fresh directory under `root`, one user
/// whose password is in a file there, and the rest as given.
fn config(root: &Path, security_none: bool, trust_unknown_clients: bool) -> OpcUaConfig {
    let password_file = root.join("operator.password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    OpcUaConfig {
        pki_dir: root.join("pki"),
        security_none,
        trust_unknown_clients,
        users: vec![OpcUaUser {
            user: USER.to_owned(),
            password_file: Some(password_file),
            password_env: None,
        }],
    }
}

/// Runs the asyncua client with `plan`; its report.
async fn asyncua(plan: &Json) -> Json {
    python::run("opcua_client.py", plan).await
}

/// A plan that reads, subscribes to the tubing pressure, and writes: a
/// choke setpoint and a rod pump's stop that the model takes, then a
/// setpoint out of range, text to a number, a number of the wrong width,
/// and a measurement, which it refuses.
fn plan(url: &str, security: Json) -> Json {
    json!({
        "url": url, "namespace": flowline_sim::NAMESPACE_URI, "security": security,
        "reads": [PRESSURE, CASING, TEMPERATURE, CHOKE, ROD_PUMP_RUN],
        "subscribe": PRESSURE, "notifications": 3,
        "writes": [
            {"path": CHOKE, "value": 80.0, "type": "Double"},
            {"path": ROD_PUMP_RUN, "value": false, "type": "Boolean"},
            {"path": CHOKE, "value": 150.0, "type": "Double"},
            {"path": CHOKE, "value": "open", "type": "String"},
            {"path": CHOKE, "value": 50, "type": "Int32"},
            {"path": ROD_PUMP_RUN, "value": 1.0, "type": "Double"},
            {"path": PRESSURE, "value": 10.0, "type": "Double"},
        ],
    })
}

/// The security part of a plan: the secure endpoint as the user with
/// `password`, with the client's certificate kept in `dir`.
fn secure(dir: &Path, password: &str) -> Json {
    json!({
        "cert": dir.join("client.der"), "key": dir.join("client.pem"),
        "user": USER, "password": password,
    })
}

/// Checks everything a client of `served` should have seen in `report`.
async fn check_session(served: &Served, report: &Json) {
    assert_eq!(report["connected"], json!(true), "{report}");

    // The whole asset tree and every tag, by catalog path.
    let mut assets: Vec<&str> = served
        .document
        .assets
        .iter()
        .map(|entry| entry.spec.path.as_str())
        .collect();
    assets.sort_unstable();
    let mut tags: Vec<&str> = served
        .document
        .tags
        .iter()
        .map(|entry| entry.spec.path.as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(report["assets"], json!(assets));
    assert_eq!(report["tags"], json!(tags));

    // A measurement: a number in range, with its unit and ranges.
    let pressure = &report["reads"][PRESSURE];
    let spec = served.spec(PRESSURE);
    let valid = [spec.valid_range.lo.unwrap(), spec.valid_range.hi.unwrap()];
    let value = pressure["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{pressure}"));
    assert!(value > valid[0] && value < valid[1], "{pressure}");
    assert_eq!(pressure["status"], json!("Good"));
    assert_eq!(pressure["data_type"], json!("Double"));
    assert_eq!(pressure["unit"], json!("bar"));
    assert_eq!(pressure["InstrumentRange"], json!(valid));
    let engineering = [
        spec.engineering_range.lo.unwrap(),
        spec.engineering_range.hi.unwrap(),
    ];
    assert_eq!(pressure["EURange"], json!(engineering));
    assert_eq!(pressure["display_name"], json!("tubing-pressure"));
    assert_eq!(pressure["description"], json!(spec.description));
    assert_eq!(pressure["access_level"], json!(1), "read-only");
    assert!(
        pressure["source"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01"),
        "stamped with the simulated clock: {pressure}"
    );

    // Sensor faults: a status that says so, and no number.
    let casing = &report["reads"][CASING];
    assert_eq!(casing["status"], json!("BadSensorFailure"), "{casing}");
    assert_eq!(casing["value"], Json::Null);
    let temperature = &report["reads"][TEMPERATURE];
    assert_eq!(temperature["status"], json!("BadNoCommunication"));
    assert_eq!(temperature["value"], Json::Null);

    // Setpoints and commands may be written; on/off tags are Boolean.
    assert_eq!(report["reads"][CHOKE]["access_level"], json!(3));
    assert_eq!(report["reads"][CHOKE]["user_access_level"], json!(3));
    assert_eq!(report["reads"][CHOKE]["unit"], json!("%"));
    assert_eq!(report["reads"][ROD_PUMP_RUN]["data_type"], json!("Boolean"));
    assert_eq!(report["reads"][ROD_PUMP_RUN]["value"], json!(true));
    assert!(report["reads"][ROD_PUMP_RUN].get("unit").is_none());

    // The subscription follows the steps, each stamped with its step.
    let notifications = report["notifications"].as_array().unwrap();
    assert!(notifications.len() >= 3, "{notifications:?}");
    let times: Vec<&str> = notifications
        .iter()
        .map(|seen| seen["source"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
    assert!(times.iter().all(|time| time.starts_with("2026-01-01")));

    assert_eq!(
        report["writes"],
        json!([
            "Good",
            "Good",
            "BadOutOfRange",
            "BadTypeMismatch",
            "BadTypeMismatch",
            "BadTypeMismatch",
            "BadNotWritable"
        ])
    );
    assert_eq!(report["after"][CHOKE], json!(80.0));
    assert_eq!(report["after"][ROD_PUMP_RUN], json!(false));

    // The model obeys: the choke travels to 80 %, the rod pump stops.
    served
        .until(CHOKE_POSITION, |position| (position - 80.0).abs() < 0.5)
        .await;
    served.until(ROD_PUMP_SPEED, |speed| speed == 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncua_browses_reads_subscribes_and_writes_anonymously_without_security() {
    let root = tempfile::tempdir().unwrap();
    let served = Served::start(config(root.path(), true, false)).await;
    let report = asyncua(&plan(&served.url, Json::Null)).await;
    check_session(&served, &report).await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncua_does_the_same_signed_and_encrypted_as_a_user_once_its_certificate_is_trusted() {
    let root = tempfile::tempdir().unwrap();
    let client = root.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    let served = Served::start(config(root.path(), false, false)).await;

    // An unknown client is refused, and its certificate kept for review.
    let refused = asyncua(&plan(&served.url, secure(&client, PASSWORD))).await;
    assert_eq!(refused["connected"], json!(false), "{refused}");
    let rejected = served.pki.join("rejected");
    let kept: Vec<PathBuf> = std::fs::read_dir(&rejected)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");

    // Moving it into the trust list lets the client in, without a restart.
    let name = kept[0].file_name().unwrap();
    std::fs::rename(&kept[0], served.pki.join("trusted").join(name)).unwrap();
    let report = asyncua(&plan(&served.url, secure(&client, PASSWORD))).await;
    check_session(&served, &report).await;

    // A wrong password is refused.
    let refused = asyncua(&plan(&served.url, secure(&client, "valve-8"))).await;
    assert_eq!(refused["connected"], json!(false), "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("BadUserAccessDenied"), "{error}");

    // Without security there is no endpoint at all here.
    let refused = asyncua(&plan(&served.url, Json::Null)).await;
    assert_eq!(refused["connected"], json!(false), "{refused}");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_made_on_first_start_is_kept_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let settings = config(root.path(), true, false);
    let certificate = settings.pki_dir.join("own/cert.der");
    let first = Served::start(settings.clone()).await;
    let made = std::fs::read(&certificate).unwrap();
    first.stop().await;
    let second = Served::start(settings).await;
    assert_eq!(std::fs::read(&certificate).unwrap(), made);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = root.path().join("pki/private/private.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads the key");
    }
    second.stop().await;
}

#[tokio::test]
async fn an_unreadable_password_or_a_bad_setting_stops_the_server_before_it_listens() {
    let root = tempfile::tempdir().unwrap();
    let document = demo_field(DemoLayout::default());
    let sim = Arc::new(Simulator::new(&document, SimConfig::default(), Timestamp::now()).unwrap());
    let build = |config| refused(Arc::clone(&sim), &document, config);

    let mut missing = config(root.path(), true, false);
    missing.users[0].password_file = Some(root.path().join("nowhere"));
    let error = build(missing).await;
    let expected = format!(
        "OPC UA server: user `operator`: cannot read the password from file {}: ",
        root.path().join("nowhere").display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(!error.contains(PASSWORD));

    let mut unset = config(root.path(), true, false);
    unset.users[0] = OpcUaUser {
        user: USER.to_owned(),
        password_file: None,
        password_env: Some("FLOWLINE_TEST_UNSET_PASSWORD".to_owned()),
    };
    let error = build(unset).await;
    assert!(
        error.contains("environment variable FLOWLINE_TEST_UNSET_PASSWORD"),
        "{error}"
    );

    let closed = OpcUaConfig {
        users: Vec::new(),
        ..config(root.path(), false, false)
    };
    let error = build(closed).await;
    assert!(
        error.starts_with("OPC UA server: `users`: expected at least one user"),
        "{error}"
    );

    // A file where the PKI directory should be.
    let blocked = OpcUaConfig {
        pki_dir: root.path().join("operator.password"),
        ..config(root.path(), true, false)
    };
    let error = build(blocked).await;
    assert!(error.starts_with("OPC UA server: PKI directory"), "{error}");

    let mut other = document.clone();
    other
        .tags
        .retain(|entry| entry.spec.path != NodePath::parse(PRESSURE).unwrap());
    let error = refused(Arc::clone(&sim), &other, config(root.path(), true, false)).await;
    assert_eq!(
        error,
        format!(
            "OPC UA server: tag `{PRESSURE}`: it is simulated but not in the document served over OPC UA"
        )
    );
}

/// Why a server for `sim` serving `document` as `config` says is refused.
async fn refused(sim: Arc<Simulator>, document: &Document, config: OpcUaConfig) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    OpcUaServer::new(sim, document, &config, listener)
        .err()
        .expect("refused")
        .to_string()
}
