//! Store-and-forward: a [`SamplePublisher`] that keeps publishing while
//! the bus behind it is down.
//!
//! While the spool is empty, batches go straight to the inner publisher.
//! When a publish fails or times out, that batch is spooled, and every
//! later batch follows it into the spool so that order is kept. A
//! background task forwards spooled batches, oldest first, and
//! acknowledges them only once the inner publisher has accepted them,
//! pausing with a capped exponential backoff while it keeps failing. Once
//! the spool is drained, batches go straight through again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flowline_core::Sample;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::ForwardConfig;
use super::error::SpoolError;
use super::events::{self, Outage, Repeating};
use super::queue::Spool;
use crate::publish::{PublishError, SamplePublisher};

/// A publisher that spools to disk while the one it wraps fails, and
/// forwards in order once it recovers.
///
/// `publish` returns `Ok` once the batch is accepted for good: taken by
/// the inner publisher, or durably spooled (see [`super::FsyncMode`]). It
/// returns an error only when the inner publisher failed and the spool
/// could not take the batch either.
///
/// Delivery to the inner publisher is in order and without duplicates,
/// with two exceptions, both at-least-once boundaries:
/// - after a crash (or a failure to persist an acknowledgment that lasts
///   until shutdown), the last forward, at most
///   [`ForwardConfig::forward_max_samples`] samples of whole spooled
///   batches (or one larger batch), may be sent again, since it may have
///   been accepted but not yet acknowledged;
/// - a publish that timed out but that the inner publisher accepted anyway
///   is spooled and sent again. Publishers whose publish is cancel-safe,
///   such as [`crate::ChannelPublisher`], never do this.
///
/// Order holds for each caller: a caller's batch is published only after
/// its previous call returned. Batches of callers publishing at the same
/// time have no order between them.
///
/// Clones share one spool and one forwarding task.
#[derive(Debug)]
pub struct StoreAndForward<P> {
    /// The state shared by clones and the forwarding task.
    shared: Arc<Shared<P>>,
}

impl<P> Clone for StoreAndForward<P> {
    fn clone(&self) -> Self {
        StoreAndForward {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// What clones and the forwarding task share.
#[derive(Debug)]
struct Shared<P> {
    /// The publisher wrapped.
    inner: P,
    /// How to publish and forward.
    config: ForwardConfig,
    /// The spool and the outage it is absorbing. Only ever locked from
    /// blocking threads or for a moment, since appends sync to disk.
    state: Mutex<State>,
    /// Whether batches go to the spool rather than straight through; a
    /// copy of `State::spooling` readable without the lock.
    spooling: AtomicBool,
    /// Wakes the forwarding task when a batch was spooled.
    wake: Notify,
    /// Cancelled when the forwarding task has finished.
    finished: CancellationToken,
}

/// The part of [`Shared`] behind its lock.
#[derive(Debug)]
struct State {
    /// The spool.
    spool: Spool,
    /// Whether batches go to the spool; set by every append and cleared
    /// only with the spool found empty, under this lock, so no batch can
    /// pass one spooled before it.
    spooling: bool,
    /// The outage being absorbed, if one is: logged when it ends.
    outage: Option<Outage>,
}

/// What one forwarding step did.
#[derive(Debug)]
enum Step {
    /// Spooled samples were forwarded and acknowledged.
    Forwarded,
    /// The spool was empty; batches go straight through again.
    Drained,
    /// Forwarding failed, for this reason; nothing was acknowledged.
    Failed(String),
    /// Shutdown came while an acknowledgment could not be persisted.
    Stopped,
}

impl<P: SamplePublisher> StoreAndForward<P> {
    /// Wraps `inner`, spooling to `spool`, and starts the forwarding task,
    /// which runs until `shutdown` is cancelled and then forwards for at
    /// most [`ForwardConfig::shutdown_flush_ms`]. Batches already in the
    /// spool are forwarded first. Must be called within a tokio runtime.
    pub fn start(
        inner: P,
        spool: Spool,
        config: ForwardConfig,
        shutdown: CancellationToken,
    ) -> Result<StoreAndForward<P>, SpoolError> {
        config.validate()?;
        let spooling = !spool.is_empty();
        let outage = spooling.then(|| Outage::carried_over(spool.len_samples()));
        let sync_interval = spool.sync_interval();
        let shared = Arc::new(Shared {
            inner,
            config,
            state: Mutex::new(State {
                spool,
                spooling,
                outage,
            }),
            spooling: AtomicBool::new(spooling),
            wake: Notify::new(),
            finished: CancellationToken::new(),
        });
        tokio::spawn(run(Arc::clone(&shared), shutdown, sync_interval));
        Ok(StoreAndForward { shared })
    }

    /// Whether batches currently go to the spool rather than straight to
    /// the inner publisher.
    pub fn is_spooling(&self) -> bool {
        self.shared.spooling.load(Ordering::Acquire)
    }

    /// Samples spooled and not yet forwarded. May wait for an append in
    /// progress to sync.
    pub fn spooled_samples(&self) -> u64 {
        self.shared.lock().spool.len_samples()
    }

    /// Samples dropped unforwarded because the spool was full. May wait
    /// for an append in progress to sync.
    pub fn dropped_samples(&self) -> u64 {
        self.shared.lock().spool.dropped_samples()
    }

    /// Resolves once the forwarding task has finished after shutdown. The
    /// spool stays open (and keeps taking batches) until the last clone is
    /// dropped.
    pub async fn stopped(&self) {
        self.shared.finished.cancelled().await;
    }
}

impl<P: SamplePublisher> SamplePublisher for StoreAndForward<P> {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        if self.is_spooling() {
            return spool(&self.shared, samples, None).await;
        }

        // Fast path: the spool is empty, so the batch goes straight
        // through. The copy is what gets spooled if the publish fails,
        // since a failed publish does not give the batch back.
        let copy = samples.clone();
        match self.shared.publish_inner(samples).await {
            Ok(()) => Ok(()),
            Err(reason) => spool(&self.shared, copy, Some(reason)).await,
        }
    }
}

impl<P: SamplePublisher> Shared<P> {
    /// The state, locked. A panic while it was locked was a bug, and the
    /// spool's counts cannot be trusted after it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("bug: a panic while the spool was locked")
    }

    /// Publishes to the inner publisher within the timeout; the error is
    /// the reason it failed.
    async fn publish_inner(&self, samples: Vec<Sample>) -> Result<(), String> {
        let timeout = self.config.publish_timeout();
        match tokio::time::timeout(timeout, self.inner.publish(samples)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms (publish_timeout_ms)",
                self.config.publish_timeout_ms
            )),
        }
    }
}

