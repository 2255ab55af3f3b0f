//! Modbus source bindings: where a tag lives in a Modbus device, and how its
//! registers encode its value.
//!
//! A tag read over Modbus has an address such as
//! `unit=1;input=100;type=f32;order=abcd;scale=0.1;offset=0`:
//!
//! - `unit`: the unit (slave) id, 0 to 255; default 1.
//! - exactly one of `coil`, `discrete`, `input` or `holding`, with the
//!   zero-based address in that table (0 to 65535).
//! - `type`: `bool` (the default for coils and discrete inputs), `u16` (the
//!   default for registers), `i16`, `u32`, `i32`, `f32`, `u64`, `i64`,
//!   `f64`.
//! - `order`: how the bytes of a multi-register value are laid out, as the
//!   letters of a big-endian value `abcd` appear on the wire: `abcd` (the
//!   default: big-endian words, big-endian bytes), `cdab` (words swapped),
//!   `badc` (bytes swapped in each word) or `dcba` (little-endian).
//! - `scale` and `offset`: the engineering value is `raw × scale + offset`;
//!   defaults 1 and 0.
//!
//! Both the simulator (which serves registers) and the gateway (which reads
//! and writes them) use this one definition, and [`ModbusAddress::decode`]
//! and [`ModbusAddress::encode`] to turn registers into values and back.

use std::fmt;
use std::str::FromStr;

use flowline_core::{NodePath, Value};

use crate::error::RowError;

/// The four Modbus data tables.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Read-write bits (function codes 1, 5, 15).
    Coil,
    /// Read-only bits (function code 2).
    DiscreteInput,
    /// Read-only 16-bit registers (function code 4).
    InputRegister,
    /// Read-write 16-bit registers (function codes 3, 6, 16).
    HoldingRegister,
}

/// How a tag's value is encoded in its table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// One bit.
    Bool,
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned.
    U32,
    /// Two registers, two's complement.
    I32,
    /// Two registers, IEEE 754 single precision.
    F32,
    /// Four registers, unsigned.
    U64,
    /// Four registers, two's complement.
    I64,
    /// Four registers, IEEE 754 double precision.
    F64,
}

/// The byte layout of multi-register values, named by where the bytes
/// `a b c d` of a big-endian 32-bit value appear on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WordOrder {
    /// Big-endian words of big-endian bytes: the Modbus convention.
    Abcd,
    /// Words swapped, bytes big-endian: common in PLCs.
    Cdab,
    /// Words big-endian, bytes swapped in each word.
    Badc,
    /// Fully little-endian.
    Dcba,
}

/// Where a tag lives in a Modbus device and how its value is encoded.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ModbusAddress {
    /// Unit (slave) id.
    pub unit: u8,
    /// The table the value is in.
    pub table: Table,
    /// The zero-based address of its first bit or register.
    pub address: u16,
    /// How the value is encoded.
    pub value_type: ValueType,
    /// The byte layout of multi-register values.
    pub order: WordOrder,
    /// Engineering value = raw × scale + offset.
    pub scale: f64,
    /// Engineering value = raw × scale + offset.
    pub offset: f64,
}

/// Why a Modbus address or a register value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModbusError {
    /// The address text is malformed.
    #[error("invalid Modbus address `{text}`: {reason}")]
    Address {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Registers do not hold a usable value.
    #[error("{0}")]
    Value(String),
}

impl Table {
    /// The name used in addresses and point lists.
    pub fn name(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::DiscreteInput => "discrete",
            Table::InputRegister => "input",
            Table::HoldingRegister => "holding",
        }
    }

    /// Whether the table holds bits rather than registers.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::DiscreteInput)
    }

    /// Whether a client may write to the table.
    pub fn is_writable(self) -> bool {
        matches!(self, Table::Coil | Table::HoldingRegister)
    }

    /// The most bits or registers one read request may cover (Modbus
    /// application protocol 1.1b3, sections 6.1 to 6.4).
    pub fn max_read(self) -> u16 {
        if self.is_bits() { 2_000 } else { 125 }
    }

    fn from_name(name: &str) -> Option<Table> {
        match name {
            "coil" => Some(Table::Coil),
            "discrete" => Some(Table::DiscreteInput),
            "input" => Some(Table::InputRegister),
            "holding" => Some(Table::HoldingRegister),
            _ => None,
        }
    }
}

