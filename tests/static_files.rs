//! The static file handler end to end: index, redirects, ranges, conditionals, validators,
//! MIME types, autoindex, path confinement (traversal, dotfiles, symlinks), alias, large
//! files through sendfile, cache freshness and the access log.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const SECRET: &str = "TOP-SECRET-7f3a9c-do-not-serve";

fn site() -> Site {
    let site = Site::new();
    site.write("html/index.html", "<h1>index</h1>\n");
    site.write("html/digits.txt", "0123456789abcdefghij"); // 20 bytes
    site.write("html/style.css", "body{}\n");
    site.write("html/app.js", "let x=1;\n");
    site.write("html/pic.png", b"\x89PNG\r\n\x1a\nfake");
    site.write("html/data.unknownext", "??\n");
    site.write("html/noext", "plain\n");
    site.write("html/sub/index.html", "<h1>sub</h1>\n");
    site.write("html/list/one.txt", "1\n");
    site.write("html/list/two.txt", "22\n");
    site.mkdir("html/list/inner");
    site.write("html/list/.hidden", "h\n");
    site.write("html/.hidden", "dotfile\n");
    site.write("html/.git/config", "[core]\n");
    site.write("secret.txt", SECRET);
    site.write("outside/target.txt", SECRET);
    site.write("other/aliased.txt", "from alias dir\n");
    site
}

fn start_with(http: &str, server: &str, locations: &str) -> (Site, Anx) {
    let site = site();
    let anx = Anx::start(&site, &config(http, server, locations));
    (site, anx)
}

fn start() -> (Site, Anx) {
    start_with("", "", "")
}

fn req(anx: &Anx, raw: &str) -> Response {
    anx.raw(raw)
}

#[test]
fn index_file_is_served() {
    let (_s, anx) = start();
    let r = anx.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>index</h1>\n");
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = anx.get("/sub/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>sub</h1>\n");
    let r = anx.get("/index.html");
    assert_eq!(r.body, b"<h1>index</h1>\n");
}

