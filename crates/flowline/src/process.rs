//! What every long-running command shares: the admin endpoints, health,
//! shutdown on a signal, and the services it runs.
//!
//! A command starts a [`Process`] first, so `/healthz` answers while the
//! rest starts; spawns its services into it; and waits. On SIGINT or
//! SIGTERM every component is marked not ready, each service finishes its
//! in-flight work within `shutdown_timeout_ms`, and the process returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowline_catalog::Catalog;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Health};
use crate::config::Config;
use crate::shutdown;

/// A running command's shared machinery.
pub struct Process {
    /// Readiness of each component, served at `/readyz`.
    pub health: Health,
    /// Cancelled by the first SIGINT or SIGTERM.
    pub shutdown: CancellationToken,
    /// Where the admin endpoints listen.
    pub admin_address: SocketAddr,
    started: Instant,
    grace: Duration,
    services: JoinSet<anyhow::Result<()>>,
}

impl Process {
    /// Installs the signal handlers and starts the admin endpoints.
    pub async fn start(config: &Config, metrics: PrometheusHandle) -> anyhow::Result<Process> {
        let started = Instant::now();
        let shutdown = shutdown::on_signal()?;
        let health = Health::default();
        let listen = config.admin_listen();
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (admin.listen)"))?;
        let admin_address = listener.local_addr()?;
        let mut services = JoinSet::new();
        let admin = admin::serve(listener, health.clone(), metrics, shutdown.clone());
        services.spawn(async move { Ok(admin.await?) });
        Ok(Process {
            health,
            shutdown,
            admin_address,
            started,
            grace: Duration::from_millis(config.shutdown_timeout_ms),
            services,
        })
    }

    /// Runs `service` until it returns; it must return soon after
    /// [`shutdown`](Self::shutdown) is cancelled.
    pub fn spawn(&mut self, service: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.services.spawn(service);
    }

    /// Picks up catalog changes made by other processes until shutdown.
    pub fn refresh_catalog(&mut self, catalog: Catalog, interval: Duration) {
        let shutdown = self.shutdown.clone();
        self.spawn(async move {
            refresh_catalog(catalog, interval, shutdown).await;
            Ok(())
        });
    }

    /// Milliseconds since the process started.
    pub fn startup_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Waits for a signal (or for a service to fail), then stops every
    /// service. Returns the first service failure, if any.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failure = None;
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            Some(outcome) = self.services.join_next() => {
                failure = flatten(outcome).err();
                if let Some(error) = &failure {
                    tracing::error!(error = format!("{error:#}"), "a service failed; stopping");
                }
                self.shutdown.cancel();
            }
        }
        self.health.stopping();

        let drained = tokio::time::timeout(self.grace, async {
            while let Some(outcome) = self.services.join_next().await {
                if let Err(error) = flatten(outcome) {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "service failed while stopping"
                    );
                }
            }
        });
        if drained.await.is_err() {
            let timeout_ms = self.grace.as_millis() as u64;
            tracing::warn!(timeout_ms, "gave up waiting for in-flight work");
        }
        tracing::info!("flowline stopped");
        failure.map_or(Ok(()), Err)
    }
}

fn flatten(outcome: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    outcome.context("service task panicked")?
}

async fn refresh_catalog(catalog: Catalog, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        // Log when refreshing starts failing and when it recovers, not on
        // every tick in between.
        match catalog.refresh().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("catalog refresh recovered");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "catalog refresh failed; serving the last snapshot");
            }
            Err(_) => {}
        }
    }
}
