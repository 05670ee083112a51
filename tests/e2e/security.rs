//! Only the right operator sees a fleet, and the app keeps its own security policy: signing in
//! by link reaches every tab (and asks first when someone is signed in already), signing out in one tab ends every tab's data and the shared
//! stream, another operator never sees the previous one's trucks, and every page in every
//! transport runs with zero Content-Security-Policy violations.

use crate::harness::{eventually, Browser, Server};
use crate::shared_stream::SERVER_ARGS;
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use std::time::Duration;

/// Records the page's CSP violations in `window.convoyCspViolations` from the first byte on.
pub(crate) const RECORD_VIOLATIONS: &str = "window.convoyCspViolations = []; \
     document.addEventListener('securitypolicyviolation', (e) => \
       window.convoyCspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + \
         (e.sourceFile || '') + ':' + e.lineNumber));";

/// The trucks the fleet table shows in `tab` (None while the sign-in page is shown).
async fn shown_trucks(browser: &Browser, tab: &WindowHandle) -> Option<Vec<String>> {
    let value = browser
        .run(
            tab,
            "if (document.querySelector('section.sign-in')) return null; \
             return [...document.querySelectorAll('tr.truck-row')].map(r => r.dataset.truck);",
        )
        .await;
    let rows = value.as_array()?;
    Some(
        rows.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    )
}

async fn shows_sign_in(browser: &Browser, tab: &WindowHandle) -> bool {
    browser
        .run(tab, "return !!document.querySelector('section.sign-in');")
        .await
        .as_bool()
        .unwrap_or(false)
}

