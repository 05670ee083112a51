//! Which transport a tab uses to get its events, decided from plain facts about the browser so
//! the choice is tested here and the browser adapter only gathers the facts.
//!
//! `auto` walks a ladder: SharedWorker, then leader election with Web Locks, then by heartbeat
//! lease, then a stream per tab (and straight to that over HTTP/2 or HTTP/3). A transport is
//! trusted only once it has shown it works; when one fails in a tab, the [`Failure`] takes its
//! feature off the ladder and the tab moves down a rung. Failures are remembered for
//! [`FAILURE_MEMORY_MS`] ([`FailureMemory`]), so new tabs skip a broken feature at once and a
//! page load after that tries it again.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The ways a tab can get its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportMode {
    /// Its own stream per tab: what Convoy replaces; kept as the baseline and for HTTP/2.
    Direct,
    /// One tab leads and relays to the others over BroadcastChannel.
    Leader,
    /// The origin's SharedWorker holds the stream; tabs talk to it over MessagePorts.
    SharedWorker,
    /// The service worker holds the stream (a fetch stream) and posts to the app's windows.
    ServiceWorker,
}

impl TransportMode {
    /// Every mode, in the order the settings page lists them.
    pub const ALL: [TransportMode; 4] = [
        TransportMode::SharedWorker,
        TransportMode::ServiceWorker,
        TransportMode::Leader,
        TransportMode::Direct,
    ];

    /// The name used in `?transport=` and localStorage.
    pub fn key(self) -> &'static str {
        match self {
            TransportMode::Direct => "direct",
            TransportMode::Leader => "leader",
            TransportMode::SharedWorker => "shared-worker",
            TransportMode::ServiceWorker => "service-worker",
        }
    }

    /// Whether this tab talks to a worker rather than leading or following other tabs.
    pub fn is_worker(self) -> bool {
        matches!(
            self,
            TransportMode::SharedWorker | TransportMode::ServiceWorker
        )
    }
}

impl fmt::Display for TransportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What the user asked for: let Convoy choose, or one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportSetting {
    /// The best this browser has ([`auto_mode`]).
    #[default]
    Auto,
    /// This mode, whatever the browser has.
    Fixed(TransportMode),
}

impl TransportSetting {
    /// Every setting, for the settings page: `auto` first.
    pub const ALL: [TransportSetting; 5] = [
        TransportSetting::Auto,
        TransportSetting::Fixed(TransportMode::SharedWorker),
        TransportSetting::Fixed(TransportMode::ServiceWorker),
        TransportSetting::Fixed(TransportMode::Leader),
        TransportSetting::Fixed(TransportMode::Direct),
    ];

    /// The name used in `?transport=` and localStorage.
    pub fn key(self) -> &'static str {
        match self {
            TransportSetting::Auto => "auto",
            TransportSetting::Fixed(mode) => mode.key(),
        }
    }

    /// Reads a setting's name; `None` for anything else.
    pub fn parse(value: &str) -> Option<TransportSetting> {
        TransportSetting::ALL
            .into_iter()
            .find(|setting| setting.key() == value)
    }
}

/// What a browser offers, as plain facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub shared_worker: bool,
    pub web_locks: bool,
    pub broadcast_channel: bool,
    pub service_worker: bool,
    /// The page's `nextHopProtocol` (`http/1.1`, `h2`, `h3`), when known.
    pub http_version: Option<String>,
}

impl Capabilities {
    /// Whether the page came over HTTP/2 or HTTP/3, where per-tab streams multiplex.
    pub fn multiplexed(&self) -> bool {
        matches!(self.http_version.as_deref(), Some("h2" | "h3"))
    }
}

/// A browser feature a transport needs, which can be there and still not work (a policy, a
/// `worker-src` CSP, a sandbox, a deploy that lost a script).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    SharedWorker,
    ServiceWorker,
    WebLocks,
    BroadcastChannel,
}

impl Feature {
    /// How operators read it in the chip.
    pub fn label(self) -> &'static str {
        match self {
            Feature::SharedWorker => "SharedWorker",
            Feature::ServiceWorker => "service worker",
            Feature::WebLocks => "Web Locks",
            Feature::BroadcastChannel => "BroadcastChannel",
        }
    }
}

/// A feature that did not work in this browser, and how it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub feature: Feature,
    /// What the browser said (`SecurityError`, "did not answer in 2 s", …).
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} blocked: {}", self.feature.label(), self.reason)
    }
}

