//! One Modbus TCP device: its connection, its poll groups, and writes.
//!
//! Each device runs as one task that owns the connection. It polls each
//! group when due, turns the answers into samples (good, or missing with a
//! bad quality that says why), and publishes them; between polls it
//! carries out writes, each followed by a read-back. A broken connection is
//! dropped and made again with backoff while polls keep producing bad
//! samples, so the outage is visible in the data.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flowline_catalog::modbus::{ModbusAddress, Table};
use flowline_core::{Sample, Timestamp, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_modbus::Slave;
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::SlaveContext;
use tokio_util::sync::CancellationToken;

use super::events::DeviceStatus;
use super::plan::{PolledPoint, Read, plan_reads};
use super::quality::ReadFailure;
use crate::SamplePublisher;

/// How long to wait for the device, and how to back off when it is down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timings {
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for the answer to one request.
    pub request_timeout: Duration,
    /// First wait before connecting again after a failure; it doubles with
    /// each failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest wait between connection attempts.
    pub reconnect_max: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
        }
    }
}

/// Points read together at one rate.
#[derive(Clone, Debug)]
pub struct PollGroup {
    /// The group's name, for logs and metrics.
    pub name: String,
    /// Time between the starts of two polls.
    pub interval: Duration,
    /// The points, in any order.
    pub points: Vec<PolledPoint>,
    /// The requests that read them; see [`plan_reads`].
    pub reads: Vec<Read>,
}

impl PollGroup {
    /// A group polling `points` every `interval`, reading through gaps of
    /// at most `max_gap` unused addresses.
    pub fn new(name: &str, interval: Duration, points: Vec<PolledPoint>, max_gap: u16) -> Self {
        let reads = plan_reads(&points, max_gap);
        PollGroup {
            name: name.to_owned(),
            interval,
            points,
            reads,
        }
    }
}

/// A Modbus TCP device and what to poll on it.
#[derive(Clone, Debug)]
pub struct Device {
    /// The device's name, for logs and metrics.
    pub name: String,
    /// Where it listens.
    pub endpoint: SocketAddr,
    /// What to poll, and how often.
    pub groups: Vec<PollGroup>,
}

/// Why a write did not happen.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WriteFailure {
    /// The value cannot be encoded at the address.
    #[error("cannot write {value} at {address}: {reason}")]
    Invalid {
        /// The address.
        address: String,
        /// The value.
        value: String,
        /// Why not.
        reason: String,
    },
    /// The address is in a read-only table.
    #[error("cannot write at {0}: the table is read-only")]
    ReadOnly(String),
    /// The device did not carry out the write or its read-back.
    #[error("write to {address} failed: {failure}")]
    Failed {
        /// The address.
        address: String,
        /// What went wrong.
        failure: ReadFailure,
    },
    /// The device task has stopped.
    #[error("the device task has stopped")]
    Stopped,
}

struct WriteRequest {
    address: ModbusAddress,
    value: Value,
    reply: oneshot::Sender<Result<Value, WriteFailure>>,
}

/// A handle to write through a running device task.
#[derive(Clone, Debug)]
pub struct DeviceHandle {
    writes: mpsc::Sender<WriteRequest>,
}

impl std::fmt::Debug for WriteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "write {} at {}", self.value, self.address)
    }
}

impl DeviceHandle {
    /// Writes `value` at `address`, then reads it back and returns what the
    /// device now holds there. Waits for the poll in progress to finish.
    pub async fn write(&self, address: ModbusAddress, value: Value) -> Result<Value, WriteFailure> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteRequest {
                address,
                value,
                reply,
            })
            .await
            .map_err(|_| WriteFailure::Stopped)?;
        answer.await.map_err(|_| WriteFailure::Stopped)?
    }
}

/// Writes waiting for the device task at most.
const WRITE_QUEUE: usize = 64;

/// Starts polling `device` until `shutdown`, publishing to `publisher`.
pub fn spawn<P: SamplePublisher>(
    device: Device,
    timings: Timings,
    publisher: Arc<P>,
    shutdown: CancellationToken,
) -> (DeviceHandle, JoinHandle<()>) {
    let (writes, requests) = mpsc::channel(WRITE_QUEUE);
    let task = tokio::spawn(run(device, timings, publisher, requests, shutdown));
    (DeviceHandle { writes }, task)
}

