//! The fleet table's sorting and filtering, pure so it is tested on the host.

use crate::view::order::sort_stably;
use crate::wire::{Alert, AlertKind, TruckId, TruckState, TruckStatus};
use std::cmp::Ordering;

/// A column the fleet table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Truck,
    Driver,
    Status,
    Speed,
    Delay,
    Eta,
    Updated,
}

impl SortKey {
    /// Every column, in table order.
    pub const ALL: [SortKey; 7] = [
        SortKey::Truck,
        SortKey::Driver,
        SortKey::Status,
        SortKey::Speed,
        SortKey::Eta,
        SortKey::Delay,
        SortKey::Updated,
    ];

    /// The column header.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Truck => "Truck",
            SortKey::Driver => "Driver",
            SortKey::Status => "Status",
            SortKey::Speed => "Speed",
            SortKey::Delay => "Delay",
            SortKey::Eta => "ETA",
            SortKey::Updated => "Last update",
        }
    }
}

/// What the operator asked the table for.
#[derive(Debug, Clone, PartialEq)]
pub struct TableQuery {
    pub sort: SortKey,
    pub descending: bool,
    pub status: Option<TruckStatus>,
    pub alert: Option<AlertKind>,
    /// Matched case-insensitively against truck id, driver and route.
    pub text: String,
}

impl Default for TableQuery {
    fn default() -> Self {
        TableQuery {
            sort: SortKey::Truck,
            descending: false,
            status: None,
            alert: None,
            text: String::new(),
        }
    }
}

impl TableQuery {
    /// Whether a truck passes every filter.
    pub fn matches(&self, truck: &TruckState) -> bool {
        self.matches_text(truck, &fold_case(self.text.trim()))
    }

    /// `matches` with the search text already trimmed and lowercased (once per table, not per
    /// row).
    fn matches_text(&self, truck: &TruckState, text: &str) -> bool {
        self.status.is_none_or(|s| truck.status == s)
            && self
                .alert
                .is_none_or(|k| truck.alerts.iter().any(|a| a.kind == k))
            && (text.is_empty()
                || [&truck.id, &truck.driver, &truck.route_name]
                    .iter()
                    .any(|field| fold_case(field).contains(text)))
    }

    /// The order of two trucks; ties fall back to the truck id so the order is stable.
    pub fn compare(&self, a: &TruckState, b: &TruckState) -> Ordering {
        let by_key = match self.sort {
            SortKey::Truck => Ordering::Equal,
            SortKey::Driver => a.driver.cmp(&b.driver),
            SortKey::Status => a.status.cmp(&b.status),
            // Unknown sorts before every known value (as `None` does for the others).
            SortKey::Speed => {
                let speed = |t: &TruckState| t.speed_kph.unwrap_or(f32::NEG_INFINITY);
                speed(a).total_cmp(&speed(b))
            }
            SortKey::Delay => a.delay_s().cmp(&b.delay_s()),
            SortKey::Eta => a.eta_ms.cmp(&b.eta_ms),
            SortKey::Updated => a.updated_ms.cmp(&b.updated_ms),
        }
        .then_with(|| a.id.cmp(&b.id));
        if self.descending {
            by_key.reverse()
        } else {
            by_key
        }
    }

    /// Clicking a column: the same column flips the direction, another sorts ascending by it.
    pub fn toggled(&self, key: SortKey) -> TableQuery {
        TableQuery {
            descending: self.sort == key && !self.descending,
            sort: key,
            ..self.clone()
        }
    }

    /// Filters and sorts `trucks`.
    pub fn apply<'a, T: AsRef<TruckState> + 'a>(
        &self,
        trucks: impl IntoIterator<Item = &'a T>,
    ) -> Vec<&'a T> {
        let text = fold_case(self.text.trim());
        let mut rows: Vec<&T> = trucks
            .into_iter()
            .filter(|t| self.matches_text((*t).as_ref(), &text))
            .collect();
        sort_stably(&mut rows, |a, b| self.compare((*a).as_ref(), (*b).as_ref()));
        rows
    }
}

/// One line of the fleet page's alert feed: an active alert and its truck.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEntry {
    pub truck: TruckId,
    pub alert: Alert,
}

/// An alert cleared while the tab watched its truck: the feed's "recently cleared" lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearedAlert {
    pub truck: TruckId,
    /// The alert as it was when cleared (its acknowledgement included).
    pub alert: Alert,
    pub cleared_ms: u64,
}

