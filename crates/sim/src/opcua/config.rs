//! How the simulator's OPC UA server is secured and who may log in:
//! `[sim.opcua]`.
//!
//! The defaults suit a demo on one machine and are safe where it matters:
//!
//! | endpoint | security | who | default |
//! | --- | --- | --- | --- |
//! | `none` | no signing, no encryption | anonymous users only | offered (`security_none = true`) |
//! | `basic256sha256` | Basic256Sha256, signed and encrypted | the configured `users`, by name and password | offered when `users` has anyone |
//!
//! Passwords never cross a channel without encryption: user names are
//! refused on the `none` endpoint, and anonymous users on the secure one.
//! A client certificate must be in the trust list (`trusted/` in the PKI
//! directory) to open a secure channel; a refused one is saved in
//! `rejected/`, to be moved into `trusted/` by whoever decides to trust it.
//! `trust_unknown_clients = true` trusts any client instead, for a lab.
//! Outside a demo, turn the `none` endpoint off.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directory under the data directory that holds the server's PKI
/// when `pki_dir` is empty.
const DEFAULT_PKI_DIR: &str = "pki/sim-opcua";

/// The simulator's OPC UA server settings, but for where it listens.
///
/// In TOML, for example:
///
/// ```toml
/// security_none = false
/// users = [{ user = "operator", password_file = "/etc/flowline/operator.password" }]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpcUaConfig {
    /// The server's PKI directory: its certificate (`own/cert.der`) and
    /// private key (`private/private.pem`), made on first start and kept
    /// across restarts; the client certificates it trusts (`trusted/`) and
    /// those it refused (`rejected/`). Empty, the default, means
    /// `pki/sim-opcua` under the data directory.
    pub pki_dir: PathBuf,
    /// Whether the endpoint without security is offered, to anonymous
    /// users only. The default is true, for demos; turn it off anywhere
    /// else.
    pub security_none: bool,
    /// Whether the secure endpoint accepts a client whose certificate is
    /// not in `trusted/` (and adds it there). The default is false: such a
    /// client is refused and its certificate saved in `rejected/`.
    pub trust_unknown_clients: bool,
    /// The users who may log in on the secure endpoint, which is offered
    /// only when there is at least one. The default is none.
    pub users: Vec<OpcUaUser>,
}

/// One user of the secure endpoint. The password is never written in the
/// configuration: it is read at start from a file or from an environment
/// variable (exactly one of the two).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaUser {
    /// The user name.
    pub user: String,
    /// A file holding the password; one trailing line break is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

impl Default for OpcUaConfig {
    fn default() -> Self {
        OpcUaConfig {
            pki_dir: PathBuf::new(),
            security_none: true,
            trust_unknown_clients: false,
            users: Vec::new(),
        }
    }
}

impl OpcUaConfig {
    /// The PKI directory: `pki_dir` when set, else `pki/sim-opcua` under
    /// `data_dir`.
    pub fn pki_dir_under(&self, data_dir: &Path) -> PathBuf {
        if self.pki_dir.as_os_str().is_empty() {
            data_dir.join(DEFAULT_PKI_DIR)
        } else {
            self.pki_dir.clone()
        }
    }

    /// Every unusable setting, as (key, problem), keys relative to this
    /// section (`users[1].user`).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !self.security_none && self.users.is_empty() {
            problems.push((
                "users".to_owned(),
                "expected at least one user when security_none is false, found none: the \
                 server would offer no endpoint"
                    .to_owned(),
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for (index, user) in self.users.iter().enumerate() {
            let key = format!("users[{index}]");
            if user.user.trim().is_empty() {
                problems.push((
                    format!("{key}.user"),
                    "expected a user name, found none".to_owned(),
                ));
            } else if names.contains(&user.user.as_str()) {
                problems.push((
                    format!("{key}.user"),
                    format!("user `{}` is listed twice", user.user),
                ));
            }
            names.push(&user.user);
            if user.password_file.is_some() == user.password_env.is_some() {
                problems.push((
                    key,
                    "expected exactly one of password_file and password_env".to_owned(),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_offer_the_demo_endpoint_and_trust_no_unknown_client() {
        let config: OpcUaConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, OpcUaConfig::default());
        assert!(config.security_none);
        assert!(!config.trust_unknown_clients);
        assert!(config.problems().is_empty());
        assert_eq!(
            config.pki_dir_under(Path::new("data")),
            Path::new("data/pki/sim-opcua")
        );
        let placed = OpcUaConfig {
            pki_dir: PathBuf::from("/etc/flowline/pki"),
            ..OpcUaConfig::default()
        };
        assert_eq!(
            placed.pki_dir_under(Path::new("data")),
            Path::new("/etc/flowline/pki")
        );
    }

    #[test]
    fn every_bad_user_is_named_by_its_place_in_the_list() {
        let json = r#"{"users": [
            {"user": "operator", "password_env": "OPERATOR_PASSWORD"},
            {"user": "", "password_file": "/run/secret"},
            {"user": "operator", "password_file": "/run/a", "password_env": "B"},
            {"user": "viewer"}
        ]}"#;
        let config: OpcUaConfig = serde_json::from_str(json).unwrap();
        let shown: Vec<String> = config
            .problems()
            .into_iter()
            .map(|(key, problem)| format!("{key}: {problem}"))
            .collect();
        assert_eq!(
            shown,
            [
                "users[1].user: expected a user name, found none",
                "users[2].user: user `operator` is listed twice",
                "users[2]: expected exactly one of password_file and password_env",
                "users[3]: expected exactly one of password_file and password_env",
            ]
        );
        let closed = OpcUaConfig {
            security_none: false,
            ..OpcUaConfig::default()
        };
        assert_eq!(
            closed.problems(),
            [(
                "users".to_owned(),
                "expected at least one user when security_none is false, found none: the \
                 server would offer no endpoint"
                    .to_owned()
            )]
        );
        let unknown = serde_json::from_str::<OpcUaConfig>(r#"{"users": [{"name": "x"}]}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `name`")
        );
    }
}