async fn run<P: SamplePublisher>(
    device: Device,
    timings: Timings,
    publisher: Arc<P>,
    mut writes: mpsc::Receiver<WriteRequest>,
    shutdown: CancellationToken,
) {
    let mut connection = Connection::new(device.name.clone(), device.endpoint, timings);
    let start = Instant::now();
    let mut due: Vec<Instant> = device.groups.iter().map(|_| start).collect();

    loop {
        let Some((index, at)) = due.iter().copied().enumerate().min_by_key(|(_, at)| *at) else {
            // No groups: serve writes only.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(request) = writes.recv() => {
                    let result = connection.write(&request.address, &request.value).await;
                    let _ = request.reply.send(result);
                }
            }
            continue;
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some(request) = writes.recv() => {
                let result = connection.write(&request.address, &request.value).await;
                // The caller may have stopped waiting; nothing to do then.
                let _ = request.reply.send(result);
                continue;
            }
            _ = tokio::time::sleep_until(at) => {}
        }

        let group = &device.groups[index];
        let samples = connection.poll(group).await;
        connection
            .status
            .polled(&group.name, &samples, at.elapsed());
        if let Err(error) = publisher.publish(samples).await {
            connection.status.publish_failed(&error);
        }

        // Keep the rhythm; after an overrun, start again from now.
        let next = at + group.interval;
        let now = Instant::now();
        due[index] = if next > now {
            next
        } else {
            connection.status.overrun(&group.name);
            now + group.interval
        };
    }
}

/// One device's connection and polls, driven by the caller instead of a
/// device task: the connection handling, requests, decoding and
/// bad-sample rules of [`spawn`]'s task, for benchmarks and tools that
/// poll on their own schedule. It connects on first use and after
/// [`disconnect`](Self::disconnect).
pub struct Poller {
    connection: Connection,
}

impl Poller {
    /// A poller of the device `name` (for logs and metrics) at `endpoint`.
    pub fn new(name: &str, endpoint: SocketAddr, timings: Timings) -> Poller {
        Poller {
            connection: Connection::new(name.to_owned(), endpoint, timings),
        }
    }

    /// Connects now unless connected, as a poll would; the failure says
    /// why not (a connection that failed is retried after its backoff).
    pub async fn connect(&mut self) -> Result<(), ReadFailure> {
        self.connection.context().await.map(|_| ())
    }

    /// Closes the connection; the next poll or connect makes a new one.
    pub fn disconnect(&mut self) {
        self.connection.context = None;
    }

    /// Reads every request of `group` once: one sample per point.
    pub async fn poll(&mut self, group: &PollGroup) -> Vec<Sample> {
        self.connection.poll(group).await
    }
}

/// The connection to one device and its state.
struct Connection {
    endpoint: SocketAddr,
    timings: Timings,
    context: Option<Context>,
    status: DeviceStatus,
    retry_at: Instant,
    backoff: Duration,
}

impl Connection {
    fn new(name: String, endpoint: SocketAddr, timings: Timings) -> Self {
        Connection {
            endpoint,
            timings,
            context: None,
            status: DeviceStatus::new(name, endpoint),
            retry_at: Instant::now(),
            backoff: timings.reconnect_min,
        }
    }

    /// The open connection, making one if it is time to try.
    async fn context(&mut self) -> Result<&mut Context, ReadFailure> {
        if self.context.is_none() {
            if Instant::now() < self.retry_at {
                return Err(self.status.failure_while_down());
            }
            let attempt = tokio::time::timeout(
                self.timings.connect_timeout,
                tokio_modbus::client::tcp::connect(self.endpoint),
            )
            .await;
            match attempt {
                Ok(Ok(context)) => {
                    self.context = Some(context);
                    self.backoff = self.timings.reconnect_min;
                    self.status.connected();
                }
                Ok(Err(error)) => return Err(self.broken(error.to_string())),
                Err(_) => return Err(self.broken("connect timed out".to_owned())),
            }
        }
        Ok(self.context.as_mut().expect("bug: just connected"))
    }

