//! `deploy/convoy.service` as a deployer uses it: systemd (systemd-analyze, from Debian's
//! systemd package, which `cargo xtask test` installs) takes the unit without a warning, and its
//! command line starts this build of convoy-server, which stops cleanly on SIGTERM, and systemd
//! gives it longer to stop than its `--shutdown-timeout`.

mod common;

use common::{ServerProcess, TempDir};

const UNIT: &str = include_str!("../../deploy/convoy.service");
const INSTALLED_AT: &str = "/usr/local/bin/convoy-server";

/// The arguments of the unit's `ExecStart`, its line continuations joined.
fn exec_start_args(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some(INSTALLED_AT));
    words.collect()
}

#[test]
fn systemd_takes_the_unit_without_a_warning() {
    let dir = TempDir::new("deploy-unit");
    let unit = UNIT.replace(INSTALLED_AT, env!("CARGO_BIN_EXE_convoy-server"));
    dir.write("convoy.service", unit.as_bytes());
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("convoy.service"))
        .output()
        .expect("systemd-analyze runs (cargo xtask test installs Debian's systemd)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze warns: {stderr}");
}

#[tokio::test]
async fn the_units_command_line_starts_this_build_and_stops_on_sigterm() {
    let dir = TempDir::new("deploy-exec");
    dir.write(
        "auth.key",
        b"a deployment key of 32 bytes or more, for the test",
    );
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    let root = dir.path().display().to_string();
    let args: Vec<String> = exec_start_args(UNIT)
        .into_iter()
        .map(|arg| {
            // Only what a machine gives the unit differs: its paths, its credential directory,
            // and free ports.
            arg.replace("/srv/convoy", &root)
                .replace("/var/lib/convoy", &format!("{root}/state"))
                .replace("%d", &root)
                .replace("127.0.0.1:8080", "127.0.0.1:0")
                .replace("127.0.0.1:9100", "127.0.0.2:0")
        })
        .collect();
    assert!(
        args.iter().any(|a| a.starts_with("file:")),
        "the unit keeps its log: {args:?}"
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start_as_given(&args);
    let health: convoy_server::api::Health = server.get_json("/api/health").await;
    assert!(health.ok && health.log == "file", "{health:?}");
    server.terminate();
}

/// A unit's duration (`15s`, `1min 30s`, `500ms`) the way systemd reads the simple ones.
fn unit_duration(text: &str) -> std::time::Duration {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().unwrap();
    match unit.trim() {
        "ms" => std::time::Duration::from_millis(number),
        "" | "s" => std::time::Duration::from_secs(number),
        "min" => std::time::Duration::from_secs(number * 60),
        other => panic!("unit {other:?} in {text:?}"),
    }
}

#[test]
fn systemd_waits_longer_than_the_shutdown_timeout() {
    let stop = UNIT
        .lines()
        .find_map(|line| line.strip_prefix("TimeoutStopSec="))
        .expect("the unit sets TimeoutStopSec (the default, 90 s, hides a hang)");
    let args = exec_start_args(UNIT);
    let timeout = args
        .iter()
        .position(|a| a == "--shutdown-timeout")
        .map(|i| args[i + 1].as_str())
        .expect("the unit says its --shutdown-timeout");
    let (stop, timeout) = (unit_duration(stop), unit_duration(timeout));
    // A second to spare: the process exits after its timeout, systemd then reaps it.
    assert!(
        stop >= timeout + std::time::Duration::from_secs(1),
        "TimeoutStopSec {stop:?} must exceed --shutdown-timeout {timeout:?}"
    );
}
