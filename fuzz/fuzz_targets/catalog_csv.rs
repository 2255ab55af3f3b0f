//! Fuzz target: A catalog CSV file, as `flowline catalog import` reads it.
//! The check lives in `flowline_fuzz_checks::catalog::csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::catalog::csv(data));
