//! Fuzz target: A Modbus point-list CSV file.
//! The check lives in `flowline_fuzz_checks::modbus::point_list`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::modbus::point_list(data));
