//! Command write-back end to end: a signed command goes through the
//! gateway's executor, over Modbus TCP, into the field simulator, whose
//! physics answer; commands that are not properly signed, have expired or
//! replay an earlier one change nothing.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use flowline_catalog::{Catalog, DemoLayout, ImportMode, Snapshot, demo_field};
use flowline_core::{Command, Outcome, Sample, SignedCommand, TagId, Timestamp, Value};
use flowline_db::Database;
use flowline_edge::command::{CommandConfig, Executor, Verifier};
use flowline_edge::{ChannelPublisher, Gateway, GatewayConfig, ModbusEndpoint, catalog_points};
use flowline_sim::{SimConfig, Simulator, serve_modbus};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The natural-flow well of the demo field's first pad.
const WELL: &str = "north/pad-1/w-04";
/// The id of the control service's key in the gateway's trust list.
const KEY_ID: &str = "control-1";
/// The longest a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

fn control_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn command_config() -> CommandConfig {
    CommandConfig::default().trusting(KEY_ID, &control_key().verifying_key())
}

/// A command to set `tag` to `value`, issued `age_s` seconds ago and
/// living `lifetime_s` seconds, signed by the control key.
fn signed(tag: TagId, value: f64, age_s: i64, lifetime_s: i64, nonce: u128) -> SignedCommand {
    let issued_at = Timestamp::now().saturating_add_micros(-age_s * 1_000_000);
    let command = Command {
        id: format!("cmd-{nonce}"),
        tag,
        value: Value::Float(value),
        issued_at,
        expires_at: issued_at.saturating_add_micros(lifetime_s * 1_000_000),
        nonce,
    };
    let signature = control_key()
        .sign(&command.signing_bytes())
        .to_bytes()
        .to_vec();
    SignedCommand {
        command,
        key_id: KEY_ID.to_owned(),
        signature,
    }
}

/// The demo field in a real SQLite catalog, as `flowline up` loads it.
async fn demo_catalog(directory: &std::path::Path) -> Arc<Snapshot> {
    let url = format!("sqlite://{}", directory.join("flowline.db").display());
    let database = Database::connect(&url, 2).await.unwrap();
    let catalog = Catalog::open(database).await.unwrap();
    let demo = demo_field(DemoLayout::default());
    catalog
        .import(&demo, ImportMode::AllOrNothing, "test")
        .await
        .unwrap();
    catalog.snapshot()
}

/// What a numeric tag of the simulator reads now.
fn reading(sim: &Simulator, path: &str) -> f64 {
    let reading = sim.reading(path).unwrap_or_else(|| panic!("no tag {path}"));
    reading
        .value
        .and_then(|value| value.as_f64())
        .unwrap_or_else(|| panic!("{path} has no number"))
}

/// Steps the simulator `seconds` of simulated time past `clock`, one
/// second at a time, and returns the mean of `path` over those steps.
fn mean_over(sim: &Simulator, clock: &mut Timestamp, path: &str, seconds: u32) -> f64 {
    let mut sum = 0.0;
    for _ in 0..seconds {
        *clock = clock.saturating_add_micros(1_000_000);
        sim.step(*clock);
        sum += reading(sim, path);
    }
    sum / f64::from(seconds)
}

