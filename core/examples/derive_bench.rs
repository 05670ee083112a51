//! `cargo xtask bench derive`: what the server's derivation costs per position. A truck drives
//! Chicago → Indianapolis → Louisville on I-65 (the plan of core/tests/derive.rs: the road's
//! shape as via points, 30 minutes at Indianapolis, a 2..8 °C reefer), a report every 5 s with
//! speed, heading, reefer and driver hours, trip after trip until `--positions N` (default
//! 100 000) reports were derived. Each call of `convoy_core::derive::derive` is timed on its own
//! (`Instant` around the call, the events it returns included). Writes DIR/derive.{md,json}
//! (`--out DIR`, default `bench`). Build it in release mode: a debug build measures the wrong
//! thing.

#[path = "../tests/support/i65.rs"]
mod i65;
use i65::{ll, plan, road_to_indianapolis, road_to_louisville};

use convoy_core::derive::{derive, Fact};
use convoy_core::geo::{distance_m, intermediate, LatLon};
use convoy_core::trip::{PositionReport, Trip};
use std::path::PathBuf;
use std::time::Instant;

const MIN: u64 = 60_000;
/// Monday 3 June 2024, 06:00 in Chicago.
const T0: u64 = 1_717_412_400_000;
/// A report every this many ms of the truck's clock.
const EVERY_MS: u64 = 5_000;
const KPH: f64 = 90.0;

/// The positions of one trip from `t0`: along the road at 90 km/h, every [`EVERY_MS`], standing
/// at Indianapolis for 30 minutes between the legs.
fn trip_positions(t0: u64) -> Vec<(u64, LatLon, f64)> {
    let mut out = Vec::new();
    let mut now = t0;
    for (n, road) in [road_to_indianapolis(), road_to_louisville()]
        .iter()
        .enumerate()
    {
        if n == 1 {
            let end = now + 30 * MIN;
            while now < end {
                out.push((now, road[0], 0.0));
                now += EVERY_MS;
            }
        }
        for leg in road.windows(2) {
            let metres = distance_m(leg[0], leg[1]);
            let steps = (metres / (KPH / 3.6 * EVERY_MS as f64 / 1000.0)).ceil() as u64;
            for i in 0..steps {
                let at = intermediate(leg[0], leg[1], i as f64 / steps as f64);
                out.push((now, at, KPH));
                now += EVERY_MS;
            }
        }
    }
    out.push((now, ll(38.2527, -85.7585), 0.0));
    out
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// This thread's CPU time (user and system) in seconds, from /proc (10 ms ticks): unlike the
/// wall clock, it leaves out the time other work held the cores.
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let want: usize = flag("--positions")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let out_dir = flag("--out").map_or_else(|| PathBuf::from("bench"), PathBuf::from);
    let load_before = load_avg();
    let mut nanos: Vec<u64> = Vec::with_capacity(want);
    let (mut events, mut trips) = (0usize, 0usize);
    let mut t0 = T0;
    let started = Instant::now();
    let cpu_from = thread_cpu_s();
    while nanos.len() < want {
        let mut trip = Trip::default();
        derive(&mut trip, "ACME-1", Fact::Plan(plan(t0)), t0).expect("the plan is valid");
        trips += 1;
        let positions = trip_positions(t0);
        let last = positions.last().map_or(t0, |p| p.0);
        for (i, (at_ms, at, kph)) in positions.into_iter().enumerate() {
            if nanos.len() == want {
                break;
            }
            let mut report = PositionReport::at(at_ms, at);
            report.speed_kph = Some(kph as f32);
            report.heading_deg = Some(170.0);
            // The reefer drifts out of its band and back once an hour.
            report.reefer_c = Some(if (i / 720) % 2 == 1 && i % 720 < 60 {
                9.5
            } else {
                4.0
            });
            report.driver_minutes_left = Some(600u32.saturating_sub((i / 12) as u32));
            let fact = Fact::Position(report);
            let before = Instant::now();
            let out = derive(&mut trip, "ACME-1", fact, at_ms);
            let took = before.elapsed();
            events += out.expect("each position is newer").len();
            nanos.push(took.as_nanos() as u64);
        }
        t0 = last + 60 * MIN;
    }
    let wall = started.elapsed();
    let cpu_us = (thread_cpu_s() - cpu_from) * 1e6 / nanos.len() as f64;
    let load_after = load_avg();
    nanos.sort_unstable();
    let n = nanos.len();
    let mean_us = nanos.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
    let (p50, p99, p999, max) = (
        percentile(&nanos, 0.50),
        percentile(&nanos, 0.99),
        percentile(&nanos, 0.999),
        nanos[n - 1] as f64 / 1000.0,
    );
    // 500 trucks at 4 positions/s each: the busiest load the benches drive.
    let core_pct_2000 = cpu_us * 2000.0 / 1e6 * 100.0;
    let json = serde_json::json!({
        "positions": n,
        "trips": trips,
        "events": events,
        "report_every_ms": EVERY_MS,
        "p50_us": p50,
        "p99_us": p99,
        "p999_us": p999,
        "max_us": max,
        "mean_us": mean_us,
        "cpu_us_per_position": cpu_us,
        "core_pct_at_2000_per_s": core_pct_2000,
        "wall_s": wall.as_secs_f64(),
        "load_avg_before": load_before,
        "load_avg_after": load_after,
    });
    let md = format!(
        "# The derivation's cost per position\n\n\
         `convoy_core::derive::derive` in a release build on this machine's host CPU (2 cores, \
         shared with other work): a truck driving Chicago → Indianapolis → Louisville on I-65 \
         (the plan of the derivation's tests: the road's shape as {via} via points, 30 minutes \
         at Indianapolis, a 2..8 °C reefer), a position report every {every} s with speed, \
         heading, reefer temperature (out of its band for 5 minutes once an hour) and driver \
         hours, {trips} trips one after the other (a new trip and plan for each). Each call is \
         timed alone, its returned events ({events} in all: the position events and the stop, \
         alert and status events they caused) included; the plan events are not counted.\n\n\
         | positions | p50 µs | p99 µs | p99.9 µs | max µs | mean µs | CPU µs per position | one core at 2 000 positions/s | load avg before / after |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {n} | {p50:.2} | {p99:.2} | {p999:.2} | {max:.1} | {mean_us:.2} | {cpu_us:.2} | {core_pct_2000:.2} % | {load_before} / {load_after} |\n\n\
         The percentiles, the max and the mean are wall-clock times of single calls, so a call \
         during which another process held the core counts that time too (the tail and the \
         mean say more about the machine's load than about the derivation). *CPU µs per \
         position* is the thread's CPU time over the whole loop (the trips' positions made \
         too) divided by the positions; the next column is that times 2 000 (500 trucks at 4 \
         positions/s, the map bench's load): the share of one core the derivation would take \
         at that rate.\n",
        via = plan(T0).stops.iter().map(|s| s.via.len()).sum::<usize>(),
        every = EVERY_MS / 1000,
    );
    std::fs::create_dir_all(&out_dir).expect("the output directory is writable");
    std::fs::write(out_dir.join("derive.md"), &md).expect("write derive.md");
    std::fs::write(
        out_dir.join("derive.json"),
        serde_json::to_string_pretty(&json).expect("json") + "\n",
    )
    .expect("write derive.json");
    println!("{md}");
}
