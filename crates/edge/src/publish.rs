//! Where the gateway's samples go.
//!
//! Connectors publish through the [`SamplePublisher`] trait and never know
//! what is behind it: a channel inside the process today, the event bus's
//! `raw-sensor-data` topic when it exists, and store-and-forward around
//! either. Replacing one needs no change to the connectors.

use std::future::Future;

use flowline_core::Sample;
use tokio::sync::mpsc;

/// Why a batch could not be published. The batch was not accepted: the
/// caller still owns it and may retry or spool it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot publish samples: {0}")]
pub struct PublishError(pub String);

/// Accepts batches of samples from connectors.
///
/// `publish` returns `Ok` only once the batch is accepted for good: after
/// that, losing it is the publisher's fault, not the caller's. It waits
/// (applies backpressure) rather than buffer without bound.
pub trait SamplePublisher: Send + Sync + 'static {
    /// Publishes one batch, in order.
    fn publish(
        &self,
        samples: Vec<Sample>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes into a bounded in-process channel; the receiver's owner
/// consumes the batches. Waits when the channel is full; fails when the
/// receiver is gone.
#[derive(Clone, Debug)]
pub struct ChannelPublisher {
    sender: mpsc::Sender<Vec<Sample>>,
}

impl ChannelPublisher {
    /// A publisher and the receiver of its batches, holding at most
    /// `capacity` batches in flight.
    pub fn new(capacity: usize) -> (ChannelPublisher, mpsc::Receiver<Vec<Sample>>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (ChannelPublisher { sender }, receiver)
    }
}

impl SamplePublisher for ChannelPublisher {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        self.sender
            .send(samples)
            .await
            .map_err(|_| PublishError("the receiving end has stopped".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::{TagId, Timestamp, Value};

    use super::*;

    #[tokio::test]
    async fn batches_arrive_in_order_and_a_closed_channel_is_an_error() {
        let (publisher, mut receiver) = ChannelPublisher::new(4);
        for n in 0..3 {
            let sample = Sample::new(
                TagId(n),
                Timestamp::from_seconds(i64::from(n)),
                Value::Integer(1),
            );
            publisher.publish(vec![sample]).await.unwrap();
        }
        for n in 0..3 {
            assert_eq!(receiver.recv().await.unwrap()[0].tag, TagId(n));
        }
        drop(receiver);
        let error = publisher.publish(Vec::new()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot publish samples: the receiving end has stopped"
        );
    }
}
