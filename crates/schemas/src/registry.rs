//! The Schema Registry of Kafka mode, through the Confluent REST API.
//!
//! In Kafka mode the schema ids in records are the registry's, so that
//! any Confluent-compatible consumer can decode Flowline's topics and
//! Flowline can check a schema change against what the registry holds.
//! At start a service calls [`resolve_ids`]: it registers the newest
//! version of every schema under its subject (an unchanged schema keeps
//! its id) and looks up the older versions, and the [`SchemaIds`] it
//! returns give the [`Codec`](crate::Codec) its ids.
//!
//! [`SchemaRegistry`] is what a service needs of a registry;
//! [`ConfluentRegistry`] speaks the Confluent API over HTTP and caches
//! what never changes (a schema's id under a subject, a schema by id).
//!
//! LIMITATION: no authentication and no client certificates; a registry
//! behind basic auth or mTLS needs the settings that come with the Kafka
//! backend's TLS and SASL configuration. Server certificates are checked
//! against the system's trust store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::error::RegistryError;
use crate::schema::{SchemaEntry, SchemaIds, SchemaKind};

/// The media type of the Confluent API, for requests and answers.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The Confluent error code for a subject that does not exist.
pub const SUBJECT_NOT_FOUND: u32 = 40401;

/// The Confluent error code for a schema not registered under a subject.
pub const SCHEMA_NOT_FOUND: u32 = 40403;

/// A schema as registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// Its version under the subject, from 1.
    pub version: u32,
    /// The registry-wide schema id.
    pub id: u32,
}

/// What a registry says of a schema against a subject's latest version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Compatibility {
    /// Whether readers of the new schema can read what the latest was
    /// used to write (or what the subject's compatibility level asks).
    pub is_compatible: bool,
    /// Why not, when the registry says (Confluent's `verbose` answer).
    #[serde(default)]
    pub messages: Vec<String>,
}

/// What a service asks of a schema registry.
pub trait SchemaRegistry: Send + Sync {
    /// Registers `schema` (an Avro schema's JSON text) under `subject`
    /// and returns its id; a schema already there keeps its id. Refused
    /// when incompatible with the subject's versions.
    fn register(
        &self,
        subject: &str,
        schema: &str,
    ) -> impl Future<Output = Result<u32, RegistryError>> + Send;

    /// The version and id of `schema` under `subject`, if registered
    /// there.
    fn lookup(
        &self,
        subject: &str,
        schema: &str,
    ) -> impl Future<Output = Result<Option<RegisteredSchema>, RegistryError>> + Send;

    /// The schema text with id `id`.
    fn schema(&self, id: u32) -> impl Future<Output = Result<Arc<str>, RegistryError>> + Send;

    /// Whether `schema` may follow the latest version under `subject`.
    fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> impl Future<Output = Result<Compatibility, RegistryError>> + Send;
}

/// Registers this build's schemas with `registry` under the topic prefix
/// `prefix` and returns their ids: the newest version of each schema is
/// registered (an unchanged one keeps its id); older versions are looked
/// up, so that records written with them can still be read, and left out
/// when the registry never had them.
pub async fn resolve_ids(
    registry: &impl SchemaRegistry,
    prefix: &str,
) -> Result<SchemaIds, RegistryError> {
    let mut entries = Vec::new();
    for kind in SchemaKind::ALL {
        let subject = kind.subject(prefix);
        for (index, text) in kind.versions().iter().enumerate() {
            let version = index as u32 + 1;
            let id = if version == kind.newest_version() {
                Some(registry.register(&subject, text).await?)
            } else {
                registry
                    .lookup(&subject, text)
                    .await?
                    .map(|registered| registered.id)
            };
            if let Some(id) = id {
                entries.push(SchemaEntry { kind, version, id });
            }
        }
    }
    Ok(SchemaIds::from_entries(entries)?)
}

/// A client of a registry that speaks the Confluent Schema Registry REST
/// API (Confluent's own, Karapace, Redpanda's, Apicurio's compatibility
/// API, rivven-schema). Caches ids by subject and schema, and schemas by
/// id, which a registry never changes.
#[derive(Debug)]
pub struct ConfluentRegistry {
    /// The HTTP client.
    client: reqwest::Client,
    /// The registry's base URL, such as `http://registry:8081/`.
    base: url::Url,
    /// What was learned and cannot change.
    cache: Mutex<Cache>,
}

