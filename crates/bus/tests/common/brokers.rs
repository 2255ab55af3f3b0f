//! Real Kafka-protocol brokers for the tests: librdkafka's mock cluster,
//! hosted in the test process, and tansu, started as a process on a free
//! port of 127.0.0.1 and stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flowline_bus::{BusBackend, BusConfig, KafkaBus, KafkaConfig, Topic};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Environment variable naming the tansu binary; `.ci/run` sets it.
pub const TANSU_ENV: &str = "FLOWLINE_TANSU";

/// Numbers the topic prefixes of this process, so that every bus on a
/// shared broker has topics of its own.
static PREFIXES: AtomicU32 = AtomicU32::new(0);

/// A topic prefix no other bus of this test run uses.
pub fn fresh_prefix() -> String {
    let n = PREFIXES.fetch_add(1, Ordering::Relaxed);
    format!("t{}-{n}.", std::process::id())
}

/// The bus settings of a test against the brokers at `bootstrap`:
/// `partitions` partitions of every topic under a fresh prefix.
pub fn kafka_config(bootstrap: &str, partitions: u32) -> BusConfig {
    BusConfig {
        backend: BusBackend::Kafka,
        prefix: fresh_prefix(),
        partitions,
        kafka: KafkaConfig {
            bootstrap_servers: bootstrap.to_owned(),
            request_timeout_ms: 10_000,
            transaction_timeout_ms: 10_000,
            ..KafkaConfig::default()
        },
        ..BusConfig::default()
    }
}

/// librdkafka's mock cluster, in this process.
pub struct Mock {
    /// The cluster; its brokers stop when it is dropped.
    pub cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Mock {
    /// A cluster of `brokers` brokers.
    pub fn new(brokers: i32) -> Mock {
        Mock {
            cluster: MockCluster::new(brokers).expect("librdkafka starts a mock cluster"),
        }
    }

    /// Its bootstrap servers.
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates the five topics of `config` (the mock cluster has no
    /// CreateTopics request) and connects a bus to them.
    pub async fn bus(&self, config: &BusConfig) -> KafkaBus {
        for topic in Topic::ALL {
            self.cluster
                .create_topic(
                    &topic.name_with(&config.prefix),
                    config.partitions_of(topic) as i32,
                    1,
                )
                .expect("the mock cluster creates a topic");
        }
        KafkaBus::connect(config)
            .await
            .expect("the bus connects to the mock cluster")
    }
}

/// A tansu broker process with in-memory storage.
pub struct Tansu {
    /// The process, killed when dropped.
    child: Child,
    /// Its address, `127.0.0.1:PORT`.
    pub bootstrap: String,
}

impl Tansu {
    /// Starts tansu on a free port, or, when its binary is missing,
    /// returns `None` after saying so loudly; under CI (`CI=true`) a
    /// missing binary fails the test instead.
    pub fn start() -> Option<Tansu> {
        let Some(binary) = tansu_binary() else {
            let message = format!(
                "tansu is not installed ({TANSU_ENV} unset and no tansu at {}): the tests \
                 against tansu did not run; .ci/run installs it",
                default_tansu().display()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("\n!!! SKIPPED: {message}\n");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let tansu = Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&tansu.bootstrap).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(tansu)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `.ci/run` installs tansu when `FLOWLINE_TANSU` is not set.
fn default_tansu() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/flowline/tools/bin/tansu")
}

/// The tansu binary: `FLOWLINE_TANSU`, else the default install place.
fn tansu_binary() -> Option<PathBuf> {
    let path = std::env::var_os(TANSU_ENV).map_or_else(default_tansu, PathBuf::from);
    path.is_file().then_some(path)
}
