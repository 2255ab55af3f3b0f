//! Engineering units.
//!
//! Field devices report in whatever their vendor chose: one PLC sends psi,
//! the next bar. The catalog gives every numeric tag one [`Unit`], and the
//! stream processor converts each reading to it with a [`Conversion`] worked
//! out once per tag. The conversion factors come from the `uom` crate, not
//! from tables of our own; this module only names the units the oil field
//! uses and says which quantity each measures. Most of uom's factors for
//! customary units (barrel, cubic foot, horsepower) carry the seven
//! significant digits of NIST SP 811, far finer than any field instrument.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uom::si::f64 as si;
use uom::si::{
    acceleration, electric_current, electric_potential, force, frequency, length, power, pressure,
    ratio, thermodynamic_temperature as temperature, time, velocity, volume,
};

/// What a unit measures. Only units of the same quantity convert.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Pressure, such as tubing or casing pressure.
    Pressure,
    /// Temperature.
    Temperature,
    /// Liquid or gas volume per time at line conditions.
    VolumeRate,
    /// Gas volume per time at standard conditions (15 °C, 1 atm). It does
    /// not convert to [`Quantity::VolumeRate`]: that needs pressure and
    /// temperature, not a factor.
    StandardVolumeRate,
    /// Electric current, such as ESP motor current.
    ElectricCurrent,
    /// Electric potential.
    ElectricPotential,
    /// Frequency or speed of rotation and strokes.
    Frequency,
    /// A dimensionless ratio such as choke opening or water cut.
    Ratio,
    /// Power.
    Power,
    /// Length or level.
    Length,
    /// Velocity, such as vibration velocity.
    Velocity,
    /// Acceleration, such as vibration acceleration.
    Acceleration,
    /// Force, such as rod-pump load.
    Force,
}