impl ValueType {
    /// The name used in addresses and point lists.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::F32 => "f32",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F64 => "f64",
        }
    }

    /// How many registers (or bits, for `Bool`) the value occupies.
    pub fn width(self) -> u16 {
        match self {
            ValueType::Bool | ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 4,
        }
    }

    fn from_name(name: &str) -> Option<ValueType> {
        [
            ValueType::Bool,
            ValueType::U16,
            ValueType::I16,
            ValueType::U32,
            ValueType::I32,
            ValueType::F32,
            ValueType::U64,
            ValueType::I64,
            ValueType::F64,
        ]
        .into_iter()
        .find(|value_type| value_type.name() == name)
    }
}

impl WordOrder {
    /// The name used in addresses and point lists.
    pub fn name(self) -> &'static str {
        match self {
            WordOrder::Abcd => "abcd",
            WordOrder::Cdab => "cdab",
            WordOrder::Badc => "badc",
            WordOrder::Dcba => "dcba",
        }
    }

    fn from_name(name: &str) -> Option<WordOrder> {
        match name {
            "abcd" => Some(WordOrder::Abcd),
            "cdab" => Some(WordOrder::Cdab),
            "badc" => Some(WordOrder::Badc),
            "dcba" => Some(WordOrder::Dcba),
            _ => None,
        }
    }

    /// Whether the words of a value are sent least significant first.
    fn words_swapped(self) -> bool {
        matches!(self, WordOrder::Cdab | WordOrder::Dcba)
    }

    /// Whether the two bytes of each word are sent least significant first.
    fn bytes_swapped(self) -> bool {
        matches!(self, WordOrder::Badc | WordOrder::Dcba)
    }
}

impl ModbusAddress {
    /// A register address with the defaults for everything else.
    pub fn register(unit: u8, table: Table, address: u16, value_type: ValueType) -> Self {
        ModbusAddress {
            unit,
            table,
            address,
            value_type,
            order: WordOrder::Abcd,
            scale: 1.0,
            offset: 0.0,
        }
    }

    /// How many bits or registers the value occupies.
    pub fn width(&self) -> u16 {
        self.value_type.width()
    }

    /// The last bit or register the value occupies.
    pub fn last(&self) -> u16 {
        // Parsing refuses values that run past 65535; saturate for the rest.
        self.address.saturating_add(self.width() - 1)
    }

    /// The engineering value of `registers` (exactly [`width`](Self::width)
    /// of them). Bits are given as registers of 0 or 1.
    ///
    /// Not-a-number and infinite floats are an error, never a value: a
    /// device that sends them is telling us it has no value.
    pub fn decode(&self, registers: &[u16]) -> Result<Value, ModbusError> {
        let width = usize::from(self.width());
        if registers.len() != width {
            return Err(ModbusError::Value(format!(
                "expected {width} registers for {}, found {}",
                self.value_type.name(),
                registers.len()
            )));
        }
        if self.value_type == ValueType::Bool {
            return Ok(Value::Boolean(registers[0] != 0));
        }

        let raw = self.join_registers(registers);
        let number = match self.value_type {
            ValueType::U16 => f64::from(raw as u16),
            ValueType::I16 => f64::from(raw as u16 as i16),
            ValueType::U32 => f64::from(raw as u32),
            ValueType::I32 => f64::from(raw as u32 as i32),
            ValueType::F32 => f64::from(f32::from_bits(raw as u32)),
            ValueType::U64 => raw as f64,
            ValueType::I64 => raw as i64 as f64,
            ValueType::F64 => f64::from_bits(raw),
            ValueType::Bool => unreachable!("handled above"),
        };
        if !number.is_finite() {
            return Err(ModbusError::Value(format!(
                "{} registers hold {number}, not a number",
                self.value_type.name()
            )));
        }

        let engineering = number * self.scale + self.offset;
        if !engineering.is_finite() {
            return Err(ModbusError::Value(format!(
                "expected a finite engineering value, found {number} × scale {} + offset {} = \
                 {engineering}",
                self.scale, self.offset
            )));
        }
        let is_integer = !matches!(self.value_type, ValueType::F32 | ValueType::F64);
        if is_integer && self.scale == 1.0 && self.offset == 0.0 {
            // Exact for every type. A u64 above i64::MAX has no exact
            // sample value, and a saturated one would be a wrong reading.
            return match self.value_type {
                ValueType::U64 => i64::try_from(raw).map(Value::Integer).map_err(|_| {
                    ModbusError::Value(format!(
                        "expected u64 registers to hold at most {}, the largest integer a \
                         sample carries, found {raw}",
                        i64::MAX
                    ))
                }),
                ValueType::I64 => Ok(Value::Integer(raw as i64)),
                _ => Ok(Value::Integer(number as i64)),
            };
        }
        Ok(Value::Float(engineering))
    }

