//! One connection to an OPC UA server, and what the gateway does over it.
//!
//! [`OpcUaSession::connect`] asks the server for its endpoints, picks the
//! one with the configured security and user token, checks the server's
//! certificate against the trust list, opens a secure channel and a session
//! and reads the namespace array, all within the connect timeout. Failures
//! come back as a [`ConnectError`] that names the endpoint and says what to
//! do (trust the certificate, check the password). A driver task runs the
//! stack's event loop and reports when the connection is lost; the session
//! never reconnects on its own: the device task decides, with backoff.
//!
//! Whoever connects to one server again and again (a device task after
//! each lost connection) keeps an [`OpcUaConnector`]: it remembers, from
//! its last successful connect, the stack's client (the PKI directory
//! prepared, the gateway's certificate and the password read) and, for an
//! endpoint without security, the endpoint the server offered, so such a
//! reconnect goes straight to the channel and the session. A secured
//! endpoint is asked for every time: it carries the server's certificate,
//! and a server whose certificate changed does not answer a channel
//! opened with the old one (asyncua lets it time out). A reconnect that
//! fails with what it remembered is tried again at once from the start,
//! within the same timeout, so that its error is the one a first connect
//! would report, and a certificate copied into the trust list meanwhile
//! is found.
//!
//! Over an open session: [`OpcUaSession::read`] turns values into samples,
//! [`OpcUaSession::write`] writes a value in the node's own type and reads
//! it back.

use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use flowline_core::secret::read_password;
use flowline_core::{Quality, Sample, Timestamp, Value};
use futures_util::StreamExt;
use opcua::client::transport::Connector;
use opcua::client::{
    Client, ClientBuilder, IdentityToken, Password, Session, SessionEventLoop, SessionPollResult,
};
use opcua::types::{
    AttributeId, DataValue, EndpointDescription, NodeId, NumericRange, ReadValueId, StatusCode,
    TimestampsToReturn, UserTokenType, VariableId, Variant, WriteValue,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::address::{Namespaces, NodeAddress};
use super::config::{
    APPLICATION_NAME, APPLICATION_URI, Identity, OpcUaEndpoint, SCHEME, SecurityPolicy,
};
use super::convert::{self, WireType};
use super::device::OpcUaPoint;
use super::pki::{self, PKI_LOCK, ServerCertificate};

/// How often the session proves the server alive with a small read.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Failed keep-alive reads in a row after which the connection is dropped:
/// a server that stopped answering without closing the connection.
const MAX_FAILED_KEEP_ALIVES: u64 = 3;
/// How long the server keeps the session when the gateway goes silent, in
/// milliseconds.
const SESSION_TIMEOUT_MS: u32 = 60_000;
/// Longest array accepted in an answer: a browse of a large folder returns
/// one reference per child, and some servers ignore the requested limit.
const MAX_ARRAY_LENGTH: usize = 100_000;
/// Largest message accepted, in bytes: bounds memory while leaving room for
/// such browses.
const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Chunks of at most 64 KiB that make a message of [`MAX_MESSAGE_SIZE`].
const MAX_CHUNK_COUNT: usize = MAX_MESSAGE_SIZE / 65_535 + 1;
/// Nodes asked for in one Read request; servers commonly allow 1,000 or
/// more (their MaxNodesPerRead).
pub(crate) const MAX_NODES_PER_REQUEST: usize = 1_000;
/// Subscription keep-alive count: with nothing to send, the server still
/// answers after this many publishing intervals.
pub(crate) const KEEP_ALIVE_COUNT: u32 = 10;
/// Longest wait for a closing session to say goodbye.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// An OPC UA status code, from a server or from the stack, shown by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// The status as the quality of a sample, bit for bit.
    pub fn quality(self) -> Quality {
        Quality::from_bits(self.0)
    }

    pub(crate) fn code(self) -> StatusCode {
        StatusCode::from(self.0)
    }

    /// Whether the connection cannot be trusted after a request failed
    /// with this status: it closed, timed out, or lost its session.
    pub(crate) fn breaks_connection(self) -> bool {
        let code = StatusCode::from(self.0 & 0xFFFF_0000);
        [
            StatusCode::BadConnectionClosed,
            StatusCode::BadCommunicationError,
            StatusCode::BadNotConnected,
            StatusCode::BadNoCommunication,
            StatusCode::BadSecureChannelClosed,
            StatusCode::BadSecureChannelIdInvalid,
            StatusCode::BadServerNotConnected,
            StatusCode::BadSessionClosed,
            StatusCode::BadSessionIdInvalid,
            StatusCode::BadTimeout,
            StatusCode::BadRequestTimeout,
            StatusCode::BadTcpInternalError,
            StatusCode::BadDisconnect,
            StatusCode::BadShutdown,
            StatusCode::BadServerHalted,
        ]
        .contains(&code)
    }
}

