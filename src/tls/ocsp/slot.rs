//! Where a fetched staple goes: one [`StapleSlot`] per certificate of a server that
//! staples, read by the SNI resolver on every handshake and written by the fetcher.
//!
//! The handshake path takes no lock: the slot is an `ArcSwap<CertifiedKey>`, so reading
//! it is an atomic load plus a reference count, and the fetcher publishes a whole new
//! `CertifiedKey` (the same chain and key, another OCSP response) that the next handshake
//! on any shard picks up.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;

use super::plan::Plan;

/// One certificate as the handshakes see it, staple included.
#[derive(Debug)]
pub struct StapleSlot {
    key: ArcSwap<CertifiedKey>,
}

impl StapleSlot {
    pub fn new(key: CertifiedKey) -> Arc<StapleSlot> {
        Arc::new(StapleSlot {
            key: ArcSwap::from_pointee(key),
        })
    }

    /// The certificate to present now. A guard rather than an `Arc`: the resolver looks
    /// at several certificates per handshake and takes a reference
    /// (`Guard::into_inner`) only to the one it presents.
    pub fn current(&self) -> arc_swap::Guard<Arc<CertifiedKey>> {
        self.key.load()
    }

    /// Replaces the staple (`None` removes it). Only the fetcher thread calls this, so
    /// no update is lost between the load and the store.
    pub fn set_staple(&self, ocsp: Option<Vec<u8>>) {
        let mut key = CertifiedKey::clone(&self.key.load());
        key.ocsp = ocsp;
        self.key.store(Arc::new(key));
    }
}

/// One certificate to fetch for: its plan and every slot that shows it (the same
/// certificate may be on several listeners). The slots are weak so that the fetcher
/// notices when its configuration generation is gone.
#[derive(Debug, Clone)]
pub struct Target {
    /// The `ssl_certificate` path, for logs.
    pub certificate: PathBuf,
    pub plan: Plan,
    pub slots: Vec<Weak<StapleSlot>>,
}

impl Target {
    /// The slots still in use; empty once the generation was dropped.
    pub fn live_slots(&self) -> Vec<Arc<StapleSlot>> {
        self.slots.iter().filter_map(Weak::upgrade).collect()
    }

    /// Whether `other` asks the same question of the same responder (then one fetch
    /// serves both).
    pub fn same_fetch(&self, other: &Target) -> bool {
        self.certificate == other.certificate
            && self.plan.request == other.plan.request
            && self.plan.url == other.plan.url
            && self.plan.verify == other.plan.verify
            && self.plan.issuer == other.plan.issuer
            && self.plan.trusted == other.plan.trusted
    }
}

/// A reload's new slots start with the staples the old generation holds for the same
/// fetch (same certificate, responder and checks), so handshakes right after a reload are
/// stapled too; the new fetcher refreshes them on its own schedule. Call it before that
/// fetcher starts: the slot has one writer at a time.
pub fn carry_over(old: &[Target], new: &[Target]) {
    for target in new {
        let Some(before) = old.iter().find(|o| o.same_fetch(target)) else {
            continue;
        };
        let staple = before
            .live_slots()
            .first()
            .and_then(|slot| slot.current().ocsp.clone());
        if let Some(staple) = staple {
            for slot in target.live_slots() {
                slot.set_staple(Some(staple.clone()));
            }
        }
    }
}

/// Merges targets that are the same fetch, keeping every slot.
pub fn merge(targets: Vec<Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for t in targets {
        match out.iter_mut().find(|o| o.same_fetch(&t)) {
            Some(o) => o.slots.extend(t.slots),
            None => out.push(t),
        }
    }
    out
}
