//! Request bodies for a buffered proxy, as nginx holds them: in memory up to
//! `client_body_buffer_size`, then in a temporary file under `client_body_temp_path` (with
//! its levels), which exists while the request runs and is gone after it (kept with
//! `client_body_in_file_only on`); a huge chunked body passes in bounded memory; and the
//! head limits of `large_client_header_buffers` answer with nginx's statuses and close.

mod common;

use common::backend::*;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn start(backend: &Backend, server: &str) -> (Site, Anx, PathBuf) {
    let site = Site::new();
    let temp = site.path().join("body_temp");
    let server = server.replace("TEMP", &temp.display().to_string());
    let anx = Anx::start_conf(&site, &proxy_conf(&upstream("b", backend), &server), 1);
    (site, anx, temp)
}

/// A backend that answers with the body it got and how many files the temp dir held
/// while it was answering.
fn counting_backend(temp: Arc<std::sync::Mutex<PathBuf>>) -> Backend {
    Backend::start(move |req| {
        let dir = temp.lock().unwrap().clone();
        Reply::ok(format!(
            "{} {} files={}\n",
            req.body_len,
            req.body_is_stream,
            files_under(&dir).len()
        ))
    })
}

fn post(anx: &Anx, path: &str, len: u64) -> Response {
    let mut c = anx.connect();
    c.set_read_timeout(Duration::from_secs(30));
    c.send(format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    write_stream(&mut c.stream, len).expect("upload");
    c.stream.flush().unwrap();
    c.response()
}

#[test]
fn a_body_above_the_buffer_goes_to_a_temp_file_removed_after_the_request() {
    let dir = Arc::new(std::sync::Mutex::new(PathBuf::new()));
    let b = counting_backend(dir.clone());
    let (_s, anx, temp) = start(
        &b,
        "client_max_body_size 10m;\n\
         location / { proxy_pass http://b; client_body_buffer_size 4k;\n\
           client_body_temp_path TEMP 1 2; }",
    );
    *dir.lock().unwrap() = temp.clone();

    // 300 KB: above the 4k buffer, so in a file while the backend answers.
    let r = post(&anx, "/up", 300_000);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "300000 true files=1\n");
    // The file goes when the request ends on the server, which may be just after the
    // client has the answer.
    poll_until(
        Duration::from_secs(10),
        "the temp file to be removed",
        || files_under(&temp).is_empty().then_some(()),
    );

    // Within the buffer: memory only, no file at all.
    let r = post(&anx, "/up", 4096);
    assert_eq!(r.text(), "4096 true files=0\n");
}

#[test]
fn levels_hash_the_name_and_in_file_only_on_keeps_the_file() {
    let b = Backend::start(|req| Reply::ok(format!("{}\n", req.body_len)));
    let (_s, anx, temp) = start(
        &b,
        "location / { proxy_pass http://b; client_body_in_file_only on;\n\
           client_body_temp_path TEMP 1 2;\n\
           add_header X-Body-File $request_body_file; add_header X-Body $request_body; }",
    );
    let r = anx.raw(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("x-body"),
        None,
        "the body is in a file, not in memory"
    );
    let file = PathBuf::from(r.header("x-body-file").expect("X-Body-File"));
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");
    // TEMP/<last digit>/<two before it>/<ten digits>.
    let rel = file.strip_prefix(&temp).expect("under the temp path");
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[2].len(), 10);
    assert_eq!(parts[0], parts[2][9..]);
    assert_eq!(parts[1], parts[2][7..9]);
}

#[test]
fn request_body_variable_shows_a_body_in_memory() {
    let b = Backend::start(|_| Reply::ok("ok\n"));
    let (_s, anx, _t) = start(
        &b,
        "location / { proxy_pass http://b; add_header X-Body \"$request_body\"; }",
    );
    let r = anx.raw(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    );
    assert_eq!(r.header("x-body"), Some("0123456789"));
    // No body: no header (nginx sends none for an empty value).
    let r = anx.raw("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("x-body"), None);
}

#[test]
fn a_huge_chunked_body_is_buffered_in_bounded_memory() {
    const LEN: u64 = 256 << 20;
    const RSS_CEILING_KIB: u64 = 64 * 1024;
    let b = Backend::start(|req| Reply::ok(format!("{} {}\n", req.body_len, req.body_is_stream)));
    let (_s, anx, temp) = start(
        &b,
        "client_max_body_size 0;\n\
         location / { proxy_pass http://b; client_body_temp_path TEMP; }",
    );
    let base = anx.rss_kib();
    let max = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (max, stop, pid) = (max.clone(), stop.clone(), anx.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                max.fetch_max(common::rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut c = anx.connect();
    c.set_read_timeout(Duration::from_secs(120));
    c.send(
        "POST /big HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    let block = stream_block();
    let mut left = LEN;
    while left > 0 {
        let n = left.min(STREAM_BLOCK as u64) as usize;
        write!(c.stream, "{n:x}\r\n").unwrap();
        c.stream.write_all(&block[..n]).unwrap();
        c.stream.write_all(b"\r\n").unwrap();
        left -= n as u64;
    }
    c.stream.write_all(b"0\r\n\r\n").unwrap();
    let r = c.response();
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), format!("{LEN} true\n"));
    let max = max.load(Ordering::SeqCst);
    assert!(
        max.saturating_sub(base) < RSS_CEILING_KIB,
        "anx RSS grew from {base} KiB to {max} KiB while buffering 256 MiB"
    );
    // The file goes when the request ends on the server, which may be just after the
    // client has the answer.
    poll_until(
        Duration::from_secs(10),
        "the temp file to be removed",
        || files_under(&temp).is_empty().then_some(()),
    );
}

/// nginx's header buffers: `client_header_buffer_size 128; large_client_header_buffers 2 256`.
#[test]
fn head_limits_answer_as_nginx_and_close() {
    let b = Backend::start(|_| Reply::ok("ok\n"));
    let (_s, anx, _t) = start(
        &b,
        "client_header_buffer_size 128;\n large_client_header_buffers 2 256;\n\
         location / { return 204; }",
    );
    let cases: [(String, u16, Option<&str>); 3] = [
        // A request line longer than one large buffer.
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300)),
            414,
            None,
        ),
        // A header line longer than one buffer.
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
                "b".repeat(300)
            ),
            400,
            Some("Request Header Or Cookie Too Large"),
        ),
        // Lines that each fit, but not all of them in the two buffers.
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-1: {0}\r\nX-2: {0}\r\nX-3: {0}\r\n\r\n",
                "c".repeat(200)
            ),
            400,
            Some("Request Header Or Cookie Too Large"),
        ),
    ];
    for (raw, status, text) in cases {
        let mut c = anx.connect();
        c.send(&raw);
        let r = c.response();
        assert_eq!(r.status, status, "{raw:?}: {r:?}");
        assert!(r.says_close(), "{raw:?}");
        if let Some(text) = text {
            assert!(r.text().contains(text), "{}", r.text());
        }
        c.assert_closed();
    }
    // Within the limits: served.
    let r = anx.raw(format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nX-1: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200),
        "d".repeat(200)
    ));
    assert_eq!(r.status, 204, "{r:?}");
}
