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

/// Part by part, so a failure names what differs.
fn assert_same(toml: &Config, nginx: &Config) {
    if let Some(diff) = toml.first_difference(nginx) {
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
listen = ["127.0.0.1:8081", { addr = "[::1]:8081", default_server = true, backlog = 511 }]
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

    // And `-T` of this model reads back to it.
    let dumped = anx::config::dump::to_toml(&a);
    let mut again = anx::config::toml::parse(&dumped, None, dir.path())
        .unwrap_or_else(|e| panic!("{e}\n{dumped}"));
    again.source = None;
    if let Some(diff) = a.first_difference(&again) {
        panic!("-T lost something: {diff}\n{dumped}");
    }
}
