//! The board's layout: which trucks sit side by side, in which order. The layout lives in the
//! URL (`/board?trucks=T-03,T-01`) so a board can be shared and Back and Forward walk through
//! its changes; the last one is also kept in localStorage (`STORAGE_KEY`). Everything here is
//! pure, so the parsing and every edit are tested on the host.

use crate::wire::{is_valid_truck_id, TruckId, Watch};

/// localStorage key of the last board shown, stored as the `trucks=` value.
pub const STORAGE_KEY: &str = "convoy.board";

/// The most panels a board holds. Beyond this nobody compares trucks side by side any more,
/// and a hand-edited URL cannot make the app open hundreds of panels and route fetches.
pub const MAX_TRUCKS: usize = 12;

/// The name of the query parameter that carries the layout.
pub const QUERY_KEY: &str = "trucks";

/// The trucks on a board, in display order: valid ids, no repeats, at most `MAX_TRUCKS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BoardLayout {
    trucks: Vec<TruckId>,
}

/// Why a truck could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    #[error("{0:?} is not a truck id: use letters, digits and '-', like T-07")]
    InvalidId(String),
    #[error("{0} is already on the board")]
    AlreadyShown(TruckId),
    #[error("the board holds at most {MAX_TRUCKS} trucks: remove one first")]
    Full,
}

impl BoardLayout {
    /// A layout from ids in order; invalid ids, repeats and ids past `MAX_TRUCKS` are dropped.
    pub fn from_ids<I, S>(ids: I) -> BoardLayout
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut trucks: Vec<TruckId> = Vec::new();
        for id in ids {
            let id = id.as_ref().trim();
            if trucks.len() < MAX_TRUCKS && is_valid_truck_id(id) && !trucks.iter().any(|t| t == id)
            {
                trucks.push(id.to_owned());
            }
        }
        BoardLayout { trucks }
    }

    /// Parses a `trucks=` value that is already percent-decoded: ids separated by commas.
    /// Never fails: what is not a valid id is dropped, so a mangled link still shows the
    /// trucks it can.
    pub fn parse(value: &str) -> BoardLayout {
        BoardLayout::from_ids(value.split(','))
    }

    /// Reads the layout from a URL query (`?trucks=T-01%2CT-02&…`, the `?` optional).
    /// Returns None when there is no `trucks` parameter at all, so the caller can fall back to
    /// the saved board; `trucks=` with no ids is an empty board, not a missing one. Several
    /// `trucks` parameters are read in order, as if joined.
    pub fn from_query(query: &str) -> Option<BoardLayout> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let values: Vec<String> = query
            .split('&')
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key) == QUERY_KEY).then(|| percent_decode(value))
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(BoardLayout::parse(&values.join(",")))
    }

    /// The `trucks=` value: ids joined by commas, in order. Truck ids need no escaping.
    pub fn to_value(&self) -> String {
        self.trucks.join(",")
    }

    /// The query string for the board's URL, without the `?`: `trucks=T-03,T-01`.
    pub fn to_query(&self) -> String {
        format!("{QUERY_KEY}={}", self.to_value())
    }

    /// The trucks in display order.
    pub fn trucks(&self) -> &[TruckId] {
        &self.trucks
    }

    /// How many trucks are on the board.
    pub fn len(&self) -> usize {
        self.trucks.len()
    }

    /// Whether the board shows no truck.
    pub fn is_empty(&self) -> bool {
        self.trucks.is_empty()
    }

    /// Whether `id` is on the board.
    pub fn contains(&self, id: &str) -> bool {
        self.trucks.iter().any(|t| t == id)
    }

    /// Whether the board has room for another truck.
    pub fn is_full(&self) -> bool {
        self.trucks.len() >= MAX_TRUCKS
    }

    /// Where `id` sits, from 0.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.trucks.iter().position(|t| t == id)
    }

    /// The board with `id` added at the end (surrounding spaces are ignored).
    pub fn add(&self, id: &str) -> Result<BoardLayout, BoardError> {
        let id = id.trim();
        if !is_valid_truck_id(id) {
            return Err(BoardError::InvalidId(id.to_owned()));
        }
        if self.contains(id) {
            return Err(BoardError::AlreadyShown(id.to_owned()));
        }
        if self.is_full() {
            return Err(BoardError::Full);
        }
        let mut trucks = self.trucks.clone();
        trucks.push(id.to_owned());
        Ok(BoardLayout { trucks })
    }

    /// The board without `id` (the same board when it is not there).
    pub fn remove(&self, id: &str) -> BoardLayout {
        BoardLayout {
            trucks: self.trucks.iter().filter(|t| *t != id).cloned().collect(),
        }
    }

    /// The board with `id` moved to `index`, clamped to the ends, the others keeping their
    /// order. Dropping a dragged panel on another one moves it to that panel's place.
    pub fn move_to(&self, id: &str, index: usize) -> BoardLayout {
        let Some(from) = self.position(id) else {
            return self.clone();
        };
        let mut trucks = self.trucks.clone();
        let moved = trucks.remove(from);
        trucks.insert(index.min(trucks.len()), moved);
        BoardLayout { trucks }
    }

    /// The board with `id` moved `delta` places (negative: left), clamped to the ends: the
    /// keyboard's "move left" and "move right".
    pub fn move_by(&self, id: &str, delta: isize) -> BoardLayout {
        match self.position(id) {
            Some(from) => self.move_to(id, from.saturating_add_signed(delta)),
            None => self.clone(),
        }
    }

    /// What the board's views need from the feed.
    pub fn watch(&self) -> Watch {
        // Extended, not collected: `collect` into a set sorts a Vec first (code of its own).
        let mut trucks = std::collections::BTreeSet::new();
        trucks.extend(self.trucks.iter().cloned());
        Watch::Trucks(trucks)
    }
}

