//! Installs the toolchain Convoy builds with, skipping whatever is already there at the pinned
//! version. Nothing here runs at build time: trunk is configured offline and finds these tools
//! on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

/// trunk 0.22 needs a newer rustc than the one we target; 0.21.14 is the last that builds.
const TRUNK_VERSION: &str = "0.21.14";
/// binaryen's npm build; Debian's binaryen is too old for current rustc output.
const BINARYEN_VERSION: &str = "132.0.0";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The map's library and its offline basemap, from npm. Natural Earth's countries
/// (`world-atlas`) and the US Census states (`us-atlas`) are public domain.
const MAP_PACKAGES: [&str; 3] = ["leaflet@1.9.4", "world-atlas@2.0.2", "us-atlas@3.0.1"];
/// The release lines of the other two engines the end-to-end tests run in: Firefox ESR 153
/// (from bookworm-security) and WebKitGTK 2.50. A line, not a build: Debian's archives keep only
/// the newest build of a package, so an exact pin would stop installing at its next update.
const FIREFOX_ESR_LINE: &str = "153.";
const WEBKITGTK_LINE: &str = "2.50.";
/// Lighthouse, whose accessibility audit the end-to-end tests run on every page: the last
/// release that runs on Debian's Node 20 (13 wants Node 22).
const LIGHTHOUSE_VERSION: &str = "12.2.3";
/// Where npm installs it; the tests find it there (`CONVOY_LIGHTHOUSE`).
pub const LIGHTHOUSE_DIR: &str = ".tools/lighthouse";

/// What a command needs installed.
#[derive(Clone, Copy)]
pub struct Need {
    pub browser: bool,
    /// Debian's redis-server, which the server's Redis engine and cluster tests run against.
    pub redis: bool,
    /// Debian's nginx, which serves the built app through `deploy/nginx.conf` in a test, and
    /// systemd's `systemd-analyze`, which checks `deploy/convoy.service` in another.
    pub nginx: bool,
    /// Debian's Firefox ESR, WebKitGTK's `WebKitWebDriver` with its MiniBrowser, and Xvfb for
    /// MiniBrowser's display: the engines besides Chromium the end-to-end tests run in.
    pub engines: bool,
}

impl Need {
    pub const ALL: Need = Need {
        browser: true,
        redis: true,
        nginx: true,
        engines: true,
    };
    /// The benches measure Chromium only.
    pub const BENCH: Need = Need {
        engines: false,
        ..Need::ALL
    };
    pub const BUILD: Need = Need {
        browser: false,
        redis: false,
        nginx: false,
        engines: false,
    };
}

/// Where the installed tools are, for the commands that use them.
pub struct Tools {
    /// PATH with the npm-installed wasm-opt in front, for trunk.
    pub path: String,
    pub chromedriver: PathBuf,
    /// Set when `Need::engines` asked for them.
    pub engines: Option<Engines>,
}

/// Where Debian puts the other engines' programs.
pub struct Engines {
    pub firefox: PathBuf,
    pub webkit_webdriver: PathBuf,
    pub minibrowser: PathBuf,
    pub xvfb: PathBuf,
}

/// Installs what is missing and says where everything is.
pub fn ensure(need: Need) -> Result<Tools, String> {
    ensure_wasm_target()?;
    ensure_cargo_tool("trunk", "trunk", TRUNK_VERSION, &["--locked"])?;
    let bindgen = wasm_bindgen_version_in_lock()?;
    // wasm-bindgen-cli's own lock names a crate the registry no longer has: no --locked.
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &bindgen, &[])?;
    let wasm_opt_dir = ensure_wasm_opt()?;
    // index.html copies `.tools/map` into the build: trunk fails without it.
    crate::map_assets::ensure(&MAP_PACKAGES)?;
    // Every release build needs it: trunk's post-build hook writes a `.br` beside each asset.
    ensure_brotli()?;
    let chromedriver = PathBuf::from("/usr/bin/chromedriver");
    if need.browser {
        ensure_chromium(&chromedriver)?;
        ensure_lighthouse()?;
    }
    if need.redis {
        ensure_redis()?;
    }
    if need.nginx {
        ensure_nginx()?;
        ensure_systemd_analyze()?;
    }
    let engines = if need.engines {
        Some(ensure_engines()?)
    } else {
        None
    };
    let path = format!(
        "{}:{}",
        wasm_opt_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Ok(Tools {
        path,
        chromedriver,
        engines,
    })
}

