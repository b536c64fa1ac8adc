//! Both configuration front-ends produce the same model: `conf/anx.toml` and
//! `conf/nginx.conf` (the shipped example site) must load to equal `Config`s, and so must
//! pairs written here that exercise every directive family. A difference means one
//! front-end maps a setting differently from the other.

use std::path::{Path, PathBuf};

use anx::config::{self, Config};

fn load(path: &Path) -> Config {
    let mut c = config::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    c.source = None;
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `-T` of `model` reads back to it; returns the dumped text for further checks.
fn assert_round_trips(model: &Config, dir: &Path) -> String {
    let dumped = anx::config::dump::to_toml(model);
    let mut again =
        anx::config::toml::parse(&dumped, None, dir).unwrap_or_else(|e| panic!("{e}\n{dumped}"));
    again.source = None;
    if let Some(diff) = model.first_difference(&again) {
        panic!("-T lost something: {diff}\n{dumped}");
    }
    dumped
}

/// Part by part, so a failure names what differs. The shard count is left out unless the
/// pair sets it: nginx's default is one worker, anx's TOML default one shard per core.
fn assert_same(toml: &Config, nginx: &Config) {
    let mut nginx = nginx.clone();
    if nginx.shards == anx::config::model::ShardCount::Fixed(1) {
        nginx.shards = toml.shards;
    }
    if let Some(diff) = toml.first_difference(&nginx) {
        panic!("the front-ends disagree: {diff}");
    }
}

#[test]
fn shipped_example_site_is_the_same_in_both_formats() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let toml = load(&conf.join("anx.toml"));
    let nginx = load(&conf.join("nginx.conf"));
    assert_same(&toml, &nginx);
}

#[test]
fn every_directive_family_maps_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "a.toml",
        r#"
[main]
shards = 2
cpu_affinity = ["01", "10"]
worker_connections = 100
worker_shutdown_timeout = "30s"
pid = "run/anx.pid"

[main.types]
"text/html" = ["html", "htm"]
"image/png" = ["png"]

[http]
merge_slashes = false
max_request_line = "4k"
max_header_bytes = "16k"
add_header = [{ name = "X-Http", value = "1" }]

[[http.map]]
source = "$http_host"
variable = "$site"
hostnames = true
default = "none"
entries = [["*.example.com", "wild"], ["example.com", "apex"], ['~^www\d+\.', "numbered"]]

[[http.log_format]]
name = "j"
escape = "json"
format = '{"uri":"$uri","status":$status}'

[[server]]
listen = ["127.0.0.1:8081", { addr = "[::1]:8081", default_server = true, backlog = 511 }, { addr = "127.0.0.1:8082", proxy_protocol = true, sndbuf = "32k", rcvbuf = 65536 }, "unix:/run/anx-test.sock"]
server_name = ["example.com", "*.example.com", '~^(?<sub>\w+)\.test$']
root = "/srv/www"
error_page = [{ codes = [404, 410], target = "@missing", status = 200 }, { codes = [500], target = "/50x.html", status = "target" }]
access_log = [{ path = "logs/a.log", format = "j", if = "$site" }, { path = "logs/b.log" }]
rewrite = '''
set $mode "x";
if ($http_x_block) {
    return 403 "blocked $sub";
}
rewrite ^/a/(.*)$ /b/$1 last;
'''

[[server.location]]
path = "/"
try_files = ["$uri", "$uri/", "/index.php?$args"]
expires = "modified 1h"

[[server.location.location]]
path = '\.php$'
match = "regex"
rewrite = '''
if ($request_method = OPTIONS) {
    add_header Access-Control-Allow-Origin "*" always;
    expires epoch;
    return 204;
}
'''
add_header = [{ name = "X-Php", value = "$uri", always = true }]

[[server.location]]
path = "/img/"
match = "prefix_no_regex"
client_max_body_size = "10k"
alias = "/data/images/"
autoindex = true
autoindex_format = "json"
expires = "max"

[[server.location.location]]
path = "/img/thumbs/"

[[server.location]]
path = '^/u/(\w+)/(.*)$'
match = "regex_caseless"
alias = "/home/$1/public/$2"

[[server.location]]
path = "missing"
match = "named"
return = { status = 404, text = "gone" }

