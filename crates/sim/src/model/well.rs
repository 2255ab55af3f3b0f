//! Well physics: what a well produces, and the pressures, temperatures and
//! pump readings that go with it.
//!
//! Each step solves the well's steady state for its current reservoir
//! pressure, choke opening and lift, then lets the true values follow it
//! through first-order lags, so a change shows within a few seconds and
//! settles within a minute. The model, in field units (bar, m³/d, °C):
//!
//! - **Inflow**: liquid rate `q = PI × (Pr − Pwf)`, a straight-line
//!   productivity index. Reservoir pressure `Pr` declines exponentially
//!   (15 to 25 % a year); water cut creeps up.
//! - **LiftDesign and choke**: the liquid column of depth × gradient stands
//!   between bottom hole and wellhead; lift adds head (ESP) or lightens the
//!   column (gas lift); the choke passes `q = C × opening × √(Pwh − Psep)`.
//!   Equating the three gives a quadratic in `q`, solved exactly.
//! - **ESP**: a linear head curve scaled by the affinity laws: head ∝ f²,
//!   flow ∝ f. Motor current is the no-load current (∝ f) plus a term
//!   proportional to hydraulic power `q × Δp`; motor temperature follows
//!   current and cooling flow with a 15-minute lag.
//! - **Gas lift**: injection lightens the column by up to 50–60 % with
//!   diminishing returns, `1 − e^(−rate/half-rate)`.
//! - **Rod pump**: positive displacement, `area × stroke × speed ×
//!   efficiency`, capped by what the reservoir can deliver; the polished-rod
//!   load swings with the stroke between the rod weight and rod weight plus
//!   fluid load.
//! - **Temperature**: the flowline is warm when the well flows hard and
//!   cools to ambient (with its daily swing) when it does not.

use flowline_core::NodePath;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Seconds in a Julian year, for rates given per year.
const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;
/// Hydraulic power of 1 m³/d lifted through 1 bar, in kW.
const KILOWATT_PER_CUBIC_METRE_PER_DAY_BAR: f64 = 1e5 / 86_400.0 / 1_000.0;
/// Load of 1 bar on 1 m², in kN.
const KILONEWTON_PER_BAR_SQUARE_METRE: f64 = 100.0;
/// Minutes in a day, for pump displacement per stroke per minute.
const MINUTES_PER_DAY: f64 = 1_440.0;
/// The ESP frequency at which its rated head and flow hold, Hz.
const ESP_RATED_FREQUENCY_HZ: f64 = 60.0;
/// How fast the ESP drive ramps its frequency, Hz/s.
const ESP_RAMP_HZ_PER_S: f64 = 1.0;
/// How fast the choke actuator travels, %/s.
const CHOKE_TRAVEL_PERCENT_PER_S: f64 = 5.0;
/// How fast the gas-lift controller moves the injection rate, Sm³/d per s.
const GAS_LIFT_RAMP_PER_S: f64 = 1_000.0;
/// How fast a rod pump comes up to speed, strokes per minute per s.
const ROD_PUMP_RAMP_SPM_PER_S: f64 = 0.5;
/// Time constant of the well's rates and pressures, s.
const FLOW_TIME_CONSTANT_S: f64 = 10.0;
/// Time constant of the ESP motor current, s.
const CURRENT_TIME_CONSTANT_S: f64 = 2.0;
/// Time constant of casing and injection pressure, s.
const CASING_TIME_CONSTANT_S: f64 = 120.0;
/// Time constant of the flowline temperature, s.
const FLOWLINE_TIME_CONSTANT_S: f64 = 600.0;
/// Time constant of the ESP motor winding temperature, s.
const MOTOR_TIME_CONSTANT_S: f64 = 900.0;
/// The lowest flowing bottom-hole pressure, bar: a pump drawing the well
/// down further would pump off, so the inflow is capped there.
const MIN_BOTTOMHOLE_PRESSURE_BAR: f64 = 5.0;
/// The lowest tubing pressure a dead well reads, bar (gauge).
const MIN_TUBING_PRESSURE_BAR: f64 = 1.0;
/// The pressure at which a rod pump's relief valve opens when it pumps
/// against a nearly closed choke, bar.
const ROD_PUMP_RELIEF_BAR: f64 = 60.0;
/// Liquid rate at which the flowline is halfway between ambient and the
/// wellhead fluid temperature, m³/d.
const HALF_WARM_RATE: f64 = 40.0;
/// Motor heating per ampere of current, °C/A.
const MOTOR_HEATING_PER_AMPERE: f64 = 0.45;
/// Extra motor heating with no flow past it to carry heat away, °C.
const MOTOR_HEATING_WITHOUT_FLOW: f64 = 40.0;
/// The flow past an ESP motor that cools it fully, m³/d.
const MOTOR_COOLING_RATE: f64 = 30.0;

