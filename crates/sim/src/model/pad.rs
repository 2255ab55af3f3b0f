//! Pad physics: the separator that takes the pad's wells, and the tanks
//! that take its oil.
//!
//! - **Separator pressure** is held near its setpoint by the gas outlet
//!   valve; more gas than the valve was sized for pushes it up a little,
//!   with a one-minute lag. Wells flow against it, so it couples them.
//! - **Separator level** is held by a proportional level controller on the
//!   liquid dump valve: it settles where the outflow matches the inflow,
//!   higher when more liquid arrives, with a two-minute time constant.
//! - **Tanks** fill with the pad's oil, shared equally among them. At the
//!   high mark a transfer pump starts and empties the tank to the low mark
//!   at eight times the usual inflow, so a level saws up over about two
//!   days and down over a few hours.

use crate::model::well::lag;

/// Time constant of separator pressure, s.
const PRESSURE_TIME_CONSTANT_S: f64 = 60.0;
/// Time constant of the separator's level loop, s.
const LEVEL_TIME_CONSTANT_S: f64 = 120.0;
/// Time constant of the separator's temperature, s.
const TEMPERATURE_TIME_CONSTANT_S: f64 = 900.0;
/// Separator pressure rise per unit of gas above the design rate, as a
/// fraction of the setpoint.
const PRESSURE_RISE_PER_GAS: f64 = 0.2;
/// Separator level with no liquid arriving, %.
const LEVEL_WITHOUT_INFLOW_PERCENT: f64 = 30.0;
/// Separator level rise at the design liquid rate, %.
const LEVEL_RISE_AT_DESIGN_PERCENT: f64 = 20.0;
/// Cooling of the fluid between wellheads and separator, °C.
const SEPARATOR_COOLING_C: f64 = 1.5;
/// Tank level at which the transfer pump stops, m.
pub(crate) const TANK_LOW_M: f64 = 1.0;
/// Tank level at which the transfer pump starts, m.
pub(crate) const TANK_HIGH_M: f64 = 10.5;
/// The top of a tank, where it overflows, m.
const TANK_TOP_M: f64 = 12.0;
/// How long a tank takes to fill from low to high at the design oil rate,
/// days.
const TANK_FILL_DAYS: f64 = 2.0;
/// Transfer pump rate as a multiple of the design oil rate into the tank.
const TRANSFER_RATE_MULTIPLE: f64 = 8.0;
/// Seconds in a day, for rates given per day.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// What the wells of a pad send to its separator during one step.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Inflow {
    /// Oil, m³/d.
    pub(crate) oil_rate: f64,
    /// Oil and water, m³/d.
    pub(crate) liquid_rate: f64,
    /// Gas, Sm³/d.
    pub(crate) gas_rate: f64,
    /// Sum of liquid rate × flowline temperature, for the mixed temperature,
    /// m³/d × °C.
    pub(crate) heat: f64,
}

/// A pad's separator.
#[derive(Clone, Debug)]
pub(crate) struct Separator {
    /// Pressure the gas outlet valve holds, bar.
    pub(crate) pressure_setpoint_bar: f64,
    /// Gas rate the outlet valve was sized for, Sm³/d: the pad's rate at
    /// the start.
    pub(crate) design_gas_rate: f64,
    /// Liquid rate the dump valve was sized for, m³/d.
    pub(crate) design_liquid_rate: f64,
    /// Pressure, bar.
    pub(crate) pressure_bar: f64,
    /// Liquid level, %.
    pub(crate) level_percent: f64,
    /// Temperature, °C.
    pub(crate) temperature_c: f64,
}

/// A pad: where its wells flow to.
#[derive(Clone, Debug)]
pub(crate) struct Pad {
    /// Its separator.
    pub(crate) separator: Separator,
    /// Indexes of its tanks in the model.
    pub(crate) tanks: Vec<usize>,
}

/// An oil tank on a pad.
#[derive(Clone, Debug)]
pub(crate) struct Tank {
    /// Floor area, m², so that it fills in about two days.
    pub(crate) area_m2: f64,
    /// Transfer pump rate, m³/d.
    pub(crate) transfer_rate: f64,
    /// Level, m.
    pub(crate) level_m: f64,
    /// Whether the transfer pump is emptying it.
    pub(crate) transferring: bool,
}

impl Separator {
    /// Advances the separator by `step_s` seconds with this inflow.
    pub(crate) fn step(&mut self, inflow: &Inflow, ambient_c: f64, step_s: f64) {
        let gas_load = ratio(inflow.gas_rate, self.design_gas_rate);
        let pressure_target = self.pressure_setpoint_bar
            * (1.0 + PRESSURE_RISE_PER_GAS * (gas_load - 1.0)).clamp(0.5, 2.0);
        self.pressure_bar = lag(
            self.pressure_bar,
            pressure_target,
            PRESSURE_TIME_CONSTANT_S,
            step_s,
        );

        let liquid_load = ratio(inflow.liquid_rate, self.design_liquid_rate);
        let level_target = (LEVEL_WITHOUT_INFLOW_PERCENT
            + LEVEL_RISE_AT_DESIGN_PERCENT * liquid_load)
            .clamp(0.0, 100.0);
        self.level_percent = lag(
            self.level_percent,
            level_target,
            LEVEL_TIME_CONSTANT_S,
            step_s,
        );

        let temperature_target = if inflow.liquid_rate > 0.0 {
            inflow.heat / inflow.liquid_rate - SEPARATOR_COOLING_C
        } else {
            ambient_c
        };
        self.temperature_c = lag(
            self.temperature_c,
            temperature_target,
            TEMPERATURE_TIME_CONSTANT_S,
            step_s,
        );
    }
}