/// Declares the units: the enum, and the table of symbol, aliases, quantity
/// and the conversion of one value to the SI unit of its quantity.
macro_rules! units {
    ($(
        $(#[$doc:meta])*
        $unit:ident = $symbol:literal $([$($alias:literal),*])?, $quantity:ident, $to_si:expr;
    )*) => {
        /// An engineering unit. The text form is the symbol, such as `bar`,
        /// `°C` or `m³/d`; ASCII spellings such as `degC` and `m3/d` are
        /// accepted too.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Unit {
            $($(#[$doc])* $unit,)*
        }

        /// Every unit with its symbol, aliases, quantity and conversion to SI.
        static UNITS: &[UnitInfo] = &[$(UnitInfo {
            unit: Unit::$unit,
            symbol: $symbol,
            aliases: &[$($($alias),*)?],
            quantity: Quantity::$quantity,
            to_si: $to_si,
        },)*];
    };
}

struct UnitInfo {
    unit: Unit,
    symbol: &'static str,
    aliases: &'static [&'static str],
    quantity: Quantity,
    /// The value in this unit expressed in the SI unit of the quantity.
    to_si: fn(f64) -> f64,
}

/// Seconds in a day, from `uom`, for the per-day rates the field reports.
fn per_day(volume_si: f64) -> f64 {
    volume_si / si::Time::new::<time::day>(1.0).value
}

units! {
    /// Pascal.
    Pascal = "Pa", Pressure, |v| si::Pressure::new::<pressure::pascal>(v).value;
    /// Kilopascal.
    Kilopascal = "kPa", Pressure, |v| si::Pressure::new::<pressure::kilopascal>(v).value;
    /// Megapascal.
    Megapascal = "MPa", Pressure, |v| si::Pressure::new::<pressure::megapascal>(v).value;
    /// Bar.
    Bar = "bar", Pressure, |v| si::Pressure::new::<pressure::bar>(v).value;
    /// Millibar.
    Millibar = "mbar", Pressure, |v| si::Pressure::new::<pressure::millibar>(v).value;
    /// Pound-force per square inch.
    Psi = "psi", Pressure,
        |v| si::Pressure::new::<pressure::pound_force_per_square_inch>(v).value;
    /// Degree Celsius.
    Celsius = "°C" ["degC", "C"], Temperature,
        |v| si::ThermodynamicTemperature::new::<temperature::degree_celsius>(v).value;
    /// Degree Fahrenheit.
    Fahrenheit = "°F" ["degF", "F"], Temperature,
        |v| si::ThermodynamicTemperature::new::<temperature::degree_fahrenheit>(v).value;
    /// Kelvin.
    Kelvin = "K", Temperature,
        |v| si::ThermodynamicTemperature::new::<temperature::kelvin>(v).value;
    /// Cubic metre per day at line conditions.
    CubicMetrePerDay = "m³/d" ["m3/d"], VolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_meter>(v).value);
    /// Cubic metre per hour at line conditions.
    CubicMetrePerHour = "m³/h" ["m3/h"], VolumeRate,
        |v| si::Volume::new::<volume::cubic_meter>(v).value
            / si::Time::new::<time::hour>(1.0).value;
    /// Litre per minute.
    LitrePerMinute = "L/min" ["l/min"], VolumeRate,
        |v| si::Volume::new::<volume::liter>(v).value / si::Time::new::<time::minute>(1.0).value;
    /// Oil barrel (42 US gallons) per day.
    BarrelPerDay = "bbl/d" ["bpd"], VolumeRate,
        |v| per_day(si::Volume::new::<volume::barrel>(v).value);
    /// US gallon per minute.
    GallonPerMinute = "gal/min" ["gpm"], VolumeRate,
        |v| si::Volume::new::<volume::gallon>(v).value / si::Time::new::<time::minute>(1.0).value;
    /// Standard cubic metre per day.
    StandardCubicMetrePerDay = "Sm³/d" ["Sm3/d"], StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_meter>(v).value);
    /// Thousand standard cubic metres per day.
    ThousandStandardCubicMetresPerDay = "kSm³/d" ["kSm3/d"], StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_meter>(v * 1e3).value);
    /// Million standard cubic metres per day.
    MillionStandardCubicMetresPerDay = "MSm³/d" ["MSm3/d"], StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_meter>(v * 1e6).value);
    /// Standard cubic foot per day.
    StandardCubicFootPerDay = "scf/d", StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_foot>(v).value);
    /// Thousand standard cubic feet per day.
    ThousandStandardCubicFeetPerDay = "Mscf/d", StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_foot>(v * 1e3).value);
    /// Million standard cubic feet per day.
    MillionStandardCubicFeetPerDay = "MMscf/d", StandardVolumeRate,
        |v| per_day(si::Volume::new::<volume::cubic_foot>(v * 1e6).value);
    /// Ampere.
    Ampere = "A", ElectricCurrent,
        |v| si::ElectricCurrent::new::<electric_current::ampere>(v).value;
    /// Milliampere, as on a 4–20 mA loop.
    Milliampere = "mA", ElectricCurrent,
        |v| si::ElectricCurrent::new::<electric_current::milliampere>(v).value;
    /// Volt.
    Volt = "V", ElectricPotential,
        |v| si::ElectricPotential::new::<electric_potential::volt>(v).value;
    /// Kilovolt.
    Kilovolt = "kV", ElectricPotential,
        |v| si::ElectricPotential::new::<electric_potential::kilovolt>(v).value;
    /// Hertz, as of an ESP drive.
    Hertz = "Hz", Frequency, |v| si::Frequency::new::<frequency::hertz>(v).value;
    /// Revolution per minute.
    RevolutionPerMinute = "rpm", Frequency,
        |v| si::Frequency::new::<frequency::cycle_per_minute>(v).value;
    /// Stroke per minute, as of a rod pump.
    StrokePerMinute = "spm", Frequency,
        |v| si::Frequency::new::<frequency::cycle_per_minute>(v).value;
    /// Percent.
    Percent = "%" ["percent"], Ratio, |v| si::Ratio::new::<ratio::percent>(v).value;
    /// A plain fraction, 1 meaning whole.
    Fraction = "fraction", Ratio, |v| si::Ratio::new::<ratio::ratio>(v).value;
    /// Part per million.
    PartPerMillion = "ppm", Ratio, |v| si::Ratio::new::<ratio::part_per_million>(v).value;
    /// Watt.
    Watt = "W", Power, |v| si::Power::new::<power::watt>(v).value;
    /// Kilowatt.
    Kilowatt = "kW", Power, |v| si::Power::new::<power::kilowatt>(v).value;
    /// Megawatt.
    Megawatt = "MW", Power, |v| si::Power::new::<power::megawatt>(v).value;
    /// Mechanical horsepower.
    Horsepower = "hp", Power, |v| si::Power::new::<power::horsepower>(v).value;
    /// Metre.
    Metre = "m", Length, |v| si::Length::new::<length::meter>(v).value;
    /// Centimetre.
    Centimetre = "cm", Length, |v| si::Length::new::<length::centimeter>(v).value;
    /// Millimetre.
    Millimetre = "mm", Length, |v| si::Length::new::<length::millimeter>(v).value;
    /// Foot.
    Foot = "ft", Length, |v| si::Length::new::<length::foot>(v).value;
    /// Inch.
    Inch = "in", Length, |v| si::Length::new::<length::inch>(v).value;
    /// Metre per second.
    MetrePerSecond = "m/s", Velocity,
        |v| si::Velocity::new::<velocity::meter_per_second>(v).value;
    /// Millimetre per second, as of vibration velocity.
    MillimetrePerSecond = "mm/s", Velocity,
        |v| si::Velocity::new::<velocity::millimeter_per_second>(v).value;
    /// Inch per second.
    InchPerSecond = "in/s", Velocity,
        |v| si::Velocity::new::<velocity::inch_per_second>(v).value;
    /// Metre per second squared.
    MetrePerSecondSquared = "m/s²" ["m/s2"], Acceleration,
        |v| si::Acceleration::new::<acceleration::meter_per_second_squared>(v).value;
    /// Standard gravity, as of vibration acceleration.
    StandardGravity = "g", Acceleration,
        |v| si::Acceleration::new::<acceleration::standard_gravity>(v).value;
    /// Newton.
    Newton = "N", Force, |v| si::Force::new::<force::newton>(v).value;
    /// Kilonewton.
    Kilonewton = "kN", Force, |v| si::Force::new::<force::kilonewton>(v).value;
    /// Pound-force.
    PoundForce = "lbf", Force, |v| si::Force::new::<force::pound_force>(v).value;
    /// Kilopound-force, as of rod-pump load.
    Kip = "klbf" ["kip"], Force, |v| si::Force::new::<force::kip>(v).value;
}