/// How a well's reservoir and tubing behave; fixed when the model is built.
#[derive(Clone, Debug)]
pub(crate) struct Reservoir {
    /// Reservoir pressure at the start of the simulation, bar.
    pub(crate) initial_pressure_bar: f64,
    /// Exponential decline of reservoir pressure, per year.
    pub(crate) decline_per_year: f64,
    /// Liquid productivity index, m³/d per bar of drawdown.
    pub(crate) productivity: f64,
    /// Water cut at the start, a fraction.
    pub(crate) initial_water_cut: f64,
    /// How fast the oil fraction shrinks, per year.
    pub(crate) water_cut_rise_per_year: f64,
    /// Gas-oil ratio, Sm³ of gas per m³ of oil.
    pub(crate) gas_oil_ratio: f64,
    /// True vertical depth of the perforations, m.
    pub(crate) depth_m: f64,
    /// Flowing gradient of the fluid in the tubing without lift gas, bar/m.
    pub(crate) gradient_bar_per_m: f64,
    /// Reservoir temperature, °C; the ESP motor sits in fluid this warm.
    pub(crate) temperature_c: f64,
    /// Temperature of the produced fluid at the wellhead at high rates, °C.
    pub(crate) wellhead_temperature_c: f64,
    /// Liquid the choke passes per √bar of pressure drop when fully open,
    /// m³/d/√bar.
    pub(crate) choke_capacity: f64,
}

/// A well's lift method, with the design of its lift equipment.
#[derive(Copy, Clone, Debug)]
pub(crate) enum LiftDesign {
    /// Electric submersible pump.
    Esp(EspDesign),
    /// Gas lift.
    GasLift(GasLiftDesign),
    /// Rod pump.
    RodPump(RodPumpDesign),
    /// Natural flow: a packer seals the annulus, which holds this pressure,
    /// bar.
    NaturalFlow {
        /// Pressure trapped in the annulus, bar.
        annulus_pressure_bar: f64,
    },
}

/// An ESP's design.
#[derive(Copy, Clone, Debug)]
pub(crate) struct EspDesign {
    /// Pressure the pump adds at zero flow at the rated frequency, bar.
    pub(crate) rated_pressure_bar: f64,
    /// Flow at which the pump adds nothing at the rated frequency, m³/d.
    pub(crate) rated_flow: f64,
    /// Motor current with no hydraulic load at the rated frequency, A.
    pub(crate) no_load_current_a: f64,
    /// Motor current per kW of hydraulic power, A/kW.
    pub(crate) ampere_per_kilowatt: f64,
    /// Casing pressure above separator pressure: the annulus gas is vented
    /// to the flowline, bar.
    pub(crate) casing_offset_bar: f64,
}

/// A gas-lift system's design.
#[derive(Copy, Clone, Debug)]
pub(crate) struct GasLiftDesign {
    /// Injection pressure at which the operating valve opens, bar.
    pub(crate) opening_pressure_bar: f64,
    /// Rise of injection pressure with injection rate, bar per Sm³/d.
    pub(crate) pressure_per_rate: f64,
    /// Injection rate that gives 63 % of the largest effect, Sm³/d.
    pub(crate) half_effect_rate: f64,
    /// The largest fraction of the column's weight lift gas can remove.
    pub(crate) max_gradient_reduction: f64,
}

/// A rod pump's design.
#[derive(Copy, Clone, Debug)]
pub(crate) struct RodPumpDesign {
    /// Pumping speed when running, strokes per minute.
    pub(crate) nominal_speed_spm: f64,
    /// Plunger area, m².
    pub(crate) plunger_area_m2: f64,
    /// Stroke length, m.
    pub(crate) stroke_m: f64,
    /// Fraction of the swept volume actually delivered.
    pub(crate) volumetric_efficiency: f64,
    /// Buoyant weight of the rod string, kN.
    pub(crate) rod_weight_kn: f64,
    /// Casing pressure above separator pressure, bar.
    pub(crate) casing_offset_bar: f64,
}

