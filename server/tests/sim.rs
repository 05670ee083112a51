//! The simulator through the library's public API: a seed fixes the story.

use convoy_core::trip::Fact;
use convoy_server::sim::{SimConfig, SimFact, Simulator};

fn run(seed: u64, ticks: &[u64]) -> Vec<SimFact> {
    let config = SimConfig {
        trucks: 40,
        rate: 1.0,
        seed,
    };
    let mut sim = Simulator::new(&config, 1_800_000_000_000);
    ticks.iter().flat_map(|&t| sim.step(t)).collect()
}

#[test]
fn same_seed_and_tick_times_give_identical_facts() {
    // Ten simulated minutes at uneven tick times.
    let ticks: Vec<u64> = (1..=2400u64)
        .map(|i| 1_800_000_000_000 + i * 250 + (i * 37) % 90)
        .collect();
    let a = run(7, &ticks);
    let b = run(7, &ticks);
    assert!(a.len() > 20_000, "{}", a.len());
    assert_eq!(a, b);
    assert!(a.iter().any(|f| matches!(f.fact, Fact::Plan(_))));
    assert_ne!(a, run(8, &ticks));
}

#[test]
fn same_seed_same_initial_fleet() {
    let config = SimConfig {
        trucks: 40,
        rate: 1.0,
        seed: 42,
    };
    let mut a = Simulator::new(&config, 5_000);
    let mut b = Simulator::new(&config, 5_000);
    assert_eq!(a.len(), 40);
    let ids = a.truck_ids();
    assert_eq!(ids, b.truck_ids());
    assert_eq!(ids.first().map(String::as_str), Some("T-01"));
    assert_eq!(ids.last().map(String::as_str), Some("T-40"));
    let first = a.step(5_000);
    assert_eq!(first, b.step(5_000));
    // Every plan, then every position.
    assert_eq!(first.len(), 80);
    assert!(first[..40].iter().all(|f| matches!(f.fact, Fact::Plan(_))));
    assert!(first[40..]
        .iter()
        .all(|f| matches!(f.fact, Fact::Position(_))));
}
