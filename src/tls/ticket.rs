//! Session tickets that every shard can open: TLS 1.3 and TLS 1.2 resumption across shards.
//!
//! SO_REUSEPORT spreads a client's connections over the shards, so a ticket issued by one
//! shard must open on any other. The acceptor ([`super::acceptor`]) builds one
//! [`TicketSecret`] per distinct key setting of a configuration generation and gives each
//! shard's `ServerConfig` its own [`Ticketer`] made from it, so the keys are the same
//! everywhere while nothing on the handshake path takes a lock another shard takes.
//!
//! Keys:
//! - with `ssl_session_ticket_key` files (nginx's semantics): the first file's key encrypts,
//!   every listed key decrypts. The AEAD key is derived from the whole file (HKDF-SHA256) and
//!   tickets are named by the file's first 16 bytes, as nginx names them; the ticket format
//!   is anx's own (AES-256-GCM), so only anx servers sharing the files resume each other.
//! - without files: a random secret per generation; the key in force is derived from it and
//!   the number of `ssl_session_timeout` periods since the secret was made (a reload keeps
//!   the secret), so every shard rotates at the same instant without talking to the others. A ticket opens during its period and
//!   the next (so it lives at least `ssl_session_timeout`).
//!
//! Ticket bytes: key name (16) ‖ nonce (12) ‖ AES-256-GCM ciphertext and tag, the name as
//! additional data.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use rustls::server::ProducesTickets;

const NAME_LEN: usize = 16;
const TAG_LEN: usize = 16;
const SALT: &[u8] = b"anx session ticket key v1";

/// Where a generation's ticket keys come from; shared (read-only) by every shard.
pub struct TicketSecret {
    source: Source,
}

enum Source {
    /// `ssl_session_ticket_key` files, in order: the first encrypts.
    Files(Vec<Key>),
    /// A random secret, the rotation period and when the first period began (every
    /// shard shares this secret, so all count periods from the same instant).
    Rotating {
        secret: [u8; 32],
        period: Duration,
        start: Duration,
    },
}

/// One AEAD key and the name tickets sealed with it carry.
struct Key {
    name: [u8; NAME_LEN],
    aead: LessSafeKey,
}

/// HKDF output length for key names.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(ikm: &[u8], info: &[u8]) -> Option<Key> {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(ikm);
    let key_info = [info, b" key"];
    let okm = prk.expand(&key_info, &AES_256_GCM).ok()?;
    let aead = LessSafeKey::new(UnboundKey::from(okm));
    let mut name = [0u8; NAME_LEN];
    let name_info = [info, b" name"];
    prk.expand(&name_info, Len(NAME_LEN))
        .ok()?
        .fill(&mut name)
        .ok()?;
    Some(Key { name, aead })
}

impl TicketSecret {
    /// Keys from `ssl_session_ticket_key` files (48 or 80 bytes each, checked at load).
    pub fn from_files(files: &[&[u8]]) -> Option<TicketSecret> {
        let mut keys = Vec::new();
        for bytes in files {
            let (name, secret) = bytes.split_at_checked(NAME_LEN)?;
            let mut key = derive(secret, b"file")?;
            key.name.copy_from_slice(name);
            keys.push(key);
        }
        (!keys.is_empty()).then_some(TicketSecret {
            source: Source::Files(keys),
        })
    }

    /// Random keys rotating every `period` (`ssl_session_timeout`; at least one second).
    pub fn rotating(period: Duration) -> Option<TicketSecret> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).ok()?;
        Some(TicketSecret {
            source: Source::Rotating {
                secret,
                period: period.max(Duration::from_secs(1)),
                start: SystemTime::now().duration_since(UNIX_EPOCH).ok()?,
            },
        })
    }

    /// The ticketer one shard's `ServerConfig` uses (its cache is the shard's own).
    pub fn ticketer(self: &Arc<Self>) -> Arc<Ticketer> {
        Arc::new(Ticketer {
            secret: Arc::clone(self),
            cache: Mutex::new(None),
        })
    }

    fn lifetime(&self) -> u32 {
        match &self.source {
            // nginx's files carry no lifetime; tickets say the session timeout instead,
            // which the acceptor caps with (rustls asks for the hint only).
            Source::Files(_) => u32::MAX,
            Source::Rotating { period, .. } => period.as_secs().min(u32::MAX as u64) as u32,
        }
    }
}

impl fmt::Debug for TicketSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        match &self.source {
            Source::Files(keys) => write!(f, "TicketSecret(files: {})", keys.len()),
            Source::Rotating { period, .. } => write!(f, "TicketSecret(rotating every {period:?})"),
        }
    }
}

/// The keys of the current period and the one before.
struct Period {
    index: u64,
    current: Key,
    previous: Key,
}