/// What operators have asked of the well: the writable setpoints.
#[derive(Clone, Debug)]
pub(crate) struct Commands {
    /// Choke opening setpoint, %.
    pub(crate) choke_setpoint_percent: f64,
    /// Whether the pump (ESP or rod pump) should run.
    pub(crate) run: bool,
    /// ESP drive frequency setpoint, Hz.
    pub(crate) frequency_setpoint_hz: f64,
    /// Lift-gas injection rate setpoint, Sm³/d.
    pub(crate) gas_lift_rate_setpoint: f64,
}

/// The true values of a well: what perfect instruments would read.
/// Quantities that do not apply to the well's lift stay zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct WellState {
    /// Choke opening, %.
    pub(crate) choke_position_percent: f64,
    /// ESP drive frequency, Hz.
    pub(crate) frequency_hz: f64,
    /// Lift-gas injection rate, Sm³/d.
    pub(crate) injection_rate: f64,
    /// Rod-pump speed, strokes per minute.
    pub(crate) pump_speed_spm: f64,
    /// Where the rod pump is in its stroke, in cycles from 0 to 1.
    pub(crate) stroke_phase: f64,
    /// Liquid rate, m³/d.
    pub(crate) liquid_rate: f64,
    /// Oil rate, m³/d.
    pub(crate) oil_rate: f64,
    /// Water rate, m³/d.
    pub(crate) water_rate: f64,
    /// Gas rate at the wellhead, lift gas included, Sm³/d.
    pub(crate) gas_rate: f64,
    /// Flowing bottom-hole pressure, the ESP intake pressure, bar.
    pub(crate) bottomhole_pressure_bar: f64,
    /// Tubing pressure at the wellhead, bar.
    pub(crate) tubing_pressure_bar: f64,
    /// Casing pressure at the wellhead, bar.
    pub(crate) casing_pressure_bar: f64,
    /// Lift-gas injection pressure, bar.
    pub(crate) injection_pressure_bar: f64,
    /// Flowline temperature, °C.
    pub(crate) flowline_temperature_c: f64,
    /// Pressure the pump adds (ESP) or holds (rod pump), bar.
    pub(crate) pump_pressure_bar: f64,
    /// ESP motor current, A.
    pub(crate) motor_current_a: f64,
    /// ESP motor winding temperature, °C.
    pub(crate) motor_temperature_c: f64,
    /// ESP vibration velocity, mm/s.
    pub(crate) vibration_mm_per_s: f64,
    /// Polished-rod load, kN.
    pub(crate) rod_load_kn: f64,
}

/// How far each process fault has progressed in a well this step; zero (or
/// false) without the fault. Fractions run from 0 to 1 unless noted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Effects {
    /// How far the ESP has lost its prime.
    pub(crate) gas_lock: f64,
    /// Fraction of the pump's head or delivery lost to wear, up to 0.6.
    pub(crate) pump_wear: f64,
    /// Whether the shaft or rod string is broken.
    pub(crate) broken_shaft: bool,
    /// How hard the well produces sand.
    pub(crate) sand: f64,
    /// How far the tubing leak has opened.
    pub(crate) tubing_leak: f64,
    /// Fraction of the choke's passage blocked by hydrates, up to 0.97.
    pub(crate) hydrate: f64,
    /// Extra choke capacity from erosion, as a fraction, up to 1.
    pub(crate) choke_erosion: f64,
}

/// One well: its fixed design, its commands, its true state and its faults.
#[derive(Clone, Debug)]
pub(crate) struct Well {
    /// The well's path, such as `north/pad-1/w-01`.
    pub(crate) path: NodePath,
    /// Index of its pad in the model.
    pub(crate) pad: usize,
    /// Its reservoir and tubing.
    pub(crate) reservoir: Reservoir,
    /// Its lift equipment.
    pub(crate) lift: LiftDesign,
    /// What operators asked of it.
    pub(crate) commands: Commands,
    /// Its true values.
    pub(crate) state: WellState,
    /// Its process faults this step.
    pub(crate) effects: Effects,
}

