//! `post_action`: after the answer is sent, the request goes on to a URI or named location
//! whose answer nobody sees; a `proxy_pass` there still reaches its upstream (a
//! notification). It inherits like any location setting, and `off` cancels it. (The
//! notifying locations sit outside the ones with a post action: nginx would run an
//! inherited post action again from there, up to ten times.)

mod common;

use common::backend::*;
use common::*;
use std::time::Duration;

fn notified(b: &Backend) -> usize {
    b.count_path("/notified")
}

fn start(b: &Backend) -> (Site, Anx) {
    let site = Site::new();
    site.write("html/page.html", "the page\n");
    let server = format!(
        "        location /notify {{ internal; proxy_pass http://{0}/notified; }}\n\
        location @tell {{ rewrite ^ /notified break; proxy_pass http://{0}; }}\n\
        location /p/ {{\n\
            post_action /notify;\n\
            location /p/page.html {{ alias html/page.html; }}\n\
            location /p/quiet {{ post_action off; return 200 \"quiet\\n\"; }}\n\
            location /p/named {{ post_action @tell; return 200 \"named\\n\"; }}\n\
            location /p/app {{ proxy_pass http://{0}; }}\n\
        }}\n",
        b.addr()
    );
    let anx = Anx::start_conf(&site, &proxy_conf("", &server), 1);
    (site, anx)
}

#[test]
fn answers_go_out_and_the_post_action_reaches_its_upstream() {
    let b = Backend::start(|req| match req.path() {
        "/notified" => Reply::ok("HIDDEN\n"),
        _ => Reply::ok("from the app\n"),
    });
    let (_site, anx) = start(&b);
    let mut c = anx.connect();
    c.send("GET /p/page.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "the page\n");
    poll_until(Duration::from_secs(10), "the notification", || {
        (notified(&b) == 1).then_some(())
    });
    // A proxied answer, then its post action; the notification's answer is never relayed.
    c.send("GET /p/app HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "from the app\n");
    poll_until(Duration::from_secs(10), "the second notification", || {
        (notified(&b) == 2).then_some(())
    });
    // The notification went as the client's request would (method, the Host nginx sends).
    let n = b
        .requests()
        .into_iter()
        .find(|r| r.path() == "/notified")
        .unwrap();
    assert_eq!(n.method, "GET");
    // The connection is in step: nothing of the hidden answer arrived.
    c.send("GET /p/page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let last = c.response();
    assert_eq!(last.text(), "the page\n");
    assert!(!contains(&c.read_to_end(), b"HIDDEN"));
}

#[test]
fn off_cancels_and_named_locations_serve() {
    let b = Backend::start(|_| Reply::ok("HIDDEN\n"));
    let (_site, anx) = start(&b);
    // /quiet's post action would have run before its connection closed.
    let r = anx.get("/p/quiet");
    assert_eq!(r.text(), "quiet\n");
    assert_eq!(anx.get("/p/named").text(), "named\n");
    poll_until(Duration::from_secs(10), "the notification", || {
        (notified(&b) > 0).then_some(())
    });
    assert_eq!(anx.get("/p/named").text(), "named\n");
    poll_until(Duration::from_secs(10), "the second notification", || {
        (notified(&b) > 1).then_some(())
    });
    assert_eq!(notified(&b), 2, "/p/quiet had no post action");
}

#[test]
fn post_action_values_are_checked() {
    let site = Site::new();
    let conf = proxy_conf("", "        location / { post_action notify; }\n");
    let (ok, err) = test_config(&site.write("anx.conf", conf));
    assert!(!ok);
    assert!(err.contains("invalid post_action \"notify\""), "{err}");
    let toml = "[[server]]\nlisten = [\"127.0.0.1:0\"]\npost_action = \"/n\"\n\
        [[server.location]]\npath = \"/\"\npost_action = \"off\"\n";
    let (ok, err) = test_config(&site.write("anx.toml", toml));
    assert!(ok, "{err}");
}
