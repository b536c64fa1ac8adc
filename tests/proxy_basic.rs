//! The reverse proxy's request and response rewriting, checked at a real backend: which
//! URI reaches the upstream (`proxy_pass` with and without a URI part, a replaced prefix,
//! regex locations, variables, `rewrite ... break`), the request header fields anx sets
//! (`Host` = `$proxy_host`, `proxy_set_header` with `$host`,
//! `$proxy_add_x_forwarded_for`, `$remote_addr`, `$scheme`, empty values), hop-by-hop
//! fields stripped in both directions, `proxy_hide_header` / `proxy_pass_header`, the
//! backend's `Server`/`Date` replaced, `proxy_redirect` (default, explicit, off),
//! `proxy_method`, `proxy_http_version`, and a unix-socket upstream.

mod common;

use common::backend::*;
use common::*;

/// GET `target` with extra header lines; the response.
fn get_with(anx: &Anx, target: &str, headers: &str) -> Response {
    anx.raw(format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    ))
}

#[test]
fn proxy_pass_with_a_uri_replaces_the_location_prefix() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /app/ { proxy_pass http://b/; }
         location /old/ { proxy_pass http://b/base/; }
         location /p { proxy_pass http://b/base; }",
    );
    for (sent, expected) in [
        ("/app/x", "/x"),
        ("/app/", "/"),
        ("/app/x/y?q=1&r", "/x/y?q=1&r"),
        ("/old/x", "/base/x"),
        ("/old/a/b?k=v", "/base/a/b?k=v"),
        ("/p/y", "/base/y"),
        ("/pz", "/basez"),
    ] {
        let r = anx.get(sent);
        assert_eq!(r.status, 200, "{sent}: {r:?}");
        assert_eq!(b.last().target, expected, "{sent}");
    }
}

#[test]
fn proxy_pass_without_a_uri_passes_the_request_uri_unchanged() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    for target in [
        "/plain",
        "/a%20b/c%2Fd?x=%41&y",
        "/x//y/../z",
        "/caf%C3%A9?q=a+b&q=%26",
        "/dir/?",
    ] {
        let r = anx.get(target);
        assert_eq!(r.status, 200, "{target}: {r:?}");
        let got = b.last();
        assert_eq!(got.target, target, "the request URI must pass as sent");
        assert_eq!(got.method, "GET");
        // The echo body starts with the request line the backend saw.
        assert!(
            r.text().starts_with(&format!("GET {target} HTTP/1.")),
            "{}",
            r.text()
        );
    }
}

#[test]
fn regex_location_without_a_uri_passes_the_request_uri() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        r"location ~ ^/re/(\d+)$ { proxy_pass http://b; }
          location / { return 200 'static\n'; }",
    );
    let r = anx.get("/re/42?z=1");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(b.last().target, "/re/42?z=1");
    assert_eq!(anx.get("/re/x").text(), "static\n");
    assert_eq!(b.count(), 1);
}

#[test]
fn variables_in_proxy_pass() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /v/ { proxy_pass http://b$request_uri; }
         location /s/ { set $dest /elsewhere; proxy_pass http://b$dest$is_args$args; }",
    );
    assert_eq!(anx.get("/v/x?y=1").status, 200);
    assert_eq!(b.last().target, "/v/x?y=1");
    assert_eq!(anx.get("/s/anything?k=v").status, 200);
    assert_eq!(b.last().target, "/elsewhere?k=v");
    assert_eq!(anx.get("/s/anything").status, 200);
    assert_eq!(b.last().target, "/elsewhere");
    // A variable proxy_pass naming an upstream still sends that upstream's name as Host.
    assert_eq!(b.last().header("host"), Some("b"));
}

#[test]
fn rewrite_break_then_proxy_pass_sends_the_rewritten_uri() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /rw/ { rewrite ^/rw/(.*)$ /inner/$1 break; proxy_pass http://b; }
         location /rq/ { rewrite ^/rq/(.*)$ /inner?from=$1 break; proxy_pass http://b; }",
    );
    assert_eq!(anx.get("/rw/z?k=v").status, 200);
    assert_eq!(b.last().target, "/inner/z?k=v");
    assert_eq!(anx.get("/rq/z?k=v").status, 200);
    assert_eq!(b.last().target, "/inner?from=z&k=v");
}

