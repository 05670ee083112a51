//! Pages: one per route. They call hooks and compose components.

pub mod board;
pub mod diagnostics;
pub mod fleet;
pub mod map;
pub mod not_found;
pub mod settings;
pub mod sign_in;
pub mod truck;
