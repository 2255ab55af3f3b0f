//! Every parser in core meets arbitrary text: it must answer with a value or
//! an error, never panic, and what it accepts must print back the same.

use flowline_core::{DataQualityFlags, NodePath, Quality, Timestamp, Unit};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_text_is_a_path_that_prints_back_or_an_error(text in "\\PC{0,80}") {
        match NodePath::parse(&text) {
            Ok(path) => prop_assert_eq!(path.as_str(), text.as_str()),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn path_like_text_is_accepted_exactly_when_every_segment_is_valid(
        text in "[a-z0-9/._A-Z-]{0,40}"
    ) {
        let valid = !text.is_empty()
            && text.split('/').count() <= flowline_core::MAX_DEPTH
            && text.split('/').all(|segment| {
                segment.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && segment.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
            });
        prop_assert_eq!(NodePath::parse(&text).is_ok(), valid);
    }

    #[test]
    fn scalar_parsers_never_panic(text in "\\PC{0,40}") {
        if let Ok(unit) = text.parse::<Unit>() {
            prop_assert_eq!(unit.symbol().parse::<Unit>().unwrap(), unit);
        }
        if let Ok(quality) = text.parse::<Quality>() {
            prop_assert_eq!(quality.to_string().parse::<Quality>().unwrap(), quality);
        }
        if let Ok(flags) = text.parse::<DataQualityFlags>() {
            prop_assert_eq!(flags.to_string().parse::<DataQualityFlags>().unwrap(), flags);
        }
        let _ = text.parse::<Timestamp>();
    }

    #[test]
    fn every_quality_prints_and_reads_back(bits in any::<u32>()) {
        let quality = Quality::from_bits(bits);
        prop_assert_eq!(quality.to_string().parse::<Quality>().unwrap(), quality);
    }

    #[test]
    fn converting_there_and_back_returns_the_value(
        value in -1.0e6f64..1.0e6,
        from in 0usize..64,
        to in 0usize..64,
    ) {
        let units: Vec<Unit> = Unit::all().collect();
        let (from, to) = (units[from % units.len()], units[to % units.len()]);
        if let Ok(there) = from.conversion_to(to) {
            let back = to.conversion_to(from).unwrap().apply(there.apply(value));
            let close = (back - value).abs() <= 1e-9 * value.abs().max(1.0);
            prop_assert!(close, "{from} → {to} → {from}: {value} became {back}");
        }
    }
}
