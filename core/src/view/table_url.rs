//! The fleet table's view in the URL (`/?sort=delay&order=desc&status=delayed&alert=temperature&q=ana`),
//! so a link or a reload shows the same rows in the same order, and Back and Forward walk
//! through the views. What a link says that is not understood is dropped, never an error.

use crate::view::board::percent_decode;
use crate::view::query::{SortKey, TableQuery};
use crate::wire::{percent_encode, AlertKind, TruckStatus};

/// The parameters a view is made of.
const VIEW_KEYS: [&str; 5] = ["sort", "order", "status", "alert", "q"];

impl SortKey {
    /// The column's name in the URL.
    pub fn key(self) -> &'static str {
        match self {
            SortKey::Truck => "truck",
            SortKey::Driver => "driver",
            SortKey::Status => "status",
            SortKey::Speed => "speed",
            SortKey::Delay => "delay",
            SortKey::Eta => "eta",
            SortKey::Updated => "updated",
        }
    }
}

/// An alert kind's name in the URL.
fn alert_key(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Delay => "delay",
        AlertKind::Temperature => "temperature",
        AlertKind::OffRoute => "off_route",
        AlertKind::DriverHours => "driver_hours",
        AlertKind::NoSignal => "no_signal",
    }
}

impl TableQuery {
    /// The query string for this view, without `?`: empty for the default view, else only the
    /// parts that differ from it, in a fixed order.
    pub fn to_url_query(&self) -> String {
        let default = TableQuery::default();
        let mut parts = Vec::new();
        if self.sort != default.sort {
            parts.push(format!("sort={}", self.sort.key()));
        }
        if self.descending {
            parts.push("order=desc".to_owned());
        }
        if let Some(status) = self.status {
            parts.push(format!("status={}", status.key()));
        }
        if let Some(alert) = self.alert {
            parts.push(format!("alert={}", alert_key(alert)));
        }
        if !self.text.is_empty() {
            parts.push(format!("q={}", percent_encode(&self.text)));
        }
        parts.join("&")
    }

    /// `query` (`?` optional) with this view in place of the one it had: other parameters
    /// (`transport=direct`) stay first, as they were. Without its `?`.
    pub fn with_view(&self, query: &str) -> String {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut parts: Vec<String> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
                !pair.is_empty() && !VIEW_KEYS.contains(&percent_decode(key).as_str())
            })
            .map(str::to_owned)
            .collect();
        let view = self.to_url_query();
        if !view.is_empty() {
            parts.push(view);
        }
        parts.join("&")
    }

    /// The view a query string (`?` optional) asks for: unknown parameters and values are
    /// ignored (the default stands), a repeated parameter counts its last value.
    pub fn from_url_query(query: &str) -> TableQuery {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut view = TableQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match percent_decode(key).as_str() {
                "sort" => {
                    if let Some(key) = SortKey::ALL.into_iter().find(|k| k.key() == value) {
                        view.sort = key;
                    }
                }
                "order" => view.descending = value == "desc",
                "status" => view.status = TruckStatus::ALL.into_iter().find(|s| s.key() == value),
                "alert" => view.alert = AlertKind::ALL.into_iter().find(|k| alert_key(*k) == value),
                "q" => view.text = value,
                _ => {}
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_view_is_a_bare_url() {
        assert_eq!(TableQuery::default().to_url_query(), "");
        assert_eq!(TableQuery::from_url_query(""), TableQuery::default());
        assert_eq!(TableQuery::from_url_query("?"), TableQuery::default());
    }

    #[test]
    fn every_part_of_a_view_survives_the_url() {
        let view = TableQuery {
            sort: SortKey::Delay,
            descending: true,
            status: Some(TruckStatus::ALL[1]),
            alert: Some(AlertKind::OffRoute),
            text: "Ana & Bo/ü=1%".to_owned(),
        };
        let query = view.to_url_query();
        assert!(
            query.starts_with("sort=delay&order=desc&status="),
            "{query}"
        );
        assert!(query.contains("alert=off_route"), "{query}");
        assert!(!query.contains(' ') && !query.contains("&Bo"), "{query}");
        assert_eq!(TableQuery::from_url_query(&format!("?{query}")), view);
        for key in SortKey::ALL {
            let view = TableQuery {
                sort: key,
                ..TableQuery::default()
            };
            assert_eq!(TableQuery::from_url_query(&view.to_url_query()), view);
        }
        for kind in AlertKind::ALL {
            let view = TableQuery {
                alert: Some(kind),
                ..TableQuery::default()
            };
            assert_eq!(TableQuery::from_url_query(&view.to_url_query()), view);
        }
    }

    #[test]
    fn a_new_view_keeps_the_other_parameters() {
        let view = TableQuery {
            sort: SortKey::Eta,
            ..TableQuery::default()
        };
        assert_eq!(
            view.with_view("?transport=direct&sort=delay&q=x&order=desc"),
            "transport=direct&sort=eta"
        );
        assert_eq!(TableQuery::default().with_view("?q=x"), "");
        assert_eq!(view.with_view(""), "sort=eta");
    }

    #[test]
    fn what_a_link_gets_wrong_is_dropped() {
        let view =
            TableQuery::from_url_query("sort=nope&status=flying&alert=&order=up&q=+T-0%&x=1");
        assert_eq!(
            view,
            TableQuery {
                text: " T-0%".to_owned(),
                ..TableQuery::default()
            }
        );
        assert_eq!(
            TableQuery::from_url_query("q=a&q=b&sort=eta&sort=speed").text,
            "b"
        );
        assert_eq!(
            TableQuery::from_url_query("sort=eta&sort=speed").sort,
            SortKey::Speed
        );
    }
}
