//! The HTTP side of an OCSP fetch, sans-io: responder URLs (`http://host[:port][/path]`,
//! from the certificate or `ssl_stapling_responder`), the HTTP/1.0 GET (as nginx) or POST
//! that carries a request (RFC 6960 appendix A.1), and reading the responder's answer.
//!
//! `runtime::ocsp` writes [`request`]'s bytes to a std socket, reads to end of stream and
//! hands them to [`parse_response`]. HTTP/1.0 keeps this small: the responder closes the
//! connection after its answer, so there is no chunked framing to expect.

/// Most of a responder's answer anx reads (head and body); real responses are a few KiB.
pub const MAX_RESPONSE: usize = 256 * 1024;

/// An OCSP responder's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// Host name or address as written (an IPv6 literal without its brackets).
    pub host: String,
    pub port: u16,
    /// The request target, `/` when the URL has no path.
    pub path: String,
}

impl Url {
    /// `host` or `host:port` for the `Host` field and for logs, brackets around IPv6.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Parses a responder URL. Only `http://` works: OCSP responses are signed, and nginx
/// refuses `https://` responders too.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "\"{scheme}://\" OCSP responders are not supported (only \"http://\")"
            ))
        }
        None => return Err("the OCSP responder URL must start with \"http://\"".to_string()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.contains('@') {
        return Err("user information in an OCSP responder URL is not supported".to_string());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed \"[\" in the host")?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or("bad port")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host in the OCSP responder URL".to_string());
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("spaces or control characters in the OCSP responder URL".to_string());
    }
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("invalid port \"{p}\" in the OCSP responder URL"))?,
    };
    Ok(Url {
        host: host.to_string(),
        port,
        path,
    })
}

/// The request to send: GET (what nginx sends, and all some responders take) when the
/// responder's path is `/` and the URL stays under RFC 5019's 255 bytes; POST otherwise
/// (a responder under a longer path may read its path as part of the request, as
/// `openssl ocsp -port` does).
pub fn request(url: &Url, request: &[u8]) -> Vec<u8> {
    let get_bytes = get(url, request);
    let url_len = get_bytes
        .iter()
        .position(|&b| b == b' ')
        .and_then(|start| {
            get_bytes[start + 1..]
                .iter()
                .position(|&b| b == b' ')
                .map(|l| l + url.authority().len() + "http://".len())
        })
        .unwrap_or(usize::MAX);
    if url.path == "/" && url_len < 255 {
        get_bytes
    } else {
        post(url, request)
    }
}

/// The HTTP/1.0 GET carrying a DER OCSP request in its path (RFC 6960 A.1), as nginx
/// sends it: the responder path, `/`, the request in base64 with `+`, `/` and `=`
/// percent-encoded. GET is what nginx sends, so responders (and caches in front of
/// them) that serve nginx serve anx.
pub fn get(url: &Url, request: &[u8]) -> Vec<u8> {
    let b64 = crate::tls::certtext::base64(request);
    let mut escaped = String::with_capacity(b64.len() + 16);
    for c in b64.chars() {
        match c {
            '+' => escaped.push_str("%2B"),
            '/' => escaped.push_str("%2F"),
            '=' => escaped.push_str("%3D"),
            c => escaped.push(c),
        }
    }
    let slash = if url.path.ends_with('/') { "" } else { "/" };
    format!(
        "GET {}{slash}{escaped} HTTP/1.0\r\nHost: {}\r\n\r\n",
        url.path,
        url.authority()
    )
    .into_bytes()
}

/// The HTTP/1.0 POST carrying a DER OCSP request (for requests too long for a URL).
pub fn post(url: &Url, request: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        url.path,
        url.authority(),
        request.len()
    )
    .into_bytes();
    out.extend_from_slice(request);
    out
}

/// The body of a responder's answer, read to the end of the stream: a 200 with a
/// `Content-Length` it fulfils (or, without one, everything after the head).
pub fn parse_response(bytes: &[u8]) -> Result<&[u8], String> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut fields);
    let head_len = match head.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("OCSP responder closed the connection before a complete header".into())
        }
        Err(e) => return Err(format!("OCSP responder sent invalid response: {e}")),
    };
    let code = head.code.unwrap_or(0);
    if code != 200 {
        let reason = head.reason.unwrap_or("");
        return Err(format!(
            "OCSP responder sent invalid \"{code} {reason}\" status"
        ));
    }
    let mut length = None;
    for f in head.headers.iter() {
        if f.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("OCSP responder sent \"Transfer-Encoding\" to an HTTP/1.0 request".into());
        }
        if f.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(f.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("OCSP responder sent invalid \"Content-Length\" header")?;
            if length.is_some_and(|l| l != n) {
                return Err("OCSP responder sent two different \"Content-Length\" headers".into());
            }
            length = Some(n);
        }
    }
    let body = &bytes[head_len..];
    match length {
        Some(n) if body.len() < n => Err(format!(
            "OCSP responder prematurely closed connection ({} of {n} bytes)",
            body.len()
        )),
        Some(n) => Ok(&body[..n]),
        None => Ok(body),
    }
}
