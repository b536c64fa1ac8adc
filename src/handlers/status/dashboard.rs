//! `anx_dashboard`: one self-contained HTML page (inline CSS, JS and canvas charts, no
//! external assets) that asks its own URI with `?json` every second for the JSON report and
//! draws requests/s, connections, status classes, server zones and upstream peers.

/// The page, compiled in.
pub const PAGE: &[u8] = include_bytes!("dashboard.html");
