//! Every metric anx exposes, named once: the Prometheus name, its type and its help text.
//! The JSON endpoint uses its own field names (`report.rs`) for the same figures.
//!
//! Rules (Prometheus's): `anx_` prefix, base units (seconds, bytes), `_total` on counters
//! only, labels with few values (status class, server zone, upstream group and peer, all
//! from the configuration — never from requests). Process figures keep the standard
//! `process_` names every Prometheus dashboard already knows.

/// A metric family.
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

const fn m(name: &'static str, kind: Kind, help: &'static str) -> Metric {
    Metric { name, kind, help }
}

use Kind::{Counter, Gauge, Histogram};

pub const BUILD_INFO: Metric = m("anx_build_info", Gauge, "anx version; always 1.");
pub const SHARDS: Metric = m("anx_shards", Gauge, "Shards (pinned executors) running.");
pub const CONFIG_GENERATION: Metric = m(
    "anx_config_generation",
    Gauge,
    "Configuration generation: 1 at start, +1 per successful reload.",
);
pub const RELOADS: Metric = m(
    "anx_config_reloads_total",
    Counter,
    "Configuration reloads, by result (ok, failed).",
);
pub const LAST_RELOAD_OK: Metric = m(
    "anx_config_last_reload_successful",
    Gauge,
    "1 when the last reload succeeded (or none happened yet), else 0.",
);

pub const CONN_ACCEPTED: Metric = m(
    "anx_connections_accepted_total",
    Counter,
    "Client connections accepted.",
);
pub const CONN_HANDLED: Metric = m(
    "anx_connections_handled_total",
    Counter,
    "Client connections handled (as stub_status's handled).",
);
pub const CONN_ACTIVE: Metric = m(
    "anx_connections_active",
    Gauge,
    "Client connections open now.",
);
pub const CONN_STATE: Metric = m(
    "anx_connections",
    Gauge,
    "Client connections open now, by state (reading, writing, waiting).",
);

pub const CONN_PARKED: Metric = m(
    "anx_connections_parked",
    Gauge,
    "Idle keep-alive connections parked without a task (a few hundred bytes each).",
);

pub const REQUESTS: Metric = m("anx_http_requests_total", Counter, "Client requests.");
pub const RESPONSES: Metric = m(
    "anx_http_responses_total",
    Counter,
    "Responses to clients, by status class.",
);
pub const RECEIVED_BYTES: Metric = m(
    "anx_http_received_bytes_total",
    Counter,
    "Request bytes received (heads and bodies).",
);
pub const SENT_BYTES: Metric = m(
    "anx_http_sent_bytes_total",
    Counter,
    "Response bytes sent (heads and bodies).",
);
pub const REQUEST_DURATION: Metric = m(
    "anx_http_request_duration_seconds",
    Histogram,
    "From a complete request head to the end of its response.",
);

pub const ZONE_REQUESTS: Metric = m(
    "anx_server_requests_total",
    Counter,
    "Requests per server zone (a server block, by its first name).",
);
pub const ZONE_RESPONSES: Metric = m(
    "anx_server_responses_total",
    Counter,
    "Responses per server zone, by status class.",
);
pub const ZONE_RECEIVED: Metric = m(
    "anx_server_received_bytes_total",
    Counter,
    "Request bytes received per server zone.",
);
pub const ZONE_SENT: Metric = m(
    "anx_server_sent_bytes_total",
    Counter,
    "Response bytes sent per server zone.",
);

pub const PEER_UP: Metric = m(
    "anx_upstream_peer_up",
    Gauge,
    "1 when the peer may be chosen (not down, passing its health check), else 0.",
);
pub const PEER_ACTIVE: Metric = m(
    "anx_upstream_peer_active_connections",
    Gauge,
    "Connections to the peer in use now.",
);
pub const PEER_REQUESTS: Metric = m(
    "anx_upstream_peer_requests_total",
    Counter,
    "Attempts sent to the peer.",
);
pub const PEER_RESPONSES: Metric = m(
    "anx_upstream_peer_responses_total",
    Counter,
    "Response heads from the peer, by status class.",
);
pub const PEER_FAILS: Metric = m(
    "anx_upstream_peer_fails_total",
    Counter,
    "Attempts to the peer that failed, as max_fails counts them (errors, timeouts, statuses listed in proxy_next_upstream).",
);
pub const PEER_HEALTH_CHECKS: Metric = m(
    "anx_upstream_peer_health_checks_total",
    Counter,
    "Active health-check probes of the peer.",
);
pub const PEER_HEALTH_FAILS: Metric = m(
    "anx_upstream_peer_health_check_fails_total",
    Counter,
    "Active health-check probes of the peer that failed.",
);
pub const PEER_HEADER_DURATION: Metric = m(
    "anx_upstream_peer_header_duration_seconds",
    Histogram,
    "From the start of an attempt to the peer's response head.",
);

pub const TLS_HANDSHAKES: Metric = m(
    "anx_tls_handshakes_total",
    Counter,
    "TLS handshakes with clients, by result (ok, failed).",
);
pub const TLS_RESUMED: Metric = m(
    "anx_tls_sessions_resumed_total",
    Counter,
    "TLS handshakes that resumed a session.",
);

pub const CPU: Metric = m(
    "process_cpu_seconds_total",
    Counter,
    "User and system CPU time spent.",
);
pub const RSS: Metric = m("process_resident_memory_bytes", Gauge, "Resident memory.");
pub const OPEN_FDS: Metric = m("process_open_fds", Gauge, "Open file descriptors.");
pub const MAX_FDS: Metric = m(
    "process_max_fds",
    Gauge,
    "The limit on open file descriptors.",
);
pub const START_TIME: Metric = m(
    "process_start_time_seconds",
    Gauge,
    "Start time since the Unix epoch.",
);
