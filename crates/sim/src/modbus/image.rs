//! The register map and the register image.
//!
//! The *map* is fixed when the simulator starts: for each unit id (one per
//! pad in the demo) and each of the four tables, which bound tag owns each
//! bit or register. The *image* holds the registers' contents; it is
//! rewritten after every step from the model's readings, and published as
//! a whole, so a Modbus read copies from an image and never waits for the
//! physics.

use flowline_catalog::modbus::{ModbusAddress, Table, ValueType, WordOrder};
use flowline_core::Value;

use crate::model::{FieldModel, TagIndex};

/// Marks a register that no tag owns.
const UNBOUND: u32 = u32::MAX;
/// Where a table sits in the map and the image: coils, discrete inputs,
/// input registers, holding registers.
pub(crate) fn table_slot(table: Table) -> usize {
    match table {
        Table::Coil => 0,
        Table::DiscreteInput => 1,
        Table::InputRegister => 2,
        Table::HoldingRegister => 3,
    }
}

/// One tag served over Modbus.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    /// The tag.
    pub(crate) tag: TagIndex,
    /// Where and how it is served.
    pub(crate) address: ModbusAddress,
    /// The position of its unit in the map.
    pub(crate) unit: usize,
    /// Whether clients may write it.
    pub(crate) writable: bool,
}

/// One table of one unit in the map.
#[derive(Clone, Debug, Default)]
struct TableMap {
    /// The binding that owns each bit or register; [`UNBOUND`] for none.
    owners: Vec<u32>,
    /// Whether any point in the table may be written.
    writable: bool,
}

/// One unit in the map.
#[derive(Clone, Debug)]
struct UnitMap {
    /// The four tables, in [`table_slot`] order.
    tables: [TableMap; 4],
}

/// Which tag owns every bit and register of every unit.
#[derive(Clone, Debug)]
pub(crate) struct RegisterMap {
    /// Every served tag.
    bindings: Vec<Binding>,
    /// Units in the order of their first binding.
    units: Vec<UnitMap>,
    /// The position of each unit id in `units`.
    unit_positions: Vec<Option<usize>>,
}

/// The contents of every bit and register: per unit, per table, one word
/// each (bits as 0 or 1).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RegisterImage {
    units: Vec<[Vec<u16>; 4]>,
}

impl RegisterMap {
    /// The map of every Modbus-bound tag of `model`.
    pub(crate) fn new(model: &FieldModel) -> RegisterMap {
        let mut map = RegisterMap {
            bindings: Vec::new(),
            units: Vec::new(),
            unit_positions: vec![None; usize::from(u8::MAX) + 1],
        };
        for (tag, _) in model.tags() {
            let Some(address) = model.binding(tag).copied() else {
                continue;
            };
            let unit = *map.unit_positions[usize::from(address.unit)].get_or_insert_with(|| {
                map.units.push(UnitMap {
                    tables: Default::default(),
                });
                map.units.len() - 1
            });
            let writable = model.is_writable(tag);
            let table = &mut map.units[unit].tables[table_slot(address.table)];
            let end = usize::from(address.address) + usize::from(address.width());
            if table.owners.len() < end {
                table.owners.resize(end, UNBOUND);
            }
            let binding = map.bindings.len() as u32;
            table.owners[usize::from(address.address)..end].fill(binding);
            table.writable |= writable;
            map.bindings.push(Binding {
                tag,
                address,
                unit,
                writable,
            });
        }
        map
    }

    /// The number of unit ids served.
    pub(crate) fn unit_count(&self) -> usize {
        self.units.len()
    }

    /// The number of tags served.
    pub(crate) fn point_count(&self) -> usize {
        self.bindings.len()
    }

    /// The position of unit id `unit`, if it is served.
    pub(crate) fn unit(&self, unit: u8) -> Option<usize> {
        self.unit_positions[usize::from(unit)]
    }

    /// The binding at position `index`.
    pub(crate) fn binding(&self, index: usize) -> &Binding {
        &self.bindings[index]
    }

    /// Whether any point of `table` in `unit` may be written.
    pub(crate) fn is_writable(&self, unit: usize, table: Table) -> bool {
        self.units[unit].tables[table_slot(table)].writable
    }