impl Capabilities {
    /// These capabilities less the features that failed.
    pub fn without(&self, failures: &[Failure]) -> Capabilities {
        let failed = |feature| failures.iter().any(|f| f.feature == feature);
        Capabilities {
            shared_worker: self.shared_worker && !failed(Feature::SharedWorker),
            web_locks: self.web_locks && !failed(Feature::WebLocks),
            broadcast_channel: self.broadcast_channel && !failed(Feature::BroadcastChannel),
            service_worker: self.service_worker && !failed(Feature::ServiceWorker),
            http_version: self.http_version.clone(),
        }
    }
}

/// The best transport a browser with `caps` has, and why.
pub fn auto_mode(caps: &Capabilities) -> (TransportMode, String) {
    if let (true, Some(version)) = (caps.multiplexed(), &caps.http_version) {
        return (
            TransportMode::Direct,
            format!("auto: the page came over {version}, where per-tab streams multiplex"),
        );
    }
    if caps.shared_worker {
        return (
            TransportMode::SharedWorker,
            "auto: this browser has SharedWorker".into(),
        );
    }
    if caps.broadcast_channel && caps.web_locks {
        return (
            TransportMode::Leader,
            "auto: no SharedWorker; leader election with Web Locks".into(),
        );
    }
    if caps.broadcast_channel {
        return (
            TransportMode::Leader,
            "auto: no SharedWorker or Web Locks; leader election by heartbeat lease".into(),
        );
    }
    (
        TransportMode::Direct,
        "auto: no SharedWorker or BroadcastChannel; a stream per tab".into(),
    )
}

/// What a tab runs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub mode: TransportMode,
    /// Leader mode: elect with Web Locks (else by heartbeat lease).
    pub locks: bool,
    /// For the chip and /diagnostics: what runs, and what was skipped.
    pub reason: String,
    /// Chosen by `?transport=` or the setting: a failure is shown, not fallen back from.
    pub explicit: bool,
    /// What `auto` skipped because it failed here ("SharedWorker blocked: SecurityError").
    pub skipped: Option<String>,
}

/// The transport a tab runs: `?transport=` first (`query`), then the stored setting, then
/// `auto` over `caps` less the features that `failures` lists. An unknown query value falls
/// back to `auto` and says so; an explicit mode is tried even where it failed before (the user
/// asked for it, and the chip offers `auto` if it fails again).
pub fn choose(
    query: Option<&str>,
    stored: Option<TransportSetting>,
    caps: &Capabilities,
    failures: &[Failure],
) -> Choice {
    let explicit = |mode: TransportMode, reason: &str| Choice {
        mode,
        locks: caps.web_locks,
        reason: reason.to_owned(),
        explicit: true,
        skipped: None,
    };
    let mut prefix = String::new();
    match query.map(|value| (value, TransportSetting::parse(value))) {
        Some((_, Some(TransportSetting::Fixed(mode)))) => {
            return explicit(mode, "chosen by ?transport=")
        }
        Some((_, Some(TransportSetting::Auto))) => {}
        Some((value, None)) => prefix = format!("unknown ?transport={value}; "),
        None => {
            if let Some(TransportSetting::Fixed(mode)) = stored {
                return explicit(mode, "chosen in settings");
            }
        }
    }
    let usable = caps.without(failures);
    let (mode, auto_reason) = auto_mode(&usable);
    let skipped: Vec<String> = failures
        .iter()
        .filter(|f| f.feature != Feature::ServiceWorker)
        .map(Failure::to_string)
        .collect();
    let skipped = (!skipped.is_empty()).then(|| skipped.join("; "));
    if let Some(skipped) = &skipped {
        prefix.push_str(skipped);
        prefix.push_str("; ");
    }
    Choice {
        mode,
        locks: usable.web_locks,
        reason: format!("{prefix}{auto_reason}"),
        explicit: false,
        skipped,
    }
}

/// The mode a tab runs, and why (see [`choose`]; no failures known).
pub fn choose_mode(
    query: Option<&str>,
    stored: Option<TransportSetting>,
    caps: &Capabilities,
) -> (TransportMode, String) {
    let choice = choose(query, stored, caps, &[]);
    (choice.mode, choice.reason)
}

/// The feature whose failure this mode suffers when it does not start or answer (`locks`:
/// the leader mode elects with Web Locks).
pub fn feature_of(mode: TransportMode, locks: bool) -> Option<Feature> {
    match mode {
        TransportMode::SharedWorker => Some(Feature::SharedWorker),
        TransportMode::ServiceWorker => Some(Feature::ServiceWorker),
        TransportMode::Leader if locks => Some(Feature::WebLocks),
        TransportMode::Leader => Some(Feature::BroadcastChannel),
        TransportMode::Direct => None,
    }
}

