//! systemd's notify protocol (`Type=notify` in conf/anx.service), from the control thread.
//!
//! READY=1 once every shard listens; RELOADING=1 with MONOTONIC_USEC when a reload starts and
//! READY=1 when it has ended (applied or refused); STOPPING=1 when a stop begins. Without
//! `NOTIFY_SOCKET` in the environment (not started by systemd) every call does nothing. The
//! sd-notify crate speaks the datagram protocol.

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("cannot notify systemd: {e}");
    }
}

pub fn ready() {
    send(&[NotifyState::Ready]);
}

pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}
