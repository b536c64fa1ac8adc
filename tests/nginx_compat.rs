//! nginx behaviours that nginx's own regression suite found missing, each checked against
//! the real binary on loopback: `limit_except`, `proxy_pass` inside `if`, the auto redirect
//! of a proxied `location /dir/`, `expires` with a variable, PCRE's `\Q…\E` in a server
//! name, the empty server name for a request without Host, autoindex in XML and JSONP, and
//! `-T`/`-V` in nginx's shape.

mod common;

use std::process::Command;

use common::backend::*;
use common::*;

fn request(anx: &Anx, method: &str, target: &str) -> Response {
    anx.raw(format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
}

#[test]
fn limit_except_sends_other_methods_to_its_own_handler() {
    let a = Backend::text("from a");
    let b = Backend::text("from b");
    let (_s, anx) = start_proxy(
        &format!("{}\n{}", upstream("a", &a), upstream("b", &b)),
        "location /x { proxy_pass http://a; limit_except GET { proxy_pass http://b; } }
         location /y { return 200 \"static\"; limit_except POST { } }",
    );
    assert_eq!(request(&anx, "GET", "/x").text(), "from a");
    // GET implies HEAD, as nginx.
    let mut conn = anx.connect();
    conn.send("HEAD /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(conn.head_response().status, 200);
    assert_eq!(b.count(), 0);
    assert_eq!(request(&anx, "POST", "/x").text(), "from b");
    assert_eq!(request(&anx, "DELETE", "/x").text(), "from b");
    // An empty block changes nothing the location does.
    assert_eq!(request(&anx, "PUT", "/y").text(), "static");
}

#[test]
fn limit_except_refuses_unknown_methods_with_file_and_line() {
    let site = Site::new();
    let conf = proxy_conf("", "location / { limit_except FETCH { } }");
    let path = site.write("anx.conf", conf);
    let out = common::test_config(&path);
    let err = out.1.clone();
    assert!(!out.0);
    assert!(
        err.contains("invalid method \"FETCH\"") && err.contains("anx.conf:8"),
        "{err}"
    );
}

#[test]
fn proxy_pass_inside_if_is_the_handler_while_the_condition_holds() {
    let a = Backend::text("from a");
    let b = Backend::text("from b");
    let (_s, anx) = start_proxy(
        &format!("{}\n{}", upstream("a", &a), upstream("b", &b)),
        "location / {
             proxy_pass http://a;
             if ($arg_to = b) { proxy_pass http://b; add_header X-If yes; }
         }",
    );
    assert_eq!(anx.get("/").text(), "from a");
    let r = anx.get("/?to=b");
    assert_eq!(r.text(), "from b");
    assert_eq!(r.header("X-If"), Some("yes"));
}

#[test]
fn proxied_directory_location_redirects_the_path_without_its_slash() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /app/ { proxy_pass http://b/; }
         location /app-x { return 204; }
         location /static/ { }",
    );
    let r = anx.get("/app?k=v");
    assert_eq!(r.status, 301, "{r:?}");
    let location = r.header("Location").unwrap_or_default();
    assert!(location.ends_with("/app/?k=v"), "{location}");
    assert_eq!(b.count(), 0);
    // A location named by the URI itself wins; only *_pass locations redirect.
    assert_eq!(anx.get("/app-x").status, 204);
    assert_eq!(anx.get("/static").status, 404);
}

#[test]
fn expires_with_a_variable_is_read_per_request() {
    let (_s, anx) = start_proxy("", "location / { expires $arg_e; return 200 ok; }");
    let r = anx.get("/?e=1h");
    assert_eq!(r.header("Cache-Control"), Some("max-age=3600"));
    assert!(anx
        .get("/?e=epoch")
        .header("Expires")
        .unwrap_or("")
        .contains("1970"));
    // Empty or invalid values set nothing, as nginx.
    assert_eq!(anx.get("/").header("Cache-Control"), None);
    assert_eq!(anx.get("/?e=bad").header("Cache-Control"), None);
}

#[test]
fn server_names_with_pcre_quoting_and_the_empty_name() {
    let site = Site::new();
    let conf = "error_log stderr info;\nevents {}\nhttp {\n    access_log off;\n\
                server { listen 127.0.0.1:0; server_name localhost; return 200 default; }\n\
                server { listen 127.0.0.1:0; server_name \"\"; return 200 empty; }\n\
                server { listen 127.0.0.1:0; server_name ~^(?P<n>[a-z]+)\\Q.example.com\\E$; \
                return 200 $n; }\n}\n";
    let anx = Anx::start_conf(&site, conf, 1);
    let get = |head: &str| {
        anx.raw(format!("GET / HTTP/1.0\r\n{head}\r\n"))
            .text()
            .to_string()
    };
    assert_eq!(get("Host: www.example.com\r\n"), "www");
    // `\Q.\E` is a literal dot.
    assert_eq!(get("Host: wwwxexample.com\r\n"), "default");
    // No Host: the empty name answers, as in nginx.
    assert_eq!(get(""), "empty");
}

#[test]
fn autoindex_xml_and_jsonp() {
    let site = Site::new();
    site.write("html/d/a'<b>.txt", "12345");
    let conf = format!(
        "error_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n\
         server {{ listen 127.0.0.1:0; root {};\n\
         location /d/ {{ autoindex on; autoindex_format xml; }}\n\
         location /j/ {{ alias {}/d/; autoindex on; autoindex_format jsonp; }} }}\n}}\n",
        site.root().display(),
        site.root().display()
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    let xml = anx.get("/d/");
    assert_eq!(xml.header("Content-Type"), Some("text/xml; charset=utf-8"));
    let body = xml.text();
    assert!(body.starts_with("<?xml version=\"1.0\"?>"), "{body}");
    assert!(body.contains("size=\"5\">a'&lt;b&gt;.txt</file>"), "{body}");
    let jsonp = anx.get("/j/?callback=cb");
    assert_eq!(jsonp.header("Content-Type"), Some("application/javascript"));
    assert!(jsonp.text().starts_with("cb(["), "{}", jsonp.text());
    assert!(anx.get("/j/").text().starts_with('['));
    // A callback that is not a plain name is refused, never echoed into script.
    assert_eq!(anx.get("/j/?callback=alert(1)").status, 400);
}

#[test]
fn dump_lists_every_file_read_and_v_names_what_anx_lacks() {
    let site = Site::new();
    site.write("inc.conf", "# included\n");
    let path = site.write(
        "nginx.conf",
        "events {}\ninclude inc.conf;\nhttp { server { listen 127.0.0.1:0; } }\n",
    );
    let out = Command::new(anx_bin())
        .arg("-T")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("# configuration file {}:\n", path.display())),
        "{err}"
    );
    let inc = format!(
        "# configuration file {}:\n# included\n",
        site.path().join("inc.conf").display()
    );
    assert!(err.contains(&inc), "{err}");
    // stdout stays the TOML model.
    assert!(String::from_utf8_lossy(&out.stdout).contains("[[server]]"));

    let v = Command::new(anx_bin()).arg("-V").output().unwrap();
    let v = String::from_utf8_lossy(&v.stderr);
    assert!(v.contains("nginx version: nginx/1.22.1"), "{v}");
    assert!(v.contains("TLS SNI support enabled"), "{v}");
    let args = v
        .lines()
        .find_map(|l| l.strip_prefix("configure arguments: "))
        .unwrap_or_else(|| panic!("no configure arguments line:\n{v}"));
    assert!(args.contains("--with-http_ssl_module"), "{args}");
    assert!(args.contains("--without-http_gzip_module"), "{args}");
    assert!(!args.contains("--without-http_proxy_module"), "{args}");
}

#[test]
fn break_after_a_rewrite_passes_the_new_uri_whole() {
    let b = Backend::echo();
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /flag { rewrite ^ /new?x=1 break; proxy_pass http://b/part; }
         location /directive { rewrite ^ /other; break; proxy_pass http://b/part; }
         location /plain/ { proxy_pass http://b/part/; }",
    );
    assert_eq!(anx.get("/flag").status, 200);
    assert_eq!(b.last().target, "/new?x=1");
    assert_eq!(anx.get("/directive").status, 200);
    assert_eq!(b.last().target, "/other");
    // Without a rewrite the URI part still replaces the location's prefix.
    assert_eq!(anx.get("/plain/x").status, 200);
    assert_eq!(b.last().target, "/part/x");
}

#[test]
fn set_args_replaces_the_query() {
    let (_s, anx) = start_proxy(
        "",
        "location / { set $args \"a=1&b=$arg_b\"; return 200 \"$args|$arg_a|$is_args\"; }",
    );
    assert_eq!(anx.get("/?b=2&c=3").text(), "a=1&b=2|1|?");
}

#[test]
fn limit_rate_variable_reads_and_sets_the_rate() {
    let (_s, anx) = start_proxy(
        "",
        "location /set { set $limit_rate $arg_l; add_header X-Rate $limit_rate; return 200 ok; }
         location /conf { limit_rate 2k; add_header X-Rate $limit_rate; return 200 ok; }",
    );
    assert_eq!(anx.get("/set?l=40k").header("X-Rate"), Some("40960"));
    // An empty or invalid value is no limit, as nginx.
    assert_eq!(anx.get("/set").header("X-Rate"), Some("0"));
    assert_eq!(anx.get("/set?l=fast").header("X-Rate"), Some("0"));
    assert_eq!(anx.get("/conf").header("X-Rate"), Some("2048"));
}
