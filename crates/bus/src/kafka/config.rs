//! How to reach a Kafka cluster: `[bus.kafka]` ([`KafkaConfig`]).
//!
//! The settings Flowline needs have keys of their own and are checked
//! when the configuration loads; anything else librdkafka understands
//! goes through `properties` unchanged. The properties that Flowline's
//! guarantees rest on (idempotence, `acks`, `isolation.level`, who commits
//! offsets, transactional ids) are set by the bus and refused there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::error::BusError;

/// Properties the bus sets itself, because exactly-once and read-committed
/// depend on them; `properties` may not name them.
const OWNED_PROPERTIES: [&str; 16] = [
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "transactional.id",
    "isolation.level",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "partitioner",
];

/// Where the Kafka brokers are and how to log in to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// The brokers to ask first, as `host:port` separated by commas:
    /// `kafka-0.kafka:9092,kafka-1.kafka:9092`. The default is
    /// `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// How the connection is protected. The default is
    /// [`SecurityProtocol::Plaintext`].
    pub security_protocol: SecurityProtocol,
    /// CA certificate (PEM) that signed the brokers' certificates, for
    /// `ssl` and `sasl_ssl`; empty uses the system's trust store. The
    /// default is empty.
    pub ssl_ca_location: PathBuf,
    /// This client's certificate (PEM), for brokers that ask for one
    /// (mutual TLS); empty sends none. The default is empty.
    pub ssl_certificate_location: PathBuf,
    /// The private key (PEM) of `ssl_certificate_location`; set both or
    /// neither. The default is empty.
    pub ssl_key_location: PathBuf,
    /// The SASL mechanism, for `sasl_plaintext` and `sasl_ssl`. The
    /// default is [`SaslMechanism::ScramSha512`].
    pub sasl_mechanism: SaslMechanism,
    /// The SASL user, for `sasl_plaintext` and `sasl_ssl`. The default is
    /// empty.
    pub sasl_username: String,
    /// A file holding the SASL password (one trailing line break is not
    /// part of it); exactly one of this and `sasl_password_env` with SASL.
    /// The default is empty.
    pub sasl_password_file: PathBuf,
    /// An environment variable holding the SASL password. The default is
    /// empty.
    pub sasl_password_env: String,
    /// Whether the bus creates missing topics on start, with the
    /// partitions and retention of `[bus]` and `[bus.topics.*]`. Existing
    /// topics are never changed; a topic whose partition count differs
    /// from the configuration is an error. The default is `true`.
    pub create_topics: bool,
    /// Replicas of each topic the bus creates; 0 leaves it to the
    /// brokers' `default.replication.factor`. The default is 0.
    pub replication_factor: u16,
    /// Longest wait for a broker's answer to a metadata, offset or
    /// transaction request, in milliseconds. The default is 30,000.
    pub request_timeout_ms: u64,
    /// Longest a transaction may stay open before the brokers abort it
    /// (`transaction.timeout.ms`), in milliseconds. The default is 60,000.
    pub transaction_timeout_ms: u64,
    /// How often librdkafka reports its statistics (queue depths, broker
    /// round trips) for the metrics, in milliseconds. The default is
    /// 1,000.
    pub statistics_interval_ms: u64,
    /// Further librdkafka properties, passed through unchanged, such as
    /// `"ssl.endpoint.identification.algorithm" = "none"` or
    /// `"compression.type" = "lz4"`. The properties the bus sets itself
    /// are refused here. The default is none.
    pub properties: BTreeMap<String, String>,
}