/// How many active alerts on `trucks` no operator has acknowledged yet (the title's and the
/// nav's count).
pub fn unacked_alert_count<'a, T: AsRef<TruckState> + 'a>(
    trucks: impl IntoIterator<Item = &'a T>,
) -> usize {
    trucks
        .into_iter()
        .map(|t| {
            t.as_ref()
                .alerts
                .iter()
                .filter(|a| a.acked.is_none())
                .count()
        })
        .sum()
}

/// The document title: `(3) Convoy` with unacknowledged alerts, `Convoy` without.
pub fn document_title(unacked: usize) -> String {
    if unacked == 0 {
        "Convoy".to_owned()
    } else {
        format!("({unacked}) Convoy")
    }
}

/// Every alert still active on `trucks`, newest first (ties by truck id, then kind, so the feed
/// does not shuffle between renders), at most `limit` of them. A cleared alert leaves the feed
/// with the `alert_cleared` event that removed it from its truck.
pub fn alert_feed<'a, T: AsRef<TruckState> + 'a>(
    trucks: impl IntoIterator<Item = &'a T>,
    limit: usize,
) -> Vec<AlertEntry> {
    let mut entries: Vec<AlertEntry> = trucks
        .into_iter()
        .flat_map(|t| {
            let truck = t.as_ref();
            truck.alerts.iter().map(|alert| AlertEntry {
                truck: truck.id.clone(),
                alert: alert.clone(),
            })
        })
        .collect();
    sort_stably(&mut entries, |a, b| {
        b.alert
            .raised_ms
            .cmp(&a.alert.raised_ms)
            .then_with(|| a.truck.cmp(&b.truck))
            .then_with(|| a.alert.kind.cmp(&b.alert.kind))
    });
    entries.truncate(limit);
    entries
}

