//! The admin endpoints every service serves on its admin port.
//!
//! - `GET /healthz`: 200 while the process can answer at all (liveness).
//! - `GET /readyz`: 200 when every component is ready, 503 otherwise, with
//!   a JSON body naming each component's state (readiness).
//! - `GET /metrics`: Prometheus text format.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Whether each component of the process is ready to do its work.
#[derive(Clone, Debug, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<&'static str, ComponentState>>>,
}

/// One component's readiness, as `/readyz` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ComponentState {
    /// Whether the component is ready.
    pub ready: bool,
    /// Why not, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    components: BTreeMap<&'static str, ComponentState>,
}

impl Health {
    /// Registers `name` as not ready yet, starting with `reason`.
    pub fn starting(&self, name: &'static str, reason: &str) {
        self.set(
            name,
            ComponentState {
                ready: false,
                reason: Some(reason.to_owned()),
            },
        );
    }

    /// Marks `name` ready.
    pub fn ready(&self, name: &'static str) {
        self.set(
            name,
            ComponentState {
                ready: true,
                reason: None,
            },
        );
    }

    /// Marks every component not ready: the process is stopping.
    pub fn stopping(&self) {
        let mut components = self.components.lock().expect("bug: health lock poisoned");
        for state in components.values_mut() {
            *state = ComponentState {
                ready: false,
                reason: Some("stopping".to_owned()),
            };
        }
    }

    fn set(&self, name: &'static str, state: ComponentState) {
        self.components
            .lock()
            .expect("bug: health lock poisoned")
            .insert(name, state);
    }

    fn readiness(&self) -> Readiness {
        let components = self
            .components
            .lock()
            .expect("bug: health lock poisoned")
            .clone();
        let ready = !components.is_empty() && components.values().all(|state| state.ready);
        Readiness { ready, components }
    }
}

#[derive(Clone)]
struct AdminState {
    health: Health,
    metrics: PrometheusHandle,
}

/// Serves the admin endpoints on `listener` until `shutdown` is cancelled,
/// then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    health: Health,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AdminState { health, metrics });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let readiness = state.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

async fn render_metrics(State(state): State<AdminState>) -> Response {
    state.metrics.run_upkeep();
    let body = state.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
