//! Configuration: one TOML file, every key overridable from the environment.
//!
//! Flowline runs with no file at all: every key has a default that starts a
//! pilot on this machine. A file (`flowline.toml` in the working directory,
//! or the one given with `--config` or `FLOWLINE_CONFIG`) overrides the
//! defaults, and environment variables override the file: the key
//! `admin.listen` is `FLOWLINE_ADMIN_LISTEN`, `data_dir` is
//! `FLOWLINE_DATA_DIR`. `flowline.example.toml` at the top of the repository
//! documents every key.
//!
//! Every problem is reported with where it came from: the file, line and
//! column, or the environment variable, and the key, and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use flowline_bus::{BusConfig, BusError};
use flowline_catalog::{DemoLayout, MAX_PADS};
use flowline_edge::GatewayConfig;
use flowline_sim::{OpcUaConfig, SimConfig};
use flowline_stream::service::ProcessorConfig;
use serde::{Deserialize, Serialize};

/// Every environment variable that sets a key starts with this.
pub const ENV_PREFIX: &str = "FLOWLINE_";
/// The environment variable that names the configuration file.
pub const CONFIG_FILE_ENV: &str = "FLOWLINE_CONFIG";
/// The file read from the working directory when no other is named.
pub const DEFAULT_FILE: &str = "flowline.toml";

/// The whole configuration of a Flowline process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the embedded stores (the SQLite database now; the
    /// embedded log and historian later). Created when missing. The default
    /// is `data` under the working directory.
    pub data_dir: PathBuf,
    /// How long a stopping process waits for in-flight work, in
    /// milliseconds, before it gives up on it. The default is 10,000.
    pub shutdown_timeout_ms: u64,
    /// Logging.
    pub log: LogConfig,
    /// The admin HTTP endpoints.
    pub admin: AdminConfig,
    /// The relational database for metadata.
    pub database: DatabaseConfig,
    /// The tag catalog.
    pub catalog: CatalogConfig,
    /// The demo field.
    pub demo: DemoConfig,
    /// The edge gateway: what it polls and how.
    pub gateway: GatewayConfig,
    /// The field simulator of `flowline sim` and `flowline up --demo`.
    pub sim: SimSection,
    /// The event bus: its backend (the embedded log or Kafka), topic names
    /// and partitions.
    pub bus: BusConfig,
    /// The Schema Registry of Kafka mode.
    pub schema_registry: SchemaRegistryConfig,
    /// The stream processor of `flowline processor` and `flowline up`.
    pub processor: ProcessorConfig,
}

/// Where Kafka mode registers the schemas of its records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// A Confluent-compatible Schema Registry, such as
    /// `http://registry:8081/`. With `bus.backend = "kafka"`, each
    /// service registers its schemas there at start and writes the ids it
    /// gives; empty, the default, or on the embedded log, records carry the
    /// ids of `schemas/registry.toml`.
    pub url: String,
}

/// The field simulator: where it serves and how its field behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSection {
    /// Where its Modbus TCP server listens; port 0 picks a free one. The
    /// default is `127.0.0.1:5020` (502, the standard port, needs root).
    pub modbus_listen: String,
    /// Where its fault-injection HTTP API listens; port 0 picks a free
    /// one. The default is `127.0.0.1:8020`.
    pub http_listen: String,
    /// Where its OPC UA server listens; port 0 picks a free one. The
    /// default is `127.0.0.1:4840`, the port OPC UA registers.
    pub opcua_listen: String,
    /// How its OPC UA server is secured and who may log in.
    pub opcua: OpcUaConfig,
    /// The field's seed, step interval and scheduled faults.
    pub field: SimConfig,
}

impl Default for SimSection {
    fn default() -> Self {
        SimSection {
            modbus_listen: "127.0.0.1:5020".to_owned(),
            http_listen: "127.0.0.1:8020".to_owned(),
            opcua_listen: "127.0.0.1:4840".to_owned(),
            opcua: OpcUaConfig::default(),
            field: SimConfig::default(),
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// What to log: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// per-crate directives such as `info,flowline_catalog=debug`. The
    /// default is `info`.
    pub level: String,
    /// `human` for people at a terminal, `json` for log collectors, `auto`
    /// for human on a terminal and JSON otherwise. The default is `auto`.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human on a terminal, JSON otherwise.
    Auto,
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// The admin endpoints: `/healthz`, `/readyz`, `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port to listen on; port 0 picks a free one. The default
    /// is `127.0.0.1:9464`.
    pub listen: String,
}

/// The relational database that holds the catalog and other metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`. Empty, the
    /// default, means the SQLite file `flowline.db` in `data_dir`.
    pub url: String,
    /// Most connections held open at once. The default is 8.
    pub max_connections: u32,
}

/// The tag catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How often to look for changes made by other processes, in
    /// milliseconds. The default is 2,000.
    pub refresh_interval_ms: u64,
}

