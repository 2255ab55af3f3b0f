//! Fuzz target: An address line, then the registers a Modbus device sends for it.
//! The check lives in `flowline_fuzz_checks::modbus::registers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::modbus::registers(data));
