//! nginx.conf parity: ONE nginx.conf, loaded by real nginx and by anx, must route and answer
//! every request of a corpus the same way.
//!
//! [`CONF`] exercises the parts of nginx's configuration language that decide *which*
//! answer a request gets: server selection by Host (exact, `*.x`, `x.*`, `.x`, regex with
//! captures, `default_server`, first server as default), location precedence (`=`, `^~`,
//! longest prefix, regexes in config order, nested locations, `@named`, `internal`),
//! `rewrite` (flags, captures, arguments, the 10-cycle limit), `return`, `try_files`,
//! `error_page`, `alias`, `if`, `map`, `set`, `add_header`, `expires`, `default_type`,
//! `client_max_body_size`, the redirect-building directives (`absolute_redirect`,
//! `port_in_redirect`, `server_name_in_redirect`), `merge_slashes`, URI normalisation, and
//! the variables most often used in `return`. Almost every location answers with a
//! `return` whose text names the location and prints variables, so a body comparison shows
//! both *where* a request ended up and *what* nginx computed on the way.
//!
//! For every case in [`cases`] the same raw HTTP/1.1 request (fresh connection,
//! `Connection: close`) goes to nginx and to anx, and these parts of the two answers must be
//! equal:
//!
//! * the status code (or "no response", for `return 444`);
//! * `Location`, `Content-Type`, `Cache-Control` and every `X-*` header (the conf's
//!   `add_header`s are all `X-*`), plus any header a case names;
//! * the presence of `Expires` (its date follows the clock; `expires epoch` / `max` cases
//!   compare the value too);
//! * the body, unless nginx answered with one of its built-in pages (error and redirect
//!   pages carry a server token, `<hr><center>nginx...`): bodies from `return` text and
//!   from files must match byte for byte.
//!
//! Both servers run at once on different ports and share the site directory (the same
//! `-p` prefix, so `root html/main;` resolves to the same place), so before comparing, each
//! server's own port numbers are replaced by `{P0}`..`{P2}` and the prefix path by
//! `{PREFIX}` in `Location` and in bodies.
//!
//! Set `ANX_PARITY_SHOW=1` to print nginx's rendered answer for every case.
//!
//! All mismatches are reported at once. Intended differences go in [`DEVIATIONS`] with a
//! reason; a case listed there must still produce exactly the listed answers.
//!
//! Needs the Debian nginx binary (/usr/sbin/nginx, 1.22; `apt-get install -y nginx-light`).
//! When it is missing the tests FAIL: a parity suite that silently passes proves nothing.
//! The conf only uses what nginx-light compiles in (core, index, autoindex, static,
//! rewrite, map, headers).

mod common;

use common::nginx::*;
use common::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// An intended difference: the case name and the rendered answers nginx and anx must give,
/// exactly as the failure report prints them on its `nginx:` and `anx:` lines (see
/// [`render`]; paste them as Rust string literals).
struct Deviation {
    case: &'static str,
    nginx: &'static str,
    anx: &'static str,
    why: &'static str,
}

/// Known, intended differences (each also listed in the README with its reason).
const DEVIATIONS: &[Deviation] = &[
    Deviation {
        case: "alias off-by-slash escapes the alias",
        nginx: "status: 200 | location: - | content-type: text/plain | cache-control: - | \
            x-error-location: - | x-server: main | expires?: absent | body: \"SECRET\\n\"",
        anx: "status: 404 | location: - | content-type: text/html | cache-control: - | \
          x-error-location: yes | x-server: - | expires?: absent | body: \"custom 404 page\\n\"",
        why:
            "`location /al-trap { alias html/aliased/; }` lets nginx map /al-trap../secret.txt to \
          html/aliased/../secret.txt, outside the alias (the well-known off-by-slash hole). anx \
          opens files beneath the alias directory only, so the request finds nothing: 404",
    },
    Deviation {
        case: "host with non-numeric port",
        nginx: "status: 200 | location: - | content-type: application/octet-stream | \
            cache-control: - | x-server: main | expires?: absent | body: \"exact root\\n\"",
        anx: "status: 400 | location: - | content-type: text/html | cache-control: - | \
          x-server: - | expires?: absent | body: \"<html>\\r\\n<head><title>400 Bad \
          Request</title></head>\\r\\n<body>\\r\\n<center><h1>400 Bad Request</h1></center>\\r\\n\
          <hr><center>anx/0.1.0</center>\\r\\n</body>\\r\\n</html>\\r\\n\"",
        why: "nginx 1.22.1 serves `Host: main.test:abc`; current nginx (1.29.4, whose host checks \
          nginx's own test suite expects) answers 400, as anx does: a port must be digits",
    },
];

/// How long one request may take before it counts as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// After this many timeouts from one server, its remaining requests are not sent (keeps a
/// hung server from turning the test into a 10-minute wait).
const MAX_TIMEOUTS: usize = 3;

/// The configuration both servers load. Placeholders: `@P0@`..`@P2@` the three listen
/// ports, `@NAME@` the per-server directory (pid, error log) under the shared prefix,
/// `@EXTRA@` lines only nginx gets (its temp paths, which do not change any answer).
///
/// Port P0 carries the explicit default server and the name-based virtual hosts, P1 has
/// no `default_server` (the first server is the default), P2 is a port-only `listen`
/// whose only server turns `merge_slashes` off.
const CONF: &str = r##"
daemon off;
master_process off;
worker_processes 1;
pid @NAME@/server.pid;
error_log @NAME@/error.log info;

events {
    worker_connections 256;
}