impl From<StatusCode> for Status {
    fn from(code: StatusCode) -> Self {
        Status(code.bits())
    }
}

impl fmt::Display for Status {
    /// `BadUserAccessDenied (0x801F0000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:08X})", self.code(), self.0)
    }
}

/// Why no session could be opened. Each names the endpoint and says what
/// was expected and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// The gateway's side is unusable: its PKI directory or settings.
    #[error("OPC UA endpoint `{endpoint}`: {problem}")]
    Setup {
        /// The endpoint's name.
        endpoint: String,
        /// What is wrong.
        problem: String,
    },
    /// The password could not be read.
    #[error(
        "OPC UA endpoint `{endpoint}`: cannot read the password of `{user}` from {origin}: {reason}"
    )]
    Password {
        /// The endpoint's name.
        endpoint: String,
        /// The user.
        user: String,
        /// The file or environment variable.
        origin: String,
        /// Why not.
        reason: String,
    },
    /// Nothing answered, or the connection broke while opening.
    #[error("OPC UA endpoint `{endpoint}`: cannot reach {url}: {status}")]
    Unreachable {
        /// The endpoint's name.
        endpoint: String,
        /// Where it was looked for.
        url: String,
        /// The failure.
        status: Status,
    },
    /// The server offers no endpoint with the configured security and user
    /// token.
    #[error(
        "OPC UA endpoint `{endpoint}`: {url} offers no endpoint with {wanted}; \
         it offers {offered}"
    )]
    NoMatchingEndpoint {
        /// The endpoint's name.
        endpoint: String,
        /// The server.
        url: String,
        /// Security policy, mode and user token configured.
        wanted: String,
        /// What the server offers instead.
        offered: String,
    },
    /// The server's certificate is not in the trust list.
    #[error(
        "OPC UA endpoint `{endpoint}`: the server certificate `{certificate}` is not in the \
         trust list {trusted}; it was saved as {rejected} (copy it into the trust list to \
         trust this server)"
    )]
    UntrustedServer {
        /// The endpoint's name.
        endpoint: String,
        /// The certificate's file name.
        certificate: String,
        /// The trust list directory.
        trusted: String,
        /// Where the refused certificate was saved.
        rejected: String,
    },
    /// The server refused the gateway's certificate: it is not in the
    /// server's trust list.
    #[error(
        "OPC UA endpoint `{endpoint}`: the server refused the gateway's certificate \
         {certificate}: {status}; add it to the server's trust list"
    )]
    GatewayUntrusted {
        /// The endpoint's name.
        endpoint: String,
        /// The gateway's certificate file.
        certificate: String,
        /// The refusal.
        status: Status,
    },
    /// The server's certificate has expired or is not valid yet.
    #[error(
        "OPC UA endpoint `{endpoint}`: the server certificate `{certificate}` is not valid now: \
         it is valid from {not_before} to {not_after} ({status})"
    )]
    CertificateTime {
        /// The endpoint's name.
        endpoint: String,
        /// The certificate's file name.
        certificate: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
        /// The refusal.
        status: Status,
    },
    /// The server's certificate was refused for another reason (host name,
    /// application URI, key length).
    #[error(
        "OPC UA endpoint `{endpoint}`: the server certificate `{certificate}` was refused: {status}"
    )]
    CertificateRefused {
        /// The endpoint's name.
        endpoint: String,
        /// The certificate's file name.
        certificate: String,
        /// The refusal.
        status: Status,
    },
    /// The server refused the user.
    #[error(
        "OPC UA endpoint `{endpoint}`: the server refused {user}: {status}; \
         check the user name and password"
    )]
    IdentityRejected {
        /// The endpoint's name.
        endpoint: String,
        /// `user NAME` or `anonymous access`.
        user: String,
        /// The refusal.
        status: Status,
    },
    /// The server refused the session for another reason.
    #[error("OPC UA endpoint `{endpoint}`: the server refused the session: {status}")]
    Refused {
        /// The endpoint's name.
        endpoint: String,
        /// The refusal.
        status: Status,
    },
    /// No session within the connect timeout.
    #[error(
        "OPC UA endpoint `{endpoint}`: no session within the connect timeout of {timeout_ms} ms"
    )]
    Timeout {
        /// The endpoint's name.
        endpoint: String,
        /// The timeout.
        timeout_ms: u64,
    },
}

