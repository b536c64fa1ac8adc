//! The built-in access-log formats `combined` (nginx's) and `common` (Apache's, which nginx
//! users write by hand), formatted straight from the request without the template machinery:
//! these are the lines most servers write, so they are the cheap path.
//!
//! `log::access` calls [`format_combined`] / [`format_common`] after the response is out.
//! The built-in `json` is a template (`config::model::JSON_LOG_FORMAT`) and goes through
//! `log::format` like any `log_format`.

use crate::config::model::SockAddr;
use crate::http::request::RequestLine;
use std::io::Write;

use super::escape;
use crate::context::clock::append_time_local;
use crate::context::vars::{Ctx, Sent};

/// What a `combined` or `common` line says about a request.
pub struct AccessEntry<'a> {
    /// `$remote_addr`.
    pub remote: &'a SockAddr,
    /// `$request` ("GET / HTTP/1.1").
    pub request_line: RequestLine<'a>,
    pub status: u16,
    /// `$body_bytes_sent`.
    pub body_bytes: u64,
    /// `$http_referer` and `$http_user_agent`; `None` when the header is absent (written
    /// "-"), where an empty header writes nothing, as nginx.
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

impl<'a> AccessEntry<'a> {
    /// The fields, read from the request without copying.
    pub fn of(ctx: &'a Ctx, sent: &Sent) -> AccessEntry<'a> {
        let req = &ctx.req;
        AccessEntry {
            remote: &req.conn.peer,
            request_line: req.request_line(),
            status: sent.status,
            body_bytes: sent.body_bytes,
            referer: req.field("referer"),
            user_agent: req.field("user-agent"),
        }
    }
}

/// Apache's `common`, which nginx users define as
/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent`.
pub fn format_common(out: &mut Vec<u8>, e: &AccessEntry) {
    common_fields(out, e);
    out.push(b'\n');
}

/// nginx's `combined`:
/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
pub fn format_combined(out: &mut Vec<u8>, e: &AccessEntry) {
    common_fields(out, e);
    out.extend_from_slice(b" \"");
    dash_or_escaped(out, e.referer);
    out.extend_from_slice(b"\" \"");
    dash_or_escaped(out, e.user_agent);
    out.extend_from_slice(b"\"\n");
}

fn common_fields(out: &mut Vec<u8>, e: &AccessEntry) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}", e.remote.host());
    // `$remote_user` is always "-": anx has no authentication that names a user yet.
    out.extend_from_slice(b" - - [");
    append_time_local(out);
    out.extend_from_slice(b"] \"");
    e.request_line.write_with(out, escape::default_into);
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(itoa::Buffer::new().format(e.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(e.body_bytes).as_bytes());
}

/// nginx writes a variable that is not there as "-" (escape=default).
fn dash_or_escaped(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => out.push(b'-'),
        Some(v) => escape::default_into(out, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

    static CLIENT: SockAddr = SockAddr::Inet(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, 0, 0, 1),
        80,
    )));

    fn entry<'a>() -> AccessEntry<'a> {
        AccessEntry {
            remote: &CLIENT,
            request_line: RequestLine {
                method: b"GET",
                target: b"/a\"b",
                version: crate::http::request::Version::Http11,
            },
            status: 200,
            body_bytes: 5,
            referer: None,
            user_agent: Some(b"curl/8"),
        }
    }

    #[test]
    fn combined_shape() {
        let mut out = Vec::new();
        format_combined(&mut out, &entry());
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a\\x22b HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n"),
            "{line}"
        );
    }

    #[test]
    fn common_is_combined_without_the_last_two_fields() {
        let (mut common, mut combined) = (Vec::new(), Vec::new());
        format_common(&mut common, &entry());
        format_combined(&mut combined, &entry());
        let common = String::from_utf8(common).unwrap();
        let combined = String::from_utf8(combined).unwrap();
        assert!(
            common.ends_with("] \"GET /a\\x22b HTTP/1.1\" 200 5\n"),
            "{common}"
        );
        // The time may have moved on between the two lines: compare what follows it.
        let after_time = |l: &str| l.split_once(']').map(|(_, rest)| rest.to_string());
        let rest = after_time(&combined).unwrap();
        assert!(rest.starts_with(after_time(&common).unwrap().trim_end()));
    }
}
