//! The event bus a command runs on, and the schema ids its records carry:
//! the embedded log under `data_dir` (`bus.dir`), or a Kafka cluster with
//! `bus.backend = "kafka"`.

use std::time::Duration;

use anyhow::Context;
use flowline_bus::{Bus, BusBackend, EmbeddedBus, KafkaBus};
use flowline_schemas::registry::resolve_ids;
use flowline_schemas::{Codec, ConfluentRegistry};

use crate::config::Config;

/// The longest the Schema Registry may take to answer one request.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);

/// A bus whose clients can live in spawned tasks: what the services of a
/// command run on, either backend.
pub trait ServiceBus:
    Bus<Producer: 'static, Consumer: 'static, TransactionalProducer: 'static> + 'static
{
}

impl<B> ServiceBus for B where
    B: Bus<Producer: 'static, Consumer: 'static, TransactionalProducer: 'static> + 'static
{
}

/// An open bus, of either backend. Commands match on it and run the
/// same generic code on both.
pub enum OpenBus {
    /// The embedded log.
    Embedded(EmbeddedBus),
    /// A Kafka cluster.
    Kafka(KafkaBus),
}

/// Opens the bus `config.bus` describes, with the codec of its records
/// (see [`codec`]): the embedded log in its directory under `data_dir`
/// (which it locks: one process at a time), or the Kafka cluster, whose
/// missing topics it creates.
pub async fn open(config: &Config) -> anyhow::Result<(OpenBus, Codec)> {
    let codec = codec(config).await?;
    let bus = match config.bus.backend {
        BusBackend::Embedded => {
            let dir = config.bus.dir_under(&config.data_dir);
            let bus = EmbeddedBus::open(&dir, config.bus.clone())
                .with_context(|| format!("cannot open the embedded bus in {}", dir.display()))?;
            OpenBus::Embedded(bus)
        }
        BusBackend::Kafka => {
            let bus = KafkaBus::connect(&config.bus).await.with_context(|| {
                format!(
                    "cannot reach the Kafka cluster at {} (bus.kafka.bootstrap_servers)",
                    config.bus.kafka.bootstrap_servers
                )
            })?;
            OpenBus::Kafka(bus)
        }
    };
    Ok((bus, codec))
}

/// The codec of this installation's records: in Kafka mode with
/// `schema_registry.url`, the ids the registry gives this build's schemas
/// (registered at start); otherwise the ids of `schemas/registry.toml`.
async fn codec(config: &Config) -> anyhow::Result<Codec> {
    let url = &config.schema_registry.url;
    if config.bus.backend == BusBackend::Embedded || url.is_empty() {
        return Ok(Codec::embedded());
    }
    let registry = ConfluentRegistry::new(url, REGISTRY_TIMEOUT)?;
    let ids = resolve_ids(&registry, &config.bus.prefix)
        .await
        .with_context(|| format!("cannot register the schemas with {url} (schema_registry.url)"))?;
    Ok(Codec::new(ids))
}

impl OpenBus {
    /// Where the bus is, for log lines: the embedded log's directory, or
    /// the Kafka cluster's bootstrap servers.
    pub fn location(&self, config: &Config) -> String {
        match self {
            OpenBus::Embedded(bus) => bus.dir().display().to_string(),
            OpenBus::Kafka(_) => format!("kafka://{}", config.bus.kafka.bootstrap_servers),
        }
    }
}
