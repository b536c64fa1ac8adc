//! A start-up check that io_uring works here, before glommio is asked to use it.
//!
//! glommio panics with "kernel too old" whatever the cause when it cannot create a ring
//! (old kernel, `kernel.io_uring_disabled`, a seccomp profile); this probe turns every one
//! of those into one clear sentence naming the cause and kernel-notes/io_uring.md.

use std::io;

/// Creates and closes a two-entry ring. `Err` carries the message to print.
pub fn probe() -> Result<(), String> {
    // struct io_uring_params is 120 bytes; the kernel wants it zeroed on input.
    let mut params = [0u64; 15];
    // SAFETY: io_uring_setup reads/writes only the params buffer we pass.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: closing the descriptor the kernel just gave us.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let err = io::Error::last_os_error();
    let cause = match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (needs Linux 5.8 or later, 5.19+ recommended)",
        Some(libc::EPERM) => {
            "io_uring is disabled for this process (sysctl kernel.io_uring_disabled, or a seccomp/container profile)"
        }
        Some(libc::ENOMEM) => "the kernel refused ring memory (check RLIMIT_MEMLOCK: ulimit -l)",
        _ => "io_uring_setup failed",
    };
    Err(format!(
        "io_uring is not available: {cause} ({err}); anx needs it — see kernel-notes/io_uring.md"
    ))
}