/// Why a unit could not be read or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text names no unit Flowline knows.
    #[error("unknown unit `{text}`{hint}; known units: {known}",
        hint = suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        known = known_symbols())]
    Unknown {
        /// The text that was read.
        text: String,
        /// A known symbol that differs only in letter case, if any.
        suggestion: Option<&'static str>,
    },
    /// The two units measure different quantities.
    #[error(
        "cannot convert {from} to {to}: {from} measures {from_quantity:?}, {to} measures \
             {to_quantity:?}"
    )]
    Incompatible {
        /// The unit converted from.
        from: Unit,
        /// The unit converted to.
        to: Unit,
        /// What `from` measures.
        from_quantity: Quantity,
        /// What `to` measures.
        to_quantity: Quantity,
    },
}

fn known_symbols() -> String {
    let symbols: Vec<&str> = UNITS.iter().map(|info| info.symbol).collect();
    symbols.join(", ")
}

/// A linear map from values in one unit to values in another:
/// `to = from × scale + offset`. Worked out once per pair of units so the
/// hot path is one multiply and one add.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Conversion {
    /// Factor applied first.
    pub scale: f64,
    /// Term added after scaling (non-zero only between temperature scales).
    pub offset: f64,
}

impl Conversion {
    /// The conversion that changes nothing.
    pub const IDENTITY: Conversion = Conversion {
        scale: 1.0,
        offset: 0.0,
    };

