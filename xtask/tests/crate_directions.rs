//! The crates' dependencies say the design, and this keeps them saying it: the core is pure
//! Rust, the browser adapters and the workers have no Yew, and nothing below the app depends on
//! the app. Read from `cargo tree`, so a new dependency anywhere in a crate's tree counts.

use std::collections::BTreeSet;
use std::process::Command;

/// Every package in `package`'s normal dependency tree for `target` (`host`: the machine's own).
fn tree(package: &str, target: &str) -> BTreeSet<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let targets: &[&str] = if target == "host" {
        &[]
    } else {
        &["--target", target]
    };
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["tree", "-p", package, "-e", "normal"])
        .args(targets)
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_free_of(package: &str, target: &str, forbidden: &[&str]) {
    let found: Vec<String> = tree(package, target)
        .into_iter()
        .filter(|name| {
            forbidden
                .iter()
                .any(|f| name == f || (f.ends_with('*') && name.starts_with(&f[..f.len() - 1])))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{package} ({target}) must not depend on {found:?}"
    );
}

const BROWSER: &[&str] = &["web-sys", "js-sys", "wasm-bindgen*", "gloo*"];
// gloo-net is not here: it is convoy-browser's HTTP client, in pages and workers alike.
const VIEWS: &[&str] = &["yew*", "convoy"];

#[test]
fn the_core_is_pure_rust_on_every_target() {
    let forbidden: Vec<&str> = BROWSER.iter().chain(VIEWS).copied().collect();
    assert_free_of("convoy-core", "all", &forbidden);
    assert_free_of("convoy-core", "wasm32-unknown-unknown", &forbidden);
}

#[test]
fn the_browser_adapters_and_the_workers_have_no_views() {
    for package in ["convoy-browser", "convoy-workers"] {
        assert_free_of(package, "wasm32-unknown-unknown", VIEWS);
    }
}

/// On the machine it runs on: its dependencies' wasm-only branches (getrandom's, say) never build
/// for the server.
#[test]
fn the_server_shares_only_the_core() {
    let forbidden: Vec<&str> = BROWSER
        .iter()
        .chain(VIEWS)
        .chain(&["convoy-browser"])
        .copied()
        .collect();
    assert_free_of("convoy-server", "host", &forbidden);
}

#[test]
fn the_guard_sees_what_it_forbids() {
    // The app itself has Yew: if the guard could not see it, the tests above would prove nothing.
    let app = tree("convoy", "wasm32-unknown-unknown");
    assert!(app.contains("yew") && app.contains("convoy-browser") && app.contains("web-sys"));
}
