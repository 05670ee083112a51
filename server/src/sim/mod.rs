//! The fleet simulator: trucks driving real freight corridors (US interstates and European
//! motorways, `corridors`), producing only what a real truck's telematics would: trip plans and
//! position reports with their readings (speed, heading, fuel, reefer temperature, driver hours,
//! odometer). Progress, ETAs, statuses and alerts are the server's to derive, as for any truck.
//!
//! It is pure in the sans-IO sense: no clock, no I/O, no randomness of its own. Time comes in as
//! Unix ms through [`Simulator::step`], randomness from [`Rng`] seeded by the caller, so the same
//! seed and the same step times give the same facts. Every truck draws from its own stream, so
//! truck `T-01`'s story does not change when the fleet grows.
//!
//! The story, so that a fresh fleet is lively at once: trucks start spread along their trips
//! (some loading at their first stop, a few unloading at their last, most on the road), some
//! behind their plan; now and then a jam slows a truck, a detour takes it more than 5 km off
//! its route and back, a reefer unit fails and warms out of its band, a driver takes a roadside
//! break, or a truck loses its signal for a while.
//!
//! This module holds the fleet and its types; `truck` how one truck drives, `corridors` the map.

use convoy_core::trip::Fact;
use convoy_core::wire::TruckId;

mod corridors;
#[cfg(test)]
mod tests;
mod truck;

use truck::Truck;

/// A small deterministic PRNG (splitmix64): fast, 64-bit state, good enough for a simulation.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[lo, hi)` milliseconds.
    pub fn range_ms(&mut self, lo: u64, hi: u64) -> u64 {
        lo + (self.unit() * hi.saturating_sub(lo) as f64) as u64
    }

    /// Uniform index below `n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Roughly standard normal (sum of three uniforms, scaled to unit variance).
    pub fn noise(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() - 1.5) * 2.0
    }
}

/// What the simulator needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Number of trucks, named `T-01`.. (three digits when more than 99).
    pub trucks: usize,
    /// Position reports per truck per second (0: plans only).
    pub rate: f64,
    /// Same seed, same story.
    pub seed: u64,
}

/// One fact a simulated truck produced: a new trip plan, or a position report whose `at_ms` is
/// the step's time.
#[derive(Debug, Clone, PartialEq)]
pub struct SimFact {
    pub truck: TruckId,
    pub fact: Fact,
}

/// The simulated fleet. Call [`Simulator::step`] with non-decreasing times;
/// [`Simulator::poll_timeout`] says when something is next due.
#[derive(Debug, Clone)]
pub struct Simulator {
    trucks: Vec<Truck>,
    /// Report period per truck, ms; `None` when the rate is zero.
    period_ms: Option<u64>,
    /// Whether the first step (every plan, then every position) has been taken.
    started: bool,
}

/// `T-07` for index 6 of 40 trucks; three digits when there are more than 99.
pub fn truck_id(index: usize, trucks: usize) -> TruckId {
    let width = if trucks > 99 { 3 } else { 2 };
    format!("T-{:0width$}", index + 1)
}

impl Simulator {
    /// A fleet as it stands at `start_ms`: trucks spread along their trips (some at a stop,
    /// most on the road), each on a corridor of its own choosing.
    pub fn new(config: &SimConfig, start_ms: u64) -> Simulator {
        let period_ms = (config.rate.is_finite() && config.rate > 0.0)
            .then(|| ((1000.0 / config.rate).round() as u64).max(1));
        let trucks = (0..config.trucks)
            .map(|i| {
                let stream = config
                    .seed
                    .wrapping_add((i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                Truck::new(
                    truck_id(i, config.trucks),
                    i,
                    Rng::new(stream),
                    start_ms,
                    period_ms,
                )
            })
            .collect();
        Simulator {
            trucks,
            period_ms,
            started: false,
        }
    }

    /// Advances every truck to `now_ms` and returns the facts they produced. The first step
    /// returns every truck's plan, then every truck's position (none at rate 0), so a fresh
    /// fleet is complete at once; later steps return, truck by truck in id order, a new plan
    /// when a truck starts a trip and a position when its report is due. A time before the
    /// previous step's is treated as no time passing. A truck reports at most once a step, at
    /// the step's time, so its reports' `at_ms` strictly increase; step at least twice per
    /// period (`1000 / rate` ms) to keep the rate.
    pub fn step(&mut self, now_ms: u64) -> Vec<SimFact> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let mut positions = Vec::new();
            for truck in &mut self.trucks {
                let now = truck.advance(now_ms);
                out.push(SimFact {
                    truck: truck.id().clone(),
                    fact: Fact::Plan(truck.take_plan()),
                });
                if let Some(report) = truck.first_report(now, self.period_ms) {
                    positions.push(SimFact {
                        truck: truck.id().clone(),
                        fact: Fact::Position(report),
                    });
                }
            }
            out.extend(positions);
            return out;
        }
        for truck in &mut self.trucks {
            let now = truck.advance(now_ms);
            if truck.plan_pending() {
                out.push(SimFact {
                    truck: truck.id().clone(),
                    fact: Fact::Plan(truck.take_plan()),
                });
            }
            if let Some(report) = truck.report(now, self.period_ms) {
                out.push(SimFact {
                    truck: truck.id().clone(),
                    fact: Fact::Position(report),
                });
            }
        }
        out
    }

    /// The earliest time a truck has something to produce (a report due, a trip starting, the
    /// first step); `u64::MAX` with no trucks, or with nothing scheduled at rate 0.
    pub fn poll_timeout(&self) -> u64 {
        self.trucks
            .iter()
            .map(|t| {
                if !self.started {
                    t.last_ms()
                } else {
                    t.next_due_ms(self.period_ms)
                }
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Every truck's id, in order.
    pub fn truck_ids(&self) -> Vec<TruckId> {
        self.trucks.iter().map(|t| t.id().clone()).collect()
    }

    /// Number of trucks.
    pub fn len(&self) -> usize {
        self.trucks.len()
    }

    /// Whether the fleet has no trucks.
    pub fn is_empty(&self) -> bool {
        self.trucks.is_empty()
    }
}