[[server.location]]
path = "/x"
match = "exact"
internal = true
absolute_redirect = false
port_in_redirect = false
rewrite = "break;"
"#,
    );
    let nginx = write(
        dir.path(),
        "a.conf",
        r#"
worker_processes 2;
worker_cpu_affinity 01 10;
worker_shutdown_timeout 30s;
pid run/anx.pid;
events { worker_connections 100; }
http {
    types {
        text/html html htm;
        image/png png;
    }
    merge_slashes off;
    large_client_header_buffers 4 4k;
    add_header X-Http 1;
    map $http_host $site {
        hostnames;
        default none;
        *.example.com wild;
        example.com apex;
        ~^www\d+\. numbered;
    }
    log_format j escape=json '{"uri":"$uri",' '"status":$status}';
    server {
        listen 127.0.0.1:8081;
        listen [::1]:8081 default_server backlog=511;
        listen 127.0.0.1:8082 proxy_protocol sndbuf=32k rcvbuf=65536;
        listen unix:/run/anx-test.sock;
        server_name example.com *.example.com ~^(?<sub>\w+)\.test$;
        root /srv/www;
        error_page 404 410 =200 @missing;
        error_page 500 = /50x.html;
        access_log logs/a.log j if=$site;
        access_log logs/b.log;
        set $mode "x";
        if ($http_x_block) {
            return 403 "blocked $sub";
        }
        rewrite ^/a/(.*)$ /b/$1 last;
        location / {
            try_files $uri $uri/ /index.php?$args;
            expires modified 1h;
            location ~ \.php$ {
                if ($request_method = OPTIONS) {
                    add_header Access-Control-Allow-Origin "*" always;
                    expires epoch;
                    return 204;
                }
                add_header X-Php $uri always;
            }
        }
        location ^~ /img/ {
            client_max_body_size 10k;
            alias /data/images/;
            autoindex on;
            autoindex_format json;
            expires max;
            location /img/thumbs/ { }
        }
        location ~* ^/u/(\w+)/(.*)$ {
            alias /home/$1/public/$2;
        }
        location @missing {
            return 404 gone;
        }
        location = /x {
            internal;
            absolute_redirect off;
            port_in_redirect off;
            break;
        }
    }
}
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);
    // Spot checks that the pair really set what it says (equal but empty would pass above).
    assert_eq!(a.servers[0].locations.len(), 5);
    assert_eq!(a.servers[0].locations[0].locations.len(), 1);
    assert_eq!(a.maps[0].regexes.len(), 1);
    assert_eq!(a.servers[0].access_logs.len(), 2);
    assert_eq!(a.user_vars, vec!["mode".to_string()]);
    let php = &a.servers[0].locations[0].locations[0];
    let Some(anx::config::model::Step::If {
        location: Some(if_loc),
        ..
    }) = php.rewrite.first()
    else {
        panic!(
            "the if block with add_header has no location: {:?}",
            php.rewrite
        );
    };
    assert_eq!(if_loc.add_headers.len(), 1);
    assert_eq!(php.add_headers.len(), 1);
    assert_ne!(if_loc.add_headers, php.add_headers);
    // A nested location's alias counts from its setter's prefix (/img/), in both formats and
    // after the round trip below.
    use anx::config::model::AliasTail;
    let thumbs = &a.servers[0].locations[1].locations[0];
    assert_eq!(
        thumbs.files.alias_tail,
        AliasTail::AfterPrefix("/img/".len())
    );
    assert_eq!(a.servers[0].locations[2].files.alias_tail, AliasTail::Whole);

    // And `-T` of this model reads back to it.
    assert_round_trips(&a, dir.path());
}

/// The reverse proxy's directives (issue 4): `upstream {}` / `[[upstream]]` with every
/// server parameter, balancing method and the active health check; `proxy_pass` in each
/// form (group, host:port with URI, unix socket, variables, shared implicit groups); every
/// `proxy_*` setting at http, server and location level; the accepted no-ops. Both files
/// must load to one model, and `-T` of it must read back to it.
#[test]
fn proxy_directives_map_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "p.toml",
        r#"
[http]
proxy_set_header = [{ name = "X-Real-IP", value = "$remote_addr" }, { name = "X-Forwarded-For", value = "$proxy_add_x_forwarded_for" }]
proxy_http_version = "1.1"
proxy_read_timeout = "30s"

[[upstream]]
name = "app"
servers = [
    { addr = "127.0.0.1:9001", weight = 2, max_fails = 3, fail_timeout = "5s" },
    { addr = "127.0.0.1:9002", backup = true },
    { addr = "localhost:9003", down = true, max_conns = 10 },
    "unix:/run/app.sock",
]
balance = "least_conn"
keepalive = 64
keepalive_timeout = "30s"
keepalive_requests = 500
keepalive_time = "30m"
health_check = { interval = "1s", uri = "/health", timeout = "500ms", fails = 2, passes = 3, status = ["200-299", 304], body = "^ok", host = "app.local", scheme = "https" }