http {
    types {
        text/html html;
        text/plain txt;
        text/css css;
        application/json json;
        image/png png;
    }
    default_type application/octet-stream;
    access_log off;
@EXTRA@
    map $arg_fruit $fruit_kind {
        default unknown;
        "" none;
        apple pome;
        ~^ban(ana)?$ regex-$1;
        ~*^CHERRY drupe-ci;
        ~^c fruit-c;
    }

    map $host $host_kind {
        hostnames;
        default other;
        map.test exact;
        *.map.test leading;
        map.* trailing;
        .dotmap.test dotted;
    }

    map $uri $uri_tag {
        /vars/mapped exact-uri;
        ~^/vars/map-(?<mnum>\d+)$ num-$mnum;
        default -;
    }

    # Port P0: the explicit default server and name-based virtual hosts.
    server {
        listen 127.0.0.1:@P0@ default_server;
        server_name _;
        root html/default;
        location / {
            return 200 "default server: host=$host server_name=$server_name\n";
        }
        location = /hostmap {
            return 200 "host_kind=$host_kind\n";
        }
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name *.wild.test;
        return 200 "leading wildcard: host=$host\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name wild.* x.wild.*;
        return 200 "trailing wildcard: host=$host\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name exact.wild.test;
        return 200 "exact beats wildcard: host=$host\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name .dot.test;
        return 200 "dot wildcard: host=$host server_name=$server_name\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name ~^(?<sub>\w+)\.regex\.test$;
        return 200 "regex server: sub=$sub server_name=$server_name\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name ~^x\.dot\.test$ ~^(\w+)\.order\.test$;
        return 200 "first regex server: $1\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name ~^(a\w*)\.order\.test$;
        return 200 "second regex server: $1\n";
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name map.test www.map.test map.example .dotmap.test;
        location / {
            return 200 "host_kind=$host_kind\n";
        }
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name relative.test;
        root html/main;
        absolute_redirect off;
        location /ret {
            return 301 /moved;
        }
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name noport.test;
        root html/main;
        port_in_redirect off;
        location /ret {
            return 302 /moved;
        }
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name canonical.test alias.canonical.test;
        root html/main;
        server_name_in_redirect on;
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name slashes.test;
        merge_slashes off;
        location / {
            return 200 "slashes.test uri=$uri\n";
        }
    }

    server {
        listen 127.0.0.1:@P0@;
        server_name main.test www.main.test;
        root html/main;
        index index.html;
        add_header X-Server main;
        error_page 404 /errors/404.html;

        set $srv_var from-server;
        if ($arg_block = yes) {
            return 403 "blocked by server-level if\n";
        }
        rewrite ^/server-rewrite/(.*)$ /target/$1 permanent;
        rewrite ^/server-last/(.*)$ /target/$1 last;

        location / {
        }

        location = /exact {
            return 200 "exact match\n";
        }
        location /exact {
            return 200 "prefix /exact\n";
        }
        location = / {
            return 200 "exact root\n";
        }
        location ^~ /static/ {
            return 200 "^~ /static/ uri=$uri\n";
        }
        location /static/deep/ {
            return 200 "prefix /static/deep/\n";
        }
        location ~ \.php$ {
            return 200 "regex php uri=$uri\n";
        }
        location ~* \.(png|jpe?g)$ {
            return 200 "regex image (case-insensitive) uri=$uri\n";
        }
        location /pre/ {
            return 200 "prefix /pre/\n";
        }
        location /pre/longer/ {
            return 200 "prefix /pre/longer/\n";
        }
        location ~ ^/pre/longer/re {
            return 200 "regex beats prefix\n";
        }
        location ~ /order/a {
            return 200 "first regex\n";
        }
        location ~ /order/ {
            return 200 "second regex\n";
        }
        location /nest/ {
            location /nest/inner/ {
                return 200 "nested prefix\n";
            }
            location ~ \.txt$ {
                return 200 "nested regex in prefix uri=$uri\n";
            }
            return 200 "nest outer\n";
        }
        location ~ ^/renest/ {
            location ~ \.txt$ {
                return 200 "regex nested in regex\n";
            }
            return 200 "renest outer\n";
        }
        location ~ ^/capture/(?<word>[a-z]+)/(\d+)$ {
            return 200 "named=$word positional=$2\n";
        }
        location @named {
            return 200 "named location uri=$uri\n";
        }
        location /internal-only/ {
            internal;
            return 200 "internal location uri=$uri\n";
        }
        location = /to-internal {
            rewrite ^ /internal-only/via-rewrite last;
        }
        location = /to-named {
            try_files /nonexistent @named;
        }

        location /rw/ {
            rewrite ^/rw/last/(.*)$ /target/$1 last;
            rewrite ^/rw/break/(.*)$ /rwfiles/$1 break;
            rewrite ^/rw/redirect/(.*)$ /target/$1 redirect;
            rewrite ^/rw/permanent/(.*)$ /target/$1 permanent;
            rewrite ^/rw/abs/(.*)$ http://other.test/$1;
            rewrite ^/rw/dropargs/(.*)$ /target/$1? last;
            rewrite ^/rw/addargs/(.*)$ /target/$1?new=1 last;
            rewrite ^/rw/redirect-drop/(.*)$ /target/$1? redirect;
            rewrite ^/rw/loop/ /rw/loop/again last;
            rewrite ^/rw/chain1$ /rw/chain2;
            rewrite ^/rw/chain2$ /rw/chain3;
            rewrite ^/rw/chain3$ /target/chained last;
            rewrite ^/rw/(\w+)-(\w+)$ /target/$2/$1 last;
            return 200 "rw fallthrough uri=$uri\n";
        }
        location /target/ {
            return 200 "target uri=$uri args=$args is_args=$is_args request_uri=$request_uri\n";
        }

        location = /ret/text {
            return 200 "plain text\n";
        }
        location = /ret/page.html {
            return 200 "<p>html by extension</p>\n";
        }
        location = /ret/404text {
            return 404 "custom not found\n";
        }
        location = /ret/500text {
            return 500 "custom error\n";
        }
        location = /ret/301 {
            return 301 /target/r301;
        }
        location = /ret/302 {
            return 302 http://elsewhere.test/x;
        }
        location = /ret/303 {
            return 303 /target/r303;
        }
        location = /ret/307 {
            return 307 /target/r307?a=b;
        }
        location = /ret/308 {
            return 308 https://secure.test/y;
        }
        location = /ret/url {
            return http://elsewhere.test$uri;
        }
        location = /ret/204 {
            return 204;
        }
        location = /ret/200 {
            return 200;
        }
        location = /ret/404 {
            return 404;
        }
        location = /ret/403 {
            return 403;
        }
        location = /ret/418 {
            return 418;
        }
        location = /ret/444 {
            return 444;
        }

        location /tf/ {
            try_files $uri $uri/ /tf-fallback/index?from=$uri;
        }
        location /tf-noargs/ {
            try_files $uri /tf-fallback/plain;
        }
        location /tf404/ {
            try_files $uri =404;
        }
        location /tf410/ {
            try_files $uri =410;
        }
        location /tfnamed/ {
            try_files $uri @fallback;
        }
        location @fallback {
            return 200 "named fallback uri=$uri args=$args\n";
        }
        location /tf-fallback/ {
            return 200 "fallback uri=$uri args=$args\n";
        }

        location /errors/ {
            add_header X-Error-Location yes always;
        }
        location /ep/ {
            error_page 404 = /ep-handler/x;
        }
        location /ep-handler/ {
            return 200 "error handler uri=$uri\n";
        }
        location /ep-eq-404/ {
            error_page 404 = /ret/404text;
        }
        location /ep200/ {
            error_page 404 =200 /errors/404.html;
        }
        location /epnamed/ {
            error_page 404 @epnamed;
        }
        location @epnamed {
            return 200 "named error handler uri=$uri\n";
        }
        location /epredir/ {
            error_page 404 http://errors.test/missing;
        }
        location /epredir301/ {
            error_page 404 =301 http://errors.test/moved;
        }
        location /epinherit/ {
        }
        location /epown/ {
            error_page 403 /errors/403.html;
        }
        location /epret/ {
            error_page 403 /errors/403.html;
            return 403;
        }

        location /al/ {
            alias html/aliased/;
        }
        location /al-trap {
            alias html/aliased/;
        }
        location /al-noslash {
            alias html/aliased;
        }
        location ~ ^/alre/(\w+)/(.+)$ {
            alias html/aliased/$1/$2;
        }
        # Nested locations inherit the alias with its setter's prefix length (nginx's
        # clcf->alias), and try_files under a whole-file (regex) alias appends its URI.
        location /alnest/ {
            alias html/aliased/;
            location /alnest/sub/ { }
            location ~ \.txt$ {
                try_files $uri =404;
            }
        }
        location ~ ^/altre(/.*)?$ {
            alias html/aliased;
            try_files $1 /sub/b.txt =404;
        }
        location /alvars/ {
            alias html/aliased/;
            return 200 "document_root=$document_root request_filename=$request_filename\n";
        }

        # Every matched `if` makes its block the configuration, a block without
        # directives of its own included (it has the enclosing location's).
        location = /if/two {
            add_header X-Outer outer;
            if ($arg_a) {
                add_header X-A a;
            }
            if ($arg_b) {
                set $ignored 1;
            }
        }
        location = /if/var {
            if ($arg_x) {
                return 200 "truthy\n";
            }
            return 200 "falsy\n";
        }
        location = /if/eq {
            if ($arg_m = "abc") {
                return 200 "equal\n";
            }
            return 200 "not equal\n";
        }
        location = /if/neq {
            if ($arg_m != abc) {
                return 200 "neq true\n";
            }
            return 200 "neq false\n";
        }
        location = /if/re {
            if ($http_user_agent ~ ^Mozilla/(\d+)) {
                return 200 "mozilla $1\n";
            }
            return 200 "no match\n";
        }
        location = /if/rei {
            if ($http_user_agent ~* curl) {
                return 200 "curl (any case)\n";
            }
            return 200 "no match\n";
        }
        location = /if/nre {
            if ($http_user_agent !~ bot) {
                return 200 "not a bot\n";
            }
            return 200 "bot\n";
        }
        location /if/file/ {
            if (-f $request_filename) {
                return 200 "is a file\n";
            }
            if (-d $request_filename) {
                return 200 "is a directory\n";
            }
            return 200 "neither\n";
        }
        location /if/nf/ {
            if (!-f $request_filename) {
                return 200 "not a file\n";
            }
        }
        location /if/exists/ {
            if (-e $request_filename) {
                return 200 "exists\n";
            }
            return 200 "does not exist\n";
        }
        location /if/exec/ {
            if (-x $request_filename) {
                return 200 "executable\n";
            }
            return 200 "not executable\n";
        }
        location /if/hdr/ {
            add_header X-Outer outer;
            if ($arg_h) {
                add_header X-If inner;
            }
        }

        location = /set {
            set $a "A";
            set $b "${a}B-$arg_q";
            return 200 "b=$b srv=$srv_var\n";
        }
        location /small/ {
            client_max_body_size 10;
            return 200 "small body ok\n";
        }
        location /multi-index/ {
            index missing.html second.html;
        }
        location = /map/fruit {
            return 200 "fruit_kind=$fruit_kind\n";
        }

        location /hdr/inherit/ {
        }
        location /hdr/own/ {
            add_header X-Own own;
        }
        location /hdr/always/ {
            add_header X-Always yes always;
            add_header X-Not-Always no;
            return 404 "gone\n";
        }
        location /hdr/redirect/ {
            return 301 /target/x;
        }

        location /exp/1h/ {
            expires 1h;
        }
        location /exp/epoch/ {
            expires epoch;
        }
        location /exp/max/ {
            expires max;
        }
        location /exp/off/ {
            expires off;
        }
        location /exp/neg/ {
            expires -1;
        }
        location /exp/missing/ {
            expires 1h;
            error_page 404 /errors/404.html;
        }

        location /dt/ {
            default_type text/x-custom;
        }
        location = /dt/ret {
            default_type application/json;
            return 200 "{\"ok\":true}\n";
        }

        location /vars/ {
            return 200 "uri=$uri\nrequest_uri=$request_uri\nargs=$args\narg_name=$arg_name\nis_args=$is_args\nhost=$host\nua=$http_user_agent\ncookie=$cookie_name\nmethod=$request_method\nscheme=$scheme\nserver_name=$server_name\nserver_port=$server_port\ndocument_root=$document_root\nrequest_filename=$request_filename\ncontent_length=$content_length\nquery_string=$query_string\nremote_addr=$remote_addr\nrequest=$request\nuri_tag=$uri_tag\n";
        }

        location /dots/ {
            return 200 "dots uri=$uri request_uri=$request_uri\n";
        }

        location /auto/ {
            autoindex on;
        }
    }

    # Port P1: no default_server, so the first server is the default.
    server {
        listen 127.0.0.1:@P1@;
        server_name first.test;
        return 200 "first server on P1: host=$host\n";
    }
    server {
        listen 127.0.0.1:@P1@;
        server_name second.test;
        root html/main;
        location / {
            return 200 "second server on P1\n";
        }
        location /dir {
        }
    }

    # Port P2: a port-only listen whose (only) server turns merge_slashes off.
    server {
        listen @P2@;
        merge_slashes off;
        location / {
            return 200 "P2 uri=$uri\n";
        }
    }
}
"##;

