//! Which transport a tab uses to get its events, decided from plain facts about the browser so
//! the choice is tested here and the browser adapter only gathers the facts.

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

/// The mode a tab runs, and why: `?transport=` first (`query`), then the stored setting, then
/// `auto`. An unknown query value falls back to `auto` and says so.
pub fn choose_mode(
    query: Option<&str>,
    stored: Option<TransportSetting>,
    caps: &Capabilities,
) -> (TransportMode, String) {
    if let Some(value) = query {
        return match TransportSetting::parse(value) {
            Some(TransportSetting::Fixed(mode)) => (mode, "chosen by ?transport=".into()),
            Some(TransportSetting::Auto) => auto_mode(caps),
            None => {
                let (mode, reason) = auto_mode(caps);
                (mode, format!("unknown ?transport={value}; {reason}"))
            }
        };
    }
    match stored {
        Some(TransportSetting::Fixed(mode)) => (mode, "chosen in settings".into()),
        Some(TransportSetting::Auto) | None => auto_mode(caps),
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
}