/// The demo field, loaded into an empty catalog and by `flowline up --demo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Number of pads. The default is 3.
    pub pads: u32,
    /// Number of wells on each pad. The default is 4.
    pub wells_per_pad: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            shutdown_timeout_ms: 10_000,
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            database: DatabaseConfig::default(),
            catalog: CatalogConfig::default(),
            demo: DemoConfig::default(),
            gateway: GatewayConfig::default(),
            sim: SimSection::default(),
            bus: BusConfig::default(),
            schema_registry: SchemaRegistryConfig::default(),
            processor: ProcessorConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Auto,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            refresh_interval_ms: 2_000,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        let layout = DemoLayout::default();
        DemoConfig {
            pads: layout.pads,
            wells_per_pad: layout.wells_per_pad,
        }
    }
}

/// The most wells the demo field may have.
const MAX_DEMO_WELLS: u32 = 10_000;

impl Config {
    /// The database URL, with the empty default resolved to the SQLite
    /// file in `data_dir`.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("flowline.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The admin listen address; valid after [`load`].
    pub fn admin_listen(&self) -> SocketAddr {
        self.admin
            .listen
            .parse()
            .expect("bug: admin.listen is checked when loaded")
    }

    /// The demo field's size.
    pub fn demo_layout(&self) -> DemoLayout {
        DemoLayout {
            pads: self.demo.pads,
            wells_per_pad: self.demo.wells_per_pad,
        }
    }

    /// Every value that is well-typed but unusable, as (key, problem).
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Err(error) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            let message = format!(
                "expected a level such as info or directives such as \
                 info,flowline_catalog=debug, found `{}`: {error}",
                self.log.level
            );
            problems.push(("log.level".to_owned(), message));
        }
        for (key, address, example) in [
            ("admin.listen", &self.admin.listen, "127.0.0.1:9464"),
            (
                "sim.modbus_listen",
                &self.sim.modbus_listen,
                "127.0.0.1:5020",
            ),
            ("sim.http_listen", &self.sim.http_listen, "127.0.0.1:8020"),
            ("sim.opcua_listen", &self.sim.opcua_listen, "127.0.0.1:4840"),
        ] {
            if address.parse::<SocketAddr>().is_err() {
                problems.push((
                    key.to_owned(),
                    format!("expected IP:PORT such as {example}, found `{address}`"),
                ));
            }
        }
        if let Err(error) = self.sim.field.validate() {
            let message = format!("expected {}, found {}", error.expected, error.found);
            problems.push((format!("sim.field.{}", error.key), message));
        }
        for (key, problem) in self.sim.opcua.problems() {
            problems.push((format!("sim.opcua.{key}"), problem));
        }
        if !self.database.url.is_empty()
            && let Err(error) = flowline_db::check(&self.database.url)
        {
            problems.push(("database.url".to_owned(), error.to_string()));
        }
        if self.database.max_connections == 0 {
            problems.push((
                "database.max_connections".to_owned(),
                "expected at least 1, found 0".to_owned(),
            ));
        }
        if self.catalog.refresh_interval_ms < 100 {
            problems.push((
                "catalog.refresh_interval_ms".to_owned(),
                format!(
                    "expected at least 100, found {}",
                    self.catalog.refresh_interval_ms
                ),
            ));
        }
        if self.shutdown_timeout_ms == 0 {
            problems.push((
                "shutdown_timeout_ms".to_owned(),
                "expected at least 1, found 0".to_owned(),
            ));
        }
        if self.demo.pads > u32::from(MAX_PADS) {
            let message = format!(
                "expected at most {MAX_PADS} pads (one Modbus unit each), found {}",
                self.demo.pads
            );
            problems.push(("demo.pads".to_owned(), message));
        }
        for (key, problem) in self.gateway.problems() {
            problems.push((key, problem));
        }
        match self.bus.validate() {
            Ok(()) => {}
            Err(BusError::Config { key, message }) => {
                problems.push((format!("bus.{key}"), message))
            }
            Err(other) => problems.push(("bus".to_owned(), other.to_string())),
        }
        for (key, problem) in self.processor.problems() {
            problems.push((format!("processor.{key}"), problem));
        }
        let registry = &self.schema_registry.url;
        let registry_ok = url::Url::parse(registry)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base());
        if !registry.is_empty() && !registry_ok {
            problems.push((
                "schema_registry.url".to_owned(),
                format!("expected an http:// or https:// URL, found `{registry}`"),
            ));
        }
        let wells = u64::from(self.demo.pads) * u64::from(self.demo.wells_per_pad);
        if wells == 0 || wells > u64::from(MAX_DEMO_WELLS) {
            let key = if self.demo.pads == 0 {
                "demo.pads"
            } else {
                "demo.wells_per_pad"
            };
            problems.push((
                key.to_owned(),
                format!(
                    "expected 1 to {MAX_DEMO_WELLS} wells in all, found {} pads of {} wells",
                    self.demo.pads, self.demo.wells_per_pad
                ),
            ));
        }
        problems
    }
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file; the line and column when the problem has a place in it.
    File {
        /// The file.
        path: PathBuf,
        /// Line and column, from 1.
        position: Option<(usize, usize)>,
    },
    /// An environment variable.
    Environment(String),
    /// The built-in default.
    Default,
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the bad value came from.
    pub origin: Origin,
    /// The dotted key, such as `admin.listen`; empty for the file as a whole.
    pub key: String,
    /// What is wrong: what was expected and what was found.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}: ", path.display())?,
            Origin::File {
                path,
                position: None,
            } => write!(f, "{}: ", path.display())?,
            Origin::Environment(variable) => write!(f, "environment variable {variable}: ")?,
            Origin::Default => {}
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A loaded configuration and which variables set keys in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The environment variables that set keys, sorted.
    pub environment: Vec<String>,
}