    /// The registers that hold `value`: the inverse of [`decode`](Self::decode).
    /// Out-of-range and non-finite values are an error, never clipped.
    pub fn encode(&self, value: &Value) -> Result<Vec<u16>, ModbusError> {
        if self.value_type == ValueType::Bool {
            return match value {
                Value::Boolean(on) => Ok(vec![u16::from(*on)]),
                other => Err(ModbusError::Value(format!(
                    "expected a boolean, found {other}"
                ))),
            };
        }
        if let Value::Integer(whole) = value
            && let Some(raw) = self.exact_integer(*whole)
        {
            return Ok(self.split_registers(raw?));
        }
        let number = value
            .as_f64()
            .filter(|number| number.is_finite())
            .ok_or_else(|| {
                ModbusError::Value(format!("expected a finite number, found {value}"))
            })?;
        let raw_value = (number - self.offset) / self.scale;
        let out_of_range = |low: f64, high: f64| {
            ModbusError::Value(format!(
                "{number} is {raw_value} in {} registers, outside {low} to {high}",
                self.value_type.name()
            ))
        };
        let integer = |low: f64, high: f64| -> Result<u64, ModbusError> {
            let rounded = raw_value.round();
            if rounded < low || rounded > high {
                return Err(out_of_range(low, high));
            }
            Ok(rounded as i64 as u64)
        };
        let raw: u64 = match self.value_type {
            ValueType::U16 => integer(0.0, f64::from(u16::MAX))?,
            ValueType::I16 => integer(f64::from(i16::MIN), f64::from(i16::MAX))? & 0xFFFF,
            ValueType::U32 => integer(0.0, f64::from(u32::MAX))?,
            ValueType::I32 => integer(f64::from(i32::MIN), f64::from(i32::MAX))? & 0xFFFF_FFFF,
            ValueType::U64 => {
                if raw_value.round() < 0.0 || raw_value >= u64::MAX as f64 {
                    return Err(out_of_range(0.0, u64::MAX as f64));
                }
                raw_value.round() as u64
            }
            ValueType::I64 => integer(i64::MIN as f64, i64::MAX as f64)?,
            ValueType::F32 => {
                let single = raw_value as f32;
                if !single.is_finite() {
                    return Err(out_of_range(f64::from(f32::MIN), f64::from(f32::MAX)));
                }
                u64::from(single.to_bits())
            }
            ValueType::F64 => {
                if !raw_value.is_finite() {
                    return Err(out_of_range(f64::MIN, f64::MAX));
                }
                raw_value.to_bits()
            }
            ValueType::Bool => unreachable!("handled above"),
        };
        Ok(self.split_registers(raw))
    }

