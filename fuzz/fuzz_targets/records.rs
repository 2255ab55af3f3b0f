//! Fuzz target: A record value from the bus, in the Confluent wire format.
//! The check lives in `flowline_fuzz_checks::records::records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::records::records(data));