#[test]
fn default_host_is_the_proxy_host_and_http_1_0_with_connection_close() {
    let b = Backend::echo();
    let port = b.port();
    let (_s, anx) = start_proxy(
        &upstream("named_group", &b),
        &format!(
            "location /g/ {{ proxy_pass http://named_group/; }}
             location /i/ {{ proxy_pass http://127.0.0.1:{port}/; }}"
        ),
    );
    let r = get_with(&anx, "/g/", "");
    assert_eq!(r.status, 200);
    let got = b.last();
    assert_eq!(got.header("host"), Some("named_group"));
    assert_eq!(got.headers_named("host").len(), 1);
    // nginx's defaults: proxy_http_version 1.0 and "Connection: close".
    assert_eq!(got.version, "HTTP/1.0");
    assert_eq!(got.header("connection"), Some("close"));

    assert_eq!(get_with(&anx, "/i/", "").status, 200);
    assert_eq!(
        b.last().header("host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
}

#[test]
fn set_header_host_and_the_forwarding_fields() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location / {
            proxy_pass http://b;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Accept-Encoding \"\";
            proxy_set_header X-Constant \"fixed value\";
        }",
    );
    let r = anx.raw(
        "GET /h HTTP/1.1\r\nHost: App.Test:8080\r\nX-Forwarded-For: 10.0.0.1\r\n\
         Accept-Encoding: gzip\r\nX-Other: kept\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let got = b.last();
    // $host: lowercased, without the port.
    assert_eq!(got.header("host"), Some("app.test"));
    assert_eq!(got.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(
        got.headers_named("x-forwarded-for"),
        ["10.0.0.1, 127.0.0.1"]
    );
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    assert!(
        !got.has("accept-encoding"),
        "an empty value removes the field"
    );
    assert_eq!(got.header("x-constant"), Some("fixed value"));
    assert_eq!(got.header("x-other"), Some("kept"));

    // Without a client X-Forwarded-For, $proxy_add_x_forwarded_for is the client address.
    let r = get_with(&anx, "/h2", "");
    assert_eq!(r.status, 200);
    assert_eq!(b.last().headers_named("x-forwarded-for"), ["127.0.0.1"]);
}

#[test]
fn hop_by_hop_request_fields_do_not_reach_the_backend() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let r = anx.raw(
        "GET /hop HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive, X-Secret\r\n\
         X-Secret: 1\r\nTE: trailers\r\nProxy-Authorization: Basic dTpw\r\n\
         Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Public: yes\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let got = b.last();
    for name in [
        "x-secret",
        "te",
        "proxy-authorization",
        "keep-alive",
        "proxy-connection",
    ] {
        assert!(
            !got.has(name),
            "{name} reached the backend: {:?}",
            String::from_utf8_lossy(&got.raw_head)
        );
    }
    // anx's own Connection field, not the client's.
    assert!(
        !got.headers_named("connection")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("x-secret")),
        "{:?}",
        got.headers
    );
    assert_eq!(got.header("x-public"), Some("yes"));
}

#[test]
fn hop_by_hop_response_fields_do_not_reach_the_client() {
    let b = Backend::start(|_| {
        Reply::ok("hop body\n")
            .header("Connection", "close, X-Hop")
            .header("X-Hop", "1")
            .header("Keep-Alive", "timeout=5, max=100")
            .header("Trailer", "X-Checksum")
            .header("X-End-To-End", "yes")
    });
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let mut c = anx.connect();
    for round in 0..2 {
        c.send(get_req("/hop"));
        let r = c.response();
        assert_eq!(r.status, 200, "round {round}: {r:?}");
        assert_eq!(r.text(), "hop body\n");
        for name in ["x-hop", "keep-alive", "trailer"] {
            assert!(r.header(name).is_none(), "{name} reached the client: {r:?}");
        }
        assert_eq!(r.header("x-end-to-end"), Some("yes"));
        // The backend's "Connection: close" is about anx's upstream connection: the client
        // connection stays open (the second round runs on it).
        assert!(!r.says_close(), "{r:?}");
    }
}

#[test]
fn hide_header_and_pass_header() {
    let b = Backend::start(|_| {
        Reply::ok("x")
            .header("Server", "backend/1.0")
            .header("X-Internal", "secret")
            .header("X-Visible", "v")
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /hide { proxy_pass http://b; proxy_hide_header X-Internal; }
         location /pass { proxy_pass http://b; proxy_pass_header Server; }",
    );
    let r = anx.get("/hide");
    assert_eq!(r.status, 200);
    assert!(r.header("x-internal").is_none(), "{r:?}");
    assert_eq!(r.header("x-visible"), Some("v"));

    let r = anx.get("/pass");
    assert_eq!(r.header("x-internal"), Some("secret"), "{r:?}");
    assert_eq!(r.header_count("server"), 1, "{r:?}");
    assert_eq!(r.header("server"), Some("backend/1.0"));
}

#[test]
fn the_backends_server_and_date_are_replaced() {
    let b = Backend::start(|_| {
        Reply::ok("x")
            .header("Server", "backend/1.0")
            .header("Date", "Mon, 01 Jan 2001 00:00:00 GMT")
    });
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let r = anx.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header_count("server"), 1, "{r:?}");
    assert_ne!(r.header("server"), Some("backend/1.0"), "{r:?}");
    assert_eq!(r.header_count("date"), 1, "{r:?}");
    assert!(!r.header("date").unwrap().contains("2001"), "{r:?}");
}

#[test]
fn proxy_redirect_default_explicit_and_off() {
    let b = Backend::start(|req| {
        let to = req.arg("to").unwrap_or("http://b/login").to_string();
        Reply::text(302, "moved\n").header("Location", &to)
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /app/ { proxy_pass http://b/; }
         location /exp/ { proxy_pass http://b/; proxy_redirect http://b/ http://front.example/; }
         location /off/ { proxy_pass http://b/; proxy_redirect off; }
         location /re/ { proxy_pass http://b/; proxy_redirect ~^http://b/(.*)$ http://re.example/x/$1; }",
    );
    let r = anx.get("/app/x");
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    // default: the proxy_pass URL "http://b/" becomes the location prefix "/app/".
    assert!(
        loc.ends_with("/app/login") && !loc.contains("//b/"),
        "default proxy_redirect gave {loc:?}"
    );

    let r = anx.get("/exp/x");
    assert_eq!(r.header("location"), Some("http://front.example/login"));

    // A Location that does not start with the "from" part is left alone.
    let r = anx.get("/exp/x?to=http://other.example/a");
    assert_eq!(r.header("location"), Some("http://other.example/a"));

    let r = anx.get("/off/x");
    assert_eq!(r.header("location"), Some("http://b/login"));

    let r = anx.get("/re/x?to=http://b/deep/path");
    assert_eq!(r.header("location"), Some("http://re.example/x/deep/path"));
}

#[test]
fn proxy_redirect_rewrites_the_url_of_refresh() {
    let b = Backend::start(|_| {
        Reply::ok("x\n")
            .header("Refresh", "7; URL=http://b/two/page")
            .header("Location", "http://b/two/page")
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /one/ { proxy_pass http://b/two/; }
         location /re/ { proxy_pass http://b/two/; proxy_redirect ~*^HTTP://B/two/(.*)$ /r/$1; }",
    );
    let r = anx.get("/one/x");
    // Only the URL after "url=" is rewritten (and left relative, unlike Location).
    assert_eq!(r.header("refresh"), Some("7; URL=/one/page"));
    assert!(r.header("location").unwrap().ends_with("/one/page"));
    let r = anx.get("/re/x");
    assert_eq!(r.header("refresh"), Some("7; URL=/r/page"));
}

#[test]
fn proxy_method_and_proxy_http_version() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /m { proxy_pass http://b; proxy_method POST; }
         location /v11 { proxy_pass http://b; proxy_http_version 1.1; }",
    );
    assert_eq!(anx.get("/m").status, 200);
    let got = b.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/m");

    assert_eq!(anx.get("/v11").status, 200);
    let got = b.last();
    assert_eq!(got.version, "HTTP/1.1");
    assert_eq!(got.method, "GET");
}

#[test]
fn unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("app.sock");
    let b = Backend::start_unix(&sock, Reply::echo);
    let (_s, anx) = start_proxy(
        &upstream("u", &b),
        &format!(
            "location /u/ {{ proxy_pass http://u/; }}
             location /direct/ {{ proxy_pass http://{}:/; }}",
            b.addr()
        ),
    );
    let r = anx.get("/u/over-unix?x=1");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(b.last().target, "/over-unix?x=1");
    assert_eq!(b.last().header("host"), Some("u"));
    // proxy_pass http://unix:/path:/uri; names the socket directly, as nginx.
    let r = anx.get("/direct/d");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(b.last().target, "/d");
}

#[test]
fn response_status_headers_and_body_pass_through() {
    let b = Backend::start(|req| match req.path() {
        "/created" => Reply::text(201, "made\n").header("X-Id", "7"),
        "/empty" => Reply::text(204, ""),
        "/missing" => Reply::text(404, "backend 404\n"),
        "/err" => Reply::text(500, "backend 500\n"),
        _ => Reply::ok("ok\n")
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2"),
    });
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let r = anx.get("/created");
    assert_eq!((r.status, r.text().as_str()), (201, "made\n"));
    assert_eq!(r.header("x-id"), Some("7"));
    let r = anx.get("/empty");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    // Without proxy_intercept_errors, the backend's own error pages pass.
    let r = anx.get("/missing");
    assert_eq!((r.status, r.text().as_str()), (404, "backend 404\n"));
    let r = anx.get("/err");
    assert_eq!((r.status, r.text().as_str()), (500, "backend 500\n"));
    let r = anx.get("/cookies");
    assert_eq!(r.header_count("set-cookie"), 2, "{r:?}");
}

#[test]
fn intercept_errors_sends_upstream_errors_to_error_page() {
    let b = Backend::start(|req| match req.path() {
        "/missing" => Reply::text(404, "backend 404\n"),
        _ => Reply::ok("fine\n"),
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location / { proxy_pass http://b; proxy_intercept_errors on; error_page 404 = @nf; }
         location @nf { return 404 'anx page\n'; }",
    );
    let r = anx.get("/missing");
    assert_eq!((r.status, r.text().as_str()), (404, "anx page\n"));
    assert_eq!(anx.get("/ok").text(), "fine\n");
}

#[test]
fn repeated_single_value_fields_keep_the_first_and_repeated_lengths_fail() {
    let b = Backend::start(|req| {
        match req.path() {
        "/len" => Reply::raw(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        ),
        _ => Reply::raw(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nExpires: foo\r\nExpires: bar\r\nX-Multi: 1\r\nX-Multi: 2\r\nContent-Length: 2\r\n\r\nok",
        ),
    }
    });
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let r = anx.get("/fields");
    assert_eq!(r.status, 200);
    assert_eq!(r.header_count("expires"), 1);
    assert_eq!(r.header("expires"), Some("foo"));
    assert_eq!(r.header_count("x-multi"), 2, "other fields repeat as sent");
    assert_eq!(anx.get("/len").status, 502);
}

#[test]
fn an_intercepted_401_keeps_the_upstreams_www_authenticate() {
    let b = Backend::start(|_| {
        Reply::text(401, "denied\n")
            .header("WWW-Authenticate", "Basic realm=\"a\"")
            .header("WWW-Authenticate", "Bearer")
            .header("X-Other", "dropped")
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location / { proxy_pass http://b; proxy_intercept_errors on; error_page 401 /page; }
         location = /page { return 200 'page\\n'; }",
    );
    let r = anx.get("/x");
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), "page\n");
    assert_eq!(r.header_count("www-authenticate"), 2);
    assert!(r.header("x-other").is_none());
}

#[test]
fn proxy_pass_with_variables_reaches_a_unix_socket() {
    let site = Site::new();
    let sock = site.path().join("app.sock");
    let b = Backend::start_unix(&sock, |req| Reply::ok(format!("unix {}\n", req.target)));
    let (_s, anx) = start_proxy(
        "",
        "location / { proxy_pass http://$arg_to; }
         location /fixed { proxy_pass http://unix:$arg_s:/other; }",
    );
    let r = anx.get(&format!("/x?to=unix:{}:/deep", sock.display()));
    assert_eq!((r.status, r.text().as_str()), (200, "unix /deep\n"));
    assert_eq!(b.last().header("host"), Some("localhost"));
    let r = anx.get(&format!("/fixed?s={}", sock.display()));
    assert_eq!((r.status, r.text().as_str()), (200, "unix /other\n"));
}

/// `expires` on a proxied answer replaces the upstream's Expires and Cache-Control (nginx's
/// set_expires), `expires modified` counts from the upstream's Last-Modified, and the
/// access log's `$sent_http_*` read the head as it went to the client.
#[test]
fn expires_replaces_the_upstreams_cache_fields_and_sent_http_reads_the_relayed_head() {
    let b = Backend::start(|_| {
        Reply::ok("0123456789")
            .header("Cache-Control", "private")
            .header("Cache-Control", "max-age=5")
            .header("Expires", "Thu, 01 Jan 2037 00:00:00 GMT")
            .header("Last-Modified", "Mon, 28 Sep 1970 06:00:00 GMT")
    });
    let (site, anx) = start_proxy(
        &(upstream("b", &b)
            + "    log_format s '$uri $sent_http_content_length $sent_http_cache_control';\n"),
        "access_log logs/s.log s;
         location /mod { expires modified 2048; proxy_pass http://b; }
         location /plain { proxy_pass http://b; }",
    );
    let r = anx.get("/mod");
    assert_eq!(r.status, 200);
    assert_eq!(r.header_count("expires"), 1, "{r:?}");
    assert_eq!(r.header("expires"), Some("Mon, 28 Sep 1970 06:34:08 GMT"));
    assert_eq!(r.header("cache-control"), Some("no-cache"), "{r:?}");
    let r = anx.get("/plain");
    assert_eq!(
        r.header_count("cache-control"),
        2,
        "untouched without expires: {r:?}"
    );
    assert_eq!(
        log_line_with(&site, "s.log", "/plain "),
        "/plain 10 private, max-age=5"
    );
    // 2048 s after a 1970 Last-Modified is long past: nginx's "no-cache".
    assert_eq!(log_line_with(&site, "s.log", "/mod "), "/mod 10 no-cache");
}
