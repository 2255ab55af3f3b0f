//! The signals the simulator produces, and how each is measured.
//!
//! Every tag of the field is bound, when the model is built, to one
//! [`Signal`] of one well, pad or tank: `north/pad-1/w-01/esp/motor-current`
//! is [`Signal::EspMotorCurrent`] of well `w-01`. The table here is the only
//! place that knows tag names, so adding a signal is one row.

/// What kind of asset a tag hangs from, which decides the names it may have.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The well itself.
    Well,
    /// The well's production choke.
    Choke,
    /// The well's electric submersible pump.
    Esp,
    /// The well's gas-lift injection.
    GasLift,
    /// The well's rod pump.
    RodPump,
    /// A pad's separator.
    Separator,
    /// A pad's tank.
    Tank,
}

/// One simulated quantity.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Tubing pressure at the wellhead, bar.
    TubingPressure,
    /// Casing (annulus) pressure at the wellhead, bar.
    CasingPressure,
    /// Flowline temperature downstream of the choke, °C.
    FlowlineTemperature,
    /// Oil rate, m³/d.
    OilRate,
    /// Gas rate including returned lift gas, Sm³/d.
    GasRate,
    /// Water rate, m³/d.
    WaterRate,
    /// Choke opening, %.
    ChokePosition,
    /// Choke opening setpoint, %; writable.
    ChokeSetpoint,
    /// ESP drive frequency, Hz.
    EspFrequency,
    /// ESP motor current, A.
    EspMotorCurrent,
    /// ESP motor winding temperature, °C.
    EspMotorTemperature,
    /// ESP intake pressure, bar.
    EspIntakePressure,
    /// ESP discharge pressure, bar.
    EspDischargePressure,
    /// ESP vibration velocity, mm/s.
    EspVibration,
    /// Whether the ESP runs.
    EspRunning,
    /// ESP run command; writable.
    EspRun,
    /// ESP drive frequency setpoint, Hz; writable.
    EspFrequencySetpoint,
    /// Lift-gas injection rate, Sm³/d.
    GasLiftInjectionRate,
    /// Lift-gas injection pressure, bar.
    GasLiftInjectionPressure,
    /// Lift-gas injection rate setpoint, Sm³/d; writable.
    GasLiftRateSetpoint,
    /// Rod-pump speed, strokes per minute.
    RodPumpSpeed,
    /// Polished-rod load, kN.
    RodPumpLoad,
    /// Whether the rod pump runs.
    RodPumpRunning,
    /// Rod-pump run command; writable.
    RodPumpRun,
    /// Separator pressure, bar.
    SeparatorPressure,
    /// Separator liquid level, %.
    SeparatorLevel,
    /// Separator temperature, °C.
    SeparatorTemperature,
    /// Tank level, m.
    TankLevel,
}

/// How much a measurement scatters around the true value: a standard
/// deviation of `absolute` (in the signal's unit) plus `relative` times the
/// value.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Noise {
    /// Standard deviation in the signal's unit.
    pub(crate) absolute: f64,
    /// Standard deviation as a fraction of the value.
    pub(crate) relative: f64,
}

impl Noise {
    /// No scatter at all: setpoints, commands and states.
    const NONE: Noise = Noise::new(0.0, 0.0);

    const fn new(absolute: f64, relative: f64) -> Noise {
        Noise { absolute, relative }
    }

    /// Whether the signal is exact.
    pub(crate) fn is_none(self) -> bool {
        self.absolute == 0.0 && self.relative == 0.0
    }
}

/// Every tag name the simulator knows: its role, its name and its signal.
const SIGNALS: &[(Role, &str, Signal)] = &[
    (Role::Well, "tubing-pressure", Signal::TubingPressure),
    (Role::Well, "casing-pressure", Signal::CasingPressure),
    (
        Role::Well,
        "flowline-temperature",
        Signal::FlowlineTemperature,
    ),
    (Role::Well, "oil-rate", Signal::OilRate),
    (Role::Well, "gas-rate", Signal::GasRate),
    (Role::Well, "water-rate", Signal::WaterRate),
    (Role::Choke, "position", Signal::ChokePosition),
    (Role::Choke, "setpoint", Signal::ChokeSetpoint),
    (Role::Esp, "frequency", Signal::EspFrequency),
    (Role::Esp, "motor-current", Signal::EspMotorCurrent),
    (Role::Esp, "motor-temperature", Signal::EspMotorTemperature),
    (Role::Esp, "intake-pressure", Signal::EspIntakePressure),
    (
        Role::Esp,
        "discharge-pressure",
        Signal::EspDischargePressure,
    ),
    (Role::Esp, "vibration", Signal::EspVibration),
    (Role::Esp, "running", Signal::EspRunning),
    (Role::Esp, "run", Signal::EspRun),
    (
        Role::Esp,
        "frequency-setpoint",
        Signal::EspFrequencySetpoint,
    ),
    (
        Role::GasLift,
        "injection-rate",
        Signal::GasLiftInjectionRate,
    ),
    (
        Role::GasLift,
        "injection-pressure",
        Signal::GasLiftInjectionPressure,
    ),
    (Role::GasLift, "rate-setpoint", Signal::GasLiftRateSetpoint),
    (Role::RodPump, "speed", Signal::RodPumpSpeed),
    (Role::RodPump, "load", Signal::RodPumpLoad),
    (Role::RodPump, "running", Signal::RodPumpRunning),
    (Role::RodPump, "run", Signal::RodPumpRun),
    (Role::Separator, "pressure", Signal::SeparatorPressure),
    (Role::Separator, "level", Signal::SeparatorLevel),
    (Role::Separator, "temperature", Signal::SeparatorTemperature),
    (Role::Tank, "level", Signal::TankLevel),
];