/// What a well sees of the rest of the field during one step.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Surroundings {
    /// Seconds since the last step; infinite to settle at once.
    pub(crate) step_s: f64,
    /// Seconds since the start of the simulation.
    pub(crate) elapsed_s: f64,
    /// Ambient temperature, °C.
    pub(crate) ambient_c: f64,
    /// Pressure of the separator the well flows into, bar.
    pub(crate) separator_pressure_bar: f64,
}

/// The steady state a well heads for.
#[derive(Copy, Clone, Debug, Default)]
struct Flow {
    /// Liquid rate, m³/d.
    liquid: f64,
    /// Tubing pressure at the wellhead, bar.
    wellhead_bar: f64,
    /// Flowing bottom-hole pressure, bar.
    bottomhole_bar: f64,
    /// Pressure the pump adds or holds, bar.
    pump_bar: f64,
}

impl Well {
    /// Advances the well by `around.step_s` seconds.
    pub(crate) fn step(&mut self, around: &Surroundings, rng: &mut ChaCha8Rng) {
        self.move_actuators(around.step_s);
        let years = around.elapsed_s / SECONDS_PER_YEAR;
        let reservoir_pressure =
            self.reservoir.initial_pressure_bar * (-self.reservoir.decline_per_year * years).exp();
        let flow = self.steady_flow(reservoir_pressure, around, rng);
        self.follow(flow, years, around, rng);
    }

    /// Whether the lift pump (if any) is commanded to run.
    pub(crate) fn pump_runs(&self) -> bool {
        match self.lift {
            LiftDesign::Esp(_) | LiftDesign::RodPump(_) => self.commands.run,
            LiftDesign::GasLift(_) | LiftDesign::NaturalFlow { .. } => false,
        }
    }

    /// Moves the choke, the drive frequency, the injection rate and the
    /// pumping speed towards what the commands ask, at their rates.
    fn move_actuators(&mut self, step_s: f64) {
        let state = &mut self.state;
        state.choke_position_percent = ramp(
            state.choke_position_percent,
            self.commands.choke_setpoint_percent,
            CHOKE_TRAVEL_PERCENT_PER_S,
            step_s,
        );
        match &self.lift {
            LiftDesign::Esp(_) => {
                // A stopped drive's output is off at once; a started one
                // ramps up from zero.
                state.frequency_hz = if self.commands.run {
                    ramp(
                        state.frequency_hz,
                        self.commands.frequency_setpoint_hz,
                        ESP_RAMP_HZ_PER_S,
                        step_s,
                    )
                } else {
                    0.0
                };
            }
            LiftDesign::GasLift(_) => {
                state.injection_rate = ramp(
                    state.injection_rate,
                    self.commands.gas_lift_rate_setpoint,
                    GAS_LIFT_RAMP_PER_S,
                    step_s,
                );
            }
            LiftDesign::RodPump(design) => {
                state.pump_speed_spm = if self.commands.run {
                    ramp(
                        state.pump_speed_spm,
                        design.nominal_speed_spm,
                        ROD_PUMP_RAMP_SPM_PER_S,
                        step_s,
                    )
                } else {
                    0.0
                };
                if step_s.is_finite() {
                    let cycles = state.pump_speed_spm / 60.0 * step_s;
                    state.stroke_phase = (state.stroke_phase + cycles).fract();
                }
            }
            LiftDesign::NaturalFlow { .. } => {}
        }
    }

    /// The choke's capacity at its present opening, after hydrates and
    /// erosion, m³/d/√bar.
    fn choke_capacity(&self) -> f64 {
        let effects = &self.effects;
        self.reservoir.choke_capacity * self.state.choke_position_percent / 100.0
            * (1.0 - effects.hydrate)
            * (1.0 + effects.choke_erosion)
    }

