//! The Modbus TCP server, over real TCP on 127.0.0.1, read and written with
//! the tokio-modbus client: every tag reads back as the model's value,
//! writes move the physics, and bad requests get the exceptions a Modbus
//! client expects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flowline_catalog::modbus::{ModbusAddress, Table, read_point_list, write_point_list};
use flowline_catalog::{DemoLayout, Document, demo_field};
use flowline_core::{Timestamp, Value};
use flowline_sim::{
    FAST_GROUP, SLOW_GROUP, SimConfig, SimError, Simulator, point_list, run, serve_modbus,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_modbus::client::{Context, Reader, Writer, tcp};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

fn start() -> Timestamp {
    Timestamp::from_seconds(START_S)
}

/// A simulator served over Modbus on an ephemeral port, stepped by hand.
struct Served {
    sim: Arc<Simulator>,
    address: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), SimError>>,
}

impl Served {
    async fn start(document: &Document) -> Served {
        let sim = Arc::new(Simulator::new(document, SimConfig::default(), start()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve_modbus(Arc::clone(&sim), listener, cancel.clone()));
        Served {
            sim,
            address,
            cancel,
            task,
        }
    }

    async fn client(&self, unit: u8) -> Context {
        tcp::connect_slave(self.address, Slave(unit)).await.unwrap()
    }

    /// Steps the model `seconds` on from its last step, one second at a time.
    fn advance(&self, seconds: i64) {
        let now = self.sim.with_model(|model| model.now());
        for second in 1..=seconds {
            self.sim.step(now.saturating_add_micros(second * 1_000_000));
        }
    }

    fn number(&self, path: &str) -> f64 {
        match self.sim.reading(path).unwrap().value {
            Some(Value::Float(value)) => value,
            other => panic!("{path} reads {other:?}"),
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// The bits or registers at `address`, as words.
async fn read(client: &mut Context, address: &ModbusAddress) -> Result<Vec<u16>, ExceptionCode> {
    let (start, count) = (address.address, address.width());
    match address.table {
        Table::Coil => bits(client.read_coils(start, count).await.unwrap()),
        Table::DiscreteInput => bits(client.read_discrete_inputs(start, count).await.unwrap()),
        Table::InputRegister => client.read_input_registers(start, count).await.unwrap(),
        Table::HoldingRegister => client.read_holding_registers(start, count).await.unwrap(),
    }
}

fn bits(read: Result<Vec<bool>, ExceptionCode>) -> Result<Vec<u16>, ExceptionCode> {
    read.map(|bits| bits.into_iter().map(u16::from).collect())
}

fn address_of(document: &Document, path: &str) -> ModbusAddress {
    point_list(document)
        .unwrap()
        .into_iter()
        .find(|point| point.path.as_str() == path)
        .unwrap_or_else(|| panic!("{path} is not bound"))
        .address
}

#[tokio::test]
async fn every_demo_tag_reads_over_modbus_and_decodes_to_the_models_value() {
    let document = demo_field(DemoLayout::default());
    let served = Served::start(&document).await;
    served.advance(5);
    let points = point_list(&document).unwrap();
    assert_eq!(points.len(), document.tags.len());

    let mut client = served.client(1).await;
    for point in &points {
        client.set_slave(Slave(point.address.unit));
        let words = read(&mut client, &point.address).await.unwrap();
        let decoded = point.address.decode(&words).unwrap();
        let expected = served
            .sim
            .reading(point.path.as_str())
            .unwrap()
            .value
            .unwrap();
        match (&decoded, &expected) {
            (Value::Float(served), Value::Float(model)) => {
                assert_eq!(*served as f32, *model as f32, "{}", point.path);
            }
            _ => assert_eq!(decoded, expected, "{}", point.path),
        }
    }

    // One read may span many tags: a pad's first 60 input registers hold
    // the same words as the tags read one by one.
    client.set_slave(Slave(1));
    let block = client.read_input_registers(0, 60).await.unwrap().unwrap();
    for point in points
        .iter()
        .filter(|point| point.address.unit == 1 && point.address.table == Table::InputRegister)
    {
        let start = usize::from(point.address.address);
        if start + 2 <= 60 {
            let words = read(&mut client, &point.address).await.unwrap();
            assert_eq!(&block[start..start + 2], words.as_slice(), "{}", point.path);
        }
    }
    served.stop().await;
}

#[tokio::test]
async fn a_setpoint_written_over_modbus_changes_the_physics() {
    let document = demo_field(DemoLayout::default());
    let served = Served::start(&document).await;
    let mut client = served.client(1).await;
    let oil_before = served.number("north/pad-1/w-01/oil-rate");

    let setpoint = address_of(&document, "north/pad-1/w-01/choke/setpoint");
    let words = setpoint.encode(&Value::Float(100.0)).unwrap();
    client
        .write_multiple_registers(setpoint.address, &words)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read(&mut client, &setpoint).await.unwrap(),
        words,
        "read back at once"
    );
    served.advance(60);
    assert!((served.number("north/pad-1/w-01/choke/position") - 100.0).abs() < 0.5);
    assert!(served.number("north/pad-1/w-01/oil-rate") > oil_before * 1.05);

    let run = address_of(&document, "north/pad-1/w-01/esp/run");
    client
        .write_single_coil(run.address, false)
        .await
        .unwrap()
        .unwrap();
    served.advance(5);
    assert_eq!(served.number("north/pad-1/w-01/esp/motor-current"), 0.0);
    let running = address_of(&document, "north/pad-1/w-01/esp/running");
    assert_eq!(read(&mut client, &running).await.unwrap(), vec![0]);

    // A 32-bit float written one register at a time, as some clients do.
    let frequency = address_of(&document, "north/pad-1/w-01/esp/frequency-setpoint");
    let words = frequency.encode(&Value::Float(62.5)).unwrap();
    client
        .write_single_register(frequency.address, words[0])
        .await
        .unwrap()
        .unwrap();
    client
        .write_single_register(frequency.address + 1, words[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        served.number("north/pad-1/w-01/esp/frequency-setpoint"),
        62.5
    );
    served.stop().await;
}

#[tokio::test]
async fn requests_outside_the_map_get_the_exceptions_modbus_clients_expect() {
    let mut document = demo_field(DemoLayout::default());
    // Pad 3 serves no setpoints or commands: its writable tables are gone.
    document.tags.retain(|entry| {
        !(entry.spec.writable && entry.spec.path.as_str().starts_with("north/pad-3/"))
    });
    // A measurement served from a holding register stays read-only.
    let tubing = document
        .tags
        .iter_mut()
        .find(|entry| entry.spec.path.as_str() == "north/pad-1/w-04/tubing-pressure")
        .unwrap();
    tubing.spec.source.as_mut().unwrap().address = "unit=1;holding=1000;type=f32".to_owned();
    let served = Served::start(&document).await;

    let mut unknown_unit = served.client(99).await;
    let answer = unknown_unit.read_input_registers(0, 2).await.unwrap();
    assert_eq!(answer, Err(ExceptionCode::GatewayTargetDevice));

    let mut client = served.client(1).await;
    let answer = client.read_input_registers(60_000, 2).await.unwrap();
    assert_eq!(answer, Err(ExceptionCode::IllegalDataAddress));
    let answer = client.read_holding_registers(998, 4).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalDataAddress),
        "998 and 999 are unbound"
    );
    let answer = client.read_input_registers(0, 126).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalDataValue),
        "more than 125 registers"
    );