fn ensure_wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    say(&format!("installing the {WASM_TARGET} target"));
    status("rustup", &["target", "add", WASM_TARGET])
}

/// Runs `cargo install` unless `binary --version` already reports `version`.
fn ensure_cargo_tool(
    binary: &str,
    krate: &str,
    version: &str,
    extra: &[&str],
) -> Result<(), String> {
    let reported = output(binary, &["--version"]).unwrap_or_default();
    if reported.split_whitespace().nth(1) == Some(version) {
        return Ok(());
    }
    say(&format!(
        "installing {krate} {version} (once; this takes minutes)"
    ));
    let mut args = vec!["install", krate, "--version", version];
    args.extend_from_slice(extra);
    status("cargo", &args)
}

/// The `wasm-bindgen` version Cargo.lock resolved: the CLI must match it exactly.
pub fn wasm_bindgen_version_in_lock() -> Result<String, String> {
    let lock = std::fs::read_to_string("Cargo.lock")
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(version.trim_matches('"').to_owned());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

/// Installs binaryen's wasm-opt from npm into `.tools/binaryen`, returns its bin directory.
fn ensure_wasm_opt() -> Result<PathBuf, String> {
    let prefix = Path::new(".tools/binaryen");
    let bin = std::fs::canonicalize(".")
        .map_err(|e| e.to_string())?
        .join(prefix)
        .join("node_modules/.bin");
    let major = BINARYEN_VERSION.split('.').next().unwrap_or_default();
    let reported = output(
        bin.join("wasm-opt").to_str().unwrap_or_default(),
        &["--version"],
    );
    if reported.is_some_and(|v| v.contains(&format!("version {major}"))) {
        return Ok(bin);
    }
    say(&format!(
        "installing binaryen {BINARYEN_VERSION} (wasm-opt) from npm"
    ));
    std::fs::create_dir_all(prefix).map_err(|e| e.to_string())?;
    let package = format!("binaryen@{BINARYEN_VERSION}");
    status(
        "npm",
        &[
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            ".tools/binaryen",
            &package,
        ],
    )?;
    Ok(bin)
}

/// Installs Lighthouse from npm into [`LIGHTHOUSE_DIR`] unless that version is there.
fn ensure_lighthouse() -> Result<(), String> {
    let manifest = Path::new(LIGHTHOUSE_DIR).join("node_modules/lighthouse/package.json");
    let installed = std::fs::read_to_string(&manifest).unwrap_or_default();
    if installed.contains(&format!("\"version\": \"{LIGHTHOUSE_VERSION}\"")) {
        return Ok(());
    }
    say(&format!(
        "installing Lighthouse {LIGHTHOUSE_VERSION} from npm"
    ));
    std::fs::create_dir_all(LIGHTHOUSE_DIR).map_err(|e| e.to_string())?;
    let package = format!("lighthouse@{LIGHTHOUSE_VERSION}");
    status(
        "npm",
        &[
            "install",
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--prefix",
            LIGHTHOUSE_DIR,
            &package,
        ],
    )
}

fn ensure_chromium(chromedriver: &Path) -> Result<(), String> {
    if Path::new("/usr/bin/chromium").exists() && chromedriver.exists() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err(
            "Chromium is missing: run `sudo apt-get install -y chromium chromium-driver`".into(),
        );
    }
    say("installing Debian's chromium and chromium-driver");
    status("apt-get", &["update"])?;
    status("apt-get", &["install", "-y", "chromium", "chromium-driver"])
}