/// The temp paths nginx would otherwise create under /var/lib/nginx.
const NGINX_ONLY: &str = "    client_body_temp_path nginx/tmp/body;
    proxy_temp_path nginx/tmp/proxy;
    fastcgi_temp_path nginx/tmp/fastcgi;
    uwsgi_temp_path nginx/tmp/uwsgi;
    scgi_temp_path nginx/tmp/scgi;";

/// [`CONF`] for one server: its ports, its own directory name, its extra lines.
fn conf(ports: [u16; 3], name: &str, extra: &str) -> String {
    CONF.replace("@P0@", &ports[0].to_string())
        .replace("@P1@", &ports[1].to_string())
        .replace("@P2@", &ports[2].to_string())
        .replace("@NAME@", name)
        .replace("@EXTRA@", extra)
}

/// The files the conf serves, under the shared prefix.
fn write_site(site: &Site) {
    let files: &[(&str, &str)] = &[
        ("html/default/index.html", "default index\n"),
        ("html/main/index.html", "main index\n"),
        ("html/main/file.txt", "main file\n"),
        ("html/main/if/two", "if two\n"),
        ("html/main/dir/index.html", "dir index\n"),
        ("html/main/noindex/a.txt", "a\n"),
        ("html/main/multi-index/second.html", "second\n"),
        ("html/main/errors/404.html", "custom 404 page\n"),
        ("html/main/errors/403.html", "custom 403 page\n"),
        ("html/main/tf/file.txt", "tf file\n"),
        ("html/main/tf/dir/index.html", "tf dir index\n"),
        ("html/main/tf/noidx/x.txt", "x\n"),
        ("html/main/tf404/f.txt", "tf404 file\n"),
        ("html/main/tfnamed/f.txt", "tfnamed file\n"),
        ("html/main/rwfiles/x.txt", "rw break file\n"),
        ("html/main/epinherit/present.txt", "present\n"),
        ("html/main/hdr/inherit/f.txt", "inherit\n"),
        ("html/main/hdr/own/f.txt", "own\n"),
        ("html/main/exp/1h/f.txt", "exp 1h\n"),
        ("html/main/exp/epoch/f.txt", "exp epoch\n"),
        ("html/main/exp/max/f.txt", "exp max\n"),
        ("html/main/exp/off/f.txt", "exp off\n"),
        ("html/main/exp/neg/f.txt", "exp neg\n"),
        ("html/main/dt/file.unknownext", "unknown ext\n"),
        ("html/main/dt/f.txt", "dt txt\n"),
        ("html/main/dt/noext", "dt noext\n"),
        ("html/main/if/file/f.txt", "f\n"),
        ("html/main/if/nf/f.txt", "nf\n"),
        ("html/main/if/exists/e.txt", "e\n"),
        ("html/main/if/exec/run.sh", "#!/bin/sh\n"),
        ("html/main/if/exec/plain.txt", "plain\n"),
        ("html/main/if/hdr/f.txt", "hdr\n"),
        ("html/main/dots/file.txt", "dots file\n"),
        ("html/main/auto/a.txt", "auto\n"),
        ("html/aliased/a.txt", "aliased a\n"),
        ("html/aliased/sub/b.txt", "aliased b\n"),
        ("html/aliased/dir/index.html", "aliased dir index\n"),
        ("html/secret.txt", "SECRET\n"),
    ];
    for (path, content) in files {
        site.write(path, content);
    }
    for dir in [
        "html/main/if/file/d",
        "html/main/if/exists/sub",
        "html/main/auto/sub",
    ] {
        site.mkdir(dir);
    }
    let mode = |rel: &str, m: u32| {
        std::fs::set_permissions(site.path().join(rel), std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode("html/main/if/exec/run.sh", 0o755);
    mode("html/main/if/exec/plain.txt", 0o644);
}

/// One request of the corpus.
#[derive(Clone)]
struct Case {
    name: &'static str,
    /// Index into the three listen ports.
    port: usize,
    method: &'static str,
    target: String,
    version: &'static str,
    /// `None`: no Host header at all.
    host: Option<&'static str>,
    headers: Vec<&'static str>,
    body: &'static str,
    /// Headers compared by value on top of the default set (lower case).
    compare: Vec<&'static str>,
}

impl Case {
    fn port(mut self, i: usize) -> Case {
        self.port = i;
        self
    }
    fn method(mut self, m: &'static str) -> Case {
        self.method = m;
        self
    }
    fn header(mut self, h: &'static str) -> Case {
        self.headers.push(h);
        self
    }
    fn body(mut self, b: &'static str) -> Case {
        self.body = b;
        self
    }
    fn no_host(mut self) -> Case {
        self.host = None;
        self
    }
    fn version(mut self, v: &'static str) -> Case {
        self.version = v;
        self
    }
    fn compare(mut self, h: &'static str) -> Case {
        self.compare.push(h);
        self
    }

    fn raw(&self) -> Vec<u8> {
        let mut s = format!("{} {} {}\r\n", self.method, self.target, self.version);
        if let Some(h) = self.host {
            s.push_str(&format!("Host: {h}\r\n"));
        }
        for h in &self.headers {
            s.push_str(h);
            s.push_str("\r\n");
        }
        if !self.body.is_empty() {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("Connection: close\r\n\r\n");
        s.push_str(self.body);
        s.into_bytes()
    }

    fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// A GET with the given Host on port 0.
fn on(name: &'static str, host: &'static str, target: &str) -> Case {
    Case {
        name,
        port: 0,
        method: "GET",
        target: target.to_string(),
        version: "HTTP/1.1",
        host: Some(host),
        headers: Vec::new(),
        body: "",
        compare: Vec::new(),
    }
}

/// A GET to the main virtual host (`main.test`).
fn m(name: &'static str, target: &str) -> Case {
    on(name, "main.test", target)
}

/// The corpus. Each comment states what nginx 1.22 was seen to do, where it may surprise.
fn cases() -> Vec<Case> {
    vec![
        // ---- location precedence ----
        m("loc = exact", "/exact"),
        m("loc prefix with the exact's path", "/exact/x"),
        m("loc prefix is a plain string prefix", "/exactly"),
        m("loc = / beats the / prefix", "/"),
        m("loc ^~ stops the regex search", "/static/x.php"),
        // The longest prefix is the plain /static/deep/, so regexes are searched again.
        m(
            "loc longer plain prefix under ^~ lets regex win",
            "/static/deep/x.php",
        ),
        m("loc longer plain prefix under ^~", "/static/deep/"),
        m("loc ~ is case-sensitive", "/a.PHP"),
        m("loc ~* is case-insensitive", "/x.JPG"),
        m("loc ~* alternation", "/x.jpeg"),
        m("loc longest prefix short", "/pre/x"),
        m("loc longest prefix long", "/pre/longer/x"),
        m("loc regex beats longest prefix", "/pre/longer/rex"),
        m("loc regexes in config order, first", "/order/abc"),
        m("loc regexes in config order, first again", "/order/a/x"),
        m("loc regexes in config order, second", "/order/b"),
        m("loc regex named and positional captures", "/capture/abc/42"),
        m("loc regex captures no match", "/capture/ABC/42"),
        m("loc nested outer", "/nest/"),
        m("loc nested prefix", "/nest/inner/x"),
        m("loc nested regex in prefix", "/nest/a.txt"),
        // Nested regexes are searched before the server's, even inside a longer nested
        // prefix (/nest/inner/ is not ^~).
        m("loc nested regex beats nested prefix", "/nest/inner/a.txt"),
        // No nested regex matches: the server-level regexes are searched next.
        m("loc server regex after nested prefix", "/nest/a.php"),
        m("loc regex location outer", "/renest/x"),
        m("loc regex nested in regex", "/renest/a.txt"),
        // \.php$ comes before ^/renest/ in the conf.
        m(
            "loc earlier server regex beats regex with nesting",
            "/renest/a.php",
        ),
        m("loc @named not reachable from outside", "/@named"),
        m("loc @named via try_files", "/to-named"),
        m("loc internal requested directly is 404", "/internal-only/x"),
        m("loc internal reached by rewrite last", "/to-internal"),
        m("static file", "/file.txt"),
        m("static index.html by name", "/index.html"),
        m("static missing uses server error_page", "/missing"),
        m("static directory without slash", "/dir"),
        m("static directory index", "/dir/"),
        m("static directory without index is 403", "/noindex/"),
        m("static index list, first missing", "/multi-index/"),
        m("autoindex listing", "/auto/"),
        m("autoindex directory without slash", "/auto"),
        // ---- server selection ----
        on("host unknown goes to default_server", "unknown.test", "/"),
        on("host with port", "main.test:1234", "/"),
        on("host with non-numeric port", "main.test:abc", "/"),
        on("host with trailing dot", "main.test.", "/"),
        on("host upper case", "MAIN.TEST", "/"),
        on("host second exact name", "www.main.test", "/"),
        on("host leading wildcard", "a.wild.test", "/"),
        on("host leading wildcard two labels", "b.c.wild.test", "/"),
        on("host trailing wildcard", "wild.test", "/"),
        on("host trailing wildcard other tld", "wild.org", "/"),
        on("host leading wildcard beats trailing", "x.wild.test", "/"),
        on("host exact beats wildcard", "exact.wild.test", "/"),
        on("host .dot.test matches the bare name", "dot.test", "/"),
        on("host .dot.test matches subdomains", "a.dot.test", "/"),
        on("host wildcard beats regex", "x.dot.test", "/"),
        on("host regex with named capture", "foo.regex.test", "/"),
        on("host regex does not match dots", "foo.bar.regex.test", "/"),
        on("host first matching regex wins", "abc.order.test", "/"),
        on("host first matching regex wins again", "a.order.test", "/"),
        on("host name of another port's server", "first.test", "/"),
        on("host IPv6 literal", "[::1]:80", "/"),
        on("host with a space is 400", "bad host", "/"),
        on("host with empty label is 400", "a..b", "/"),
        on("host empty is 400", "", "/"),
        m("host missing in HTTP/1.1 is 400", "/").no_host(),
        m("host missing in HTTP/1.0 goes to default", "/")
            .no_host()
            .version("HTTP/1.0"),
        // The absolute-form target's host wins over the Host header.
        m(
            "absolute-form target picks the server",
            "http://exact.wild.test:5/",
        ),
        m("absolute-form target other host", "http://other.test/dir"),
        on(
            "P1 unknown host goes to the first server",
            "unknown.test",
            "/",
        )
        .port(1),
        on("P1 second server by name", "second.test", "/").port(1),
        on(
            "P1 directory redirect keeps the port",
            "second.test",
            "/dir",
        )
        .port(1),
        on("P2 port-only listen", "anything.test", "/x").port(2),
        // ---- rewrite ----
        m("rewrite last with capture and args", "/rw/last/a?q=1"),
        m("rewrite break serves a file", "/rw/break/x.txt"),
        m("rewrite break to missing file", "/rw/break/missing"),
        m("rewrite redirect keeps args", "/rw/redirect/a?q=1"),
        m("rewrite permanent", "/rw/permanent/b"),
        m("rewrite to absolute URL redirects", "/rw/abs/c?z=9"),
        m("rewrite trailing ? drops args", "/rw/dropargs/d?q=1"),
        m("rewrite new args then original args", "/rw/addargs/e?q=1"),
        m("rewrite new args without original", "/rw/addargs/e"),
        m(
            "rewrite redirect trailing ? drops args",
            "/rw/redirect-drop/f?q=1",
        ),
        m("rewrite loop gives 500", "/rw/loop/x"),
        m("rewrite chain without flags", "/rw/chain1"),
        m("rewrite two captures swapped", "/rw/foo-bar"),
        m("rewrite no match falls through", "/rw/other"),
        // $1 comes from the decoded URI and is escaped again in the redirect.
        m(
            "rewrite redirect re-escapes capture",
            "/rw/redirect/a%20b?x=%20y",
        ),
        m("rewrite last decoded capture", "/rw/last/a%20b"),
        m("rewrite redirect plus sign", "/rw/redirect/a+b"),
        m("rewrite server level permanent", "/server-rewrite/s?k=v"),
        m("rewrite server level last", "/server-last/t"),
        m("if server level return", "/x?block=yes"),
        m(
            "if server level runs before location",
            "/ret/text?block=yes",
        ),
        m(
            "if server level runs before server rewrite",
            "/server-rewrite/a?block=yes",
        ),
        // ---- return ----
        m("return text", "/ret/text"),
        // The type of a `return` text comes from the URI's extension.
        m("return text typed by extension", "/ret/page.html"),
        m("return 404 with text skips error_page", "/ret/404text"),
        m("return 500 with text", "/ret/500text"),
        m("return 301 relative", "/ret/301"),
        m("return 302 absolute", "/ret/302"),
        m("return 303", "/ret/303"),
        // The URL's own args; the request's are not appended.
        m("return 307 with args", "/ret/307?x=1"),
        m("return 308 https", "/ret/308"),
        m("return bare URL is 302", "/ret/url?y=2"),
        m("return 204", "/ret/204"),
        m("return 200 without text", "/ret/200"),
        m("return 404 bare uses error_page", "/ret/404"),
        m("return 403 bare", "/ret/403"),
        // "HTTP/1.1 418 " with an empty reason and an empty body.
        m("return 418 bare", "/ret/418"),
        m("return 444 closes without answer", "/ret/444"),
        m("return HEAD text", "/ret/text").method("HEAD"),
        m("return HEAD redirect", "/ret/301").method("HEAD"),
        m("return POST text", "/ret/text")
            .method("POST")
            .body("abc"),
        // ---- try_files ----
        m("try_files file", "/tf/file.txt"),
        // $uri/ matches but the request gets the slash redirect, not the index.
        m("try_files dir without slash redirects", "/tf/dir"),
        m("try_files dir with slash serves index", "/tf/dir/"),
        m("try_files dir without index redirects", "/tf/noidx"),
        m("try_files dir without index is 403", "/tf/noidx/"),
        m("try_files fallback URI with args", "/tf/missing?x=1"),
        // A fallback URI without '?' drops the request's args.
        m(
            "try_files fallback URI drops args",
            "/tf-noargs/missing?x=1",
        ),
        m("try_files =404 file", "/tf404/f.txt"),
        m("try_files =404 missing uses error_page", "/tf404/missing"),
        m("try_files =410", "/tf410/missing"),
        m("try_files @named keeps args", "/tfnamed/missing?a=1"),
        m("try_files @named file exists", "/tfnamed/f.txt"),
        // ---- error_page ----
        m("error_page = takes target status", "/ep/missing"),
        m("error_page = target status 404", "/ep-eq-404/missing"),
        m("error_page =200", "/ep200/missing"),
        // A named error handler's `return 200` still goes out as 404.
        m("error_page @named keeps status", "/epnamed/missing"),
        m("error_page URL is 302", "/epredir/missing"),
        m("error_page =301 URL", "/epredir301/missing"),
        m("error_page inherited from server", "/epinherit/missing"),
        m(
            "error_page inherited, file present",
            "/epinherit/present.txt",
        ),
        // A location with its own error_page inherits none of the server's.
        m("error_page own list drops server's", "/epown/missing"),
        m("error_page for return code", "/epret/x"),
        m(
            "error_page headers come from the error location",
            "/hdr/own/missing",
        ),
        // ---- alias ----
        m("alias file", "/al/a.txt"),
        m("alias subdirectory file", "/al/sub/b.txt"),
        m("alias directory redirect", "/al/dir"),
        m("alias directory index", "/al/dir/"),
        m("alias missing", "/al/missing"),
        m("alias location without slash", "/al-noslash/a.txt"),
        m("alias location without slash, directory", "/al-noslash"),
        m(
            "alias no-slash location to other dir name",
            "/al-noslash../secret.txt",
        ),
        // The well-known off-by-slash: /al-trap../ maps to html/aliased/../ .
        m(
            "alias off-by-slash escapes the alias",
            "/al-trap../secret.txt",
        ),
        m("alias off-by-slash normal file", "/al-trap/a.txt"),
        m("alias regex captures", "/alre/sub/b.txt"),
        m("alias regex captures index file", "/alre/dir/index.html"),
        m("alias regex captures missing", "/alre/nope/x"),
        m("alias variables", "/alvars/sub/b.txt"),
        m(
            "alias inherited by a nested prefix location",
            "/alnest/sub/b.txt",
        ),
        m(
            "alias inherited by a nested regex location with try_files",
            "/alnest/a.txt",
        ),
        m("alias nested regex try_files missing", "/alnest/nope.txt"),
        m("regex alias try_files candidate appended", "/altre/a.txt"),
        m("regex alias try_files fallback candidate", "/altre/nope"),
        // ---- if ----
        m("if var set", "/if/var?x=1"),
        m("if with its own headers", "/if/two?a=1"),
        m(
            "a later matched if brings back the location's headers",
            "/if/two?a=1&b=1",
        ),
        m("if var 0 is false", "/if/var?x=0"),
        m("if var empty is false", "/if/var?x="),
        m("if var missing is false", "/if/var"),
        m("if var text is true", "/if/var?x=no"),
        m("if = equal", "/if/eq?m=abc"),
        m("if = is case-sensitive", "/if/eq?m=ABC"),
        m("if != equal", "/if/neq?m=abc"),
        m("if != missing", "/if/neq"),
        m("if ~ capture", "/if/re").header("User-Agent: Mozilla/5.0 (X11)"),
        m("if ~ case-sensitive", "/if/re").header("User-Agent: mozilla/5.0"),
        m("if ~* case-insensitive", "/if/rei").header("User-Agent: CURL/8"),
        m("if ~* no match", "/if/rei").header("User-Agent: wget"),
        m("if !~ matching", "/if/nre").header("User-Agent: googlebot"),
        m("if !~ not matching", "/if/nre").header("User-Agent: human"),
        m("if !~ header missing", "/if/nre"),
        m("if -f file", "/if/file/f.txt"),
        m("if -d directory", "/if/file/d"),
        m("if -d directory slash", "/if/file/d/"),
        m("if -f -d neither", "/if/file/nope"),
        m("if !-f on a file serves it", "/if/nf/f.txt"),
        m("if !-f missing", "/if/nf/nope"),
        m("if -e directory", "/if/exists/"),
        m("if -e file", "/if/exists/e.txt"),
        m("if -e missing", "/if/exists/nope"),
        m("if -x executable", "/if/exec/run.sh"),
        m("if -x plain file", "/if/exec/plain.txt"),
        // Directories have the x bit.
        m("if -x directory", "/if/exec/"),
        m("if block without add_header inherits", "/if/hdr/f.txt"),
        m("if block with add_header replaces", "/if/hdr/f.txt?h=1"),
        // ---- set, map ----
        m("set with variables", "/set?q=zz"),
        m("set with empty arg", "/set"),
        m("map empty value", "/map/fruit"),
        m("map exact", "/map/fruit?fruit=apple"),
        // Exact map keys match case-insensitively.
        m("map exact is case-insensitive", "/map/fruit?fruit=Apple"),
        m("map regex with capture", "/map/fruit?fruit=banana"),
        m("map regex optional capture empty", "/map/fruit?fruit=ban"),
        m("map ~* case-insensitive", "/map/fruit?fruit=CHERRYPIE"),
        m("map regexes in order", "/map/fruit?fruit=coconut"),
        m("map default", "/map/fruit?fruit=kiwi"),
        m("map explicit empty key", "/map/fruit?fruit="),
        on("map hostnames exact", "map.test", "/"),
        on("map hostnames leading wildcard", "www.map.test", "/"),
        on("map hostnames trailing wildcard", "map.example", "/"),
        on("map hostnames dot form bare", "dotmap.test", "/"),
        on("map hostnames dot form sub", "s.dotmap.test", "/"),
        on(
            "map hostnames wildcard two labels",
            "x.y.map.test",
            "/hostmap",
        ),
        on(
            "map hostnames trailing via default server",
            "map.org",
            "/hostmap",
        ),
        on("map hostnames default", "other.test", "/hostmap"),
        m("map on $uri exact", "/vars/mapped"),
        m("map on $uri regex named capture", "/vars/map-42?Name=Cap"),
        // ---- add_header ----
        m("add_header inherited from server", "/hdr/inherit/f.txt"),
        m("add_header own drops server's", "/hdr/own/f.txt"),
        m("add_header always on 404", "/hdr/always/x"),
        m("add_header on redirect", "/hdr/redirect/x"),
        m("add_header not on 403 text", "/x?block=yes"),
        // ---- expires ----
        m("expires 1h", "/exp/1h/f.txt"),
        m("expires epoch", "/exp/epoch/f.txt").compare("expires"),
        m("expires max", "/exp/max/f.txt").compare("expires"),
        m("expires off", "/exp/off/f.txt"),
        m("expires -1", "/exp/neg/f.txt"),
        m("expires not on 404", "/exp/1h/missing"),
        m("expires error page location", "/exp/missing/nope"),
        // ---- default_type ----
        m("default_type unknown extension", "/dt/file.unknownext"),
        m("default_type known extension", "/dt/f.txt"),
        m("default_type no extension", "/dt/noext"),
        m("default_type on return text", "/dt/ret"),
        // ---- client_max_body_size, methods ----
        m("client_max_body_size exceeded", "/small/x")
            .method("POST")
            .body("0123456789abcdef"),
        m("client_max_body_size at limit", "/small/x")
            .method("POST")
            .body("0123456789"),
        m("POST to a static file", "/file.txt")
            .method("POST")
            .body("abc"),
        m("DELETE to a static file", "/file.txt").method("DELETE"),
        m("PUT to a missing file", "/missing")
            .method("PUT")
            .body("abc"),
        m("HEAD static file", "/file.txt").method("HEAD"),
        // ---- redirects: host, port, absolute_redirect ----
        on("redirect uses Host, not its port", "main.test:777", "/dir"),
        on("absolute_redirect off return", "relative.test", "/ret"),
        on("absolute_redirect off directory", "relative.test", "/dir"),
        on("port_in_redirect off return", "noport.test", "/ret"),
        on("port_in_redirect off directory", "noport.test", "/dir"),
        on("server_name_in_redirect on", "canonical.test", "/dir"),
        on(
            "server_name_in_redirect on, other name",
            "alias.canonical.test:777",
            "/dir",
        ),
        // ---- URI normalisation ----
        m("dots parent segment", "/dots/x/../file.txt"),
        m("dots encoded parent segment", "/dots/x/%2e%2e/file.txt"),
        m(
            "dots mixed-case encoded parent beyond root",
            "/dots/%2E%2E/%2e%2E/x",
        ),
        m("dots encoded slash", "/dots%2Ffile.txt"),
        m("dots double slash merged", "/dots//file.txt"),
        m("dots current segment", "/dots/./file.txt"),
        m("dots out and back in", "/dots/../dots/a"),
        m("dots beyond root is 400", "/../x"),
        m("dots trailing parent", "/dots/x/.."),
        m("dots trailing current", "/dots/x/."),
        m("dots encoded slash reaches exact location", "/ret%2Ftext"),
        m("dots encoded NUL is 400", "/dots/a%00b"),
        m("dots bad escape is 400", "/dots/%zz"),
        m("dots in query are left alone", "/dots/a?b/../c"),
        m("dots encoded question mark", "/dots/a%3Fb"),
        m("dots plus sign", "/dots/a+b"),
        // merge_slashes is read from the default server of the address: off in a
        // name-based server does nothing.
        on(
            "merge_slashes off in a name-based server",
            "slashes.test",
            "//a//b",
        ),
        on(
            "merge_slashes off in the default server",
            "x.test",
            "//a//b",
        )
        .port(2),
        on(
            "merge_slashes off still resolves dots",
            "x.test",
            "/a/./b/../c//d",
        )
        .port(2),
        // ---- variables ----
        m("vars all", "/vars/p?name=n1&NAME=n2&x=1")
            .header("User-Agent: ua/1")
            .header("Cookie: a=1; name=cv; b=2"),
        on(
            "vars empty query, host with port",
            "MAIN.test:9999",
            "/vars/?",
        ),
        m("vars POST with body", "/vars/post")
            .method("POST")
            .body("hello"),
        m("vars encoded URI", "/vars/a%20b/%41?x=%20"),
        on("vars server_name of default server", "nobody.test", "/"),
    ]
}

fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "nginx is not installed (looked for /usr/sbin/nginx): the nginx.conf parity test \
         needs it. Install it with `apt-get install -y nginx-light` (CI does)."
    );
}

/// Three distinct free loopback ports (held open together so they differ).
fn free_ports() -> [u16; 3] {
    let ls: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| ls[i].local_addr().unwrap().port())
}

/// A running nginx, killed on drop.
struct Nginx {
    _process: NginxProcess,
    ports: [u16; 3],
    dir: PathBuf,
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn start_nginx(site: &Site) -> Nginx {
    let bin = nginx_bin();
    let dir = site.path().join("nginx");
    for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join("tmp").join(t)).unwrap();
    }
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let ports = free_ports();
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf(ports, "nginx", NGINX_ONLY)).unwrap();
        let startup_log = dir.join("startup.log");
        let mut process = NginxProcess::spawn(
            &bin,
            site.path(),
            &startup_log,
            &conf_path,
            &dir.join("stderr.log"),
        );
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = process.exited() {
                let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                last_err = format!(
                    "nginx exited with {status}:\n{}{}{}",
                    read("stderr.log"),
                    read("startup.log"),
                    read("error.log")
                );
                break;
            }
            if ports.iter().all(|&p| connects(p)) {
                return Nginx {
                    _process: process,
                    ports,
                    dir,
                };
            }
            if Instant::now() > deadline {
                // Unwinding drops `process`, which kills nginx.
                panic!("nginx did not listen on {ports:?} within {START_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("nginx failed to start: {last_err}");
}

/// Starts anx on the same conf (its own ports, pid and error log) with the same prefix.
fn start_anx(site: &Site, nginx_ports: [u16; 3]) -> (Anx, [u16; 3]) {
    let ports = loop {
        let p = free_ports();
        if p.iter().all(|x| !nginx_ports.contains(x)) {
            break p;
        }
    };
    let dir = site.mkdir("anx");
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf(ports, "anx", "")).unwrap();
    let mut cmd = Command::new(anx_bin());
    cmd.arg("-p")
        .arg(site.path())
        .arg("-c")
        .arg(&conf_path)
        .current_dir(site.path());
    let anx = Anx::spawn(cmd);
    poll_until(START_DEADLINE, "anx to accept on all three ports", || {
        ports.iter().all(|&p| connects(p)).then_some(())
    });
    (anx, ports)
}