/// One shard's ticket sealer and opener (rustls's [`ProducesTickets`]).
pub struct Ticketer {
    secret: Arc<TicketSecret>,
    /// Derived keys of the rotating source, per shard: the lock is this shard's alone.
    cache: Mutex<Option<Period>>,
    // (`lifetime` and `Files` need no cache.)
}

impl fmt::Debug for Ticketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticketer({:?})", self.secret)
    }
}

impl Ticketer {
    /// Runs `f` with the encrypting key and the keys that decrypt.
    fn with_keys<R>(&self, f: impl FnOnce(&Key, &[&Key]) -> R) -> Option<R> {
        match &self.secret.source {
            Source::Files(keys) => {
                let first = keys.first()?;
                let all: Vec<&Key> = keys.iter().collect();
                Some(f(first, &all))
            }
            Source::Rotating {
                secret,
                period,
                start,
            } => {
                // Periods count from the secret's creation, as nginx rotates a key one
                // `ssl_session_timeout` after making it.
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
                let elapsed = now.saturating_sub(*start).as_millis();
                let index = (elapsed / period.as_millis().max(1)) as u64;
                let mut cache = self.cache.lock().ok()?;
                if cache.as_ref().is_none_or(|p| p.index != index) {
                    let key = |i: u64| derive(secret, &i.to_be_bytes());
                    *cache = Some(Period {
                        index,
                        current: key(index)?,
                        previous: key(index.wrapping_sub(1))?,
                    });
                }
                let p = cache.as_ref()?;
                Some(f(&p.current, &[&p.current, &p.previous]))
            }
        }
    }
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.secret.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.with_keys(|key, _| {
            let mut nonce = [0u8; NONCE_LEN];
            aws_lc_rs::rand::fill(&mut nonce).ok()?;
            let mut out = Vec::with_capacity(NAME_LEN + NONCE_LEN + plain.len() + TAG_LEN);
            out.extend_from_slice(&key.name);
            out.extend_from_slice(&nonce);
            let mut body = plain.to_vec();
            key.aead
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(key.name),
                    &mut body,
                )
                .ok()?;
            out.extend_from_slice(&body);
            Some(out)
        })
        .flatten()
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        // Attacker-controlled bytes: every length is checked, nothing indexes blindly.
        let (name, rest) = ticket.split_at_checked(NAME_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        if sealed.len() < TAG_LEN {
            return None;
        }
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.with_keys(|_, keys| {
            let key = keys.iter().find(|k| k.name[..] == *name)?;
            let mut body = sealed.to_vec();
            let plain = key
                .aead
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(key.name),
                    &mut body,
                )
                .ok()?;
            let n = plain.len();
            body.truncate(n);
            Some(body)
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(byte: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| byte.wrapping_add(i as u8)).collect()
    }

    #[test]
    fn first_file_encrypts_every_file_decrypts() {
        let (a, b) = (file(1, 80), file(100, 48));
        let ab = Arc::new(TicketSecret::from_files(&[&a, &b]).unwrap()).ticketer();
        let ba = Arc::new(TicketSecret::from_files(&[&b, &a]).unwrap()).ticketer();
        let only_b = Arc::new(TicketSecret::from_files(&[&b]).unwrap()).ticketer();
        let t = ab.encrypt(b"session state").unwrap();
        assert_eq!(&t[..16], &a[..16], "named by the file's first 16 bytes");
        assert_eq!(ab.decrypt(&t).unwrap(), b"session state");
        assert_eq!(ba.decrypt(&t).unwrap(), b"session state");
        assert_eq!(
            only_b.decrypt(&t),
            None,
            "a key no longer listed opens nothing"
        );
        let t2 = ba.encrypt(b"x").unwrap();
        assert_eq!(ab.decrypt(&t2).unwrap(), b"x");
        assert_eq!(only_b.decrypt(&t2).unwrap(), b"x");
    }

    #[test]
    fn shards_share_rotating_keys_and_garbage_is_refused() {
        let secret = Arc::new(TicketSecret::rotating(Duration::from_secs(300)).unwrap());
        let (one, two) = (secret.ticketer(), secret.ticketer());
        let t = one.encrypt(b"abc").unwrap();
        assert_eq!(two.decrypt(&t).unwrap(), b"abc");
        let other = Arc::new(TicketSecret::rotating(Duration::from_secs(300)).unwrap());
        assert_eq!(other.ticketer().decrypt(&t), None);
        let mut bad = t.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(two.decrypt(&bad), None);
        for n in 0..t.len() {
            assert_eq!(two.decrypt(&t[..n]), None);
        }
        assert_eq!(one.lifetime(), 300);
    }
}