/// Why a write did not happen or was not confirmed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteFailure {
    /// The value cannot be written to the node: wrong type, out of range,
    /// or a node id that does not resolve.
    #[error("cannot write {value} to {node} on `{endpoint}`: {reason}")]
    Invalid {
        /// The endpoint's name.
        endpoint: String,
        /// The node.
        node: String,
        /// The value.
        value: String,
        /// Why not.
        reason: String,
    },
    /// The server refused the write (read-only node, access denied).
    #[error("`{endpoint}` refused the write of {value} to {node}: {status}")]
    Refused {
        /// The endpoint's name.
        endpoint: String,
        /// The node.
        node: String,
        /// The value.
        value: String,
        /// The server's answer.
        status: Status,
    },
    /// The write request failed; the server may or may not have applied it.
    #[error(
        "the write of {value} to {node} on `{endpoint}` failed: {status}; \
         the server may or may not have applied it"
    )]
    Failed {
        /// The endpoint's name.
        endpoint: String,
        /// The node.
        node: String,
        /// The value.
        value: String,
        /// The failure.
        status: Status,
    },
    /// The write was accepted but reading the node back failed.
    #[error("the write to {node} on `{endpoint}` is unconfirmed: reading it back gave {status}")]
    Unconfirmed {
        /// The endpoint's name.
        endpoint: String,
        /// The node.
        node: String,
        /// What the read-back gave.
        status: Status,
    },
    /// The server is not connected.
    #[error("cannot write to {node}: `{endpoint}` is not connected ({reason})")]
    NotConnected {
        /// The endpoint's name.
        endpoint: String,
        /// The node.
        node: String,
        /// Why it is down.
        reason: String,
    },
    /// The device task has stopped.
    #[error("cannot write: the device task of `{0}` has stopped")]
    Stopped(String),
}

/// The state of the connection, as the driver task sees it.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Link {
    /// Opening the channel and the session.
    Connecting,
    /// The session is open.
    Up,
    /// The connection failed or was lost, with this status.
    Down(Status),
}

/// The driver task; stopped when dropped, so a session abandoned halfway
/// (a connect timeout, a device task stopping) leaves nothing running.
struct Driver(JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An open session on one OPC UA server.
pub struct OpcUaSession {
    endpoint: String,
    session: Arc<Session>,
    link: watch::Receiver<Link>,
    namespaces: Namespaces,
    _driver: Driver,
}

impl fmt::Debug for OpcUaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpcUaSession")
            .field("endpoint", &self.endpoint)
            .field("link", &*self.link.borrow())
            .finish_non_exhaustive()
    }
}

/// Connects to one server, again and again, keeping what a reconnect can
/// reuse; see the module docs.
pub struct OpcUaConnector {
    /// The server and how to reach it.
    endpoint: OpcUaEndpoint,
    /// What the last successful connect set up; `None` before the first
    /// and after a failed one.
    kept: Option<Kept>,
}

/// What a successful connect set up that the next one can reuse: all of
/// it for an endpoint without security, all but the chosen endpoint for a
/// secured one.
struct Kept {
    /// The stack's client: the PKI directory prepared and the gateway's
    /// certificate and key made or found.
    client: Client,
    /// Who to log in as, the password read.
    identity: IdentityToken,
    /// The server endpoint chosen from what the server offered, with the
    /// server's certificate.
    chosen: EndpointDescription,
}

impl fmt::Debug for OpcUaConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpcUaConnector")
            .field("endpoint", &self.endpoint.name)
            .field("reconnects_directly", &self.kept.is_some())
            .finish()
    }
}

impl OpcUaConnector {
    /// A connector for `endpoint` that has not connected yet.
    pub fn new(endpoint: OpcUaEndpoint) -> OpcUaConnector {
        OpcUaConnector {
            endpoint,
            kept: None,
        }
    }

