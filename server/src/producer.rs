//! The simulator as a producer: it steps the pure [`Simulator`] as time passes and appends the
//! facts it produced (plans and positions) through [`Hub::append_async`], the same path
//! `POST /api/ingest` takes, so the server derives their events like any truck's.

use crate::hub::{Clock, Hub, Submission};
use crate::log::LogError;
use crate::metrics::Source;
use crate::sim::Simulator;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The simulator shared by its driver.
pub type SharedSim = Arc<Mutex<Simulator>>;

/// Locks the simulator; it is only ever stepped whole, so a poisoned lock is still usable.
pub fn lock(sim: &SharedSim) -> MutexGuard<'_, Simulator> {
    sim.lock().unwrap_or_else(|e| e.into_inner())
}

/// Steps the simulator as time passes and appends its facts until `shutdown`. Wakes when the
/// simulator has something due, but at most every `min_tick` (facts are batched per tick) and
/// at least once a second. A batch the log refuses is dropped (logged once per outage): the
/// simulator does not wait for the log. A fact the trip refuses (a position not newer than the
/// last the log holds, after a restart) is dropped alone.
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
    // Facts lost since the log last took a batch (logged once an outage is over).
    let mut lost = 0usize;
    loop {
        let now = clock.now_ms();
        let (facts, due) = {
            let mut sim = lock(&sim);
            (sim.step(now), sim.poll_timeout())
        };
        let mut batch: Vec<Submission> = facts
            .into_iter()
            .map(|f| Submission::fact(f.truck, f.fact))
            .collect();
        while !batch.is_empty() {
            let count = batch.len();
            match hub.append_async(batch.clone(), now).await {
                Ok(outcomes) => {
                    hub.metrics().appended(Source::Simulator, outcomes.len());
                    if lost > 0 && log_lines {
                        tracing::info!(lost, "simulator: the event log takes facts again");
                    }
                    lost = 0;
                    break;
                }
                Err(LogError::Invalid { index, reason }) => {
                    if log_lines {
                        tracing::warn!(
                            truck = batch[index].input.truck(),
                            reason,
                            "simulator: fact dropped"
                        );
                    }
                    batch.remove(index);
                }
                Err(e) => {
                    if lost == 0 && log_lines {
                        tracing::warn!(error = %e, "simulator: losing facts");
                    }
                    lost += count;
                    break;
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
