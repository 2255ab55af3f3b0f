//! Producers of the embedded log: plain sends, and transactions that
//! gather records and offsets in memory until they commit.

use crate::api::{CommitOffset, Committed, Consumer, Producer, TransactionalProducer};
use crate::error::BusError;
use crate::record::RecordBatch;
use crate::topic::{Topic, TopicPartition};

use super::format::record_len;
use super::{EmbeddedBus, EmbeddedConsumer, events};

/// Sends records outside transactions; see [`Producer`]. Returns from a
/// send once it is synced under `fsync = "always"`, once written under
/// `interval`.
#[derive(Debug, Clone)]
pub struct EmbeddedProducer {
    /// The log.
    bus: EmbeddedBus,
}

impl EmbeddedProducer {
    /// A producer for `bus`.
    pub(crate) fn new(bus: EmbeddedBus) -> Self {
        EmbeddedProducer { bus }
    }
}

impl Producer for EmbeddedProducer {
    async fn send(&self, topic: Topic, records: &RecordBatch) -> Result<(), BusError> {
        if records.is_empty() {
            return Ok(());
        }
        let ticket = self.bus.inner.writer().send(topic, records)?;
        self.bus.inner.settle(ticket).await
    }
}

/// Sends records and consumer offsets in transactions; see
/// [`TransactionalProducer`]. An open transaction lives in memory, at
/// most `max_transaction_bytes` of records, and reaches the disk only
/// when it commits.
#[derive(Debug)]
pub struct EmbeddedTransactionalProducer {
    /// The log.
    bus: EmbeddedBus,
    /// Its name, written with each commit.
    transactional_id: String,
    /// The open transaction.
    open: Option<Pending>,
}

/// What an open transaction holds.
#[derive(Debug, Default)]
struct Pending {
    /// Its records, one batch per topic.
    batches: Vec<(Topic, RecordBatch)>,
    /// Its consumer offsets.
    offsets: Vec<(String, TopicPartition, Committed)>,
    /// Bytes its records take on disk.
    bytes: u64,
}

impl EmbeddedTransactionalProducer {
    /// A transactional producer named `transactional_id` for `bus`.
    pub(crate) fn new(bus: EmbeddedBus, transactional_id: &str) -> Self {
        EmbeddedTransactionalProducer {
            bus,
            transactional_id: transactional_id.to_owned(),
            open: None,
        }
    }

    /// The open transaction, or the error for calling `what` without one.
    fn open(&mut self, what: &'static str) -> Result<&mut Pending, BusError> {
        self.open.as_mut().ok_or(BusError::TransactionState(what))
    }
}

impl TransactionalProducer for EmbeddedTransactionalProducer {
    type Consumer = EmbeddedConsumer;

    fn begin(&mut self) -> Result<(), BusError> {
        if self.open.is_some() {
            return Err(BusError::TransactionState(
                "begin while a transaction is open: commit or abort it first",
            ));
        }
        self.open = Some(Pending::default());
        Ok(())
    }

    async fn send(&mut self, topic: Topic, records: &RecordBatch) -> Result<(), BusError> {
        let partitions = self.bus.inner.layout.partitions(topic);
        let limit = self.bus.inner.config.max_transaction_bytes;
        let pending = self.open("send outside a transaction: call begin first")?;
        let mut bytes = 0;
        for &(record, partition) in records.packed().0 {
            if let Some(partition) = partition.filter(|&p| p >= partitions) {
                return Err(BusError::UnknownPartition {
                    topic: topic.base_name().to_owned(),
                    partition,
                    partitions,
                });
            }
            bytes += record_len(record);
        }
        if pending.bytes + bytes > limit {
            return Err(BusError::TransactionTooLarge {
                bytes: pending.bytes + bytes,
                limit,
            });
        }
        pending.bytes += bytes;
        match pending.batches.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, batch)) => batch.extend_from(records),
            None => pending.batches.push((topic, records.clone())),
        }
        Ok(())
    }

    async fn send_offsets(
        &mut self,
        consumer: &EmbeddedConsumer,
        offsets: &[CommitOffset],
    ) -> Result<(), BusError> {
        for offset in offsets {
            self.bus.inner.partition(offset.partition)?;
        }
        let group = consumer.group().to_owned();
        let pending = self.open("send_offsets outside a transaction: call begin first")?;
        pending.offsets.extend(offsets.iter().map(|offset| {
            let committed = Committed {
                offset: offset.offset,
                metadata: offset.metadata.clone(),
            };
            (group.clone(), offset.partition, committed)
        }));
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        let pending = self
            .open
            .take()
            .ok_or(BusError::TransactionState("commit without a transaction"))?;
        let records: usize = pending.batches.iter().map(|(_, batch)| batch.len()).sum();
        let ticket = self.bus.inner.writer().commit(
            &self.transactional_id,
            &pending.batches,
            &pending.offsets,
        )?;
        self.bus.inner.settle(ticket).await?;
        events::committed(&self.transactional_id, records, pending.offsets.len());
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), BusError> {
        let pending = self
            .open
            .take()
            .ok_or(BusError::TransactionState("abort without a transaction"))?;
        let records: usize = pending.batches.iter().map(|(_, batch)| batch.len()).sum();
        events::aborted(&self.transactional_id, records);
        Ok(())
    }
}
