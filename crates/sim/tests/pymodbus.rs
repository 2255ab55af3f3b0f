//! Interoperability with a Modbus client nobody here wrote: pymodbus reads
//! holding and input registers, coils and discrete inputs of the running
//! simulator, decodes the floats itself, and writes a setpoint and a run
//! command that the model then obeys.

mod python;

use std::sync::Arc;

use flowline_catalog::modbus::Table;
use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::{Timestamp, Value};
use flowline_sim::{SimConfig, Simulator, point_list, serve_modbus};
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

/// The points pymodbus reads: one of each table.
const READS: [&str; 6] = [
    "north/pad-1/w-01/tubing-pressure",
    "north/pad-1/w-01/esp/motor-current",
    "north/pad-1/w-01/choke/setpoint",
    "north/pad-1/w-03/rod-pump/run",
    "north/pad-1/w-03/rod-pump/running",
    "north/pad-1/separator/level",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_reads_every_table_and_its_writes_change_the_physics() {
    let document = demo_field(DemoLayout::default());
    let start = Timestamp::from_seconds(START_S);
    let sim = Arc::new(Simulator::new(&document, SimConfig::default(), start).unwrap());
    sim.step(start.saturating_add_micros(1_000_000));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(serve_modbus(Arc::clone(&sim), listener, cancel.clone()));

    let points = point_list(&document).unwrap();
    let address = |path: &str| {
        points
            .iter()
            .find(|point| point.path.as_str() == path)
            .unwrap()
            .address
    };
    let reads: Vec<Json> = READS
        .iter()
        .map(|path| {
            let point = address(path);
            let kind = if point.table.is_bits() { "bool" } else { "f32" };
            json!({"name": path, "table": point.table.name(), "address": point.address,
                   "type": kind})
        })
        .collect();
    let choke = address("north/pad-1/w-01/choke/setpoint");
    let run = address("north/pad-1/w-03/rod-pump/run");
    assert_eq!(
        (choke.table, run.table),
        (Table::HoldingRegister, Table::Coil)
    );
    let plan = json!({
        "host": "127.0.0.1", "port": port, "unit": 1, "reads": reads, "missing_unit": 99,
        "writes": [
            {"table": "holding", "address": choke.address, "value": 80.0},
            {"table": "coil", "address": run.address, "value": false},
        ],
    });
    let expected: Vec<Value> = READS
        .iter()
        .map(|path| sim.reading(path).unwrap().value.unwrap())
        .collect();

    let report = python::run("pymodbus_client.py", &plan).await;

    for (path, model) in READS.iter().zip(&expected) {
        let served = &report["before"][path];
        match model {
            Value::Float(value) => {
                let served = served
                    .as_f64()
                    .unwrap_or_else(|| panic!("{path}: {served}"));
                assert_eq!(served as f32, *value as f32, "{path}");
            }
            Value::Boolean(on) => assert_eq!(served, &json!(on), "{path}"),
            other => panic!("{path} reads {other:?}"),
        }
    }
    assert_eq!(report["writes"], json!([true, true]));
    assert_eq!(
        report["after"]["north/pad-1/w-01/choke/setpoint"],
        json!(80.0)
    );
    assert_eq!(
        report["after"]["north/pad-1/w-03/rod-pump/run"],
        json!(false)
    );
    assert_eq!(report["missing_unit_exception"], json!(0x0B));

    sim.step(start.saturating_add_micros(120_000_000));
    let position = sim
        .reading("north/pad-1/w-01/choke/position")
        .unwrap()
        .value
        .unwrap();
    assert!(
        (position.as_f64().unwrap() - 80.0).abs() < 0.5,
        "choke moved to {position}"
    );
    let speed = sim
        .reading("north/pad-1/w-03/rod-pump/speed")
        .unwrap()
        .value
        .unwrap();
    assert_eq!(speed, Value::Float(0.0), "the rod pump stopped");

    cancel.cancel();
    server.await.unwrap().unwrap();
}