    /// Opens a session within the endpoint's connect timeout: with what
    /// the last successful connect set up, or else (or if that fails) from
    /// the start; see the module docs.
    pub async fn connect(&mut self) -> Result<OpcUaSession, ConnectError> {
        let mut deadline = None;
        if let Some(kept) = self.kept.take() {
            let until = Instant::now() + self.endpoint.connect_timeout();
            deadline = Some(until);
            let opening = async {
                if self.endpoint.security_policy == SecurityPolicy::None {
                    open_session(&self.endpoint, kept).await
                } else {
                    open(&self.endpoint, kept.client, kept.identity).await
                }
            };
            match tokio::time::timeout_at(until, opening).await {
                Ok(Ok((session, kept))) => {
                    self.kept = Some(kept);
                    return Ok(session);
                }
                // Start again from the start, below.
                Ok(Err(_)) => {}
                Err(_) => return Err(self.timed_out()),
            }
        }

        // Making the gateway's key on first use is slow and local: it does
        // not count against the connect timeout.
        let (client, identity) = client(&self.endpoint).await?;
        let until = deadline.unwrap_or_else(|| Instant::now() + self.endpoint.connect_timeout());
        let opening = open(&self.endpoint, client, identity);
        match tokio::time::timeout_at(until, opening).await {
            Ok(Ok((session, kept))) => {
                self.kept = Some(kept);
                Ok(session)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// The error of a connect that took longer than the timeout.
    fn timed_out(&self) -> ConnectError {
        ConnectError::Timeout {
            endpoint: self.endpoint.name.clone(),
            timeout_ms: self.endpoint.connect_timeout_ms,
        }
    }
}

impl OpcUaSession {
    /// Opens a session on `endpoint` within its connect timeout, from the
    /// start; see the module docs. To connect to the same server again,
    /// keep an [`OpcUaConnector`] instead.
    pub async fn connect(endpoint: &OpcUaEndpoint) -> Result<OpcUaSession, ConnectError> {
        OpcUaConnector::new(endpoint.clone()).connect().await
    }

    /// The server's namespace array, read when the session opened.
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// Reads every point once: one sample per point, in order. A point
    /// that cannot be read has a missing value and a quality that says
    /// why; a connection failure gives every point its status.
    pub async fn read(&self, points: &[OpcUaPoint]) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(points.len());
        let mut reads = Vec::with_capacity(points.len());
        let mut readable = Vec::with_capacity(points.len());
        for point in points {
            match point.node.resolve(&self.namespaces) {
                Ok(node) => {
                    reads.push(value_of(node));
                    readable.push(point.tag);
                }
                Err(_) => samples.push(convert::missing(
                    point.tag,
                    Quality::BAD_NODE_ID_UNKNOWN,
                    Timestamp::now(),
                )),
            }
        }
        let answer = self.read_values(&reads).await;
        let received = Timestamp::now();
        match answer {
            Ok(values) => samples.extend(
                readable
                    .iter()
                    .zip(&values)
                    .map(|(tag, value)| convert::sample(*tag, value, received)),
            ),
            Err(status) => samples.extend(
                readable
                    .iter()
                    .map(|tag| convert::missing(*tag, status.quality(), received)),
            ),
        }
        samples
    }

    /// Writes `value` to `node` as the node's data type, then reads the
    /// node back and returns what the server now holds.
    pub async fn write(&self, node: &NodeAddress, value: &Value) -> Result<Value, WriteFailure> {
        let shown = node.to_string();
        let invalid = |reason: String| WriteFailure::Invalid {
            endpoint: self.endpoint.clone(),
            node: shown.clone(),
            value: value.to_string(),
            reason,
        };
        let id = node.resolve(&self.namespaces).map_err(invalid)?;

        let data_type = self
            .data_type(&id)
            .await
            .map_err(|status| invalid(format!("its data type cannot be read: {status}")))?;
        let wire = WireType::of(&data_type)
            .ok_or_else(|| invalid(format!("its data type {data_type} has no Flowline value")))?;
        let variant = wire.variant(value).map_err(invalid)?;

        let write = WriteValue {
            node_id: id.clone(),
            attribute_id: AttributeId::Value as u32,
            index_range: NumericRange::None,
            value: DataValue::value_only(variant),
        };
        let results = self
            .session
            .write(&[write])
            .await
            .map_err(|error| WriteFailure::Failed {
                endpoint: self.endpoint.clone(),
                node: shown.clone(),
                value: value.to_string(),
                status: error.status().into(),
            })?;
        let status = results
            .first()
            .copied()
            .unwrap_or(StatusCode::BadUnknownResponse);
        if !status.is_good() {
            return Err(WriteFailure::Refused {
                endpoint: self.endpoint.clone(),
                node: shown,
                value: value.to_string(),
                status: status.into(),
            });
        }

        let unconfirmed = |status: Status| WriteFailure::Unconfirmed {
            endpoint: self.endpoint.clone(),
            node: shown.clone(),
            status,
        };
        let back = self
            .read_values(&[value_of(id)])
            .await
            .map_err(unconfirmed)?;
        let back = convert::sample(flowline_core::TagId(0), &back[0], Timestamp::now());
        if back.value.is_missing() {
            return Err(unconfirmed(Status(back.quality.bits())));
        }
        Ok(back.value)
    }

    /// Closes the session politely (its subscriptions are deleted on the
    /// server), waiting at most a second.
    pub async fn close(self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.session.disconnect()).await;
    }

    /// The endpoint's name.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The stack's session, for subscriptions and browsing.
    pub(crate) fn stack(&self) -> &Session {
        &self.session
    }

    /// Waits until the connection is lost; returns why.
    pub(crate) async fn lost(&self) -> Status {
        let mut link = self.link.clone();
        match link.wait_for(|link| matches!(link, Link::Down(_))).await {
            Ok(state) => match *state {
                Link::Down(status) => status,
                _ => unreachable!("bug: waited for a lost connection"),
            },
            Err(_) => StatusCode::BadConnectionClosed.into(),
        }
    }

    /// Reads `reads` in requests of at most [`MAX_NODES_PER_REQUEST`]
    /// nodes; one data value per read, in order, or the status of the
    /// first request that failed.
    pub(crate) async fn read_values(
        &self,
        reads: &[ReadValueId],
    ) -> Result<Vec<DataValue>, Status> {
        let mut values = Vec::with_capacity(reads.len());
        for chunk in reads.chunks(MAX_NODES_PER_REQUEST) {
            let answer = self
                .session
                .read(chunk, TimestampsToReturn::Source, 0.0)
                .await
                .map_err(|error| Status::from(error.status()))?;
            if answer.len() != chunk.len() {
                // A server that answers a different number of values than
                // asked for cannot be matched to the points.
                return Err(StatusCode::BadUnknownResponse.into());
            }
            values.extend(answer);
        }
        Ok(values)
    }

    async fn data_type(&self, node: &NodeId) -> Result<NodeId, Status> {
        let read = ReadValueId {
            node_id: node.clone(),
            attribute_id: AttributeId::DataType as u32,
            ..ReadValueId::default()
        };
        let answer = self.read_values(&[read]).await?;
        let data = &answer[0];
        match &data.value {
            Some(Variant::NodeId(data_type)) => Ok((**data_type).clone()),
            _ => Err(data.status.unwrap_or(StatusCode::BadTypeMismatch).into()),
        }
    }
}

/// A read of the Value attribute of `node`.
pub(crate) fn value_of(node: NodeId) -> ReadValueId {
    ReadValueId::from(node)
}

/// Asks the server for its endpoints, chooses one, and opens a session
/// on it.
async fn open(
    endpoint: &OpcUaEndpoint,
    client: Client,
    identity: IdentityToken,
) -> Result<(OpcUaSession, Kept), ConnectError> {
    let offered = client
        .get_server_endpoints_from_url(endpoint.url.as_str())
        .await
        .map_err(|error| ConnectError::Unreachable {
            endpoint: endpoint.name.clone(),
            url: endpoint.url.clone(),
            status: error.status().into(),
        })?;
    let chosen = choose(endpoint, &identity, &offered)?;
    let kept = Kept {
        client,
        identity,
        chosen,
    };
    open_session(endpoint, kept).await
}

/// Opens a secure channel and a session on the endpoint `kept` chose and
/// reads the namespace array; gives `kept` back for the next connect.
async fn open_session(
    endpoint: &OpcUaEndpoint,
    mut kept: Kept,
) -> Result<(OpcUaSession, Kept), ConnectError> {
    let certificate = ServerCertificate::read(&kept.chosen.server_certificate);
    let (session, event_loop) = kept
        .client
        .connect_to_endpoint_directly(kept.chosen.clone(), kept.identity.clone())
        .map_err(|error| ConnectError::Refused {
            endpoint: endpoint.name.clone(),
            status: error.status().into(),
        })?;
    // LIMITATION: the stack's event loop, before it opens the connection,
    // sleeps until the instant it started; tokio's timer rounds that up to
    // its next millisecond tick, so every session opening first waits up
    // to 1 ms, about a third of a reconnect without security on loopback
    // (bench/README.md, "OPC UA: connect and read 100 tags").
    let (report, mut link) = watch::channel(Link::Connecting);
    let driver = Driver(tokio::spawn(drive(event_loop, report)));
    let state = link
        .wait_for(|state| *state != Link::Connecting)
        .await
        .map(|state| *state)
        .unwrap_or(Link::Down(StatusCode::BadConnectionClosed.into()));
    if let Link::Down(status) = state {
        return Err(refusal(endpoint, status, certificate));
    }

    let namespaces = read_namespaces(&session)
        .await
        .map_err(|status| ConnectError::Refused {
            endpoint: endpoint.name.clone(),
            status,
        })?;
    let session = OpcUaSession {
        endpoint: endpoint.name.clone(),
        session,
        link,
        namespaces,
        _driver: driver,
    };
    Ok((session, kept))
}

/// Runs the stack's event loop, reporting the connection's state.
async fn drive<T: Connector + Send + Sync + 'static>(
    event_loop: SessionEventLoop<T>,
    report: watch::Sender<Link>,
) {
    let events = event_loop.enter();
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(SessionPollResult::Reconnected(_)) => {
                report.send_replace(Link::Up);
            }
            Ok(SessionPollResult::ConnectionLost(status)) | Err(status) => {
                report.send_replace(Link::Down(status.into()));
                return;
            }
            Ok(_) => {}
        }
    }
    report.send_replace(Link::Down(StatusCode::BadConnectionClosed.into()));
}

