//! Views that keep their state: the board's picker offers the operator's fleet and refuses a
//! truck outside it; the overview's sort, filters and search live in the URL, so a reload or a
//! link shows the same view, and Back and Forward walk through the views.

use crate::harness::{eventually, Browser, Server};
use fantoccini::wd::WindowHandle;
use fantoccini::Locator;
use serde_json::Value;
use std::time::Duration;

async fn text_of(browser: &Browser, tab: &WindowHandle, selector: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        Value::from(selector)
    );
    browser.run(tab, &script).await.as_str().map(str::to_owned)
}

async fn search(browser: &Browser, tab: &WindowHandle) -> String {
    let value = browser.run(tab, "return location.search;").await;
    value.as_str().unwrap_or_default().to_owned()
}

/// Types `text` into the board's picker and presses Add.
async fn add_to_board(browser: &Browser, tab: &WindowHandle, text: &str) {
    browser
        .client
        .switch_to_window(tab.clone())
        .await
        .expect("switch tab");
    let input = browser
        .client
        .find(Locator::Css("#board-add"))
        .await
        .expect("the picker");
    input.clear().await.expect("clear the picker");
    input.send_keys(text).await.expect("type into the picker");
    browser
        .client
        .find(Locator::Css(".board-picker button[type=submit]"))
        .await
        .expect("the Add button")
        .click()
        .await
        .expect("click Add");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_picker_offers_the_operators_fleet_and_refuses_other_trucks() {
    let server = Server::start_signed_in(&["--trucks", "8", "--rate", "2"]).await;
    let browser = Browser::start().await;
    // An operator who sees three trucks of the eight.
    let (_, link) = server.token("ana", "T-01,T-03,T-05");
    let tab = browser.open_tab(&link).await;
    eventually(Duration::from_secs(30), "ana's fleet", || async {
        let rows = browser
            .run(
                &tab,
                "return document.querySelectorAll('tr.truck-row').length;",
            )
            .await;
        (rows.as_u64() == Some(3)).then_some(())
    })
    .await;
    browser
        .client
        .goto(&format!("{}/board?trucks=T-01", server.base))
        .await
        .expect("the board loads");
    let offered = eventually(
        Duration::from_secs(30),
        "the picker to offer the fleet",
        || async {
            let ids = browser
                .run(
                    &tab,
                    "return [...document.querySelectorAll('#board-choices option')].map(o => o.value);",
                )
                .await;
            let ids: Vec<String> = serde_json::from_value(ids).unwrap_or_default();
            (!ids.is_empty()).then_some(ids)
        },
    )
    .await;
    assert_eq!(offered, ["T-03", "T-05"], "the trucks ana sees, less T-01");

    for outside in ["T-99", "T-02"] {
        add_to_board(&browser, &tab, outside).await;
        let error = eventually(Duration::from_secs(10), "the picker's error", || async {
            text_of(&browser, &tab, "#board-add-error").await
        })
        .await;
        assert!(
            error.contains(&format!("no truck {outside}")),
            "{outside}: the picker says {error:?}"
        );
        assert_eq!(search(&browser, &tab).await, "?trucks=T-01", "{outside}");
    }

    // Any case finds the fleet's id.
    add_to_board(&browser, &tab, "t-05").await;
    eventually(Duration::from_secs(10), "T-05 on the board", || async {
        (search(&browser, &tab).await == "?trucks=T-01,T-05").then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "T-05's live panel", || async {
        let panel = browser
            .run(
                &tab,
                "return !!document.querySelector('li.board-slot[data-truck=\"T-05\"] .truck-panel[data-event-id]');",
            )
            .await;
        (panel == Value::Bool(true)).then_some(())
    })
    .await;
    browser.quit().await;
}

/// The fleet table's rows, in order.
async fn rows(browser: &Browser, tab: &WindowHandle) -> Vec<String> {
    let ids = browser
        .run(
            tab,
            "return [...document.querySelectorAll('tr.truck-row')].map(r => r.dataset.truck);",
        )
        .await;
    serde_json::from_value(ids).unwrap_or_default()
}

/// What the table's controls show: the sorted column and direction, the pressed status, the
/// alert filter and the search text.
async fn controls(browser: &Browser, tab: &WindowHandle) -> Value {
    browser
        .run(
            tab,
            "const sorted = document.querySelector('th[aria-sort=\"ascending\"], th[aria-sort=\"descending\"]'); \
             return { \
               sort: sorted ? sorted.querySelector('button.sort').dataset.sort + ' ' + sorted.getAttribute('aria-sort') : null, \
               status: document.querySelector('.status-filter[aria-pressed=\"true\"]')?.dataset.status, \
               alert: document.querySelector('select.alert-filter')?.value, \
               text: document.querySelector('input.text-filter')?.value };",
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overviews_view_lives_in_the_url() {
    let server = Server::start(&["--trucks", "12", "--rate", "2"]).await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    eventually(Duration::from_secs(30), "twelve rows", || async {
        (rows(&browser, &tab).await.len() == 12).then_some(())
    })
    .await;

    // Sort by driver, descending; then search for one truck.
    let click = |selector: &'static str| {
        let browser = &browser;
        async move {
            browser
                .client
                .find(Locator::Css(selector))
                .await
                .unwrap_or_else(|e| panic!("no {selector}: {e}"))
                .click()
                .await
                .unwrap_or_else(|e| panic!("click {selector}: {e}"));
        }
    };
    click("button.sort[data-sort='Driver']").await;
    click("button.sort[data-sort='Driver']").await;
    eventually(Duration::from_secs(10), "the sort in the URL", || async {
        (search(&browser, &tab).await == "?sort=driver&order=desc").then_some(())
    })
    .await;
    let sorted = rows(&browser, &tab).await;
    assert_eq!(sorted.len(), 12);
    browser
        .client
        .find(Locator::Css("input.text-filter"))
        .await
        .expect("the search box")
        .send_keys("T-07")
        .await
        .expect("type");
    eventually(Duration::from_secs(10), "the search in the URL", || async {
        (search(&browser, &tab).await == "?sort=driver&order=desc&q=T-07").then_some(())
    })
    .await;
    assert_eq!(rows(&browser, &tab).await, ["T-07"]);
    let view = controls(&browser, &tab).await;

    // A reload shows the same view.
    browser.client.refresh().await.expect("reload");
    let reloaded = eventually(
        Duration::from_secs(30),
        "the view after a reload",
        || async {
            let shown = rows(&browser, &tab).await;
            (shown == ["T-07"]).then_some(controls(&browser, &tab).await)
        },
    )
    .await;
    assert_eq!(reloaded, view);
    assert_eq!(view["sort"], "Driver descending");
    assert_eq!(view["text"], "T-07");

    // Typing replaced the entry: Back goes to the sorted view, whole, then to the default one.
    browser.run(&tab, "history.back(); return true;").await;
    eventually(
        Duration::from_secs(10),
        "Back to the sorted view",
        || async {
            (search(&browser, &tab).await == "?sort=driver&order=desc"
                && rows(&browser, &tab).await == sorted)
                .then_some(())
        },
    )
    .await;
    assert_eq!(controls(&browser, &tab).await["text"], "");
    browser.run(&tab, "history.forward(); return true;").await;
    eventually(Duration::from_secs(10), "Forward to the search", || async {
        (rows(&browser, &tab).await == ["T-07"]).then_some(())
    })
    .await;

    // A link with a status and an alert filter opens on that view.
    let link = format!("{}/?status=delayed&alert=delay&sort=eta", server.base);
    browser.client.goto(&link).await.expect("the link loads");
    let linked = eventually(Duration::from_secs(30), "the linked view", || async {
        let view = controls(&browser, &tab).await;
        (view["status"] == "delayed").then_some(view)
    })
    .await;
    assert_eq!(linked["alert"], "Delay");
    assert_eq!(linked["sort"], "ETA ascending");
    browser.quit().await;
}