/// Debian's `firefox-esr`, `webkit2gtk-driver` and `xvfb`, installed when missing or off the
/// pinned release lines; fails naming the package when Debian's candidate is on another line.
fn ensure_engines() -> Result<Engines, String> {
    let lines = [
        ("firefox-esr", FIREFOX_ESR_LINE),
        ("webkit2gtk-driver", WEBKITGTK_LINE),
    ];
    let on_line = |(package, line): &(&str, &str)| {
        debian_version(package).is_some_and(|version| version.starts_with(line))
    };
    let xvfb = PathBuf::from("/usr/bin/Xvfb");
    if !(lines.iter().all(on_line) && xvfb.exists()) {
        let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
        if !is_root {
            return Err(
                "Firefox ESR 153 or WebKitGTK 2.50 is missing: run `sudo apt-get install -y \
                        firefox-esr webkit2gtk-driver xvfb`"
                    .into(),
            );
        }
        say("installing Debian's firefox-esr, webkit2gtk-driver and xvfb");
        status("apt-get", &["update"])?;
        status(
            "apt-get",
            &["install", "-y", "firefox-esr", "webkit2gtk-driver", "xvfb"],
        )?;
        if let Some((package, line)) = lines.iter().find(|p| !on_line(p)) {
            return Err(format!(
                "Debian's {package} is {}, the end-to-end tests are pinned to {line}x",
                debian_version(package).unwrap_or_else(|| "not installed".into())
            ));
        }
    }
    // MiniBrowser sits in the library package, under the machine's multiarch directory.
    let minibrowser = output("dpkg", &["-L", "libwebkit2gtk-4.1-0"])
        .and_then(|files| {
            files
                .lines()
                .find(|file| file.ends_with("/MiniBrowser"))
                .map(PathBuf::from)
        })
        .ok_or("libwebkit2gtk-4.1-0 has no MiniBrowser")?;
    Ok(Engines {
        firefox: PathBuf::from("/usr/bin/firefox-esr"),
        webkit_webdriver: PathBuf::from("/usr/bin/WebKitWebDriver"),
        minibrowser,
        xvfb,
    })
}

/// The installed version of a Debian package, or None when it is not installed (a removed
/// package whose configuration stays still has a version: its status says it is gone).
fn debian_version(package: &str) -> Option<String> {
    let reported = output(
        "dpkg-query",
        &["-W", "-f=${db:Status-Status} ${Version}", package],
    )?;
    reported
        .strip_prefix("installed ")
        .map(|version| version.trim().to_owned())
}

/// Debian's redis-server (7.0 on bookworm): the tests start their own on a free port.
pub fn ensure_redis() -> Result<(), String> {
    if output("redis-server", &["--version"]).is_some() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err("redis-server is missing: run `sudo apt-get install -y redis-server`".into());
    }
    say("installing Debian's redis-server");
    status("apt-get", &["update"])?;
    status("apt-get", &["install", "-y", "redis-server"])?;
    // The package starts a system service on :6379; Convoy's tests start their own.
    Ok(())
}

/// Where Debian's nginx package puts the binary (`/usr/sbin` is not on every user's PATH).
pub const NGINX: &str = "/usr/sbin/nginx";

/// Debian's nginx (1.22 on bookworm), the oldest nginx `deploy/nginx.conf` must load in: a test
/// runs its own with that file, on loopback ports.
fn ensure_nginx() -> Result<(), String> {
    if output(NGINX, &["-v"]).is_some() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err("nginx is missing: run `sudo apt-get install -y nginx`".into());
    }
    say("installing Debian's nginx");
    status("apt-get", &["update"])?;
    // Where the package can start a system service, it does (on :80); Convoy's test starts its own.
    status("apt-get", &["install", "-y", "nginx"])
}

/// systemd's `systemd-analyze` (Debian's systemd package), which checks the unit in `deploy/`;
/// it needs no running systemd.
fn ensure_systemd_analyze() -> Result<(), String> {
    if output("systemd-analyze", &["--version"]).is_some() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err("systemd-analyze is missing: run `sudo apt-get install -y systemd`".into());
    }
    say("installing Debian's systemd (for systemd-analyze)");
    status("apt-get", &["update"])?;
    status("apt-get", &["install", "-y", "systemd"])
}

/// Debian's brotli (the CLI), which the release build's post-build hook (Trunk.toml) runs to
/// write the `.br` sibling of each js, wasm and css file that convoy-server serves.
fn ensure_brotli() -> Result<(), String> {
    if output("brotli", &["--version"]).is_some() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root {
        return Err("brotli is missing: run `sudo apt-get install -y brotli`".into());
    }
    say("installing Debian's brotli");
    status("apt-get", &["update"])?;
    status("apt-get", &["install", "-y", "brotli"])
}

pub(crate) fn say(message: &str) {
    eprintln!("xtask: {message}");
}

/// A command's stdout, or None when it cannot run or fails.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn status(program: &str, args: &[&str]) -> Result<(), String> {
    let ok = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed", args.join(" ")))
    }
}