    /// Where the well's rate and pressures head for at this reservoir
    /// pressure, choke opening and lift.
    fn steady_flow(
        &self,
        reservoir_pressure: f64,
        around: &Surroundings,
        rng: &mut ChaCha8Rng,
    ) -> Flow {
        let column_bar = self.reservoir.depth_m * self.reservoir.gradient_bar_per_m;
        let capacity = self.choke_capacity();
        let separator = around.separator_pressure_bar;
        let effects = &self.effects;
        let mut flow = match &self.lift {
            LiftDesign::Esp(design) => {
                let (head, slope) = self.esp_curve(design, rng);
                let mut flow = self.flowing(reservoir_pressure, column_bar, head, slope, around);
                flow.pump_bar = (head - slope * flow.liquid).max(0.0);
                flow
            }
            LiftDesign::GasLift(design) => {
                let effective_rate = self.state.injection_rate * (1.0 - 0.6 * effects.tubing_leak);
                let lightening = design.max_gradient_reduction
                    * (1.0 - (-effective_rate / design.half_effect_rate).exp());
                self.flowing(
                    reservoir_pressure,
                    column_bar * (1.0 - lightening),
                    0.0,
                    0.0,
                    around,
                )
            }
            LiftDesign::RodPump(design) => {
                self.pumped(design, reservoir_pressure, column_bar, around)
            }
            LiftDesign::NaturalFlow { .. } => {
                self.flowing(reservoir_pressure, column_bar, 0.0, 0.0, around)
            }
        };

        // Part of what is lifted leaks back down the annulus.
        if effects.tubing_leak > 0.0 && flow.liquid > 0.0 && capacity > 0.0 {
            flow.liquid *= 1.0 - 0.2 * effects.tubing_leak;
            flow.wellhead_bar = separator + (flow.liquid / capacity).powi(2);
        }
        flow
    }

    /// The ESP's head at zero flow and its fall per m³/d, at the present
    /// frequency and faults (bar, bar per m³/d).
    fn esp_curve(&self, design: &EspDesign, rng: &mut ChaCha8Rng) -> (f64, f64) {
        let effects = &self.effects;
        if !self.commands.run || effects.broken_shaft {
            return (0.0, 0.0);
        }
        let speed = self.state.frequency_hz / ESP_RATED_FREQUENCY_HZ;
        let mut health = 1.0 - effects.pump_wear;
        if effects.gas_lock > 0.0 {
            // Gas pockets come and go: the pump keeps a flickering sliver
            // of its head.
            health *= 1.0 - effects.gas_lock * rng.random_range(0.75..0.95);
        }
        let head = design.rated_pressure_bar * speed * speed * health;
        let slope = design.rated_pressure_bar * speed / design.rated_flow * health;
        (head, slope)
    }

    /// Steady state of a well whose flow is set by the balance of inflow,
    /// column, pump head and choke; `head` and `slope` describe the pump
    /// (zero without one).
    fn flowing(
        &self,
        reservoir_pressure: f64,
        column_bar: f64,
        head: f64,
        slope: f64,
        around: &Surroundings,
    ) -> Flow {
        let productivity = self.reservoir.productivity;
        let resistance = 1.0 / productivity + slope;
        let available = reservoir_pressure - column_bar + head - around.separator_pressure_bar;
        let capacity_squared = self.choke_capacity().powi(2);

        // q² + C²·R·q − C²·A = 0, solved in the form that does not cancel.
        let mut liquid = 0.0;
        if available > 0.0 && capacity_squared > 0.0 {
            let linear = capacity_squared * resistance;
            let root = (linear * linear + 4.0 * capacity_squared * available).sqrt();
            liquid = 2.0 * capacity_squared * available / (linear + root);
        }
        let deliverable = productivity * (reservoir_pressure - MIN_BOTTOMHOLE_PRESSURE_BAR);
        liquid = liquid.min(deliverable.max(0.0));

        let wellhead = reservoir_pressure - column_bar + head - liquid * resistance;
        Flow {
            liquid,
            wellhead_bar: wellhead.max(MIN_TUBING_PRESSURE_BAR),
            bottomhole_bar: reservoir_pressure - liquid / productivity,
            pump_bar: 0.0,
        }
    }

    /// Steady state of a rod-pumped well: the pump sets the rate, capped by
    /// the reservoir and by the relief valve behind the choke.
    fn pumped(
        &self,
        design: &RodPumpDesign,
        reservoir_pressure: f64,
        column_bar: f64,
        around: &Surroundings,
    ) -> Flow {
        let effects = &self.effects;
        let productivity = self.reservoir.productivity;
        let capacity = self.choke_capacity();
        let separator = around.separator_pressure_bar;

        let mut liquid = 0.0;
        if !effects.broken_shaft {
            let displacement = design.plunger_area_m2
                * design.stroke_m
                * self.state.pump_speed_spm
                * MINUTES_PER_DAY
                * design.volumetric_efficiency
                * (1.0 - effects.pump_wear);
            let deliverable = productivity * (reservoir_pressure - MIN_BOTTOMHOLE_PRESSURE_BAR);
            let through_choke = capacity * (ROD_PUMP_RELIEF_BAR - separator).max(0.0).sqrt();
            liquid = displacement.min(deliverable).min(through_choke).max(0.0);
        }
        let wellhead = if liquid > 0.0 {
            separator + (liquid / capacity).powi(2)
        } else {
            separator
        };
        let bottomhole = reservoir_pressure - liquid / productivity;
        Flow {
            liquid,
            wellhead_bar: wellhead,
            bottomhole_bar: bottomhole,
            pump_bar: (wellhead + column_bar - bottomhole).max(0.0),
        }
    }

