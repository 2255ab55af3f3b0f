//! The simulator's OPC UA server.
//!
//! Serves the simulated field as a SCADA server would: the asset tree
//! under the Objects folder, one variable per tag with its unit and ranges
//! as properties (node ids are catalog paths, `nodes.rs` shows the
//! layout), values refreshed in bulk after every step and pushed to
//! subscriptions, and setpoint writes that go through [`Simulator::write`]
//! and so change the physics. Security is described with [`OpcUaConfig`]:
//! an endpoint without security for anonymous demo use, and a
//! Basic256Sha256 signed-and-encrypted endpoint for users with passwords,
//! with a self-signed certificate made on first start (`pki.rs`).
//!
//! ```no_run
//! # async fn example() -> Result<(), flowline_sim::SimError> {
//! use std::sync::Arc;
//! use flowline_catalog::{DemoLayout, demo_field};
//! use flowline_core::Timestamp;
//! use flowline_sim::{OpcUaConfig, OpcUaServer, SimConfig, Simulator};
//!
//! let document = demo_field(DemoLayout::default());
//! let sim = Arc::new(Simulator::new(&document, SimConfig::default(), Timestamp::now())?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4840").await.expect("port free");
//! let config = OpcUaConfig { pki_dir: "pki/sim-opcua".into(), ..OpcUaConfig::default() };
//! let server = OpcUaServer::new(Arc::clone(&sim), &document, &config, listener)?;
//! println!("serving {}", server.url());
//! server.serve(tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```
//!
//! LIMITATION: no history read, events, alarms and conditions, or methods;
//! values are served live only.
//!
//! LIMITATION: the address space is the stack's in-memory one, which keeps
//! every node and both ends of every reference: about 9 KB per tag (its
//! variable and three properties), some 460 MB for 51,200 tags.

