//! The Schema Registry client against a Confluent-compatible registry
//! nobody here wrote: rivven-schema (crates.io), which serves the
//! Confluent REST API with in-memory storage and needs no Kafka broker.
//! `.ci/run` installs it; elsewhere these tests say loudly that they did
//! not run, unless `CI=true`, where a missing registry fails them.
//!
//! LIMITATION: rivven-schema 0.0.22 does not serve `POST
//! /subjects/{subject}` (looking a schema up under a subject), so
//! `SchemaRegistry::lookup`, which `resolve_ids` uses for the older
//! versions of a schema (there are none yet), is checked against the
//! documented answers only (the unit tests of `registry.rs`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_schemas::registry::resolve_ids;
use flowline_schemas::{Codec, ConfluentRegistry, RegistryError, SchemaKind, SchemaRegistry};

/// The variable that names the registry binary, if not the default.
const REGISTRY_ENV: &str = "FLOWLINE_SCHEMA_REGISTRY";

/// Where `.ci/run` installs the binary.
fn default_binary() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/flowline/tools/bin/rivven-schema")
}

/// A rivven-schema process on a free port of 127.0.0.1, stopped when
/// dropped.
struct Rivven {
    /// The process.
    child: Child,
    /// Its base URL.
    url: String,
}

impl Rivven {
    /// Starts the registry, or, when its binary is missing, returns
    /// `None` after saying so (and fails under CI).
    fn start() -> Option<Rivven> {
        let binary = std::env::var_os(REGISTRY_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(default_binary);
        if !binary.is_file() {
            let message = format!(
                "rivven-schema is not installed (no {}; {REGISTRY_ENV} names another): the \
                 tests against a schema registry did not run; .ci/run installs it",
                binary.display()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("\n!!! SKIPPED: {message}\n");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let child = Command::new(&binary)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rivven-schema did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Rivven {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A client of it.
    fn client(&self) -> ConfluentRegistry {
        ConfluentRegistry::new(&self.url, Duration::from_secs(5)).unwrap()
    }
}

impl Drop for Rivven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` as JSON, to compare schemas whatever a registry does to their
/// white space.
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// The raw sample's schema with the tag as a string: incompatible with
/// every record already written.
fn incompatible_raw_sample() -> String {
    SchemaKind::RawSample.versions()[0].replacen("\"type\": \"long\"", "\"type\": \"string\"", 1)
}

#[tokio::test]
async fn every_schema_registers_once_and_its_id_gives_back_the_schema() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let registry = rivven.client();
    let ids = resolve_ids(&registry, "flowline.").await.unwrap();
    assert_eq!(ids.entries().len(), SchemaKind::ALL.len());

    for kind in SchemaKind::ALL {
        let id = ids.newest_id(kind);
        let schema = registry.schema(id).await.unwrap();
        assert_eq!(json(&schema), json(kind.versions()[0]), "{kind}, id {id}");
    }

    // Starting again (another service, a restart) gives the same ids.
    let again = resolve_ids(&rivven.client(), "flowline.").await.unwrap();
    assert_eq!(again, ids);
    // Another installation on the same registry has subjects of its own.
    let other = resolve_ids(&registry, "site-b.").await.unwrap();
    assert_eq!(other.entries().len(), SchemaKind::ALL.len());
}

#[tokio::test]
async fn records_carry_the_registrys_ids_and_decode_with_them() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let registry = rivven.client();
    // Something else registered first, so the registry's ids are not
    // those of embedded mode.
    registry
        .register("other-topic-value", r#"{"type": "string"}"#)
        .await
        .unwrap();
    let codec = Codec::new(resolve_ids(&registry, "flowline.").await.unwrap());
    let raw_id = codec.ids().newest_id(SchemaKind::RawSample);
    assert_ne!(
        raw_id,
        Codec::embedded().ids().newest_id(SchemaKind::RawSample)
    );

    let sample = Sample::new(
        TagId(9),
        Timestamp::from_seconds(1_800_000_000),
        Value::Float(3.5),
    );
    let mut bytes = Vec::new();
    codec.encode(&sample, &mut bytes);
    assert_eq!(bytes[..5], [&[0][..], &raw_id.to_be_bytes()].concat());
    assert_eq!(codec.decode::<Sample>(&bytes).unwrap(), sample);
}

/// A reading schema of the shape of Flowline's, without logical types
/// (see `the_registry_judges_a_change_and_the_client_reports_its_verdict`).
const READING_V1: &str = r#"{"type": "record", "name": "Reading", "fields": [
    {"name": "tag", "type": "long"},
    {"name": "value", "type": ["null", "double", "long", "boolean", "string"]}
]}"#;

/// Its second version with a field added: compatible with a default,
/// not without.
fn reading_v2(default: bool) -> String {
    let field = if default {
        r#"{"name": "unit", "type": ["null", "string"], "default": null}"#
    } else {
        r#"{"name": "unit", "type": "string"}"#
    };
    READING_V1.replacen("\n]}", &format!(",\n    {field}\n]}}"), 1)
}

/// The registry's verdicts, as the client reports them. A schema of
/// Flowline's own shape but without `timestamp-micros`, because
/// rivven-schema 0.0.22's checker does not know logical types and calls
/// every change to a schema holding one incompatible (it even refuses a
/// schema against itself); Confluent's and Karapace's checkers do know
/// them.
#[tokio::test]
async fn the_registry_judges_a_change_and_the_client_reports_its_verdict() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let registry = rivven.client();
    let subject = "flowline.raw-sensor-data-flowline.Reading";
    let v1 = registry.register(subject, READING_V1).await.unwrap();

    let compatible = registry
        .check_compatibility(subject, &reading_v2(true))
        .await
        .unwrap();
    assert!(compatible.is_compatible, "{compatible:?}");
    let incompatible = registry
        .check_compatibility(subject, &reading_v2(false))
        .await
        .unwrap();
    assert!(!incompatible.is_compatible);
    assert!(
        incompatible
            .messages
            .iter()
            .any(|message| message.contains("unit")),
        "the registry names the field: {incompatible:?}"
    );

    let v2 = registry.register(subject, &reading_v2(true)).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(registry.register(subject, READING_V1).await.unwrap(), v1);
}

#[tokio::test]
async fn an_incompatible_change_to_a_flowline_schema_is_refused_by_the_registry() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let registry = rivven.client();
    resolve_ids(&registry, "flowline.").await.unwrap();
    let subject = SchemaKind::RawSample.subject("flowline.");

    let error = registry
        .register(&subject, &incompatible_raw_sample())
        .await
        .unwrap_err();
    let RegistryError::Status {
        status, error_code, ..
    } = &error
    else {
        panic!("expected the registry's refusal, got {error}");
    };
    assert_eq!((*status, *error_code), (409, 409), "{error}");
    assert!(error.to_string().contains(&subject), "{error}");
}

#[tokio::test]
async fn what_was_learned_is_answered_from_the_cache_once_the_registry_is_gone() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let registry = rivven.client();
    let ids = resolve_ids(&registry, "flowline.").await.unwrap();
    let alert_id = ids.newest_id(SchemaKind::Alert);
    registry.schema(alert_id).await.unwrap();
    let url = rivven.url.clone();
    drop(rivven);

    assert_eq!(resolve_ids(&registry, "flowline.").await.unwrap(), ids);
    let schema = registry.schema(alert_id).await.unwrap();
    assert_eq!(json(&schema), json(SchemaKind::Alert.versions()[0]));

    let uncached = ids.newest_id(SchemaKind::DeadLetter);
    let error = registry.schema(uncached).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Transport { .. }),
        "expected a transport error, got {error}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "schema registry request GET {url}/schemas/ids/{uncached} failed"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn an_unknown_id_is_the_registrys_error_with_its_code() {
    let Some(rivven) = Rivven::start() else {
        return;
    };
    let error = rivven.client().schema(4242).await.unwrap_err();
    let RegistryError::Status {
        status, error_code, ..
    } = &error
    else {
        panic!("expected the registry's answer, got {error}");
    };
    assert_eq!((*status, *error_code), (404, 40403), "{error}");
}