/// `text` lowercased for search: ASCII, Latin-1 and Latin Extended-A letters (the names of
/// European drivers, routes and places), each as `char::to_lowercase` would, except `İ` becomes
/// a plain `i`; letters of other scripts stay as they are. `str::to_lowercase` covers every
/// script but brings Unicode's case tables into the wasm app: 17 KB raw, 8 KB gzip (issue 11).
fn fold_case(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let n = u32::from(c);
    let lower = match n {
        0x41..=0x5A | 0xC0..=0xD6 | 0xD8..=0xDE => n + 32,
        // Latin Extended-A pairs an upper case letter with the next code point: the upper one is
        // even in these runs, odd in Ĺ..ň and Ź..ž.
        0x100..=0x12F | 0x132..=0x137 | 0x14A..=0x177 if n % 2 == 0 => n + 1,
        0x139..=0x148 | 0x179..=0x17E if n % 2 == 1 => n + 1,
        0x130 => 0x69,
        0x178 => 0xFF,
        _ => n,
    };
    char::from_u32(lower).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fold_case_matches_to_lowercase_in_latin_scripts() {
        for c in (0..0x180u32)
            .filter_map(char::from_u32)
            .filter(|&c| c != '\u{130}')
        {
            assert_eq!(
                fold_char(c).to_string(),
                c.to_lowercase().to_string(),
                "{c:?}"
            );
        }
        assert_eq!(fold_case("İSTANBUL Łódź ŻÓŁW Ÿ"), "istanbul łódź żółw ÿ");
        assert_eq!(fold_case("ΑΘΗΝΑ"), "ΑΘΗΝΑ");
    }

    use super::*;
    use crate::wire::Alert;

    fn truck(id: &str, driver: &str, status: TruckStatus, speed: f32) -> TruckState {
        TruckState {
            driver: driver.into(),
            route_name: "Lyon – Turin".into(),
            status,
            speed_kph: Some(speed),
            planned_arrival_ms: Some(0),
            eta_ms: Some(0),
            fuel_pct: Some(50.0),
            driver_minutes_left: Some(100),
            ..TruckState::new(id)
        }
    }

    fn fleet() -> Vec<TruckState> {
        let mut delayed = truck("T-03", "Zoe", TruckStatus::Delayed, 40.0);
        delayed.alerts.push(Alert {
            id: 1,
            kind: AlertKind::Delay,
            message: "late".into(),
            raised_ms: 0,
            acked: None,
        });
        vec![
            truck("T-02", "Ana", TruckStatus::EnRoute, 80.0),
            delayed,
            truck("T-01", "Bo", TruckStatus::Idle, 0.0),
        ]
    }

    fn ids(query: &TableQuery, trucks: &[TruckState]) -> Vec<String> {
        let mut rows: Vec<&TruckState> = trucks.iter().filter(|t| query.matches(t)).collect();
        rows.sort_by(|a, b| query.compare(a, b));
        rows.into_iter().map(|t| t.id.clone()).collect()
    }

    #[test]
    fn sorts_by_each_column_and_flips() {
        let trucks = fleet();
        let by_speed = TableQuery::default().toggled(SortKey::Speed);
        assert_eq!(ids(&by_speed, &trucks), ["T-01", "T-03", "T-02"]);
        assert_eq!(
            ids(&by_speed.toggled(SortKey::Speed), &trucks),
            ["T-02", "T-03", "T-01"]
        );
        let by_driver = by_speed.toggled(SortKey::Driver);
        assert!(!by_driver.descending);
        assert_eq!(ids(&by_driver, &trucks), ["T-02", "T-01", "T-03"]);
        assert_eq!(
            ids(&TableQuery::default(), &trucks),
            ["T-01", "T-02", "T-03"]
        );
    }

    #[test]
    fn filters_by_status_alert_and_text() {
        let trucks = fleet();
        let cases = [
            (
                TableQuery {
                    status: Some(TruckStatus::Idle),
                    ..Default::default()
                },
                vec!["T-01"],
            ),
            (
                TableQuery {
                    alert: Some(AlertKind::Delay),
                    ..Default::default()
                },
                vec!["T-03"],
            ),
            (
                TableQuery {
                    text: " zo ".into(),
                    ..Default::default()
                },
                vec!["T-03"],
            ),
            (
                TableQuery {
                    text: "t-0".into(),
                    ..Default::default()
                },
                vec!["T-01", "T-02", "T-03"],
            ),
            (
                TableQuery {
                    text: "turin".into(),
                    ..Default::default()
                },
                vec!["T-01", "T-02", "T-03"],
            ),
            (
                TableQuery {
                    text: "nobody".into(),
                    ..Default::default()
                },
                vec![],
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(ids(&query, &trucks), expected, "{query:?}");
        }
    }

    #[test]
    fn unacknowledged_alerts_count_in_the_title() {
        let mut trucks = fleet();
        let alert = |id, acked: Option<&str>| Alert {
            id,
            kind: AlertKind::Delay,
            message: "m".into(),
            raised_ms: id,
            acked: acked.map(|by| crate::wire::AlertAck {
                by: by.into(),
                at_ms: 1,
            }),
        };
        // T-03 (trucks[1]) has one unacknowledged alert already.
        trucks[0].alerts.push(alert(2, None));
        trucks[1].alerts.push(alert(3, Some("ana")));
        trucks[2].alerts.push(alert(4, None));
        let trucks: Vec<std::rc::Rc<TruckState>> =
            trucks.into_iter().map(std::rc::Rc::new).collect();
        assert_eq!(unacked_alert_count(trucks.iter()), 3);
        assert_eq!(document_title(3), "(3) Convoy");
        assert_eq!(document_title(0), "Convoy");
    }

    #[test]
    fn alert_feed_is_newest_first_and_bounded() {
        let alert = |kind, raised_ms| Alert {
            id: raised_ms,
            kind,
            message: "m".into(),
            raised_ms,
            acked: None,
        };
        let mut trucks = fleet();
        trucks[0].alerts.push(alert(AlertKind::Temperature, 50));
        trucks[2].alerts.push(alert(AlertKind::OffRoute, 50));
        trucks[2].alerts.push(alert(AlertKind::DriverHours, 90));
        let trucks: Vec<std::rc::Rc<TruckState>> =
            trucks.into_iter().map(std::rc::Rc::new).collect();
        let feed = alert_feed(trucks.iter(), 10);
        let lines: Vec<(&str, AlertKind)> = feed
            .iter()
            .map(|e| (e.truck.as_str(), e.alert.kind))
            .collect();
        assert_eq!(
            lines,
            [
                ("T-01", AlertKind::DriverHours),
                ("T-01", AlertKind::OffRoute),
                ("T-02", AlertKind::Temperature),
                ("T-03", AlertKind::Delay),
            ]
        );
        assert_eq!(alert_feed(trucks.iter(), 2).len(), 2);
        assert!(alert_feed(Vec::<std::rc::Rc<TruckState>>::new().iter(), 5).is_empty());
    }
}