mod auth;
mod config;
mod events;
mod manager;
mod nodes;
mod pki;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use flowline_catalog::Document;
use flowline_core::secret::read_password;
use opcua::crypto::SecurityPolicy;
use opcua::server::address_space::add_namespaces;
use opcua::server::node_manager::memory::{InMemoryNodeManager, InMemoryNodeManagerBuilder};
use opcua::server::{Server, ServerBuilder, ServerEndpoint, ServerHandle};
use opcua::types::{BuildInfo, DateTime, MessageSecurityMode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{OpcUaError, SimError};
use crate::simulator::Simulator;
use auth::{Authenticator, User};
use manager::SimNodeManager;
use nodes::Plan;

pub use config::{OpcUaConfig, OpcUaUser};

/// The namespace of the simulator's nodes: a tag's binding is
/// `nsu=urn:flowline:sim;s=PATH`.
pub const NAMESPACE_URI: &str = "urn:flowline:sim";
/// The application URI the server presents and writes into its
/// certificate.
pub const APPLICATION_URI: &str = "urn:flowline:field-simulator";
/// The application name the server presents; also its certificate's
/// common name.
pub const APPLICATION_NAME: &str = "Flowline field simulator";
/// The product the server says it is.
const PRODUCT_URI: &str = "urn:flowline";

/// The path of both endpoints: they differ by security only.
const ENDPOINT_PATH: &str = "/";
/// Largest message, in bytes, either way: a subscription to every tag of
/// a 50,000-tag field sends one notification of about 2 MB per step.
const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Chunks of at most 64 KiB that make a message of [`MAX_MESSAGE_SIZE`].
const MAX_CHUNK_COUNT: usize = MAX_MESSAGE_SIZE / 65_535 + 1;
/// Longest array in a request or answer: room for a browse of a large
/// pad.
const MAX_ARRAY_LENGTH: usize = 200_000;
/// Browse paths one TranslateBrowsePathsToNodeIds request may carry: the
/// gateway's browse asks for three properties of many variables at once.
const MAX_BROWSE_PATHS_PER_REQUEST: usize = 3_000;
/// Most client sessions at once.
const MAX_SESSIONS: usize = 50;

/// The simulator's OPC UA server, built and bound, not yet serving.
pub struct OpcUaServer {
    /// What is served.
    sim: Arc<Simulator>,
    /// The stack's server, consumed by [`serve`](Self::serve).
    server: Server,
    /// Stops the stack's server.
    handle: ServerHandle,
    /// The simulator's namespace.
    manager: Arc<InMemoryNodeManager<SimNodeManager>>,
    /// Where it listens.
    listener: TcpListener,
    /// Its endpoint URL.
    url: String,
    /// Its endpoints, for the log: `none, basic256sha256/sign_and_encrypt`.
    endpoints: String,
    /// The number of tags served.
    tags: usize,
    /// The number of users of the secure endpoint.
    users: usize,
}

impl OpcUaServer {
    /// Builds the server for `sim`, whose field `document` describes, as
    /// `config` says, to listen on `listener`: reads the users' passwords,
    /// makes or reads the certificate in `config.pki_dir`, and builds the
    /// address space. Every problem is reported here, before serving.
    pub fn new(
        sim: Arc<Simulator>,
        document: &Document,
        config: &OpcUaConfig,
        listener: TcpListener,
    ) -> Result<OpcUaServer, SimError> {
        if let Some((key, problem)) = config.problems().into_iter().next() {
            return Err(OpcUaError::Config { key, problem }.into());
        }
        if config.pki_dir.as_os_str().is_empty() {
            return Err(OpcUaError::Config {
                key: "pki_dir".to_owned(),
                problem: "expected a directory, found none".to_owned(),
            }
            .into());
        }
        let address = listener.local_addr().map_err(|error| OpcUaError::Server {
            address: "unknown".to_owned(),
            reason: error.to_string(),
        })?;
        let users = read_users(config)?;
        let plan = sim
            .with_model(|model| Plan::new(document, model))
            .map_err(OpcUaError::AddressSpace)?;
        pki::prepare(&config.pki_dir, &address.ip().to_string())?;

        let host = url_host(address.ip());
        let url = format!("opc.tcp://{host}:{}{ENDPOINT_PATH}", address.port());
        let mut endpoints = Vec::new();
        let mut builder = ServerBuilder::new()
            .application_name(APPLICATION_NAME)
            .application_uri(APPLICATION_URI)
            .product_uri(PRODUCT_URI)
            .build_info(build_info())
            .create_sample_keypair(false)
            .pki_dir(&config.pki_dir)
            .trust_client_certs(config.trust_unknown_clients)
            .check_cert_time(true)
            .host(host)
            .port(address.port())
            .discovery_urls(vec![url.clone()])
            .max_message_size(MAX_MESSAGE_SIZE)
            .max_chunk_count(MAX_CHUNK_COUNT)
            .max_array_length(MAX_ARRAY_LENGTH)
            .max_sessions(MAX_SESSIONS)
            .diagnostics_enabled(false);
        if config.security_none {
            endpoints.push("none");
            builder = builder.add_endpoint(
                "none",
                ServerEndpoint::new_none(ENDPOINT_PATH, &auth::token_ids(true)),
            );
        }
        if !users.is_empty() {
            endpoints.push("basic256sha256/sign_and_encrypt");
            builder = builder.add_endpoint(
                "basic256sha256",
                ServerEndpoint::new(
                    ENDPOINT_PATH,
                    SecurityPolicy::Basic256Sha256,
                    MessageSecurityMode::SignAndEncrypt,
                    &auth::token_ids(false),
                ),
            );
        }
        let limits = builder.limits_mut();
        limits.subscriptions.max_monitored_items_per_sub = 0;
        limits
            .operational
            .max_nodes_per_translate_browse_paths_to_node_ids = MAX_BROWSE_PATHS_PER_REQUEST;

        let user_count = users.len();
        let tags = plan.tag_count();
        let sampling_ms = sim.config().step_interval_ms as f64;
        let served = Arc::clone(&sim);
        let namespace = move |context, space: &mut _| {
            let index = add_namespaces(&context, space, &[NAMESPACE_URI])[0];
            let variables = plan.insert(space, index, sampling_ms);
            SimNodeManager::new(served, NAMESPACE_URI, index, variables)
        };
        let (server, handle) = builder
            .with_authenticator(Arc::new(Authenticator::new(users)))
            .with_node_manager(InMemoryNodeManagerBuilder::new(namespace))
            .build()
            .map_err(|reason| OpcUaError::Server {
                address: address.to_string(),
                reason,
            })?;
        let manager = handle
            .node_managers()
            .get_of_type::<InMemoryNodeManager<SimNodeManager>>()
            .expect("bug: the simulator's node manager was just added");
        Ok(OpcUaServer {
            sim,
            server,
            handle,
            manager,
            listener,
            url,
            endpoints: endpoints.join(", "),
            tags,
            users: user_count,
        })
    }

    /// The endpoint URL, such as `opc.tcp://127.0.0.1:4840/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Copies the field's current values into the address space and hands
    /// them to subscriptions, as [`serve`](Self::serve) does after every
    /// step; public so benchmarks can time it.
    pub fn refresh(&self) {
        let space = self.manager.address_space();
        let subscriptions = self.handle.subscriptions();
        self.manager.inner().refresh(space, subscriptions);
    }

    /// Serves until `cancel` is cancelled, refreshing values after every
    /// step of the simulator (the caller steps it, as [`run`](crate::run)
    /// does). Open sessions are closed on the way out.
    pub async fn serve(self, cancel: CancellationToken) -> Result<(), SimError> {
        self.refresh();
        events::listening(&self.url, &self.endpoints, self.tags, self.users);
        let (server, listener, handle) = (self.server, self.listener, self.handle);
        let address = listener
            .local_addr()
            .map_or_else(|_| "unknown".to_owned(), |address| address.to_string());

        let stop = cancel.child_token();
        let serving = async {
            let served = server.run_with(listener).await;
            stop.cancel();
            served.map_err(|reason| SimError::from(OpcUaError::Server { address, reason }))
        };
        let subscriptions = Arc::clone(handle.subscriptions());
        let refreshing = async {
            let refreshed =
                refresh_after_steps(&self.sim, self.manager, subscriptions, &stop).await;
            stop.cancel();
            refreshed
        };
        let stopping = async {
            stop.cancelled().await;
            handle.cancel();
        };
        let (served, refreshed, ()) = tokio::join!(serving, refreshing, stopping);
        events::stopped(&self.url);
        served.and(refreshed)
    }
}

/// Refreshes the address space after every step until `stop`. A refresh
/// runs on a blocking thread: at 50,000 tags it takes milliseconds.
async fn refresh_after_steps(
    sim: &Simulator,
    manager: Arc<InMemoryNodeManager<SimNodeManager>>,
    subscriptions: Arc<opcua::server::SubscriptionCache>,
    stop: &CancellationToken,
) -> Result<(), SimError> {
    let mut steps = sim.steps();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            changed = steps.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
        }
        let started = Instant::now();
        let manager = Arc::clone(&manager);
        let subscriptions = Arc::clone(&subscriptions);
        tokio::task::spawn_blocking(move || {
            manager
                .inner()
                .refresh(manager.address_space(), &subscriptions);
        })
        .await
        .map_err(|error| SimError::StepPanicked(format!("OPC UA refresh: {error}")))?;
        events::refreshed(started.elapsed());
    }
}

