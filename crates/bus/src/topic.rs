//! The bus's topics, and the names they have on a broker or on disk.
//!
//! Flowline has five topics, fixed in code so that a typo is a compile
//! error rather than a new topic. Their names carry a configurable prefix
//! (`flowline.` by default) so that several installations can share one
//! Kafka cluster.

use std::fmt;

/// One of Flowline's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Samples as the gateway read them from the field.
    RawSensorData,
    /// Samples the processor cleaned, validated, enriched and flagged.
    ProcessedData,
    /// Events that may need a person: pattern matches, thresholds.
    Alerts,
    /// Signed commands on their way to the gateway.
    ControlCommands,
    /// Records that could not be decoded, validated or delivered, with
    /// the reason and their origin.
    Dlq,
}

impl Topic {
    /// Every topic, in a fixed order (the order of [`Topic::index`]).
    pub const ALL: [Topic; 5] = [
        Topic::RawSensorData,
        Topic::ProcessedData,
        Topic::Alerts,
        Topic::ControlCommands,
        Topic::Dlq,
    ];

    /// The topic's name without prefix, such as `raw-sensor-data`.
    pub const fn base_name(self) -> &'static str {
        match self {
            Topic::RawSensorData => "raw-sensor-data",
            Topic::ProcessedData => "processed-data",
            Topic::Alerts => "alerts",
            Topic::ControlCommands => "control-commands",
            Topic::Dlq => "dlq",
        }
    }

    /// The topic whose name without prefix is `name`.
    pub fn from_base_name(name: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|topic| topic.base_name() == name)
    }

    /// The topic's place in [`Topic::ALL`], for tables indexed by topic.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The topic's full name under `prefix`, as a broker knows it.
    pub fn name_with(self, prefix: &str) -> String {
        format!("{prefix}{}", self.base_name())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.base_name())
    }
}

/// A partition of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Topic,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub const fn new(topic: Topic, partition: u32) -> Self {
        TopicPartition { topic, partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_have_their_documented_names_and_round_trip() {
        let names: Vec<&str> = Topic::ALL.iter().map(|topic| topic.base_name()).collect();
        assert_eq!(
            names,
            [
                "raw-sensor-data",
                "processed-data",
                "alerts",
                "control-commands",
                "dlq"
            ]
        );
        for (index, topic) in Topic::ALL.into_iter().enumerate() {
            assert_eq!(topic.index(), index);
            assert_eq!(Topic::from_base_name(topic.base_name()), Some(topic));
        }
        assert_eq!(Topic::from_base_name("raw_sensor_data"), None);
        assert_eq!(
            Topic::Alerts.name_with("flowline."),
            "flowline.alerts".to_owned()
        );
        assert_eq!(TopicPartition::new(Topic::Dlq, 3).to_string(), "dlq-3");
    }
}