/// The stack's client for `endpoint` (its PKI directory prepared, the
/// gateway's certificate made on first use) and the identity to log in
/// with. Runs on the blocking pool: it reads files and may make a key.
async fn client(endpoint: &OpcUaEndpoint) -> Result<(Client, IdentityToken), ConnectError> {
    let owned = endpoint.clone();
    let made = tokio::task::spawn_blocking(move || {
        let identity = identity(&owned)?;
        let _pki = PKI_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let setup = |problem: String| ConnectError::Setup {
            endpoint: owned.name.clone(),
            problem,
        };
        pki::prepare(&owned.pki_dir).map_err(setup)?;
        let client = builder(&owned)
            .client()
            .map_err(|problems| setup(problems.join("; ")))?;
        let own = owned.pki_dir.join(pki::OWN_CERTIFICATE);
        if owned.security_policy != SecurityPolicy::None && !own.exists() {
            return Err(setup(format!(
                "cannot make the gateway's certificate {}",
                own.display()
            )));
        }
        Ok((client, identity))
    })
    .await;
    made.unwrap_or_else(|error| {
        Err(ConnectError::Setup {
            endpoint: endpoint.name.clone(),
            problem: format!("preparing the PKI directory failed: {error}"),
        })
    })
}

fn builder(endpoint: &OpcUaEndpoint) -> ClientBuilder {
    let publishing = Duration::from_millis(endpoint.publishing_interval_ms);
    ClientBuilder::new()
        .application_name(APPLICATION_NAME)
        .application_uri(APPLICATION_URI)
        .product_uri(APPLICATION_URI)
        .session_name(format!("flowline {}", endpoint.name))
        .pki_dir(&endpoint.pki_dir)
        .create_sample_keypair(true)
        .trust_server_certs(endpoint.trust_unknown_servers)
        .verify_server_certs(true)
        .session_retry_limit(0)
        .request_timeout(endpoint.request_timeout())
        .publish_timeout(publishing * KEEP_ALIVE_COUNT + endpoint.request_timeout())
        .min_publish_interval(publishing.min(Duration::from_millis(100)))
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .max_failed_keep_alive_count(MAX_FAILED_KEEP_ALIVES)
        .session_timeout(SESSION_TIMEOUT_MS)
        .max_array_length(MAX_ARRAY_LENGTH)
        .max_message_size(MAX_MESSAGE_SIZE)
        .max_chunk_count(MAX_CHUNK_COUNT)
}

