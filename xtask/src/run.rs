//! The commands themselves: build, serve, test and bench, over cargo, trunk and the server.

use crate::tools::{self, Need, Tools};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root: xtask lives one folder below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR` when set, else `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo xtask dev`: build the app and serve it with the simulator.
pub fn dev(server_args: &[String]) -> Result<(), String> {
    let tools = tools::ensure(Need::BUILD)?;
    build_app(&tools)?;
    cargo(&["build", "--release", "-p", "convoy-server"], &[])?;
    let addr = flag_value(server_args, "--addr").unwrap_or("127.0.0.1:8080");
    let server = target_dir().join("release/convoy-server");
    // Sign-in on, as deployed: a key made once for this checkout, and a link for a demo
    // operator who sees every truck.
    let key = dev_key()?;
    let link = Command::new(&server)
        .arg("token")
        .arg("--key-file")
        .arg(&key)
        .args(["--sub", "demo", "--trucks", "all", "--url"])
        .arg(format!("http://{addr}"))
        .output()
        .map_err(|e| format!("cannot mint a demo token: {e}"))?;
    let link = String::from_utf8_lossy(&link.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    println!("\nConvoy: http://{addr}/  (Ctrl-C stops it)");
    println!("Sign in as the demo operator: {link}\n");
    let status = Command::new(&server)
        .args(["--dist", "dist", "--auth-key-file"])
        .arg(&key)
        .args(server_args)
        .status()
        .map_err(|e| format!("cannot start convoy-server: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("convoy-server exited with {status}"))
}

/// `.dev/auth.key`: the key `cargo xtask dev` signs demo tokens with, made once from the
/// system's random source (48 bytes, hex).
fn dev_key() -> Result<PathBuf, String> {
    use std::io::Read;
    let path = workspace_root().join(".dev/auth.key");
    if path.exists() {
        return Ok(path);
    }
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(workspace_root().join(".dev")).map_err(|e| e.to_string())?;
    std::fs::write(&path, hex).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// `cargo xtask test`: every test, then one line `N passed, N failed`.
pub fn test() -> Result<(), String> {
    let tools = tools::ensure(Need::ALL)?;
    let mut tally = Tally::default();
    let browser_env = [
        (
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner".to_owned(),
        ),
        ("CHROMEDRIVER", tools.chromedriver.display().to_string()),
        ("WASM_BINDGEN_TEST_TIMEOUT", "120".to_owned()),
    ];
    tally.step("host tests", cargo_tests(&["test", "--workspace"], &[]));
    tally.step(
        "in-browser tests",
        cargo_tests(
            &[
                "test",
                "-p",
                "convoy",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "browser",
                "--test",
                "dashboard",
            ],
            &browser_env,
        ),
    );
    tally.step(
        "in-browser adapter tests",
        cargo_tests(
            &[
                "test",
                "-p",
                "convoy-browser",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "election",
            ],
            &browser_env,
        ),
    );
    let built = build_app(&tools).and_then(|()| cargo(&["build", "-p", "convoy-server"], &[]));
    match built {
        Ok(()) => {
            let e2e_env = e2e_env(&tools);
            tally.step(
                "end-to-end tests",
                cargo_tests(
                    &[
                        "test",
                        "-p",
                        "convoy",
                        "--features",
                        "e2e",
                        "--test",
                        "e2e",
                        "--",
                        "--test-threads=1",
                    ],
                    &e2e_env,
                ),
            );
        }
        Err(e) => tally.step("end-to-end tests", Err(e)),
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} test(s) failed", tally.failed))
    }
}

/// `cargo xtask bench [tabs|load|map|hub|server|ingest|derive]`: real Chromium against the real
/// server. `tabs` writes bench/results.{md,json} (streams, latency, failover per transport and
/// tab count); `load` writes bench/load.{md,json} (the app under 2 000 events/s, and its
/// transfer size); `map` writes bench/map.{md,json} (`/map` and `/` under 500 trucks at 4
/// positions/s); `hub` writes bench/hub.{md,json} (failover with hidden tabs and visible
/// windows, hidden tabs' main threads, the overview at 2 000 events/s, new tabs, transfer),
/// beside the build in `CONVOY_BASELINE_DIST` and `CONVOY_BASELINE_SERVER_BIN` when both are
/// set; `derive` writes bench/derive.{md,json} (the derivation's cost per position, on
/// the host, no server); `server`
/// writes bench/server.{md,json} (fan-out against a plain axum broadcast server, every engine;
/// no browser); `ingest` writes bench/ingest.{md,json} (a large fleet into the file engine, no
/// browser). Extra arguments after `server` go to the server bench (`--quick`,
/// `--engines memory,file,redis`, `--only 10000`), after `ingest` to its bench (`--trucks N`).
pub fn bench(args: &[String]) -> Result<(), String> {
    let (which, server, ingest): (Vec<&str>, bool, bool) = match args.first().map(String::as_str) {
        Some("tabs") => (vec!["bench"], false, false),
        Some("load") => (vec!["bench_load"], false, false),
        Some("map") => (vec!["bench_map"], false, false),
        Some("hub") => (vec!["bench_hub"], false, false),
        Some("server") => (vec![], true, false),
        Some("ingest") => (vec![], false, true),
        Some("derive") => return bench_derive(args.get(1..).unwrap_or_default()),
        None => {
            bench_derive(&[])?;
            (
                vec!["bench", "bench_load", "bench_map", "bench_hub"],
                true,
                true,
            )
        }
        Some(other) => {
            return Err(format!(
                "unknown bench {other:?}: use tabs, load, map, hub, server, ingest or derive"
            ))
        }
    };
    if server {
        bench_server(args.get(1..).unwrap_or_default())?;
    }
    if ingest {
        bench_ingest(args.get(1..).unwrap_or_default())?;
    }
    if which.is_empty() {
        return Ok(());
    }
    let tools = tools::ensure(Need::BENCH)?;
    build_app(&tools)?;
    cargo(&["build", "--release", "-p", "convoy-server"], &[])?;
    let root = workspace_root();
    let env = [
        ("CHROMEDRIVER", tools.chromedriver.display().to_string()),
        ("CONVOY_DIST", root.join("dist").display().to_string()),
        (
            "CONVOY_SERVER_BIN",
            target_dir()
                .join("release/convoy-server")
                .display()
                .to_string(),
        ),
    ];
    for example in which {
        cargo(
            &[
                "run",
                "--release",
                "-p",
                "convoy",
                "--features",
                "e2e",
                "--example",
                example,
            ],
            &env,
        )?;
    }
    Ok(())
}

/// `cargo xtask soak [--minutes N] [--seed S]`: redis-server, three convoy-server nodes behind
/// nginx, an ingest and an OsmAnd producer, and 12 Chromium tabs in two profiles, under one
/// random fault every 20 to 40 s for N minutes (`examples/soak.rs`); writes bench/soak.{md,json}
/// and fails when an event was lost or repeated, a tab stopped delivering, or a node or Redis
/// did not come back. The nodes are the debug build the end-to-end tests run.
pub fn soak(args: &[String]) -> Result<(), String> {
    let tools = tools::ensure(Need::ALL)?;
    build_app(&tools)?;
    cargo(&["build", "-p", "convoy-server"], &[])?;
    let env = e2e_env(&tools);
    let mut command: Vec<&str> = vec![
        "run",
        "-p",
        "convoy",
        "--features",
        "e2e",
        "--example",
        "soak",
        "--",
    ];
    command.extend(args.iter().map(String::as_str));
    cargo(&command, &env)
}

/// The server fan-out bench: convoy-server (memory, file, and three nodes on redis-server)
/// against a plain axum broadcast server, each in its own process, one after the other.
fn bench_server(extra: &[String]) -> Result<(), String> {
    tools::ensure_redis()?;
    run_server_bench("fanout", extra)
}

/// The ingest bench: a large fleet pushed into the file engine, this build beside the one in
/// `CONVOY_BASELINE_SERVER_BIN` when that is set.
fn bench_ingest(extra: &[String]) -> Result<(), String> {
    run_server_bench("ingest_load", extra)
}

/// The derivation's cost per position: a release build of convoy-core's `derive_bench`, on the
/// host; `extra` goes to it (`--positions N`).
fn bench_derive(extra: &[String]) -> Result<(), String> {
    let mut args: Vec<&str> = vec![
        "run",
        "--release",
        "-p",
        "convoy-core",
        "--example",
        "derive_bench",
        "--",
        "--out",
        "bench",
    ];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args, &[])
}

/// Runs convoy-server's bench `example` against its release build, writing into `bench/`;
/// `extra` goes to the example.
fn run_server_bench(example: &str, extra: &[String]) -> Result<(), String> {
    cargo(&["build", "--release", "-p", "convoy-server"], &[])?;
    let bin = target_dir().join("release/convoy-server");
    let mut args: Vec<&str> = vec![
        "run",
        "--release",
        "-p",
        "convoy-server",
        "--example",
        example,
        "--",
        "--out",
        "bench",
    ];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args, &[("CONVOY_SERVER_BIN", bin.display().to_string())])
}

/// What the end-to-end tests and the soak read: chromedriver, the app's build, nginx, Lighthouse,
/// the other engines when installed, and the debug build of convoy-server.
fn e2e_env(tools: &Tools) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CHROMEDRIVER", tools.chromedriver.display().to_string()),
        (
            "CONVOY_DIST",
            workspace_root().join("dist").display().to_string(),
        ),
        ("CONVOY_NGINX", tools::NGINX.to_owned()),
        (
            "CONVOY_LIGHTHOUSE",
            workspace_root()
                .join(tools::LIGHTHOUSE_DIR)
                .display()
                .to_string(),
        ),
        (
            "CONVOY_SERVER_BIN",
            target_dir()
                .join("debug/convoy-server")
                .display()
                .to_string(),
        ),
    ];
    if let Some(engines) = &tools.engines {
        env.extend([
            ("CONVOY_FIREFOX", engines.firefox.display().to_string()),
            (
                "CONVOY_WEBKIT_WEBDRIVER",
                engines.webkit_webdriver.display().to_string(),
            ),
            (
                "CONVOY_MINIBROWSER",
                engines.minibrowser.display().to_string(),
            ),
            ("CONVOY_XVFB", engines.xvfb.display().to_string()),
        ]);
    }
    env
}

/// Builds the app into `dist/` with trunk, offline, in release mode.
fn build_app(tools: &Tools) -> Result<(), String> {
    let status = Command::new("trunk")
        .args(["build", "--release"])
        .env("PATH", &tools.path)
        .status()
        .map_err(|e| format!("cannot run trunk: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| "trunk build failed".to_owned())
}

fn cargo(args: &[&str], env: &[(&str, String)]) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("`cargo {}` failed", args.join(" ")))
}

/// Counts from libtest's `test result:` lines (wasm-bindgen-test-runner prints the same).
#[derive(Default, Debug, PartialEq)]
struct Counts {
    passed: u32,
    failed: u32,
    /// Whether cargo itself exited successfully.
    success: bool,
}

/// Runs a cargo test command, echoing its output and summing its results.
fn cargo_tests(args: &[&str], env: &[(&str, String)]) -> Result<Counts, String> {
    let mut child = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut counts = Counts::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some((passed, failed)) = parse_result_line(&line) {
                counts.passed += passed;
                counts.failed += failed;
            }
        }
    }
    counts.success = child.wait().map_err(|e| e.to_string())?.success();
    Ok(counts)
}

/// Reads `test result: ok. 5 passed; 1 failed; ...`.
fn parse_result_line(line: &str) -> Option<(u32, u32)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let number_before = |word: &str| -> Option<u32> {
        let end = rest.find(word)?;
        rest[..end].trim_end().rsplit(' ').next()?.parse().ok()
    };
    Some((number_before(" passed")?, number_before(" failed")?))
}

#[derive(Default)]
struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    /// Adds a step's counts; a step that failed without a failing test (a build error, a
    /// crash) counts as one failure so the total never hides it.
    fn step(&mut self, name: &str, result: Result<Counts, String>) {
        match result {
            Ok(counts) => {
                self.passed += counts.passed;
                self.failed += counts.failed;
                if !counts.success && counts.failed == 0 {
                    eprintln!("xtask: {name} did not complete");
                    self.failed += 1;
                }
            }
            Err(e) => {
                eprintln!("xtask: {name}: {e}");
                self.failed += 1;
            }
        }
    }
}

fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libtest_and_runner_result_lines() {
        let line =
            "test result: FAILED. 12 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(parse_result_line(line), Some((12, 3)));
        assert_eq!(
            parse_result_line("test result: ok. 0 passed; 0 failed;"),
            Some((0, 0))
        );
        assert_eq!(parse_result_line("running 3 tests"), None);
    }

    #[test]
    fn a_step_that_did_not_complete_counts_as_a_failure() {
        let mut tally = Tally::default();
        tally.step(
            "a",
            Ok(Counts {
                passed: 4,
                failed: 0,
                success: false,
            }),
        );
        tally.step("b", Err("no cargo".into()));
        tally.step(
            "c",
            Ok(Counts {
                passed: 2,
                failed: 1,
                success: false,
            }),
        );
        assert_eq!((tally.passed, tally.failed), (6, 3));
    }
}
