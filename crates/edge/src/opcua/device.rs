//! One OPC UA server as the gateway reads it: its task, its points, writes.
//!
//! Each server runs as one task that owns its session ([`spawn`]). After
//! connecting it resolves the points' node ids, then either subscribes
//! (one monitored item per point, the tag's catalog deadband as an absolute
//! deadband filter) or, in `poll` mode or when the server refuses
//! subscriptions, reads every point at each sampling interval. Values
//! become samples published through the [`SamplePublisher`]. When the
//! connection is lost, every point gets a sample without a value whose
//! quality says why, at once and again after each failed attempt to
//! reconnect, which are spaced by a doubling backoff; once back, the
//! subscription is made anew. Between samples the task carries out writes,
//! each followed by a read-back ([`OpcUaHandle::write`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flowline_catalog::{Protocol, RowError, Snapshot};
use flowline_core::{Quality, Sample, TagId, Timestamp, Value};
use opcua::client::{MonitoredItemMap, OnSubscriptionNotificationCore};
use opcua::types::{
    DataChangeFilter, DataChangeNotification, DataChangeTrigger, DeadbandType, ExtensionObject,
    MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NodeId, NotificationMessage,
    ReadValueId, StatusChangeNotification, StatusCode, TimestampsToReturn,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::address::NodeAddress;
use super::config::{Acquisition, Deadband, OpcUaEndpoint};
use super::convert;
use super::events::EndpointStatus;
use super::session::{
    KEEP_ALIVE_COUNT, MAX_NODES_PER_REQUEST, OpcUaConnector, OpcUaSession, Status, WriteFailure,
    value_of,
};
use crate::SamplePublisher;

/// The tag attribute that names the OPC UA endpoint serving a tag. It may
/// be left out when only one endpoint is configured.
pub const ENDPOINT_ATTRIBUTE: &str = "opcua_endpoint";

/// A tag the gateway reads over OPC UA.
#[derive(Clone, Debug, PartialEq)]
pub struct OpcUaPoint {
    /// The tag the samples are for.
    pub tag: TagId,
    /// The node holding its value.
    pub node: NodeAddress,
    /// The tag's catalog deadband, in its unit; `None` reports every
    /// change. Used as an absolute deadband filter in `subscribe` mode.
    pub deadband: Option<f64>,
}

/// An OPC UA server and what to read on it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpcUaDevice {
    /// How to reach it.
    pub endpoint: OpcUaEndpoint,
    /// What to read, in any order.
    pub points: Vec<OpcUaPoint>,
}

