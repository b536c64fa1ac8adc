//! A real nginx run next to anx by the parity tests, which compare the two on one
//! configuration.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// An nginx child process, killed and reaped on drop so that a failing test leaves none
/// behind.
pub struct NginxProcess(Child);

impl NginxProcess {
    /// Starts `bin -p prefix -e startup_log -c conf` (the conf says `daemon off`, so the
    /// child is nginx itself), with its stderr written to `stderr_log`.
    pub fn spawn(
        bin: &Path,
        prefix: &Path,
        startup_log: &Path,
        conf: &Path,
        stderr_log: &Path,
    ) -> NginxProcess {
        let child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(startup_log)
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(stderr_log).unwrap())
            .spawn()
            .expect("spawn nginx");
        NginxProcess(child)
    }

    /// How nginx ended, once it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether something accepts connections on loopback `port` (nginx is up).
pub fn connects(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}
