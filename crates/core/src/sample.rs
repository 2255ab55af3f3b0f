//! Samples: the unit of data that flows through Flowline.

use serde::{Deserialize, Serialize};

use crate::{DataQualityFlags, Quality, TagId, Timestamp, Value};

/// One reading of one tag: what the gateway reads from a device, what the
/// processor cleans and flags, and what the historian stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The tag read, by its stable catalog id.
    pub tag: TagId,
    /// When the value was measured: the source's timestamp when the device
    /// gives one, else when the gateway received it. This is event time.
    pub time: Timestamp,
    /// When the gateway received the value. `received - time` is the
    /// device-to-gateway delay.
    pub received: Timestamp,
    /// The value, in the tag's unit once the processor has converted it;
    /// [`Value::MISSING`] when the source had none (the quality says why).
    pub value: Value,
    /// The source's verdict on the value, kept bit for bit.
    pub quality: Quality,
    /// What Flowline's own checks found or did.
    pub flags: DataQualityFlags,
}

impl Sample {
    /// A good-quality sample with no data-quality flags, received when it
    /// was measured.
    pub fn new(tag: TagId, time: Timestamp, value: Value) -> Self {
        Sample {
            tag,
            time,
            received: time,
            value,
            quality: Quality::GOOD,
            flags: DataQualityFlags::empty(),
        }
    }

    /// This sample with the source quality `quality`.
    #[must_use]
    pub fn with_quality(mut self, quality: Quality) -> Self {
        self.quality = quality;
        self
    }

    /// Whether the value may be used in aggregates and alarms: the source
    /// did not call it bad.
    pub fn is_usable(&self) -> bool {
        !self.quality.is_bad()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_survives_json_unchanged() {
        let mut sample = Sample::new(
            TagId(17),
            Timestamp::from_micros(1_733_253_469_123_456),
            Value::Float(42.5),
        )
        .with_quality(Quality::UNCERTAIN_LAST_USABLE_VALUE);
        sample.flags = DataQualityFlags::STUCK;
        let json = serde_json::to_string(&sample).unwrap();
        assert!(
            json.contains(r#""quality":"UncertainLastUsableValue""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), sample);
    }

    #[test]
    fn a_sample_survives_a_binary_format_unchanged() {
        let mut sample = Sample::new(TagId(3), Timestamp::from_micros(-5), Value::Integer(1))
            .with_quality(Quality::BAD_SENSOR_FAILURE);
        sample.received = Timestamp::from_micros(7);
        sample.flags = DataQualityFlags::LATE | DataQualityFlags::GAP;
        for value in [
            Value::Integer(1),
            Value::Float(1.0),
            Value::Boolean(true),
            Value::String("off".into()),
        ] {
            sample.value = value;
            let bytes = postcard::to_allocvec(&sample).unwrap();
            assert_eq!(postcard::from_bytes::<Sample>(&bytes).unwrap(), sample);
        }
    }

    #[test]
    fn bad_samples_are_not_usable() {
        let sample = Sample::new(TagId(1), Timestamp::now(), Value::Float(1.0));
        assert!(sample.is_usable());
        assert!(!sample.with_quality(Quality::BAD_SENSOR_FAILURE).is_usable());
    }
}