/// Decodes `%XX` escapes and `+` (a space in a form-encoded query). Malformed escapes are kept
/// as they are; bytes that are not UTF-8 become U+FFFD, which no truck id contains.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(layout: &BoardLayout) -> Vec<&str> {
        layout.trucks().iter().map(String::as_str).collect()
    }

    #[test]
    fn parse_keeps_order_and_drops_invalid_and_repeated_ids() {
        let cases: [(&str, &[&str]); 8] = [
            ("T-03,T-01,T-02", &["T-03", "T-01", "T-02"]),
            ("T-01,,T-02,", &["T-01", "T-02"]),
            (" T-01 , T-02 ", &["T-01", "T-02"]),
            ("T-01,T 02,T-03", &["T-01", "T-03"]),
            ("T-01,T-02,T-01", &["T-01", "T-02"]),
            ("T-01 T-02", &[]),
            ("<script>,T-09", &["T-09"]),
            ("", &[]),
        ];
        for (value, expected) in cases {
            assert_eq!(ids(&BoardLayout::parse(value)), expected, "{value:?}");
        }
    }

    #[test]
    fn parse_caps_the_board() {
        let value: Vec<String> = (1..=20).map(|i| format!("T-{i:02}")).collect();
        let layout = BoardLayout::parse(&value.join(","));
        assert_eq!(layout.len(), MAX_TRUCKS);
        assert_eq!(layout.trucks()[0], "T-01");
        assert_eq!(
            layout.trucks()[MAX_TRUCKS - 1],
            format!("T-{MAX_TRUCKS:02}")
        );
        assert!(layout.is_full());
    }

    #[test]
    fn from_query_decodes_and_tells_missing_from_empty() {
        let ids_of = |q: &str| BoardLayout::from_query(q).map(|l| l.to_value());
        assert_eq!(ids_of("?trucks=T-01,T-02"), Some("T-01,T-02".into()));
        assert_eq!(ids_of("trucks=T-01%2CT-02"), Some("T-01,T-02".into()));
        assert_eq!(
            ids_of("?transport=direct&trucks=T-02%2cT-01"),
            Some("T-02,T-01".into())
        );
        assert_eq!(ids_of("?trucks=T-01,+T-02+"), Some("T-01,T-02".into()));
        assert_eq!(ids_of("?trucks=T-01&trucks=T-02"), Some("T-01,T-02".into()));
        assert_eq!(ids_of("?trucks=%E2%9C%93,T-05%"), Some(String::new()));
        assert_eq!(ids_of("?trucks=%ZZ,T-04"), Some("T-04".into()));
        assert_eq!(ids_of("?trucks="), Some(String::new()));
        assert_eq!(ids_of("?trucks"), Some(String::new()));
        assert_eq!(ids_of(""), None);
        assert_eq!(ids_of("?"), None);
        assert_eq!(ids_of("?transport=direct"), None);
        assert_eq!(ids_of("?truckstop=T-01"), None);
    }

    #[test]
    fn query_round_trips() {
        let layout = BoardLayout::parse("T-03,T-01");
        assert_eq!(layout.to_query(), "trucks=T-03,T-01");
        assert_eq!(
            BoardLayout::from_query(&layout.to_query()),
            Some(layout.clone())
        );
        assert_eq!(BoardLayout::default().to_query(), "trucks=");
        assert_eq!(
            BoardLayout::from_query(&BoardLayout::default().to_query()),
            Some(BoardLayout::default())
        );
    }

    #[test]
    fn add_appends_once_and_says_why_not() {
        let board = BoardLayout::parse("T-01");
        let board = board.add(" T-02 ").unwrap();
        assert_eq!(ids(&board), ["T-01", "T-02"]);
        assert_eq!(
            board.add("T-01"),
            Err(BoardError::AlreadyShown("T-01".into()))
        );
        assert_eq!(board.add("T 3"), Err(BoardError::InvalidId("T 3".into())));
        assert_eq!(board.add(""), Err(BoardError::InvalidId(String::new())));
        let full = BoardLayout::from_ids((1..=MAX_TRUCKS).map(|i| format!("T-{i:02}")));
        assert_eq!(full.add("T-99"), Err(BoardError::Full));
        assert!(BoardError::Full.to_string().contains("remove one first"));
    }

    #[test]
    fn remove_keeps_the_others_in_order() {
        let board = BoardLayout::parse("T-01,T-02,T-03");
        assert_eq!(ids(&board.remove("T-02")), ["T-01", "T-03"]);
        assert_eq!(board.remove("T-09"), board);
        assert!(board
            .remove("T-01")
            .remove("T-02")
            .remove("T-03")
            .is_empty());
    }

    #[test]
    fn move_to_takes_the_target_place_from_either_side() {
        let board = BoardLayout::parse("T-01,T-02,T-03,T-04");
        let cases: [(&str, usize, &[&str]); 6] = [
            ("T-04", 0, &["T-04", "T-01", "T-02", "T-03"]),
            ("T-01", 2, &["T-02", "T-03", "T-01", "T-04"]),
            ("T-01", 3, &["T-02", "T-03", "T-04", "T-01"]),
            ("T-02", 99, &["T-01", "T-03", "T-04", "T-02"]),
            ("T-03", 2, &["T-01", "T-02", "T-03", "T-04"]),
            ("T-09", 0, &["T-01", "T-02", "T-03", "T-04"]),
        ];
        for (id, index, expected) in cases {
            assert_eq!(ids(&board.move_to(id, index)), expected, "{id} to {index}");
        }
    }

    #[test]
    fn move_by_steps_and_clamps_at_the_ends() {
        let board = BoardLayout::parse("T-01,T-02,T-03");
        assert_eq!(ids(&board.move_by("T-02", -1)), ["T-02", "T-01", "T-03"]);
        assert_eq!(ids(&board.move_by("T-02", 1)), ["T-01", "T-03", "T-02"]);
        assert_eq!(board.move_by("T-01", -1), board);
        assert_eq!(board.move_by("T-03", 1), board);
        assert_eq!(board.move_by("T-01", isize::MIN), board);
        assert_eq!(
            ids(&board.move_by("T-01", isize::MAX)),
            ["T-02", "T-03", "T-01"]
        );
        assert_eq!(board.move_by("T-09", 1), board);
    }

    #[test]
    fn watch_covers_exactly_the_board() {
        let board = BoardLayout::parse("T-02,T-01");
        assert_eq!(board.watch().to_query(), "T-01,T-02");
        assert!(!board.watch().includes("T-03"));
        assert_eq!(
            BoardLayout::default().watch(),
            Watch::Trucks(Default::default())
        );
    }
}
