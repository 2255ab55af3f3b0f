//! The simulator as the benchmarks' server, in a process of its own so
//! that its CPU time can be read apart from the client's, and so that the
//! Flowline client and the peer's client talk to the same server: always
//! over Modbus TCP, and over OPC UA when asked.

use std::io::{BufRead, BufReader, Lines, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use flowline_catalog::{DemoLayout, Document, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{OpcUaConfig, OpcUaServer, OpcUaUser, SimConfig, Simulator, run};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::events;

/// The line the server prints once it listens, before its Modbus address.
const LISTENING: &str = "listening ";
/// The line it prints next when it serves OPC UA, before the endpoint URL.
const OPCUA: &str = "opcua ";
/// How long a simulator child may take to stop once asked.
const STOP_PATIENCE: Duration = Duration::from_secs(5);
/// How often a stopping child is checked on.
const STOP_POLL: Duration = Duration::from_millis(10);
/// The one user of the OPC UA server's secure endpoint.
pub const OPCUA_USER: &str = "bench";

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

/// The `sim` subcommand's arguments: the field, and whether it is served
/// over OPC UA too.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The field and its Modbus TCP address.
    #[command(flatten)]
    pub field: SimArgs,
    /// Also serve OPC UA here (port 0 takes a free one), with a PKI
    /// directory of its own that is removed on exit, trusting any client
    /// certificate, with the endpoint without security for anonymous
    /// users. The default is Modbus only: the address space costs about
    /// 9 KB a tag, which the throughput benchmark's 50,000 tags need not
    /// pay.
    #[arg(long)]
    pub opcua_listen: Option<SocketAddr>,
    /// With `--opcua-listen`, also offer the Basic256Sha256
    /// SignAndEncrypt endpoint to the user `bench`, whose password is in
    /// this file.
    #[arg(long, requires = "opcua_listen")]
    pub opcua_password_file: Option<PathBuf>,
}

/// Serves the field of `args` until standard input closes: the model
/// steps from the wall clock and Modbus TCP answers from its image, as
/// `flowline_sim::run` does everywhere; the OPC UA server, when asked for,
/// refreshes its address space after every step.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let document = demo_field(args.field.layout());
    let config = SimConfig {
        step_interval_ms: args.field.step_interval_ms,
        ..SimConfig::default()
    };
    let sim = Arc::new(Simulator::new(&document, config, Timestamp::now())?);
    let listener = TcpListener::bind(args.field.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.field.listen))?;
    let address = listener.local_addr()?;
    // The PKI directory lives as long as the server.
    let (opcua, _pki) = match args.opcua_listen {
        Some(listen) => {
            let (server, pki) =
                opcua_server(&sim, &document, listen, args.opcua_password_file.as_deref()).await?;
            (Some(server), Some(pki))
        }
        None => (None, None),
    };

    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // A closed standard input (the parent ended or dropped us) stops the
    // server; the read blocks, so it gets a thread of its own.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop.cancel();
    });
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{LISTENING}{address}")?;
        if let Some(server) = &opcua {
            writeln!(stdout, "{OPCUA}{}", server.url())?;
        }
        stdout.flush()?;
    }

    let modbus = async { Ok::<_, anyhow::Error>(run(sim, listener, cancel.clone()).await?) };
    let opcua = async {
        if let Some(server) = opcua {
            server.serve(cancel.clone()).await?;
        }
        Ok(())
    };
    tokio::try_join!(modbus, opcua)?;
    Ok(())
}

/// The OPC UA server of `sim` on `listen`, and its PKI directory, which
/// must outlive it.
async fn opcua_server(
    sim: &Arc<Simulator>,
    document: &Document,
    listen: SocketAddr,
    password_file: Option<&Path>,
) -> anyhow::Result<(OpcUaServer, TempDir)> {
    let pki = tempfile::tempdir().context("cannot make the OPC UA PKI directory")?;
    let config = opcua_config(pki.path(), password_file);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for OPC UA"))?;
    let server = OpcUaServer::new(Arc::clone(sim), document, &config, listener)
        .context("cannot start the simulator's OPC UA server")?;
    Ok((server, pki))
}

