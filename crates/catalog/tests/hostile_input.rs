//! The catalog's file decoders meet arbitrary and damaged input: they must
//! return a document or an error, never panic, and every entry they accept
//! must pass back through the encoder unchanged.

use flowline_catalog::{DemoLayout, Document, Format, demo_field};
use proptest::prelude::*;

fn decode_and_check(text: &str, format: Format) -> Result<(), TestCaseError> {
    if let Ok(document) = Document::parse(text, format) {
        let again = Document::parse(&document.render(format), format).unwrap();
        let specs = |document: &Document| {
            let assets: Vec<_> = document
                .assets
                .iter()
                .map(|entry| entry.spec.clone())
                .collect();
            let tags: Vec<_> = document
                .tags
                .iter()
                .map(|entry| entry.spec.clone())
                .collect();
            (assets, tags)
        };
        prop_assert_eq!(specs(&again), specs(&document));
        prop_assert!(again.errors.is_empty());
    }
    Ok(())
}

fn damaged(original: &str, flips: &[(usize, u8)]) -> String {
    let mut bytes = original.as_bytes().to_vec();
    for (position, byte) in flips {
        let index = position % bytes.len();
        bytes[index] = *byte;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #[test]
    fn the_csv_decoder_survives_arbitrary_text(text in "\\PC{0,400}") {
        decode_and_check(&text, Format::Csv)?;
    }

    #[test]
    fn the_yaml_decoder_survives_arbitrary_text(text in "\\PC{0,400}") {
        decode_and_check(&text, Format::Yaml)?;
    }

    #[test]
    fn damaged_exports_are_read_or_rejected(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
        yaml in any::<bool>(),
    ) {
        let format = if yaml { Format::Yaml } else { Format::Csv };
        let original = demo_field(DemoLayout { pads: 1, wells_per_pad: 2 }).render(format);
        decode_and_check(&damaged(&original, &flips), format)?;
    }
}

mod modbus {
    use flowline_catalog::modbus::{ModbusAddress, read_point_list};
    use flowline_core::Value;
    use proptest::prelude::*;

    const TYPES: [&str; 8] = ["u16", "i16", "u32", "i32", "f32", "u64", "i64", "f64"];
    const ORDERS: [&str; 4] = ["abcd", "cdab", "badc", "dcba"];

    proptest! {
        #[test]
        fn any_address_text_parses_or_is_rejected_and_prints_back(text in "\\PC{0,60}") {
            if let Ok(address) = text.parse::<ModbusAddress>() {
                prop_assert_eq!(address.to_string().parse::<ModbusAddress>().unwrap(), address);
            }
        }

        #[test]
        fn any_registers_decode_to_a_finite_value_or_an_error(
            registers in proptest::collection::vec(any::<u16>(), 0..6),
            value_type in 0usize..8,
            order in 0usize..4,
            scale in -1.0e3f64..1.0e3,
        ) {
            let (value_type, order) = (TYPES[value_type], ORDERS[order]);
            let text = format!("holding=0;type={value_type};order={order};scale={scale}");
            let Ok(address) = text.parse::<ModbusAddress>() else { return Ok(()) };
            if let Ok(value) = address.decode(&registers) {
                prop_assert!(!value.is_missing());
                prop_assert_eq!(registers.len(), usize::from(address.width()));
                // What decodes encodes back to registers that decode the same.
                let again = address.decode(&address.encode(&value).unwrap()).unwrap();
                match (value.as_f64(), again.as_f64()) {
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0)),
                    _ => prop_assert_eq!(again, value),
                }
            }
        }

        #[test]
        fn in_range_integers_round_trip_exactly(value in any::<i16>(), order in 0usize..4) {
            let text = format!("holding=0;type=i16;order={}", ORDERS[order]);
            let address: ModbusAddress = text.parse().unwrap();
            let registers = address.encode(&Value::Integer(i64::from(value))).unwrap();
            prop_assert_eq!(address.decode(&registers).unwrap(), Value::Integer(i64::from(value)));
        }

        #[test]
        fn the_point_list_reader_survives_arbitrary_text(text in "\\PC{0,300}") {
            let _ = read_point_list(&text);
            let with_header = format!("path,unit,table,address,type\n{text}");
            if let Err(errors) = read_point_list(&with_header) {
                prop_assert!(!errors.is_empty());
            }
        }
    }
}
