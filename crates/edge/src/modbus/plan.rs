//! Turning points into the fewest Modbus read requests.
//!
//! A device is polled group by group. Within a group, the points of one unit
//! and table are sorted by address and merged into requests, each as long as
//! the protocol allows (125 registers, 2,000 bits), joining points that are
//! adjacent, or separated by at most `max_gap` unused addresses. Reading a
//! gap costs a few bytes; another request costs a round trip. The default
//! gap is 0 because some devices answer a read that touches an unmapped
//! address with an exception.

use flowline_catalog::modbus::{ModbusAddress, Table};
use flowline_core::TagId;

/// A tag the gateway polls and where its value is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolledPoint {
    /// The tag the samples are for.
    pub tag: TagId,
    /// Where and how the value is held.
    pub address: ModbusAddress,
}

/// One read request and the points it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Unit (slave) id.
    pub unit: u8,
    /// The table read.
    pub table: Table,
    /// First address read.
    pub start: u16,
    /// Number of bits or registers read.
    pub count: u16,
    /// Indexes, into the point slice given to [`plan_reads`], of the points
    /// inside this request, in address order.
    pub points: Vec<usize>,
}

impl Read {
    /// The last address the request reads.
    pub fn end(&self) -> u16 {
        self.start + (self.count - 1)
    }
}

/// The requests that read every point in `points`, fewest first: sorted by
/// unit, table and address. Points must not overlap (point lists are
/// checked when loaded).
pub fn plan_reads(points: &[PolledPoint], max_gap: u16) -> Vec<Read> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|index| {
        let address = &points[*index].address;
        (address.unit, address.table, address.address)
    });

    let mut reads: Vec<Read> = Vec::new();
    for index in order {
        let address = &points[index].address;
        let last = u32::from(address.last());
        if let Some(read) = reads
            .last_mut()
            .filter(|read| read.unit == address.unit && read.table == address.table)
        {
            // Sorted by address, so this point starts at or after the read.
            let gap = u32::from(address.address).saturating_sub(u32::from(read.end()) + 1);
            let span = last - u32::from(read.start) + 1;
            if gap <= u32::from(max_gap) && span <= u32::from(address.table.max_read()) {
                read.count = read.count.max(span as u16);
                read.points.push(index);
                continue;
            }
        }
        reads.push(Read {
            unit: address.unit,
            table: address.table,
            start: address.address,
            count: address.width(),
            points: vec![index],
        });
    }
    reads
}

#[cfg(test)]
mod tests {
    use flowline_catalog::modbus::ValueType;

    use super::*;

    fn point(tag: u32, text: &str) -> PolledPoint {
        PolledPoint {
            tag: TagId(tag),
            address: text.parse().unwrap(),
        }
    }

    fn spans(reads: &[Read]) -> Vec<(u8, &'static str, u16, u16)> {
        reads
            .iter()
            .map(|read| (read.unit, read.table.name(), read.start, read.count))
            .collect()
    }

    #[test]
    fn adjacent_registers_are_read_in_one_request() {
        // Three f32 values back to back, listed out of order.
        let points = [
            point(1, "input=4;type=f32"),
            point(2, "input=0;type=f32"),
            point(3, "input=2;type=f32"),
        ];
        let reads = plan_reads(&points, 0);
        assert_eq!(spans(&reads), [(1, "input", 0, 6)]);
        assert_eq!(reads[0].points, [1, 2, 0], "points in address order");
    }

    #[test]
    fn units_tables_and_gaps_split_requests() {
        let points = [
            point(1, "unit=1;input=0"),
            point(2, "unit=1;input=5"),
            point(3, "unit=2;input=1"),
            point(4, "unit=1;holding=1"),
            point(5, "unit=1;coil=3"),
        ];
        let reads = plan_reads(&points, 0);
        assert_eq!(
            spans(&reads),
            [
                (1, "coil", 3, 1),
                (1, "input", 0, 1),
                (1, "input", 5, 1),
                (1, "holding", 1, 1),
                (2, "input", 1, 1),
            ]
        );
        // A gap of four unused registers is read through when allowed.
        assert_eq!(spans(&plan_reads(&points[..2], 4)), [(1, "input", 0, 6)]);
    }

    #[test]
    fn requests_never_exceed_the_protocol_limit() {
        // 100 f32 values: 200 registers, more than 125 per request.
        let points: Vec<PolledPoint> = (0..100)
            .map(|n| PolledPoint {
                tag: TagId(n),
                address: ModbusAddress::register(
                    1,
                    Table::InputRegister,
                    n as u16 * 2,
                    ValueType::F32,
                ),
            })
            .collect();
        let reads = plan_reads(&points, 0);
        assert_eq!(spans(&reads), [(1, "input", 0, 124), (1, "input", 124, 76)]);
        let bits: Vec<PolledPoint> = (0..2_500).map(|n| point(n, &format!("coil={n}"))).collect();
        assert_eq!(
            spans(&plan_reads(&bits, 0)),
            [(1, "coil", 0, 2_000), (1, "coil", 2_000, 500)]
        );
    }
}
