//! Components: one per file, props beside it. They receive data and `on_*` callbacks and never
//! touch web-sys.

pub mod alert_feed;
pub mod board_grid;
pub mod board_link;
pub mod feed_provider;
pub mod fleet_map_view;
pub mod fleet_table;
pub mod nav_bar;
pub mod notification_toggle;
pub mod sparkline;
pub mod status_chip;
pub mod truck_panel;
pub mod truck_row;
