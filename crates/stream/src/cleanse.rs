//! Cleansing: the first look at a raw sample. Refuses what cannot be
//! trusted at all, keeps honest gaps, and brings values to the tag's
//! catalog type and unit.
//!
//! | what arrives | what happens |
//! | --- | --- |
//! | time more than `max_future_ms` after its receive time | refused: the device's clock is wrong, and believing it would make every other sample late |
//! | time more than `max_age_ms` before its receive time | refused, to wait in the dead-letter queue for a backfill |
//! | NaN or ±infinity with a bad or uncertain quality | kept as an honest gap: the value becomes [`Value::MISSING`], flagged source-bad |
//! | NaN or ±infinity with a good quality | refused: a good reading without a number is a device or gateway error |
//! | a value of another type | converted when nothing is lost (an integer for a float tag, 0/1 for an on/off tag, a whole float for an integer tag); refused otherwise |
//! | a float tag with a `source_unit` attribute | converted to the catalog unit, flagged unit-converted |
//! | a bad or uncertain quality | kept, flagged source-bad |

use flowline_core::{DataQualityFlags, DataType, Sample, Value};

use crate::config::TimeConfig;
use crate::error::RejectReason;
use crate::plan::TagPlan;

/// A sample's value after cleansing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cleansed {
    /// The value, of the tag's data type and in its unit, or missing.
    pub(crate) value: Value,
    /// The value as a finite number, for the numeric checks; `None` for
    /// text and gaps.
    pub(crate) number: Option<f64>,
    /// Source-bad and unit-converted, as they apply.
    pub(crate) flags: DataQualityFlags,
}

/// The largest integer magnitude an `f64` holds exactly: 2^53.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Cleanses one sample of a tag whose plan is `plan`.
pub(crate) fn cleanse(
    sample: &Sample,
    plan: &TagPlan,
    limits: &TimeConfig,
) -> Result<Cleansed, RejectReason> {
    check_time(sample, limits)?;
    if let Some(problem) = &plan.unit_problem {
        return Err(RejectReason::SourceUnit {
            tag: sample.tag,
            problem: problem.clone(),
        });
    }

    let mut flags = DataQualityFlags::empty();
    if !sample.quality.is_good() {
        flags |= DataQualityFlags::SOURCE_BAD;
    }
    if let Value::Float(number) = sample.value
        && !number.is_finite()
    {
        return gap(sample, number, flags);
    }

    let mismatch = || RejectReason::TypeMismatch {
        tag: sample.tag,
        expected: plan.data_type,
        found: sample.value.data_type(),
        value: sample.value.to_string(),
    };
    let (value, number) = match (plan.data_type, &sample.value) {
        // Fast path: a float for a float tag.
        (DataType::Float, Value::Float(number)) => convert(*number, plan, &mut flags),
        (DataType::Float, Value::Integer(number)) => convert(*number as f64, plan, &mut flags),
        (DataType::Integer, Value::Integer(number)) => {
            (Value::Integer(*number), Some(*number as f64))
        }
        (DataType::Integer, Value::Float(number))
            if number.fract() == 0.0 && number.abs() < EXACT_INTEGER_LIMIT =>
        {
            (Value::Integer(*number as i64), Some(*number))
        }
        (DataType::Boolean, Value::Boolean(on)) => (Value::Boolean(*on), Some(f64::from(*on))),
        (DataType::Boolean, value) => match value.as_f64() {
            Some(number) if number == 0.0 || number == 1.0 => {
                (Value::Boolean(number == 1.0), Some(number))
            }
            _ => return Err(mismatch()),
        },
        (DataType::String, Value::String(text)) => (Value::String(text.clone()), None),
        _ => return Err(mismatch()),
    };
    Ok(Cleansed {
        value,
        number,
        flags,
    })
}

/// Refuses a sample whose time is too far from when it was received.
fn check_time(sample: &Sample, limits: &TimeConfig) -> Result<(), RejectReason> {
    let ahead_us = sample.time.micros_since(sample.received);
    if ahead_us > limits.max_future_ms as i64 * 1_000 {
        return Err(RejectReason::FromTheFuture {
            tag: sample.tag,
            time: sample.time,
            received: sample.received,
            ahead_ms: ahead_us / 1_000,
            limit_ms: limits.max_future_ms,
        });
    }
    if -ahead_us > limits.max_age_ms as i64 * 1_000 {
        return Err(RejectReason::TooOld {
            tag: sample.tag,
            time: sample.time,
            received: sample.received,
            age_ms: -ahead_us / 1_000,
            limit_ms: limits.max_age_ms,
        });
    }
    Ok(())
}

/// A value that is not a finite number: a gap when the source says so,
/// an error when it claims the value is good.
fn gap(sample: &Sample, number: f64, flags: DataQualityFlags) -> Result<Cleansed, RejectReason> {
    if sample.quality.is_good() {
        return Err(RejectReason::NotFinite {
            tag: sample.tag,
            value: number,
        });
    }
    Ok(Cleansed {
        value: Value::MISSING,
        number: None,
        flags,
    })
}

