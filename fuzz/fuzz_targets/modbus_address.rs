//! Fuzz target: A Modbus address text, as a catalog binding or point list spells it.
//! The check lives in `flowline_fuzz_checks::modbus::address`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::modbus::address(data));