    /// The bindings that own `count` bits or registers of `table` from
    /// `address`, each once, in address order; `None` if any of them is
    /// bound to no tag.
    pub(crate) fn owners(
        &self,
        unit: usize,
        table: Table,
        address: u16,
        count: usize,
    ) -> Option<Vec<usize>> {
        let owners = &self.units[unit].tables[table_slot(table)].owners;
        let start = usize::from(address);
        let range = owners.get(start..start + count)?;
        let mut found: Vec<usize> = Vec::new();
        for owner in range {
            if *owner == UNBOUND {
                return None;
            }
            if found.last() != Some(&(*owner as usize)) {
                found.push(*owner as usize);
            }
        }
        Some(found)
    }

    /// An image of the right shape with every bit and register zero.
    pub(crate) fn empty_image(&self) -> RegisterImage {
        let units = self
            .units
            .iter()
            .map(|unit| {
                let mut tables: [Vec<u16>; 4] = Default::default();
                for (words, table) in tables.iter_mut().zip(&unit.tables) {
                    *words = vec![0; table.owners.len()];
                }
                tables
            })
            .collect();
        RegisterImage { units }
    }

    /// Rewrites every bound bit and register of `image` from the model's
    /// readings. Fast path: one pass over the bindings.
    ///
    /// Modbus has no quality channel. A float of a tag with no value or a
    /// bad quality is served as NaN, which the gateway turns into a
    /// bad-quality sample. Bits have no such pattern, so a bad bit keeps
    /// its last good value, as a PLC's input image does when a card fails.
    pub(crate) fn refresh(&self, model: &FieldModel, image: &mut RegisterImage) {
        for binding in &self.bindings {
            let (value, quality) = model.value_at(binding.tag);
            let bad = value.is_nan() || quality.is_bad();
            let address = &binding.address;
            if bad && address.value_type == ValueType::Bool {
                continue;
            }
            let words = image.words_mut(binding);
            if bad {
                write_not_a_number(address, words);
                continue;
            }
            let typed = if address.value_type == ValueType::Bool {
                Value::Boolean(value != 0.0)
            } else {
                Value::Float(value)
            };
            match address.encode(&typed) {
                Ok(encoded) => words.copy_from_slice(&encoded),
                // Only a value beyond the register type's range gets here;
                // serving nothing beats serving a wrong number.
                Err(_) => write_not_a_number(address, words),
            }
        }
    }
}

impl RegisterImage {
    /// The words of `count` bits or registers of `table` from `address`;
    /// the caller has checked the range against the map.
    pub(crate) fn words(&self, unit: usize, table: Table, address: u16, count: usize) -> &[u16] {
        let start = usize::from(address);
        &self.units[unit][table_slot(table)][start..start + count]
    }

    /// The words that hold `binding`'s value.
    pub(crate) fn words_mut(&mut self, binding: &Binding) -> &mut [u16] {
        let address = &binding.address;
        let start = usize::from(address.address);
        let end = start + usize::from(address.width());
        &mut self.units[binding.unit][table_slot(address.table)][start..end]
    }
}

/// Fills `words` with a quiet NaN in `address`'s type and byte order.
/// [`ModbusAddress::encode`] refuses NaN by design (a value is never NaN),
/// so the pattern is laid out here: `0x7FC00000` for f32, `0x7FF8…` for
/// f64, as big-endian words, then swapped as the order says.
fn write_not_a_number(address: &ModbusAddress, words: &mut [u16]) {
    words.fill(0);
    let high_word: u16 = if address.value_type == ValueType::F64 {
        0x7FF8
    } else {
        0x7FC0
    };
    let (first, swap_bytes) = match address.order {
        WordOrder::Abcd => (true, false),
        WordOrder::Badc => (true, true),
        WordOrder::Cdab => (false, false),
        WordOrder::Dcba => (false, true),
    };
    let word = if swap_bytes {
        high_word.swap_bytes()
    } else {
        high_word
    };
    let position = if first { 0 } else { words.len() - 1 };
    words[position] = word;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_number_decodes_as_not_a_number_in_every_order_and_type() {
        for order in ["abcd", "cdab", "badc", "dcba"] {
            for value_type in ["f32", "f64"] {
                let text = format!("input=0;type={value_type};order={order}");
                let address: ModbusAddress = text.parse().unwrap();
                let mut words = vec![1; usize::from(address.width())];
                write_not_a_number(&address, &mut words);
                let error = address.decode(&words).unwrap_err().to_string();
                assert!(error.contains("NaN"), "{text}: {error}");
            }
        }
    }
}