    /// Drops the connection after `reason` and schedules the next attempt.
    fn broken(&mut self, reason: String) -> ReadFailure {
        self.context = None;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.timings.reconnect_max);
        self.status.failed(&reason)
    }

    /// Reads every request of `group`; one sample per point.
    async fn poll(&mut self, group: &PollGroup) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(group.points.len());
        for read in &group.reads {
            let outcome = self.read(read).await;
            let received = Timestamp::now();
            match outcome {
                Ok(registers) => {
                    for &index in &read.points {
                        let point = &group.points[index];
                        let offset = usize::from(point.address.address - read.start);
                        let width = usize::from(point.address.width());
                        let slice = &registers[offset..offset + width];
                        samples.push(match point.address.decode(slice) {
                            Ok(value) => Sample::new(point.tag, received, value),
                            Err(error) => {
                                let failure = ReadFailure::BadValue(error.to_string());
                                self.status.bad_value(point.tag, &failure);
                                missing(point, received, &failure)
                            }
                        });
                    }
                }
                Err(failure) => {
                    self.status.read_failed(read, &failure);
                    samples.extend(
                        read.points
                            .iter()
                            .map(|&index| missing(&group.points[index], received, &failure)),
                    );
                }
            }
        }
        samples
    }

    /// One read request; bits are returned as registers of 0 or 1.
    async fn read(&mut self, read: &Read) -> Result<Vec<u16>, ReadFailure> {
        let timeout = self.timings.request_timeout;
        let context = self.context().await?;
        context.set_slave(Slave(read.unit));
        let (start, count) = (read.start, read.count);
        let answer = tokio::time::timeout(timeout, async {
            match read.table {
                Table::Coil => context.read_coils(start, count).await.map(|r| r.map(bits)),
                Table::DiscreteInput => context
                    .read_discrete_inputs(start, count)
                    .await
                    .map(|r| r.map(bits)),
                Table::InputRegister => context.read_input_registers(start, count).await,
                Table::HoldingRegister => context.read_holding_registers(start, count).await,
            }
        })
        .await;
        let registers = self.settle(answer)?;
        if registers.len() < usize::from(count) {
            let reason = format!(
                "expected {count} values, the answer held {}",
                registers.len()
            );
            return Err(self.broken(reason));
        }
        Ok(registers[..usize::from(count)].to_vec())
    }

    /// Turns the outcome of a request into data or a failure, dropping the
    /// connection when it can no longer be trusted.
    fn settle<T>(
        &mut self,
        answer: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, ReadFailure> {
        match answer {
            Ok(Ok(Ok(data))) => Ok(data),
            Ok(Ok(Err(code))) => Err(ReadFailure::Exception(code)),
            Ok(Err(error)) => Err(self.broken(error.to_string())),
            Err(_) => {
                // A late answer would be taken for the next request's.
                self.broken("no answer within the request timeout".to_owned());
                Err(ReadFailure::Timeout)
            }
        }
    }

    /// Writes `value` at `address` and reads it back.
    async fn write(
        &mut self,
        address: &ModbusAddress,
        value: &Value,
    ) -> Result<Value, WriteFailure> {
        let shown = address.to_string();
        if !address.table.is_writable() {
            return Err(WriteFailure::ReadOnly(shown));
        }
        let registers = address
            .encode(value)
            .map_err(|error| WriteFailure::Invalid {
                address: shown.clone(),
                value: value.to_string(),
                reason: error.to_string(),
            })?;
        let failed = |failure| WriteFailure::Failed {
            address: shown.clone(),
            failure,
        };

        let timeout = self.timings.request_timeout;
        let context = self.context().await.map_err(failed)?;
        context.set_slave(Slave(address.unit));
        let start = address.address;
        let answer = tokio::time::timeout(timeout, async {
            match (address.table, registers.as_slice()) {
                (Table::Coil, [bit]) => context.write_single_coil(start, *bit != 0).await,
                (_, [word]) => context.write_single_register(start, *word).await,
                (_, words) => context.write_multiple_registers(start, words).await,
            }
        })
        .await;
        self.settle(answer).map_err(failed)?;

        let read = Read {
            unit: address.unit,
            table: address.table,
            start,
            count: address.width(),
            points: Vec::new(),
        };
        let back = self.read(&read).await.map_err(failed)?;
        address
            .decode(&back)
            .map_err(|error| failed(ReadFailure::BadValue(error.to_string())))
    }
}

fn bits(values: Vec<bool>) -> Vec<u16> {
    values.into_iter().map(u16::from).collect()
}

/// A sample without a value, whose quality says why.
fn missing(point: &PolledPoint, received: Timestamp, failure: &ReadFailure) -> Sample {
    Sample::new(point.tag, received, Value::MISSING).with_quality(failure.quality())
}
