//! Routing end to end: server selection (exact, wildcard and regex names with captures),
//! nginx's location order (exact, longest prefix, nested, `^~`, regex in order), named and
//! internal locations, index files as internal redirects, alias (prefix and regex), try_files.

mod common;

use common::*;

fn site() -> Site {
    let site = Site::new();
    site.write("html/index.html", "root index\n");
    site.write("html/a.txt", "alpha\n");
    site.write("html/dir/index.html", "dir index\n");
    site.write("html/img/p.png", "png\n");
    site.write("html/static/s.css", "css\n");
    site.write("html/deep/x/file.txt", "deep file\n");
    site.write("other/aliased.txt", "aliased\n");
    site.write("other/sub/index.html", "aliased index\n");
    site
}

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"

[[server.location]]
path = "/img/"
return = { status = 200, text = "img prefix\n" }
[[server.location.location]]
path = '\.png$'
match = "regex"
return = { status = 200, text = "nested png\n" }

[[server.location]]
path = "/static/"
match = "prefix_no_regex"

[[server.location]]
path = '\.(css|js)$'
match = "regex"
return = { status = 200, text = "asset $1\n" }

[[server.location]]
path = '\.PNG$'
match = "regex_caseless"
return = { status = 200, text = "any png\n" }

[[server.location]]
path = "/exact"
match = "exact"
return = { status = 200, text = "exact\n" }

[[server.location]]
path = "/exact"
return = { status = 200, text = "exact prefix\n" }

[[server.location]]
path = "/hidden/"
internal = true
return = { status = 200, text = "internal $uri\n" }

[[server.location]]
path = "/go-hidden"
rewrite = "rewrite ^ /hidden/x last;"

[[server.location]]
path = "fallback"
match = "named"
return = { status = 200, text = "named fallback for $uri\n" }

[[server.location]]
path = "/tf/"
try_files = ["$uri", "$uri/", "@fallback"]

[[server.location]]
path = "/tf-uri/"
try_files = ["/nope", "/a.txt"]

[[server.location]]
path = "/tf-code/"
try_files = ["/nope", "=403"]

[[server.location]]
path = "/files/"
alias = "other/"

[[server.location]]
path = '^/rx/(.+)$'
match = "regex"
alias = "other/$1"
"#;

fn start() -> (Site, Anx) {
    let site = site();
    let anx = Anx::start(
        &site,
        &config("", "server_name = [\"main.test\"]", LOCATIONS),
    );
    (site, anx)
}

fn body_of(anx: &Anx, path: &str) -> (u16, String) {
    let r = anx.get(path);
    (r.status, r.text())
}

#[test]
fn location_order_follows_nginx() {
    let (_s, anx) = start();
    assert_eq!(body_of(&anx, "/a.txt"), (200, "alpha\n".into()));
    assert_eq!(body_of(&anx, "/img/"), (200, "img prefix\n".into()));
    // The nested regex of the longest prefix wins over the outer regexes.
    assert_eq!(body_of(&anx, "/img/p.png"), (200, "nested png\n".into()));
    // ... and the outer caseless regex takes what the nested one does not match.
    assert_eq!(body_of(&anx, "/img/P.PNG"), (200, "any png\n".into()));
    assert_eq!(body_of(&anx, "/x/P.png"), (200, "any png\n".into()));
    // ^~ stops the regex search: the file is served.
    assert_eq!(body_of(&anx, "/static/s.css"), (200, "css\n".into()));
    assert_eq!(body_of(&anx, "/other/s.css"), (200, "asset css\n".into()));
    assert_eq!(body_of(&anx, "/exact"), (200, "exact\n".into()));
    assert_eq!(body_of(&anx, "/exact/"), (200, "exact prefix\n".into()));
}

#[test]
fn internal_and_named_locations() {
    let (_s, anx) = start();
    assert_eq!(anx.get("/hidden/x").status, 404);
    // A rewrite is an internal redirect: the internal location answers it.
    assert_eq!(
        body_of(&anx, "/go-hidden"),
        (200, "internal /hidden/x\n".into())
    );
    // A named location is never matched by a URI.
    assert_eq!(anx.get("/fallback").status, 404);
}

