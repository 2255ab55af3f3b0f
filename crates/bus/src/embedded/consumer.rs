//! Consumers of the embedded log: one process owns every partition of a
//! group, but partitions are still assigned explicitly, so code written
//! against [`Consumer`] scales out over Kafka unchanged.
//!
//! LIMITATION: the embedded log does not share a group's partitions among
//! its consumers: each consumer that subscribes gets them all. One
//! process runs one consumer per group.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::api::{CommitOffset, Committed, Consumer, OffsetReset, Polled};
use crate::error::BusError;
use crate::record::ConsumedBatch;
use crate::throttle::Throttle;
use crate::topic::{Topic, TopicPartition};

use super::partition::Cursor;
use super::{EmbeddedBus, events};

/// Shortest time between two reports of a consumer's lag.
const LAG_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Reads committed records in a consumer group; see [`Consumer`].
#[derive(Debug)]
pub struct EmbeddedConsumer {
    /// The log.
    bus: EmbeddedBus,
    /// The group.
    group: String,
    /// Where to start without a committed offset, and what to do out of
    /// range.
    reset: OffsetReset,
    /// Assigned partitions and this consumer's place in each.
    assigned: Vec<(TopicPartition, Cursor)>,
    /// An assignment to report from the next poll.
    to_report: Option<Vec<TopicPartition>>,
    /// The assigned partition the next poll reads first, so that a busy
    /// partition does not starve the others.
    next: usize,
    /// Changes whenever records become visible.
    published: watch::Receiver<u64>,
    /// When lag was last reported.
    lag_reported: Throttle,
}

impl EmbeddedConsumer {
    /// A consumer in `group` of `bus`, with no partitions yet.
    pub(crate) fn new(bus: EmbeddedBus, group: &str, reset: OffsetReset) -> Self {
        let published = bus.inner.published.subscribe();
        EmbeddedConsumer {
            bus,
            group: group.to_owned(),
            reset,
            assigned: Vec::new(),
            to_report: None,
            next: 0,
            published,
            lag_reported: Throttle::default(),
        }
    }

    /// Takes `partitions`, each at the group's committed offset or where
    /// the reset policy says.
    fn take(&mut self, partitions: &[TopicPartition]) -> Result<(), BusError> {
        let mut assigned = Vec::with_capacity(partitions.len());
        for &tp in partitions {
            let partition = self.bus.inner.partition(tp)?;
            let committed = self.bus.inner.writer().committed(&self.group, tp);
            let start = match (committed, self.reset) {
                (Some(committed), _) => committed.offset,
                (None, OffsetReset::Earliest) => partition.log_start(),
                (None, OffsetReset::Latest) => partition.visible_end(),
                (None, OffsetReset::Error) => {
                    return Err(BusError::NoCommittedOffset {
                        group: self.group.clone(),
                        partition: tp,
                    });
                }
            };
            assigned.push((tp, Cursor::at(start)));
        }
        assigned.sort_by_key(|(tp, _)| *tp);
        assigned.dedup_by_key(|(tp, _)| *tp);
        self.assigned = assigned;
        self.next = 0;
        Ok(())
    }

    /// Reads at most `max` records from the assigned partitions into
    /// `batch`, starting with the partition after the one that filled the
    /// last poll.
    fn read(&mut self, batch: &mut ConsumedBatch, max: usize) -> Result<usize, BusError> {
        let count_partitions = self.assigned.len();
        let mut count = 0;
        for step in 0..count_partitions {
            let at = (self.next + step) % count_partitions;
            let (tp, cursor) = &mut self.assigned[at];
            let partition = self.bus.inner.partition(*tp)?;
            let (start, end) = (partition.log_start(), partition.visible_end());
            if cursor.next < start || cursor.next > end {
                let to = match self.reset {
                    OffsetReset::Earliest => start,
                    OffsetReset::Latest => end,
                    OffsetReset::Error => {
                        return Err(BusError::OffsetOutOfRange {
                            partition: *tp,
                            offset: cursor.next,
                            earliest: start,
                            latest: end,
                        });
                    }
                };
                events::offset_reset(&self.group, *tp, cursor.next, to, start, end);
                *cursor = Cursor::at(to);
            }
            count += partition.read(cursor, end, max - count, batch)?;
            if count == max {
                self.next = at + 1;
                return Ok(count);
            }
        }
        self.next = self.next.wrapping_add(1);
        Ok(count)
    }

