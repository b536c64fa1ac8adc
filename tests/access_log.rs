//! Access logs end to end: `log_format` with variables and nginx's escaping, `escape=json`,
//! `if=` conditions, several logs per request, and per-location logs.

mod common;

use common::*;
use std::time::Duration;

const HTTP: &str = r#"[[http.log_format]]
name = "custom"
format = '$status $request_method $uri [$args] "$http_x_note" $body_bytes_sent [$sent_http_x_tag] $connection_requests'

[[http.log_format]]
name = "js"
escape = "json"
format = '{"uri":"$uri","note":"$http_x_note"}'

[[http.map]]
source = "$status"
variable = "loggable"
default = "1"
entries = [["~^2", "0"]]"#;

const SERVER: &str = r#"access_log = [
  { path = "logs/custom.log", format = "custom", flush = "100ms" },
  { path = "logs/json.log", format = "js", flush = "100ms" },
  { path = "logs/errors.log", format = "custom", flush = "100ms", if = "$loggable" },
]"#;

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"
add_header = [{ name = "X-Tag", value = "t1" }]

[[server.location]]
path = "/own/"
access_log = { path = "logs/own.log", format = "custom", flush = "100ms" }
return = { status = 200, text = "own\n" }
"#;

fn lines(site: &Site, name: &str, n: usize) -> Vec<String> {
    let path = site.path().join("logs").join(name);
    poll_until(Duration::from_secs(15), name, || {
        let t = std::fs::read_to_string(&path).ok()?;
        let lines: Vec<String> = t.lines().map(str::to_string).collect();
        (lines.len() >= n).then_some(lines)
    })
}

#[test]
fn custom_formats_conditions_and_locations() {
    let site = Site::new();
    site.write("html/a.txt", "alpha\n");
    let anx = Anx::start(&site, &config(HTTP, SERVER, LOCATIONS));
    let mut c = anx.connect();
    c.send("GET /a.txt?q=1 HTTP/1.1\r\nHost: h\r\nX-Note: say \"hi\"\\\r\n\r\n");
    assert_eq!(c.response().status, 200);
    c.send("GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().status, 404);
    c.send("GET /own/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().status, 200);

    let custom = lines(&site, "custom.log", 2);
    assert_eq!(
        custom[0],
        "200 GET /a.txt [q=1] \"say \\x22hi\\x22\\x5C\" 6 [t1] 1"
    );
    // Not found variables print "-" with the default escaping.
    assert!(
        custom[1].starts_with("404 GET /missing [-] \"-\" "),
        "{}",
        custom[1]
    );
    assert!(custom[1].ends_with(" [-] 2"), "{}", custom[1]);
    let json = lines(&site, "json.log", 2);
    assert_eq!(
        json[0],
        "{\"uri\":\"/a.txt\",\"note\":\"say \\\"hi\\\"\\\\\"}"
    );
    assert_eq!(json[1], "{\"uri\":\"/missing\",\"note\":\"\"}");
    // if=$loggable: only the 404.
    let errors = lines(&site, "errors.log", 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("404 "), "{}", errors[0]);
    // The location's own log took its request; the server's logs did not.
    let own = lines(&site, "own.log", 1);
    assert!(own[0].starts_with("200 GET /own/x "), "{}", own[0]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&site, "custom.log", 2).len(), 2);
}
