//! Relaying one upstream stream to every tab with a shared cursor (sans-IO).