/// How long a failure keeps a feature off the ladder: long enough that tabs opened in the same
/// sitting skip it at once, short enough that a fixed deploy or policy is tried again.
pub const FAILURE_MEMORY_MS: u64 = 30 * 60 * 1000;

/// The failures this browser saw lately, as kept in localStorage (JSON; anything unreadable
/// counts as none, so a bad entry can only cost a retry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureMemory {
    failed: FailedFeatures,
}

/// A failure's reason and when it happened (Unix ms).
type Failed = Option<(String, u64)>;

/// Feature -> (reason, when it failed), the JSON of a map keyed by [`Feature`]: one field per
/// feature, because a `BTreeMap` of its own would add its tree code to the app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailedFeatures {
    #[serde(
        rename = "shared-worker",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    shared_worker: Failed,
    #[serde(
        rename = "service-worker",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    service_worker: Failed,
    #[serde(rename = "web-locks", default, skip_serializing_if = "Option::is_none")]
    web_locks: Failed,
    #[serde(
        rename = "broadcast-channel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    broadcast_channel: Failed,
}

impl FailedFeatures {
    fn of(&mut self, feature: Feature) -> &mut Failed {
        match feature {
            Feature::SharedWorker => &mut self.shared_worker,
            Feature::ServiceWorker => &mut self.service_worker,
            Feature::WebLocks => &mut self.web_locks,
            Feature::BroadcastChannel => &mut self.broadcast_channel,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (Feature, &(String, u64))> {
        [
            (Feature::SharedWorker, &self.shared_worker),
            (Feature::ServiceWorker, &self.service_worker),
            (Feature::WebLocks, &self.web_locks),
            (Feature::BroadcastChannel, &self.broadcast_channel),
        ]
        .into_iter()
        .filter_map(|(feature, failed)| Some((feature, failed.as_ref()?)))
    }
}

impl FailureMemory {
    /// Reads what `to_json` wrote.
    pub fn from_json(text: &str) -> FailureMemory {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Notes a failure at `now_ms`.
    pub fn record(&mut self, failure: &Failure, now_ms: u64) {
        *self.failed.of(failure.feature) = Some((failure.reason.clone(), now_ms));
    }

    /// The failures still remembered at `now_ms` (older ones are forgotten, as are any from the
    /// future: a clock that moved back must not pin a failure).
    pub fn active(&self, now_ms: u64) -> Vec<Failure> {
        self.failed
            .iter()
            .filter(|(_, (_, at))| *at <= now_ms && now_ms - at < FAILURE_MEMORY_MS)
            .map(|(feature, (reason, _))| Failure {
                feature,
                reason: reason.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(shared_worker: bool, web_locks: bool, broadcast_channel: bool) -> Capabilities {
        Capabilities {
            shared_worker,
            web_locks,
            broadcast_channel,
            service_worker: true,
            http_version: Some("http/1.1".into()),
        }
    }

    #[test]
    fn auto_prefers_shared_worker_then_locks_then_lease_then_direct() {
        let pick = |c: &Capabilities| auto_mode(c).0;
        assert_eq!(pick(&caps(true, true, true)), TransportMode::SharedWorker);
        assert_eq!(pick(&caps(false, true, true)), TransportMode::Leader);
        let (mode, reason) = auto_mode(&caps(false, false, true));
        assert_eq!(mode, TransportMode::Leader);
        assert!(reason.contains("lease"), "{reason}");
        assert_eq!(pick(&caps(false, false, false)), TransportMode::Direct);
    }

    #[test]
    fn auto_goes_direct_over_http2_and_http3() {
        for version in ["h2", "h3"] {
            let c = Capabilities {
                http_version: Some(version.into()),
                ..caps(true, true, true)
            };
            let (mode, reason) = auto_mode(&c);
            assert_eq!(mode, TransportMode::Direct);
            assert!(reason.contains(version), "{reason}");
        }
    }

    #[test]
    fn query_beats_setting_and_unknown_values_fall_back_to_auto() {
        let c = caps(true, true, true);
        let leader = Some(TransportSetting::Fixed(TransportMode::Leader));
        assert_eq!(
            choose_mode(Some("direct"), leader, &c).0,
            TransportMode::Direct
        );
        assert_eq!(choose_mode(None, leader, &c).0, TransportMode::Leader);
        assert_eq!(
            choose_mode(Some("auto"), leader, &c).0,
            TransportMode::SharedWorker
        );
        let (mode, reason) = choose_mode(Some("carrier-pigeon"), leader, &c);
        assert_eq!(mode, TransportMode::SharedWorker);
        assert!(
            reason.starts_with("unknown ?transport=carrier-pigeon"),
            "{reason}"
        );
        assert_eq!(choose_mode(None, None, &c).0, TransportMode::SharedWorker);
    }

    #[test]
    fn settings_round_trip_through_their_keys() {
        for setting in TransportSetting::ALL {
            assert_eq!(TransportSetting::parse(setting.key()), Some(setting));
        }
        assert_eq!(TransportSetting::parse("Leader"), None);
        assert_eq!(TransportSetting::parse(""), None);
    }

    fn failure(feature: Feature, reason: &str) -> Failure {
        Failure {
            feature,
            reason: reason.into(),
        }
    }

    #[test]
    fn auto_walks_down_the_ladder_past_each_failure() {
        let c = caps(true, true, true);
        let blocked = failure(Feature::SharedWorker, "SecurityError");
        let choice = choose(None, None, &c, std::slice::from_ref(&blocked));
        assert_eq!((choice.mode, choice.locks), (TransportMode::Leader, true));
        assert!(
            choice
                .reason
                .starts_with("SharedWorker blocked: SecurityError; "),
            "{}",
            choice.reason
        );
        assert_eq!(
            choice.skipped.as_deref(),
            Some("SharedWorker blocked: SecurityError")
        );
        let locks = failure(Feature::WebLocks, "the lock manager did not answer");
        let choice = choose(None, None, &c, &[blocked.clone(), locks.clone()]);
        assert_eq!((choice.mode, choice.locks), (TransportMode::Leader, false));
        let channel = failure(Feature::BroadcastChannel, "SecurityError");
        let choice = choose(None, None, &c, &[blocked, locks, channel]);
        assert_eq!(choice.mode, TransportMode::Direct);
        assert!(!choice.explicit);
    }

    #[test]
    fn an_explicit_choice_is_kept_even_where_it_failed() {
        let c = caps(true, true, true);
        let blocked = [failure(Feature::SharedWorker, "SecurityError")];
        let choice = choose(Some("shared-worker"), None, &c, &blocked);
        assert_eq!(choice.mode, TransportMode::SharedWorker);
        assert!(choice.explicit);
        let stored = Some(TransportSetting::Fixed(TransportMode::SharedWorker));
        assert!(choose(None, stored, &c, &blocked).explicit);
        let auto = choose(Some("auto"), stored, &c, &blocked);
        assert_eq!((auto.mode, auto.explicit), (TransportMode::Leader, false));
    }

    #[test]
    fn each_mode_names_the_feature_that_can_fail_it() {
        assert_eq!(
            feature_of(TransportMode::SharedWorker, true),
            Some(Feature::SharedWorker)
        );
        assert_eq!(
            feature_of(TransportMode::Leader, true),
            Some(Feature::WebLocks)
        );
        assert_eq!(
            feature_of(TransportMode::Leader, false),
            Some(Feature::BroadcastChannel)
        );
        assert_eq!(feature_of(TransportMode::Direct, true), None);
    }

    #[test]
    fn failures_are_remembered_for_a_while_then_tried_again() {
        let mut memory = FailureMemory::default();
        memory.record(&failure(Feature::SharedWorker, "SecurityError"), 1_000);
        let kept = FailureMemory::from_json(&memory.to_json());
        assert_eq!(kept, memory);
        assert_eq!(
            kept.active(1_000 + FAILURE_MEMORY_MS - 1),
            [failure(Feature::SharedWorker, "SecurityError")]
        );
        assert!(kept.active(1_000 + FAILURE_MEMORY_MS).is_empty());
        assert!(
            kept.active(999).is_empty(),
            "a failure from the future is no failure"
        );
        assert_eq!(
            FailureMemory::from_json("{not json"),
            FailureMemory::default()
        );
    }

    #[test]
    fn failures_are_kept_as_a_map_keyed_by_feature() {
        let mut memory = FailureMemory::default();
        memory.record(&failure(Feature::BroadcastChannel, "SecurityError"), 2);
        memory.record(&failure(Feature::SharedWorker, "no answer in 2 s"), 1);
        let json = r#"{"failed":{"shared-worker":["no answer in 2 s",1],"broadcast-channel":["SecurityError",2]}}"#;
        assert_eq!(memory.to_json(), json);
        assert_eq!(FailureMemory::from_json(json), memory);
        // An entry naming a feature this build does not know is unreadable: none remembered.
        let unknown = r#"{"failed":{"carrier-pigeon":["lost",1]}}"#;
        assert_eq!(FailureMemory::from_json(unknown), FailureMemory::default());
    }
}
