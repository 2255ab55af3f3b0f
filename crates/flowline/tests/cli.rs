//! The `flowline` binary as a user runs it: `up`, `config check` and the
//! catalog commands, each in a fresh working directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flowline_catalog::{DemoLayout, Document, Format, Protocol, demo_field};

/// How long a test waits for `flowline up` to become ready. Generous: this
/// is a deadlock guard, not a performance check (see bench/startup.sh).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn flowline(directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowline"));
    command.current_dir(directory);
    // A clean environment of FLOWLINE_* variables, whatever the caller has.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("FLOWLINE_")) {
        command.env_remove(name);
    }
    command.env("FLOWLINE_LOG_FORMAT", "json");
    // The simulator of `up` and `sim` on ephemeral ports, so tests run in
    // parallel.
    command.env("FLOWLINE_SIM_MODBUS_LISTEN", "127.0.0.1:0");
    command.env("FLOWLINE_SIM_HTTP_LISTEN", "127.0.0.1:0");
    command.env("FLOWLINE_SIM_OPCUA_LISTEN", "127.0.0.1:0");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run flowline")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `flowline up`, stopped when dropped.
struct Platform {
    child: Child,
    admin: String,
    ready: serde_json::Value,
    logs: mpsc::Receiver<String>,
}

impl Platform {
    fn start(command: Command) -> Platform {
        Platform::start_with(command, &[])
    }

    fn start_with(command: Command, options: &[&str]) -> Platform {
        Platform::spawn(command, "up", options, "flowline is up")
    }

