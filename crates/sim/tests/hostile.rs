//! Hostile input: whatever text a fault schedule holds and whatever a Modbus
//! client sends, the simulator answers with an error or an exception, never
//! a panic, and never takes a value outside a tag's range.

use std::borrow::Cow;
use std::sync::Arc;

use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{FaultSpec, ModbusService, SimConfig, Simulator, parse_schedule};
use proptest::prelude::*;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

/// Schedule entries built from plausible and implausible pieces.
fn schedule_entry() -> impl Strategy<Value = String> {
    let target = "[a-z][a-z0-9-]{0,6}(/[a-z0-9][a-z0-9._-]{0,6}){0,4}|[A-Z/ ]{0,5}";
    let kind = prop_oneof![
        Just("gas-lock".to_owned()),
        Just("stuck".to_owned()),
        Just("bad-quality".to_owned()),
        "[a-z-]{0,12}",
    ];
    let time = "[0-9]{0,5}(\\.[0-9]{0,3})?(ms|s|m|min|h|d|x|)";
    (target, kind, prop::option::of(time), prop::option::of(time)).prop_map(
        |(target, kind, offset, duration)| {
            let mut entry = format!("{target}:{kind}");
            if let Some(offset) = offset {
                entry.push_str(&format!("@{offset}"));
            }
            if let Some(duration) = duration {
                entry.push_str(&format!("+{duration}"));
            }
            entry
        },
    )
}

proptest! {
    #[test]
    fn any_schedule_text_parses_or_names_the_bad_entry(text in "\\PC{0,200}") {
        match parse_schedule(&text) {
            Ok(specs) => {
                for spec in specs {
                    let again: FaultSpec = spec.to_string().parse().unwrap();
                    prop_assert_eq!(again, spec);
                }
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.starts_with("fault schedule entry "), "{}", message);
                prop_assert!(error.entry >= 1);
            }
        }
    }

    #[test]
    fn built_schedule_entries_round_trip_or_say_what_is_wrong(
        entries in prop::collection::vec(schedule_entry(), 1..5)
    ) {
        let text = entries.join(", ");
        match parse_schedule(&text) {
            Ok(specs) => {
                prop_assert_eq!(specs.len(), entries.len());
                for spec in specs {
                    let again: FaultSpec = spec.to_string().parse().unwrap();
                    prop_assert_eq!(again, spec);
                }
            }
            Err(error) => {
                let entry = &entries[error.entry - 1];
                prop_assert!(error.to_string().contains(entry.trim()), "{}", error);
            }
        }
    }
}

/// Any request a client could send, with addresses and counts near the
/// demo's map and anywhere else.
fn request() -> impl Strategy<Value = Request<'static>> {
    let address = prop_oneof![0..200_u16, any::<u16>()];
    let count = prop_oneof![0..130_u16, any::<u16>()];
    prop_oneof![
        (address.clone(), count.clone()).prop_map(|(a, c)| Request::ReadCoils(a, c)),
        (address.clone(), count.clone()).prop_map(|(a, c)| Request::ReadDiscreteInputs(a, c)),
        (address.clone(), count.clone()).prop_map(|(a, c)| Request::ReadHoldingRegisters(a, c)),
        (address.clone(), count).prop_map(|(a, c)| Request::ReadInputRegisters(a, c)),
        (address.clone(), any::<bool>()).prop_map(|(a, on)| Request::WriteSingleCoil(a, on)),
        (address.clone(), any::<u16>()).prop_map(|(a, w)| Request::WriteSingleRegister(a, w)),
        (
            address.clone(),
            prop::collection::vec(any::<bool>(), 0..2_100)
        )
            .prop_map(|(a, bits)| Request::WriteMultipleCoils(a, Cow::Owned(bits))),
        (address.clone(), prop::collection::vec(any::<u16>(), 0..130))
            .prop_map(|(a, words)| Request::WriteMultipleRegisters(a, Cow::Owned(words))),
        (address, any::<u16>(), any::<u16>())
            .prop_map(|(a, and, or)| Request::MaskWriteRegister(a, and, or)),
        Just(Request::ReportServerId),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(code, bytes)| Request::Custom(code, Cow::Owned(bytes))),
    ]
}

/// How many bits or registers a read asks for, if it is a read.
fn read_count(request: &Request<'_>) -> Option<usize> {
    match request {
        Request::ReadCoils(_, count)
        | Request::ReadDiscreteInputs(_, count)
        | Request::ReadHoldingRegisters(_, count)
        | Request::ReadInputRegisters(_, count) => Some(usize::from(*count)),
        _ => None,
    }
}

fn answered_count(response: &Response) -> Option<usize> {
    match response {
        Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => Some(bits.len()),
        Response::ReadHoldingRegisters(words) | Response::ReadInputRegisters(words) => {
            Some(words.len())
        }
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_modbus_request_gets_an_answer_or_an_exception_and_setpoints_stay_in_range(
        requests in prop::collection::vec((prop_oneof![0..5_u8, any::<u8>()], request()), 1..30)
    ) {
        let document = demo_field(DemoLayout::default());
        let start = Timestamp::from_seconds(START_S);
        let sim = Arc::new(Simulator::new(&document, SimConfig::default(), start).unwrap());
        let service = ModbusService::new(Arc::clone(&sim));
        for (unit, request) in requests {
            let asked = read_count(&request);
            let answer = service.call(SlaveRequest { slave: unit, request }).into_inner();
            match answer {
                Ok(response) => {
                    prop_assert!((1..=3).contains(&unit), "unit {} answered", unit);
                    prop_assert_eq!(answered_count(&response), asked);
                }
                Err(ExceptionCode::GatewayTargetDevice) => prop_assert!(!(1..=3).contains(&unit)),
                Err(code) => prop_assert!(
                    matches!(
                        code,
                        ExceptionCode::IllegalFunction
                            | ExceptionCode::IllegalDataAddress
                            | ExceptionCode::IllegalDataValue
                    ),
                    "{:?}",
                    code
                ),
            }
        }
        sim.step(start.saturating_add_micros(1_000_000));
        for entry in document.tags.iter().filter(|entry| entry.spec.writable) {
            let reading = sim.reading(entry.spec.path.as_str()).unwrap();
            let value = reading.value.unwrap().as_f64().unwrap();
            prop_assert!(entry.spec.valid_range.contains(value), "{} = {}", entry.spec.path, value);
        }
    }
}