fn start_both() -> (Site, Nginx, Anx, [u16; 3]) {
    let site = Site::new();
    write_site(&site);
    let nginx = start_nginx(&site);
    let (anx, anx_ports) = start_anx(&site, nginx.ports);
    (site, nginx, anx, anx_ports)
}

/// Sends `case` on a fresh connection to `port` and reads the one response.
fn exchange(port: u16, case: &Case) -> Result<Response, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
        .map_err(|e| format!("connect to {port}: {e}"))?;
    let mut c = Conn::from_stream(stream);
    c.set_read_timeout(REQUEST_TIMEOUT);
    c.send_lossy(case.raw());
    c.try_response(case.is_head())
}

/// Sends every case to `port`; after [`MAX_TIMEOUTS`] timeouts the rest are not sent.
fn run_all(port_of: impl Fn(usize) -> u16, cases: &[Case]) -> Vec<Result<Response, String>> {
    let mut timeouts = 0;
    cases
        .iter()
        .map(|case| {
            if timeouts >= MAX_TIMEOUTS {
                return Err(format!(
                    "not sent: {MAX_TIMEOUTS} earlier requests timed out"
                ));
            }
            let r = exchange(port_of(case.port), case);
            if matches!(&r, Err(e) if e.contains("timed out")) {
                timeouts += 1;
            }
            r
        })
        .collect()
}

