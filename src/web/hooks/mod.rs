//! Hooks: where the app's side effects live. Pages call them; components never do, except to
//! read a form control's value through `event_value`, so that no component touches web-sys.

mod event_value;

mod use_alerts;
mod use_automatic_transport;
mod use_board;
mod use_feed;
mod use_fleet_ids;
mod use_leaflet_map;
mod use_narrow;
mod use_notification_setting;
mod use_now;
mod use_refocus;
mod use_row_window;
mod use_session;
mod use_speed_history;
mod use_table_query;
mod use_truck_detail;
mod use_truck_track;

pub use event_value::{input_value, select_value};
pub use use_alerts::{use_ack_alert, use_unacked_alerts, AckHandle};
pub use use_automatic_transport::use_automatic_transport;
pub use use_board::{use_board, use_saved_board, BoardHandle};
pub use use_feed::{
    use_feed, use_feed_status, use_fleet, use_offline, use_offline_since, use_truck, use_watch,
    FeedHandle, OfflineSince,
};
pub use use_fleet_ids::use_fleet_ids;
pub use use_leaflet_map::{use_leaflet_map, MapLoad};
pub use use_narrow::{use_narrow, PHONE_MAX_WIDTH_PX};
pub use use_notification_setting::{use_notification_setting, NotificationSetting};
pub use use_now::use_now;
pub use use_refocus::use_refocus;
pub use use_row_window::use_row_window;
pub use use_session::{use_link_token, use_session, use_sign_in, use_sign_out, SessionState};
pub use use_speed_history::{use_speed_history, SPEED_WINDOW_MS};
pub use use_table_query::use_table_query;
pub use use_truck_detail::{trip_key, use_truck_route, RouteFetch};
pub use use_truck_track::{
    latest_fix, track_view, use_panel_history, use_truck_track, LatestFix, TrackView,
    TRAIL_WINDOW_MS,
};