    /// Starts `flowline SUBCOMMAND OPTIONS` and waits for the log line
    /// `ready_message`.
    fn spawn(
        mut command: Command,
        subcommand: &str,
        options: &[&str],
        ready_message: &str,
    ) -> Platform {
        let mut child = command
            .arg(subcommand)
            .args(options)
            .env("FLOWLINE_ADMIN_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start flowline up");
        let (sender, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = wait_for(&logs, ready_message).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("flowline {subcommand} did not become ready");
        });
        let admin = ready["admin"]
            .as_str()
            .expect("the ready line names the admin address")
            .to_owned();
        Platform {
            child,
            admin,
            ready,
            logs,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.admin, path)
    }

    /// Waits until `/metrics` shows `metric` (with its labels) at `least`
    /// or more, and returns its value.
    fn metric_reaches(&self, metric: &str, least: f64) -> f64 {
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            let (_, metrics) = self.get("/metrics");
            let value = metrics
                .lines()
                .find_map(|line| line.strip_prefix(metric)?.strip_prefix(' '))
                .and_then(|value| value.trim().parse::<f64>().ok());
            match value {
                Some(value) if value >= least => return value,
                _ if std::time::Instant::now() > deadline => {
                    panic!("{metric} did not reach {least}:\n{metrics}")
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends SIGTERM and returns the exit status and the remaining log.
    fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        let rest: Vec<String> = self.logs.try_iter().collect();
        (exit, rest)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads log lines until one whose message is `message`, as JSON.
fn wait_for(logs: &mpsc::Receiver<String>, message: &str) -> Option<serde_json::Value> {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let line = logs.recv_timeout(left).ok()?;
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == message {
            return Some(event);
        }
    }
    None
}

/// A plain HTTP/1.1 GET, enough for the admin endpoints.
fn http_get(base: &str, path: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn up_loads_the_demo_field_serves_health_and_metrics_and_stops_cleanly() {
    let directory = tempfile::tempdir().unwrap();
    let platform = Platform::start(flowline(directory.path()));
    assert_eq!(platform.ready["wells"], 12);
    assert_eq!(platform.ready["tags"], 156);

    assert_eq!(platform.get("/healthz"), (200, "ok\n".to_owned()));
    let (status, body) = platform.get("/readyz");
    assert_eq!(status, 200);
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["components"]["catalog"]["ready"], true);
    let (status, metrics) = platform.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("flowline_catalog_tags 156"), "{metrics}");
    assert!(
        metrics.contains("flowline_build_info{version="),
        "{metrics}"
    );

    let (exit, logs) = platform.stop();
    assert!(exit.success(), "exit status {exit}");
    assert!(
        logs.iter()
            .any(|line| line.contains("\"flowline stopped\"")),
        "{logs:#?}"
    );
    assert!(
        directory.path().join("data/flowline.db").is_file(),
        "the catalog lives in data_dir"
    );
}

#[test]
fn up_runs_the_simulator_and_the_gateway_and_samples_flow() {
    let directory = tempfile::tempdir().unwrap();
    let platform = Platform::start(flowline(directory.path()));
    let simulator = platform.ready["simulator_http"]
        .as_str()
        .unwrap()
        .to_owned();
    let opcua = platform.ready["simulator_opcua"].as_str().unwrap();
    assert!(opcua.starts_with("opc.tcp://127.0.0.1:"), "{opcua}");

    // Two full polls of the demo field's 156 tags went through the bus and
    // the processor, committed.
    platform.metric_reaches("flowline_processor_input_records_total", 312.0);
    platform.metric_reaches("flowline_gateway_device_up{device=\"simulator\"}", 1.0);
    let (status, body) = platform.get("/readyz");
    assert_eq!(status, 200, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    for component in ["catalog", "simulator", "gateway", "processor"] {
        assert_eq!(readiness["components"][component]["ready"], true, "{body}");
    }

    // The simulator's own API answers beside it.
    let (status, body) = http_get(&simulator, "/status");
    assert_eq!(status, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["wells"], 12);
    assert!(status["steps"].as_u64().unwrap() >= 1, "{status}");

    assert!(platform.stop().0.success());
    assert!(
        directory.path().join("data/spool").is_dir(),
        "the gateway spools under data_dir"
    );
}

#[test]
fn the_simulators_point_list_lets_a_separate_gateway_read_it() {
    let directory = tempfile::tempdir().unwrap();
    let sim = Platform::spawn(
        flowline(directory.path()),
        "sim",
        &["--write-points", "points.csv"],
        "simulator is up",
    );
    let modbus = sim.ready["modbus"].as_str().unwrap().to_owned();
    let points = std::fs::read_to_string(directory.path().join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 1 + 156, "a header and every tag");

    // A platform whose field is the simulator's endpoint, read through the
    // point list: it starts no simulator of its own.
    std::fs::write(
        directory.path().join("flowline.toml"),
        format!(
            "[gateway]\npoints = \"points.csv\"\n\
             modbus = [{{ name = \"field\", address = \"{modbus}\" }}]\n\n\
             [gateway.poll_groups]\nfast = 200\nslow = 1000\n"
        ),
    )
    .unwrap();
    let platform = Platform::start(flowline(directory.path()));
    assert!(platform.ready["simulator_modbus"].is_null());
    platform.metric_reaches("flowline_gateway_device_up{device=\"field\"}", 1.0);
    platform.metric_reaches("flowline_processor_input_records_total", 312.0);
    let (_, readiness) = platform.get("/readyz");
    assert!(!readiness.contains("simulator"), "{readiness}");

    assert!(platform.stop().0.success());
    assert!(sim.stop().0.success());
}

#[test]
fn the_simulators_opcua_server_browses_into_the_catalog_and_the_gateway_reads_it() {
    let directory = tempfile::tempdir().unwrap();
    let sim_directory = directory.path().join("sim");
    std::fs::create_dir_all(&sim_directory).unwrap();
    let sim = Platform::spawn(flowline(&sim_directory), "sim", &[], "simulator is up");
    let url = sim.ready["opcua"].as_str().unwrap().to_owned();
    assert!(url.starts_with("opc.tcp://127.0.0.1:"), "{url}");
    assert!(
        sim_directory
            .join("data/pki/sim-opcua/own/cert.der")
            .is_file(),
        "the certificate is made under data_dir"
    );

    // Browsing finds the demo field: every asset, and every tag with its
    // unit, ranges, type and writability, bound to its node.
    std::fs::write(
        directory.path().join("flowline.toml"),
        format!("[[gateway.opcua]]\nname = \"simulator\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let output = run(flowline(directory.path()).args(["catalog", "browse", "simulator"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let browsed = Document::parse(&stdout(&output), Format::Yaml).unwrap();
    let demo = demo_field(DemoLayout::default());
    let paths = |document: &Document| -> Vec<String> {
        let mut paths: Vec<String> = document
            .assets
            .iter()
            .map(|entry| entry.spec.path.to_string())
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(paths(&browsed), paths(&demo));
    assert_eq!(browsed.tags.len(), demo.tags.len());
    for entry in &demo.tags {
        let wanted = &entry.spec;
        let found = &browsed
            .tags
            .iter()
            .find(|browsed| browsed.spec.path == wanted.path)
            .unwrap_or_else(|| panic!("{} was not browsed", wanted.path))
            .spec;
        let path = &wanted.path;
        assert_eq!(found.unit, wanted.unit, "{path}");
        assert_eq!(found.data_type, wanted.data_type, "{path}");
        assert_eq!(found.valid_range, wanted.valid_range, "{path}");
        assert_eq!(found.engineering_range, wanted.engineering_range, "{path}");
        assert_eq!(found.writable, wanted.writable, "{path}");
        assert_eq!(found.description, wanted.description, "{path}");
        let source = found.source.as_ref().unwrap();
        assert_eq!(source.protocol, Protocol::OpcUa, "{path}");
        assert_eq!(source.address, format!("nsu=urn:flowline:sim;s={path}"));
    }

    // Imported, the gateway reads it over OPC UA.
    let output =
        run(flowline(directory.path()).args(["catalog", "browse", "simulator", "--import"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let gateway = Platform::spawn(flowline(directory.path()), "gateway", &[], "gateway is up");
    gateway.metric_reaches("flowline_gateway_device_up{device=\"simulator\"}", 1.0);
    gateway.metric_reaches("flowline_gateway_published_samples_total", 2.0 * 156.0);

    assert!(gateway.stop().0.success());
    assert!(sim.stop().0.success());
}

#[test]
fn sim_refuses_a_bad_fault_schedule_naming_the_entry() {
    let directory = tempfile::tempdir().unwrap();
    let output = run(flowline(directory.path()).args([
        "sim",
        "--faults",
        "north/pad-1/w-01:gas-lock, north/pad-1/w-02:melt",
    ]));
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("entry 2 `north/pad-1/w-02:melt`: unknown fault `melt`"),
        "{error}"
    );
}

#[test]
fn a_restart_keeps_the_catalog_and_does_not_reload_the_demo() {
    let directory = tempfile::tempdir().unwrap();
    let first = Platform::start(flowline(directory.path()));
    let version = first.ready["catalog_version"].clone();
    assert!(first.stop().0.success());

    let second = Platform::start(flowline(directory.path()));
    assert_eq!(second.ready["catalog_version"], version);
    assert!(second.stop().0.success());

    // --demo on an unchanged demo field changes nothing either.
    let third = Platform::start_with(flowline(directory.path()), &["--demo"]);
    assert_eq!(third.ready["catalog_version"], version);
    assert!(third.stop().0.success());

    // A larger demo field adds its new pad without touching the rest.
    let mut command = flowline(directory.path());
    command.env("FLOWLINE_DEMO_PADS", "4");
    let fourth = Platform::start_with(command, &["--demo"]);
    assert_eq!(fourth.ready["wells"], 16);
    assert!(fourth.stop().0.success());
}

#[test]
fn up_refuses_a_bad_configuration_before_starting() {
    let directory = tempfile::tempdir().unwrap();
    let output = run(flowline(directory.path())
        .arg("up")
        .env("FLOWLINE_ADMIN_LISTEN", "everywhere"));
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "error: environment variable FLOWLINE_ADMIN_LISTEN: admin.listen: \
         expected IP:PORT such as 127.0.0.1:9464, found `everywhere`"
    );
}

#[test]
fn config_check_names_file_line_and_key() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("flowline.toml"),
        "[admin]\nlisten = \"127.0.0.1:9464\"\n\n[catalog]\nrefresh_every = 5\n",
    )
    .unwrap();
    let output = run(flowline(directory.path()).args(["config", "check"]));
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    let expected = "flowline.toml:5:1: catalog.refresh_every: \
                    unknown field `refresh_every`, expected `refresh_interval_ms`";
    assert!(errors.starts_with(expected), "{errors}");

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flowline.example.toml");
    let output = run(flowline(directory.path())
        .env_remove("FLOWLINE_SIM_MODBUS_LISTEN")
        .env_remove("FLOWLINE_SIM_HTTP_LISTEN")
        .env_remove("FLOWLINE_SIM_OPCUA_LISTEN")
        .args(["config", "check", example]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output)
            .contains("flowline.example.toml: ok, with FLOWLINE_LOG_FORMAT from the environment"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn catalog_import_rejects_bad_files_whole_and_lists_every_problem() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("field.csv");
    std::fs::write(
        &file,
        "kind,path,unit,valid_lo,valid_hi\n\
         field,north,,,\n\
         pad,north/pad-1,,,\n\
         tag,north/pad-1/pressure,bar,0,100\n\
         tag,north/pad-1/Level,%,0,100\n\
         tag,north/pad-1/temperature,°C,90,10\n",
    )
    .unwrap();

    let output = run(flowline(directory.path()).args(["catalog", "import", "field.csv"]));
    assert_eq!(output.status.code(), Some(1));
    let errors: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert!(
        errors[0].starts_with("field.csv:5: north/pad-1/Level: path: invalid path"),
        "{errors:#?}"
    );
    assert_eq!(
        errors[1],
        "field.csv:6: north/pad-1/temperature: valid_range: lo 90 is greater than hi 10"
    );
    assert!(
        errors[2].starts_with("error: field.csv: import rejected, nothing applied: 2 problems"),
        "{errors:#?}"
    );
    let export = run(flowline(directory.path()).args(["catalog", "export", "--format", "csv"]));
    assert_eq!(
        stdout(&export).lines().count(),
        1,
        "only the header: nothing was applied"
    );

    let output = run(flowline(directory.path()).args([
        "catalog",
        "import",
        "field.csv",
        "--skip-invalid",
        "--actor",
        "alice",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "field.csv: assets 2 created, 0 updated, 0 unchanged; \
         tags 1 created, 0 updated, 0 unchanged; 2 rejected; catalog version 3\n"
    );

    let list = run(flowline(directory.path()).args(["catalog", "list", "--unit", "bar"]));
    assert!(
        stdout(&list).contains("north/pad-1/pressure  bar   float  0..100"),
        "{}",
        stdout(&list)
    );
    let history = run(flowline(directory.path()).args(["catalog", "history"]));
    assert_eq!(
        stdout(&history)
            .lines()
            .filter(|line| line.contains("alice"))
            .count(),
        3
    );
}

#[test]
fn catalog_export_and_import_round_trip_through_yaml() {
    let first = tempfile::tempdir().unwrap();
    // `up` fills the catalog with the demo field; stop it straight away.
    let platform = Platform::start(flowline(first.path()));
    assert!(platform.stop().0.success());
    let export = run(flowline(first.path()).args(["catalog", "export", "--output", "field.yaml"]));
    assert!(export.status.success(), "{}", stderr(&export));

    let second = tempfile::tempdir().unwrap();
    std::fs::copy(
        first.path().join("field.yaml"),
        second.path().join("field.yaml"),
    )
    .unwrap();
    let import = run(flowline(second.path()).args(["catalog", "import", "field.yaml"]));
    assert!(import.status.success(), "{}", stderr(&import));
    assert!(
        stdout(&import).contains("tags 156 created"),
        "{}",
        stdout(&import)
    );
    let again = run(flowline(second.path()).args(["catalog", "export"]));
    let original = std::fs::read_to_string(first.path().join("field.yaml")).unwrap();
    assert_eq!(stdout(&again), original);
}

/// A private schema on the test PostgreSQL server, dropped at the end.
struct PostgresSchema {
    base: String,
    name: String,
}

impl PostgresSchema {
    fn create() -> PostgresSchema {
        let base = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("flowline_cli_test_{}", std::process::id());
        PostgresSchema::execute(&base, format!("CREATE SCHEMA {name}"));
        PostgresSchema { base, name }
    }

    fn url(&self) -> String {
        format!("{}?options[search_path]={}", self.base, self.name)
    }

    fn execute(base: &str, sql: String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let database = flowline_db::Database::connect(base, 1)
                .await
                .unwrap_or_else(|error| panic!("PostgreSQL for tests ({base}): {error}"));
            flowline_db::sqlx::raw_sql(flowline_db::sqlx::AssertSqlSafe(sql))
                .execute(database.pool())
                .await
                .unwrap();
            database.close().await;
        });
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        PostgresSchema::execute(&self.base, format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

#[test]
fn up_runs_on_postgresql_when_the_database_url_says_so() {
    let schema = PostgresSchema::create();
    let directory = tempfile::tempdir().unwrap();
    let mut command = flowline(directory.path());
    command.env("FLOWLINE_DATABASE_URL", schema.url());
    let platform = Platform::start(command);
    assert_eq!(platform.ready["tags"], 156);
    assert!(
        platform.ready["database"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    assert!(platform.stop().0.success());
    assert!(
        !directory.path().join("data/flowline.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );

    let list = run(flowline(directory.path())
        .env("FLOWLINE_DATABASE_URL", schema.url())
        .args(["catalog", "list", "--assets", "--kind", "well"]));
    assert_eq!(
        stdout(&list).lines().count(),
        13,
        "a header and twelve wells: {}",
        stdout(&list)
    );
}

#[test]
fn the_csv_example_in_the_readme_imports() {
    let readme = include_str!("../../../README.md");
    let example = readme
        .split("```csv\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a CSV example");
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("example.csv"), example).unwrap();
    let output = run(flowline(directory.path()).args(["catalog", "import", "example.csv"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let list = run(flowline(directory.path()).args(["catalog", "list", "--json"]));
    let tag: serde_json::Value = serde_json::from_str(stdout(&list).trim()).unwrap();
    assert_eq!(tag["path"], "north/pad-1/w-01/tubing-pressure");
    assert_eq!(tag["source"]["address"], "unit=1;input=0;type=f32");
    assert_eq!(tag["attributes"]["vendor"], "acme");
}

#[test]
fn the_gateway_refuses_a_bad_point_list_naming_file_and_line() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("points.csv"),
        "path,unit,table,address,type\n\
         north/pad-1/w-01/tubing-pressure,1,input,0,f32\n\
         north/pad-1/w-01/casing-pressure,1,input,1,f32\n\
         north/pad-9/w-99/tubing-pressure,1,input,8,f32\n",
    )
    .unwrap();
    let output = run(flowline(directory.path())
        .arg("gateway")
        .env("FLOWLINE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLOWLINE_GATEWAY_POINTS", "points.csv")
        .env(
            "FLOWLINE_GATEWAY_MODBUS",
            r#"[{ name = "plc", address = "127.0.0.1:1" }]"#,
        ));
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(
        errors.contains("line 3: north/pad-1/w-01/casing-pressure: input 1..=2 overlaps"),
        "{errors}"
    );
    assert!(
        errors.contains("line 4: north/pad-9/w-99/tubing-pressure: no such tag in the catalog"),
        "{errors}"
    );
}
