//! `proxy_cookie_domain`, `proxy_cookie_path`, `proxy_cookie_flags`: the upstream's
//! Set-Cookie fields rewritten on the way to the client, as nginx does; `off` and fields no
//! rule touches pass unchanged.

mod common;

use common::backend::*;
use common::*;

fn cookie_backend() -> Backend {
    Backend::start(|req| {
        let set = req.header("x-set").unwrap_or("a=1").to_string();
        Reply::ok("ok\n").header("Set-Cookie", &set)
    })
}

fn set_cookie(anx: &Anx, path: &str, set: &str) -> String {
    let r = anx.raw(format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Set: {set}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200);
    r.header("set-cookie").unwrap_or_default().to_string()
}

#[test]
fn domain_path_and_flags_are_rewritten() {
    let b = cookie_backend();
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        server_name localhost;\n        location / {{\n            proxy_pass http://{0};\n            proxy_cookie_domain .backend.test $host;\n            proxy_cookie_domain ~^(.+)\\.internal$ $1.example;\n            proxy_cookie_path /app/ /;\n            proxy_cookie_path ~*^/OLD/(.*)$ /new/$1;\n            proxy_cookie_flags sid secure httponly samesite=lax;\n            proxy_cookie_flags ~^tmp nosecure nosamesite;\n            location /off/ {{ proxy_pass http://{0}; proxy_cookie_domain off; proxy_cookie_path off; proxy_cookie_flags off; }}\n        }}\n",
            b.addr()
        ),
    );
    assert_eq!(
        set_cookie(&anx, "/", "a=1; Domain=.Backend.test; Path=/app/x"),
        "a=1; Domain=.localhost; Path=/x"
    );
    assert_eq!(
        set_cookie(&anx, "/", "a=1; domain=db.internal; path=/old/y"),
        "a=1; domain=db.example; path=/new/y"
    );
    assert_eq!(
        set_cookie(&anx, "/", "sid=42; Path=/; SameSite=None"),
        "sid=42; Path=/; SameSite=Lax; Secure; HttpOnly"
    );
    assert_eq!(
        set_cookie(&anx, "/", "tmpx=1; Secure; SameSite=Strict; HttpOnly"),
        "tmpx=1; HttpOnly"
    );
    // Untouched fields keep their exact bytes.
    assert_eq!(
        set_cookie(&anx, "/", "other=1;Path=/keep"),
        "other=1;Path=/keep"
    );
    assert_eq!(
        set_cookie(&anx, "/off/", "sid=1; Domain=.backend.test; Path=/app/"),
        "sid=1; Domain=.backend.test; Path=/app/"
    );
}

#[test]
fn bad_cookie_directives_are_refused() {
    for (line, message) in [
        ("proxy_cookie_domain on;", "invalid parameter \"on\""),
        (
            "proxy_cookie_flags a sometimes;",
            "invalid parameter \"sometimes\"",
        ),
        (
            "proxy_cookie_path off; proxy_cookie_path /a /b;",
            "\"proxy_cookie_path\" directive is duplicate",
        ),
    ] {
        let site = Site::new();
        let conf = proxy_conf(
            &format!("    {line}\n"),
            "        location / { return 200; }\n",
        );
        let path = site.write("anx.conf", conf);
        let out = common::test_config(&path);
        let stderr = out.1.clone();
        assert!(!out.0, "{line} was accepted");
        assert!(stderr.contains(message), "{line}: {stderr}");
    }
}
