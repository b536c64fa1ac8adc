//! `add_trailer` end to end, on raw sockets: a response it applies to goes chunked even
//! with a known length (static files, `return`, error pages, proxied bodies), and its body
//! ends in the trailer fields, read after the body; HTTP/1.0, HEAD, `chunked_transfer_encoding
//! off` and statuses it does not apply to keep their Content-Length; a level with its own
//! list drops the inherited one.

mod common;

use common::backend::*;
use common::*;

/// Splits a whole response into its head (up to the blank line) and body bytes.
fn split(raw: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let at = text.find("\r\n\r\n").expect("a complete head") + 4;
    (text[..at].to_string(), text[at..].to_string())
}

fn exchange(anx: &Anx, request: &str) -> (String, String) {
    let mut c = anx.connect();
    c.send(request);
    split(&c.read_to_end())
}

fn get(anx: &Anx, path: &str) -> (String, String) {
    exchange(
        anx,
        &format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
    )
}

fn start(server: &str) -> (Site, Anx) {
    let site = Site::new();
    site.write("html/t1", "SEE-THIS");
    site.write("html/empty", "");
    let root = format!("        root {};\n", site.path().join("html").display());
    let anx = Anx::start_conf(&site, &proxy_conf("", &(root + server)), 1);
    (site, anx)
}

const SERVER: &str = "
        add_trailer X-Var $host;
        add_trailer X-Always $host always;
        add_trailer X-Empty '';
        add_trailer X-Sent-Http $sent_http_accept_ranges;
        add_trailer X-Sent-Trailer $sent_trailer_x_var;
        location / { }
        location /off { chunked_transfer_encoding off; alias html/; }
        location /own { add_trailer X-Own 1; alias html/; }
        location = /multi {
            add_trailer Foo foo;
            add_trailer Foo bar;
            add_trailer X-Joined $sent_trailer_foo;
            return 200 '';
        }
";

#[test]
fn static_file_goes_chunked_with_trailers() {
    let (_s, anx) = start(SERVER);
    let (head, body) = get(&anx, "/t1");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"), "{head}");
    // The trailers are not in the head, and the empty one is left out.
    assert!(!head.contains("X-Var"), "{head}");
    assert_eq!(
        body,
        "8\r\nSEE-THIS\r\n0\r\nX-Var: h\r\nX-Always: h\r\nX-Sent-Http: bytes\r\n\
         X-Sent-Trailer: h\r\n\r\n"
    );
    // An empty body is only the last chunk and the trailers.
    let (_, body) = get(&anx, "/empty");
    assert!(body.starts_with("0\r\nX-Var: h\r\n"), "{body:?}");
}

#[test]
fn no_trailers_without_chunks() {
    let (_s, anx) = start(SERVER);
    let (head, body) = exchange(&anx, "GET /t1 HTTP/1.0\r\nHost: h\r\n\r\n");
    assert!(head.contains("Content-Length: 8\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(body, "SEE-THIS");
    let (head, body) = exchange(
        &anx,
        "HEAD /t1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(head.contains("Content-Length: 8\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(body, "");
    let (head, body) = get(&anx, "/off/t1");
    assert!(head.contains("Content-Length: 8\r\n"), "{head}");
    assert_eq!(body, "SEE-THIS");
}

#[test]
fn error_pages_get_only_the_always_trailers() {
    let (_s, anx) = start(SERVER);
    let (head, body) = get(&anx, "/missing");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    let end = body.rfind("\r\n0\r\n").expect("a last chunk");
    assert_eq!(&body[end..], "\r\n0\r\nX-Always: h\r\n\r\n");
    let size_line = body.split("\r\n").next().unwrap();
    let size = usize::from_str_radix(size_line, 16).unwrap();
    assert!(body[size_line.len() + 2..].starts_with("<html>"));
    assert_eq!(end, size_line.len() + 2 + size, "{body:?}");
}

#[test]
fn own_list_replaces_the_inherited_one_and_values_see_earlier_trailers() {
    let (_s, anx) = start(SERVER);
    let (_, body) = get(&anx, "/own/t1");
    assert_eq!(body, "8\r\nSEE-THIS\r\n0\r\nX-Own: 1\r\n\r\n");
    // Repeated trailers joined for `$sent_trailer_*`, as nginx since 1.23 (Debian's 1.22
    // gives the first).
    let (head, body) = get(&anx, "/multi");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(
        body,
        "0\r\nFoo: foo\r\nFoo: bar\r\nX-Joined: foo, bar\r\n\r\n"
    );
}

#[test]
fn keep_alive_continues_after_the_trailers() {
    let (_s, anx) = start(SERVER);
    let mut c = anx.connect();
    c.send(
        "GET /own/t1 HTTP/1.1\r\nHost: h\r\n\r\nGET /own/t1 HTTP/1.1\r\nHost: h\r\n\
         Connection: close\r\n\r\n",
    );
    let all = String::from_utf8(c.read_to_end()).unwrap();
    let chunked = "8\r\nSEE-THIS\r\n0\r\nX-Own: 1\r\n\r\n";
    assert_eq!(all.matches(chunked).count(), 2, "{all}");
    let second = all.find(chunked).unwrap() + chunked.len();
    assert!(all[second..].starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(all.ends_with(chunked), "{all}");
}

#[test]
fn proxied_bodies_end_in_trailers_read_after_the_body() {
    let body = "y".repeat(5000);
    let b = Backend::text(&body);
    let chunked = Backend::start(|_| {
        Reply::chunked_with_trailers(vec![b"ab".to_vec(), b"cde".to_vec()], &[("X-Up", "1")])
    });
    let (_s, anx) = start(&format!(
        "        location /len {{ proxy_pass http://{}; add_trailer X-Len $upstream_response_length; }}\n\
         location /chunked {{ proxy_pass http://{}; add_trailer X-Len $upstream_response_length; }}\n",
        b.addr(),
        chunked.addr()
    ));
    // A known length goes chunked, and the trailer sees the whole upstream body.
    let (head, got) = get(&anx, "/len");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    let mut data = String::new();
    let mut rest = got.as_str();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            rest = after;
            break;
        }
        data.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").expect("chunk end");
    }
    assert_eq!(data, body);
    assert_eq!(rest, "X-Len: 5000\r\n\r\n");
    // The upstream's own trailers are dropped; ours end the body.
    let (_, got) = get(&anx, "/chunked");
    assert!(
        got.starts_with("2\r\nab\r\n3\r\ncde\r\n0\r\nX-Len: "),
        "{got:?}"
    );
    assert!(
        got.ends_with("\r\n\r\n") && !got.contains("X-Up"),
        "{got:?}"
    );
}

#[test]
fn toml_form_loads_the_same_trailers() {
    let site = Site::new();
    site.write("html/t1", "SEE-THIS");
    let anx = Anx::start(
        &site,
        &config(
            "",
            "",
            r#"
[[server.location]]
path = "/"
add_trailer = [{ name = "X-T", value = "$uri" }, { name = "X-A", value = "a", always = true }]
"#,
        ),
    );
    let (head, body) = get(&anx, "/t1");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(body, "8\r\nSEE-THIS\r\n0\r\nX-T: /t1\r\nX-A: a\r\n\r\n");
}