#[test]
fn index_is_an_internal_redirect() {
    let (_s, anx) = start();
    assert_eq!(body_of(&anx, "/"), (200, "root index\n".into()));
    assert_eq!(body_of(&anx, "/dir/"), (200, "dir index\n".into()));
    // Twice: the second answer may come from the memory cache.
    assert_eq!(body_of(&anx, "/dir/"), (200, "dir index\n".into()));
    // An index that lands in another location is answered there (nginx's index module).
    let site = site();
    let anx = Anx::start(
        &site,
        &config(
            "",
            "",
            r#"
[[server.location]]
path = "/"
[[server.location]]
path = '\.html$'
match = "regex"
return = { status = 200, text = "html location for $uri\n" }
"#,
        ),
    );
    assert_eq!(
        body_of(&anx, "/dir/"),
        (200, "html location for /dir/index.html\n".into())
    );
}

#[test]
fn try_files_variants() {
    let (_s, anx) = start();
    // Neither "$uri" nor "$uri/" exists: the named location answers, URI unchanged.
    assert_eq!(
        body_of(&anx, "/tf/"),
        (200, "named fallback for /tf/\n".into())
    );
    let r = anx.get("/tf/missing?q=1");
    assert_eq!(
        (r.status, r.text()),
        (200, "named fallback for /tf/missing\n".into())
    );
    assert_eq!(body_of(&anx, "/tf-uri/x"), (200, "alpha\n".into()));
    assert_eq!(anx.get("/tf-code/x").status, 403);
}

#[test]
fn try_files_finds_files_and_directories() {
    let site = site();
    let anx = Anx::start(
        &site,
        &config(
            "",
            "",
            r#"
[[server.location]]
path = "/"
try_files = ["$uri", "$uri/", "/a.txt"]
"#,
        ),
    );
    assert_eq!(
        body_of(&anx, "/deep/x/file.txt"),
        (200, "deep file\n".into())
    );
    assert_eq!(body_of(&anx, "/dir/"), (200, "dir index\n".into()));
    let r = anx.get("/dir");
    assert_eq!(
        r.status, 301,
        "a directory found as \"$uri/\" redirects to its slash form"
    );
    assert_eq!(body_of(&anx, "/nothing/here"), (200, "alpha\n".into()));
}

#[test]
fn alias_prefix_and_regex() {
    let (_s, anx) = start();
    assert_eq!(
        body_of(&anx, "/files/aliased.txt"),
        (200, "aliased\n".into())
    );
    assert_eq!(
        body_of(&anx, "/files/sub/"),
        (200, "aliased index\n".into())
    );
    assert_eq!(body_of(&anx, "/rx/aliased.txt"), (200, "aliased\n".into()));
    assert_eq!(anx.get("/rx/missing.txt").status, 404);
}

#[test]
fn server_names_wildcards_and_regexes() {
    let site = site();
    // Name selection needs the servers on one address: a fixed free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = r#"
[main]
error_log_level = "info"

[[server]]
listen = ["127.0.0.1:PORT"]
server_name = ["default.test"]
[[server.location]]
path = "/"
return = { status = 200, text = "default host=$host\n" }

[[server]]
listen = ["127.0.0.1:PORT"]
server_name = ["*.wild.test", "www.tail.*"]
[[server.location]]
path = "/"
return = { status = 200, text = "wild $host $server_name\n" }

[[server]]
listen = ["127.0.0.1:PORT"]
server_name = ['~^(?<sub>[a-z]+)\.rx\.test$']
[[server.location]]
path = "/"
return = { status = 200, text = "regex sub=$sub one=$1\n" }
"#
    .replace("PORT", &port.to_string());
    let anx = Anx::start(&site, &text);
    let ask = |host: &str| {
        let mut c = anx.connect();
        c.send(format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ));
        c.response().text()
    };
    assert_eq!(ask("A.Wild.Test:80"), "wild a.wild.test *.wild.test\n");
    assert_eq!(ask("www.tail.org"), "wild www.tail.org *.wild.test\n");
    assert_eq!(ask("abc.rx.test"), "regex sub=abc one=abc\n");
    assert_eq!(ask("unknown"), "default host=unknown\n");
}
