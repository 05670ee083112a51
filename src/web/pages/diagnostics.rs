//! `/diagnostics`: this tab's role, term, transport, upstream and delivery, refreshed live.

use crate::web::hooks::{use_feed, use_now, use_watch};
use convoy_core::wire::Watch;
use yew::prelude::*;

#[function_component(DiagnosticsPage)]
pub fn diagnostics_page() -> Html {
    // The whole fleet, like the overview: the rate, latency and counts below are of a stream
    // carrying events, not of an empty one.
    use_watch(Watch::All);
    let feed = use_feed();
    use_now(500);
    let Some(report) = feed.and_then(|f| f.0.report()) else {
        return html! { <p>{ "No feed is running in this tab." }</p> };
    };
    let optional_ms = |v: Option<u64>| v.map_or("–".to_owned(), |v| format!("{v} ms"));
    let rows = [
        ("Role", report.role.to_owned()),
        ("Tab id", report.tab_id.to_string()),
        ("Term", report.term.to_string()),
        (
            "Leader",
            report
                .leader_id
                .map_or("unknown".into(), |id| id.to_string()),
        ),
        (
            "Transport",
            format!("{} ({})", report.transport, report.transport_reason),
        ),
        ("Hub", report.hub_detail.clone()),
        ("Upstream", report.upstream.clone()),
        ("Last event id", report.last_event_id.to_string()),
        ("Events per second", report.events_per_second.to_string()),
        (
            "Server → app latency p50",
            optional_ms(report.latency_p50_ms),
        ),
        (
            "Server → app latency p99",
            optional_ms(report.latency_p99_ms),
        ),
        ("Events received", report.delivered.to_string()),
        ("Gaps", report.gaps.to_string()),
        ("Duplicates", report.duplicates.to_string()),
        ("Snapshots", report.snapshots.to_string()),
        ("Malformed channel messages", report.malformed.to_string()),
        (
            "Channel messages outside the operator's trucks",
            report.out_of_scope.to_string(),
        ),
        ("Stream gaps repaired", report.upstream_gaps.to_string()),
    ];
    html! {
        <section class="diagnostics">
            <h1>{ "Diagnostics" }</h1>
            <dl>
                { for rows.into_iter().map(|(label, value)| html! {
                    <div data-field={label}><dt>{ label }</dt><dd>{ value }</dd></div>
                }) }
            </dl>
        </section>
    }
}