    /// Lets the true values follow the steady state, and works out the
    /// values derived from them.
    fn follow(&mut self, flow: Flow, years: f64, around: &Surroundings, rng: &mut ChaCha8Rng) {
        let step_s = around.step_s;
        let state = &mut self.state;
        state.liquid_rate = lag(state.liquid_rate, flow.liquid, FLOW_TIME_CONSTANT_S, step_s);
        state.tubing_pressure_bar = lag(
            state.tubing_pressure_bar,
            flow.wellhead_bar,
            FLOW_TIME_CONSTANT_S,
            step_s,
        );
        state.bottomhole_pressure_bar = lag(
            state.bottomhole_pressure_bar,
            flow.bottomhole_bar,
            FLOW_TIME_CONSTANT_S,
            step_s,
        );
        state.pump_pressure_bar = lag(
            state.pump_pressure_bar,
            flow.pump_bar,
            FLOW_TIME_CONSTANT_S,
            step_s,
        );

        let oil_fraction = (1.0 - self.reservoir.initial_water_cut)
            * (-self.reservoir.water_cut_rise_per_year * years).exp();
        state.oil_rate = state.liquid_rate * oil_fraction;
        state.water_rate = state.liquid_rate - state.oil_rate;
        state.gas_rate = state.oil_rate * self.reservoir.gas_oil_ratio + state.injection_rate;

        let warmth = state.liquid_rate / (state.liquid_rate + HALF_WARM_RATE);
        let flowline_target =
            around.ambient_c + (self.reservoir.wellhead_temperature_c - around.ambient_c) * warmth;
        state.flowline_temperature_c = lag(
            state.flowline_temperature_c,
            flowline_target,
            FLOWLINE_TIME_CONSTANT_S,
            step_s,
        );

        self.follow_annulus(around);
        match self.lift {
            LiftDesign::Esp(design) => self.follow_esp(&design, step_s, rng),
            LiftDesign::RodPump(design) => self.follow_rod_pump(&design),
            LiftDesign::GasLift(_) | LiftDesign::NaturalFlow { .. } => {}
        }
    }

    /// Casing and injection pressure; a tubing leak pulls them towards the
    /// tubing pressure.
    fn follow_annulus(&mut self, around: &Surroundings) {
        let state = &mut self.state;
        let separator = around.separator_pressure_bar;
        let normal = match &self.lift {
            LiftDesign::Esp(EspDesign {
                casing_offset_bar, ..
            })
            | LiftDesign::RodPump(RodPumpDesign {
                casing_offset_bar, ..
            }) => separator + casing_offset_bar,
            LiftDesign::GasLift(design) => {
                design.opening_pressure_bar + design.pressure_per_rate * state.injection_rate
            }
            LiftDesign::NaturalFlow {
                annulus_pressure_bar,
            } => *annulus_pressure_bar,
        };
        let leak = 0.9 * self.effects.tubing_leak;
        let target = normal + leak * (state.tubing_pressure_bar - normal);
        if matches!(self.lift, LiftDesign::GasLift(_)) {
            state.injection_pressure_bar = lag(
                state.injection_pressure_bar,
                target,
                CASING_TIME_CONSTANT_S,
                around.step_s,
            );
            state.casing_pressure_bar = (state.injection_pressure_bar - 1.0).max(0.0);
        } else {
            state.casing_pressure_bar = lag(
                state.casing_pressure_bar,
                target,
                CASING_TIME_CONSTANT_S,
                around.step_s,
            );
        }
    }