/// Reads every user's password.
fn read_users(config: &OpcUaConfig) -> Result<Vec<User>, OpcUaError> {
    config
        .users
        .iter()
        .map(|user| {
            let password =
                read_password(user.password_file.as_deref(), user.password_env.as_deref())
                    .map_err(|source| OpcUaError::Password {
                        user: user.user.clone(),
                        source,
                    })?;
            Ok(User::new(&user.user, &password))
        })
        .collect()
}

/// The host part of an endpoint URL for `ip`: IPv6 addresses in brackets.
///
/// LIMITATION: a server listening on a wildcard address (`0.0.0.0`)
/// advertises it as its host; clients connect to the host they were given
/// (Flowline's gateway and asyncua do), others may need a specific address.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// What the server says it is, in `Server/ServerStatus/BuildInfo`.
fn build_info() -> BuildInfo {
    BuildInfo {
        product_uri: PRODUCT_URI.into(),
        manufacturer_name: "Flowline".into(),
        product_name: APPLICATION_NAME.into(),
        software_version: env!("CARGO_PKG_VERSION").into(),
        build_number: env!("CARGO_PKG_VERSION").into(),
        build_date: DateTime::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_hosts_bracket_ipv6_addresses() {
        assert_eq!(url_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(url_host("::1".parse().unwrap()), "[::1]");
    }
}