#[test]
fn directory_without_slash_redirects() {
    let (_s, anx) = start();
    let r = req(&anx, "GET /sub HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(r.status, 301);
    let loc = r.header("location").expect("Location");
    assert!(loc.ends_with("/sub/"), "Location {loc:?}");
    // The query is kept.
    let r = req(&anx, "GET /sub?a=b HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(r.status, 301);
    let loc = r.header("location").unwrap();
    assert!(loc.ends_with("/sub/?a=b"), "Location {loc:?}");
    // A directory without index and autoindex off is forbidden.
    let r = anx.get("/list/");
    assert_eq!(r.status, 403);
}

#[test]
fn single_range() {
    let (_s, anx) = start();
    for (range, bytes, content_range) in [
        ("bytes=0-4", &b"01234"[..], "bytes 0-4/20"),
        ("bytes=10-", &b"abcdefghij"[..], "bytes 10-19/20"),
        ("bytes=-3", &b"hij"[..], "bytes 17-19/20"),
        ("bytes=15-100", &b"fghij"[..], "bytes 15-19/20"),
    ] {
        let r = req(
            &anx,
            &format!("GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n\r\n"),
        );
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
        assert_eq!(r.body, bytes, "{range}");
        assert_eq!(r.content_length(), Some(bytes.len() as u64));
    }
}

#[test]
fn multiple_ranges_are_multipart() {
    let (_s, anx) = start();
    let r = req(
        &anx,
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-7,-2\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap().to_string();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    let boundary = ct.split("boundary=").nth(1).unwrap().trim_matches('"');
    let parts = parse_multipart(&r.body, boundary);
    assert_eq!(parts.len(), 3, "{:?}", r.text());
    let expect = [
        ("bytes 0-1/20", &b"01"[..]),
        ("bytes 5-7/20", &b"567"[..]),
        ("bytes 18-19/20", &b"ij"[..]),
    ];
    for ((headers, body), (cr, bytes)) in parts.iter().zip(expect) {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("content-range"), Some(cr));
        assert_eq!(get("content-type"), Some("text/plain"));
        assert_eq!(body.as_slice(), bytes);
    }
}

/// Splits a multipart/byteranges body into (headers, body) parts.
/// One multipart part: its header fields and its body.
type Part = (Vec<(String, String)>, Vec<u8>);

fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let first = find(rest, delim.as_bytes()).expect("first boundary");
    rest = &rest[first + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        assert!(rest.starts_with(b"\r\n"), "boundary not followed by CRLF");
        rest = &rest[2..];
        let head_end = find(rest, b"\r\n\r\n").expect("part head end");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let headers = head
            .split("\r\n")
            .map(|l| {
                let (k, v) = l.split_once(':').expect("part header");
                (k.to_string(), v.trim().to_string())
            })
            .collect();
        rest = &rest[head_end + 4..];
        let next_delim = format!("\r\n--{boundary}");
        let end = find(rest, next_delim.as_bytes()).expect("next boundary");
        parts.push((headers, rest[..end].to_vec()));
        rest = &rest[end + next_delim.len()..];
    }
    parts
}

#[test]
fn unsatisfiable_range_is_416() {
    let (_s, anx) = start();
    let r = req(
        &anx,
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=20-30\r\n\r\n",
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */20"));
    // A syntactically invalid Range is ignored: the full body.
    let r = req(
        &anx,
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=abc\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 20);
}

#[test]
fn if_range_match_and_mismatch() {
    let (_s, anx) = start();
    let full = anx.get("/digits.txt");
    let etag = full.header("etag").unwrap().to_string();
    let lm = full.header("last-modified").unwrap().to_string();
    for validator in [etag.as_str(), lm.as_str()] {
        let r = req(
            &anx,
            &format!(
                "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2\r\nIf-Range: {validator}\r\n\r\n"
            ),
        );
        assert_eq!(r.status, 206, "If-Range: {validator}");
        assert_eq!(r.body, b"012");
    }
    for validator in ["\"0-0\"", "Thu, 01 Jan 1970 00:00:00 GMT"] {
        let r = req(
            &anx,
            &format!(
                "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2\r\nIf-Range: {validator}\r\n\r\n"
            ),
        );
        assert_eq!(r.status, 200, "If-Range: {validator}");
        assert_eq!(r.body, b"0123456789abcdefghij");
    }
}

#[test]
fn if_none_match_is_304() {
    let (_s, anx) = start();
    let full = anx.get("/digits.txt");
    let etag = full.header("etag").unwrap().to_string();
    let mut c = anx.connect();
    c.send(format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    let r = c.response();
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("content-length").is_none());
    // No body bytes follow: the next response parses cleanly.
    c.send(format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", {etag}\r\n\r\n"
    ));
    assert_eq!(c.response().status, 304);
    c.send("GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"nope\"\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 20);
}

#[test]
fn if_modified_since_is_304() {
    let (_s, anx) = start();
    let full = anx.get("/digits.txt");
    let lm = full.header("last-modified").unwrap().to_string();
    let r = req(
        &anx,
        &format!("GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {lm}\r\n\r\n"),
    );
    assert_eq!(r.status, 304);
    let r = req(
        &anx,
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn etag_and_last_modified_formats() {
    let (site, anx) = start();
    let meta = std::fs::metadata(site.root().join("digits.txt")).unwrap();
    let r = anx.get("/digits.txt");
    let etag = r.header("etag").unwrap();
    assert_eq!(etag, format!("\"{:x}-{:x}\"", meta.mtime(), meta.size()));
    let inner = etag.trim_matches('"');
    let (a, b) = inner.split_once('-').unwrap();
    assert!(
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert!(
        !b.is_empty()
            && b.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let lm = r.header("last-modified").unwrap();
    let expected =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(meta.mtime() as u64));
    assert_eq!(lm, expected);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
}

#[test]
fn head_has_no_body_and_same_length() {
    let (_s, anx) = start();
    let get = anx.get("/digits.txt");
    let mut c = anx.connect();
    c.send("HEAD /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), get.content_length());
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(head.header("content-type"), get.header("content-type"));
    // No stray body: the next response starts right away.
    c.send(get_req("/style.css"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body{}\n");
    // HEAD then GET again on the same connection.
    c.send("HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    let h = c.head_response();
    assert_eq!(h.content_length(), Some(15));
    c.send(get_req("/index.html"));
    assert_eq!(c.response().body, b"<h1>index</h1>\n");
}

#[test]
fn mime_types() {
    let (_s, anx) = start();
    for (path, ty) in [
        ("/style.css", "text/css"),
        ("/app.js", "application/javascript"),
        ("/pic.png", "image/png"),
        ("/index.html", "text/html"),
        ("/data.unknownext", "text/plain"),
        ("/noext", "text/plain"),
    ] {
        let r = anx.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ty), "{path}");
    }
    let (_s, anx) = start_with("default_type = \"application/x-anx-default\"", "", "");
    let r = anx.get("/data.unknownext");
    assert_eq!(r.header("content-type"), Some("application/x-anx-default"));
    let r = anx.get("/style.css");
    assert_eq!(r.header("content-type"), Some("text/css"));
}

#[test]
fn autoindex_html() {
    let (_s, anx) = start_with("", "autoindex = true", "");
    let r = anx.get("/list/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html"));
    let t = r.text();
    assert!(t.contains("<title>Index of /list/</title>"), "{t}");
    assert!(t.contains("<a href=\"one.txt\">one.txt</a>"), "{t}");
    assert!(t.contains("<a href=\"two.txt\">two.txt</a>"), "{t}");
    assert!(t.contains("<a href=\"inner/\">inner/</a>"), "{t}");
    assert!(!t.contains(".hidden"), "dotfiles listed: {t}");
    // Directories first.
    assert!(t.find("inner/").unwrap() < t.find("one.txt").unwrap());
}

#[test]
fn autoindex_json() {
    let (_s, anx) = start_with("", "autoindex = true\nautoindex_format = \"json\"", "");
    let r = anx.get("/list/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let t = r.text();
    assert!(
        t.trim_start().starts_with('[') && t.trim_end().ends_with(']'),
        "{t}"
    );
    assert!(
        t.contains("{ \"name\":\"inner\", \"type\":\"directory\", \"mtime\":\""),
        "{t}"
    );
    assert!(t.contains("\"name\":\"one.txt\", \"type\":\"file\""), "{t}");
    assert!(t.contains("\"size\":2 }"), "{t}");
    assert!(!t.contains(".hidden"), "{t}");
}

#[test]
fn traversal_never_leaks_outside_the_root() {
    let (_s, anx) = start_with("", "autoindex = true", "");
    let targets = [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "//..//secret.txt",
        "/sub/../../secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/./../secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/secret.txt%00.html",
        "/%00/../secret.txt",
        "/..",
        "/../",
        "/%2e%2e",
        "/..;/secret.txt",
        "/%252e%252e/secret.txt",
    ];
    for t in targets {
        for raw in [
            format!("GET {t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            format!("GET http://x{t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ] {
            let mut c = anx.connect();
            c.send_lossy(&raw);
            let r = c.try_response(false);
            let all = c.read_to_end();
            if let Ok(r) = &r {
                assert!(
                    matches!(r.status, 400 | 403 | 404),
                    "{raw:?} got {} {}",
                    r.status,
                    r.reason
                );
                assert!(
                    !contains(&r.body, SECRET.as_bytes()),
                    "{raw:?} leaked the secret"
                );
                assert!(
                    !contains(&r.body, b"root:x:0:0"),
                    "{raw:?} leaked /etc/passwd"
                );
            }
            assert!(
                !contains(&all, SECRET.as_bytes()),
                "{raw:?} leaked the secret"
            );
        }
    }
    // The root still works.
    assert_eq!(anx.get("/digits.txt").status, 200);
}

#[test]
fn dotfiles_refused_by_default() {
    let (_s, anx) = start();
    for p in ["/.hidden", "/.git/config", "/list/.hidden", "/%2ehidden"] {
        let r = anx.get(p);
        assert_eq!(r.status, 403, "{p}");
    }
}

#[test]
fn dotfiles_served_when_allowed() {
    let (_s, anx) = start_with("", "allow_dotfiles = true", "");
    let r = anx.get("/.hidden");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"dotfile\n");
    let r = anx.get("/.git/config");
    assert_eq!(r.status, 200);
}

#[test]
fn symlink_outside_root_refused_unless_allowed() {
    let site = site();
    site.symlink(site.path().join("outside/target.txt"), "html/escape.txt");
    site.symlink("../outside", "html/escdir");
    site.symlink("digits.txt", "html/inside-link.txt");
    let anx = Anx::start(&site, &config("", "", ""));
    for p in ["/escape.txt", "/escdir/target.txt"] {
        let r = anx.get(p);
        assert_eq!(r.status, 403, "{p}");
        assert!(!contains(&r.body, SECRET.as_bytes()));
    }
    // A symlink that stays inside the root is fine.
    let r = anx.get("/inside-link.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789abcdefghij");
    drop(anx);

    let anx = Anx::start(&site, &config("", "allow_symlinks_outside_root = true", ""));
    let r = anx.get("/escape.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, SECRET.as_bytes());
    let r = anx.get("/escdir/target.txt");
    assert_eq!(r.status, 200);
}

#[test]
fn alias_in_a_location() {
    let (_s, anx) = start_with(
        "",
        "",
        r#"
[[server.location]]
path = "/"

[[server.location]]
path = "/files/"
alias = "other/"
"#,
    );
    let r = anx.get("/files/aliased.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"from alias dir\n");
    // The root is not consulted for aliased paths, and the alias does not open the parent.
    assert_eq!(anx.get("/files/digits.txt").status, 404);
    let r = anx.get("/files/../secret.txt");
    assert!(matches!(r.status, 400 | 403 | 404), "{}", r.status);
    assert!(!contains(&r.body, SECRET.as_bytes()));
    assert_eq!(anx.get("/digits.txt").status, 200);
}

#[test]
fn large_file_via_sendfile_arrives_intact() {
    let site = site();
    let big = pattern(3 * 1024 * 1024 + 123, 7);
    site.write("html/big.bin", &big);
    let anx = Anx::start(&site, &config("", "", ""));
    let r = anx.get("/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(big.len() as u64));
    assert!(r.body == big, "large body differs");
    // A range deep inside it.
    let r = anx.raw("GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=2000000-2000099\r\n\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big[2_000_000..2_000_100]);

    // A slow reader with a tiny receive buffer: the server hits a full socket many times.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&anx.addr().into()).unwrap();
    let stream: std::net::TcpStream = sock.into();
    let mut c = Conn::from_stream(stream);
    c.send(get_req("/big.bin"));
    c.send(get_req("/digits.txt"));
    std::thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    let mut head_done = false;
    let mut small = [0u8; 1024];
    use std::io::Read;
    // Read the first ~256 KiB in small sips with pauses, then the rest normally.
    while got.len() < 256 * 1024 {
        let n = c.stream.read(&mut small).expect("read");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&small[..n]);
        if !head_done && find(&got, b"\r\n\r\n").is_some() {
            head_done = true;
        }
        if got.len() % (64 * 1024) < 1024 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(head_done);
    // Hand what we read back to a fresh parser: simplest is to re-read through Conn.
    let mut rest = Vec::new();
    let head_end = find(&got, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    rest.extend_from_slice(&got[head_end..]);
    while rest.len() < big.len() {
        let n = c.stream.read(&mut small).expect("read");
        assert!(n > 0, "closed after {} of {} bytes", rest.len(), big.len());
        rest.extend_from_slice(&small[..n]);
    }
    let tail = rest.split_off(big.len());
    assert!(rest == big, "slowly read body differs");
    // The pipelined second response follows intact.
    let mut c2 = c;
    let mut second = tail;
    while find(&second, b"0123456789abcdefghij").is_none() {
        let n = c2.stream.read(&mut small).expect("read second response");
        assert!(n > 0);
        second.extend_from_slice(&small[..n]);
    }
    assert!(
        second.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&second)
    );
}

#[test]
fn modified_file_is_served_fresh() {
    let (site, anx) = start();
    site.write("html/fresh.txt", "version one\n");
    assert_eq!(anx.get("/fresh.txt").body, b"version one\n");
    assert_eq!(anx.get("/fresh.txt").body, b"version one\n");
    site.write("html/fresh.txt", "version two, longer\n");
    poll_until(Duration::from_secs(10), "the new file content", || {
        let r = anx.get("/fresh.txt");
        assert_eq!(r.status, 200);
        assert!(
            r.body == b"version one\n" || r.body == b"version two, longer\n",
            "mixed content: {:?}",
            r.text()
        );
        (r.body == b"version two, longer\n").then_some(())
    });
    // Replaced by rename (new inode, same size).
    site.write("html/fresh.tmp", "version 3, longer!!\n");
    std::fs::rename(site.root().join("fresh.tmp"), site.root().join("fresh.txt")).unwrap();
    poll_until(Duration::from_secs(10), "the renamed file content", || {
        (anx.get("/fresh.txt").body == b"version 3, longer!!\n").then_some(())
    });
    // Deleted: 404 eventually.
    std::fs::remove_file(site.root().join("fresh.txt")).unwrap();
    poll_until(Duration::from_secs(10), "404 after delete", || {
        (anx.get("/fresh.txt").status == 404).then_some(())
    });
}

#[test]
fn access_log_combined_format() {
    let (site, anx) = start_with(
        "",
        "access_log = { path = \"logs/access.log\", format = \"combined\", buffer = \"64k\", flush = \"1s\" }",
        "",
    );
    let mut c = anx.connect();
    c.send(
        "GET /digits.txt?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\nUser-Agent: it-test/1.0\r\n\r\n",
    );
    assert_eq!(c.response().status, 200);
    c.send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 404);
    let log = site.path().join("logs/access.log");
    let text = poll_until(Duration::from_secs(15), "access log lines", || {
        let t = std::fs::read_to_string(&log).ok()?;
        (t.lines().count() >= 2).then_some(t)
    });
    let lines: Vec<&str> = text.lines().collect();
    let first = lines[0];
    // 127.0.0.1 - - [25/Nov/2026:21:22:00 +0000] "GET /digits.txt?q=1 HTTP/1.1" 200 20 "http://ref.example/" "it-test/1.0"
    assert!(first.starts_with("127.0.0.1 - - ["), "{first}");
    let close = first.find("] ").expect("time field");
    let time = &first[15..close];
    assert_eq!(time.len(), 26, "time_local {time:?}");
    assert_eq!(&time[2..3], "/");
    assert_eq!(&time[6..7], "/");
    assert_eq!(&time[11..12], ":");
    assert!(
        time[21..].starts_with('+') || time[21..].starts_with('-'),
        "{time}"
    );
    assert_eq!(
        &first[close + 2..],
        "\"GET /digits.txt?q=1 HTTP/1.1\" 200 20 \"http://ref.example/\" \"it-test/1.0\""
    );
    assert!(
        lines[1].contains("\"GET /missing HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(" \"-\" \"-\""), "{}", lines[1]);
}