async fn open_streams(server: &Server) -> u64 {
    server.stats().await.open_streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_sign_out_reach_every_tab_and_operators_see_only_their_trucks() {
    let server = Server::start_signed_in(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    // `auto` (the sign-in link leads to the fleet without a `?transport=`).
    let url = format!("{}/", server.base);
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(browser.open_tab(&url).await);
    }
    for (i, tab) in tabs.iter().enumerate() {
        eventually(Duration::from_secs(20), "the sign-in page", || async {
            shows_sign_in(&browser, tab).await.then_some(())
        })
        .await;
        assert!(
            browser.diagnostics(tab).await.is_none(),
            "tab {i} has no feed"
        );
    }
    assert_eq!(open_streams(&server).await, 0, "no stream before sign-in");

    // One tab follows the sign-in link; the others reload into the session.
    let (_, link) = server.token("ana", "all");
    browser
        .run(
            &tabs[0],
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    for tab in &tabs {
        eventually(
            Duration::from_secs(30),
            "every truck in every tab",
            || async {
                let trucks = shown_trucks(&browser, tab).await?;
                (trucks.len() == 20).then_some(())
            },
        )
        .await;
    }
    eventually(Duration::from_secs(20), "one stream", || async {
        (open_streams(&server).await == 1).then_some(())
    })
    .await;
    let operator = browser
        .run(
            &tabs[1],
            "return document.querySelector('.operator-name')?.textContent;",
        )
        .await;
    assert_eq!(operator.as_str(), Some("ana"));

    // Sign out in another tab: every tab drops its data, and the shared stream closes.
    browser
        .run(
            &tabs[2],
            "document.querySelector('button.sign-out').click(); return true;",
        )
        .await;
    for tab in &tabs {
        eventually(
            Duration::from_secs(20),
            "the sign-in page again",
            || async { shows_sign_in(&browser, tab).await.then_some(()) },
        )
        .await;
        assert_eq!(shown_trucks(&browser, tab).await, None);
    }
    eventually(
        Duration::from_secs(20),
        "no stream after sign-out",
        || async { (open_streams(&server).await == 0).then_some(()) },
    )
    .await;

    // Another operator, limited to two trucks: no tab shows anything of the first one's fleet.
    let (_, link) = server.token("ben", "T-01,T-02");
    browser
        .run(
            &tabs[1],
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    for tab in &tabs {
        let trucks = eventually(Duration::from_secs(30), "ben's two trucks", || async {
            let trucks = shown_trucks(&browser, tab).await?;
            (!trucks.is_empty()).then_some(trucks)
        })
        .await;
        assert_eq!(trucks, ["T-01", "T-02"]);
    }

    // A sign-in link opened while ben is signed in does not replace him unasked.
    let (_, link) = server.token("cy", "T-03");
    browser
        .run(
            &tabs[0],
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    eventually(Duration::from_secs(20), "the question", || async {
        let asked = browser
            .run(
                &tabs[0],
                "return !!document.querySelector('.link-held button.switch');",
            )
            .await;
        asked.as_bool().filter(|asked| *asked).map(|_| ())
    })
    .await;
    for tab in &tabs[1..] {
        assert_eq!(
            shown_trucks(&browser, tab).await.unwrap_or_default(),
            ["T-01", "T-02"],
            "still ben's"
        );
    }
    // For a person to look at: the question at desktop and phone widths.
    browser
        .client
        .switch_to_window(tabs[0].clone())
        .await
        .unwrap();
    for (width, height, variant) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        browser.client.set_window_size(width, height).await.unwrap();
        let png = browser.client.screenshot().await.expect("a screenshot");
        let file =
            crate::dashboard::screenshot_dir().join(format!("signin-link-held-{variant}.png"));
        std::fs::write(file, png).expect("the screenshot is written");
    }
    browser.client.set_window_size(1280, 800).await.unwrap();
    // Said yes: every tab switches to cy.
    browser
        .run(
            &tabs[0],
            "document.querySelector('.link-held button.switch').click(); return true;",
        )
        .await;
    for tab in &tabs {
        let trucks = eventually(Duration::from_secs(30), "cy's truck", || async {
            let trucks = shown_trucks(&browser, tab).await?;
            (trucks == ["T-03"]).then_some(trucks)
        })
        .await;
        assert_eq!(trucks, ["T-03"]);
    }
    browser.quit().await;
}

/// What an operator does: types (pastes) a token into the form and presses *Sign in*; and
/// opens a sign-in link in a tab already on `/signin`, where only the fragment changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_typed_into_the_form_signs_in_and_a_link_opened_on_the_sign_in_page_too() {
    use fantoccini::Locator;
    let server = Server::start_signed_in(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    eventually(Duration::from_secs(20), "the sign-in page", || async {
        shows_sign_in(&browser, &tab).await.then_some(())
    })
    .await;
    let (token, _) = server.token("ana", "all");
    browser.client.switch_to_window(tab.clone()).await.unwrap();
    let submit = |text: String| {
        let client = browser.client.clone();
        async move {
            let field = client
                .find(Locator::Css("section.sign-in textarea#token"))
                .await
                .expect("the token field");
            field.clear().await.unwrap();
            field.send_keys(&text).await.unwrap();
            client
                .find(Locator::Css("section.sign-in button[type=submit]"))
                .await
                .expect("the sign-in button")
                .click()
                .await
                .unwrap();
        }
    };
    // Something that is no token: the page says so in words.
    submit("hello".to_owned()).await;
    eventually(Duration::from_secs(20), "the reason", || async {
        let text = browser
            .run(
                &tab,
                "return document.querySelector('section.sign-in .error')?.textContent;",
            )
            .await;
        text.as_str()
            .is_some_and(|t| t.contains("not a Convoy sign-in token"))
            .then_some(())
    })
    .await;
    submit(token).await;
    eventually(Duration::from_secs(30), "every truck", || async {
        let trucks = shown_trucks(&browser, &tab).await?;
        (trucks.len() == 20).then_some(())
    })
    .await;

    // Signed out, on `/signin`: a link for ben changes only the address's fragment.
    browser
        .run(
            &tab,
            "document.querySelector('button.sign-out').click(); return true;",
        )
        .await;
    eventually(Duration::from_secs(20), "signed out", || async {
        shows_sign_in(&browser, &tab).await.then_some(())
    })
    .await;
    let signin = format!("{}/signin", server.base);
    browser
        .run(
            &tab,
            &format!("location.href = {}; return true;", Value::from(signin)),
        )
        .await;
    eventually(Duration::from_secs(20), "the sign-in page at /signin", || async {
        let at = browser
            .run(&tab, "return location.pathname.endsWith('/signin') && !!document.querySelector('section.sign-in');")
            .await;
        at.as_bool().filter(|at| *at).map(|_| ())
    })
    .await;
    let (_, link) = server.token("ben", "T-01,T-02");
    browser
        .run(
            &tab,
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    let trucks = eventually(Duration::from_secs(30), "ben's two trucks", || async {
        let trucks = shown_trucks(&browser, &tab).await?;
        (!trucks.is_empty()).then_some(trucks)
    })
    .await;
    assert_eq!(trucks, ["T-01", "T-02"]);
    browser.quit().await;
}

/// Every page, in every transport, with the server's Content-Security-Policy: no violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_every_transport_runs_without_a_csp_violation() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let pages = [
        "/",
        "/board?trucks=T-01,T-02",
        "/trucks/T-03",
        "/map",
        "/diagnostics",
        "/settings",
        "/signin",
    ];
    for transport in ["leader", "shared-worker", "service-worker", "direct"] {
        let first = format!("{}/?transport={transport}", server.base);
        let tab = browser
            .open_tab_with_script(&first, RECORD_VIOLATIONS)
            .await;
        let live = crate::shared_stream::all_past(&browser, std::slice::from_ref(&tab), 0).await;
        if matches!(transport, "leader" | "direct") {
            // Under the server's policy the hub's dedicated worker starts (no fallback).
            assert_eq!(live[0].hub, "worker", "{transport}");
        }
        for page in pages {
            let separator = if page.contains('?') { '&' } else { '?' };
            let url = format!("{}{page}{separator}transport={transport}", server.base);
            browser
                .run(
                    &tab,
                    &format!("location.href = {}; return true;", Value::from(url)),
                )
                .await;
            eventually(Duration::from_secs(20), "the page to render", || async {
                let ready = browser
                    .run(&tab, "return !!document.querySelector('main#main > *');")
                    .await;
                ready.as_bool().unwrap_or(false).then_some(())
            })
            .await;
            // Let the page draw live data for a moment (styles and images load then too).
            tokio::time::sleep(Duration::from_millis(600)).await;
            let violations = browser
                .run(
                    &tab,
                    "return window.convoyCspViolations || ['no recorder'];",
                )
                .await;
            assert_eq!(
                violations,
                Value::Array(Vec::new()),
                "{transport} {page}: CSP violations"
            );
        }
        // Left on a blank page rather than closed: the session keeps a window to open from.
        browser
            .run(&tab, "location.href = 'about:blank'; return true;")
            .await;
    }
    browser.quit().await;
}
