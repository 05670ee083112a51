//! Convoy's developer commands. `cargo xtask dev` builds the app and serves it with the
//! simulator; `cargo xtask test` runs every test; `cargo xtask bench` measures. Each installs
//! what it needs first, idempotently, at the versions pinned here and in Cargo.lock.

mod map_assets;
mod run;
mod tools;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <dev|test|bench|soak|tools> [args]
  dev [server flags]   install what is missing, build the app, serve it on http://127.0.0.1:8080
  test                 install what is missing, run host, in-browser and end-to-end tests
  bench [tabs|load|map|server|ingest|derive]  run the benchmarks (tabs, load, map: real
                       Chromium; server: fan-out against a plain axum server; ingest: a large
                       fleet into the file engine; derive: the derivation's cost per position),
                       write bench/*.{md,json}
  soak [--minutes N] [--seed S]  Redis, three nodes behind nginx, producers and 12 Chromium
                       tabs under a fault every 20-40 s for N minutes (default 30), write
                       bench/soak.{md,json}; fails on a lost or repeated event
  tools                only install what is missing";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = run::workspace_root();
    std::env::set_current_dir(&root).expect("workspace root exists");
    let result = match args.first().map(String::as_str) {
        Some("dev") => run::dev(&args[1..]),
        Some("test") => run::test(),
        Some("bench") => run::bench(&args[1..]),
        Some("soak") => run::soak(&args[1..]),
        Some("tools") => tools::ensure(tools::Need::ALL).map(|_| ()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
