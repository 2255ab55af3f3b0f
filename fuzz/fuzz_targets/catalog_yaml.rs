//! Fuzz target: A catalog YAML file, as `flowline catalog import` reads it.
//! The check lives in `flowline_fuzz_checks::catalog::yaml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::catalog::yaml(data));
