//! Fuzz target: Store-and-forward spool files, appended to and then damaged.
//! The check lives in `flowline_fuzz_checks::spool::spool`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::spool::spool(data));
