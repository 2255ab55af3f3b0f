//! The quality score: one number per sample, from 0 to 1, saying how far
//! its value can be trusted, for trends that fade doubtful points and
//! aggregates that weight them.
//!
//! The score is the source's verdict times a penalty for each of
//! Flowline's flags:
//!
//! | what | factor |
//! | --- | --- |
//! | quality good | 1 |
//! | quality uncertain | 0.6 |
//! | quality bad, or no value | 0 (the score is 0) |
//! | out of range | × 0.1 |
//! | spike | × 0.2 |
//! | stuck | × 0.3 |
//! | rate of change | × 0.5 |
//! | estimated | × 0.7 |
//! | gap before it | × 0.9 |
//! | late, unit converted, source bad | × 1 (they say when or how, not how well; source bad is already in the quality) |
//!
//! So a good reading with no flag scores 1, an uncertain spike 0.12, and
//! a good reading outside its valid range 0.1.

use flowline_core::{DataQualityFlags, Quality, Severity};

/// Each flag that lowers the score, and its factor.
const PENALTIES: [(DataQualityFlags, f32); 6] = [
    (DataQualityFlags::OUT_OF_RANGE, 0.1),
    (DataQualityFlags::SPIKE, 0.2),
    (DataQualityFlags::STUCK, 0.3),
    (DataQualityFlags::RATE_OF_CHANGE, 0.5),
    (DataQualityFlags::ESTIMATED, 0.7),
    (DataQualityFlags::GAP, 0.9),
];

/// The score of an uncertain quality before penalties.
const UNCERTAIN: f32 = 0.6;

/// How far a sample's value can be trusted, from 0 to 1: see the module
/// documentation for the formula. `has_value` is false for a gap.
pub fn quality_score(quality: Quality, flags: DataQualityFlags, has_value: bool) -> f32 {
    let base = match quality.severity() {
        Severity::Good => 1.0,
        Severity::Uncertain => UNCERTAIN,
        Severity::Bad => return 0.0,
    };
    if !has_value {
        return 0.0;
    }
    // Fast path: most samples carry no flag.
    if flags.is_empty() {
        return base;
    }
    PENALTIES
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .fold(base, |score, (_, factor)| score * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_good_reading_scores_one_and_a_bad_one_zero() {
        assert_eq!(
            quality_score(Quality::GOOD, DataQualityFlags::empty(), true),
            1.0
        );
        assert_eq!(
            quality_score(Quality::BAD_SENSOR_FAILURE, DataQualityFlags::empty(), true),
            0.0
        );
        assert_eq!(
            quality_score(Quality::UNCERTAIN, DataQualityFlags::SOURCE_BAD, false),
            0.0
        );
    }

    #[test]
    fn penalties_multiply_and_informational_flags_cost_nothing() {
        let uncertain_spike = quality_score(
            Quality::UNCERTAIN,
            DataQualityFlags::SPIKE | DataQualityFlags::SOURCE_BAD,
            true,
        );
        assert!((uncertain_spike - 0.12).abs() < 1e-6, "{uncertain_spike}");
        let informational = DataQualityFlags::LATE | DataQualityFlags::UNIT_CONVERTED;
        assert_eq!(quality_score(Quality::GOOD, informational, true), 1.0);
        let every = DataQualityFlags::all();
        let worst = quality_score(Quality::GOOD, every, true);
        let product = 0.1 * 0.2 * 0.3 * 0.5 * 0.7 * 0.9;
        assert!((worst - product).abs() < 1e-6, "{worst}");
    }
}