    /// The raw contents of the registers that hold integer `whole`, for an
    /// integer type without scaling; `None` for other types and scalings.
    /// Exact, where going through `f64` would round integers beyond 2^53
    /// and write a value nobody sent.
    fn exact_integer(&self, whole: i64) -> Option<Result<u64, ModbusError>> {
        if self.scale != 1.0 || self.offset != 0.0 {
            return None;
        }
        let (low, high): (i128, i128) = match self.value_type {
            ValueType::U16 => (0, u16::MAX.into()),
            ValueType::I16 => (i16::MIN.into(), i16::MAX.into()),
            ValueType::U32 => (0, u32::MAX.into()),
            ValueType::I32 => (i32::MIN.into(), i32::MAX.into()),
            ValueType::U64 => (0, u64::MAX.into()),
            ValueType::I64 => (i64::MIN.into(), i64::MAX.into()),
            ValueType::Bool | ValueType::F32 | ValueType::F64 => return None,
        };
        if !(low..=high).contains(&i128::from(whole)) {
            return Some(Err(ModbusError::Value(format!(
                "{whole} is outside {low} to {high}, the range of {} registers",
                self.value_type.name()
            ))));
        }
        let bits = 16 * u32::from(self.width());
        let mask = u64::MAX >> (64 - bits);
        Some(Ok(whole as u64 & mask))
    }

    /// Assembles registers into one big-endian integer per `order`.
    fn join_registers(&self, registers: &[u16]) -> u64 {
        let word = |register: u16| {
            if self.order.bytes_swapped() {
                register.swap_bytes()
            } else {
                register
            }
        };
        let mut words: Vec<u16> = registers.iter().map(|register| word(*register)).collect();
        if self.order.words_swapped() {
            words.reverse();
        }
        words
            .iter()
            .fold(0u64, |raw, word| (raw << 16) | u64::from(*word))
    }

    /// Splits a big-endian integer into registers per `order`.
    fn split_registers(&self, raw: u64) -> Vec<u16> {
        let width = usize::from(self.width());
        let mut words: Vec<u16> = (0..width)
            .rev()
            .map(|index| (raw >> (16 * index)) as u16)
            .collect();
        if self.order.words_swapped() {
            words.reverse();
        }
        if self.order.bytes_swapped() {
            words.iter_mut().for_each(|word| *word = word.swap_bytes());
        }
        words
    }
}

impl fmt::Display for ModbusAddress {
    /// The canonical text: only what differs from the defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unit={};{}={}",
            self.unit,
            self.table.name(),
            self.address
        )?;
        let default_type = if self.table.is_bits() {
            ValueType::Bool
        } else {
            ValueType::U16
        };
        if self.value_type != default_type {
            write!(f, ";type={}", self.value_type.name())?;
        }
        if self.order != WordOrder::Abcd {
            write!(f, ";order={}", self.order.name())?;
        }
        if self.scale != 1.0 {
            write!(f, ";scale={}", self.scale)?;
        }
        if self.offset != 0.0 {
            write!(f, ";offset={}", self.offset)?;
        }
        Ok(())
    }
}

impl FromStr for ModbusAddress {
    type Err = ModbusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| ModbusError::Address {
            text: text.to_owned(),
            reason,
        };
        let mut unit = 1u8;
        let mut location: Option<(Table, u16)> = None;
        let (mut value_type, mut order, mut scale, mut offset) = (None, None, 1.0, 0.0);

