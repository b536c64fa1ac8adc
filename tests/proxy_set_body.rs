//! `proxy_set_body`: the upstream gets the evaluated value as its body, with its length,
//! whatever the client sent (the client's body is read and dropped, and the connection
//! stays usable).

mod common;

use common::backend::*;
use common::*;

#[test]
fn set_body_replaces_the_clients_body() {
    let b = Backend::start(|req| Reply::ok(req.body.clone()));
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        location / {{ proxy_pass http://{}; proxy_set_body \"a=$arg_a&m=$request_method\"; }}\n",
            b.addr()
        ),
    );
    let r = anx.get("/x?a=1");
    assert_eq!((r.status, r.text().as_str()), (200, "a=1&m=GET"));
    assert_eq!(b.last().header("content-length"), Some("9"));

    let mut c = anx.connect();
    c.send("POST /y?a=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "a=2&m=POST"));
    assert_eq!(b.last().body, b"a=2&m=POST");
    // The dropped body did not desync the connection.
    c.send("GET /z?a=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().text(), "a=3&m=GET");
}

#[test]
fn a_location_reached_by_x_accel_redirect_sends_its_own_body() {
    let b = Backend::start(|req| match req.arg("to") {
        Some(to) => Reply::text(204, "").header("X-Accel-Redirect", to),
        None => Reply::ok(req.body.clone()),
    });
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        location /one {{ proxy_pass http://{0}; proxy_set_body \"one\"; }}\n\
             location /two {{ proxy_pass http://{0}; proxy_set_body \"two\"; }}\n\
             location /plain {{ proxy_pass http://{0}; }}\n",
            b.addr()
        ),
    );
    assert_eq!(anx.get("/one?to=/two").text(), "two");
    assert_eq!(b.requests()[0].body, b"one");
    // A location without proxy_set_body sends the client's body (none here), not the one
    // the first location made up.
    let r = anx.get("/one?to=/plain");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert_eq!(b.last().path(), "/plain");
    assert_eq!(b.last().header("content-length"), None);
}