    let answer = client.write_single_register(1000, 0).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalFunction),
        "a read-only measurement"
    );
    let mut pad_three = served.client(3).await;
    let answer = pad_three.write_single_register(0, 0).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalFunction),
        "no writable registers"
    );
    let answer = pad_three.write_single_coil(0, true).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalFunction),
        "no writable coils"
    );

    let setpoint = address_of(&document, "north/pad-1/w-01/choke/setpoint");
    let too_wide = setpoint.encode(&Value::Float(150.0)).unwrap();
    let answer = client
        .write_multiple_registers(setpoint.address, &too_wide)
        .await
        .unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalDataValue),
        "150 % is out of range"
    );
    let answer = client
        .write_multiple_registers(setpoint.address, &[0x7FC0, 0])
        .await
        .unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalDataValue),
        "NaN is no setpoint"
    );
    assert!(
        served.number("north/pad-1/w-01/choke/setpoint") < 100.0,
        "nothing applied"
    );
    served.stop().await;
}

#[tokio::test]
async fn a_write_spanning_two_setpoints_applies_both_or_neither() {
    let document = demo_field(DemoLayout::default());
    let served = Served::start(&document).await;
    let mut client = served.client(1).await;
    // Holding registers of pad 1: w-01 choke setpoint at 0, frequency
    // setpoint at 2.
    let choke = address_of(&document, "north/pad-1/w-01/choke/setpoint");
    let frequency = address_of(&document, "north/pad-1/w-01/esp/frequency-setpoint");
    assert_eq!((choke.address, frequency.address), (0, 2));
    let mut words = choke.encode(&Value::Float(20.0)).unwrap();
    words.extend(frequency.encode(&Value::Float(90.0)).unwrap());
    let answer = client.write_multiple_registers(0, &words).await.unwrap();
    assert_eq!(
        answer,
        Err(ExceptionCode::IllegalDataValue),
        "90 Hz is out of range"
    );
    assert_ne!(served.number("north/pad-1/w-01/choke/setpoint"), 20.0);

    words.truncate(2);
    words.extend(frequency.encode(&Value::Float(55.0)).unwrap());
    client
        .write_multiple_registers(0, &words)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.number("north/pad-1/w-01/choke/setpoint"), 20.0);
    assert_eq!(
        served.number("north/pad-1/w-01/esp/frequency-setpoint"),
        55.0
    );
    served.stop().await;
}

