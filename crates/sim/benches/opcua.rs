//! What the OPC UA server adds to each step of a 50,000-tag field: 200
//! pads of 21 wells (4,200 wells, 51,200 tags).
//!
//! - `refresh`: copying every value into the address space after a step,
//!   with nobody subscribed.
//! - `step and refresh`: what happens each second without subscribers:
//!   physics, measurement, Modbus image, then the refresh.
//! - `step with every tag monitored, process CPU`: the CPU time this
//!   process spends per step while a client (async-opcua, in this
//!   process) has every tag monitored: step, refresh, the server's
//!   publishing and the client's decoding of the notifications, all of
//!   it. Read from `/proc/self/stat` over the whole run of steps, so
//!   Linux only; an upper bound of the server's share.
//!
//! Run with `cargo bench -p flowline-sim --bench opcua`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowline_catalog::{DemoLayout, Document, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{NAMESPACE_URI, OpcUaConfig, OpcUaServer, SimConfig, Simulator};
use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    MessageSecurityMode, MonitoredItemCreateRequest, NodeId, TimestampsToReturn, UserTokenPolicy,
};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;
/// One step a second, as `run` does by default.
const STEP_MICROS: i64 = 1_000_000;
/// Monitored items created per request.
const ITEMS_PER_REQUEST: usize = 1_000;

fn field() -> Document {
    demo_field(DemoLayout {
        pads: 200,
        wells_per_pad: 21,
    })
}

/// A server for `sim` on a free loopback port, its PKI in `pki`.
fn server(
    runtime: &Runtime,
    sim: &Arc<Simulator>,
    document: &Document,
    pki: &std::path::Path,
) -> OpcUaServer {
    let config = OpcUaConfig {
        pki_dir: pki.to_path_buf(),
        ..OpcUaConfig::default()
    };
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        OpcUaServer::new(Arc::clone(sim), document, &config, listener).unwrap()
    })
}

fn refresh_a_field_of_50000_tags(criterion: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let document = field();
    let start = Timestamp::from_seconds(START_S);
    let pki = tempfile::tempdir().unwrap();
    let sim = Arc::new(Simulator::new(&document, SimConfig::default(), start).unwrap());
    let server = server(&runtime, &sim, &document, pki.path());

    let mut group = criterion.benchmark_group(format!("opcua {} tags", document.tags.len()));
    group.throughput(Throughput::Elements(document.tags.len() as u64));
    group.bench_function("refresh", |bencher| bencher.iter(|| server.refresh()));
    let mut now = start;
    group.bench_function("step and refresh", |bencher| {
        bencher.iter(|| {
            now = now.saturating_add_micros(STEP_MICROS);
            sim.step(black_box(now));
            server.refresh();
        });
    });

    // Every tag monitored by one client; the server refreshes on its own
    // after each step.
    let url = server.url().to_owned();
    let cancel = CancellationToken::new();
    runtime.spawn(server.serve(cancel.clone()));
    let received = Arc::new(AtomicUsize::new(0));
    let session = runtime.block_on(subscribe_to_everything(&url, &document, &received));
    group.bench_function("step with every tag monitored, process CPU", |bencher| {
        bencher.iter_custom(|iterations| {
            let before = process_cpu_time();
            for _ in 0..iterations {
                let seen = received.load(Ordering::Acquire);
                now = now.saturating_add_micros(STEP_MICROS);
                sim.step(now);
                // Most values change every step; a tenth of them shows the
                // step's notifications are arriving.
                let wanted = seen + document.tags.len() / 10;
                while received.load(Ordering::Acquire) < wanted {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Let the rest of them arrive and be decoded.
                std::thread::sleep(Duration::from_millis(300));
            }
            process_cpu_time() - before
        });
    });
    group.finish();
    runtime.block_on(session.disconnect()).unwrap();
    cancel.cancel();
}

/// The CPU time, user and system, of this process so far, from
/// `/proc/self/stat` (in ticks of 1/100 s, Linux's USER_HZ).
fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux's /proc");
    // The fields after the command name, which is in parentheses and may
    // hold spaces: state is the first, utime the 12th, stime the 13th.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Connects anonymously to `url` and monitors every tag of `document`,
/// counting the notifications in `received`.
async fn subscribe_to_everything(
    url: &str,
    document: &Document,
    received: &Arc<AtomicUsize>,
) -> Arc<Session> {
    let client_pki = tempfile::tempdir().unwrap();
    let mut client = ClientBuilder::new()
        .application_name("flowline bench")
        .application_uri("urn:flowline:bench")
        .pki_dir(client_pki.path())
        .session_retry_limit(0)
        .max_array_length(200_000)
        .max_message_size(64 << 20)
        .max_chunk_count(1_100)
        .client()
        .unwrap();
    let endpoint = (
        url,
        SecurityPolicy::None.to_str(),
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    );
    let (session, event_loop) = client
        .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
        .await
        .unwrap();
    tokio::spawn(event_loop.run());
    session.wait_for_connection().await;
    let namespace = session.get_namespace_index(NAMESPACE_URI).await.unwrap();
    let counter = Arc::clone(received);
    let subscription = session
        .create_subscription(
            Duration::from_millis(100),
            100,
            10,
            0,
            0,
            true,
            DataChangeCallback::new(move |_, _| {
                counter.fetch_add(1, Ordering::AcqRel);
            }),
        )
        .await
        .unwrap();
    let items: Vec<MonitoredItemCreateRequest> = document
        .tags
        .iter()
        .map(|entry| NodeId::new(namespace, entry.spec.path.to_string()).into())
        .collect();
    for chunk in items.chunks(ITEMS_PER_REQUEST) {
        session
            .create_monitored_items(subscription, TimestampsToReturn::Both, chunk.to_vec())
            .await
            .unwrap();
    }
    session
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(20));
    targets = refresh_a_field_of_50000_tags
}
criterion_main!(benches);