    /// Motor current and temperature, intake and discharge pressure and
    /// vibration of an ESP.
    fn follow_esp(&mut self, design: &EspDesign, step_s: f64, rng: &mut ChaCha8Rng) {
        let effects = &self.effects;
        let state = &mut self.state;
        let running = self.commands.run;
        let speed = state.frequency_hz / ESP_RATED_FREQUENCY_HZ;

        let hydraulic_kilowatt =
            state.liquid_rate * state.pump_pressure_bar * KILOWATT_PER_CUBIC_METRE_PER_DAY_BAR;
        let mut current_target =
            design.no_load_current_a * speed + design.ampere_per_kilowatt * hydraulic_kilowatt;
        if effects.gas_lock > 0.0 {
            // Gas slugs come and go through the pump, and the load with
            // them: the current flickers by up to 15 % either way.
            current_target *= 1.0 + 0.3 * effects.gas_lock * (rng.random::<f64>() - 0.5);
        }
        state.motor_current_a = if running {
            lag(
                state.motor_current_a,
                current_target,
                CURRENT_TIME_CONSTANT_S,
                step_s,
            )
        } else {
            0.0
        };

        let cooling = (state.liquid_rate / MOTOR_COOLING_RATE).min(1.0);
        let motor_target = if running {
            self.reservoir.temperature_c
                + MOTOR_HEATING_PER_AMPERE * state.motor_current_a
                + MOTOR_HEATING_WITHOUT_FLOW * (1.0 - cooling)
        } else {
            self.reservoir.temperature_c
        };
        state.motor_temperature_c = lag(
            state.motor_temperature_c,
            motor_target,
            MOTOR_TIME_CONSTANT_S,
            step_s,
        );

        state.vibration_mm_per_s = if !running {
            0.05
        } else if effects.broken_shaft {
            // The motor spins free and smooth.
            0.3 + 0.2 * speed * speed
        } else {
            let mut vibration =
                0.6 + 1.4 * speed * speed + 8.0 * effects.pump_wear + 5.0 * effects.sand;
            if effects.gas_lock > 0.0 {
                vibration += 3.0 * effects.gas_lock * rng.random::<f64>();
            }
            vibration
        };
    }

    /// Polished-rod load of a rod pump over its stroke.
    fn follow_rod_pump(&mut self, design: &RodPumpDesign) {
        let effects = &self.effects;
        let state = &mut self.state;
        let fluid_load = design.plunger_area_m2
            * state.pump_pressure_bar
            * KILONEWTON_PER_BAR_SQUARE_METRE
            * (1.0 - 0.5 * effects.pump_wear);
        let stroke = 0.5 - 0.5 * (std::f64::consts::TAU * state.stroke_phase).cos();
        state.rod_load_kn = if effects.broken_shaft {
            // Only the rods above the break hang from the polished rod.
            0.35 * design.rod_weight_kn * (1.0 + 0.02 * stroke)
        } else if self.commands.run {
            design.rod_weight_kn + fluid_load * stroke
        } else {
            design.rod_weight_kn + 0.5 * fluid_load
        };
    }
}

/// `current` moved towards `target` by at most `rate × step_s`.
fn ramp(current: f64, target: f64, rate: f64, step_s: f64) -> f64 {
    let most = rate * step_s;
    current + (target - current).clamp(-most, most)
}

/// A first-order lag with time constant `time_constant_s`, integrated
/// exactly over `step_s`, so any step length is stable; an infinite step
/// lands on the target.
pub(crate) fn lag(current: f64, target: f64, time_constant_s: f64, step_s: f64) -> f64 {
    target + (current - target) * (-step_s / time_constant_s).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lag_is_exact_for_any_step_and_an_infinite_step_settles() {
        let one_step = lag(0.0, 1.0, 10.0, 20.0);
        let two_steps = lag(lag(0.0, 1.0, 10.0, 10.0), 1.0, 10.0, 10.0);
        assert!((one_step - two_steps).abs() < 1e-12);
        assert_eq!(lag(5.0, 1.0, 10.0, f64::INFINITY), 1.0);
    }

    #[test]
    fn a_ramp_never_overshoots_and_an_infinite_step_arrives() {
        assert_eq!(ramp(0.0, 10.0, 5.0, 1.0), 5.0);
        assert_eq!(ramp(9.0, 10.0, 5.0, 1.0), 10.0);
        assert_eq!(ramp(10.0, 0.0, 5.0, 1.0), 5.0);
        assert_eq!(ramp(0.0, 50.0, 1.0, f64::INFINITY), 50.0);
    }
}
