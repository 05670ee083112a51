//! Temporary: a CPU profile of a hidden follower at 80 events/s.
#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
use harness::{Browser, Server};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::var("PROF_ARGS")
        .unwrap_or("--trucks 40 --rate 2".into())
        .split(' ')
        .map(String::from)
        .collect();
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let server = Server::start(&args).await;
    let browser = Browser::start_throttled().await;
    let path = std::env::var("PROF_PATH").unwrap_or("/?transport=leader".into());
    let url = format!("{}{}", server.base, path);
    let leader = browser.open_tab(&url).await;
    let which = std::env::var("PROF_TAB").unwrap_or("follower".into());
    let follower = if which == "alone" {
        leader.clone()
    } else {
        browser.open_background_tab(&leader, &url, "").await
    };
    let tab = if which != "follower" {
        &leader
    } else {
        &follower
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    browser.cdp(tab, "Performance.enable", json!({})).await;
    let m0 = browser.cdp(tab, "Performance.getMetrics", json!({})).await;
    browser.cdp(tab, "Profiler.enable", json!({})).await;
    browser
        .cdp(
            tab,
            "Profiler.setSamplingInterval",
            json!({"interval": 100}),
        )
        .await;
    browser.cdp(tab, "Profiler.start", json!({})).await;
    // Switching to a tab shows it: show the leader again.
    browser
        .cdp(
            &leader,
            "Runtime.evaluate",
            json!({"expression": "document.visibilityState"}),
        )
        .await;
    let vis = browser
        .cdp(
            &follower,
            "Runtime.evaluate",
            json!({"expression": "document.visibilityState"}),
        )
        .await;
    eprintln!("follower visibility after the read: {vis}");
    browser
        .cdp(&leader, "Runtime.evaluate", json!({"expression": "1"}))
        .await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let profile = browser.cdp(tab, "Profiler.stop", json!({})).await;
    let m1 = browser.cdp(tab, "Performance.getMetrics", json!({})).await;
    for (a, b) in m0["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .zip(m1["metrics"].as_array().unwrap())
    {
        let d = b["value"].as_f64().unwrap_or(0.0) - a["value"].as_f64().unwrap_or(0.0);
        if d != 0.0 {
            println!("metric {} +{:.3}", a["name"], d);
        }
    }
    std::fs::write("/tmp/prof/profile.json", profile.to_string()).unwrap();
    let p = &profile["profile"];
    let mut by_id: HashMap<u64, String> = HashMap::new();
    for n in p["nodes"].as_array().unwrap() {
        let cf = &n["callFrame"];
        let url = cf["url"].as_str().unwrap_or("");
        let short = url.rsplit('/').next().unwrap_or("");
        by_id.insert(
            n["id"].as_u64().unwrap(),
            format!("{} {}", cf["functionName"].as_str().unwrap_or(""), short),
        );
    }
    let samples = p["samples"].as_array().unwrap();
    let deltas = p["timeDeltas"].as_array().unwrap();
    let mut self_us: HashMap<String, i64> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        // a sample's delta is the time before it; attribute the next delta to this sample
        let d = deltas.get(i + 1).and_then(|d| d.as_i64()).unwrap_or(0);
        *self_us
            .entry(by_id[&s.as_u64().unwrap()].clone())
            .or_default() += d;
    }
    let mut v: Vec<_> = self_us.into_iter().collect();
    v.sort_by_key(|(_, us)| -us);
    let total: i64 = v
        .iter()
        .filter(|(n, _)| !n.starts_with("(idle)"))
        .map(|(_, u)| u)
        .sum();
    println!("busy (not idle) {} ms over 15 s", total / 1000);
    for (name, us) in v.iter().take(40) {
        println!("{:>8.1} ms  {}", *us as f64 / 1000.0, name);
    }
    browser.quit().await;
}