/// Waits for a published sample of `tag` that `wanted` accepts.
async fn published(
    batches: &mut mpsc::Receiver<Vec<Sample>>,
    tag: TagId,
    wanted: impl Fn(&Sample) -> bool,
) -> Sample {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let batch = batches.recv().await.expect("the gateway stopped");
            if let Some(sample) = batch.into_iter().find(|s| s.tag == tag && wanted(s)) {
                return sample;
            }
        }
    })
    .await
    .expect("no such sample in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_choke_command_changes_the_physics_and_refused_ones_change_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let snapshot = demo_catalog(directory.path()).await;
    let tag = |path: &str| snapshot.tag_by_path(path).unwrap().tag.id;
    let setpoint = tag(&format!("{WELL}/choke/setpoint"));
    let position = format!("{WELL}/choke/position");
    let oil_rate = format!("{WELL}/oil-rate");

    // The simulator, stepped by the test in simulated seconds, serving
    // Modbus on an ephemeral port.
    let mut clock = Timestamp::now();
    let document = demo_field(DemoLayout::default());
    let sim = Arc::new(Simulator::new(&document, SimConfig::default(), clock).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_modbus(Arc::clone(&sim), listener, shutdown.clone()));

    // The gateway polling it, as `flowline up --demo` runs it.
    let config = GatewayConfig {
        modbus: vec![ModbusEndpoint {
            name: "simulator".to_owned(),
            address: address.to_string(),
            units: Vec::new(),
        }],
        poll_groups: [("default".to_owned(), 100)].into(),
        commands: command_config(),
        ..GatewayConfig::default()
    };
    let points = catalog_points(&snapshot).unwrap();
    let plan = flowline_edge::plan(&config, &snapshot, &points).unwrap();
    let (publisher, mut batches) = ChannelPublisher::new(64);
    let gateway = Gateway::start(
        plan,
        config.timings(),
        Arc::new(publisher),
        shutdown.clone(),
    );
    let started = Timestamp::now().saturating_add_micros(-600_000_000);
    let verifier = Verifier::new(&config.commands, started).unwrap();
    let mut executor = Executor::new(&gateway, verifier, &config.commands);

    let oil_before = mean_over(&sim, &mut clock, &oil_rate, 20);
    let opening = signed(setpoint, 100.0, 0, 60, 1);
    let outcome = executor.execute(&opening, &snapshot).await;
    assert_eq!(
        outcome.outcome,
        Outcome::Confirmed {
            readback: Value::Float(100.0)
        }
    );
    assert_eq!(outcome.command_id, "cmd-1");

    // The choke travels to its new setpoint and the well flows more.
    for _ in 0..120 {
        clock = clock.saturating_add_micros(1_000_000);
        sim.step(clock);
    }
    assert!((reading(&sim, &position) - 100.0).abs() < 0.5);
    let oil_after = mean_over(&sim, &mut clock, &oil_rate, 20);
    assert!(
        oil_after > oil_before * 1.05,
        "oil rate {oil_before} → {oil_after}"
    );
    // The gateway reads the new position back over Modbus.
    let moved = published(&mut batches, tag(&position), |sample| {
        sample
            .value
            .as_f64()
            .is_some_and(|value| (value - 100.0).abs() < 0.5)
    })
    .await;
    assert!(moved.quality.is_good());

    // None of these may write: the setpoint stays at 100.
    let replayed = opening.clone();
    let mut tampered = signed(setpoint, 100.0, 0, 60, 2);
    tampered.command.value = Value::Float(10.0);
    let mut unsigned = signed(setpoint, 10.0, 0, 60, 3);
    unsigned.signature.clear();
    let mut foreign = signed(setpoint, 10.0, 0, 60, 4);
    foreign.key_id = "someone-else".to_owned();
    let expired = signed(setpoint, 10.0, 300, 60, 5);
    let read_only = signed(tag(&oil_rate), 10.0, 0, 60, 6);
    let cases = [
        (replayed, "replays nonce"),
        (tampered, "signature does not verify"),
        (unsigned, "signature does not verify"),
        (foreign, "unknown key `someone-else`"),
        (expired, "expired at"),
        (read_only, "is not writable"),
    ];
    for (command, expected) in cases {
        let outcome = executor.execute(&command, &snapshot).await;
        match &outcome.outcome {
            Outcome::Refused { reason } => assert!(
                reason.contains(expected),
                "{}: refused for `{reason}`, expected `{expected}`",
                command.command.id
            ),
            other => panic!("{} was not refused: {other:?}", command.command.id),
        }
    }
    let held = reading(&sim, &format!("{WELL}/choke/setpoint"));
    assert!((held - 100.0).abs() < 1e-6, "the setpoint moved to {held}");

    shutdown.cancel();
    gateway.stopped().await;
    server.await.unwrap().unwrap();
}
