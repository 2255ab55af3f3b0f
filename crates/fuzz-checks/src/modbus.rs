//! Modbus bindings: the address text of a tag, the registers a device
//! sends, and point-list files.

use flowline_catalog::RowError;
use flowline_catalog::modbus::{
    ModbusAddress, Point, ValueType, overlaps, read_point_list, write_point_list,
};

use crate::text;

/// An address text parses or is refused with an error quoting it; what
/// parses prints a canonical text that reads back to the same address,
/// and ends at or before register 65535.
pub fn address(data: &[u8]) {
    crate::text_round_trip::<ModbusAddress>(data);
    if let Ok(address) = text(data).parse::<ModbusAddress>() {
        let end = u32::from(address.address) + u32::from(address.width()) - 1;
        assert_eq!(u32::from(address.last()), end, "{address} runs past 65535");
    }
}

/// The first line is an address text; the bytes after it are registers,
/// two big-endian bytes each, as a device would send them. Registers
/// decode to a finite value or an error; a value decodes from registers
/// that it encodes back to.
pub fn registers(data: &[u8]) {
    let (line, rest) = match data.iter().position(|byte| *byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    let Ok(address) = text(line).parse::<ModbusAddress>() else {
        return;
    };
    let registers: Vec<u16> = rest
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();

    let value = match address.decode(&registers) {
        Ok(value) => value,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "{address}: empty error");
            return;
        }
    };
    assert_eq!(registers.len(), usize::from(address.width()), "{address}");
    let number = value.as_f64();
    assert!(
        number.is_none_or(f64::is_finite),
        "{address}: {registers:04x?} decoded to {value}, not a finite value"
    );

    let plain = address.scale == 1.0 && address.offset == 0.0;
    let encoded = match address.encode(&value) {
        Ok(encoded) => encoded,
        // Far-fetched scaling can lose the precision a write needs.
        Err(_) if !plain => return,
        Err(error) => panic!("{address}: {registers:04x?} decoded to {value}: {error}"),
    };
    let again = address
        .decode(&encoded)
        .unwrap_or_else(|error| panic!("{address}: {value} encoded to {encoded:04x?}: {error}"));
    if plain {
        let sent: Vec<u16> = match address.value_type {
            ValueType::Bool => registers.iter().map(|bit| u16::from(*bit != 0)).collect(),
            _ => registers.clone(),
        };
        // A float zero decodes as 0.0 whatever its sign bit said.
        if number != Some(0.0) {
            assert_eq!(encoded, sent, "{address}: {value} does not encode back");
        }
        assert_eq!(again, value, "{address}");
        return;
    }
    let (Some(first), Some(second)) = (number, again.as_f64()) else {
        panic!("{address}: {value} came back as {again}");
    };
    let scale = address.scale.abs();
    let magnitude = first.abs() + address.offset.abs();
    let tolerance = match address.value_type {
        // One raw step either way, plus rounding in the multiply-add.
        ValueType::F32 => 1e-6 * magnitude + scale * f64::from(f32::MIN_POSITIVE),
        ValueType::F64 => 1e-9 * magnitude,
        _ => scale + 1e-9 * magnitude,
    };
    assert!(
        (first - second).abs() <= tolerance,
        "{address}: {value} encoded to {encoded:04x?}, which decodes to {again}"
    );
}

/// A point-list file reads to points or to errors that each name a line;
/// the points write out as a file that reads back to the same points; and
/// each point is where its own row's `unit`, `table` and `address` cells
/// say, whatever the other cells hold.
pub fn point_list(data: &[u8]) {
    let text = text(data);
    let points = match read_point_list(&text) {
        Ok(points) => points,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused point list must say why");
            errors.iter().for_each(assert_names_line);
            return;
        }
    };

    let written = write_point_list(&points);
    let again = read_point_list(&written)
        .unwrap_or_else(|errors| panic!("written point list is refused: {errors:?}\n{written}"));
    assert_eq!(again.len(), points.len());
    for (read, reread) in points.iter().zip(&again) {
        assert_eq!(
            (&read.path, &read.address, &read.group),
            (&reread.path, &reread.address, &reread.group),
            "\n{written}"
        );
    }
    for problem in overlaps(&points) {
        assert_names_line(&problem);
    }
    check_cells(&text, &points);
}

/// Reads the point list again, cell by cell, and checks that every point
/// lies in the unit, table and address its row's cells name. The list
/// was read without errors, so its rows and points pair up in order.
fn check_cells(text: &str, points: &[Point]) {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().expect("read once already").clone();
    let column = |name: &str| headers.iter().position(|header| header == name);
    let (unit, table, address) = (column("unit"), column("table"), column("address"));
    let records: Vec<csv::StringRecord> = reader.records().flatten().collect();
    assert_eq!(records.len(), points.len(), "one point a row");

    for (record, point) in records.iter().zip(points) {
        let (found, row) = (&point.address, record.as_slice());
        let unit_cell = Some(cell(record, unit)).filter(|unit| !unit.is_empty());
        assert_eq!(
            unit_cell.unwrap_or("1").parse::<u8>().ok(),
            Some(found.unit),
            "unit of {row:?}"
        );
        assert_eq!(cell(record, table), found.table.name(), "table of {row:?}");
        assert_eq!(
            cell(record, address).parse::<u16>().ok(),
            Some(found.address),
            "address of {row:?}"
        );
    }
}

/// The cell of `record` in column `index`; empty if there is none.
fn cell(record: &csv::StringRecord, index: Option<usize>) -> &str {
    index
        .and_then(|index| record.get(index))
        .unwrap_or_default()
}

/// A row error says on which line and what is wrong.
fn assert_names_line(error: &RowError) {
    assert!(error.line.is_some_and(|line| line >= 1), "{error:?}");
    assert!(!error.message.is_empty(), "{error:?}");
}
