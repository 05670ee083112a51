//! convoy-core: Convoy's pure core. Protocols and state as plain Rust with no I/O, clock or
//! randomness of its own: time enters as `now_ms: u64`, outputs are drained with `poll_*`
//! methods. Nothing here knows a browser; `convoy-browser` drives it there and the host tests
//! drive it on a virtual clock.
//!
//! - [`sse`]: the Server-Sent Events decoder and encoder;
//! - [`wire`]: the fleet's event and snapshot types, as they travel;
//! - [`fleet`]: the fleet state and how events apply to it;
//! - [`geo`]: positions on the Earth: distance, bearing, where a point lies against a leg;
//! - [`trip`]: a truck's progress, ETA, stops, status and alerts, derived from positions and a plan;
//! - [`derive`]: facts (plans, positions) turned into fleet events by a truck's trip;
//! - [`election`]: which tab leads;
//! - [`notice`]: which alerts become desktop notifications, where the stream is held;
//! - [`upstream`]: what the one stream's events tell a hub (a line dropped is a gap to repair);
//! - [`relay`]: the hub every tab and worker runs (cursor, gap repair, leadership, peers);
//! - [`hub_worker`]: the messages between a tab and the dedicated worker running its hub;
//! - [`transport`]: which transport a tab uses, from plain facts about the browser;
//! - [`delivery`]: what a tab delivered, for diagnostics;
//! - [`view`]: the view models the app's pages render (table query, board layout, formatting).

pub mod delivery;
pub mod derive;
pub mod election;
mod flat;
pub mod fleet;
pub mod geo;
pub mod hub_worker;
pub mod notice;
pub mod relay;
pub mod sse;
pub mod transport;
pub mod trip;
pub mod upstream;
pub mod view;
pub mod wire;