/// A float tag's number in its catalog unit.
#[inline]
fn convert(number: f64, plan: &TagPlan, flags: &mut DataQualityFlags) -> (Value, Option<f64>) {
    let number = match plan.conversion {
        None => number,
        Some(conversion) => {
            *flags |= DataQualityFlags::UNIT_CONVERTED;
            conversion.apply(number)
        }
    };
    (Value::Float(number), Some(number))
}

#[cfg(test)]
mod tests {
    use flowline_catalog::Limits;
    use flowline_core::{Quality, TagId, Timestamp, Unit};

    use super::*;
    use crate::plan::tests::plan;

    fn sample(value: Value, quality: Quality) -> Sample {
        Sample::new(TagId(1), Timestamp::from_seconds(1_000), value).with_quality(quality)
    }

    fn float_plan() -> TagPlan {
        plan(Limits::new(0.0, 350.0))
    }

    fn run(sample: &Sample, plan: &TagPlan) -> Result<Cleansed, RejectReason> {
        cleanse(sample, plan, &TimeConfig::default())
    }

    #[test]
    fn a_missing_value_with_a_bad_quality_is_kept_as_a_gap() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let cleansed = run(
                &sample(Value::Float(value), Quality::BAD_NO_COMMUNICATION),
                &float_plan(),
            )
            .unwrap();
            assert!(cleansed.value.is_missing(), "{value}");
            assert_eq!(cleansed.number, None);
            assert_eq!(cleansed.flags, DataQualityFlags::SOURCE_BAD);
        }
    }

    #[test]
    fn a_missing_value_with_a_good_quality_is_refused() {
        let error = run(
            &sample(Value::Float(f64::NAN), Quality::GOOD),
            &float_plan(),
        )
        .unwrap_err();
        assert_eq!(error.label(), "not-finite");
        let error = run(
            &sample(Value::Float(f64::INFINITY), Quality::GOOD_LOCAL_OVERRIDE),
            &float_plan(),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("value inf is not finite"),
            "{error}"
        );
    }

    #[test]
    fn values_convert_from_the_source_unit_and_say_so() {
        let mut plan = float_plan();
        plan.conversion = Some(Unit::Psi.conversion_to(Unit::Bar).unwrap());
        let cleansed = run(&sample(Value::Float(145.037_737_73), Quality::GOOD), &plan).unwrap();
        let number = cleansed.number.unwrap();
        assert!((number - 10.0).abs() < 1e-6, "{number}");
        assert_eq!(cleansed.value, Value::Float(number));
        assert_eq!(cleansed.flags, DataQualityFlags::UNIT_CONVERTED);
    }

    #[test]
    fn values_of_another_type_convert_only_when_nothing_is_lost() {
        let mut boolean = float_plan();
        boolean.data_type = DataType::Boolean;
        let on = run(&sample(Value::Integer(1), Quality::GOOD), &boolean).unwrap();
        assert_eq!(on.value, Value::Boolean(true));
        let error = run(&sample(Value::Float(0.5), Quality::GOOD), &boolean).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tag 1: expected a boolean value, found float `0.5`"
        );

        let mut integer = float_plan();
        integer.data_type = DataType::Integer;
        let whole = run(&sample(Value::Float(42.0), Quality::GOOD), &integer).unwrap();
        assert_eq!(whole.value, Value::Integer(42));
        assert!(run(&sample(Value::Float(42.5), Quality::GOOD), &integer).is_err());

        let count = run(&sample(Value::Integer(7), Quality::GOOD), &float_plan()).unwrap();
        assert_eq!(count.value, Value::Float(7.0));
        assert!(
            run(
                &sample(Value::String("on".into()), Quality::GOOD),
                &float_plan()
            )
            .is_err()
        );
    }

    #[test]
    fn a_source_unit_that_cannot_convert_refuses_the_sample_with_the_reason() {
        let mut plan = float_plan();
        plan.unit_problem = Some("`degC`: cannot convert".to_owned());
        let error = run(&sample(Value::Float(1.0), Quality::GOOD), &plan).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tag 1: attribute `source_unit` `degC`: cannot convert"
        );
    }

    #[test]
    fn times_far_from_the_receive_time_are_refused_both_ways() {
        let limits = TimeConfig::default();
        let mut ahead = sample(Value::Float(1.0), Quality::GOOD);
        ahead.received = Timestamp::from_seconds(1_000 - 301);
        let error = cleanse(&ahead, &float_plan(), &limits).unwrap_err();
        assert_eq!(error.label(), "from-the-future");
        ahead.received = Timestamp::from_seconds(1_000 - 299);
        assert!(cleanse(&ahead, &float_plan(), &limits).is_ok());

        let mut old = sample(Value::Float(1.0), Quality::GOOD);
        old.received = Timestamp::from_seconds(1_000 + 8 * 86_400);
        let error = cleanse(&old, &float_plan(), &limits).unwrap_err();
        assert_eq!(error.label(), "too-old");
        assert!(error.to_string().contains("691200000 ms older"), "{error}");
    }

    #[test]
    fn an_uncertain_value_is_kept_and_flagged() {
        let cleansed = run(
            &sample(Value::Float(3.0), Quality::UNCERTAIN_SUBSTITUTE_VALUE),
            &float_plan(),
        )
        .unwrap();
        assert_eq!(cleansed.number, Some(3.0));
        assert_eq!(cleansed.flags, DataQualityFlags::SOURCE_BAD);
    }
}