[[upstream]]
name = "hashed"
servers = ["127.0.0.1:9010"]
balance = { hash = "$request_uri", consistent = true }

[[upstream]]
name = "sticky"
servers = ["127.0.0.1:9020"]
balance = "ip_hash"

[[upstream]]
name = "rnd"
servers = ["127.0.0.1:9030", "127.0.0.1:9031"]
balance = "random_two"

[[server]]
listen = ["127.0.0.1:8081"]
proxy_connect_timeout = "5s"
proxy_next_upstream = ["error", "timeout", "http_502", "http_503", "non_idempotent"]
proxy_next_upstream_tries = 3
proxy_next_upstream_timeout = "10s"
resolver = ["127.0.0.1:5353", "127.0.0.2", "valid=30s", "ipv6=off"]
resolver_timeout = "5s"
proxy_cookie_domain = [[".backend.test", "$host"], ["~^(.+)\\.internal$", "$1.example"]]
proxy_cookie_path = [["/app/", "/"]]
proxy_set_body = "x=$arg_x"
proxy_bind = ["127.0.0.1"]
proxy_limit_rate = "64k"
proxy_cookie_flags = [["sid", "secure", "samesite=lax"], ["~^tmp", "nosecure"]]

[[server.location]]
path = "/"
proxy_pass = "http://app"
proxy_hide_header = ["X-Powered-By"]
proxy_pass_header = ["Server"]
proxy_redirect = ["default", { from = '~^http://app(/.*)$', to = "$1" }, { from = "http://old/", to = "/" }]
proxy_method = "POST"
proxy_buffering = false
proxy_request_buffering = false
proxy_buffer_size = "16k"
proxy_intercept_errors = true
limit_rate = "$arg_rate"
limit_rate_after = "1m"
proxy_ignore_headers = ["X-Accel-Redirect", "Expires"]
post_action = "/notify"

[[server.location.location]]
path = "/api/"
proxy_pass = "http://127.0.0.1:9100/v1/"
proxy_set_header = [{ name = "Host", value = "$proxy_host" }]

[[server.location]]
path = "/h/"
proxy_pass = "http://hashed/"
post_action = "off"
proxy_redirect = "off"
proxy_send_timeout = "1m"

[[server.location]]
path = "/s"
proxy_pass = "http://sticky"
proxy_pass_request_headers = false
proxy_pass_request_body = false

[[server.location]]
path = "^/r/"
match = "regex"
proxy_pass = "http://rnd"
proxy_next_upstream = ["off"]

[[server.location]]
path = "/sock/"
proxy_pass = "http://unix:/run/other.sock:/x/"

[[server.location]]
path = "/dyn/"
proxy_pass = "http://$host$request_uri"
proxy_set_header = [{ name = "Connection", value = "" }]

[[server.location]]
path = "/same"
proxy_pass = "http://127.0.0.1:9100"

[[server.location]]
path = "named"
match = "named"
proxy_pass = "http://app"

