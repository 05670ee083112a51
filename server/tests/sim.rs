//! The simulator through the library's public API: a seed fixes the story.

use convoy_core::wire::FleetEvent;
use convoy_server::sim::{SimConfig, Simulator};

fn run(seed: u64, ticks: &[u64]) -> Vec<FleetEvent> {
    let config = SimConfig {
        trucks: 40,
        rate: 1.0,
        seed,
    };
    let mut sim = Simulator::new(&config, 1_800_000_000_000);
    ticks.iter().flat_map(|&t| sim.step(t)).collect()
}

#[test]
fn same_seed_and_tick_times_give_identical_events() {
    // Ten simulated minutes at uneven tick times.
    let ticks: Vec<u64> = (1..=2400u64)
        .map(|i| 1_800_000_000_000 + i * 250 + (i * 37) % 90)
        .collect();
    let a = run(7, &ticks);
    let b = run(7, &ticks);
    assert!(a.len() > 20_000, "{}", a.len());
    assert_eq!(a, b);
    assert!(a.iter().any(|e| matches!(e, FleetEvent::Status { .. })));
    assert_ne!(a, run(8, &ticks));
}

#[test]
fn same_seed_same_map_and_initial_fleet() {
    let config = SimConfig {
        trucks: 40,
        rate: 1.0,
        seed: 42,
    };
    let a = Simulator::new(&config, 5_000);
    let b = Simulator::new(&config, 5_000);
    assert_eq!(a.map(), b.map());
    assert_eq!(a.states(), b.states());
    let ids: Vec<_> = a.states().into_iter().map(|t| t.id).collect();
    assert_eq!(ids.first().map(String::as_str), Some("T-01"));
    assert_eq!(ids.last().map(String::as_str), Some("T-40"));
}