/// Replaces this server's ports and the shared prefix with placeholders.
fn normalise(s: &str, ports: [u16; 3], prefix: &str) -> String {
    let mut s = s.replace(prefix, "{PREFIX}");
    for (i, p) in ports.iter().enumerate() {
        let p = p.to_string();
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(at) = rest.find(&p) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + p.len()..].chars().next();
            out.push_str(&rest[..at]);
            if before.is_some_and(|c| c.is_ascii_digit())
                || after.is_some_and(|c| c.is_ascii_digit())
            {
                out.push_str(&p);
            } else {
                out.push_str(&format!("{{P{i}}}"));
            }
            rest = &rest[at + p.len()..];
        }
        out.push_str(rest);
        s = out;
    }
    s
}

/// nginx's built-in error and redirect pages end with this (plus the server token).
fn is_builtin_page(body: &[u8]) -> bool {
    contains(body, b"<hr><center>nginx")
}

/// The compared parts of one answer, in a fixed order, as (field, value) pairs.
/// `x_headers` are the `X-*` header names seen in either answer; `builtin` says nginx
/// answered with a built-in page, so bodies are not compared.
fn render(
    case: &Case,
    r: &Result<Response, String>,
    x_headers: &[String],
    builtin: bool,
    ports: [u16; 3],
    prefix: &str,
) -> Vec<(String, String)> {
    let resp = match r {
        Ok(resp) => resp,
        Err(e) if e.starts_with("connection closed, no response") => {
            return vec![("status".into(), "no response (closed)".into())]
        }
        Err(e) => return vec![("status".into(), format!("no response ({e})"))],
    };
    let value = |name: &str| -> String {
        let vals: Vec<&str> = resp
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if vals.is_empty() {
            "-".into()
        } else {
            normalise(&vals.join(", "), ports, prefix)
        }
    };
    let mut out = vec![("status".to_string(), resp.status.to_string())];
    let mut names: Vec<String> = ["location", "content-type", "cache-control"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(x_headers.iter().cloned());
    names.extend(case.compare.iter().map(|s| s.to_string()));
    for n in names {
        let v = value(&n);
        out.push((n, v));
    }
    if !case.compare.contains(&"expires") {
        let present = if resp.header("expires").is_some() {
            "present"
        } else {
            "absent"
        };
        out.push(("expires?".into(), present.into()));
    }
    let body = if builtin {
        "<nginx built-in page: not compared>".to_string()
    } else {
        format!(
            "{:?}",
            normalise(&String::from_utf8_lossy(&resp.body), ports, prefix)
        )
    };
    out.push(("body".into(), body));
    out
}

/// One "field: nginx X / anx Y" line per field whose values differ.
fn field_diff(rn: &[(String, String)], ra: &[(String, String)]) -> String {
    let value = |fs: &[(String, String)], k: &str| {
        fs.iter()
            .find(|(n, _)| n == k)
            .map_or("(missing)".to_string(), |(_, v)| v.clone())
    };
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in rn.iter().chain(ra) {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys.iter()
        .filter(|k| value(rn, k) != value(ra, k))
        .map(|k| format!("\n    {k}: nginx {} / anx {}", value(rn, k), value(ra, k)))
        .collect()
}

fn one_line(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn x_header_names(rs: [&Result<Response, String>; 2]) -> Vec<String> {
    let mut names: Vec<String> = rs
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|r| r.headers.iter().map(|(n, _)| n.to_ascii_lowercase()))
        .filter(|n| n.starts_with("x-"))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn request_text(case: &Case) -> String {
    let raw = String::from_utf8_lossy(&case.raw()).into_owned();
    let shown = format!("{raw:?}");
    if shown.chars().count() > 300 {
        shown.chars().take(300).chain("...".chars()).collect()
    } else {
        shown
    }
}

#[test]
fn nginx_conf_answers_match_nginx() {
    let cases = cases();
    let (site, nginx, mut anx, anx_ports) = start_both();
    let prefix = site.path().to_str().unwrap().to_string();
    let from_nginx = run_all(|i| nginx.ports[i], &cases);
    let from_anx = run_all(|i| anx_ports[i], &cases);

    let mut failures = Vec::new();
    let mut table = String::new();
    for ((case, n), a) in cases.iter().zip(&from_nginx).zip(&from_anx) {
        let xs = x_header_names([n, a]);
        let builtin = n.as_ref().is_ok_and(|r| is_builtin_page(&r.body));
        let rn = render(case, n, &xs, builtin, nginx.ports, &prefix);
        let ra = render(case, a, &xs, builtin, anx_ports, &prefix);
        let (ln, la) = (one_line(&rn), one_line(&ra));
        table.push_str(&format!("{}\n    nginx {ln}\n", case.name));
        let failure = match DEVIATIONS.iter().find(|d| d.case == case.name) {
            Some(d) => (ln != d.nginx || la != d.anx).then(|| {
                format!(
                    "[{}] documented deviation no longer holds ({})\n    request: {}\n    \
                     expected nginx: {}\n    got nginx:      {ln}\n    expected anx:   {}\n    \
                     got anx:        {la}",
                    case.name,
                    d.why,
                    request_text(case),
                    d.nginx,
                    d.anx
                )
            }),
            None => (rn != ra).then(|| {
                format!(
                    "[{}] {}{}\n    nginx: {ln}\n    anx:   {la}",
                    case.name,
                    request_text(case),
                    field_diff(&rn, &ra)
                )
            }),
        };
        failures.extend(failure);
    }
    let alive = anx.alive();
    if std::env::var_os("ANX_PARITY_SHOW").is_some() {
        eprintln!("nginx's answers:\n{table}");
    }
    assert!(
        failures.is_empty() && alive,
        "{} of {} cases differ from nginx{}:\n\n{}\n\nanx stderr (last 30 lines):\n{}\n\n\
         nginx error log (last 30 lines):\n{}",
        failures.len(),
        cases.len(),
        if alive {
            ""
        } else {
            " and anx is no longer running"
        },
        failures.join("\n\n"),
        tail(&anx.stderr().join("\n"), 30),
        tail(&nginx.error_log(), 30),
    );
}

/// Robustness rather than parity: whatever anx answers, it answers every request nginx
/// answers, and it is still running afterwards.
#[test]
fn anx_answers_every_request_nginx_answers() {
    let cases = cases();
    let (_site, nginx, mut anx, anx_ports) = start_both();
    let from_nginx = run_all(|i| nginx.ports[i], &cases);
    let from_anx = run_all(|i| anx_ports[i], &cases);
    let mut unanswered = Vec::new();
    for ((case, n), a) in cases.iter().zip(&from_nginx).zip(&from_anx) {
        if let (Ok(_), Err(e)) = (n, a) {
            unanswered.push(format!("[{}] {}: {e}", case.name, request_text(case)));
        }
    }
    let alive = anx.alive();
    let after = if alive {
        exchange(anx_ports[0], &m("after", "/file.txt")).err()
    } else {
        Some("anx exited".to_string())
    };
    assert!(
        unanswered.is_empty() && after.is_none(),
        "anx left {} requests unanswered{}:\n{}\n\nanx stderr (last 30 lines):\n{}",
        unanswered.len(),
        after.map_or(String::new(), |e| format!(" and failed afterwards ({e})")),
        unanswered.join("\n"),
        tail(&anx.stderr().join("\n"), 30),
    );
}

#[test]
fn corpus_and_deviation_table_are_well_formed() {
    let cases = cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    for w in names.windows(2) {
        assert_ne!(w[0], w[1], "duplicate case name");
    }
    assert!(cases.len() >= 120, "the corpus shrank to {}", cases.len());
    for d in DEVIATIONS {
        assert!(
            names.contains(&d.case),
            "deviation {:?} names no case",
            d.case
        );
        assert_ne!(d.nginx, d.anx, "{}: a deviation must differ", d.case);
        assert!(d.why.len() > 20, "{}: give a reason", d.case);
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
