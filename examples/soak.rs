//! `cargo xtask soak --minutes N [--seed S]`: the whole system under faults for N minutes (see
//! `tests/e2e/soak.rs`, which the end-to-end tests run for two), written to `bench/soak.md` and
//! `bench/soak.json`. Exits non-zero when an event was lost or repeated, a tab stopped
//! delivering, or a node or Redis did not come back.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../tests/e2e/soak.rs"]
mod soak;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: soak [--minutes N] [--seed S] [--out DIR]";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut minutes, mut seed, mut out) = (30.0_f64, None, "bench".to_owned());
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match (args[i].as_str(), value) {
            ("--minutes", Some(v)) => match v.parse::<f64>() {
                Ok(m) if m > 0.0 && m.is_finite() => minutes = m,
                _ => {
                    eprintln!("soak: --minutes must be a positive number, got {v:?}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--seed", Some(v)) => match v.parse::<u64>() {
                Ok(s) => seed = Some(s),
                Err(_) => {
                    eprintln!("soak: --seed must be a whole number, got {v:?}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--out", Some(v)) => out = v.clone(),
            (other, _) => {
                eprintln!("soak: unknown or incomplete argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    // Without a seed, the clock's: printed, so a run can be repeated.
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    });
    eprintln!("soak: {minutes} minutes, seed {seed}");
    let report = soak::Soak {
        duration: Duration::from_secs_f64(minutes * 60.0),
        seed,
    }
    .run()
    .await;
    report.write(std::path::Path::new(&out), "soak");
    println!("{}", report.markdown());
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: failed: {:#?}", report.failures);
        ExitCode::FAILURE
    }
}
