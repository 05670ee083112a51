//! Acknowledging an alert (issue 12, items 2 and 3) in real Chromium: two browsers (two
//! profiles, so two browser contexts with their own cookies, channels and locks), each signed
//! in as its own operator. An alert pushed through ingest shows in both as raised and counts in
//! the document title; one operator acknowledges it with the feed's button, and the other
//! operator's tab shows it acknowledged by the first, with the count gone from its title. An
//! unknown alert, and one outside an operator's scope, answer 404.

use crate::harness::{eventually, ingest_token_file, Browser, Server};
use fantoccini::wd::WindowHandle;
use serde_json::{json, Value};
use std::time::Duration;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Signs `tab` in by following `link`, then waits for the fleet to show truck `truck`.
async fn sign_in(browser: &Browser, tab: &WindowHandle, link: &str, truck: &str) {
    browser
        .run(
            tab,
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    let find = format!("return !!document.querySelector('tr.truck-row[data-truck=\"{truck}\"]');");
    eventually(
        Duration::from_secs(30),
        "the fleet after sign-in",
        || async {
            browser
                .run(tab, &find)
                .await
                .as_bool()
                .unwrap_or(false)
                .then_some(())
        },
    )
    .await;
}

/// The feed's entry for alert `id`: its class state (`raised` or `acked`) and its text.
async fn feed_entry(browser: &Browser, tab: &WindowHandle, id: u64) -> Option<(String, String)> {
    let value = browser
        .run(
            tab,
            &format!(
                "const li = document.querySelector('.alert-feed li[data-alert-id=\"{id}\"]'); \
                 if (!li) return null; \
                 return [li.classList.contains('acked') ? 'acked' : 'raised', li.textContent];"
            ),
        )
        .await;
    let pair = value.as_array()?;
    Some((
        pair.first()?.as_str()?.to_owned(),
        pair.get(1)?.as_str()?.to_owned(),
    ))
}

/// The document title and the number of unacknowledged alerts the feed lists, read together.
async fn title_and_raised(browser: &Browser, tab: &WindowHandle) -> (String, usize) {
    let value = browser
        .run(
            tab,
            "return [document.title, \
               document.querySelectorAll('.alert-feed li.alert-item.raised').length];",
        )
        .await;
    (
        value[0].as_str().unwrap_or_default().to_owned(),
        value[1].as_u64().unwrap_or(0) as usize,
    )
}

fn expected_title(raised: usize) -> String {
    if raised == 0 {
        "Convoy".into()
    } else {
        format!("({raised}) Convoy")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_in_one_browser_shows_in_another_operators_tab_and_the_title_counts() {
    let tokens = ingest_token_file("alerts");
    let tokens_arg = tokens.display().to_string();
    // No simulator: nothing but this test raises, clears or acknowledges alerts.
    let server =
        Server::start_signed_in(&["--trucks", "0", "--ingest-token-file", &tokens_arg]).await;
    // The truck joins the fleet before the tabs load it.
    server
        .ingest(vec![
            json!({"type": "alert_cleared", "truck": "X-01", "at_ms": now_ms(), "kind": "no_signal"}),
        ])
        .await;

    let (ana_browser, ben_browser) = (Browser::start().await, Browser::start().await);
    let ana = ana_browser
        .open_tab(&format!("{}/?transport=leader", server.base))
        .await;
    let ben = ben_browser
        .open_tab(&format!("{}/?transport=shared-worker", server.base))
        .await;
    sign_in(&ana_browser, &ana, &server.token("ana", "all").1, "X-01").await;
    sign_in(&ben_browser, &ben, &server.token("ben", "X-01").1, "X-01").await;

    let alert_id = server
        .ingest(vec![
            json!({"type": "alert", "truck": "X-01", "at_ms": now_ms(),
               "alert": {"kind": "temperature", "message": "Reefer at 9.5 °C", "raised_ms": now_ms()}}),
        ])
        .await[0];
    for (browser, tab, who) in [(&ana_browser, &ana, "ana"), (&ben_browser, &ben, "ben")] {
        let (state, text) = eventually(Duration::from_secs(20), "the alert raised", || async {
            feed_entry(browser, tab, alert_id).await
        })
        .await;
        assert_eq!(state, "raised", "{who}: {text}");
        assert!(text.contains("Reefer at 9.5"), "{who}: {text}");
        eventually(Duration::from_secs(10), "(1) Convoy", || async {
            (title_and_raised(browser, tab).await == ("(1) Convoy".into(), 1)).then_some(())
        })
        .await;
    }

    // Ana acknowledges it from the feed, with the keyboard's button.
    let clicked = ana_browser
        .run(
            &ana,
            &format!(
                "const b = document.querySelector('.alert-feed li[data-alert-id=\"{alert_id}\"] button.ack'); \
                 if (!b) return false; b.focus(); b.click(); return true;"
            ),
        )
        .await;
    assert_eq!(clicked, Value::Bool(true));

    // Ben, another operator in another browser, sees who acknowledged it; both titles drop it.
    for (browser, tab, who) in [(&ben_browser, &ben, "ben"), (&ana_browser, &ana, "ana")] {
        let text = eventually(
            Duration::from_secs(20),
            "the alert acknowledged",
            || async {
                let (state, text) = feed_entry(browser, tab, alert_id).await?;
                (state == "acked").then_some(text)
            },
        )
        .await;
        assert!(text.contains("Acknowledged by ana"), "{who}: {text}");
        let button = browser
            .run(
                tab,
                &format!(
                    "return !!document.querySelector('.alert-feed li[data-alert-id=\"{alert_id}\"] button.ack');"
                ),
            )
            .await;
        assert_eq!(button, Value::Bool(false), "{who}: no button left");
        let (title, raised) = title_and_raised(browser, tab).await;
        assert_eq!((title.clone(), raised), (expected_title(0), 0), "{who}");
    }

    // A second acknowledgement (ben's, through the API as the button would) is a conflict; an
    // unknown id and another operator's truck are 404.
    let status_of = |token: String, id: String| {
        let url = format!("{}/api/alerts/{id}/ack", server.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("the server answers")
                .status()
                .as_u16()
        }
    };
    let ben_token = server.token("ben", "X-01").0;
    let cy_token = server.token("cy", "T-01").0;
    assert_eq!(
        status_of(ben_token.clone(), alert_id.to_string()).await,
        409
    );
    assert_eq!(
        status_of(ben_token, (alert_id + 999).to_string()).await,
        404
    );
    assert_eq!(status_of(cy_token, alert_id.to_string()).await, 404);

    // Cleared: it leaves the active alerts and shows among the recently cleared, with who had
    // acknowledged it, in both browsers.
    server
        .ingest(vec![
            json!({"type": "alert_cleared", "truck": "X-01", "at_ms": now_ms(), "kind": "temperature"}),
        ])
        .await;
    for (browser, tab, who) in [(&ben_browser, &ben, "ben"), (&ana_browser, &ana, "ana")] {
        let text = eventually(Duration::from_secs(20), "the alert cleared", || async {
            browser
                .run(
                    tab,
                    &format!(
                        "const items = document.querySelectorAll('.alert-feed li[data-alert-id=\"{alert_id}\"]'); \
                         if (items.length !== 1 || !items[0].classList.contains('cleared')) return null; \
                         return items[0].textContent;"
                    ),
                )
                .await
                .as_str()
                .map(str::to_owned)
        })
        .await;
        assert!(text.contains("Cleared at"), "{who}: {text}");
        assert!(text.contains("acknowledged by ana"), "{who}: {text}");
    }

    ana_browser.quit().await;
    ben_browser.quit().await;
    let _ = std::fs::remove_file(&tokens);
}