[[server.location]]
path = "/static/"
root = "/srv"
"#,
    );
    let nginx = write(
        dir.path(),
        "p.conf",
        r#"
events {}
http {
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_http_version 1.1;
    proxy_read_timeout 30s;
    proxy_buffers 8 4k;
    proxy_busy_buffers_size 8k;
    proxy_max_temp_file_size 0;
    proxy_temp_file_write_size 8k;
    upstream app {
        least_conn;
        server 127.0.0.1:9001 weight=2 max_fails=3 fail_timeout=5s;
        server 127.0.0.1:9002 backup;
        server localhost:9003 down max_conns=10;
        server unix:/run/app.sock;
        keepalive 64;
        keepalive_timeout 30s;
        keepalive_requests 500;
        keepalive_time 30m;
        anx_health_check interval=1s uri=/health timeout=500ms fails=2 passes=3 status=200-299,304 body=^ok host=app.local scheme=https;
    }
    upstream hashed { hash $request_uri consistent; server 127.0.0.1:9010; }
    upstream sticky { ip_hash; server 127.0.0.1:9020; }
    upstream rnd { random two least_conn; server 127.0.0.1:9030; server 127.0.0.1:9031; }
    server {
        listen 127.0.0.1:8081;
        proxy_connect_timeout 5s;
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;
        resolver 127.0.0.1:5353 127.0.0.2 valid=30s ipv6=off;
        resolver_timeout 5s;
        proxy_cookie_domain .backend.test $host;
        proxy_cookie_domain ~^(.+)\.internal$ $1.example;
        proxy_cookie_path /app/ /;
        proxy_set_body x=$arg_x;
        proxy_bind 127.0.0.1;
        proxy_limit_rate 64k;
        proxy_cookie_flags sid secure samesite=lax;
        proxy_cookie_flags ~^tmp nosecure;
        location / {
            proxy_pass http://app;
            proxy_hide_header X-Powered-By;
            proxy_pass_header Server;
            proxy_redirect default;
            proxy_redirect ~^http://app(/.*)$ $1;
            proxy_redirect http://old/ /;
            proxy_method POST;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_buffer_size 16k;
            proxy_intercept_errors on;
            limit_rate $arg_rate;
            limit_rate_after 1m;
            proxy_ignore_headers X-Accel-Redirect Expires;
            post_action /notify;
            location /api/ {
                proxy_pass http://127.0.0.1:9100/v1/;
                proxy_set_header Host $proxy_host;
            }
        }
        location /h/ { proxy_pass http://hashed/; post_action off; proxy_redirect off; proxy_send_timeout 1m; }
        location /s {
            proxy_pass http://sticky;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
        }
        location ~ ^/r/ { proxy_pass http://rnd; proxy_next_upstream off; }
        location /sock/ { proxy_pass http://unix:/run/other.sock:/x/; }
        location /dyn/ { proxy_pass http://$host$request_uri; proxy_set_header Connection ""; }
        location /same { proxy_pass http://127.0.0.1:9100; }
        location @named { proxy_pass http://app; }
        location /static/ { root /srv; }
    }
}
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);

    use anx::config::model::{Balance, Handler, ProxyPass};
    // Spot checks: the pair really set what it says.
    let names: Vec<(&str, bool)> = a
        .upstreams
        .iter()
        .map(|u| (u.name.as_str(), u.implicit))
        .collect();
    assert_eq!(
        names,
        vec![
            ("app", false),
            ("hashed", false),
            ("sticky", false),
            ("rnd", false),
            ("127.0.0.1:9100", true),
            ("unix:/run/other.sock", true),
        ]
    );
    assert_eq!(a.upstreams[3].balance, Balance::Random { two: true });
    // scheme=https with no `proxy_pass https://` to the group: TLS with the defaults.
    let tls = a.upstreams[0]
        .health_check
        .as_ref()
        .and_then(|h| h.tls.as_ref());
    assert_eq!(tls.map(|t| t.name.as_str()), Some("app.local"));
    let proxy_of = |l: &anx::config::model::Location| match &l.handler {
        Handler::Proxy(p) => (**p).clone(),
        Handler::Static | Handler::Status(_) => {
            panic!("not a proxy: {:?}", String::from_utf8_lossy(&l.path))
        }
    };
    let root = proxy_of(&a.servers[0].locations[0]);
    assert_eq!(root.settings.set_headers.len(), 2);
    assert_eq!(root.settings.http_minor, 1);
    let api = proxy_of(&a.servers[0].locations[0].locations[0]);
    assert_eq!(api.settings.set_headers.len(), 1);
    assert!(
        api.settings.intercept_errors,
        "inherited from the parent location"
    );
    let same = proxy_of(&a.servers[0].locations[6]);
    assert!(matches!(
        (&api.pass, &same.pass),
        (ProxyPass::Fixed { upstream: x, .. }, ProxyPass::Fixed { upstream: y, .. }) if x == y
    ));
    assert!(matches!(
        proxy_of(&a.servers[0].locations[5]).pass,
        ProxyPass::Dynamic(_)
    ));
    assert_eq!(a.servers[0].locations[8].handler, Handler::Static);

    // `-T` of this model reads back to it, and so does `-T` of the nginx one.
    for model in [&a, &b] {
        let dumped = assert_round_trips(model, dir.path());
        assert!(dumped.contains("[[upstream]]"), "{dumped}");
    }
}

/// HTTPS settings (issue 5): `listen … ssl`, every `ssl_*` directive at http and server
/// level, two certificates per server, inheritance (a server's own certificates replace the
/// http level's), a server that only shares a TLS address. Both files load to one model,
/// and `-T` of it reads back to it (certificates and keys loaded again from their paths).
#[test]
fn tls_directives_map_the_same() {
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pair = |name: &str, rsa: bool| {
        let key = KeyPair::generate_for(if rsa {
            &PKCS_RSA_SHA256
        } else {
            &PKCS_ECDSA_P256_SHA256
        })
        .unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    for (file, name, rsa) in [
        ("default", "example.com", false),
        ("a-ec", "a.example.com", false),
        ("a-rsa", "a.example.com", true),
    ] {
        let (cert, key) = pair(name, rsa);
        write(d, &format!("{file}.pem"), &cert);
        write(d, &format!("{file}.key"), &key);
    }
    let (ca, _) = pair("Client CA", false);
    write(d, "clients.pem", &ca);
    std::fs::write(d.join("ticket.key"), [3u8; 80]).unwrap();
    std::fs::write(d.join("ocsp.der"), [0x30, 0x00]).unwrap();

    let toml = write(
        d,
        "a.toml",
        r#"
[http]
ssl_certificate = "default.pem"
ssl_certificate_key = "default.key"
ssl_protocols = ["TLSv1.3", "TLSv1.2"]
ssl_ciphers = "HIGH:!aNULL:!MD5"
ssl_session_cache = "shared:SSL:10m"
ssl_session_timeout = "1h"
ssl_session_ticket_key = "ticket.key"
ssl_ecdh_curve = "X25519:prime256v1"

[[server]]
listen = [{ addr = "127.0.0.1:8443", ssl = true, default_server = true }, "127.0.0.1:8080"]
server_name = ["example.com"]

[[server]]
listen = [{ addr = "127.0.0.1:8443", ssl = true }]
server_name = ["a.example.com"]
ssl_certificate = ["a-ec.pem", "a-rsa.pem"]
ssl_certificate_key = ["a-ec.key", "a-rsa.key"]
ssl_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256"
ssl_prefer_server_ciphers = true
ssl_session_tickets = false
ssl_client_certificate = "clients.pem"
ssl_verify_client = "optional"
ssl_verify_depth = 2
ssl_stapling = true
ssl_stapling_file = "ocsp.der"
ssl_ocsp = "leaf"
ssl_ocsp_responder = "http://127.0.0.1:8081/ocsp"
ssl_ocsp_cache = "shared:OCSP:1m"

[[server]]
listen = ["127.0.0.1:8443"]
server_name = ["shares.example.com"]
ssl_session_cache = "off"
ssl_stapling = true
ssl_stapling_responder = "http://ocsp.example.com:8080/ocsp"
ssl_stapling_verify = true
"#,
    );
    let nginx = write(
        d,
        "a.conf",
        r#"
events {}
http {
    ssl_certificate default.pem;
    ssl_certificate_key default.key;
    ssl_protocols TLSv1.3 TLSv1.2;
    ssl_ciphers HIGH:!aNULL:!MD5;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1h;
    ssl_session_ticket_key ticket.key;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_dhparam dhparam.pem;

    server {
        listen 127.0.0.1:8443 ssl default_server;
        listen 127.0.0.1:8080;
        server_name example.com;
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name a.example.com;
        ssl_certificate a-ec.pem;
        ssl_certificate_key a-ec.key;
        ssl_certificate a-rsa.pem;
        ssl_certificate_key a-rsa.key;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256;
        ssl_prefer_server_ciphers on;
        ssl_session_tickets off;
        ssl_client_certificate clients.pem;
        ssl_verify_client optional;
        ssl_verify_depth 2;
        ssl_stapling on;
        ssl_stapling_file ocsp.der;
        ssl_ocsp leaf;
        ssl_ocsp_responder http://127.0.0.1:8081/ocsp;
        ssl_ocsp_cache shared:OCSP:1m;
    }
    server {
        listen 127.0.0.1:8443;
        server_name shares.example.com;
        ssl_session_cache off;
        ssl_stapling on;
        ssl_stapling_responder http://ocsp.example.com:8080/ocsp;
        ssl_stapling_verify on;
    }
}
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);

    use anx::config::model::{SessionCache, TlsVersion, VerifyClient};
    let tls = |i: usize| a.servers[i].tls.as_ref().expect("tls settings");
    assert_eq!(tls(0).certificates.len(), 1);
    assert_eq!(tls(0).protocols, [TlsVersion::Tls12, TlsVersion::Tls13]);
    assert_eq!(
        tls(0).session_cache,
        SessionCache::Shared { sessions: 40960 }
    );
    assert_eq!(tls(0).session_ticket_keys.len(), 1);
    assert_eq!(tls(1).certificates.len(), 2);
    assert_eq!(
        tls(1).ciphers.len(),
        3 + 2,
        "TLS 1.3 defaults and the two named"
    );
    assert_eq!(tls(1).verify_client, VerifyClient::Optional);
    assert!(tls(1).stapling_file.is_some());
    let ocsp = tls(1).client_ocsp.as_ref().expect("ssl_ocsp");
    assert!(ocsp.leaf_only);
    assert_eq!(
        ocsp.responder.as_ref().map(|r| r.addrs.clone()),
        Some(vec!["127.0.0.1:8081".parse().unwrap()])
    );
    assert_eq!(ocsp.cache.as_ref().map(|c| c.name.as_str()), Some("OCSP"));
    assert!(tls(0).client_ocsp.is_none());
    // The third server only shares the TLS address: it inherits the http certificate.
    assert_eq!(tls(2).certificates, tls(0).certificates);
    assert_eq!(tls(2).session_cache, SessionCache::Off);
    assert!(tls(2).stapling && tls(2).stapling_verify && !tls(1).stapling_verify);
    assert_eq!(
        tls(2).stapling_responder.as_deref(),
        Some("http://ocsp.example.com:8080/ocsp")
    );
    assert_eq!(tls(1).stapling_responder, None);
    assert!(a
        .listen_addrs()
        .iter()
        .any(|l| l.ssl && l.addr.port() == Some(8443)));
    assert!(a
        .listen_addrs()
        .iter()
        .any(|l| !l.ssl && l.addr.port() == Some(8080)));
    assert!(a.servers[0].tls.is_some() && !a.servers[0].listen[1].ssl);

    for model in [&a, &b] {
        let dumped = assert_round_trips(model, d);
        assert!(dumped.contains("ssl = true"), "{dumped}");
    }
}

/// The log settings (issue 6): several `error_log` with their levels, the `common` and `json`
/// presets, `access_log off`, and anx's rotation parameters, in both formats and through -T.
#[test]
fn log_settings_are_the_same_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "logs.toml",
        r#"
[main]
error_log = [{ path = "logs/error.log", level = "info" }, { path = "logs/crit.log", level = "crit" }, "stderr"]
error_log_level = "warn"

[[server]]
listen = ["127.0.0.1:8081"]
access_log = [{ path = "logs/a.log", format = "common" }, { path = "logs/j.log", format = "json", buffer = "8k", flush = "2s", rotate_size = "100m", rotate_time = "1d", rotate_keep = 7 }]

[[server.location]]
path = "/quiet/"
access_log = false

[[server.location]]
path = "/hourly/"
access_log = { path = "logs/h.log", rotate_time = "1h" }
"#,
    );
    let nginx = write(
        dir.path(),
        "logs.conf",
        r#"
error_log logs/error.log info;
error_log logs/crit.log crit;
error_log stderr warn;
events {}
http {
    server {
        listen 127.0.0.1:8081;
        access_log logs/a.log common;
        access_log logs/j.log json buffer=8k flush=2s rotate_size=100m rotate_time=1d rotate_keep=7;
        location /quiet/ { access_log off; }
        location /hourly/ { access_log logs/h.log combined rotate_time=1h; }
    }
}
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);
    use anx::config::model::{AccessLogFormat, ErrorLevel, LogTarget, Rotate};
    let levels: Vec<ErrorLevel> = a.error_log.iter().map(|l| l.level).collect();
    assert_eq!(
        levels,
        [ErrorLevel::Info, ErrorLevel::Crit, ErrorLevel::Warn]
    );
    assert_eq!(a.error_log[2].target, LogTarget::Stderr);
    let logs = &a.servers[0].access_logs;
    assert_eq!(logs[0].format, AccessLogFormat::Common);
    assert!(matches!(logs[1].format, AccessLogFormat::Json(_)));
    assert_eq!(
        logs[1].rotate,
        Some(Rotate {
            size: Some(100 << 20),
            every: Some(std::time::Duration::from_secs(86400)),
            keep: 7
        })
    );
    assert!(a.servers[0].locations[0].access_logs.is_empty());
    assert_eq!(
        a.servers[0].locations[1].access_logs[0]
            .rotate
            .unwrap()
            .keep,
        5
    );

    let dumped = assert_round_trips(&a, dir.path());
    assert!(dumped.contains("rotate_keep = 7"), "{dumped}");
}

/// `error_log` below main, `log_not_found`, `index` with variables and `map ... volatile`.
#[test]
fn scoped_error_logs_index_and_volatile_maps_are_the_same_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "scoped.toml",
        r#"
[http]
error_log = "logs/http.log"

[[http.map]]
source = "$uri"
variable = "$m"
volatile = true
entries = [["/a", "b"]]

[[server]]
listen = ["127.0.0.1:8081"]
server_name = ["s"]
error_log = [{ path = "logs/s.log", level = "warn" }, "stderr"]

[[server.location]]
path = "/quiet/"
log_not_found = false
index = ["$server_name.html", "/$m"]
error_log = { path = "logs/q.log", level = "info" }
"#,
    );
    let nginx = write(
        dir.path(),
        "scoped.conf",
        r#"
events {}
http {
    error_log logs/http.log;
    map $uri $m { volatile; /a b; }
    server {
        listen 127.0.0.1:8081;
        server_name s;
        error_log logs/s.log warn;
        error_log stderr;
        location /quiet/ {
            log_not_found off;
            index $server_name.html /$m;
            error_log logs/q.log info;
        }
    }
}
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);
    use anx::config::model::{ErrorLevel, LogTarget};
    let server = &a.servers[0];
    assert_eq!(server.fallback.error_log.len(), 2);
    assert_eq!(server.fallback.error_log[0].level, ErrorLevel::Warn);
    assert_eq!(server.fallback.error_log[1].target, LogTarget::Stderr);
    assert_eq!(server.fallback.error_log[1].level, ErrorLevel::Error);
    let quiet = &server.locations[0];
    assert_eq!(quiet.error_log.len(), 1);
    assert_eq!(quiet.error_log[0].level, ErrorLevel::Info);
    assert!(!quiet.files.log_not_found);
    assert!(quiet.files.index[0].as_literal().is_none());
    assert!(a.maps[0].volatile);
    let dumped = assert_round_trips(&a, dir.path());
    assert!(dumped.contains("volatile = true"), "{dumped}");
}

/// Bad log settings name their line.
#[test]
fn bad_log_settings_are_errors_with_a_line() {
    let dir = tempfile::tempdir().unwrap();
    for (conf, want) in [
        ("error_log logs/e.log loud;\n", "invalid log level \"loud\""),
        (
            "http { server { listen 127.0.0.1:1; access_log logs/a.log combined rotate_keep=3; } }\n",
            "rotate_keep needs rotate_size or rotate_time",
        ),
        (
            "http { server { listen 127.0.0.1:1; access_log logs/a.log combined rotate_size=big; } }\n",
            "invalid rotate_size \"big\"",
        ),
    ] {
        let path = write(dir.path(), "bad.conf", &format!("events {{}}\n{conf}"));
        let err = config::load(&path).expect_err("an error").to_string();
        assert!(err.contains(want), "{err}");
        assert!(err.contains("bad.conf:2"), "{err}");
    }
}

/// `user USER [GROUP]` (nginx) and `[main] user` / `group` (TOML) are one setting, and -T
/// writes it back. As root the names are looked up (`www-data` and `nogroup` exist on
/// Debian); as anyone else they are kept unresolved, in both formats alike.
#[test]
fn user_is_the_same_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for (toml_user, nginx_user, group) in [
        ("user = \"www-data\"", "user www-data;", None),
        (
            "user = \"nobody\"\ngroup = \"nogroup\"",
            "user nobody nogroup;",
            Some("nogroup"),
        ),
    ] {
        let toml = write(
            dir.path(),
            "user.toml",
            &format!("[main]\n{toml_user}\n\n[[server]]\nlisten = [\"127.0.0.1:8081\"]\n"),
        );
        let nginx = write(
            dir.path(),
            "user.conf",
            &format!("{nginx_user}\nevents {{}}\nhttp {{ server {{ listen 127.0.0.1:8081; }} }}\n"),
        );
        let a = load(&toml);
        let b = load(&nginx);
        assert_same(&a, &b);
        let user = a.user.as_ref().expect("a user");
        assert_eq!(user.group.as_deref(), group);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let ids = user.ids.expect("looked up as root");
            assert_ne!(ids.uid, 0);
        } else {
            assert!(user.ids.is_none());
        }
        let dumped = assert_round_trips(&a, dir.path());
        assert!(dumped.contains("user = "), "{dumped}");
    }

    // A group needs its user.
    let bad = write(
        dir.path(),
        "bad.toml",
        "[main]\ngroup = \"nogroup\"\n\n[[server]]\nlisten = [\"127.0.0.1:8081\"]\n",
    );
    let e = config::load(&bad).unwrap_err().to_string();
    assert!(
        e.contains("group needs a user") && e.ends_with("bad.toml:2"),
        "{e}"
    );
}