    /// Converts one value.
    #[inline]
    pub fn apply(self, value: f64) -> f64 {
        value.mul_add(self.scale, self.offset)
    }

    /// Whether this conversion changes nothing.
    pub fn is_identity(self) -> bool {
        self == Conversion::IDENTITY
    }
}

impl Unit {
    /// The unit's row of [`UNITS`], which lists the units in the order the
    /// enum declares them, so the discriminant is the index: a symbol is
    /// looked up in constant time, as encoders on the hot path do.
    fn info(self) -> &'static UnitInfo {
        let info = &UNITS[self as usize];
        debug_assert_eq!(info.unit, self, "bug: UNITS is in declaration order");
        info
    }

    /// Every unit Flowline knows, in the order they are listed here.
    pub fn all() -> impl Iterator<Item = Unit> {
        UNITS.iter().map(|info| info.unit)
    }

    /// The symbol, such as `bar` or `m³/d`.
    pub fn symbol(self) -> &'static str {
        self.info().symbol
    }

    /// What this unit measures.
    pub fn quantity(self) -> Quantity {
        self.info().quantity
    }

    /// The linear map from values in `self` to values in `target`.
    pub fn conversion_to(self, target: Unit) -> Result<Conversion, UnitError> {
        if self == target {
            return Ok(Conversion::IDENTITY);
        }
        let (from, to) = (self.info(), target.info());
        if from.quantity != to.quantity {
            return Err(UnitError::Incompatible {
                from: self,
                to: target,
                from_quantity: from.quantity,
                to_quantity: to.quantity,
            });
        }

        // Both units are affine in SI: si = value × scale + offset. Compose
        // the forward map of `from` with the inverse map of `to`.
        let from_offset = (from.to_si)(0.0);
        let from_scale = (from.to_si)(1.0) - from_offset;
        let to_offset = (to.to_si)(0.0);
        let to_scale = (to.to_si)(1.0) - to_offset;
        Ok(Conversion {
            scale: from_scale / to_scale,
            offset: (from_offset - to_offset) / to_scale,
        })
    }

    /// Converts one value from `self` to `target`.
    pub fn convert(self, value: f64, target: Unit) -> Result<f64, UnitError> {
        Ok(self.conversion_to(target)?.apply(value))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl FromStr for Unit {
    type Err = UnitError;

    /// Reads a symbol or alias exactly. Symbols are case-sensitive (`mA` is
    /// not `MA`), so a text that matches only when case is ignored is
    /// rejected with the symbol it probably meant.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let names = |info: &'static UnitInfo| {
            std::iter::once(info.symbol).chain(info.aliases.iter().copied())
        };
        if let Some(info) = UNITS
            .iter()
            .find(|info| names(info).any(|name| name == text))
        {
            return Ok(info.unit);
        }

        let suggestion = UNITS
            .iter()
            .find(|info| names(info).any(|name| name.eq_ignore_ascii_case(text)))
            .map(|info| info.symbol);
        Err(UnitError::Unknown {
            text: text.to_owned(),
            suggestion,
        })
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.symbol())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        // uom keeps seven significant digits for customary units.
        (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0)
    }

    #[test]
    fn every_unit_finds_its_own_row_of_the_table() {
        for (index, info) in UNITS.iter().enumerate() {
            assert_eq!(info.unit as usize, index, "{}", info.symbol);
            assert_eq!(info.unit.symbol(), info.symbol);
        }
    }

    #[test]
    fn pressures_convert_between_field_units() {
        assert!(close(
            Unit::Bar.convert(1.0, Unit::Psi).unwrap(),
            14.503_773_773_022_2
        ));
        assert!(close(
            Unit::Psi.convert(100.0, Unit::Kilopascal).unwrap(),
            689.475_729_316_836
        ));
        assert!(close(
            Unit::Megapascal.convert(2.5, Unit::Bar).unwrap(),
            25.0
        ));
    }

    #[test]
    fn temperatures_convert_with_their_offsets() {
        assert!(close(
            Unit::Celsius.convert(100.0, Unit::Fahrenheit).unwrap(),
            212.0
        ));
        assert!(close(
            Unit::Fahrenheit.convert(32.0, Unit::Celsius).unwrap(),
            0.0
        ));
        assert!(close(
            Unit::Celsius.convert(-273.15, Unit::Kelvin).unwrap(),
            0.0
        ));
        assert!(close(
            Unit::Kelvin.convert(300.0, Unit::Fahrenheit).unwrap(),
            80.33
        ));
    }

    #[test]
    fn volume_rates_convert_between_barrels_and_cubic_metres() {
        // One oil barrel is 0.158987 m³ (uom keeps seven digits).
        assert!(
            (Unit::BarrelPerDay
                .convert(1000.0, Unit::CubicMetrePerDay)
                .unwrap()
                - 158.987)
                .abs()
                < 1e-3
        );
        assert!(close(
            Unit::CubicMetrePerHour
                .convert(1.0, Unit::CubicMetrePerDay)
                .unwrap(),
            24.0
        ));
        assert!(close(
            Unit::MillionStandardCubicFeetPerDay
                .convert(1.0, Unit::ThousandStandardCubicFeetPerDay)
                .unwrap(),
            1000.0
        ));
    }

    #[test]
    fn other_field_units_convert() {
        assert!(close(
            Unit::Milliampere.convert(20.0, Unit::Ampere).unwrap(),
            0.02
        ));
        assert!(close(
            Unit::Hertz.convert(1.0, Unit::RevolutionPerMinute).unwrap(),
            60.0
        ));
        assert!(close(
            Unit::Fraction.convert(0.25, Unit::Percent).unwrap(),
            25.0
        ));
        assert!(close(
            Unit::Foot.convert(1.0, Unit::Millimetre).unwrap(),
            304.8
        ));
    }

    #[test]
    fn standard_and_actual_volumes_do_not_convert() {
        let error = Unit::StandardCubicMetrePerDay
            .conversion_to(Unit::CubicMetrePerDay)
            .unwrap_err();
        assert!(error.to_string().contains("StandardVolumeRate"), "{error}");
        assert!(Unit::Bar.conversion_to(Unit::Celsius).is_err());
    }

    #[test]
    fn symbols_and_aliases_parse_and_every_symbol_round_trips() {
        assert_eq!("m3/d".parse::<Unit>().unwrap(), Unit::CubicMetrePerDay);
        assert_eq!("degC".parse::<Unit>().unwrap(), Unit::Celsius);
        assert_eq!(
            "Sm³/d".parse::<Unit>().unwrap(),
            Unit::StandardCubicMetrePerDay
        );
        for unit in Unit::all() {
            assert_eq!(unit.symbol().parse::<Unit>().unwrap(), unit);
        }
    }

    #[test]
    fn symbols_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for info in UNITS {
            for name in std::iter::once(info.symbol).chain(info.aliases.iter().copied()) {
                assert!(seen.insert(name), "`{name}` names two units");
            }
        }
    }

    #[test]
    fn unknown_units_name_the_text_and_suggest_by_case() {
        let error = "PSI".parse::<Unit>().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown unit `PSI` (did you mean `psi`?)"),
            "{error}"
        );
        let error = "furlong/fortnight".parse::<Unit>().unwrap_err();
        assert!(
            error.to_string().contains("known units: Pa, kPa"),
            "{error}"
        );
    }

    #[test]
    fn identity_conversion_is_exact() {
        for unit in Unit::all() {
            assert!(unit.conversion_to(unit).unwrap().is_identity());
        }
    }
}
