//! A node's tail of the shared Redis log: reads the log once Redis answers, hands it to the
//! node's [`Hub`], then reads the stream on and delivers every entry to the hub in id order.
//! It sits above both the hub and the Redis engine ([`crate::log::redis`]): they know nothing
//! of it, and neither imports the other's loop.

use crate::hub::{Clock, Hub, SNAPSHOT_EVERY};
use crate::log::redis::RedisLog;
use convoy_core::wire::{EventId, TruckState};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events a shared log's tail publishes at once at most.
pub(crate) const TAIL_CHUNK: usize = 1000;

/// Reads the log once it answers (a node may start while Redis is unreachable: it retries with
/// backoff, and says so once), gives the [`Hub::pending`] hub `hub` the log's state with the
/// trucks of `seed` it does not know, then tails it until `shutdown` (see [`tail`]).
pub async fn follow(
    log: Arc<RedisLog>,
    hub: Arc<Hub>,
    replay: usize,
    seed: Vec<TruckState>,
    clock: Clock,
    log_lines: bool,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(50);
    let mut waiting = false;
    let loaded = loop {
        match log.load(replay).await {
            Ok(loaded) => break loaded,
            Err(e) => {
                if !waiting && log_lines {
                    tracing::warn!(
                        error = %e,
                        "redis unreachable: serving no fleet and taking no events until it answers"
                    );
                }
                waiting = true;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    hub.load(Box::new(loaded.view), loaded.recovered, seed);
    if log_lines {
        tracing::info!(
            engine = %log.url(),
            first_id = hub.first_id(),
            latest_id = hub.latest_id(),
            "event log read from redis, serving"
        );
    }
    tail(log, hub, loaded.last_id, clock, log_lines, shutdown).await;
}

/// Reads the stream after `last_id` and hands every entry to `hub`, until `shutdown`. Reads on
/// a connection of its own; when Redis is unreachable it retries with backoff (streams stay
/// open on their keep-alives) and resumes after the last id it delivered. When the epoch
/// changes it tells the hub, so resuming from before it is a reset, and stores the fleet
/// snapshot under the new epoch.
pub async fn tail(
    log: Arc<RedisLog>,
    hub: Arc<Hub>,
    mut last_id: EventId,
    clock: Clock,
    log_lines: bool,
    shutdown: CancellationToken,
) {
    let mut outage = false;
    let mut reader = log.reader();
    let mut backoff = Duration::from_millis(50);
    let mut since_snapshot = 0u64;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let read = tokio::select! {
            _ = shutdown.cancelled() => return,
            read = reader.read(last_id, TAIL_CHUNK) => read,
        };
        match read {
            Ok(entries) => {
                if outage && log_lines {
                    tracing::info!(after_id = last_id, "redis reachable again, reading on");
                }
                outage = false;
                backoff = Duration::from_millis(50);
                if let Some((id, _)) = entries.last() {
                    last_id = *id;
                    // Before publishing them: an id from before a new epoch must already be a
                    // reset when its first events reach the streams.
                    if let Some(epoch) = reader.new_epoch().await {
                        hub.set_first_id(epoch);
                        since_snapshot = SNAPSHOT_EVERY;
                    }
                }
                since_snapshot += entries.len() as u64;
                if !entries.is_empty() {
                    hub.deliver(entries, clock.now_ms());
                }
            }
            Err(e) => {
                if !outage && log_lines {
                    tracing::warn!(error = %e, "redis unreachable: retrying until it answers");
                }
                outage = true;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        }
        if since_snapshot >= SNAPSHOT_EVERY {
            if let Ok(true) | Ok(false) = log.save_snapshot(&hub.snapshot()).await {
                since_snapshot = 0;
            }
        }
    }
}
