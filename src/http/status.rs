//! Reason phrases for status lines and the bodies of anx's own error pages.

/// The reason phrase nginx sends for `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Whether a response with this status carries no body at all (RFC 9110 §6.4.1).
pub fn is_bodyless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// An HTML error page in nginx's shape, e.g. "<html>…<h1>404 Not Found</h1>…</html>".
pub fn error_page(status: u16, server_tokens: bool) -> Vec<u8> {
    page(&format!("{} {}", status, reason(status)), server_tokens)
}

/// The page nginx sends for `title`, with anx's name in the footer.
pub fn page(title: &str, server_tokens: bool) -> Vec<u8> {
    let server = if server_tokens {
        concat!("anx/", env!("CARGO_PKG_VERSION"))
    } else {
        "anx"
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}

/// nginx's page for its internal 494 (a request header line or the whole head too large),
/// which goes out with status 400.
pub fn header_too_large_page(server_tokens: bool) -> Vec<u8> {
    const REASON: &str = "Request Header Or Cookie Too Large";
    let server = if server_tokens {
        concat!("anx/", env!("CARGO_PKG_VERSION"))
    } else {
        "anx"
    };
    format!(
        "<html>\r\n<head><title>400 {REASON}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{REASON}</center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}
