//! How the gateway reaches one OPC UA server: `[[gateway.opcua]]`.
//!
//! One [`OpcUaEndpoint`] names a server, says how to secure the channel and
//! who to log in as, where the certificates live, and how values are
//! acquired (subscriptions, or periodic reads). Every setting has a default
//! that works against a server with security None and anonymous access;
//! [`check_endpoints`] names every unusable setting by its key before the
//! gateway starts.

use std::path::PathBuf;
use std::time::Duration;

use opcua::crypto::SecurityPolicy as StackPolicy;
use opcua::types::MessageSecurityMode;
use serde::{Deserialize, Serialize};

/// The application URI the gateway presents to servers, and writes into
/// the certificate it makes for itself. Servers compare the two.
pub const APPLICATION_URI: &str = "urn:flowline:edge-gateway";

/// The application name the gateway presents to servers; also the common
/// name of its certificate.
pub const APPLICATION_NAME: &str = "Flowline edge gateway";

/// One OPC UA server the gateway reads and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpcUaEndpoint {
    /// The server's name, for logs, metrics and the `opcua_endpoint`
    /// attribute of tags. Required.
    pub name: String,
    /// Where it listens, such as `opc.tcp://10.0.4.30:4840`. A path, if the
    /// server has one, may be given or left out. Required.
    pub url: String,
    /// The security policy of the secure channel. The default is `none`.
    pub security_policy: SecurityPolicy,
    /// Whether messages are signed, or signed and encrypted. The default is
    /// `none`; any other mode needs a security policy other than `none`.
    pub security_mode: SecurityMode,
    /// Who the gateway logs in as. The default is anonymous.
    pub identity: Identity,
    /// The directory of certificates: the gateway's own (`own/cert.der`,
    /// `private/private.pem`, made on first use), the servers it trusts
    /// (`trusted/`, the trust list) and the servers it refused
    /// (`rejected/`). The default is `pki/opcua`, relative to the working
    /// directory.
    pub pki_dir: PathBuf,
    /// Whether a server whose certificate is not in the trust list is
    /// trusted anyway, and its certificate added to the list. The default
    /// is false: unknown servers are refused and their certificate is
    /// saved in `rejected/` for someone to review.
    pub trust_unknown_servers: bool,
    /// How values are acquired. The default is `subscribe`.
    pub acquisition: Acquisition,
    /// How often the server samples each value (`subscribe`), or the time
    /// between two reads (`poll`), in milliseconds. The default is 1,000.
    pub sampling_interval_ms: u64,
    /// How often the server sends the changes it sampled, in milliseconds
    /// (`subscribe` only). The default is 1,000.
    pub publishing_interval_ms: u64,
    /// Whether the tags' catalog deadbands are passed to the server as
    /// absolute deadband filters (`subscribe` only). The default is
    /// `absolute`.
    pub deadband: Deadband,
    /// Longest wait to connect, secure the channel and open a session, in
    /// milliseconds. The default is 5,000.
    pub connect_timeout_ms: u64,
    /// Longest wait for the answer to one request, in milliseconds. The
    /// default is 2,000.
    pub request_timeout_ms: u64,
    /// Longest wait between connection attempts to a server that is down,
    /// in milliseconds; attempts start at 100 ms and double. The default is
    /// 10,000.
    pub reconnect_max_ms: u64,
}

impl Default for OpcUaEndpoint {
    fn default() -> Self {
        OpcUaEndpoint {
            name: String::new(),
            url: String::new(),
            security_policy: SecurityPolicy::None,
            security_mode: SecurityMode::None,
            identity: Identity::Anonymous,
            pki_dir: PathBuf::from("pki/opcua"),
            trust_unknown_servers: false,
            acquisition: Acquisition::Subscribe,
            sampling_interval_ms: 1_000,
            publishing_interval_ms: 1_000,
            deadband: Deadband::Absolute,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 2_000,
            reconnect_max_ms: 10_000,
        }
    }
}

/// The security policies the gateway speaks. Older policies (Basic128Rsa15,
/// Basic256) are deprecated by the OPC Foundation and not offered.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityPolicy {
    /// No signatures, no encryption.
    #[default]
    None,
    /// RSA with SHA-256 and AES-256.
    Basic256Sha256,
}