/// The file to read: `explicit` if given, else `flowline.toml` in the
/// working directory if it exists, else none.
pub fn resolve_file(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| Some(PathBuf::from(DEFAULT_FILE)).filter(|path| path.is_file()))
}

/// Loads the defaults, then `file`, then the `FLOWLINE_*` variables of
/// `environment`, and checks the result. Reports every problem found.
pub fn load(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let text = match file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(error) => {
                let origin = Origin::File {
                    path: path.to_owned(),
                    position: None,
                };
                return Err(ConfigErrors(vec![ConfigError {
                    origin,
                    key: String::new(),
                    message: format!("cannot read: {error}"),
                }]));
            }
        },
        None => None,
    };

    // The file alone: syntax, unknown keys and types, with positions.
    let mut table = toml::Table::new();
    if let (Some(path), Some(text)) = (file, &text) {
        match parse_file(path, text) {
            Ok(parsed) => table = parsed,
            Err(error) => return Err(ConfigErrors(vec![error])),
        }
    }

    // The environment on top.
    let schema = schema();
    let mut from_environment: BTreeMap<String, String> = BTreeMap::new();
    for (variable, raw) in environment {
        if !variable.starts_with(ENV_PREFIX) || variable == CONFIG_FILE_ENV {
            continue;
        }
        let origin = Origin::Environment(variable.clone());
        let Some((key, default)) = schema.get(&variable) else {
            errors.push(ConfigError {
                origin,
                key: String::new(),
                message: unknown_variable(&variable, &schema),
            });
            continue;
        };
        match env_value(&raw, default) {
            Ok(value) => {
                set(&mut table, key, value);
                from_environment.insert(key.clone(), variable);
            }
            Err(message) => errors.push(ConfigError {
                origin,
                key: key.clone(),
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }

    let origin_of = |key: &str| -> Origin {
        // A variable that set a list or table is also where the problems
        // inside it come from (`sim.opcua.users[1].user`).
        let set_by = from_environment.iter().find(|(set, _)| {
            key.strip_prefix(set.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        });
        if let Some((_, variable)) = set_by {
            return Origin::Environment(variable.clone());
        }
        match (file, &text) {
            (Some(path), Some(text)) => Origin::File {
                path: path.to_owned(),
                position: locate(text, key),
            },
            _ => Origin::Default,
        }
    };
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            let key = error.path().to_string();
            ConfigErrors(vec![ConfigError {
                origin: origin_of(&key),
                key,
                message: error.into_inner().message().to_owned(),
            }])
        })?;

    let problems: Vec<ConfigError> = config
        .problems()
        .into_iter()
        .map(|(key, message)| ConfigError {
            origin: origin_of(&key),
            key,
            message,
        })
        .collect();
    if !problems.is_empty() {
        return Err(ConfigErrors(problems));
    }
    Ok(Loaded {
        config,
        environment: from_environment.into_values().collect(),
    })
}

/// Reads the file as a table, checking it against [`Config`] so that
/// unknown keys and wrong types are reported with their line and column.
fn parse_file(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let at = |span: Option<std::ops::Range<usize>>| Origin::File {
        path: path.to_owned(),
        position: span.map(|span| line_column(text, span.start)),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|error| ConfigError {
        origin: at(error.span()),
        key: String::new(),
        message: error.message().trim().to_owned(),
    })?;
    if let Err(error) = serde_path_to_error::deserialize::<_, Config>(deserializer) {
        let key = error.path().to_string();
        let inner = error.into_inner();
        let key = if key == "." { String::new() } else { key };
        return Err(ConfigError {
            origin: at(inner.span()),
            key,
            message: inner.message().trim().to_owned(),
        });
    }
    Ok(text
        .parse::<toml::Table>()
        .expect("bug: a file that deserialised parses as a table"))
}

/// Every key, by its environment variable: the dotted key and its default.
fn schema() -> BTreeMap<String, (String, toml::Value)> {
    fn walk(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, (String, toml::Value)>) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                toml::Value::Table(inner) => walk(inner, &key, out),
                leaf => {
                    out.insert(env_variable(&key), (key, leaf.clone()));
                }
            }
        }
    }
    let defaults = toml::Table::try_from(Config::default())
        .expect("bug: the default configuration serialises");
    let mut out = BTreeMap::new();
    walk(&defaults, "", &mut out);
    out
}

