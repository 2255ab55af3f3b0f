//! Fuzz target: A fault schedule, as `sim.field.faults` or `--faults` holds it.
//! The check lives in `flowline_fuzz_checks::schedule::fault_schedule`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::schedule::fault_schedule(data));
