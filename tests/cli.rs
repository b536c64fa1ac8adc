//! The command line: -t, configuration errors, -v, -h, and the built-in default site.

mod common;

use common::*;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(anx_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run anx")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn test_flag_reports_ok_and_exits_0() {
    let site = Site::new();
    let conf = site.write("anx.toml", config("", "", ""));
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let shown = conf.display().to_string();
    assert!(
        err.contains(&format!("anx: the configuration file {shown} syntax is ok")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "anx: configuration file {shown} test is successful"
        )),
        "{err}"
    );
    // -q silences the success lines.
    let o = run(&["-tq", "-c", conf.to_str().unwrap()], site.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("syntax is ok"), "{}", stderr(&o));
}

#[test]
fn unknown_key_fails_with_file_and_line() {
    let site = Site::new();
    let text = "[[server]]\nlisten = [\"127.0.0.1:0\"]\nbogus_key = 1\n";
    let conf = site.write("anx.toml", text);
    let shown = conf.display().to_string();
    for args in [
        vec!["-t", "-c", conf.to_str().unwrap()],
        vec!["-c", conf.to_str().unwrap()],
    ] {
        let o = run(&args, site.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("bogus_key"), "{args:?}: {err}");
        assert!(err.contains(&format!("{shown}:3")), "{args:?}: {err}");
    }
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    assert!(stderr(&o).contains("test failed"), "{}", stderr(&o));
}

#[test]
fn bad_value_names_its_line() {
    let site = Site::new();
    let text = "[http]\n\nkeepalive_timeout = \"10x\"\n\n[[server]]\nlisten = [\"127.0.0.1:0\"]\n";
    let conf = site.write("anx.toml", text);
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}:3", conf.display())), "{err}");
}

#[test]
fn version_flag() {
    let site = Site::new();
    let o = run(&["-v"], site.path());
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("anx version: anx/{}", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
    let o = run(&["-V"], site.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("anx version: anx/"));
}

#[test]
fn help_flag() {
    let site = Site::new();
    for flag in ["-h", "-?"] {
        let o = run(&[flag], site.path());
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let out = stdout(&o);
        assert!(out.contains("Usage: anx"), "{flag}: {out}");
        assert!(out.contains("-t"), "{out}");
        assert!(out.contains("--shards"), "{out}");
    }
}

#[test]
fn invalid_option_fails() {
    let site = Site::new();
    let o = run(&["-x"], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid option"), "{}", stderr(&o));
    let o = run(&["--shards", "0"], site.path());
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn missing_config_file_fails() {
    let site = Site::new();
    let o = run(&["-t", "-c", "does-not-exist.toml"], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does-not-exist.toml"), "{}", stderr(&o));
}

#[test]
fn no_config_uses_builtin_default_on_8080() {
    // The built-in default binds 127.0.0.1:8080; only run when that port is free.
    match std::net::TcpListener::bind("127.0.0.1:8080") {
        Ok(l) => drop(l),
        Err(e) => {
            eprintln!(
                "NOTE: skipping no_config_uses_builtin_default_on_8080: port 8080 busy ({e})"
            );
            return;
        }
    }
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("hello.txt"), "hello from cwd\n").unwrap();
    let mut cmd = Command::new(anx_bin());
    cmd.current_dir(cwd.path()).args(["--shards", "1"]);
    let anx = Anx::spawn(cmd);
    assert_eq!(anx.port, 8080);
    assert!(
        anx.stderr().iter().any(|l| l.contains("built-in default")),
        "{:?}",
        anx.stderr()
    );
    let r = anx.get("/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello from cwd\n");
    // The default site lists the directory.
    let r = anx.get("/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hello.txt"), "{}", r.text());
    // -t with no config reports the built-in one.
    let o = run(&["-t"], cwd.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("<built-in>"), "{}", stderr(&o));
}