impl Role {
    /// The tag names an asset of this role may have, for error messages.
    pub(crate) fn tag_names(self) -> String {
        let names: Vec<&str> = SIGNALS
            .iter()
            .filter(|(role, _, _)| *role == self)
            .map(|(_, name, _)| *name)
            .collect();
        names.join(", ")
    }

    /// What the role is called in error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Role::Well => "a well",
            Role::Choke => "a choke",
            Role::Esp => "an ESP",
            Role::GasLift => "a gas-lift system",
            Role::RodPump => "a rod pump",
            Role::Separator => "a separator",
            Role::Tank => "a tank",
        }
    }
}

impl Signal {
    /// The signal a tag named `name` of an asset of `role` carries.
    pub(crate) fn lookup(role: Role, name: &str) -> Option<Signal> {
        SIGNALS
            .iter()
            .find(|(known_role, known_name, _)| *known_role == role && *known_name == name)
            .map(|(_, _, signal)| *signal)
    }

    /// Whether the signal is on/off rather than a number.
    pub(crate) fn is_boolean(self) -> bool {
        matches!(
            self,
            Signal::EspRunning | Signal::EspRun | Signal::RodPumpRunning | Signal::RodPumpRun
        )
    }

    /// Whether the signal is a setpoint or command that may be written.
    pub(crate) fn is_command(self) -> bool {
        matches!(
            self,
            Signal::ChokeSetpoint
                | Signal::EspRun
                | Signal::EspFrequencySetpoint
                | Signal::GasLiftRateSetpoint
                | Signal::RodPumpRun
        )
    }

    /// Whether the signal belongs to a well (rather than a pad or tank), so
    /// sand production in that well adds to its scatter.
    pub(crate) fn is_of_well(self) -> bool {
        !matches!(
            self,
            Signal::SeparatorPressure
                | Signal::SeparatorLevel
                | Signal::SeparatorTemperature
                | Signal::TankLevel
        )
    }

    /// How the signal's instrument scatters. Rates and currents scatter in
    /// proportion, so a stopped pump or a shut-in well reads exactly zero.
    pub(crate) fn noise(self) -> Noise {
        match self {
            Signal::TubingPressure => Noise::new(0.15, 0.002),
            Signal::CasingPressure => Noise::new(0.1, 0.001),
            Signal::FlowlineTemperature | Signal::EspMotorTemperature => Noise::new(0.1, 0.0),
            Signal::SeparatorTemperature => Noise::new(0.1, 0.0),
            Signal::OilRate | Signal::WaterRate | Signal::GasLiftInjectionRate => {
                Noise::new(0.0, 0.01)
            }
            Signal::GasRate => Noise::new(0.0, 0.015),
            Signal::ChokePosition => Noise::new(0.05, 0.0),
            Signal::EspFrequency => Noise::new(0.0, 0.001),
            Signal::EspMotorCurrent => Noise::new(0.0, 0.006),
            Signal::EspIntakePressure | Signal::EspDischargePressure => Noise::new(0.2, 0.001),
            Signal::EspVibration => Noise::new(0.0, 0.04),
            Signal::GasLiftInjectionPressure => Noise::new(0.1, 0.002),
            Signal::RodPumpSpeed => Noise::new(0.0, 0.005),
            Signal::RodPumpLoad => Noise::new(0.3, 0.005),
            Signal::SeparatorPressure => Noise::new(0.03, 0.002),
            Signal::SeparatorLevel => Noise::new(0.3, 0.0),
            Signal::TankLevel => Noise::new(0.005, 0.0),
            Signal::ChokeSetpoint
            | Signal::EspRunning
            | Signal::EspRun
            | Signal::EspFrequencySetpoint
            | Signal::GasLiftRateSetpoint
            | Signal::RodPumpRunning
            | Signal::RodPumpRun => Noise::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_exact_and_every_boolean_is_exact() {
        for (_, name, signal) in SIGNALS {
            if signal.is_command() || signal.is_boolean() {
                assert!(signal.noise().is_none(), "{name}");
            }
        }
    }

    #[test]
    fn names_are_unique_within_a_role() {
        for (role, name, signal) in SIGNALS {
            assert_eq!(Signal::lookup(*role, name), Some(*signal), "{name}");
        }
        assert_eq!(Signal::lookup(Role::Tank, "pressure"), None);
        assert!(Role::Tank.tag_names().contains("level"));
    }
}