        for part in text
            .split(';')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{part}` is not KEY=VALUE")))?;
            let (key, value) = (key.trim(), value.trim());
            let number = |what: &str| -> Result<f64, ModbusError> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| invalid(format!("{what} `{value}` is not a finite number")))
            };
            match key {
                "unit" => {
                    unit = value
                        .parse()
                        .map_err(|_| invalid(format!("unit `{value}` is not 0 to 255")))?;
                }
                "type" => {
                    value_type = Some(ValueType::from_name(value).ok_or_else(|| {
                        invalid(format!(
                            "type `{value}` is not one of bool, u16, i16, u32, i32, f32, u64, \
                             i64, f64"
                        ))
                    })?);
                }
                "order" => {
                    order = Some(WordOrder::from_name(value).ok_or_else(|| {
                        invalid(format!("order `{value}` is not abcd, cdab, badc or dcba"))
                    })?);
                }
                "scale" => {
                    scale = number("scale")?;
                    if scale == 0.0 {
                        return Err(invalid("scale must not be 0".to_owned()));
                    }
                }
                "offset" => offset = number("offset")?,
                key => {
                    let table = Table::from_name(key).ok_or_else(|| {
                        invalid(format!(
                            "unknown key `{key}`; expected unit, coil, discrete, input, \
                             holding, type, order, scale or offset"
                        ))
                    })?;
                    if location.is_some() {
                        return Err(invalid("more than one table given".to_owned()));
                    }
                    let address = value.parse().map_err(|_| {
                        invalid(format!("{key} address `{value}` is not 0 to 65535"))
                    })?;
                    location = Some((table, address));
                }
            }
        }

        let (table, address) = location.ok_or_else(|| {
            invalid("no table: give one of coil=, discrete=, input=, holding=".into())
        })?;
        let value_type = value_type.unwrap_or(if table.is_bits() {
            ValueType::Bool
        } else {
            ValueType::U16
        });
        if table.is_bits() != (value_type == ValueType::Bool) {
            let reason = if table.is_bits() {
                format!("a {} holds bits; its type must be bool", table.name())
            } else {
                format!(
                    "type bool needs a coil or discrete input, not a {} register",
                    table.name()
                )
            };
            return Err(invalid(reason));
        }
        if u32::from(address) + u32::from(value_type.width()) - 1 > u32::from(u16::MAX) {
            return Err(invalid(format!(
                "{} at {address} runs past the last address, 65535",
                value_type.name()
            )));
        }
        Ok(ModbusAddress {
            unit,
            table,
            address,
            value_type,
            order: order.unwrap_or(WordOrder::Abcd),
            scale,
            offset,
        })
    }
}

/// One point of a Modbus point list: a tag and where to read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The tag's path in the catalog.
    pub path: NodePath,
    /// Where and how its value is held.
    pub address: ModbusAddress,
    /// The poll group that reads it; its rate is the gateway's setting.
    pub group: String,
    /// The line in the point-list file, from 1; `None` for points made in code.
    pub line: Option<usize>,
}

/// The poll group of points that name none.
pub const DEFAULT_GROUP: &str = "default";

/// The columns of a point-list file, in the order they are written.
const POINT_COLUMNS: [&str; 9] = [
    "path", "unit", "table", "address", "type", "order", "scale", "offset", "group",
];

/// Reads a point-list CSV: a header with the columns `path`, `unit`,
/// `table`, `address` and optionally `type`, `order`, `scale`, `offset` and
/// `group`, then one row per point. Every bad row is reported with its
/// line. Whether points overlap is for the user of the list to check,
/// with [`overlaps`], together with its other checks.
pub fn read_point_list(text: &str) -> Result<Vec<Point>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| vec![RowError::new(Some(1), None, error.to_string())])?
        .clone();
    for header in &headers {
        if !POINT_COLUMNS.contains(&header) {
            let message = format!(
                "unknown column `{header}`; expected {}",
                POINT_COLUMNS.join(", ")
            );
            return Err(vec![RowError::new(Some(1), None, message)]);
        }
    }
    for required in &POINT_COLUMNS[..4] {
        if !headers.iter().any(|header| header == *required) {
            let message = format!("missing column `{required}`");
            return Err(vec![RowError::new(Some(1), None, message)]);
        }
    }

    let mut points = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(|position| position.line() as usize);
                errors.push(RowError::new(line, None, error.to_string()));
                continue;
            }
        };
        let line = record.position().map(|position| position.line() as usize);
        let cell = |column: &str| {
            headers
                .iter()
                .position(|header| header == column)
                .and_then(|index| record.get(index))
        };
        let path_text = cell("path").unwrap_or_default();
        let shown = Some(path_text.to_owned()).filter(|path| !path.is_empty());
        // A cell holding `;` or `=` would splice keys of its own into the
        // address text below, such as a table cell `input=9;offset`.
        let spliced: Vec<String> = POINT_COLUMNS[1..POINT_COLUMNS.len() - 1]
            .iter()
            .filter_map(|column| Some((column, cell(column)?)))
            .filter(|(_, value)| value.contains([';', '=']))
            .map(|(column, value)| {
                format!("{column}: expected a single value, found `{value}` with `;` or `=`")
            })
            .collect();
        if !spliced.is_empty() {
            let problems = spliced.into_iter();
            errors.extend(problems.map(|problem| RowError::new(line, shown.clone(), problem)));
            continue;
        }
        // The columns spell the same address as the catalog's address text.
        let mut text = format!(
            "unit={};{}={}",
            cell("unit").filter(|unit| !unit.is_empty()).unwrap_or("1"),
            cell("table").unwrap_or_default(),
            cell("address").unwrap_or_default()
        );
        for key in ["type", "order", "scale", "offset"] {
            if let Some(value) = cell(key).filter(|value| !value.is_empty()) {
                text.push_str(&format!(";{key}={value}"));
            }
        }
        let path = NodePath::parse(path_text).map_err(|error| format!("path: {error}"));
        let address = text
            .parse::<ModbusAddress>()
            .map_err(|error| error.to_string());
        match (path, address) {
            (Ok(path), Ok(address)) => {
                let group = cell("group")
                    .filter(|group| !group.is_empty())
                    .unwrap_or(DEFAULT_GROUP);
                points.push(Point {
                    path,
                    address,
                    group: group.to_owned(),
                    line,
                });
            }
            (path, address) => {
                for problem in [path.err(), address.err()].into_iter().flatten() {
                    errors.push(RowError::new(line, shown.clone(), problem));
                }
            }
        }
    }

    if errors.is_empty() {
        Ok(points)
    } else {
        errors.sort_by_key(|error| error.line.unwrap_or(usize::MAX));
        Err(errors)
    }
}

/// A problem for each point whose bits or registers overlap those of an
/// earlier point in the same unit and table.
pub fn overlaps(points: &[Point]) -> Vec<RowError> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by_key(|point| {
        (
            point.address.unit,
            point.address.table,
            point.address.address,
        )
    });
    let mut problems = Vec::new();
    for pair in sorted.windows(2) {
        let (first, second) = (&pair[0].address, &pair[1].address);
        if first.unit == second.unit
            && first.table == second.table
            && second.address <= first.last()
        {
            let earlier = pair[0]
                .line
                .map(|line| format!(" (line {line})"))
                .unwrap_or_default();
            let message = format!(
                "{} {}..={} overlaps `{}`{earlier} at {}..={} in unit {}",
                second.table.name(),
                second.address,
                second.last(),
                pair[0].path,
                first.address,
                first.last(),
                first.unit
            );
            problems.push(RowError::new(
                pair[1].line,
                Some(pair[1].path.to_string()),
                message,
            ));
        }
    }
    problems
}

/// Writes points as a point-list CSV that [`read_point_list`] reads back.
pub fn write_point_list(points: &[Point]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(POINT_COLUMNS)
        .expect("bug: writing CSV to memory cannot fail");
    for point in points {
        let address = &point.address;
        let record = [
            point.path.to_string(),
            address.unit.to_string(),
            address.table.name().to_owned(),
            address.address.to_string(),
            address.value_type.name().to_owned(),
            address.order.name().to_owned(),
            address.scale.to_string(),
            address.offset.to_string(),
            point.group.clone(),
        ];
        writer
            .write_record(record)
            .expect("bug: writing CSV to memory cannot fail");
    }
    let bytes = writer
        .into_inner()
        .expect("bug: writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("bug: CSV of UTF-8 cells is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> ModbusAddress {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_fill_what_the_text_leaves_out() {
        let parsed = address("input=100");
        assert_eq!(
            parsed,
            ModbusAddress::register(1, Table::InputRegister, 100, ValueType::U16)
        );
        assert_eq!(address("unit=3;coil=7").value_type, ValueType::Bool);
        assert_eq!(parsed.to_string(), "unit=1;input=100");
        let full = "unit=2;holding=10;type=f32;order=cdab;scale=0.1;offset=-5";
        assert_eq!(address(full).to_string(), full);
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        let cases = [
            ("unit=1", "no table"),
            ("input=1;holding=2", "more than one table"),
            ("unit=300;input=1", "unit `300` is not 0 to 255"),
            ("input=70000", "input address `70000` is not 0 to 65535"),
            ("input=65535;type=f32", "runs past the last address"),
            ("coil=1;type=f32", "a coil holds bits"),
            ("holding=1;type=bool", "type bool needs a coil"),
            ("holding=1;type=float", "type `float` is not one of"),
            ("holding=1;scale=0", "scale must not be 0"),
            ("holding=1;scale=NaN", "scale `NaN` is not a finite number"),
            ("register=1", "unknown key `register`"),
            ("holding", "`holding` is not KEY=VALUE"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<ModbusAddress>().unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(error.contains(&format!("`{text}`")), "{text}: {error}");
        }
    }

    #[test]
    fn word_orders_lay_out_the_bytes_as_named() {
        // 0x41200000 is 10.0 as f32: bytes a=41 b=20 c=00 d=00.
        let cases = [
            ("abcd", [0x4120, 0x0000]),
            ("cdab", [0x0000, 0x4120]),
            ("badc", [0x2041, 0x0000]),
            ("dcba", [0x0000, 0x2041]),
        ];
        for (order, registers) in cases {
            let point = address(&format!("holding=0;type=f32;order={order}"));
            assert_eq!(
                point.decode(&registers).unwrap(),
                Value::Float(10.0),
                "{order}"
            );
            assert_eq!(
                point.encode(&Value::Float(10.0)).unwrap(),
                registers,
                "{order}"
            );
        }
    }

    #[test]
    fn integers_decode_exactly_and_scaled_values_as_floats() {
        assert_eq!(
            address("input=0;type=i16").decode(&[0xFFFE]).unwrap(),
            Value::Integer(-2)
        );
        assert_eq!(
            address("input=0;type=u32")
                .decode(&[0x0001, 0x0000])
                .unwrap(),
            Value::Integer(65_536)
        );
        assert_eq!(
            address("input=0;type=i64")
                .decode(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
                .unwrap(),
            Value::Integer(-1)
        );
        let scaled = address("input=0;type=i16;scale=0.1;offset=100");
        assert_eq!(scaled.decode(&[0xFFF6]).unwrap(), Value::Float(99.0));
        assert_eq!(scaled.encode(&Value::Float(99.0)).unwrap(), vec![0xFFF6]);
    }

    #[test]
    fn nan_and_infinity_are_errors_not_values() {
        let point = address("input=0;type=f32");
        let error = point.decode(&[0x7FC0, 0x0000]).unwrap_err();
        assert_eq!(error.to_string(), "f32 registers hold NaN, not a number");
        assert!(point.decode(&[0x7F80, 0x0000]).is_err(), "infinity");
        assert!(point.encode(&Value::Float(f64::INFINITY)).is_err());
    }

    #[test]
    fn scaling_that_overflows_is_an_error_not_an_infinite_value() {
        let huge_scale = address("holding=0;type=i16;scale=1e308");
        let error = huge_scale.decode(&[0x8000]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "expected a finite engineering value, found -32768 × scale {} + offset 0 = -inf",
                1e308
            )
        );
        let huge_offset = address("input=4;type=f64;offset=1.7e308");
        let registers = huge_offset.encode(&Value::Float(1.7e308)).unwrap();
        assert_eq!(registers, [0, 0, 0, 0], "1.7e308 is offset + 0");
        assert!(
            huge_offset
                .decode(&[0x7FEE, 0x42D1, 0x3077, 0x3B76])
                .is_err()
        );
        let tiny_scale = address("holding=0;type=f64;scale=1e-300");
        assert!(
            tiny_scale.encode(&Value::Float(1e10)).is_err(),
            "infinite raw value"
        );
    }

    #[test]
    fn out_of_range_writes_are_refused_not_clipped() {
        let point = address("holding=0;type=u16");
        let error = point
            .encode(&Value::Float(70_000.0))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "70000 is 70000 in u16 registers, outside 0 to 65535");
        assert!(point.encode(&Value::Integer(-1)).is_err());
        assert!(address("coil=0").encode(&Value::Float(1.0)).is_err());
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_written_exactly() {
        // 0x0102_0304_0506_0708 is not a multiple of any power of two
        // that an f64 could keep.
        let point = address("holding=0;type=i64");
        let registers = [0x0102, 0x0304, 0x0506, 0x0708];
        let value = point.decode(&registers).unwrap();
        assert_eq!(value, Value::Integer(0x0102_0304_0506_0708));
        assert_eq!(point.encode(&value).unwrap(), registers);
        let unsigned = address("holding=0;type=u64;order=dcba");
        let most = Value::Integer(i64::MAX);
        assert_eq!(
            unsigned.decode(&unsigned.encode(&most).unwrap()).unwrap(),
            most
        );
        let error = address("holding=0;type=u32")
            .encode(&Value::Integer(1 << 32))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "4294967296 is outside 0 to 4294967295, the range of u32 registers"
        );
    }

    #[test]
    fn a_u64_above_the_largest_sample_integer_is_an_error_not_a_saturated_value() {
        let error = address("input=0;type=u64")
            .decode(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "expected u64 registers to hold at most 9223372036854775807, the largest integer \
             a sample carries, found 18446744073709551615"
        );
        let scaled = address("input=0;type=u64;scale=2");
        assert!(scaled.decode(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]).is_ok());
    }

    #[test]
    fn the_wrong_number_of_registers_is_an_error() {
        let error = address("input=0;type=f64").decode(&[1, 2]).unwrap_err();
        assert_eq!(error.to_string(), "expected 4 registers for f64, found 2");
    }
}

#[cfg(test)]
mod point_list_tests {
    use super::*;

    #[test]
    fn a_point_list_round_trips() {
        let text = "path,unit,table,address,type,order,scale,offset,group\n\
                    north/pad-1/w-01/tubing-pressure,1,input,0,f32,abcd,1,0,fast\n\
                    north/pad-1/w-01/esp/running,1,discrete,0,bool,abcd,1,0,default\n";
        let points = read_point_list(text).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].address.value_type, ValueType::F32);
        assert_eq!(points[0].group, "fast");
        assert_eq!(points[1].line, Some(3));
        assert_eq!(write_point_list(&points), text);
    }

    #[test]
    fn bad_rows_are_reported_with_their_lines() {
        let text = "path,unit,table,address,type\n\
                    north/a,1,input,0,f32\n\
                    north/D,1,input,9,u16\n\
                    north/e,1,input,65535,f32\n";
        let errors = read_point_list(text).unwrap_err();
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("line 3: north/D: path: invalid path"),
            "{lines:#?}"
        );
        assert!(
            lines[1].starts_with("line 4: north/e: invalid Modbus address"),
            "{lines:#?}"
        );
    }

    #[test]
    fn overlapping_points_are_reported_with_both_lines() {
        let text = "path,unit,table,address,type\n\
                    north/a,1,input,0,f32\n\
                    north/b,1,input,1,u16\n\
                    north/c,1,holding,1,u16\n\
                    north/d,2,input,1,u16\n";
        let problems = overlaps(&read_point_list(text).unwrap());
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            ["line 3: north/b: input 1..=1 overlaps `north/a` (line 2) at 0..=1 in unit 1"]
        );
    }

    #[test]
    fn a_cell_cannot_splice_keys_into_the_address() {
        // Read as one address text, these cells would say input 9, offset 5.
        let text = "path,unit,table,address,type\n\
                    north/a,2;input=9,offset,5,f32\n\
                    north/b,1,holding,3,u16;scale=10\n";
        let errors = read_point_list(text).unwrap_err();
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "line 2: north/a: unit: expected a single value, found `2;input=9` with `;` or `=`",
                "line 3: north/b: type: expected a single value, found `u16;scale=10` with `;` or \
                 `=`"
            ]
        );
    }

    #[test]
    fn unknown_and_missing_columns_stop_the_file() {
        let errors = read_point_list("path,unit,table,addr\n").unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("line 1: unknown column `addr`")
        );
        let errors = read_point_list("path,unit,table\n").unwrap_err();
        assert_eq!(errors[0].to_string(), "line 1: missing column `address`");
    }
}
