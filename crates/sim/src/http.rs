//! The simulator's HTTP API: fault injection and status, JSON in and out.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /status` | seed, start, time of the last step, steps, pads, wells, tags, faults |
//! | `GET /faults` | faults scheduled or active |
//! | `POST /faults` | injects a fault: `{"target": "north/pad-1/w-01", "kind": "gas-lock", "delay_s": 0, "duration_s": 600}`; `delay_s` (default 0) counts from the last step, `duration_s` (default: until cleared) |
//! | `DELETE /faults/{id}` | clears a fault |
//! | `GET /wells/{path}` | a well's readings and faults, such as `/wells/north/pad-1/w-01` |
//!
//! Errors are `{"error": "…"}` naming what was wrong: 400 for bad input,
//! 404 for an unknown well, tag or fault. The binary decides where to mount
//! the router (for example under `/sim`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use flowline_core::NodePath;
use serde::Deserialize;

use crate::error::FaultError;
use crate::fault::{FaultKind, FaultSpec, MAX_FAULT_TIME};
use crate::model::{FaultStatus, WellReport};
use crate::simulator::{Simulator, Status};

/// The body of `POST /faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    /// The well (process fault) or tag (sensor fault).
    target: NodePath,
    /// What goes wrong, such as `gas-lock` or `stuck`.
    kind: FaultKind,
    /// Seconds from the last step to the start; the default is 0.
    #[serde(default)]
    delay_s: f64,
    /// Seconds it lasts; until cleared when absent.
    duration_s: Option<f64>,
}

/// An error answer: a status and a message naming what was wrong.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    fn not_found(message: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<FaultError> for ApiError {
    fn from(error: FaultError) -> ApiError {
        let message = error.to_string();
        match error {
            FaultError::UnknownTarget(_) | FaultError::UnknownFault(_) => {
                ApiError::not_found(message)
            }
            FaultError::NotApplicable { .. } => ApiError::bad_request(message),
        }
    }
}

/// The simulator's HTTP API over `sim`.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/faults", get(list_faults).post(inject_fault))
        .route("/faults/{id}", delete(clear_fault))
        .route("/wells/{*path}", get(well))
        .with_state(sim)
}

async fn status(State(sim): State<Arc<Simulator>>) -> Json<Status> {
    Json(sim.status())
}

async fn list_faults(State(sim): State<Arc<Simulator>>) -> Json<Vec<FaultStatus>> {
    Json(sim.faults())
}

async fn inject_fault(
    State(sim): State<Arc<Simulator>>,
    body: Result<Json<FaultRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<FaultStatus>), ApiError> {
    let Json(request) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let spec = FaultSpec {
        target: request.target,
        kind: request.kind,
        offset: seconds("delay_s", request.delay_s, true)?,
        duration: request
            .duration_s
            .map(|duration| seconds("duration_s", duration, false))
            .transpose()?,
    };
    let status = sim.inject(&spec)?;
    Ok((StatusCode::CREATED, Json(status)))
}

async fn clear_fault(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Result<Json<FaultStatus>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("fault id `{id}` is not a whole number")))?;
    Ok(Json(sim.clear(id)?))
}

async fn well(
    State(sim): State<Arc<Simulator>>,
    Path(path): Path<String>,
) -> Result<Json<WellReport>, ApiError> {
    sim.well_report(&path)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no well `{path}` in the simulated field")))
}

/// A number of seconds from JSON as a duration: finite, not negative (nor
/// zero unless `zero_allowed`), at most [`MAX_FAULT_TIME`].
fn seconds(key: &str, value: f64, zero_allowed: bool) -> Result<Duration, ApiError> {
    let most = MAX_FAULT_TIME.as_secs_f64();
    let fits = value.is_finite() && value <= most && (value > 0.0 || zero_allowed && value == 0.0);
    if !fits {
        let lowest = if zero_allowed { "0" } else { "more than 0" };
        return Err(ApiError::bad_request(format!(
            "`{key}` must be {lowest} to {most} seconds, found {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}
