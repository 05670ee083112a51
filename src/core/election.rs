//! Leader election between tabs (sans-IO).