/// Every catalog tag with an OPC UA source, as one device per endpoint that
/// serves at least one tag. A tag's endpoint is named by its
/// [`ENDPOINT_ATTRIBUTE`], or is the only endpoint configured. Reports
/// every tag that cannot be read: a malformed node id, an unknown endpoint.
pub fn plan_devices(
    snapshot: &Snapshot,
    endpoints: &[OpcUaEndpoint],
) -> Result<Vec<OpcUaDevice>, Vec<RowError>> {
    let names: Vec<&str> = endpoints
        .iter()
        .map(|endpoint| endpoint.name.as_str())
        .collect();
    let mut devices: Vec<OpcUaDevice> = endpoints
        .iter()
        .map(|endpoint| OpcUaDevice {
            endpoint: endpoint.clone(),
            points: Vec::new(),
        })
        .collect();
    let mut problems = Vec::new();
    for entry in snapshot.tags() {
        let spec = &entry.tag.spec;
        let Some(source) = spec
            .source
            .as_ref()
            .filter(|source| source.protocol == Protocol::OpcUa)
        else {
            continue;
        };
        let placed = source
            .address
            .parse::<NodeAddress>()
            .map_err(|error| error.to_string())
            .and_then(|node| {
                endpoint_of(spec.attributes.get(ENDPOINT_ATTRIBUTE), &names)
                    .map(|index| (index, node))
            });
        match placed {
            Ok((index, node)) => devices[index].points.push(OpcUaPoint {
                tag: entry.tag.id,
                node,
                deadband: spec.deadband.filter(|band| *band > 0.0),
            }),
            Err(message) => problems.push(RowError {
                line: None,
                path: Some(spec.path.to_string()),
                message,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    devices.retain(|device| !device.points.is_empty());
    Ok(devices)
}

/// The index, in `names`, of the endpoint a tag names (or of the only one).
fn endpoint_of(named: Option<&String>, names: &[&str]) -> Result<usize, String> {
    let configured = if names.is_empty() {
        "none is configured in gateway.opcua".to_owned()
    } else {
        format!("configured: {}", names.join(", "))
    };
    match named {
        Some(name) => names.iter().position(|known| known == name).ok_or_else(|| {
            format!("{ENDPOINT_ATTRIBUTE} `{name}` is not an OPC UA endpoint; {configured}")
        }),
        None if names.len() == 1 => Ok(0),
        None => Err(format!(
            "expected attribute {ENDPOINT_ATTRIBUTE} to name the OPC UA endpoint; {configured}"
        )),
    }
}

struct WriteRequest {
    node: NodeAddress,
    value: Value,
    reply: oneshot::Sender<Result<Value, WriteFailure>>,
}

/// A handle to write through a running device task.
#[derive(Clone, Debug)]
pub struct OpcUaHandle {
    endpoint: Arc<str>,
    writes: mpsc::Sender<WriteRequest>,
}

impl OpcUaHandle {
    /// Writes `value` to `node`, then reads it back and returns what the
    /// server now holds there. Waits for the task to finish what it is
    /// doing (a read, a publish); fails at once while the server is down.
    pub async fn write(&self, node: NodeAddress, value: Value) -> Result<Value, WriteFailure> {
        let stopped = || WriteFailure::Stopped(self.endpoint.to_string());
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteRequest { node, value, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Writes waiting for the device task at most.
const WRITE_QUEUE: usize = 64;
/// Batches of notifications waiting for the device task at most; beyond,
/// they are dropped and counted (the stack's callback cannot wait).
const NOTICE_QUEUE: usize = 256;
/// First wait before connecting again after a failure.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Subscription lifetime count: the server ends a subscription nobody
/// asked about for this many publishing intervals (three keep-alives, the
/// least OPC UA allows).
const LIFETIME_COUNT: u32 = 3 * KEEP_ALIVE_COUNT;
/// Most values a monitored item queues on the server between publishes.
const MAX_QUEUE_SIZE: u32 = 100;

/// Starts reading `device` until `shutdown`, publishing to `publisher`.
pub fn spawn<P: SamplePublisher>(
    device: OpcUaDevice,
    publisher: Arc<P>,
    shutdown: CancellationToken,
) -> (OpcUaHandle, JoinHandle<()>) {
    let (writes, requests) = mpsc::channel(WRITE_QUEUE);
    let handle = OpcUaHandle {
        endpoint: Arc::from(device.endpoint.name.as_str()),
        writes,
    };
    let status = EndpointStatus::new(&device.endpoint.name, &device.endpoint.url);
    let task = Task {
        connector: OpcUaConnector::new(device.endpoint.clone()),
        device,
        publisher,
        writes: requests,
        shutdown,
        status,
        backoff: RECONNECT_MIN,
    };
    (handle, tokio::spawn(task.run()))
}

/// The state of one device task.
struct Task<P> {
    device: OpcUaDevice,
    /// Opens the device's sessions, reconnecting directly after the
    /// first.
    connector: OpcUaConnector,
    publisher: Arc<P>,
    writes: mpsc::Receiver<WriteRequest>,
    shutdown: CancellationToken,
    status: EndpointStatus,
    backoff: Duration,
}

/// Why serving an open session ended.
enum Ended {
    Shutdown,
    Lost(String),
}

/// What woke the task while serving a session.
enum Event {
    Write(WriteRequest),
    Notice(Option<Notice>),
    PollDue,
}

/// What the subscription callback hands to the task.
enum Notice {
    Samples(Vec<Sample>),
    Status(Status),
}

/// Where values come from while a session is open.
enum Source {
    /// Notifications from a subscription.
    Subscription {
        notices: mpsc::Receiver<Notice>,
        dropped: Arc<AtomicU64>,
    },
    /// Reads at each interval.
    Poll(Poller),
}

/// Why no subscription was made.
enum SubscribeError {
    /// The server does not do subscriptions (or not these); poll instead.
    Refused(Status),
    /// The connection failed meanwhile.
    Broken(Status),
}

impl<P: SamplePublisher> Task<P> {
    async fn run(mut self) {
        loop {
            let started = Instant::now();
            let attempt = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                attempt = self.connector.connect() => attempt,
            };
            match attempt {
                Ok(session) => {
                    self.status.connected(started.elapsed());
                    self.backoff = RECONNECT_MIN;
                    let ended = self.serve(&session).await;
                    if let Ended::Lost(reason) = &ended {
                        self.down(reason).await;
                    }
                    session.close().await;
                    if matches!(ended, Ended::Shutdown) {
                        break;
                    }
                }
                Err(error) => self.down(&error.to_string()).await,
            }
            if !self.wait(self.backoff).await {
                break;
            }
            let longest = Duration::from_millis(self.device.endpoint.reconnect_max_ms);
            self.backoff = (self.backoff * 2).min(longest);
        }
        self.status.stopped();
    }

    /// The server is down because of `reason`: every point gets a sample
    /// without a value.
    async fn down(&mut self, reason: &str) {
        let quality = self.status.failed(reason);
        let received = Timestamp::now();
        let samples = self
            .device
            .points
            .iter()
            .map(|point| convert::missing(point.tag, quality, received))
            .collect();
        self.publish(samples).await;
    }

    /// Waits `pause` before the next connection attempt, refusing writes
    /// meanwhile; false when the task should stop.
    async fn wait(&mut self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(until) => return true,
                Some(request) = self.writes.recv() => {
                    let failure = WriteFailure::NotConnected {
                        endpoint: self.device.endpoint.name.clone(),
                        node: request.node.to_string(),
                        reason: self.status.down_reason(),
                    };
                    self.status.wrote(&request.node, Err(failure.to_string()));
                    // The caller may have stopped waiting; nothing to do then.
                    let _ = request.reply.send(Err(failure));
                }
            }
        }
    }

    /// Reads the device over `session` until the connection is lost or
    /// the task is told to stop.
    async fn serve(&mut self, session: &OpcUaSession) -> Ended {
        let nodes = self.resolve(session);
        let interval = Duration::from_millis(self.device.endpoint.sampling_interval_ms);
        let mut source = match self.device.endpoint.acquisition {
            Acquisition::Poll => Source::Poll(Poller::new(&self.device.points, nodes, interval)),
            Acquisition::Subscribe => match self.subscribe(session, &nodes).await {
                Ok(source) => source,
                Err(SubscribeError::Refused(status)) => {
                    self.status.polling_instead(status, interval);
                    Source::Poll(Poller::new(&self.device.points, nodes, interval))
                }
                Err(SubscribeError::Broken(status)) => {
                    return Ended::Lost(format!("subscribing failed: {status}"));
                }
            },
        };

        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => return Ended::Shutdown,
                status = session.lost() => {
                    return Ended::Lost(format!("the connection was lost: {status}"));
                }
                Some(request) = self.writes.recv() => Event::Write(request),
                event = source.next() => event,
            };
            let outcome = match event {
                Event::Write(request) => self.write(session, request).await,
                Event::Notice(notice) => self.notice(notice, &source).await,
                Event::PollDue => match &mut source {
                    Source::Poll(poller) => self.poll(session, poller).await,
                    Source::Subscription { .. } => unreachable!("bug: polled a subscription"),
                },
            };
            if let Err(reason) = outcome {
                return Ended::Lost(reason);
            }
        }
    }

    /// Each point's node id on this server, or the quality of a point that
    /// has none here.
    fn resolve(&mut self, session: &OpcUaSession) -> Vec<Result<NodeId, Quality>> {
        let mut nodes = Vec::with_capacity(self.device.points.len());
        for point in &self.device.points {
            nodes.push(point.node.resolve(session.namespaces()).map_err(|reason| {
                self.status.point_refused(point.tag, &point.node, &reason);
                Quality::BAD_NODE_ID_UNKNOWN
            }));
        }
        nodes
    }

    /// Makes a subscription with one monitored item per resolved point,
    /// and publishes a bad sample for each point that has none.
    async fn subscribe(
        &mut self,
        session: &OpcUaSession,
        nodes: &[Result<NodeId, Quality>],
    ) -> Result<Source, SubscribeError> {
        let endpoint = &self.device.endpoint;
        let (sender, notices) = mpsc::channel(NOTICE_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let callback = Notifications {
            tags: self.device.points.iter().map(|point| point.tag).collect(),
            notices: sender,
            dropped: Arc::clone(&dropped),
        };
        let publishing = Duration::from_millis(endpoint.publishing_interval_ms);
        let id = session
            .stack()
            .create_subscription(
                publishing,
                LIFETIME_COUNT,
                KEEP_ALIVE_COUNT,
                0,
                0,
                true,
                callback,
            )
            .await
            .map_err(|error| refused_or_broken(error.status().into()))?;

        let mut refused: Vec<(usize, Quality)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| node.as_ref().err().map(|quality| (index, *quality)))
            .collect();
        let wanted: Vec<usize> = (0..nodes.len())
            .filter(|index| nodes[*index].is_ok())
            .collect();
        let mut retry = Vec::new();
        for (index, status) in self.monitor(session, id, nodes, &wanted, true).await? {
            let had_filter = self.deadband(index).is_some();
            if had_filter && refuses_filter(status) {
                self.status
                    .deadband_refused(self.device.points[index].tag, status);
                retry.push(index);
            } else {
                refused.push((index, status.quality()));
            }
        }
        for (index, status) in self.monitor(session, id, nodes, &retry, false).await? {
            refused.push((index, status.quality()));
        }
        for (index, quality) in &refused {
            let point = &self.device.points[*index];
            self.status
                .point_refused(point.tag, &point.node, &quality.to_string());
        }
        self.status
            .subscribed(nodes.len() - refused.len(), refused.len());

        let received = Timestamp::now();
        let samples = refused
            .iter()
            .map(|(index, quality)| {
                convert::missing(self.device.points[*index].tag, *quality, received)
            })
            .collect();
        self.publish(samples).await;
        Ok(Source::Subscription { notices, dropped })
    }

    /// Creates monitored items for the points at `indexes` on subscription
    /// `id`, with their deadband filters when `filtered`; returns the
    /// points the server refused, with its answer.
    async fn monitor(
        &self,
        session: &OpcUaSession,
        id: u32,
        nodes: &[Result<NodeId, Quality>],
        indexes: &[usize],
        filtered: bool,
    ) -> Result<Vec<(usize, Status)>, SubscribeError> {
        let endpoint = &self.device.endpoint;
        let sampling_ms = endpoint.sampling_interval_ms as f64;
        let queue = (endpoint.publishing_interval_ms / endpoint.sampling_interval_ms.max(1) + 1)
            .min(u64::from(MAX_QUEUE_SIZE)) as u32;
        let mut refused = Vec::new();
        for chunk in indexes.chunks(MAX_NODES_PER_REQUEST) {
            let items: Vec<MonitoredItemCreateRequest> = chunk
                .iter()
                .map(|index| {
                    let node = nodes[*index].as_ref().expect("bug: only resolved points");
                    let filter = match self.deadband(*index).filter(|_| filtered) {
                        Some(band) => ExtensionObject::from_message(DataChangeFilter {
                            trigger: DataChangeTrigger::StatusValue,
                            deadband_type: DeadbandType::Absolute as u32,
                            deadband_value: band,
                        }),
                        None => ExtensionObject::null(),
                    };
                    MonitoredItemCreateRequest {
                        item_to_monitor: value_of(node.clone()),
                        monitoring_mode: MonitoringMode::Reporting,
                        requested_parameters: MonitoringParameters {
                            // Handles count from 1: the stack treats 0 as
                            // "pick one for me".
                            client_handle: *index as u32 + 1,
                            sampling_interval: sampling_ms,
                            filter,
                            queue_size: queue,
                            discard_oldest: true,
                        },
                    }
                })
                .collect();
            let created = session
                .stack()
                .create_monitored_items(id, TimestampsToReturn::Source, items)
                .await;
            let created = match created {
                Ok(created) => created,
                Err(error) => {
                    let status = Status::from(error.status());
                    if !status.breaks_connection() {
                        // Best effort: the subscription is abandoned for polls.
                        let _ = session.stack().delete_subscription(id).await;
                    }
                    return Err(refused_or_broken(status));
                }
            };
            for (index, item) in chunk.iter().zip(&created) {
                if !item.result.status_code.is_good() {
                    refused.push((*index, item.result.status_code.into()));
                }
            }
        }
        Ok(refused)
    }

    /// The deadband filter of the point at `index`, if deadbands apply.
    fn deadband(&self, index: usize) -> Option<f64> {
        match self.device.endpoint.deadband {
            Deadband::Absolute => self.device.points[index].deadband,
            Deadband::None => None,
        }
    }

    /// Handles what the subscription sent; an error ends the session.
    async fn notice(&mut self, notice: Option<Notice>, source: &Source) -> Result<(), String> {
        if let Source::Subscription { dropped, .. } = source {
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                self.status.dropped(lost);
            }
        }
        match notice {
            Some(Notice::Samples(samples)) => {
                self.publish(samples).await;
                Ok(())
            }
            Some(Notice::Status(status)) if status.code().is_bad() => {
                Err(format!("the server ended the subscription: {status}"))
            }
            Some(Notice::Status(_)) => Ok(()),
            None => Err("the subscription stopped delivering".to_owned()),
        }
    }

    /// Reads every point once and publishes the samples; an error ends the
    /// session.
    async fn poll(&mut self, session: &OpcUaSession, poller: &mut Poller) -> Result<(), String> {
        let started = Instant::now();
        let answer = session.read_values(&poller.reads).await;
        let received = Timestamp::now();
        let mut samples = Vec::with_capacity(poller.tags.len() + poller.refused.len());
        match answer {
            Ok(values) => samples.extend(
                poller
                    .tags
                    .iter()
                    .zip(&values)
                    .map(|(tag, value)| convert::sample(*tag, value, received)),
            ),
            Err(status) if status.breaks_connection() => {
                return Err(format!("reading failed: {status}"));
            }
            Err(status) => samples.extend(
                poller
                    .tags
                    .iter()
                    .map(|tag| convert::missing(*tag, status.quality(), received)),
            ),
        }
        samples.extend(
            poller
                .refused
                .iter()
                .map(|(tag, quality)| convert::missing(*tag, *quality, received)),
        );
        self.status.polled(started.elapsed());
        self.publish(samples).await;

        // Keep the rhythm; after an overrun, start again from now.
        let next = poller.due + poller.interval;
        let now = Instant::now();
        poller.due = if next > now {
            next
        } else {
            self.status.overrun();
            now + poller.interval
        };
        Ok(())
    }

    /// Carries out one write; an error ends the session.
    async fn write(&mut self, session: &OpcUaSession, request: WriteRequest) -> Result<(), String> {
        let result = session.write(&request.node, &request.value).await;
        let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
        self.status.wrote(&request.node, outcome);
        let broken = match &result {
            Err(WriteFailure::Failed { status, .. }) if status.breaks_connection() => {
                Some(format!("writing failed: {status}"))
            }
            _ => None,
        };
        // The caller may have stopped waiting; nothing to do then.
        let _ = request.reply.send(result);
        broken.map_or(Ok(()), Err)
    }

    async fn publish(&mut self, samples: Vec<Sample>) {
        if samples.is_empty() {
            return;
        }
        self.status.publishing(&samples);
        if let Err(error) = self.publisher.publish(samples).await {
            self.status.publish_failed(&error);
        }
    }
}

fn refused_or_broken(status: Status) -> SubscribeError {
    if status.breaks_connection() {
        SubscribeError::Broken(status)
    } else {
        SubscribeError::Refused(status)
    }
}

/// Whether a monitored item was refused for its deadband filter.
fn refuses_filter(status: Status) -> bool {
    [
        StatusCode::BadFilterNotAllowed,
        StatusCode::BadMonitoredItemFilterUnsupported,
        StatusCode::BadMonitoredItemFilterInvalid,
        StatusCode::BadDeadbandFilterInvalid,
    ]
    .contains(&StatusCode::from(status.0 & 0xFFFF_0000))
}

impl Source {
    /// The next thing to handle.
    async fn next(&mut self) -> Event {
        match self {
            Source::Subscription { notices, .. } => Event::Notice(notices.recv().await),
            Source::Poll(poller) => {
                tokio::time::sleep_until(poller.due).await;
                Event::PollDue
            }
        }
    }
}

/// The reads of `poll` mode, made once per session.
struct Poller {
    reads: Vec<ReadValueId>,
    tags: Vec<TagId>,
    /// Points that cannot be read on this server, with why.
    refused: Vec<(TagId, Quality)>,
    interval: Duration,
    due: Instant,
}

impl Poller {
    fn new(points: &[OpcUaPoint], nodes: Vec<Result<NodeId, Quality>>, interval: Duration) -> Self {
        let mut poller = Poller {
            reads: Vec::with_capacity(points.len()),
            tags: Vec::with_capacity(points.len()),
            refused: Vec::new(),
            interval,
            due: Instant::now(),
        };
        for (point, node) in points.iter().zip(nodes) {
            match node {
                Ok(node) => {
                    poller.reads.push(value_of(node));
                    poller.tags.push(point.tag);
                }
                Err(quality) => poller.refused.push((point.tag, quality)),
            }
        }
        poller
    }
}

/// The subscription callback: turns notifications into samples and hands
/// them to the device task. Runs inside the stack's event loop, so it never
/// waits: when the task is behind, samples are dropped and counted.
struct Notifications {
    /// Tags by client handle minus one.
    tags: Arc<[TagId]>,
    notices: mpsc::Sender<Notice>,
    dropped: Arc<AtomicU64>,
}

impl Notifications {
    fn send(&self, notice: Notice, samples: usize) {
        if self.notices.try_send(notice).is_err() {
            self.dropped.fetch_add(samples as u64, Ordering::Relaxed);
        }
    }
}

impl OnSubscriptionNotificationCore for Notifications {
    fn on_subscription_notification(
        &mut self,
        message: NotificationMessage,
        _items: MonitoredItemMap<'_>,
    ) {
        let received = Timestamp::now();
        let mut samples = Vec::new();
        for data in message.notification_data.iter().flatten() {
            if let Some(changes) = data.inner_as::<DataChangeNotification>() {
                for change in changes.monitored_items.iter().flatten() {
                    let tag = (change.client_handle as usize)
                        .checked_sub(1)
                        .and_then(|index| self.tags.get(index));
                    if let Some(tag) = tag {
                        samples.push(convert::sample(*tag, &change.value, received));
                    }
                }
            } else if let Some(change) = data.inner_as::<StatusChangeNotification>() {
                self.send(Notice::Status(change.status.into()), 0);
            }
        }
        if !samples.is_empty() {
            let count = samples.len();
            self.send(Notice::Samples(samples), count);
        }
    }
}

#[cfg(test)]
mod tests {
    use flowline_catalog::{Asset, AssetSpec, SourceBinding, Tag, TagSpec};
    use flowline_core::{AssetId, AssetKind, NodePath};

    use super::*;

    fn snapshot(tags: &[(&str, &str, Option<&str>)]) -> Snapshot {
        let asset = Asset {
            id: AssetId(1),
            version: 1,
            spec: AssetSpec {
                path: NodePath::parse("north").unwrap(),
                kind: AssetKind::Field,
                description: String::new(),
                attributes: Default::default(),
            },
        };
        let tags = tags
            .iter()
            .enumerate()
            .map(|(index, (name, address, endpoint))| {
                let mut spec = TagSpec::new(NodePath::parse(&format!("north/{name}")).unwrap());
                spec.source = Some(SourceBinding {
                    protocol: Protocol::OpcUa,
                    address: (*address).to_owned(),
                });
                spec.deadband = Some(0.5);
                if let Some(endpoint) = endpoint {
                    spec.attributes
                        .insert(ENDPOINT_ATTRIBUTE.to_owned(), (*endpoint).to_owned());
                }
                Tag {
                    id: TagId(index as u32 + 1),
                    version: 1,
                    spec,
                }
            })
            .collect();
        Snapshot::build(1, vec![asset], tags)
    }

    #[test]
    fn tags_go_to_the_endpoint_they_name_or_the_only_one() {
        let one = [OpcUaEndpoint::new("scada", "opc.tcp://127.0.0.1:4840")];
        let devices = plan_devices(&snapshot(&[("a", "ns=2;i=1", None)]), &one).unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].points[0].node.to_string(), "ns=2;i=1");
        assert_eq!(devices[0].points[0].deadband, Some(0.5));

        let two = [
            one[0].clone(),
            OpcUaEndpoint::new("plc", "opc.tcp://127.0.0.1:4841"),
        ];
        let devices = plan_devices(&snapshot(&[("a", "ns=2;i=1", Some("plc"))]), &two).unwrap();
        assert_eq!(devices.len(), 1, "endpoints without tags are left out");
        assert_eq!(devices[0].endpoint.name, "plc");
    }

    #[test]
    fn every_tag_that_cannot_be_placed_is_reported_with_why() {
        let two = [
            OpcUaEndpoint::new("scada", "opc.tcp://127.0.0.1:4840"),
            OpcUaEndpoint::new("plc", "opc.tcp://127.0.0.1:4841"),
        ];
        let snapshot = snapshot(&[
            ("a", "ns=2;i=1", None),
            ("b", "ns=2;x=1", Some("plc")),
            ("c", "ns=2;i=3", Some("dcs")),
        ]);
        let problems: Vec<String> = plan_devices(&snapshot, &two)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "north/a: expected attribute opcua_endpoint to name the OPC UA endpoint; \
                 configured: scada, plc",
                "north/b: invalid OPC UA node id `ns=2;x=1`: expected i=NUMBER, s=TEXT, \
                 g=GUID or b=BASE64 as the identifier",
                "north/c: opcua_endpoint `dcs` is not an OPC UA endpoint; configured: scada, plc",
            ]
        );
    }
}
