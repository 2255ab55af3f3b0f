//! Fuzz target: An OPC UA node id, as a catalog binding holds it.
//! The check lives in `flowline_fuzz_checks::opcua::node_address`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowline_fuzz_checks::opcua::node_address(data));
