//! The HTTP API over real TCP: faults listed, injected and cleared, a
//! well's readings, and JSON errors that say what was wrong.

use std::net::SocketAddr;
use std::sync::Arc;

use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{SimConfig, Simulator, router};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

fn start() -> Timestamp {
    Timestamp::from_seconds(START_S)
}

/// The API of a demo simulator with `faults` scheduled, on an ephemeral port.
struct Api {
    sim: Arc<Simulator>,
    address: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Api {
    async fn start(faults: &[&str]) -> Api {
        let config = SimConfig {
            faults: faults.iter().map(|text| text.parse().unwrap()).collect(),
            ..SimConfig::default()
        };
        let document = demo_field(DemoLayout::default());
        let sim = Arc::new(Simulator::new(&document, config, start()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let serving = axum::serve(listener, router(Arc::clone(&sim)))
            .with_graceful_shutdown(cancel.clone().cancelled_owned());
        let task = tokio::spawn(async move { serving.await });
        Api {
            sim,
            address,
            cancel,
            task,
        }
    }

    /// Sends one request and returns the status and the JSON body.
    async fn request(&self, method: &str, path: &str, body: &str) -> (u16, Json) {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let json = serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"));
        (status, json)
    }

    fn step_seconds(&self, seconds: i64) {
        self.sim
            .step(start().saturating_add_micros(seconds * 1_000_000));
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn faults_are_listed_injected_and_cleared() {
    let api = Api::start(&["north/pad-1/w-01:gas-lock@300s"]).await;
    let (status, listed) = api.request("GET", "/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["target"], "north/pad-1/w-01");
    assert_eq!(listed[0]["kind"], "gas-lock");
    assert_eq!(listed[0]["start"], "2026-01-01T00:05:00.000000Z");
    assert_eq!(listed[0]["active"], false);

    let body = json!({"target": "north/pad-1/w-04", "kind": "tubing-leak", "duration_s": 600});
    let (status, injected) = api.request("POST", "/faults", &body.to_string()).await;
    assert_eq!(status, 201, "{injected}");
    assert_eq!(injected["id"], 2);
    assert_eq!(injected["start"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(injected["end"], "2026-01-01T00:10:00.000000Z");

    api.step_seconds(1);
    let (_, listed) = api.request("GET", "/faults", "").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["active"], true);

    let (status, cleared) = api.request("DELETE", "/faults/2", "").await;
    assert_eq!((status, &cleared["kind"]), (200, &json!("tubing-leak")));
    let (status, error) = api.request("DELETE", "/faults/2", "").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "no scheduled or active fault with id 2");
    api.stop().await;
}

#[tokio::test]
async fn a_well_shows_its_readings_and_the_faults_of_its_tags() {
    let api = Api::start(&[]).await;
    let (status, well) = api.request("GET", "/wells/north/pad-1/w-01", "").await;
    assert_eq!(status, 200);
    assert_eq!(well["lift"], "esp");
    assert!(well["tags"]["esp/motor-current"]["value"].as_f64().unwrap() > 10.0);
    assert_eq!(well["tags"]["esp/running"]["value"], true);
    assert_eq!(well["tags"]["oil-rate"]["quality"], "Good");

    let body = json!({"target": "north/pad-1/w-01/oil-rate", "kind": "dropout"});
    assert_eq!(
        api.request("POST", "/faults", &body.to_string()).await.0,
        201
    );
    api.step_seconds(1);
    let (_, well) = api.request("GET", "/wells/north/pad-1/w-01", "").await;
    assert_eq!(well["tags"]["oil-rate"]["value"], Json::Null);
    assert_eq!(well["tags"]["oil-rate"]["quality"], "BadNoCommunication");
    assert_eq!(well["faults"][0]["kind"], "dropout");
    api.stop().await;
}

#[tokio::test]
async fn status_gives_the_size_of_the_field_and_the_time_of_the_last_step() {
    let api = Api::start(&[]).await;
    api.step_seconds(2);
    let (status, body) = api.request("GET", "/status", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["wells"], 12);
    assert_eq!(body["pads"], 3);
    assert_eq!(body["steps"], 1);
    assert_eq!(body["time"], "2026-01-01T00:00:02.000000Z");
    api.stop().await;
}

#[tokio::test]
async fn bad_requests_are_answered_with_json_naming_what_was_wrong() {
    let api = Api::start(&[]).await;
    let cases = [
        (
            "POST",
            "/faults",
            json!({"target": "north/pad-1/w-01", "kind": "melt"}).to_string(),
            400,
            "unknown variant `melt`",
        ),
        (
            "POST",
            "/faults",
            "{not json".to_owned(),
            400,
            "Failed to parse",
        ),
        (
            "POST",
            "/faults",
            json!({"target": "north/pad-1/w-02", "kind": "gas-lock"}).to_string(),
            400,
            "it needs an ESP well",
        ),
        (
            "POST",
            "/faults",
            json!({"target": "north/pad-1/w-01", "kind": "gas-lock", "delay_s": -1}).to_string(),
            400,
            "`delay_s` must be 0 to",
        ),
        (
            "POST",
            "/faults",
            json!({"target": "north/pad-1/w-01", "kind": "gas-lock", "duration_s": 0}).to_string(),
            400,
            "`duration_s` must be more than 0",
        ),
        (
            "POST",
            "/faults",
            json!({"target": "north/pad-7/w-01", "kind": "gas-lock"}).to_string(),
            404,
            "no well or tag `north/pad-7/w-01`",
        ),
        (
            "GET",
            "/wells/north/pad-1/w-99",
            String::new(),
            404,
            "no well `north/pad-1/w-99`",
        ),
        (
            "DELETE",
            "/faults/first",
            String::new(),
            400,
            "fault id `first` is not a whole number",
        ),
    ];
    for (method, path, body, expected_status, expected_message) in cases {
        let (status, answer) = api.request(method, path, &body).await;
        assert_eq!(status, expected_status, "{method} {path} {body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains(expected_message),
            "{method} {path}: {message}"
        );
    }
    assert!(api.sim.faults().is_empty(), "nothing was injected");
    api.stop().await;
}