/// The OPC UA server's settings: its PKI in `pki`, any client trusted,
/// the endpoint without security, and the secure one for [`OPCUA_USER`]
/// when there is a password file.
fn opcua_config(pki: &Path, password_file: Option<&Path>) -> OpcUaConfig {
    let users = password_file
        .map(|file| OpcUaUser {
            user: OPCUA_USER.to_owned(),
            password_file: Some(file.to_owned()),
            password_env: None,
        })
        .into_iter()
        .collect();
    OpcUaConfig {
        pki_dir: pki.to_owned(),
        security_none: true,
        trust_unknown_clients: true,
        users,
    }
}

/// A running `flowline-bench sim` child process; killed when dropped.
pub struct SimProcess {
    /// The child.
    child: Child,
    /// Where it serves Modbus TCP.
    pub address: SocketAddr,
    /// Its OPC UA endpoint URL, when it serves OPC UA.
    pub opcua_url: Option<String>,
}

impl SimProcess {
    /// Starts this binary's `sim` subcommand for the field of `args` and
    /// waits until it listens (building a large field takes seconds).
    pub fn start(args: &SimArgs) -> anyhow::Result<SimProcess> {
        SimProcess::spawn(args, None)
    }

    /// Like [`start`](Self::start), serving OPC UA too, on the Modbus
    /// address's IP: the secure endpoint's user is [`OPCUA_USER`] with the
    /// password in `password_file`.
    pub fn start_with_opcua(args: &SimArgs, password_file: &Path) -> anyhow::Result<SimProcess> {
        SimProcess::spawn(args, Some(password_file))
    }

    /// Starts the child, serving OPC UA too when there is a password file,
    /// and reads the lines it prints once it listens.
    fn spawn(args: &SimArgs, opcua_password_file: Option<&Path>) -> anyhow::Result<SimProcess> {
        let binary = std::env::current_exe().context("cannot find this binary")?;
        let mut command = Command::new(binary);
        command
            .args(["sim", "--pads", &args.pads.to_string()])
            .args(["--wells-per-pad", &args.wells_per_pad.to_string()])
            .args(["--listen", &args.listen.to_string()])
            .args(["--step-interval-ms", &args.step_interval_ms.to_string()]);
        if let Some(file) = opcua_password_file {
            let listen = SocketAddr::new(args.listen.ip(), 0);
            command
                .args(["--opcua-listen", &listen.to_string()])
                .arg("--opcua-password-file")
                .arg(file);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the simulator process")?;
        let stdout = child.stdout.take().expect("bug: stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let address = match announced(&mut lines, LISTENING, "IP:PORT") {
            Ok(address) => address.parse(),
            Err(error) => {
                let _ = child.kill();
                return Err(error);
            }
        };
        let mut sim = SimProcess {
            child,
            address: address?,
            opcua_url: None,
        };
        events::simulator_ready(sim.address, args.pads, args.wells_per_pad, sim.pid());
        if opcua_password_file.is_some() {
            let url = announced(&mut lines, OPCUA, "opc.tcp://IP:PORT/")?;
            events::simulator_serving_opcua(&url);
            sim.opcua_url = Some(url);
        }
        Ok(sim)
    }

    /// The child's process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The text after `prefix` on the next line the simulator prints; an error
/// says what was expected (`prefix` then `what`) and what came.
fn announced(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
    what: &str,
) -> anyhow::Result<String> {
    let line = lines.next().transpose()?.unwrap_or_default();
    match line.trim().strip_prefix(prefix) {
        Some(rest) => Ok(rest.to_owned()),
        None => bail!("expected the simulator to print `{prefix}{what}`, found {line:?}"),
    }
}

impl Drop for SimProcess {
    /// Closes the child's standard input, which asks it to stop (and so
    /// to remove its OPC UA PKI directory); kills it if it lingers.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(STOP_POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