/// Spools `samples`, which the inner publisher refused for `failure` if
/// given, and wakes the forwarding task.
async fn spool<P: SamplePublisher>(
    shared: &Arc<Shared<P>>,
    samples: Vec<Sample>,
    failure: Option<String>,
) -> Result<(), PublishError> {
    if samples.is_empty() {
        return Ok(());
    }
    let appended = with_state(shared, move |state, shared| {
        let result = state.spool.append(&samples);
        if result.is_ok() && !state.spooling {
            state.spooling = true;
            shared.spooling.store(true, Ordering::Release);
            if let Some(reason) = &failure {
                state.outage = Some(Outage::begin(reason, state.spool.len_samples()));
            }
        }
        result.map_err(|error| match failure {
            Some(reason) => PublishError(format!("{reason}; and cannot spool: {error}")),
            None => PublishError(format!("cannot spool: {error}")),
        })
    })
    .await;
    shared.wake.notify_one();
    appended
}

/// Runs `job` on the state on a blocking thread, since spool operations
/// read, write and sync files.
async fn with_state<P, T, F>(shared: &Arc<Shared<P>>, job: F) -> T
where
    P: SamplePublisher,
    T: Send + 'static,
    F: FnOnce(&mut State, &Shared<P>) -> T + Send + 'static,
{
    let shared = Arc::clone(shared);
    let task = tokio::task::spawn_blocking(move || job(&mut shared.lock(), &shared));
    match task.await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("bug: a spool operation was cancelled: {error}"),
        },
    }
}

/// The forwarding task: forwards until shutdown, then for a while more,
/// syncing the spool meanwhile if it syncs at intervals.
async fn run<P: SamplePublisher>(
    shared: Arc<Shared<P>>,
    shutdown: CancellationToken,
    sync_interval: Option<Duration>,
) {
    let (clean, ()) = tokio::join!(
        forward_until(&shared, &shutdown),
        sync_until(&shared, &shutdown, sync_interval),
    );
    if clean {
        flush(&shared, &shutdown).await;
    }
    let left = with_state(&shared, |state, _| {
        if let Err(error) = state.spool.sync() {
            events::close_sync_failed(state.spool.dir(), &error);
        }
        state.spool.len_samples()
    })
    .await;
    events::forwarder_stopped(left);

    let finished = shared.finished.clone();
    drop(shared);
    finished.cancel();
}

/// Forwards spooled batches whenever there are some, until `shutdown`.
/// Returns false if it stopped with an acknowledgment unpersisted, in
/// which case nothing more may be forwarded by this process.
async fn forward_until<P: SamplePublisher>(
    shared: &Arc<Shared<P>>,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::new(&shared.config);
    loop {
        if !shared.spooling.load(Ordering::Acquire) {
            tokio::select! {
                () = shared.wake.notified() => continue,
                () = shutdown.cancelled() => return true,
            }
        }
        match forward_step(shared, shutdown).await {
            Step::Forwarded | Step::Drained => backoff.reset(),
            Step::Stopped => return false,
            Step::Failed(reason) => {
                with_state(shared, move |state, _| {
                    let (spooled, dropped) =
                        (state.spool.len_samples(), state.spool.dropped_samples());
                    let outage = state
                        .outage
                        .get_or_insert_with(|| Outage::begin(&reason, spooled));
                    outage.forward_failed(&reason, spooled, dropped);
                })
                .await;
                if !pause(backoff.next(), shutdown).await {
                    return true;
                }
            }
        }
    }
}

