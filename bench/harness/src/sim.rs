//! The simulator as the benchmarks' Modbus server, in a process of its
//! own so that its CPU time can be read apart from the client's, and so
//! that the Flowline client and the peer's client talk to the same server.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{SimConfig, Simulator, run};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::events;

/// The line the server prints once it listens, before its address.
const LISTENING: &str = "listening ";

/// How large a field to serve, and where.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Pads, one Modbus unit id each (1 to 247).
    #[arg(long, default_value_t = 3)]
    pub pads: u32,
    /// Wells on each pad.
    #[arg(long, default_value_t = 12)]
    pub wells_per_pad: u32,
    /// Where to listen; port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// How often the model steps, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub step_interval_ms: u64,
}

impl SimArgs {
    /// The demo layout of these arguments.
    pub fn layout(&self) -> DemoLayout {
        DemoLayout {
            pads: self.pads,
            wells_per_pad: self.wells_per_pad,
        }
    }
}

/// Serves the field of `args` until standard input closes: the model
/// steps from the wall clock and Modbus TCP answers from its image, as
/// `flowline_sim::run` does everywhere.
pub async fn serve(args: SimArgs) -> anyhow::Result<()> {
    let document = demo_field(args.layout());
    let config = SimConfig {
        step_interval_ms: args.step_interval_ms,
        ..SimConfig::default()
    };
    let sim = Arc::new(Simulator::new(&document, config, Timestamp::now())?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;

    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // A closed standard input (the parent ended or dropped us) stops the
    // server; the read blocks, so it gets a thread of its own.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop.cancel();
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{LISTENING}{address}")?;
    stdout.flush()?;
    drop(stdout);

    run(sim, listener, cancel).await?;
    Ok(())
}

/// A running `flowline-bench sim` child process; killed when dropped.
pub struct SimProcess {
    /// The child.
    child: Child,
    /// Where it serves Modbus TCP.
    pub address: SocketAddr,
}

impl SimProcess {
    /// Starts this binary's `sim` subcommand for the field of `args` and
    /// waits until it listens (building a large field takes seconds).
    pub fn start(args: &SimArgs) -> anyhow::Result<SimProcess> {
        let binary = std::env::current_exe().context("cannot find this binary")?;
        let mut child = Command::new(binary)
            .args(["sim", "--pads", &args.pads.to_string()])
            .args(["--wells-per-pad", &args.wells_per_pad.to_string()])
            .args(["--listen", &args.listen.to_string()])
            .args(["--step-interval-ms", &args.step_interval_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the simulator process")?;
        let stdout = child.stdout.take().expect("bug: stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let Some(address) = first.trim().strip_prefix(LISTENING) else {
            let _ = child.kill();
            bail!("expected the simulator to print `{LISTENING}IP:PORT`, found {first:?}");
        };
        let address = address.parse()?;
        events::simulator_ready(address, args.pads, args.wells_per_pad, child.id());
        Ok(SimProcess { child, address })
    }

    /// The child's process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