fn identity(endpoint: &OpcUaEndpoint) -> Result<IdentityToken, ConnectError> {
    let Identity::Username {
        user,
        password_file,
        password_env,
    } = &endpoint.identity
    else {
        return Ok(IdentityToken::Anonymous);
    };
    let password =
        read_password(password_file.as_deref(), password_env.as_deref()).map_err(|error| {
            ConnectError::Password {
                endpoint: endpoint.name.clone(),
                user: user.clone(),
                origin: error.origin,
                reason: error.reason,
            }
        })?;
    Ok(IdentityToken::UserName(
        user.clone(),
        Password::new(password),
    ))
}

/// The server endpoint with the configured security and a user token for
/// `identity`, at the configured host and port (servers often advertise a
/// host name the gateway cannot reach).
fn choose(
    endpoint: &OpcUaEndpoint,
    identity: &IdentityToken,
    offered: &[EndpointDescription],
) -> Result<EndpointDescription, ConnectError> {
    let policy = endpoint.security_policy.stack();
    let mode = endpoint.security_mode.stack();
    let token = match identity {
        IdentityToken::UserName(..) => UserTokenType::UserName,
        _ => UserTokenType::Anonymous,
    };
    let found = offered.iter().find(|candidate| {
        candidate.security_mode == mode
            && candidate.security_policy_uri.as_ref() == policy.to_uri()
            && tokens(candidate).contains(&token)
    });
    let Some(found) = found else {
        let offered: Vec<String> = offered.iter().map(describe).collect();
        return Err(ConnectError::NoMatchingEndpoint {
            endpoint: endpoint.name.clone(),
            url: endpoint.url.clone(),
            wanted: format!(
                "security {}/{} and {} users",
                endpoint.security_policy.name(),
                endpoint.security_mode.name(),
                token_name(token)
            ),
            offered: if offered.is_empty() {
                "nothing".to_owned()
            } else {
                offered.join(", ")
            },
        });
    };
    let mut chosen = found.clone();
    chosen.endpoint_url = reachable_url(&endpoint.url, chosen.endpoint_url.as_ref()).into();
    Ok(chosen)
}

