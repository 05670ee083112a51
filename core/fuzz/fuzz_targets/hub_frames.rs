//! A whole hub on hostile channel messages: the input, split at `\n`, is posted to a leader and
//! to a follower (each message 7 ms after the last); nothing may panic, and the hubs' deadlines
//! must move on.
#![no_main]

use convoy_core::election::ElectionMode;
use convoy_core::relay::{HubConfig, TabHub};
use convoy_core::wire::{Envelope, FleetEvent, FleetSnapshot, TruckStatus};
use libfuzzer_sys::fuzz_target;

fn hub(id: u64, lead: bool) -> TabHub {
    let mut config = HubConfig::new(id, ElectionMode::Lease);
    config.cursor = Some(100);
    let mut hub = TabHub::new(config, 0);
    if lead {
        hub.handle_timeout(150);
        hub.handle_timeout(300);
        hub.handle_snapshot(
            310,
            FleetSnapshot {
                last_event_id: 100,
                trucks: vec![],
            },
        );
        hub.handle_upstream_open(320);
    }
    while hub.poll_output().is_some() {}
    hub
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut hubs = [hub(1, true), hub(2, false)];
    let mut now = 400;
    for (k, raw) in text.split('\n').enumerate() {
        now += 7;
        for hub in &mut hubs {
            hub.handle_channel_message(now, raw);
            hub.handle_upstream_event(
                now,
                Envelope {
                    id: 101 + k as u64,
                    event: FleetEvent::Status {
                        truck: "T-01".into(),
                        at_ms: now,
                        status: TruckStatus::EnRoute,
                        next_stop: 1,
                    },
                },
            );
            while hub.poll_output().is_some() {}
            if let Some(at) = hub.poll_timeout() {
                hub.handle_timeout(at.max(now));
                while hub.poll_output().is_some() {}
                assert!(hub.poll_timeout().is_none_or(|next| next > at.max(now)));
            }
        }
    }
});