#[tokio::test]
async fn a_dropped_out_sensor_reads_nan_and_a_dropped_out_bit_keeps_its_last_value() {
    let document = demo_field(DemoLayout::default());
    let served = Served::start(&document).await;
    for target in [
        "north/pad-1/w-01/esp/motor-current",
        "north/pad-1/w-01/esp/running",
    ] {
        served
            .sim
            .inject(&format!("{target}:dropout").parse().unwrap())
            .unwrap();
    }
    served
        .sim
        .inject(&"north/pad-1/w-01/oil-rate:bad-quality".parse().unwrap())
        .unwrap();
    served.advance(2);

    let mut client = served.client(1).await;
    for path in [
        "north/pad-1/w-01/esp/motor-current",
        "north/pad-1/w-01/oil-rate",
    ] {
        let address = address_of(&document, path);
        assert_eq!(
            read(&mut client, &address).await.unwrap(),
            vec![0x7FC0, 0x0000],
            "{path}"
        );
        let error = address.decode(&[0x7FC0, 0x0000]).unwrap_err();
        assert!(
            error.to_string().contains("NaN"),
            "the gateway sees no value"
        );
    }
    let running = address_of(&document, "north/pad-1/w-01/esp/running");
    assert_eq!(read(&mut client, &running).await.unwrap(), vec![1]);
    served.stop().await;
}

#[tokio::test]
async fn the_point_list_exports_every_bound_tag_and_reads_back() {
    let document = demo_field(DemoLayout::default());
    let points = point_list(&document).unwrap();
    let text = write_point_list(&points);
    let read_back = read_point_list(&text).unwrap();
    assert_eq!(read_back.len(), document.tags.len());
    for (written, read) in points.iter().zip(&read_back) {
        assert_eq!((&written.path, written.address), (&read.path, read.address));
    }
    // Measurements (numbers nobody writes) are polled fast; states,
    // setpoints and commands slowly.
    let measurements = document
        .tags
        .iter()
        .filter(|entry| entry.spec.unit.is_some() && !entry.spec.writable)
        .count();
    let fast = points.iter().filter(|point| point.group == FAST_GROUP);
    assert!(
        fast.clone()
            .all(|point| point.address.table == Table::InputRegister)
    );
    assert_eq!(fast.count(), measurements);
    let slow = points
        .iter()
        .filter(|point| point.group == SLOW_GROUP)
        .count();
    assert_eq!(slow, points.len() - measurements);
}

#[tokio::test]
async fn garbage_on_a_connection_does_not_stop_the_server() {
    let document = demo_field(DemoLayout::default());
    let served = Served::start(&document).await;
    let mut garbage = TcpStream::connect(served.address).await.unwrap();
    // Transaction 1, protocol 0, length 6, unit 1, function 0x10 with a
    // count of 0x9000 registers that the frame does not carry.
    let frame = [0, 1, 0, 0, 0, 6, 1, 0x10, 0, 0, 0x90, 0];
    garbage.write_all(&frame).await.unwrap();
    garbage.write_all(&[0xFF; 300]).await.unwrap();
    drop(garbage);

    let mut client = served.client(1).await;
    let words = client.read_input_registers(0, 2).await.unwrap().unwrap();
    assert_eq!(words.len(), 2);
    served.stop().await;
}

#[tokio::test]
async fn run_steps_from_the_wall_clock_serves_modbus_and_stops_when_cancelled() {
    let document = demo_field(DemoLayout::default());
    let config = SimConfig {
        step_interval_ms: 20,
        ..SimConfig::default()
    };
    let sim = Arc::new(Simulator::new(&document, config, Timestamp::now()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(Arc::clone(&sim), listener, cancel.clone()));

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.status().steps >= 3, "{} steps", sim.status().steps);
    let mut client = tcp::connect_slave(address, Slave(2)).await.unwrap();
    assert_eq!(
        client
            .read_input_registers(0, 2)
            .await
            .unwrap()
            .unwrap()
            .len(),
        2
    );

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
    let steps = sim.status().steps;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.status().steps, steps, "no steps after stopping");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the port is closed"
    );
}