/// The user token types an endpoint takes; none listed means anonymous.
fn tokens(endpoint: &EndpointDescription) -> Vec<UserTokenType> {
    match &endpoint.user_identity_tokens {
        Some(policies) if !policies.is_empty() => {
            policies.iter().map(|policy| policy.token_type).collect()
        }
        _ => vec![UserTokenType::Anonymous],
    }
}

fn token_name(token: UserTokenType) -> &'static str {
    match token {
        UserTokenType::Anonymous => "anonymous",
        UserTokenType::UserName => "username",
        UserTokenType::Certificate => "certificate",
        UserTokenType::IssuedToken => "issued-token",
    }
}

/// `Basic256Sha256/SignAndEncrypt (username)`.
fn describe(endpoint: &EndpointDescription) -> String {
    let policy = endpoint
        .security_policy_uri
        .as_ref()
        .rsplit('#')
        .next()
        .unwrap_or_default()
        .to_owned();
    let tokens: Vec<&str> = tokens(endpoint).into_iter().map(token_name).collect();
    format!(
        "{policy}/{:?} ({})",
        endpoint.security_mode,
        tokens.join(", ")
    )
}

/// The advertised URL's path at the configured host and port.
fn reachable_url(configured: &str, advertised: &str) -> String {
    let split = |url: &str| -> (String, String) {
        let rest = url.strip_prefix(SCHEME).unwrap_or(url);
        match rest.find('/') {
            Some(at) => (rest[..at].to_owned(), rest[at..].to_owned()),
            None => (rest.to_owned(), String::new()),
        }
    };
    let (authority, _) = split(configured);
    let (_, path) = split(advertised);
    format!("{SCHEME}{authority}{path}")
}