/// What the secure channel protects.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    /// Nothing.
    #[default]
    None,
    /// Every message is signed.
    Sign,
    /// Every message is signed and encrypted.
    SignAndEncrypt,
}

/// Who the gateway logs in to the server as.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Identity {
    /// No user.
    #[default]
    Anonymous,
    /// A user name with a password. The password is never written in the
    /// configuration file: it is read, when connecting, from a file or from
    /// an environment variable (exactly one of the two).
    Username {
        /// The user name.
        user: String,
        /// A file holding the password; one trailing line break is ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_file: Option<PathBuf>,
        /// An environment variable holding the password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
    },
}

/// How the gateway gets values from the server.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acquisition {
    /// A subscription with one monitored item per tag: the server samples
    /// and sends changes. Falls back to `poll` when the server refuses
    /// subscriptions.
    #[default]
    Subscribe,
    /// A Read of every tag at each sampling interval.
    Poll,
}

/// Whether catalog deadbands become server-side filters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deadband {
    /// A tag's catalog deadband, in its unit, is an absolute deadband: the
    /// server reports a change only when it exceeds the deadband.
    #[default]
    Absolute,
    /// Every change is reported; catalog deadbands are ignored here.
    None,
}

impl SecurityPolicy {
    /// The policy as the OPC UA stack names it.
    pub(crate) fn stack(self) -> StackPolicy {
        match self {
            SecurityPolicy::None => StackPolicy::None,
            SecurityPolicy::Basic256Sha256 => StackPolicy::Basic256Sha256,
        }
    }
}

impl SecurityMode {
    /// The mode as the OPC UA stack names it.
    pub(crate) fn stack(self) -> MessageSecurityMode {
        match self {
            SecurityMode::None => MessageSecurityMode::None,
            SecurityMode::Sign => MessageSecurityMode::Sign,
            SecurityMode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
        }
    }
}

impl OpcUaEndpoint {
    /// An endpoint named `name` at `url`, with every other setting at its
    /// default.
    pub fn new(name: &str, url: &str) -> Self {
        OpcUaEndpoint {
            name: name.to_owned(),
            url: url.to_owned(),
            ..OpcUaEndpoint::default()
        }
    }

    /// Longest wait to connect.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Longest wait for one answer.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Every unusable setting of this endpoint, as (key, problem); `key`
    /// is where the endpoint sits in the configuration, such as
    /// `gateway.opcua[0]`.
    pub fn problems(&self, key: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut add = |field: &str, problem: String| {
            problems.push((format!("{key}.{field}"), problem));
        };

        if self.name.trim().is_empty() {
            add(
                "name",
                "expected a name for logs and metrics, found none".to_owned(),
            );
        }
        if let Err(problem) = check_url(&self.url) {
            add("url", problem);
        }
        match (self.security_policy, self.security_mode) {
            (SecurityPolicy::None, SecurityMode::None) => {}
            (SecurityPolicy::None, mode) => add(
                "security_mode",
                format!(
                    "expected none with security_policy none, found {}",
                    mode.name()
                ),
            ),
            (_, SecurityMode::None) => add(
                "security_mode",
                "expected sign or sign_and_encrypt with security_policy basic256sha256, \
                 found none"
                    .to_owned(),
            ),
            _ => {}
        }
        if let Identity::Username {
            user,
            password_file,
            password_env,
        } = &self.identity
        {
            if user.trim().is_empty() {
                add(
                    "identity.user",
                    "expected a user name, found none".to_owned(),
                );
            }
            if password_file.is_some() == password_env.is_some() {
                add(
                    "identity",
                    "expected exactly one of password_file and password_env".to_owned(),
                );
            }
        }
        if self.pki_dir.as_os_str().is_empty() {
            add("pki_dir", "expected a directory, found none".to_owned());
        }
        for (field, value) in [
            ("sampling_interval_ms", self.sampling_interval_ms),
            ("publishing_interval_ms", self.publishing_interval_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("reconnect_max_ms", self.reconnect_max_ms),
        ] {
            if value == 0 {
                add(field, "expected at least 1, found 0".to_owned());
            }
        }
        problems
    }
}

impl SecurityMode {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            SecurityMode::None => "none",
            SecurityMode::Sign => "sign",
            SecurityMode::SignAndEncrypt => "sign_and_encrypt",
        }
    }
}

