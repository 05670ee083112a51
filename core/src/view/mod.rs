//! View models: what the app's pages compute from the fleet, as plain data tested on the host.

pub mod board;
pub mod format;
pub mod order;
pub mod query;
pub mod row_window;
pub mod table_url;
