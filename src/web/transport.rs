//! The app's feed, from `convoy_browser`: the views say what they watch, the feed picks and
//! runs the transport (falling back when `auto`'s choice fails) and hands back `FeedUpdate`s.

pub use convoy_browser::feed::{Feed, WatchGuard};
pub use convoy_browser::tab_feed::{FeedStatus, FeedUpdate};
pub use convoy_core::relay::Connection;