/// How connections to the brokers are protected: librdkafka's
/// `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No encryption, no login. The default.
    #[default]
    Plaintext,
    /// TLS, no login (or a client certificate).
    Ssl,
    /// SASL login without encryption.
    SaslPlaintext,
    /// SASL login over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's name for it.
    fn property(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether it logs in with SASL.
    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// How a SASL login proves the password: librdkafka's `sasl.mechanism`.
///
/// LIMITATION: GSSAPI (Kerberos) and OAUTHBEARER are not offered; the
/// librdkafka Flowline links is built without Cyrus SASL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// The password itself, sent to the broker: only over TLS.
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256: the password is never sent.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512. The default.
    #[default]
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's name for it.
    fn property(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            security_protocol: SecurityProtocol::Plaintext,
            ssl_ca_location: PathBuf::new(),
            ssl_certificate_location: PathBuf::new(),
            ssl_key_location: PathBuf::new(),
            sasl_mechanism: SaslMechanism::ScramSha512,
            sasl_username: String::new(),
            sasl_password_file: PathBuf::new(),
            sasl_password_env: String::new(),
            create_topics: true,
            replication_factor: 0,
            request_timeout_ms: 30_000,
            transaction_timeout_ms: 60_000,
            statistics_interval_ms: 1000,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// Checks that the values can work together, without reaching a
    /// broker or reading the password; the error names the key under
    /// `kafka.`.
    pub fn validate(&self) -> Result<(), BusError> {
        self.validate_servers()?;
        for (key, value) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("transaction_timeout_ms", self.transaction_timeout_ms),
            ("statistics_interval_ms", self.statistics_interval_ms),
        ] {
            if !(1..=i32::MAX as u64).contains(&value) {
                return Err(BusError::config(
                    format!("kafka.{key}"),
                    format!("expected 1 to {} milliseconds, found {value}", i32::MAX),
                ));
            }
        }
        let (certificate, key) = (
            is_set(&self.ssl_certificate_location),
            is_set(&self.ssl_key_location),
        );
        if certificate != key {
            return Err(BusError::config(
                "kafka.ssl_key_location",
                "expected ssl_certificate_location and ssl_key_location both set or both empty"
                    .to_owned(),
            ));
        }
        if self.security_protocol.uses_sasl() {
            self.validate_sasl()?;
        }
        for key in self.properties.keys() {
            if OWNED_PROPERTIES.contains(&key.as_str()) {
                return Err(BusError::config(
                    format!("kafka.properties.{key}"),
                    "set by the bus itself (exactly-once and read-committed depend on it); \
                     use the key of [bus.kafka] for it, if there is one"
                        .to_owned(),
                ));
            }
        }
        // librdkafka checks names and values of everything passed through.
        self.client_config(None)?
            .create_native_config()
            .map_err(|error| property_error(&error.to_string(), &self.properties))?;
        Ok(())
    }

    /// Checks `bootstrap_servers`.
    fn validate_servers(&self) -> Result<(), BusError> {
        let bad = self.bootstrap_servers.split(',').find(|server| {
            let server = server.trim();
            let port = server
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            !matches!(port, Some((host, Ok(port))) if !host.is_empty() && port > 0)
        });
        match bad {
            None => Ok(()),
            Some(server) => Err(BusError::config(
                "kafka.bootstrap_servers",
                format!(
                    "expected host:port[,host:port...], found {server:?} in {:?}",
                    self.bootstrap_servers
                ),
            )),
        }
    }

    /// Checks the SASL login settings.
    fn validate_sasl(&self) -> Result<(), BusError> {
        if self.sasl_username.is_empty() {
            return Err(BusError::config(
                "kafka.sasl_username",
                format!(
                    "expected a user with security_protocol = \"{}\", found none",
                    self.security_protocol.property()
                ),
            ));
        }
        let (file, variable) = (
            is_set(&self.sasl_password_file),
            !self.sasl_password_env.is_empty(),
        );
        if file == variable {
            return Err(BusError::config(
                "kafka.sasl_password_file",
                "expected exactly one of sasl_password_file and sasl_password_env".to_owned(),
            ));
        }
        if self.sasl_mechanism == SaslMechanism::Plain
            && self.security_protocol == SecurityProtocol::SaslPlaintext
        {
            return Err(BusError::config(
                "kafka.sasl_mechanism",
                "PLAIN sends the password itself: expected security_protocol = \"sasl_ssl\" \
                 with it, found \"sasl_plaintext\""
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The client settings every producer, consumer and admin client of
    /// the bus starts from: servers, security, timeouts, statistics and
    /// `properties`. With `password`, the SASL password is set too.
    pub(crate) fn client_config(&self, password: Option<&str>) -> Result<ClientConfig, BusError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("security.protocol", self.security_protocol.property())
            .set("socket.timeout.ms", self.request_timeout_ms.to_string())
            .set(
                "statistics.interval.ms",
                self.statistics_interval_ms.to_string(),
            );
        for (key, path) in [
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ] {
            if is_set(path) {
                config.set(key, path_text(key, path)?);
            }
        }
        if self.security_protocol.uses_sasl() {
            config
                .set("sasl.mechanism", self.sasl_mechanism.property())
                .set("sasl.username", &self.sasl_username);
            if let Some(password) = password {
                config.set("sasl.password", password);
            }
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        Ok(config)
    }

    /// Reads the SASL password when the protocol logs in with SASL.
    pub(crate) fn password(&self) -> Result<Option<String>, BusError> {
        if !self.security_protocol.uses_sasl() {
            return Ok(None);
        }
        let file = is_set(&self.sasl_password_file).then_some(self.sasl_password_file.as_path());
        let variable = (!self.sasl_password_env.is_empty()).then_some(&*self.sasl_password_env);
        let key = if variable.is_some() {
            "kafka.sasl_password_env"
        } else {
            "kafka.sasl_password_file"
        };
        flowline_core::secret::read_password(file, variable)
            .map(Some)
            .map_err(|error| BusError::config(key, error.to_string()))
    }
}

/// Whether a path setting is set (not empty).
fn is_set(path: &Path) -> bool {
    !path.as_os_str().is_empty()
}

/// A path as librdkafka takes it: UTF-8 text.
fn path_text<'a>(key: &str, path: &'a Path) -> Result<&'a str, BusError> {
    path.to_str().ok_or_else(|| {
        let name = key.replace('.', "_");
        BusError::config(
            format!("kafka.{name}"),
            format!("expected a path in UTF-8, found {}", path.display()),
        )
    })
}

/// The configuration error for a librdkafka message about a property: it
/// names the key of `properties` the message mentions, if any.
fn property_error(message: &str, properties: &BTreeMap<String, String>) -> BusError {
    let key = properties
        .keys()
        .find(|key| message.contains(key.as_str()))
        .map_or_else(
            || "kafka".to_owned(),
            |key| format!("kafka.properties.{key}"),
        );
    BusError::config(key, format!("librdkafka refused it: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_reach_a_local_broker_in_plaintext() {
        let config = KafkaConfig::default();
        config.validate().unwrap();
        let client = config.client_config(None).unwrap();
        assert_eq!(client.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(client.get("security.protocol"), Some("plaintext"));
        assert_eq!(client.get("sasl.username"), None);
        assert_eq!(config.password().unwrap(), None);
    }

    #[test]
    fn tls_and_sasl_settings_pass_through_with_the_password_from_its_file() {
        let directory = tempfile::tempdir().unwrap();
        let password_file = directory.path().join("kafka-password");
        std::fs::write(&password_file, "s3cret\n").unwrap();
        let config: KafkaConfig = toml::from_str(&format!(
            "bootstrap_servers = \"k1:9093,k2:9093\"\nsecurity_protocol = \"sasl_ssl\"\n\
             ssl_ca_location = \"/etc/flowline/ca.pem\"\nsasl_mechanism = \"SCRAM-SHA-256\"\n\
             sasl_username = \"flowline\"\nsasl_password_file = {:?}\n\
             [properties]\n\"compression.type\" = \"lz4\"\n",
            password_file.display().to_string()
        ))
        .unwrap();
        config.validate().unwrap();
        let password = config.password().unwrap();
        assert_eq!(password.as_deref(), Some("s3cret"));
        let client = config.client_config(password.as_deref()).unwrap();
        for (key, value) in [
            ("bootstrap.servers", "k1:9093,k2:9093"),
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", "/etc/flowline/ca.pem"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "flowline"),
            ("sasl.password", "s3cret"),
            ("compression.type", "lz4"),
        ] {
            assert_eq!(client.get(key), Some(value), "{key}");
        }
    }

    #[test]
    fn bad_settings_are_refused_by_key() {
        let cases: [(&str, &str); 7] = [
            (
                "bootstrap_servers = \"k1:9092,k2\"",
                "invalid bus configuration: kafka.bootstrap_servers: expected \
                 host:port[,host:port...], found \"k2\" in \"k1:9092,k2\"",
            ),
            (
                "request_timeout_ms = 0",
                "invalid bus configuration: kafka.request_timeout_ms: expected 1 to 2147483647 \
                 milliseconds, found 0",
            ),
            (
                "ssl_certificate_location = \"client.pem\"",
                "invalid bus configuration: kafka.ssl_key_location: expected \
                 ssl_certificate_location and ssl_key_location both set or both empty",
            ),
            (
                "security_protocol = \"sasl_ssl\"",
                "invalid bus configuration: kafka.sasl_username: expected a user with \
                 security_protocol = \"sasl_ssl\", found none",
            ),
            (
                "security_protocol = \"sasl_plaintext\"\nsasl_username = \"u\"\n\
                 sasl_password_env = \"P\"\nsasl_password_file = \"p\"",
                "invalid bus configuration: kafka.sasl_password_file: expected exactly one of \
                 sasl_password_file and sasl_password_env",
            ),
            (
                "[properties]\n\"isolation.level\" = \"read_uncommitted\"",
                "invalid bus configuration: kafka.properties.isolation.level: set by the bus \
                 itself (exactly-once and read-committed depend on it); use the key of \
                 [bus.kafka] for it, if there is one",
            ),
            (
                "[properties]\n\"compression.type\" = \"brotli\"",
                "invalid bus configuration: kafka.properties.compression.type: librdkafka \
                 refused it: ",
            ),
        ];
        for (text, expected) in cases {
            let config: KafkaConfig = toml::from_str(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }

    #[test]
    fn a_missing_password_names_where_it_was_looked_for() {
        let config = KafkaConfig {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_username: "flowline".to_owned(),
            sasl_password_env: "FLOWLINE_TEST_NO_SUCH_KAFKA_PASSWORD".to_owned(),
            ..KafkaConfig::default()
        };
        config.validate().unwrap();
        let error = config.password().unwrap_err().to_string();
        assert!(
            error.starts_with(
                "invalid bus configuration: kafka.sasl_password_env: cannot read the password \
                 from environment variable FLOWLINE_TEST_NO_SUCH_KAFKA_PASSWORD"
            ),
            "{error}"
        );
    }
}
