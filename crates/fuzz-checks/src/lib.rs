//! The checks Flowline's fuzz targets run on untrusted bytes.
//!
//! Each check takes whatever bytes a fuzzer (or an attacker, or a damaged
//! disk) hands it, feeds them to one of Flowline's own decoders, and
//! asserts what a user relies on: the decoder answers with a value or an
//! error that names what was wrong, never a panic; what it accepts prints
//! back and reads again to the same thing; what it decodes encodes back.
//! A broken invariant panics, which is what a fuzzer reports as a crash.
//!
//! The fuzz targets under `fuzz/` are one line each around these
//! functions, and this crate's `tests/corpus.rs` replays every committed
//! corpus file and regression through the same functions on stable Rust,
//! so a finding stays fixed without a fuzzer. [`TARGETS`] is the one list
//! both sides read.

pub mod catalog;
pub mod modbus;
pub mod opcua;
pub mod records;
pub mod schedule;
pub mod spool;

/// A check: takes arbitrary bytes and panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every fuzz target, by the name of its `fuzz/fuzz_targets/NAME.rs` file
/// and of its corpus directory `fuzz/corpus/NAME/`, with its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("modbus_address", modbus::address),
    ("modbus_registers", modbus::registers),
    ("point_list", modbus::point_list),
    ("catalog_csv", catalog::csv),
    ("catalog_yaml", catalog::yaml),
    ("spool", spool::spool),
    ("fault_schedule", schedule::fault_schedule),
    ("opcua_node_address", opcua::node_address),
    ("records", records::records),
];

/// Reads `data` as the text of a `T`: it parses, or the error quotes the
/// text; what parses prints a text that reads back to the same `T`, and
/// printing that again gives the same text.
fn text_round_trip<T>(data: &[u8])
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
    T::Err: std::fmt::Display,
{
    let text = text(data);
    match text.parse::<T>() {
        Ok(parsed) => {
            let printed = parsed.to_string();
            let again = printed.parse::<T>().unwrap_or_else(|error| {
                panic!("`{text}` parsed, but its printed form `{printed}` does not: {error}")
            });
            assert_eq!(again, parsed, "`{text}` printed as `{printed}`");
            assert_eq!(again.to_string(), printed, "printed form of `{text}`");
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains(&format!("`{text}`")), "{message}");
        }
    }
}

/// The text a fuzzer's bytes spell, with invalid UTF-8 replaced, so text
/// decoders see every input rather than only the valid ones.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}