/// The environment variable for a dotted key: `admin.listen` is
/// `FLOWLINE_ADMIN_LISTEN`.
pub fn env_variable(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace(['.', '-'], "_").to_ascii_uppercase()
    )
}

fn unknown_variable(variable: &str, schema: &BTreeMap<String, (String, toml::Value)>) -> String {
    let closest = schema
        .keys()
        .map(|known| (strsim::levenshtein(known, variable), known))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, known)| format!("; did you mean {known}?"))
        .unwrap_or_default();
    format!("no configuration key is set by this variable{closest}")
}

/// Reads an environment value as the type of the key's default.
fn env_value(raw: &str, default: &toml::Value) -> Result<toml::Value, String> {
    let trimmed = raw.trim();
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_owned())),
        toml::Value::Integer(_) => trimmed
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected an integer, found `{raw}`")),
        toml::Value::Float(_) => trimmed
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| format!("expected a number, found `{raw}`")),
        toml::Value::Boolean(_) => match trimmed {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, found `{raw}`")),
        },
        _ => format!("value = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut table| table.remove("value"))
            .ok_or_else(|| format!("expected a TOML value such as [\"a\", \"b\"], found `{raw}`")),
    }
}

/// Sets the dotted `key` in `table`, creating tables on the way.
fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut names: Vec<&str> = key.split('.').collect();
    let last = names.pop().expect("bug: a key has at least one name");
    let mut current = table;
    for name in names {
        let entry = current
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("bug: just made a table");
    }
    current.insert(last.to_owned(), value);
}