#[test]
fn geo_split_clients_and_access_are_the_same_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nets.conf", "10.0.0.0/8 ten;\n");
    let nginx = write(
        dir.path(),
        "geo.conf",
        r#"
events {}
http {
    geo $geo {
        proxy 127.0.0.1;
        proxy_recursive;
        default world;
        include nets.conf;
        127.0.0.0/8 loopback;
        192.0.2.7/24 test;
        ::1 six;
        10.1.0.0/16 gone;
        delete 10.1.0.0/16;
    }
    geo $arg_ip $r {
        ranges;
        default none;
        127.0.0.0-127.0.0.255 a;
        127.0.0.1-127.0.0.1 b;
        10.10.3.0-10.11.2.255 c;
    }
    split_clients "${remote_addr}x" $variant {
        51.2% one;
        10% two;
        * three;
    }
    allow 10.0.0.0/8;
    deny all;
    server {
        listen 127.0.0.1:8081;
        location / { add_header X-Geo $geo$r$variant; }
        location /open { allow all; }
        location /post { limit_except GET { deny 192.168.0.0/16; allow unix:; } }
    }
}
"#,
    );
    let toml = write(
        dir.path(),
        "geo.toml",
        r#"
[http]
access = [{ allow = "10.0.0.0/8" }, { deny = "all" }]

[[http.geo]]
variable = "$geo"
proxy = ["127.0.0.1"]
proxy_recursive = true
default = "world"
entries = [["10.0.0.0/8", "ten"], ["127.0.0.0/8", "loopback"], ["192.0.2.0/24", "test"], ["::1/128", "six"]]

[[http.geo]]
variable = "$r"
source = "$arg_ip"
ranges = true
default = "none"
entries = [["127.0.0.0-127.0.0.255", "a"], ["127.0.0.1-127.0.0.1", "b"], ["10.10.3.0-10.11.2.255", "c"]]

[[http.split_clients]]
source = "${remote_addr}x"
variable = "$variant"
parts = [["51.2%", "one"], ["10%", "two"], ["*", "three"]]

[[server]]
listen = ["127.0.0.1:8081"]

[[server.location]]
path = "/"
add_header = [{ name = "X-Geo", value = "$geo$r$variant" }]

[[server.location]]
path = "/open"
access = [{ allow = "all" }]

[[server.location]]
path = "/post"
limit_except = { methods = ["GET"], access = [{ deny = "192.168.0.0/16" }, { allow = "unix:" }] }
"#,
    );
    let a = load(&toml);
    let b = load(&nginx);
    assert_same(&a, &b);
    let geo = &a.geos[0];
    assert_eq!(geo.lookup(Some("127.1.2.3".parse().unwrap())), "loopback");
    assert_eq!(geo.lookup(Some("10.1.2.3".parse().unwrap())), "ten");
    assert_eq!(geo.lookup(Some("::2".parse().unwrap())), "world");
    assert_eq!(a.geos[1].lookup(Some("127.0.0.1".parse().unwrap())), "b");
    assert_eq!(a.geos[1].lookup(Some("127.0.0.2".parse().unwrap())), "a");
    assert_eq!(a.geos[1].lookup(None), "none");
    assert_eq!(a.servers[0].locations[0].access.rules.len(), 2);
    assert_eq!(a.servers[0].locations[1].access.rules.len(), 1);
    let dumped = assert_round_trips(&a, dir.path());
    assert!(dumped.contains("[[http.split_clients]]"), "{dumped}");
}

#[test]
fn bad_geo_split_clients_and_access_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (body, wanted) in [
        (
            "geo $g { 10.0.0.0/33 x; }",
            "invalid network \"10.0.0.0/33\"",
        ),
        (
            "geo $g { ranges; 10.0.0.0-10.0.0.9 a; 10.0.0.5-10.0.1.0 b; }",
            "overlaps \"10.0.0.0-10.0.0.9\"",
        ),
        (
            "geo $g { default a; ranges; }",
            "must be the first directive",
        ),
        (
            "split_clients $uri $s { 60% a; 50% b; }",
            "percent total is greater than 100%",
        ),
        (
            "split_clients $uri $s { 1.234% a; }",
            "invalid percent value \"1.234%\"",
        ),
        ("deny 10.0.0.300;", "invalid parameter \"10.0.0.300\""),
    ] {
        let text =
            format!("events {{}}\nhttp {{\n{body}\nserver {{ listen 127.0.0.1:8081; }}\n}}\n");
        let path = write(dir.path(), "bad.conf", &text);
        let err = config::load(&path).unwrap_err().to_string();
        assert!(err.contains(wanted), "{body}: {err}");
        assert!(err.contains("bad.conf:3"), "{body}: {err}");
    }
}
