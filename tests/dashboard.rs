//! The HTML dashboard (`anx_dashboard`), loaded in headless Chromium (Debian's package):
//! the page draws from `?json` on its own URI, and the numbers it shows after real traffic
//! must be the JSON report's. A screenshot goes to the test's output directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::backend::*;
use common::*;
use regex::Regex;
use serde_json::Value;

fn chromium(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Virtual time runs the page's timers (one fetch a second) without waiting them out.
        .arg("--virtual-time-budget=4000")
        .args(args)
        .arg(url)
        .output()
        .expect("chromium (Debian package chromium) must be installed")
}

fn json(anx: &Anx) -> Value {
    let r = anx.get("/dash?json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap()
}

/// The text of the `data-field` cell `field` in the table row whose opening tag matches
/// `row` (a regex on the row's attributes).
fn cell(dom: &str, row: &str, field: &str) -> String {
    let tr = Regex::new(&format!(r"(?s)<tr {row}>(.*?)</tr>")).unwrap();
    let row_html = tr
        .captures(dom)
        .unwrap_or_else(|| panic!("no row {row} in the page:\n{dom}"))[1]
        .to_string();
    let td = Regex::new(&format!(
        r#"<td[^>]*data-field="{field}"[^>]*>([^<]*)</td>"#
    ))
    .unwrap();
    td.captures(&row_html)
        .unwrap_or_else(|| panic!("no {field} cell in {row_html}"))[1]
        .to_string()
}

fn text_of(dom: &str, id: &str) -> String {
    let re = Regex::new(&format!(r#"id="{id}"[^>]*>([^<]*)<"#)).unwrap();
    re.captures(dom)
        .unwrap_or_else(|| panic!("no #{id} in the page"))[1]
        .to_string()
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn dashboard_shows_the_json_figures_in_chromium() {
    let backend = Backend::start(|req| match req.path() {
        "/missing" => Reply::text(404, "no\n"),
        _ => Reply::ok("from the app\n"),
    });
    let site = Site::new();
    // The dashboard is the default server (Chromium's Host is 127.0.0.1:port); the traffic
    // goes to the "site" zone, which the dashboard's own requests never touch.
    let config = format!(
        "[main]\nerror_log_level = \"info\"\n\n\
         [[upstream]]\nname = \"app\"\nservers = [\"{}\"]\nhealth_check = {{ interval = \"200ms\" }}\n\n\
         [[server]]\nlisten = [\"127.0.0.1:0\"]\nserver_name = [\"ops\"]\n\n\
         [[server.location]]\npath = \"/dash\"\nstatus = \"dashboard\"\n\n\
         [[server]]\nlisten = [\"127.0.0.1:0\"]\nserver_name = [\"site\"]\n\n\
         [[server.location]]\npath = \"/\"\nproxy_pass = \"http://app\"\n",
        backend.addr()
    );
    let anx = Anx::start_shards(&site, &config, 2);
    for i in 0..12 {
        let path = if i % 4 == 3 { "/missing" } else { "/page" };
        let r = anx.raw(format!(
            "GET {path} HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, if i % 4 == 3 { 404 } else { 200 });
    }
    let page = anx.get("/dash");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no external assets"
    );
    poll_until(Duration::from_secs(10), "a health check", || {
        (json(&anx)["upstreams"][0]["peers"][0]["health_check"]["checks"].as_u64() > Some(0))
            .then_some(())
    });

    let before = json(&anx);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/dash", anx.port);
    let out = chromium(profile.path(), &["--dump-dom"], &url);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let after = json(&anx);

    // The page loaded its data, more than once (it updates every second).
    let updates: u32 = Regex::new(r#"data-updates="(\d+)""#)
        .unwrap()
        .captures(&dom)
        .unwrap_or_else(|| panic!("no data-updates on body:\n{dom}"))[1]
        .parse()
        .unwrap();
    assert!(
        dom.contains("data-ready=\"1\"") && updates >= 2,
        "updates: {updates}\n{dom}"
    );

    // Figures no request of the test changes between the two JSON reads: exactly the
    // JSON's.
    let zone = after["server_zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == "site")
        .unwrap();
    assert_eq!(zone["requests"], 12);
    let row = r#"data-zone="site""#;
    for (field, want) in [
        ("requests", &zone["requests"]),
        ("2xx", &zone["responses"]["2xx"]),
        ("4xx", &zone["responses"]["4xx"]),
    ] {
        assert_eq!(cell(&dom, row, field), want.to_string(), "zone {field}");
    }
    let peer = &after["upstreams"][0]["peers"][0];
    let row = format!(r#"data-upstream="app" data-peer="{}""#, backend.addr());
    assert_eq!(cell(&dom, &row, "state"), "up");
    assert_eq!(cell(&dom, &row, "requests"), peer["requests"].to_string());
    assert_eq!(cell(&dom, &row, "2xx"), "9");
    assert_eq!(cell(&dom, &row, "fails"), "0");
    let mean = peer["mean_header_ms"].as_f64().unwrap();
    assert_eq!(cell(&dom, &row, "mean_ms"), format!("{mean:.2}"));
    assert_eq!(text_of(&dom, "version"), after["version"].as_str().unwrap());
    assert_eq!(text_of(&dom, "generation"), after["generation"].to_string());

    // Totals move with the dashboard's own requests: what the page shows lies between the
    // report read before Chromium started and the one read after it finished.
    for (id, pointer) in [
        ("requests-total", "/requests/total"),
        ("conn-accepted", "/connections/accepted"),
        ("c2xx", "/requests/responses/2xx"),
    ] {
        let shown: u64 = text_of(&dom, id).parse().unwrap();
        let lo = before.pointer(pointer).unwrap().as_u64().unwrap();
        let hi = after.pointer(pointer).unwrap().as_u64().unwrap();
        assert!(lo < shown && shown < hi, "{id}: {lo} < {shown} < {hi}");
    }
    // (Chromium's own /favicon.ico is a 404 of the "ops" zone.)
    let shown: u64 = text_of(&dom, "c4xx").parse().unwrap();
    let range = before["requests"]["responses"]["4xx"].as_u64().unwrap()
        ..=after["requests"]["responses"]["4xx"].as_u64().unwrap();
    assert!(range.contains(&shown), "4xx: {shown} in {range:?}");

    // A picture for the test's output.
    let shot = output_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let out = chromium(profile.path(), &[&arg, "--window-size=1280,1100"], &url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    println!("dashboard screenshot: {}", shot.display());
}
