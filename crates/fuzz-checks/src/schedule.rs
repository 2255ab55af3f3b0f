//! The simulator's fault schedule, from configuration or `--faults`.

use flowline_sim::{FaultSpec, parse_schedule};

use crate::text;

/// A schedule reads to faults or to an error naming the entry, by number
/// and text, that is wrong; each fault prints as an entry that reads back
/// to the same fault, and the printed entries read as the same schedule.
pub fn fault_schedule(data: &[u8]) {
    let text = text(data);
    let specs = match parse_schedule(&text) {
        Ok(specs) => specs,
        Err(error) => {
            assert!(error.entry >= 1, "{error}");
            assert!(
                text.contains(error.source.text.trim()),
                "{error} quotes text the schedule does not hold"
            );
            return;
        }
    };
    for spec in &specs {
        let printed = spec.to_string();
        let again = printed
            .parse::<FaultSpec>()
            .unwrap_or_else(|error| panic!("{printed:?} does not read back: {error}"));
        assert_eq!(&again, spec, "{printed}");
    }
    let printed: Vec<String> = specs.iter().map(ToString::to_string).collect();
    let schedule = printed.join(", ");
    let again = parse_schedule(&schedule)
        .unwrap_or_else(|error| panic!("printed schedule {schedule:?} is refused: {error}"));
    assert_eq!(again, specs, "{schedule}");
}