impl Tank {
    /// A tank sized for `design_oil_rate` m³/d, at `level_m`.
    pub(crate) fn new(design_oil_rate: f64, level_m: f64) -> Tank {
        // A pad that makes no oil still gets a tank of some size.
        let design_oil_rate = design_oil_rate.max(1.0);
        Tank {
            area_m2: design_oil_rate * TANK_FILL_DAYS / (TANK_HIGH_M - TANK_LOW_M),
            transfer_rate: design_oil_rate * TRANSFER_RATE_MULTIPLE,
            level_m,
            transferring: false,
        }
    }

    /// Advances the tank by `step_s` seconds with `oil_rate` m³/d flowing
    /// in: it fills, and empties between the marks, however long the step.
    pub(crate) fn step(&mut self, oil_rate: f64, step_s: f64) {
        let rise_m_per_s = oil_rate / SECONDS_PER_DAY / self.area_m2;
        let fall_m_per_s = (self.transfer_rate - oil_rate) / SECONDS_PER_DAY / self.area_m2;
        let band_m = TANK_HIGH_M - TANK_LOW_M;
        let mut remaining_s = step_s;

        // Whole fill-and-empty cycles change nothing; skip them so a long
        // step costs no more than a short one.
        if rise_m_per_s > 0.0 && fall_m_per_s > 0.0 {
            let cycle_s = band_m / rise_m_per_s + band_m / fall_m_per_s;
            remaining_s %= cycle_s;
        }
        // At most three phases remain: finish this one, do the other, and
        // start this one again.
        for _ in 0..3 {
            if remaining_s <= 0.0 {
                break;
            }
            if self.transferring {
                if fall_m_per_s <= 0.0 {
                    // Oil arrives faster than the pump takes it away.
                    self.level_m -= fall_m_per_s * remaining_s;
                    break;
                }
                let to_low_s = (self.level_m - TANK_LOW_M).max(0.0) / fall_m_per_s;
                if to_low_s > remaining_s {
                    self.level_m -= fall_m_per_s * remaining_s;
                    break;
                }
                self.level_m = TANK_LOW_M;
                self.transferring = false;
                remaining_s -= to_low_s;
            } else {
                if rise_m_per_s <= 0.0 {
                    break;
                }
                let to_high_s = (TANK_HIGH_M - self.level_m).max(0.0) / rise_m_per_s;
                if to_high_s > remaining_s {
                    self.level_m += rise_m_per_s * remaining_s;
                    break;
                }
                self.level_m = TANK_HIGH_M;
                self.transferring = true;
                remaining_s -= to_high_s;
            }
        }
        self.level_m = self.level_m.clamp(0.0, TANK_TOP_M);
    }
}

/// `value / design`, or 1 when there is no design rate to compare with.
fn ratio(value: f64, design: f64) -> f64 {
    if design > 0.0 { value / design } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tank() -> Tank {
        Tank::new(100.0, 5.0)
    }

    #[test]
    fn a_tank_fills_to_the_high_mark_in_about_two_days_then_empties() {
        let mut one_day = tank();
        one_day.level_m = TANK_LOW_M;
        one_day.step(100.0, SECONDS_PER_DAY);
        assert!((one_day.level_m - (TANK_LOW_M + TANK_HIGH_M) / 2.0).abs() < 1e-9);
        one_day.step(100.0, SECONDS_PER_DAY + 60.0);
        assert!(one_day.transferring, "level {}", one_day.level_m);
        assert!(one_day.level_m < TANK_HIGH_M);
    }

    #[test]
    fn one_long_tank_step_matches_many_short_ones() {
        let (mut long, mut short) = (tank(), tank());
        long.step(100.0, 10.0 * SECONDS_PER_DAY);
        for _ in 0..(10 * 24) {
            short.step(100.0, 3_600.0);
        }
        assert!((long.level_m - short.level_m).abs() < 1e-6);
        assert_eq!(long.transferring, short.transferring);
        assert!((TANK_LOW_M..=TANK_HIGH_M).contains(&long.level_m));
    }

    #[test]
    fn more_liquid_raises_the_separator_level() {
        let mut separator = Separator {
            pressure_setpoint_bar: 15.0,
            design_gas_rate: 10_000.0,
            design_liquid_rate: 500.0,
            pressure_bar: 15.0,
            level_percent: 50.0,
            temperature_c: 40.0,
        };
        let inflow = Inflow {
            oil_rate: 500.0,
            liquid_rate: 1_000.0,
            gas_rate: 10_000.0,
            heat: 40_000.0,
        };
        separator.step(&inflow, 10.0, f64::INFINITY);
        assert_eq!(separator.level_percent, 70.0);
        assert_eq!(separator.pressure_bar, 15.0);
        assert!((separator.temperature_c - 38.5).abs() < 1e-9);
    }
}
