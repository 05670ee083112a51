//! The simulator as a producer: it steps the pure [`Simulator`] as time passes and appends what
//! it produced through [`Hub::append_async`], the same path `POST /api/ingest` takes.

use crate::hub::{Clock, Hub, Submission};
use crate::metrics::Source;
use crate::sim::Simulator;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The simulator shared by its driver and the routes that read its map and routes.
pub type SharedSim = Arc<Mutex<Simulator>>;

/// Locks the simulator; it is only ever stepped whole, so a poisoned lock is still usable.
pub fn lock(sim: &SharedSim) -> MutexGuard<'_, Simulator> {
    sim.lock().unwrap_or_else(|e| e.into_inner())
}

/// Steps the simulator as time passes and appends its events until `shutdown`. Wakes when the
/// simulator has something due, but at most every `min_tick` (events are batched per tick) and
/// at least once a second. A batch the log refuses is dropped (logged once per outage): the
/// simulator does not wait for the log.
pub async fn drive(
    hub: Arc<Hub>,
    sim: SharedSim,
    clock: Clock,
    min_tick: Duration,
    log_lines: bool,
    shutdown: CancellationToken,
) {
    // A node that started before its shared log answered appends once it has read the log.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = hub.wait_loaded() => {}
    }
    let min_tick_ms = min_tick.as_millis().max(1) as u64;
    // Events lost since the log last took a batch (logged once an outage is over).
    let mut lost = 0usize;
    loop {
        let now = clock.now_ms();
        let (events, due) = {
            let mut sim = lock(&sim);
            (sim.step(now), sim.poll_timeout())
        };
        if !events.is_empty() {
            let count = events.len();
            let batch: Vec<Submission> = events.into_iter().map(Submission::from).collect();
            let appended = hub.append_async(batch, now).await;
            if let Ok(outcomes) = &appended {
                hub.metrics().appended(Source::Simulator, outcomes.len());
            }
            match appended {
                Ok(_) if lost > 0 => {
                    if log_lines {
                        tracing::info!(lost, "simulator: the event log takes events again");
                    }
                    lost = 0;
                }
                Ok(_) => {}
                Err(e) => {
                    if lost == 0 && log_lines {
                        tracing::warn!(error = %e, "simulator: losing events");
                    }
                    lost += count;
                }
            }
        }
        let next = due.clamp(now + min_tick_ms, now + 1000.max(min_tick_ms));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(clock.instant_at(next)) => {}
        }
    }
}