/// The line and column of the dotted `key` in the file's text.
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let document = toml_edit::Document::parse(text).ok()?;
    let mut names = key.split('.').peekable();
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            let span = table.key(name)?.span()?;
            return Some(line_column(text, span.start));
        }
        table = table.get(name)?.as_table_like()?;
    }
    None
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |line| line.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("flowline.toml");
        std::fs::write(&path, text).unwrap();
        (directory, path)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn problems(result: Result<Loaded, ConfigErrors>) -> Vec<String> {
        result
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn no_file_and_no_environment_gives_the_defaults() {
        let loaded = load(None, env(&[])).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.config.database_url().starts_with("sqlite://data"));
    }

    #[test]
    fn the_example_file_is_valid_and_documents_every_key() {
        let example = include_str!("../../../flowline.example.toml");
        let (_directory, path) = write(example);
        let loaded = load(Some(&path), env(&[])).unwrap();
        assert_eq!(
            loaded.config,
            Config::default(),
            "the example shows the defaults"
        );
        for (_, (key, _)) in schema() {
            let name = key.rsplit('.').next().unwrap();
            assert!(
                example.contains(&format!("{name} =")),
                "flowline.example.toml lacks `{key}`"
            );
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let (_directory, path) =
            write("[admin]\nlisten = \"127.0.0.1:1000\"\n[database]\nmax_connections = 2\n");
        let loaded = load(
            Some(&path),
            env(&[("FLOWLINE_ADMIN_LISTEN", "127.0.0.1:0"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(loaded.config.admin.listen, "127.0.0.1:0");
        assert_eq!(loaded.config.database.max_connections, 2);
        assert_eq!(loaded.environment, ["FLOWLINE_ADMIN_LISTEN"]);
    }

    #[test]
    fn every_key_has_its_own_environment_variable() {
        let schema = schema();
        assert!(schema.contains_key("FLOWLINE_DATA_DIR"));
        assert!(schema.contains_key("FLOWLINE_CATALOG_REFRESH_INTERVAL_MS"));
        let keys: std::collections::BTreeSet<_> = schema.values().map(|(key, _)| key).collect();
        assert_eq!(keys.len(), schema.len(), "two keys share a variable");
    }

    #[test]
    fn unknown_keys_are_reported_with_file_line_and_column() {
        let (_directory, path) = write("data_dir = \"x\"\n\n[admin]\nlistn = \"127.0.0.1:1\"\n");
        let errors = problems(load(Some(&path), env(&[])));
        assert_eq!(errors.len(), 1);
        let expected = format!(
            "{}:4:1: admin.listn: unknown field `listn`, expected `listen`",
            path.display()
        );
        assert_eq!(errors[0], expected);
    }

    #[test]
    fn wrong_types_are_reported_with_what_was_expected() {
        let (_directory, path) = write("[database]\nmax_connections = \"many\"\n");
        let errors = problems(load(Some(&path), env(&[])));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(&format!(
                "{}:2:19: database.max_connections: invalid type: string \"many\", expected u32",
                path.display()
            )),
            "{errors:?}"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (_directory, path) = write("[admin\nlisten = 1\n");
        let errors = problems(load(Some(&path), env(&[])));
        assert!(
            errors[0].starts_with(&format!("{}:1:", path.display())),
            "{errors:?}"
        );
    }

    #[test]
    fn a_bad_bus_setting_names_its_key_under_bus() {
        let (_directory, path) =
            write("[bus]\nprefix = \"flow line\"\n[bus.topics.alarms]\npartitions = 2\n");
        let errors = problems(load(Some(&path), env(&[])));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].ends_with(
                "bus.prefix: expected letters, digits, '.', '_' and '-' only, found ' ' in \
                 \"flow line\""
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn kafka_mode_is_set_from_the_environment_and_its_settings_are_checked_by_key() {
        let loaded = load(
            None,
            env(&[
                ("FLOWLINE_BUS_BACKEND", "kafka"),
                ("FLOWLINE_BUS_KAFKA_BOOTSTRAP_SERVERS", "k1:9093,k2:9093"),
                ("FLOWLINE_BUS_KAFKA_SECURITY_PROTOCOL", "ssl"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.config.bus.backend, flowline_bus::BusBackend::Kafka);
        assert_eq!(loaded.config.bus.kafka.bootstrap_servers, "k1:9093,k2:9093");

        let errors = problems(load(
            None,
            env(&[
                ("FLOWLINE_BUS_BACKEND", "kafka"),
                ("FLOWLINE_BUS_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ]),
        ));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].ends_with(
                "bus.kafka.sasl_username: expected a user with security_protocol = \"sasl_ssl\", \
                 found none"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn the_processors_settings_are_checked_by_key_under_processor() {
        let (_directory, path) = write(
            "[processor]\nbatch_size = 0\n\n[processor.validate]\nspike_window = 99\n\n\
             [schema_registry]\nurl = \"registry:8081\"\n",
        );
        let errors = problems(load(
            Some(&path),
            env(&[("FLOWLINE_PROCESSOR_GROUP_ID", "")]),
        ));
        assert_eq!(
            errors,
            [
                "environment variable FLOWLINE_PROCESSOR_GROUP_ID: processor.group_id: \
                 expected a name, found none"
                    .to_owned(),
                format!(
                    "{}:2:1: processor.batch_size: expected 1 to 1000000 records, found 0",
                    path.display()
                ),
                format!(
                    "{}:5:1: processor.validate.spike_window: must be from 3 to 15, found 99",
                    path.display()
                ),
                format!(
                    "{}:8:1: schema_registry.url: expected an http:// or https:// URL, found \
                     `registry:8081`",
                    path.display()
                ),
            ]
        );
    }

    #[test]
    fn unusable_values_name_their_line_or_variable() {
        let (_directory, path) =
            write("[admin]\nlisten = \"localhost\"\n[database]\nurl = \"mysql://db/flowline\"\n");
        let errors = problems(load(Some(&path), env(&[("FLOWLINE_DEMO_PADS", "0")])));
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert_eq!(
            errors[0],
            format!(
                "{}:2:1: admin.listen: expected IP:PORT such as 127.0.0.1:9464, found `localhost`",
                path.display()
            )
        );
        let expected = format!(
            "{}:4:1: database.url: invalid database URL `mysql://db/flowline`: \
             unsupported scheme `mysql`",
            path.display()
        );
        assert!(errors[1].starts_with(&expected), "{errors:?}");
        assert!(
            errors[2].starts_with(
                "environment variable FLOWLINE_DEMO_PADS: demo.pads: expected 1 to 10000 wells"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_environment_values_and_unknown_variables_are_named() {
        let errors = problems(load(
            None,
            env(&[
                ("FLOWLINE_DATABASE_MAX_CONNECTIONS", "lots"),
                ("FLOWLINE_ADMIN_LISTN", "x"),
            ]),
        ));
        assert_eq!(
            errors,
            [
                "environment variable FLOWLINE_DATABASE_MAX_CONNECTIONS: \
                 database.max_connections: expected an integer, found `lots`",
                "environment variable FLOWLINE_ADMIN_LISTN: no configuration key is set by \
                 this variable; did you mean FLOWLINE_ADMIN_LISTEN?",
            ]
        );
        let errors = problems(load(
            None,
            env(&[("FLOWLINE_DATABASE_MAX_CONNECTIONS", "-1")]),
        ));
        let expected = "environment variable FLOWLINE_DATABASE_MAX_CONNECTIONS: \
                        database.max_connections: invalid value: integer `-1`";
        assert!(errors[0].starts_with(expected), "{errors:?}");
    }

    #[test]
    fn the_simulators_opcua_settings_are_checked_by_key() {
        let (_directory, path) =
            write("[sim]\nopcua_listen = \"4840\"\n\n[sim.opcua]\nsecurity_none = false\n");
        let errors = problems(load(
            Some(&path),
            env(&[(
                "FLOWLINE_SIM_OPCUA_USERS",
                r#"[{ user = "operator" }, { user = "operator", password_env = "X" }]"#,
            )]),
        ));
        assert_eq!(
            errors,
            [
                format!(
                    "{}:2:1: sim.opcua_listen: expected IP:PORT such as 127.0.0.1:4840, \
                     found `4840`",
                    path.display()
                ),
                "environment variable FLOWLINE_SIM_OPCUA_USERS: sim.opcua.users[0]: expected \
                 exactly one of password_file and password_env"
                    .to_owned(),
                "environment variable FLOWLINE_SIM_OPCUA_USERS: sim.opcua.users[1].user: user \
                 `operator` is listed twice"
                    .to_owned(),
            ]
        );
        let loaded = load(None, env(&[("FLOWLINE_DATA_DIR", "/var/lib/flowline")])).unwrap();
        let sim = &loaded.config.sim;
        assert_eq!(
            sim.opcua.pki_dir_under(&loaded.config.data_dir),
            Path::new("/var/lib/flowline/pki/sim-opcua")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_files_load_or_are_rejected_with_a_place(text in "\\PC{0,300}") {
            let (_directory, path) = write(&text);
            if let Err(errors) = load(Some(&path), env(&[])) {
                proptest::prop_assert!(!errors.0.is_empty());
                for error in errors.0 {
                    let named = matches!(
                        &error.origin,
                        Origin::File { path: named, .. } if *named == path
                    );
                    proptest::prop_assert!(named, "{error} does not name the file");
                }
            }
        }
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let errors = problems(load(Some(Path::new("/no/such/flowline.toml")), env(&[])));
        assert!(
            errors[0].starts_with("/no/such/flowline.toml: cannot read:"),
            "{errors:?}"
        );
    }
}