/// After shutdown: forwards what it can within `shutdown_flush_ms`,
/// stopping at the first failure.
async fn flush<P: SamplePublisher>(shared: &Arc<Shared<P>>, shutdown: &CancellationToken) {
    let deadline = Instant::now() + Duration::from_millis(shared.config.shutdown_flush_ms);
    while Instant::now() < deadline {
        if !matches!(forward_step(shared, shutdown).await, Step::Forwarded) {
            return;
        }
    }
}

/// Forwards the oldest spooled batches, up to `forward_max_samples`, as
/// one publish, and acknowledges them once accepted. With the spool empty,
/// switches back to publishing straight through.
async fn forward_step<P: SamplePublisher>(
    shared: &Arc<Shared<P>>,
    shutdown: &CancellationToken,
) -> Step {
    let max_samples = shared.config.forward_max_samples;
    let peeked = with_state(shared, move |state, shared| {
        let batches = state.spool.peek(max_samples)?;
        if batches.is_empty() {
            drained(state, shared);
        }
        Ok::<_, SpoolError>(batches)
    })
    .await;
    let batches = match peeked {
        Ok(batches) => batches,
        Err(error) => return Step::Failed(format!("cannot read the spool: {error}")),
    };
    let Some(end) = batches.last().map(|batch| batch.end) else {
        return Step::Drained;
    };

    let mut batches = batches.into_iter();
    let mut samples = batches
        .next()
        .map(|batch| batch.samples)
        .unwrap_or_default();
    for batch in batches {
        samples.extend(batch.samples);
    }
    let count = samples.len();
    if let Err(reason) = shared.publish_inner(samples).await {
        return Step::Failed(reason);
    }

    // The bus has the samples: from here on, failing to acknowledge them
    // would send them twice, so the acknowledgment is retried until it
    // holds or the process stops.
    let mut backoff = Backoff::new(&shared.config);
    let mut failures = Repeating::default();
    loop {
        let acknowledged = with_state(shared, move |state, _| {
            state.spool.acknowledge(end)?;
            if let Some(outage) = &mut state.outage {
                outage.forwarded(count);
            } else {
                events::forwarded(count);
            }
            Ok::<_, SpoolError>(())
        })
        .await;
        match acknowledged {
            Ok(()) => return Step::Forwarded,
            Err(error) => failures.failed("acknowledge forwarded samples", &error),
        }
        if !pause(backoff.next(), shutdown).await {
            return Step::Stopped;
        }
    }
}

/// Switches back to publishing straight through if the spool is empty;
/// called under the lock, so no append can slip in between.
fn drained<P>(state: &mut State, shared: &Shared<P>) {
    if !state.spool.is_empty() {
        return;
    }
    state.spooling = false;
    shared.spooling.store(false, Ordering::Release);
    if let Some(outage) = state.outage.take() {
        outage.end();
    }
}

/// Syncs the spool every `interval` until `shutdown`, if it syncs at
/// intervals rather than on every append.
async fn sync_until<P: SamplePublisher>(
    shared: &Arc<Shared<P>>,
    shutdown: &CancellationToken,
    interval: Option<Duration>,
) {
    let Some(interval) = interval else { return };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = Repeating::default();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = with_state(shared, |state, _| state.spool.sync()).await {
            failures.failed("sync the spool", &error);
        }
    }
}

/// Waits `duration`; false if shutdown came first.
async fn pause(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Capped exponential backoff between attempts.
#[derive(Debug)]
struct Backoff {
    /// The first pause.
    initial: Duration,
    /// The longest pause.
    max: Duration,
    /// The next pause.
    next: Duration,
}

impl Backoff {
    /// Backoff from `retry_initial_ms` to `retry_max_ms`.
    fn new(config: &ForwardConfig) -> Backoff {
        let initial = Duration::from_millis(config.retry_initial_ms);
        Backoff {
            initial,
            max: Duration::from_millis(config.retry_max_ms),
            next: initial,
        }
    }

    /// The pause before the next attempt; each call doubles the one after.
    fn next(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// Starts again from the first pause, after a success.
    fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_starts_over_after_a_success() {
        let config = ForwardConfig {
            retry_initial_ms: 100,
            retry_max_ms: 350,
            ..ForwardConfig::default()
        };
        let mut backoff = Backoff::new(&config);
        let pauses: Vec<u64> = (0..4).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(100));
    }
}