/// What a [`ConfluentRegistry`] remembers.
#[derive(Debug, Default)]
struct Cache {
    /// Ids by subject and schema text.
    ids: HashMap<(String, String), u32>,
    /// Schema texts by id.
    schemas: HashMap<u32, Arc<str>>,
}

impl ConfluentRegistry {
    /// A client of the registry at `url`, each request given at most
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RegistryError> {
        let setup = |reason: String| RegistryError::Setup {
            url: url.to_owned(),
            reason,
        };
        let base = url::Url::parse(url).map_err(|error| setup(error.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(setup("expected an http:// or https:// URL".to_owned()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| setup(error.to_string()))?;
        Ok(ConfluentRegistry {
            client,
            base,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The URL of the API path `segments` under the base URL, each
    /// segment percent-encoded (subjects hold dots and dashes, and may
    /// hold more).
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("bug: the base URL was checked to be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Sends `request` to `url` and returns the body of a successful
    /// answer, or the registry's error.
    async fn send(
        &self,
        method: &'static str,
        url: url::Url,
        body: Option<String>,
    ) -> Result<Vec<u8>, RegistryError> {
        let request = match body {
            Some(body) => self
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(body),
            None => self.client.get(url.clone()),
        };
        let transport = |source| RegistryError::Transport {
            method,
            url: url.to_string(),
            source,
        };
        let response = request
            .header(reqwest::header::ACCEPT, CONTENT_TYPE)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() {
            Ok(body)
        } else {
            let (error_code, message) = parse_error(status.as_u16(), &body);
            Err(RegistryError::Status {
                method,
                url: url.to_string(),
                status: status.as_u16(),
                error_code,
                message,
            })
        }
    }

    /// The request body that carries `schema`.
    fn schema_body(schema: &str) -> String {
        serde_json::json!({ "schema": schema }).to_string()
    }
}

impl SchemaRegistry for ConfluentRegistry {
    async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(id) = self.cache.lock().expect("cache lock").ids.get(&key) {
            return Ok(*id);
        }
        let url = self.url(&["subjects", subject, "versions"]);
        let body = self
            .send("POST", url.clone(), Some(Self::schema_body(schema)))
            .await?;
        let id = parse_body::<IdAnswer>("POST", &url, &body)?.id;
        self.cache.lock().expect("cache lock").ids.insert(key, id);
        Ok(id)
    }

    async fn lookup(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Option<RegisteredSchema>, RegistryError> {
        let url = self.url(&["subjects", subject]);
        let answer = self
            .send("POST", url.clone(), Some(Self::schema_body(schema)))
            .await;
        let body = match answer {
            Ok(body) => body,
            Err(RegistryError::Status { error_code, .. })
                if error_code == SUBJECT_NOT_FOUND || error_code == SCHEMA_NOT_FOUND =>
            {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let registered = parse_body::<RegisteredSchema>("POST", &url, &body)?;
        self.cache
            .lock()
            .expect("cache lock")
            .ids
            .insert((subject.to_owned(), schema.to_owned()), registered.id);
        Ok(Some(registered))
    }

    async fn schema(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        if let Some(schema) = self.cache.lock().expect("cache lock").schemas.get(&id) {
            return Ok(Arc::clone(schema));
        }
        let url = self.url(&["schemas", "ids", &id.to_string()]);
        let body = self.send("GET", url.clone(), None).await?;
        let answer = parse_body::<SchemaAnswer>("GET", &url, &body)?;
        if let Some(kind) = answer.schema_type.filter(|kind| kind != "AVRO") {
            return Err(body_error(
                "GET",
                &url,
                format!("schema {id} is of type {kind}, not AVRO"),
                &body,
            ));
        }
        let schema: Arc<str> = answer.schema.into();
        self.cache
            .lock()
            .expect("cache lock")
            .schemas
            .insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Compatibility, RegistryError> {
        let mut url = self.url(&["compatibility", "subjects", subject, "versions", "latest"]);
        url.query_pairs_mut().append_pair("verbose", "true");
        let body = self
            .send("POST", url.clone(), Some(Self::schema_body(schema)))
            .await?;
        parse_body("POST", &url, &body)
    }
}

/// The answer to a registration: `{"id": 1}`.
#[derive(Debug, Deserialize)]
struct IdAnswer {
    /// The schema's id.
    id: u32,
}

/// The answer to a schema by id: `{"schema": "..."}`, with
/// `schemaType` when it is not Avro.
#[derive(Debug, Deserialize)]
struct SchemaAnswer {
    /// The schema's text.
    schema: String,
    /// `AVRO`, `PROTOBUF` or `JSON`; absent means Avro.
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

/// An error answer: `{"error_code": 40401, "message": "..."}`.
#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    /// The registry's error code.
    error_code: u32,
    /// Its message.
    message: String,
}

/// The body of a successful answer to `method` `url`, as `T`.
fn parse_body<T: for<'de> Deserialize<'de>>(
    method: &'static str,
    url: &url::Url,
    body: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|error| body_error(method, url, error.to_string(), body))
}

/// The error for an answer whose body is not as documented.
fn body_error(method: &'static str, url: &url::Url, reason: String, body: &[u8]) -> RegistryError {
    let text = String::from_utf8_lossy(body);
    let cut = text
        .char_indices()
        .nth(200)
        .map_or(text.as_ref(), |(at, _)| &text[..at]);
    RegistryError::Body {
        method,
        url: url.to_string(),
        reason,
        body: cut.to_owned(),
    }
}

/// The error code and message of an error answer with HTTP `status`; the
/// status and the body's text when it is not the documented JSON.
fn parse_error(status: u16, body: &[u8]) -> (u32, String) {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(answer) => (answer.error_code, answer.message),
        Err(_) => (
            u32::from(status),
            String::from_utf8_lossy(body).trim().to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> url::Url {
        url::Url::parse("http://127.0.0.1:8081/subjects/s/versions").unwrap()
    }

    /// Answers in the shapes the Confluent API reference documents.
    #[test]
    fn documented_answers_parse_into_their_fields() {
        let id: IdAnswer = parse_body("POST", &url(), br#"{"id":7}"#).unwrap();
        assert_eq!(id.id, 7);

        let registered: RegisteredSchema = parse_body(
            "POST",
            &url(),
            br#"{"subject":"t-value","id":3,"version":2,"schema":"\"string\""}"#,
        )
        .unwrap();
        assert_eq!(
            registered,
            RegisteredSchema {
                subject: "t-value".to_owned(),
                version: 2,
                id: 3
            }
        );

        let compatible: Compatibility =
            parse_body("POST", &url(), br#"{"is_compatible":true}"#).unwrap();
        assert!(compatible.is_compatible && compatible.messages.is_empty());
        let incompatible: Compatibility = parse_body(
            "POST",
            &url(),
            br#"{"is_compatible":false,"messages":["reader field x has no default"]}"#,
        )
        .unwrap();
        assert_eq!(incompatible.messages, ["reader field x has no default"]);
    }

    #[test]
    fn an_error_answer_gives_its_code_and_message_and_anything_else_its_status() {
        assert_eq!(
            parse_error(
                404,
                br#"{"error_code":40401,"message":"Subject 't' not found."}"#
            ),
            (40401, "Subject 't' not found.".to_owned())
        );
        assert_eq!(
            parse_error(502, b"<html>Bad Gateway</html>\n"),
            (502, "<html>Bad Gateway</html>".to_owned())
        );
    }

    #[test]
    fn an_answer_of_another_shape_is_an_error_quoting_the_body() {
        let error = parse_body::<IdAnswer>("POST", &url(), br#"{"identifier":7}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "schema registry answered POST http://127.0.0.1:8081/subjects/s/versions with an \
             unexpected body (missing field `id` at line 1 column 16): {\"identifier\":7}"
        );
    }

    #[test]
    fn subjects_are_percent_encoded_into_the_path_below_the_base() {
        let registry =
            ConfluentRegistry::new("http://127.0.0.1:8081/registry/", Duration::from_secs(1))
                .unwrap();
        assert_eq!(
            registry
                .url(&["subjects", "a b/c-flowline.RawSample", "versions"])
                .as_str(),
            "http://127.0.0.1:8081/registry/subjects/a%20b%2Fc-flowline.RawSample/versions"
        );
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        let error =
            ConfluentRegistry::new("kafka://broker:9092", Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot set up the schema registry client for `kafka://broker:9092`: expected an \
             http:// or https:// URL"
        );
    }
}