    /// Reports the lag of every assigned partition, at most once per
    /// [`LAG_REPORT_INTERVAL`].
    fn report_lag(&mut self) {
        if !self.lag_reported.due(LAG_REPORT_INTERVAL) {
            return;
        }
        for (tp, lag) in self.lag() {
            events::lag(&self.group, tp, lag);
        }
    }

    /// The assigned cursor of `partition`.
    fn cursor(&mut self, partition: TopicPartition) -> Result<&mut Cursor, BusError> {
        self.assigned
            .iter_mut()
            .find(|(tp, _)| *tp == partition)
            .map(|(_, cursor)| cursor)
            .ok_or(BusError::NotAssigned { partition })
    }
}

impl Consumer for EmbeddedConsumer {
    fn group(&self) -> &str {
        &self.group
    }

    fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BusError> {
        let partitions: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|&topic| {
                (0..self.bus.inner.layout.partitions(topic))
                    .map(move |partition| TopicPartition::new(topic, partition))
            })
            .collect();
        self.take(&partitions)?;
        self.to_report = Some(self.assignment());
        Ok(())
    }

    fn assign(&mut self, partitions: &[TopicPartition]) -> Result<(), BusError> {
        self.take(partitions)?;
        self.to_report = None;
        Ok(())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|(tp, _)| *tp).collect()
    }

    async fn poll(
        &mut self,
        batch: &mut ConsumedBatch,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Polled, BusError> {
        batch.clear();
        if let Some(assigned) = self.to_report.take() {
            return Ok(Polled::Assigned(assigned));
        }
        let deadline = Instant::now() + timeout;
        loop {
            // Marked seen before reading, so that records published while
            // this poll reads wake the wait below.
            self.published.borrow_and_update();
            let count = self.read(batch, max_records)?;
            self.report_lag();
            if count > 0 || max_records == 0 {
                return Ok(Polled::Records(count));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.published.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(BusError::Closed),
                Err(_) => return Ok(Polled::Records(0)),
            }
        }
    }

    fn seek(&mut self, partition: TopicPartition, offset: u64) -> Result<(), BusError> {
        *self.cursor(partition)? = Cursor::at(offset);
        Ok(())
    }

    fn position(&self, partition: TopicPartition) -> Option<u64> {
        self.assigned
            .iter()
            .find(|(tp, _)| *tp == partition)
            .map(|(_, cursor)| cursor.next)
    }

    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), BusError> {
        let mut entries = Vec::with_capacity(offsets.len());
        for offset in offsets {
            self.bus.inner.partition(offset.partition)?;
            let committed = Committed {
                offset: offset.offset,
                metadata: offset.metadata.clone(),
            };
            entries.push((self.group.clone(), offset.partition, committed));
        }
        let ticket = self.bus.inner.writer().commit_offsets(&entries)?;
        self.bus.inner.settle(ticket).await
    }

    async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<Committed>>, BusError> {
        for &partition in partitions {
            self.bus.inner.partition(partition)?;
        }
        let writer = self.bus.inner.writer();
        Ok(partitions
            .iter()
            .map(|&partition| writer.committed(&self.group, partition))
            .collect())
    }

    fn lag(&self) -> Vec<(TopicPartition, u64)> {
        self.assigned
            .iter()
            .map(|(tp, cursor)| {
                let end = self
                    .bus
                    .inner
                    .partition(*tp)
                    .map_or(cursor.next, |partition| partition.visible_end());
                (*tp, end.saturating_sub(cursor.next))
            })
            .collect()
    }
}
