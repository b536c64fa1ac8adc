//! `stub_status`: nginx's four lines, byte for byte (trailing spaces included), so nginx
//! exporters and monitoring scripts read anx unchanged.

use crate::metrics::report::Report;

pub fn render(r: &Report) -> Vec<u8> {
    let c = &r.connections;
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        c.active, c.accepted, c.handled, r.requests.total, c.reading, c.writing, c.waiting
    )
    .into_bytes()
}