/// What a failed session opening means, in the gateway's terms.
fn refusal(
    endpoint: &OpcUaEndpoint,
    status: Status,
    certificate: Option<ServerCertificate>,
) -> ConnectError {
    let name = endpoint.name.clone();
    let code = StatusCode::from(status.0 & 0xFFFF_0000);
    let certificate_name = certificate
        .as_ref()
        .map_or_else(|| "unreadable".to_owned(), |cert| cert.file_name.clone());
    let untrusted = [
        StatusCode::BadCertificateUntrusted,
        StatusCode::BadSecurityChecksFailed,
    ];
    let time = [
        StatusCode::BadCertificateTimeInvalid,
        StatusCode::BadCertificateIssuerTimeInvalid,
    ];
    let refused = [
        StatusCode::BadCertificateInvalid,
        StatusCode::BadCertificateHostNameInvalid,
        StatusCode::BadCertificateUriInvalid,
        StatusCode::BadCertificateUseNotAllowed,
        StatusCode::BadCertificateRevoked,
    ];
    let identity = [
        StatusCode::BadUserAccessDenied,
        StatusCode::BadIdentityTokenInvalid,
        StatusCode::BadIdentityTokenRejected,
        StatusCode::BadUserSignatureInvalid,
    ];
    if untrusted.contains(&code)
        && let Some(rejected) = certificate
            .as_ref()
            .map(|cert| cert.rejected_path(&endpoint.pki_dir))
            .filter(|path| path.exists())
    {
        return ConnectError::UntrustedServer {
            endpoint: name,
            certificate: certificate_name,
            trusted: endpoint
                .pki_dir
                .join(pki::TRUSTED_DIR)
                .display()
                .to_string(),
            rejected: rejected.display().to_string(),
        };
    }
    if untrusted.contains(&code) {
        // Nothing was refused here, so the server refused the gateway.
        return ConnectError::GatewayUntrusted {
            endpoint: name,
            certificate: endpoint
                .pki_dir
                .join(pki::OWN_CERTIFICATE)
                .display()
                .to_string(),
            status,
        };
    }
    if time.contains(&code) {
        let (not_before, not_after) = certificate.map_or_else(
            || ("unknown".to_owned(), "unknown".to_owned()),
            |cert| (cert.not_before, cert.not_after),
        );
        return ConnectError::CertificateTime {
            endpoint: name,
            certificate: certificate_name,
            not_before,
            not_after,
            status,
        };
    }
    if refused.contains(&code) {
        return ConnectError::CertificateRefused {
            endpoint: name,
            certificate: certificate_name,
            status,
        };
    }
    if identity.contains(&code) {
        let user = match &endpoint.identity {
            Identity::Anonymous => "anonymous access".to_owned(),
            Identity::Username { user, .. } => format!("user `{user}`"),
        };
        return ConnectError::IdentityRejected {
            endpoint: name,
            user,
            status,
        };
    }
    if status.breaks_connection() {
        return ConnectError::Unreachable {
            endpoint: name,
            url: endpoint.url.clone(),
            status,
        };
    }
    ConnectError::Refused {
        endpoint: name,
        status,
    }
}

async fn read_namespaces(session: &Session) -> Result<Namespaces, Status> {
    let read = value_of(VariableId::Server_NamespaceArray.into());
    let answer = session
        .read(&[read], TimestampsToReturn::Neither, 0.0)
        .await
        .map_err(|error| Status::from(error.status()))?;
    let Some(Variant::Array(array)) = answer.first().and_then(|data| data.value.as_ref()) else {
        return Err(StatusCode::BadTypeMismatch.into());
    };
    let uris = array
        .values
        .iter()
        .map(|uri| match uri {
            Variant::String(text) => text.as_ref().to_owned(),
            _ => String::new(),
        })
        .collect();
    Ok(Namespaces::new(uris))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_host_replaces_the_advertised_one() {
        assert_eq!(
            reachable_url(
                "opc.tcp://10.0.4.30:4840",
                "opc.tcp://plc-7.local:4840/ua/server"
            ),
            "opc.tcp://10.0.4.30:4840/ua/server"
        );
        assert_eq!(
            reachable_url("opc.tcp://10.0.4.30:4840/", "opc.tcp://0.0.0.0:4840"),
            "opc.tcp://10.0.4.30:4840"
        );
    }

    #[test]
    fn statuses_show_their_name_and_bits() {
        let status = Status::from(StatusCode::BadUserAccessDenied);
        assert_eq!(status.to_string(), "BadUserAccessDenied (0x801F0000)");
        assert!(Status::from(StatusCode::BadConnectionClosed).breaks_connection());
        assert!(!status.breaks_connection());
    }
}