impl SecurityPolicy {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            SecurityPolicy::None => "none",
            SecurityPolicy::Basic256Sha256 => "basic256sha256",
        }
    }
}

/// Every unusable setting of `endpoints`, listed under `key` (such as
/// `gateway.opcua`), as (key, problem): each endpoint's own problems, and
/// names used twice.
pub fn check_endpoints(endpoints: &[OpcUaEndpoint], key: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let entry = format!("{key}[{index}]");
        problems.extend(endpoint.problems(&entry));
        if names.contains(&endpoint.name.as_str()) {
            problems.push((
                format!("{entry}.name"),
                format!("name `{}` is used twice", endpoint.name),
            ));
        }
        names.push(&endpoint.name);
    }
    problems
}

/// The OPC UA binary scheme, the only transport the gateway speaks.
pub(crate) const SCHEME: &str = "opc.tcp://";

fn check_url(url: &str) -> Result<(), String> {
    let expected = "expected opc.tcp://HOST:PORT such as opc.tcp://10.0.4.30:4840";
    let Some(rest) = url.strip_prefix(SCHEME) else {
        return Err(format!("{expected}, found `{url}`"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let port = authority
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(port))) if !host.is_empty() && port != 0 => Ok(()),
        _ => Err(format!("{expected}, found `{url}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_need_only_a_name_and_a_url() {
        let endpoint = OpcUaEndpoint::new("plc-1", "opc.tcp://10.0.4.30:4840");
        assert!(endpoint.problems("gateway.opcua[0]").is_empty());
        let blank = OpcUaEndpoint::default().problems("gateway.opcua[0]");
        let keys: Vec<&str> = blank.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["gateway.opcua[0].name", "gateway.opcua[0].url"]);
    }

    #[test]
    fn every_problem_names_its_key_and_what_was_found() {
        let endpoint = OpcUaEndpoint {
            url: "http://10.0.4.30".to_owned(),
            security_mode: SecurityMode::Sign,
            identity: Identity::Username {
                user: "flowline".to_owned(),
                password_file: None,
                password_env: None,
            },
            sampling_interval_ms: 0,
            ..OpcUaEndpoint::new("plc-1", "")
        };
        let problems = endpoint.problems("gateway.opcua[2]");
        let shown: Vec<String> = problems
            .iter()
            .map(|(key, problem)| format!("{key}: {problem}"))
            .collect();
        assert_eq!(
            shown,
            [
                "gateway.opcua[2].url: expected opc.tcp://HOST:PORT such as \
                 opc.tcp://10.0.4.30:4840, found `http://10.0.4.30`",
                "gateway.opcua[2].security_mode: expected none with security_policy none, \
                 found sign",
                "gateway.opcua[2].identity: expected exactly one of password_file and \
                 password_env",
                "gateway.opcua[2].sampling_interval_ms: expected at least 1, found 0",
            ]
        );
    }

    #[test]
    fn a_name_used_twice_is_reported_on_the_second_endpoint() {
        let endpoint = OpcUaEndpoint::new("plc-1", "opc.tcp://127.0.0.1:4840");
        let problems = check_endpoints(&[endpoint.clone(), endpoint], "gateway.opcua");
        assert_eq!(
            problems,
            [(
                "gateway.opcua[1].name".to_owned(),
                "name `plc-1` is used twice".to_owned()
            )]
        );
    }

    #[test]
    fn a_configuration_file_reads_with_defaults_filled_in() {
        let text = r#"
            name = "scada"
            url = "opc.tcp://127.0.0.1:4840/flowline"
            security_policy = "basic256sha256"
            security_mode = "sign_and_encrypt"
            identity = { kind = "username", user = "flowline", password_env = "PW" }
            acquisition = "poll"
        "#;
        let endpoint: OpcUaEndpoint = toml::from_str(text).unwrap();
        assert_eq!(endpoint.security_mode, SecurityMode::SignAndEncrypt);
        assert_eq!(endpoint.acquisition, Acquisition::Poll);
        assert_eq!(endpoint.sampling_interval_ms, 1_000);
        assert!(endpoint.problems("gateway.opcua[0]").is_empty());
        let unknown = toml::from_str::<OpcUaEndpoint>("name = \"x\"\nport = 1\n");
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `port`")
        );
    }
}
